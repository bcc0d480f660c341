//! `file`: the source reads `path` line by line, one event per line (the
//! flow's codec decodes each line), and finishes at the end of the file;
//! a line longer than `max_line_bytes` is dropped, skipped without being
//! held (one warning per [`DROP_REPORT_EVERY`], with the count). The sink
//! appends one JSON line per event to `path`.
//!
//! The sink acknowledges an event only once its line has been written to
//! the file (handed to the operating system, so it survives the runtime
//! being killed): it answers `Deferred` and writes in batches with
//! [`pdk::batch`], one `write` per batch of up to [`FLUSH_EVERY`] events,
//! [`FLUSH_DELAY`] after the first at the latest, acknowledging the batch
//! once it is written. If writing fails (a full disk, say), every event of
//! the batch is failed back, never acknowledged, the file is cut back to
//! its last acknowledged line, so that a line cut off by the failure is
//! never followed by another on the same line, and the sink reports its
//! connection lost (the runtime reconnects it with backoff); the next
//! batch opens the file again.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use pdk::batch::{Batch, BatchWriter, Bounds};
use pdk::prelude::*;

/// The most events the sink writes in one batch.
pub const FLUSH_EVERY: usize = 256;

/// How long after the first event of a batch the sink writes it at the
/// latest.
pub const FLUSH_DELAY: Duration = Duration::from_millis(2);

/// How often the source reports the overlong lines it dropped, at most.
pub const DROP_REPORT_EVERY: Duration = Duration::from_secs(10);

/// The `config` table of a `file` connector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file to read (source side) or append to (sink side).
    pub path: String,
    /// The longest line the source reads, in bytes, without its newline;
    /// a longer one is dropped. Default: 1 MiB.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

fn default_max_line_bytes() -> usize {
    1024 * 1024
}

/// Reads or appends lines; each side opens the file on first use.
#[connector(name = "file")]
pub struct FileConnector {
    path: String,
    reader: Option<LineReader>,
    max_line_bytes: usize,
    output: Batch<String>,
}

/// The source side's file, read one bounded line at a time.
struct LineReader {
    file: BufReader<File>,
    /// Whether the rest of an overlong line is being skipped.
    skipping: bool,
    /// Overlong lines dropped since the last report, and when that was.
    dropped: u64,
    reported_at: Option<Instant>,
}

/// One line, or what stood in its place.
enum Line {
    /// A line, without its newline.
    Complete(Vec<u8>),
    /// Part of a line longer than the limit, skipped; more may follow.
    Skipped,
    /// The end of the file.
    End,
}

/// How much of an overlong line is skipped per pull, at most: a line
/// that never ends (`/dev/zero`) keeps the source answering.
const SKIP_PER_PULL: usize = 1024 * 1024;

impl LineReader {
    fn new(file: File) -> Self {
        Self {
            file: BufReader::new(file),
            skipping: false,
            dropped: 0,
            reported_at: None,
        }
    }

    /// The next line of at most `max` bytes; of a longer one, at most
    /// [`SKIP_PER_PULL`] bytes are read past at a time, none held.
    fn next_line(&mut self, path: &str, max: usize) -> std::io::Result<Line> {
        if self.skipping {
            return self.skip();
        }
        let mut line = Vec::new();
        // One byte more than the limit tells an overlong line apart.
        let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        let read = (&mut self.file).take(limit).read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(Line::End);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            return Ok(Line::Complete(line));
        }
        if line.len() <= max {
            // The last line, without a newline.
            return Ok(Line::Complete(line));
        }
        self.skipping = true;
        self.report_dropped(path, max);
        Ok(Line::Skipped)
    }

    /// Reads past up to [`SKIP_PER_PULL`] bytes of an overlong line.
    fn skip(&mut self) -> std::io::Result<Line> {
        let mut skipped = 0;
        while skipped < SKIP_PER_PULL {
            let buffer = self.file.fill_buf()?;
            if buffer.is_empty() {
                self.skipping = false;
                return Ok(Line::End);
            }
            if let Some(at) = buffer.iter().position(|&b| b == b'\n') {
                self.file.consume(at + 1);
                self.skipping = false;
                break;
            }
            let all = buffer.len();
            self.file.consume(all);
            skipped += all;
        }
        Ok(Line::Skipped)
    }

    /// Counts a dropped line; logs the count at most once per
    /// [`DROP_REPORT_EVERY`].
    fn report_dropped(&mut self, path: &str, max: usize) {
        self.dropped += 1;
        let now = Instant::now();
        if self
            .reported_at
            .is_none_or(|at| now.duration_since(at) >= DROP_REPORT_EVERY)
        {
            pdk::log::warn!(
                "`{path}`: dropping {} line(s) longer than max_line_bytes = {max} (the rest of \
                 each is skipped unread); raise `max_line_bytes` to read them",
                self.dropped
            );
            self.dropped = 0;
            self.reported_at = Some(now);
        }
    }
}

/// The sink side: appends each batch of lines to the file in one write.
struct Appender {
    path: String,
    writer: Option<Writer>,
    /// The batch's lines, joined.
    joined: Vec<u8>,
}

/// The file the sink appends to, and how long it was after its last
/// acknowledged line.
struct Writer {
    file: File,
    acknowledged_len: u64,
}

impl Appender {
    /// The writer, opening the file for appending on first use.
    fn writer(&mut self) -> Result<&mut Writer> {
        let writer = match self.writer.take() {
            Some(writer) => writer,
            None => {
                let path = &self.path;
                let cannot = |e: std::io::Error| {
                    Error::msg(format!("cannot open `{path}` for appending: {e}"))
                };
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(cannot)?;
                let acknowledged_len = file.metadata().map_err(cannot)?.len();
                Writer {
                    file,
                    acknowledged_len,
                }
            }
        };
        Ok(self.writer.insert(writer))
    }

    /// After a failed write: cuts the file back to its last acknowledged
    /// line and closes it (the next batch opens it again); the error says
    /// what happened.
    fn abandon(&mut self, events: usize, error: &std::io::Error) -> Error {
        let mut cut = String::new();
        if let Some(writer) = self.writer.take() {
            if let Err(e) = writer.file.set_len(writer.acknowledged_len) {
                cut = format!(
                    "; cutting it back to its last acknowledged line failed too ({e}): a \
                     partial line may remain"
                );
            }
        }
        Error::msg(format!(
            "writing to `{}` failed: {error}; {events} event(s) not yet acknowledged were \
             failed back{cut}",
            self.path
        ))
    }
}

impl BatchWriter<String> for Appender {
    async fn write(&mut self, lines: &mut Vec<String>) -> Result<()> {
        let mut joined = std::mem::take(&mut self.joined);
        joined.clear();
        for line in lines.iter() {
            joined.extend_from_slice(line.as_bytes());
        }
        let written = self.writer()?.file.write_all(&joined);
        let result = match written {
            Ok(()) => {
                if let Some(writer) = &mut self.writer {
                    writer.acknowledged_len += joined.len() as u64;
                }
                Ok(())
            }
            Err(error) => Err(self.abandon(lines.len(), &error)),
        };
        self.joined = joined;
        result
    }
}

impl Connector for FileConnector {
    type Config = Config;

    fn new(config: Config, ctx: &ConnectorContext) -> Result<Self> {
        if config.max_line_bytes == 0 {
            return Err(Error::config("`max_line_bytes` must be at least 1"));
        }
        let reader = if ctx.source_linked() {
            let file = File::open(&config.path).map_err(|e| {
                Error::config(format!("cannot open `{}` for reading: {e}", config.path))
            })?;
            Some(LineReader::new(file))
        } else {
            None
        };
        let appender = Appender {
            path: config.path.clone(),
            writer: None,
            joined: Vec::new(),
        };
        let bounds = Bounds {
            max_events: FLUSH_EVERY,
            linger: FLUSH_DELAY,
        };
        Ok(Self {
            path: config.path,
            reader,
            max_line_bytes: config.max_line_bytes,
            output: Batch::start(bounds, appender, ctx),
        })
    }

    async fn on_drain(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.output.flush().await
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.output.flush().await
    }
}

impl Source for FileConnector {
    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        let reader = match self.reader.take() {
            Some(reader) => reader,
            None => LineReader::new(File::open(&self.path).map_err(|e| {
                Error::msg(format!("cannot open `{}` for reading: {e}", self.path))
            })?),
        };
        let reader = self.reader.insert(reader);
        Ok(match reader.next_line(&self.path, self.max_line_bytes)? {
            Line::Complete(line) => SourceReply::bytes(line),
            Line::End => SourceReply::Finished,
            // Pulled again at once, after the runtime's other work.
            Line::Skipped => SourceReply::Empty(0),
        })
    }
}

impl Sink for FileConnector {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        let mut line = event.to_json_string();
        line.push('\n');
        self.output.push(event.id, line).await
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
    fn a_full_batch_is_written_in_one_go_and_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        block_on(async {
            let mut file =
                Harness::<FileConnector>::with_setup(config(&path), sink_only()).unwrap();
            for n in 0..FLUSH_EVERY as u64 {
                assert_eq!(file.send(n).await, Ok(SinkReply::Deferred));
            }
            for _ in 0..FLUSH_EVERY {
                assert!(matches!(file.next_report().await, Some(Report::Ack(_))));
            }
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
    fn an_overlong_line_is_dropped_without_being_held_and_the_next_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        let long = "x".repeat(10_000);
        std::fs::write(&path, format!("short\n{long}\nafter\n{long}")).unwrap();
        let mut config = config(&path);
        config.insert("max_line_bytes", 100_u64);
        block_on(async {
            let mut file = Harness::<FileConnector>::new(config).unwrap();
            assert_eq!(file.pull().await, Ok(SourceReply::bytes(*b"short")));
            // The rest of the long line is skipped: pull again.
            assert_eq!(file.pull().await, Ok(SourceReply::Empty(0)));
            assert_eq!(file.pull().await, Ok(SourceReply::Empty(0)));
            assert_eq!(file.pull().await, Ok(SourceReply::bytes(*b"after")));
            // The last line has no end: skipping it reaches the end.
            assert_eq!(file.pull().await, Ok(SourceReply::Empty(0)));
            assert_eq!(file.pull().await, Ok(SourceReply::Finished));
            let logs = file.logs();
            let warned = logs
                .iter()
                .filter(|line| line.message.contains("longer than max_line_bytes = 100"))
                .count();
            assert_eq!(warned, 1, "one report for the interval: {logs:?}");
        });
    }

    #[test]
    fn a_full_disk_fails_every_held_event_and_acknowledges_none() {
        block_on(async {
            let mut file = Harness::<FileConnector>::with_setup(
                config(std::path::Path::new("/dev/full")),
                sink_only(),
            )
            .unwrap();
            assert_eq!(file.send(1_u64).await, Ok(SinkReply::Deferred));
            let first = file.last_event_id().unwrap();
            assert_eq!(file.send("two").await, Ok(SinkReply::Deferred));
            let second = file.last_event_id().unwrap();
            file.drain().await.unwrap();
            assert_eq!(
                file.reports(),
                vec![
                    Report::Fail(first),
                    Report::Fail(second),
                    Report::ConnectionLost
                ],
                "nothing reached the disk, nothing is acknowledged"
            );
            let logged = file.logged_after("writing a batch of 2 event(s) failed: ");
            assert!(
                logged.as_deref().is_some_and(|message| message
                    .starts_with("writing to `/dev/full` failed: ")
                    && message.contains("2 event(s) not yet acknowledged were failed back")),
                "{:?}",
                file.logs()
            );
        });
    }

    #[test]
    fn a_file_that_cannot_be_opened_fails_the_event_naming_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("out.jsonl");
        block_on(async {
            let mut file =
                Harness::<FileConnector>::with_setup(config(&path), sink_only()).unwrap();
            assert_eq!(file.send(1_u64).await, Ok(SinkReply::Deferred));
            let id = file.last_event_id().unwrap();
            file.drain().await.unwrap();
            assert_eq!(
                file.reports(),
                vec![Report::Fail(id), Report::ConnectionLost]
            );
            let logged = file
                .logged_after("writing a batch of 1 event(s) failed: ")
                .unwrap_or_default();
            assert!(
                logged.starts_with(&format!("cannot open `{}` for appending", path.display())),
                "{:?}",
                file.logs()
            );
        });
    }
}
