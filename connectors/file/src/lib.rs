//! `file`: the source reads `path` line by line, one event per line (the
//! flow's codec decodes each line), and finishes at the end of the file;
//! a line longer than `max_line_bytes` is dropped, skipped without being
//! held (one warning per [`DROP_REPORT_EVERY`], with the count). The sink
//! appends one JSON line per event to `path`.
//!
//! The sink acknowledges an event only once its line has been written to
//! the file (handed to the operating system, so it survives the runtime
//! being killed): it answers `Deferred`, and acknowledges the events
//! written so far each time it flushes, after [`FLUSH_EVERY`] events or
//! [`FLUSH_DELAY`] after the first unflushed one, whichever comes first.
//! If writing or flushing fails (a full disk, say), every event not
//! acknowledged yet is failed back, never acknowledged, the file is cut
//! back to its last acknowledged line, so that a line cut off by the
//! failure is never followed by another on the same line, and the sink
//! fails (the runtime reconnects it with backoff); the next event opens
//! the file again.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pdk::prelude::*;
use pdk::{ConnectionLostNotifier, SinkReplies};

/// How many written events the sink holds before it flushes.
pub const FLUSH_EVERY: usize = 256;

/// How long after the first unflushed event the sink flushes at the latest.
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
    output: Arc<Mutex<Output>>,
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

/// The sink side's file and the events written to it but not flushed.
#[derive(Default)]
struct Output {
    writer: Option<Writer>,
    unflushed: Vec<EventId>,
    flush_scheduled: bool,
}

/// The file the sink appends to, and how long it was after its last
/// acknowledged line.
struct Writer {
    file: BufWriter<File>,
    acknowledged_len: u64,
}

impl Output {
    /// The writer, opening `path` for appending on first use.
    fn writer(&mut self, path: &str) -> Result<&mut Writer> {
        let writer = match self.writer.take() {
            Some(writer) => writer,
            None => {
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
                    file: BufWriter::new(file),
                    acknowledged_len,
                }
            }
        };
        Ok(self.writer.insert(writer))
    }

    /// Hands what is buffered to the operating system, then acknowledges
    /// every event written so far; if that fails, see [`Self::abandon`],
    /// and the connector reports itself failed through `failed`.
    fn flush(
        &mut self,
        path: &str,
        replies: &SinkReplies,
        failed: &ConnectionLostNotifier,
    ) -> Result<()> {
        let Some(writer) = &mut self.writer else {
            return Ok(());
        };
        let flushed = writer
            .file
            .flush()
            .and_then(|()| writer.file.get_ref().metadata());
        match flushed {
            Ok(metadata) => {
                writer.acknowledged_len = metadata.len();
                for id in self.unflushed.drain(..) {
                    replies.ack(id);
                }
                Ok(())
            }
            Err(error) => {
                failed.connection_lost();
                Err(self.abandon(path, replies, &error))
            }
        }
    }

    /// After a failed write or flush: fails back every event not
    /// acknowledged, drops what is buffered, cuts the file back to its
    /// last acknowledged line and closes it (the next event opens it
    /// again); the error says what happened.
    fn abandon(&mut self, path: &str, replies: &SinkReplies, error: &std::io::Error) -> Error {
        let failed = self.unflushed.len();
        for id in self.unflushed.drain(..) {
            replies.fail(id);
        }
        let mut cut = String::new();
        if let Some(writer) = self.writer.take() {
            // Not flushed again: what is buffered is failed already.
            let (file, _buffered) = writer.file.into_parts();
            if let Err(e) = file.set_len(writer.acknowledged_len) {
                cut = format!(
                    "; cutting it back to its last acknowledged line failed too ({e}): a \
                     partial line may remain"
                );
            }
        }
        Error::msg(format!(
            "writing to `{path}` failed: {error}; {failed} event(s) not yet acknowledged were \
             failed back{cut}"
        ))
    }
}

impl FileConnector {
    /// Flushes the sink side and answers its held events.
    fn flush(&self, ctx: &ConnectorContext) -> Result<()> {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush(&self.path, &ctx.replies(), &ctx.notifier())
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
        Ok(Self {
            path: config.path,
            reader,
            max_line_bytes: config.max_line_bytes,
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
    async fn on_event(&mut self, event: Event, ctx: &ConnectorContext) -> Result<SinkReply> {
        let mut output = self.output.lock().unwrap_or_else(PoisonError::into_inner);
        let writer = output.writer(&self.path)?;
        let mut line = event.to_json_string();
        line.push('\n');
        if let Err(error) = writer.file.write_all(line.as_bytes()) {
            // This event is failed by the error; the held ones with it.
            return Err(output.abandon(&self.path, &ctx.replies(), &error));
        }
        output.unflushed.push(event.id);
        if output.unflushed.len() >= FLUSH_EVERY {
            // This event is among those the flush answers, either way.
            if let Err(error) = output.flush(&self.path, &ctx.replies(), &ctx.notifier()) {
                pdk::log::error!("{error}");
            }
        } else if !output.flush_scheduled {
            output.flush_scheduled = true;
            let output = Arc::clone(&self.output);
            let (replies, failed) = (ctx.replies(), ctx.notifier());
            let path = self.path.clone();
            pdk::task::spawn(async move {
                pdk::time::sleep(FLUSH_DELAY).await;
                let mut output = output.lock().unwrap_or_else(PoisonError::into_inner);
                output.flush_scheduled = false;
                if let Err(error) = output.flush(&path, &replies, &failed) {
                    pdk::log::error!("{error}");
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
            // Buffered, so held until a flush hands it over.
            assert_eq!(file.send(1_u64).await, Ok(SinkReply::Deferred));
            let held = file.last_event_id().unwrap();
            // Larger than the buffer: written at once, and refused.
            let error = file.send("x".repeat(20_000)).await.unwrap_err();
            assert!(
                error
                    .message()
                    .starts_with("writing to `/dev/full` failed: ")
                    && error
                        .message()
                        .contains("1 event(s) not yet acknowledged were failed back"),
                "{}",
                error.message()
            );
            file.drain().await.unwrap();
            let reports = file.reports();
            assert_eq!(
                reports,
                vec![Report::Fail(held)],
                "nothing reached the disk, nothing is acknowledged"
            );
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
