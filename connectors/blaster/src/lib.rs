//! `blaster`: replays the JSON-lines file `path`, looping over it, until it
//! has sent `count` events, as fast as the flow takes them. Transactional:
//! a failed event is sent again, so exactly `count` events are delivered.
//! The file is read whole when the connector is created, so it must fit
//! in `max_file_bytes` (default [`DEFAULT_MAX_FILE_BYTES`]); a larger one
//! is refused then, before its bytes are held.

use std::collections::VecDeque;
use std::io::Read;

/// The largest file a `blaster` replays unless its config says otherwise.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

use pdk::prelude::*;
use rustc_hash::FxHashMap;

/// The `config` table of a `blaster` connector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A file with one event per line (decoded by the flow's codec).
    pub path: String,
    /// How many events to deliver in total.
    pub count: u64,
    /// The largest file accepted, in bytes (it is held in memory).
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// At most this many events per second (as fast as it can without).
    #[serde(default)]
    pub rate: Option<u64>,
}

fn default_max_file_bytes() -> u64 {
    DEFAULT_MAX_FILE_BYTES
}

/// The bytes of the file at `path`, if it has at most `max` of them.
fn read_bounded(path: &str, max: u64) -> Result<Vec<u8>> {
    let cannot =
        |e: std::io::Error| Error::config(format!("field `path`: cannot read `{path}`: {e}"));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let too_large = || {
        Error::config(format!(
            "field `path`: `{path}` is larger than max_file_bytes = {max} (the blaster holds \
             its file in memory); replay a smaller file, or raise `max_file_bytes`"
        ))
    };
    if file.metadata().map_err(cannot)?.len() > max {
        return Err(too_large());
    }
    let mut text = Vec::new();
    // One byte more than the limit tells a file that is too large, also
    // one whose size the file system does not know (a device, a FIFO).
    file.take(max.saturating_add(1))
        .read_to_end(&mut text)
        .map_err(cannot)?;
    if text.len() as u64 > max {
        return Err(too_large());
    }
    Ok(text)
}

/// Replays a file's lines.
#[connector(name = "blaster")]
pub struct Blaster {
    lines: Vec<Vec<u8>>,
    count: u64,
    next: u64,
    resend: VecDeque<u64>,
    /// The line of each event not settled yet, by pull id: the runtime
    /// numbers pulls, so a fast hasher is safe.
    in_flight: FxHashMap<u64, u64>,
    /// With a `rate`: when the first event went, and the rate.
    pace: Option<(Option<std::time::Instant>, u64)>,
}

impl Connector for Blaster {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        let text = read_bounded(&config.path, config.max_file_bytes)?;
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
            in_flight: FxHashMap::default(),
            pace: config
                .rate
                .filter(|&rate| rate > 0)
                .map(|rate| (None, rate)),
        })
    }
}

impl Source for Blaster {
    const TRANSACTIONAL: bool = true;

    async fn pull_data(&mut self, pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        if let Some((started, rate)) = &mut self.pace {
            let started = *started.get_or_insert_with(std::time::Instant::now);
            // Events whose turn has come: one at once, then `rate` a second.
            let due = (started.elapsed().as_secs_f64() * *rate as f64) as u64 + 1;
            if self.next >= due && self.resend.is_empty() && self.next < self.count {
                return Ok(SourceReply::Empty(1));
            }
        }
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
    fn with_a_rate_it_waits_for_the_next_events_turn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        std::fs::write(&path, "a\n").unwrap();
        let mut config = Value::object();
        config.insert("path", path.to_string_lossy().into_owned());
        config.insert("count", 3u64);
        // One event a day: the first goes at once, the second waits.
        config.insert("rate", 1u64);
        let mut blaster = Harness::<Blaster>::new(config).unwrap();
        block_on(async {
            assert_eq!(blaster.pull().await, Ok(SourceReply::bytes(*b"a")));
            assert_eq!(blaster.pull().await, Ok(SourceReply::Empty(1)));
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

    #[test]
    fn a_file_larger_than_max_file_bytes_is_refused_before_it_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.jsonl");
        // Sparse: 10 GB that take no disk, and must not take memory.
        std::fs::File::create(&path)
            .unwrap()
            .set_len(10 * 1024 * 1024 * 1024)
            .unwrap();
        let mut config = Value::object();
        config.insert("path", path.to_string_lossy().into_owned());
        config.insert("count", 1_u64);
        let error = Harness::<Blaster>::new(config).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(
            error
                .message()
                .contains("is larger than max_file_bytes = 268435456"),
            "{}",
            error.message()
        );
        let mut config = Value::object();
        config.insert("path", "/dev/zero");
        config.insert("count", 1_u64);
        config.insert("max_file_bytes", 1024_u64);
        let error = Harness::<Blaster>::new(config).unwrap_err();
        assert!(
            error
                .message()
                .contains("`/dev/zero` is larger than max_file_bytes = 1024"),
            "{}",
            error.message()
        );
    }
}
