//! `file`: the source reads `path` line by line, one event per line (the
//! flow's codec decodes each line), and finishes at the end of the file;
//! the sink appends one JSON line per event to `path`.
//!
//! The sink acknowledges an event only once its line has been written to
//! the file (handed to the operating system, so it survives the runtime
//! being killed): it answers `Deferred`, and acknowledges the events
//! written so far each time it flushes, after [`FLUSH_EVERY`] events or
//! [`FLUSH_DELAY`] after the first unflushed one, whichever comes first.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pdk::prelude::*;
use pdk::SinkReplies;

/// How many written events the sink holds before it flushes.
pub const FLUSH_EVERY: usize = 256;

/// How long after the first unflushed event the sink flushes at the latest.
pub const FLUSH_DELAY: Duration = Duration::from_millis(2);

/// The `config` table of a `file` connector.
#[derive(Debug, Deserialize)]
#[serde(crate = "pdk::serde", deny_unknown_fields)]
pub struct Config {
    /// The file to read (source side) or append to (sink side).
    pub path: String,
}

/// Reads or appends lines; each side opens the file on first use.
#[connector(name = "file")]
pub struct FileConnector {
    path: String,
    reader: Option<BufReader<File>>,
    output: Arc<Mutex<Output>>,
}

/// The sink side's file and the events written to it but not flushed.
#[derive(Default)]
struct Output {
    writer: Option<BufWriter<File>>,
    unflushed: Vec<EventId>,
    flush_scheduled: bool,
}

impl Output {
    /// The writer, opening `path` for appending on first use.
    fn writer(&mut self, path: &str) -> Result<&mut BufWriter<File>> {
        let writer = match self.writer.take() {
            Some(writer) => writer,
            None => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| Error::msg(format!("cannot open `{path}` for appending: {e}")))?;
                BufWriter::new(file)
            }
        };
        Ok(self.writer.insert(writer))
    }

    /// Hands what is buffered to the operating system, then acknowledges
    /// every event written so far (or fails them, if the write failed).
    fn flush(&mut self, replies: &SinkReplies) -> Result<()> {
        let flushed = self.writer.as_mut().map_or(Ok(()), Write::flush);
        if flushed.is_err() {
            self.writer = None;
        }
        for id in self.unflushed.drain(..) {
            if flushed.is_ok() {
                replies.ack(id);
            } else {
                replies.fail(id);
            }
        }
        Ok(flushed?)
    }
}

impl FileConnector {
    /// Flushes the sink side and answers its held events.
    fn flush(&self, ctx: &ConnectorContext) -> Result<()> {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush(&ctx.replies())
    }
}

impl Connector for FileConnector {
    type Config = Config;

    fn new(config: Config, ctx: &ConnectorContext) -> Result<Self> {
        let reader = if ctx.source_linked() {
            let file = File::open(&config.path).map_err(|e| {
                Error::config(format!("cannot open `{}` for reading: {e}", config.path))
            })?;
            Some(BufReader::new(file))
        } else {
            None
        };
        Ok(Self {
            path: config.path,
            reader,
            output: Arc::default(),
        })
    }

    async fn on_drain(&mut self, ctx: &ConnectorContext) -> Result<()> {
        self.flush(ctx)
    }

    async fn on_stop(&mut self, ctx: &ConnectorContext) -> Result<()> {
        self.flush(ctx)
    }
}

impl Source for FileConnector {
    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        let reader = match self.reader.take() {
            Some(reader) => reader,
            None => BufReader::new(File::open(&self.path).map_err(|e| {
                Error::msg(format!("cannot open `{}` for reading: {e}", self.path))
            })?),
        };
        let reader = self.reader.insert(reader);
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(SourceReply::Finished);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        Ok(SourceReply::bytes(line))
    }
}

impl Sink for FileConnector {
    async fn on_event(&mut self, event: Event, ctx: &ConnectorContext) -> Result<SinkReply> {
        let mut output = self.output.lock().unwrap_or_else(PoisonError::into_inner);
        let writer = output.writer(&self.path)?;
        let mut line = event.to_json_string();
        line.push('\n');
        if let Err(e) = writer.write_all(line.as_bytes()) {
            output.writer = None;
            return Err(e.into());
        }
        output.unflushed.push(event.id);
        if output.unflushed.len() >= FLUSH_EVERY {
            // A failed flush has answered every held event, this one too,
            // with a fail; the next event opens the file again.
            if let Err(e) = output.flush(&ctx.replies()) {
                pdk::log::error!(
                    "cannot write to `{}`: {e}; its events were failed",
                    self.path
                );
            }
        } else if !output.flush_scheduled {
            output.flush_scheduled = true;
            let output = Arc::clone(&self.output);
            let replies = ctx.replies();
            let path = self.path.clone();
            pdk::task::spawn(async move {
                pdk::time::sleep(FLUSH_DELAY).await;
                let mut output = output.lock().unwrap_or_else(PoisonError::into_inner);
                output.flush_scheduled = false;
                if let Err(e) = output.flush(&replies) {
                    pdk::log::error!("cannot write to `{path}`: {e}; its events were failed");
                }
            });
        }
        Ok(SinkReply::Deferred)
    }
}

#[pdk_export]
mod plugin {
    pub use super::FileConnector;
}
