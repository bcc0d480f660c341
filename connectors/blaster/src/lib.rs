//! `blaster`: replays the JSON-lines file `path`, looping over it, until it
//! has sent `count` events, as fast as the flow takes them. Transactional:
//! a failed event is sent again, so exactly `count` events are delivered.

use std::collections::{HashMap, VecDeque};

use pdk::prelude::*;

/// The `config` table of a `blaster` connector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A file with one event per line (decoded by the flow's codec).
    pub path: String,
    /// How many events to deliver in total.
    pub count: u64,
}

/// Replays a file's lines.
#[connector(name = "blaster")]
pub struct Blaster {
    lines: Vec<Vec<u8>>,
    count: u64,
    next: u64,
    resend: VecDeque<u64>,
    in_flight: HashMap<u64, u64>,
}

impl Connector for Blaster {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        let text = std::fs::read(&config.path).map_err(|e| {
            Error::config(format!("field `path`: cannot read `{}`: {e}", config.path))
        })?;
        let lines: Vec<Vec<u8>> = text
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        if lines.is_empty() && config.count > 0 {
            return Err(Error::config(format!(
                "field `path`: `{}` has no lines to replay",
                config.path
            )));
        }
        Ok(Self {
            lines,
            count: config.count,
            next: 0,
            resend: VecDeque::new(),
            in_flight: HashMap::new(),
        })
    }
}

impl Source for Blaster {
    const TRANSACTIONAL: bool = true;

    async fn pull_data(&mut self, pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        let sequence = match self.resend.pop_front() {
            Some(sequence) => sequence,
            None if self.next < self.count => {
                self.next += 1;
                self.next - 1
            }
            None if self.in_flight.is_empty() => return Ok(SourceReply::Finished),
            None => return Ok(SourceReply::Empty(1)),
        };
        self.in_flight.insert(pull_id, sequence);
        let line = &self.lines[usize::try_from(sequence).unwrap_or(0) % self.lines.len()];
        Ok(SourceReply::bytes(line.clone()))
    }

    async fn ack(&mut self, _stream: u64, pull_id: u64, _ctx: &ConnectorContext) -> Result<()> {
        self.in_flight.remove(&pull_id);
        Ok(())
    }

    async fn fail(&mut self, _stream: u64, pull_id: u64, _ctx: &ConnectorContext) -> Result<()> {
        if let Some(sequence) = self.in_flight.remove(&pull_id) {
            self.resend.push_back(sequence);
        }
        Ok(())
    }
}

#[pdk_export]
mod plugin {
    pub use super::Blaster;
}

#[cfg(test)]
mod tests {
    use pdk::testing::{block_on, Harness};
    use pdk::{ErrorKind, SourceReply, Value};

    use super::Blaster;

    fn blaster(lines: &str, count: u64) -> (tempfile::TempDir, pdk::Result<Harness<Blaster>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        std::fs::write(&path, lines).unwrap();
        let mut config = Value::object();
        config.insert("path", path.to_string_lossy().into_owned());
        config.insert("count", count);
        (dir, Harness::new(config))
    }

    #[test]
    fn replays_its_lines_in_a_cycle_and_resends_what_failed() {
        let (_dir, blaster) = blaster("a\nb\n", 3);
        let mut blaster = blaster.unwrap();
        block_on(async {
            assert_eq!(blaster.pull().await, Ok(SourceReply::bytes(*b"a")));
            assert_eq!(blaster.pull().await, Ok(SourceReply::bytes(*b"b")));
            blaster.ack(0, 0).await.unwrap();
            blaster.fail(0, 1).await.unwrap();
            assert_eq!(blaster.pull().await, Ok(SourceReply::bytes(*b"b")));
            assert_eq!(blaster.pull().await, Ok(SourceReply::bytes(*b"a")));
            // Everything was pulled, two events are still out.
            assert_eq!(blaster.pull().await, Ok(SourceReply::Empty(1)));
            blaster.ack(0, 2).await.unwrap();
            blaster.ack(0, 3).await.unwrap();
            assert_eq!(blaster.pull().await, Ok(SourceReply::Finished));
        });
    }

    #[test]
    fn a_file_without_lines_is_a_config_error() {
        let (_dir, blaster) = blaster("\n\n", 1);
        let error = blaster.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(
            error.message().ends_with("has no lines to replay"),
            "{}",
            error.message()
        );
    }
}
