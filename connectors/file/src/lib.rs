//! `file`: the source reads `path` line by line, one event per line (the
//! flow's codec decodes each line), and finishes at the end of the file;
//! the sink appends one JSON line per event to `path`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};

use pdk::prelude::*;

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
    writer: Option<BufWriter<File>>,
}

impl FileConnector {
    fn writer(&mut self) -> Result<&mut BufWriter<File>> {
        let writer = match self.writer.take() {
            Some(writer) => writer,
            None => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .map_err(|e| {
                        Error::msg(format!("cannot open `{}` for appending: {e}", self.path))
                    })?;
                BufWriter::new(file)
            }
        };
        Ok(self.writer.insert(writer))
    }

    fn flush(&mut self) -> Result<()> {
        if let Some(writer) = &mut self.writer {
            writer.flush()?;
        }
        Ok(())
    }
}

impl Connector for FileConnector {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self {
            path: config.path,
            reader: None,
            writer: None,
        })
    }

    async fn on_drain(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.flush()
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.flush()
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
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        let writer = self.writer()?;
        writer.write_all(event.to_json_string().as_bytes())?;
        writer.write_all(b"\n")?;
        Ok(SinkReply::Ack)
    }
}

#[pdk_export]
mod plugin {
    pub use super::FileConnector;
}
