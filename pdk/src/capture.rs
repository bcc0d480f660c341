//! The log records a connector emits under `pdk::testing`, caught per
//! harness.
//!
//! The first harness installs a `log` logger for the test process (unless
//! the process has one already). A record is caught by the harness whose
//! call is running on the thread that emits it; a task or a blocking job
//! the connector starts with `pdk::task` inherits the catching harness of
//! the code that started it.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

/// One log record a connector emitted.
///
/// # Examples
///
/// ```
/// use pdk::prelude::*;
/// use pdk::testing::Harness;
///
/// #[connector(name = "chatty")]
/// pub struct Chatty;
///
/// impl Connector for Chatty {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
///         pdk::log::warn!("no credentials: connecting anonymously");
///         Ok(Self)
///     }
/// }
/// # impl Sink for Chatty {
/// #     async fn on_event(&mut self, _: Event, _: &ConnectorContext) -> Result<SinkReply> {
/// #         Ok(SinkReply::Ack)
/// #     }
/// # }
///
/// let harness = Harness::<Chatty>::new(Value::object())?;
/// let logs = harness.logs();
/// assert_eq!(logs.len(), 1);
/// assert_eq!(logs[0].level, pdk::log::Level::Warn);
/// assert_eq!(logs[0].message, "no credentials: connecting anonymously");
/// # Ok::<(), pdk::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// How important it is.
    pub level: log::Level,
    /// The `log` target (by default the module path of the code that
    /// logged).
    pub target: String,
    /// The formatted message.
    pub message: String,
}

/// Where one harness keeps the records it caught.
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<Vec<LogLine>>>);

impl Capture {
    /// The records caught so far, leaving none behind.
    pub(crate) fn take(&self) -> Vec<LogLine> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn push(&self, line: LogLine) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }
}

thread_local! {
    /// The harness catching this thread's records, while one of its calls
    /// runs here.
    static CURRENT: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

/// The catching harness of this thread, for work it hands to another one.
pub(crate) fn current() -> Option<Capture> {
    CURRENT.with(|current| current.borrow().clone())
}

/// Runs `f` with `capture` catching this thread's records.
pub(crate) fn within<R>(capture: Option<&Capture>, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.with(|current| current.replace(capture.cloned()));
    let result = f();
    CURRENT.with(|current| *current.borrow_mut() = previous);
    result
}

/// Installs the catching logger, once per process; a logger the test
/// process installed first wins, and then nothing is caught.
pub(crate) fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if log::set_logger(&CatchingLogger).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
        }
    });
}

/// Hands each record to the harness catching its thread's records.
struct CatchingLogger;

impl log::Log for CatchingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if let Some(capture) = current() {
            capture.push(LogLine {
                level: record.level(),
                target: record.target().to_owned(),
                message: record.args().to_string(),
            });
        }
    }

    fn flush(&self) {}
}

pin_project! {
    /// A future whose polls are caught by one harness.
    pub(crate) struct Caught<F> {
        capture: Capture,
        #[pin]
        future: F,
    }
}

impl<F> Caught<F> {
    /// `future`, its records caught by `capture`.
    pub(crate) fn new(capture: Capture, future: F) -> Self {
        Self { capture, future }
    }
}

impl<F: Future> Future for Caught<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let future = this.future;
        within(Some(this.capture), || future.poll(cx))
    }
}
