//! The runtime's logger, which tags every record a connector emits with
//! the plugin and the connector it came from.
//!
//! While the runtime polls a connector's future it marks the thread with
//! that connector's [`Tag`] ([`tagged`]); the logger rewrites the target
//! of any record emitted meanwhile, whether it comes through the host
//! services from a plugin or straight from a linked connector, to
//! `PLUGIN/CONNECTOR`. The runtime's level filter (`PDK_LOG`) then applies
//! to that target, so `PDK_LOG=info,probe=debug` turns on debug records of
//! every connector of plugin `probe`.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io::Write as _;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use log::{Log, Metadata, Record};

use crate::executor::Runner;

/// Told of a task that failed (see [`Tag::supervised`]).
type Supervisor = Arc<dyn Fn(pdk::Error) + Send + Sync>;

/// Starts a task on the executor it is given.
type Start = Box<dyn FnOnce(&Runner) + Send>;

/// Which connector's code a thread runs: its log target,
/// `PLUGIN/CONNECTOR`, who answers for the tasks it spawns, and where
/// those tasks run. Cloning it is one reference count.
#[derive(Clone)]
pub struct Tag(Arc<TagData>);

struct TagData {
    target: String,
    /// Where the connector's id starts in `target`.
    connector_at: usize,
    supervisor: Option<Supervisor>,
    /// The executor the connector runs on, once its pipeline is known:
    /// the tasks it spawns run there too.
    home: OnceLock<Runner>,
    /// Tasks spawned before the home was known (in `new`): started there
    /// once it is, never if it never is (a connector created only to
    /// check its config).
    waiting: Mutex<Vec<Start>>,
    /// Times the watchdog found the connector, or a task it spawned,
    /// blocking its thread.
    watchdog_reports: AtomicU64,
}

impl Tag {
    /// The tag of connector `connector` (its id in the flow) of plugin
    /// `plugin` (its package name), unsupervised: for the tests.
    #[cfg(test)]
    #[must_use]
    pub fn new(plugin: &str, connector: &str) -> Self {
        Self::with(plugin, connector, None)
    }

    fn with(plugin: &str, connector: &str, supervisor: Option<Supervisor>) -> Self {
        Self(Arc::new(TagData {
            target: format!("{plugin}/{connector}"),
            connector_at: plugin.len() + 1,
            supervisor,
            home: OnceLock::new(),
            waiting: Mutex::new(Vec::new()),
            watchdog_reports: AtomicU64::new(0),
        }))
    }

    /// The tag of connector `connector` of plugin `plugin`, with
    /// `supervisor` told when a task spawned under it fails.
    #[must_use]
    pub fn supervised(
        plugin: &str,
        connector: &str,
        supervisor: impl Fn(pdk::Error) + Send + Sync + 'static,
    ) -> Self {
        Self::with(plugin, connector, Some(Arc::new(supervisor)))
    }

    /// Reports that a task spawned under this tag failed: to its
    /// supervisor, or else to the log.
    pub fn task_failed(&self, error: pdk::Error) {
        match &self.0.supervisor {
            Some(supervisor) => supervisor(error),
            None => self.scope(|| log::error!("a spawned task failed: {}", error.message())),
        }
    }

    /// The tag as a log target.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0.target
    }

    /// The connector's id.
    #[must_use]
    pub fn connector(&self) -> &str {
        &self.0.target[self.0.connector_at..]
    }

    /// Records that the connector runs on `runner`; the tasks it spawns
    /// from now on run there too.
    pub fn runs_on(&self, runner: &Runner) {
        // Set once, when the flow starts; a second call changes nothing.
        let _ = self.0.home.set(runner.clone());
        let waiting = std::mem::take(&mut *self.waiting());
        for start in waiting {
            start(runner);
        }
    }

    /// Starts a task of the connector on its home executor, now or once
    /// it is known ([`Self::runs_on`]).
    pub fn start_at_home(&self, start: impl FnOnce(&Runner) + Send + 'static) {
        let home = {
            let mut waiting = self.waiting();
            match self.0.home.get() {
                Some(home) => home.clone(),
                None => {
                    waiting.push(Box::new(start));
                    return;
                }
            }
        };
        start(&home);
    }

    fn waiting(&self) -> MutexGuard<'_, Vec<Start>> {
        self.0
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a report of the watchdog about the connector or one of its
    /// tasks.
    pub fn watchdog_reported(&self) {
        self.0.watchdog_reports.fetch_add(1, Ordering::Relaxed);
    }

    /// The watchdog's reports so far.
    #[must_use]
    pub fn watchdog_reports(&self) -> u64 {
        self.0.watchdog_reports.load(Ordering::Relaxed)
    }

    /// Runs `f` with this tag marking the current thread.
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _restore = Restore(CURRENT.with(|current| current.replace(Some(self.clone()))));
        f()
    }

    /// The tag marking the current thread, if any.
    #[must_use]
    pub fn current() -> Option<Self> {
        CURRENT.with(|current| current.borrow().clone())
    }
}

impl PartialEq for Tag {
    fn eq(&self, other: &Self) -> bool {
        self.0.target == other.0.target
    }
}

impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Tag").field(&self.0.target).finish()
    }
}

/// Puts the outer tag back when a scope ends, even by unwinding.
struct Restore(Option<Tag>);

impl Drop for Restore {
    fn drop(&mut self) {
        let outer = self.0.take();
        CURRENT.with(|current| *current.borrow_mut() = outer);
    }
}

thread_local! {
    /// The connector whose code this thread is running.
    static CURRENT: RefCell<Option<Tag>> = const { RefCell::new(None) };
}

/// Runs `future` with `tag` marking the thread during each of its polls.
pub async fn tagged<F: Future>(tag: &Tag, future: F) -> F::Output {
    let mut future = pin!(future);
    poll_fn(|cx| tag.scope(|| future.as_mut().poll(cx))).await
}

/// Wraps `env_logger`, substituting the current tag for the target.
struct TaggingLogger(env_logger::Logger);

impl TaggingLogger {
    /// `record` as `inner` should see it.
    fn with_tag(record: &Record<'_>, inner: impl FnOnce(&Record<'_>)) {
        match Tag::current() {
            Some(tag) => inner(
                &Record::builder()
                    .args(*record.args())
                    .level(record.level())
                    .target(tag.as_str())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            ),
            None => inner(record),
        }
    }
}

impl Log for TaggingLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        match Tag::current() {
            Some(tag) => self.0.enabled(
                &Metadata::builder()
                    .level(metadata.level())
                    .target(tag.as_str())
                    .build(),
            ),
            None => self.0.enabled(metadata),
        }
    }

    fn log(&self, record: &Record<'_>) {
        Self::with_tag(record, |record| self.0.log(record));
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Installs the runtime's logger: `env_logger` configured by `PDK_LOG`
/// (default `info`), with connector records tagged; with
/// `PDK_LOG_FORMAT=json`, one JSON object a line (see [`json_line`]).
pub fn init() {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::new().filter_or("PDK_LOG", "info"));
    match std::env::var("PDK_LOG_FORMAT").as_deref() {
        Ok("json") => {
            builder.format(|out, record| {
                let line = json_line(&out.timestamp_millis().to_string(), record);
                writeln!(out, "{line}")
            });
        }
        Ok("text") | Err(_) => {}
        Ok(other) => eprintln!(
            "warning: PDK_LOG_FORMAT={other} is not a log format; logging as text (fix: \
             PDK_LOG_FORMAT=json or text)"
        ),
    }
    let logger = builder.build();
    let level = logger.filter();
    if log::set_boxed_logger(Box::new(TaggingLogger(logger))).is_ok() {
        log::set_max_level(level);
    }
}

/// `record`, logged at `time`, as one JSON object: `time`, `level`,
/// `target` (`PLUGIN/CONNECTOR` for a connector's record) and `message`.
fn json_line(time: &str, record: &Record<'_>) -> String {
    serde_json::json!({
        "time": time,
        "level": record.level().as_str(),
        "target": record.target(),
        "message": record.args().to_string(),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_started_before_the_connector_has_a_home_starts_there_once_it_has() {
        let tag = Tag::new("probe", "snk");
        let (started, seen) = std::sync::mpsc::channel();
        let early = started.clone();
        tag.start_at_home(move |_| early.send("early").unwrap());
        assert!(seen.try_recv().is_err(), "no home yet: not started");
        tag.runs_on(crate::executor::pool().runner());
        assert_eq!(seen.try_recv(), Ok("early"));
        tag.start_at_home(move |_| started.send("late").unwrap());
        assert_eq!(seen.try_recv(), Ok("late"), "a home: started at once");
    }

    #[test]
    fn a_json_line_is_one_object_on_one_line() {
        let line = json_line(
            "2026-12-07T08:00:00.000Z",
            &Record::builder()
                .args(format_args!("two\nlines \"quoted\""))
                .level(log::Level::Warn)
                .target("probe/src")
                .build(),
        );
        assert!(!line.contains('\n'), "{line}");
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["level"], "WARN");
        assert_eq!(parsed["target"], "probe/src");
        assert_eq!(parsed["message"], "two\nlines \"quoted\"");
    }

    /// Returns `Pending` once, asking to be polled again.
    async fn yield_once() {
        let mut yielded = false;
        poll_fn(|cx| {
            if yielded {
                std::task::Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        })
        .await;
    }

    #[test]
    fn scope_marks_the_thread_and_restores_the_outer_tag() {
        let outer = Tag::new("probe", "src");
        let inner = Tag::new("file", "out");
        assert_eq!(Tag::current(), None);
        outer.scope(|| {
            assert_eq!(Tag::current().as_ref(), Some(&outer));
            inner.scope(|| assert_eq!(Tag::current().as_ref(), Some(&inner)));
            assert_eq!(Tag::current().as_ref(), Some(&outer));
        });
        assert_eq!(Tag::current(), None);
    }

    #[test]
    fn a_tagged_future_sees_its_tag_on_every_poll_and_leaves_none_behind() {
        let tag = Tag::new("probe", "snk");
        let seen = futures::executor::block_on(tagged(&tag, async {
            let first = Tag::current();
            yield_once().await;
            (first, Tag::current())
        }));
        assert_eq!(seen, (Some(tag.clone()), Some(tag)));
        assert_eq!(Tag::current(), None);
    }
}
