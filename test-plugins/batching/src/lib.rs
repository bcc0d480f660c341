//! `flaky_batches`: a sink that appends one JSON line per event to `path`
//! through [`pdk::batch`], one write per batch, and fails every
//! `fail_every`-th write before writing anything (so a failed batch leaves
//! no line behind, and a transactional source's resend is the only copy).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use pdk::batch::{Batch, BatchWriter, Bounds};
use pdk::prelude::*;

/// The `config` table of a `flaky_batches` sink.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file to append to.
    pub path: String,
    /// Every how many writes one fails (0: none).
    #[serde(default)]
    pub fail_every: u64,
    /// The most events in one batch.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
}

fn default_max_events() -> usize {
    16
}

// ANCHOR: writer
/// Appends each batch to the file, failing every `fail_every`-th time.
struct Appender {
    path: PathBuf,
    fail_every: u64,
    writes: u64,
}

impl BatchWriter<String> for Appender {
    async fn write(&mut self, lines: &mut Vec<String>) -> Result<()> {
        self.writes += 1;
        if self.fail_every > 0 && self.writes % self.fail_every == 0 {
            return Err(Error::msg(format!(
                "write {} fails, as configured",
                self.writes
            )));
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(lines.concat().as_bytes())?;
        Ok(())
    }
}

/// The batching sink.
#[connector(name = "flaky_batches")]
pub struct FlakyBatches {
    batch: Batch<String>,
}

impl Connector for FlakyBatches {
    type Config = Config;

    fn new(config: Config, ctx: &ConnectorContext) -> Result<Self> {
        let writer = Appender {
            path: PathBuf::from(config.path),
            fail_every: config.fail_every,
            writes: 0,
        };
        let bounds = Bounds {
            max_events: config.max_events,
            linger: Duration::from_millis(1),
        };
        Ok(Self {
            batch: Batch::start(bounds, writer, ctx),
        })
    }

    async fn on_drain(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.batch.flush().await
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.batch.flush().await
    }
}

impl Sink for FlakyBatches {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        let line = format!("{}\n", event.to_json_string());
        self.batch.push(event.id, line).await
    }
}

// ANCHOR_END: writer

#[pdk_export]
mod plugin {
    pub use super::FlakyBatches;
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use pdk::testing::{block_on, Harness, Report};
    use pdk::{EventId, SinkReply, Value};

    use super::FlakyBatches;

    /// Sends 0..100 the way a transactional source does: each failed event
    /// is sent again until it is acknowledged.
    #[test]
    fn every_event_is_written_exactly_once_when_one_write_in_three_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut config = Value::object();
        config.insert("path", path.to_str().unwrap().to_owned());
        config.insert("fail_every", 3_u64);
        config.insert("max_events", 8_u64);
        block_on(async {
            let mut sink = Harness::<FlakyBatches>::new(config).unwrap();
            let mut pending: Vec<u64> = (0..100).collect();
            let mut acked = Vec::new();
            let mut failures = 0;
            while !pending.is_empty() {
                let mut sent = HashMap::<EventId, u64>::new();
                for number in pending.drain(..) {
                    assert_eq!(sink.send(number).await, Ok(SinkReply::Deferred));
                    sent.insert(sink.last_event_id().unwrap(), number);
                }
                sink.drain().await.unwrap();
                let mut answered = 0;
                let mut reconnect = false;
                while answered < sent.len() {
                    match sink.next_report().await {
                        Some(Report::Ack(id)) => {
                            acked.push(sent[&id]);
                            answered += 1;
                        }
                        Some(Report::Fail(id)) => {
                            pending.push(sent[&id]);
                            failures += 1;
                            answered += 1;
                        }
                        // As the runtime does: every event deferred is
                        // failed back (answered above), then `connect`.
                        Some(Report::ConnectionLost) => reconnect = true,
                        other => panic!("unexpected report {other:?}"),
                    }
                }
                if reconnect {
                    assert_eq!(sink.connect().await, Ok(true));
                }
            }
            assert!(failures > 0, "no write failed");
            acked.sort_unstable();
            assert_eq!(acked, (0..100).collect::<Vec<_>>());
        });
        let mut written: Vec<u64> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|line| line.parse().unwrap())
            .collect();
        written.sort_unstable();
        assert_eq!(written, (0..100).collect::<Vec<_>>());
    }
}
