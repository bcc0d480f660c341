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
#[serde(deny_unknown_fields)]
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

#[cfg(test)]
mod tests {
    use pdk::testing::{block_on, Harness, Report, Setup};
    use pdk::{ErrorKind, SinkReply, SourceReply, Value};

    use super::{FileConnector, FLUSH_EVERY};

    fn config(path: &std::path::Path) -> Value {
        let mut config = Value::object();
        config.insert("path", path.to_string_lossy().into_owned());
        config
    }

    fn sink_only() -> Setup {
        Setup {
            source_linked: false,
            ..Setup::default()
        }
    }

    #[test]
    fn the_source_emits_one_raw_line_per_pull_then_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        std::fs::write(&path, "{\"n\":1}\nnot json\n").unwrap();
        block_on(async {
            let mut file = Harness::<FileConnector>::new(config(&path)).unwrap();
            assert_eq!(file.pull().await, Ok(SourceReply::bytes(*b"{\"n\":1}")));
            assert_eq!(file.pull().await, Ok(SourceReply::bytes(*b"not json")));
            assert_eq!(file.pull().await, Ok(SourceReply::Finished));
        });
    }

    #[test]
    fn a_missing_file_to_read_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = Harness::<FileConnector>::new(config(&dir.path().join("absent"))).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(
            error.message().starts_with("cannot open `"),
            "{}",
            error.message()
        );
    }

    // ANCHOR: deferred_test
    #[test]
    fn the_sink_acknowledges_only_lines_that_reached_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        block_on(async {
            let mut file =
                Harness::<FileConnector>::with_setup(config(&path), sink_only()).unwrap();
            assert_eq!(file.send(1_u64).await, Ok(SinkReply::Deferred));
            let first = file.last_event_id().unwrap();
            assert_eq!(file.send("two").await, Ok(SinkReply::Deferred));
            let second = file.last_event_id().unwrap();

            for (written, expected) in [first, second].into_iter().enumerate() {
                let report = file.next_report().await;
                assert_eq!(report, Some(Report::Ack(expected)));
                // Acknowledged means written: the line is in the file now.
                let lines = std::fs::read_to_string(&path).unwrap().lines().count();
                assert!(
                    lines > written,
                    "acknowledged event {written} is not in the file"
                );
            }
        });
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n\"two\"\n");
    }
    // ANCHOR_END: deferred_test

    #[test]
    fn a_full_batch_is_flushed_and_acknowledged_within_the_call() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        block_on(async {
            let mut file =
                Harness::<FileConnector>::with_setup(config(&path), sink_only()).unwrap();
            for n in 0..FLUSH_EVERY as u64 {
                assert_eq!(file.send(n).await, Ok(SinkReply::Deferred));
            }
            // The delayed flush may have answered some before the batch filled;
            // the full batch answers the rest within the last call.
            let acked = file
                .reports()
                .into_iter()
                .filter(|r| matches!(r, Report::Ack(_)))
                .count();
            assert_eq!(acked, FLUSH_EVERY);
        });
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().lines().count(),
            FLUSH_EVERY
        );
    }

    #[test]
    fn drain_flushes_and_answers_what_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        block_on(async {
            let mut file =
                Harness::<FileConnector>::with_setup(config(&path), sink_only()).unwrap();
            assert_eq!(file.send(7_u64).await, Ok(SinkReply::Deferred));
            let id = file.last_event_id().unwrap();
            file.drain().await.unwrap();
            assert_eq!(file.reports(), vec![Report::Ack(id)]);
        });
    }

    #[test]
    fn a_file_that_cannot_be_opened_fails_the_event_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("out.jsonl");
        block_on(async {
            let mut file =
                Harness::<FileConnector>::with_setup(config(&path), sink_only()).unwrap();
            let error = file.send(1_u64).await.unwrap_err();
            assert!(
                error.message().contains("cannot open `"),
                "{}",
                error.message()
            );
            assert!(
                error.message().contains("for appending"),
                "{}",
                error.message()
            );
        });
    }
}
