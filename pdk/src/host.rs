//! The plugin's side of the host services: timers, tasks, blocking jobs
//! and logging, all served by the runtime that loaded the plugin.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use async_ffi::FutureExt;

use crate::abi::host::{HostServicesRef, LogRecord};

static HOST: OnceLock<HostServicesRef> = OnceLock::new();

/// Installs the runtime's services into this copy of `pdk`, and routes the
/// `log` crate of this copy to the runtime's logger; `library` names this
/// copy's library (the plugin's package name) in its thread names. Only
/// the first call has an effect.
pub fn install(host: HostServicesRef, library: &'static str) {
    if HOST.set(host).is_ok() {
        crate::ambient::name(library);
        crate::contain::install_panic_hook();
        // Fails when this copy of `log` already has a logger (the runtime's
        // own, when a connector is linked statically): then records already
        // reach it and nothing is to be done.
        if log::set_logger(&HostLogger).is_ok() {
            log::set_max_level(
                host.max_level()
                    .into_option()
                    .map_or(log::LevelFilter::Off, |l| {
                        log::Level::from(l).to_level_filter()
                    }),
            );
        }
    }
}

/// Forwards `log` records to the runtime.
struct HostLogger;

impl log::Log for HostLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if let Some(host) = HOST.get() {
            if self.enabled(record.metadata()) {
                let message = record.args().to_string();
                (host.log())(&LogRecord {
                    level: record.level().into(),
                    target: record.target().into(),
                    message: message.as_str().into(),
                });
            }
        }
    }

    fn flush(&self) {}
}

/// Timers on the runtime's clock.
pub mod time {
    use super::{Duration, HOST};

    /// Waits for `duration` on the runtime's timer, without blocking a
    /// thread.
    pub async fn sleep(duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        match HOST.get() {
            Some(host) => (host.sleep())(nanos).await,
            None => detached_sleep(duration).await,
        }
    }

    /// A sleep for code running outside any runtime (a connector's own unit
    /// tests): a helper thread completes it.
    async fn detached_sleep(duration: Duration) {
        let (done, wait) = futures_channel::oneshot::channel::<()>();
        std::thread::spawn(move || {
            std::thread::sleep(duration);
            let _ = done.send(());
        });
        let _ = wait.await;
    }
}

/// Background tasks on the runtime's executor, and blocking jobs on its
/// blocking pool.
pub mod task {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures_channel::oneshot;
    use futures_util::future::{AbortHandle, Abortable};

    use futures_util::FutureExt as _;

    use super::{Future, FutureExt, HOST};
    use crate::abi::error::PdkError;
    use crate::ambient::{self, InContext};
    use crate::contain::{contain_sync, Guarded};
    use crate::{Error, Result};

    /// Runs `task` in the background on the runtime's executor, as part
    /// of the connector whose code spawns it: its log records carry that
    /// connector's tag, and if it panics, the panic is a failure of that
    /// connector (reported once, with its location; the events its sink
    /// deferred are failed back to their sources, and it reconnects). It
    /// runs in the plugin's tokio context if the plugin uses tokio.
    ///
    /// The returned handle gives the task's output when awaited, and
    /// [`JoinHandle::abort`] stops the task at its next `.await`;
    /// dropping the handle leaves the task running.
    ///
    /// Outside any runtime (a connector's own unit tests) the task runs on
    /// a thread of its own, and a panic is logged.
    ///
    /// ```
    /// # pdk::testing::block_on(async {
    /// let answer = pdk::task::spawn(async { 6 * 7 });
    /// assert_eq!(answer.await, Ok(42));
    ///
    /// let forever = pdk::task::spawn(std::future::pending::<()>());
    /// forever.abort();
    /// assert!(forever.await.is_err());
    /// # });
    /// ```
    pub fn spawn<T: Send + 'static>(
        task: impl Future<Output = T> + Send + 'static,
    ) -> JoinHandle<T> {
        let (done, result) = oneshot::channel();
        let (abort, registration) = AbortHandle::new_pair();
        let task = Abortable::new(task, registration);
        let task = Guarded::new("spawn", false, move || {
            InContext::new(async move {
                if let Ok(output) = task.await {
                    let _ = done.send(Ok(output));
                }
                Ok(())
            })
        });
        match HOST.get() {
            Some(host) => {
                let task = task.map(|outcome| outcome.map_err(PdkError::from).into());
                (host.spawn())(task.into_ffi());
            }
            None => {
                let capture = crate::capture::current();
                std::thread::spawn(move || {
                    crate::capture::within(capture.as_ref(), || {
                        if let Err(error) = futures_executor::block_on(task) {
                            log::error!("a spawned task failed: {error}");
                        }
                    });
                });
            }
        }
        JoinHandle {
            result,
            abort: Some(abort),
            gone: "the task was aborted, panicked, or was dropped as the runtime shut down",
        }
    }

    /// Runs `job`, which may block (a blocking client library, a
    /// computation, a file), on a thread of the runtime's blocking pool,
    /// never on a thread that polls connectors. Await the returned handle
    /// for its result; dropping the handle does not stop the job. Its log
    /// records carry the tag of the connector that started it.
    ///
    /// Outside any runtime (a connector's own unit tests) the job runs on
    /// a thread of its own.
    ///
    /// ```
    /// # pdk::testing::block_on(async {
    /// let read = pdk::task::spawn_blocking(|| std::fs::read_to_string("/no/such/file"));
    /// assert!(read.await.unwrap().is_err());
    /// # });
    /// ```
    pub fn spawn_blocking<R, F>(job: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let run = move || {
            let outcome = contain_sync("spawn_blocking", || Ok(ambient::enter_if_started(job)));
            // The handle may have been dropped: nobody wants the result.
            let _ = done.send(outcome);
        };
        match HOST.get() {
            Some(host) => (host.spawn_blocking())(async move { run() }.into_ffi()),
            None => {
                let capture = crate::capture::current();
                std::thread::spawn(move || crate::capture::within(capture.as_ref(), run));
            }
        }
        JoinHandle {
            result,
            abort: None,
            gone: "the blocking job was dropped before it finished (the runtime is shutting down)",
        }
    }

    /// The output of a task started with [`spawn`] or a job started with
    /// [`spawn_blocking`], when awaited: an error if it panicked, was
    /// aborted, or was dropped by the runtime before it finished.
    /// Dropping the handle leaves the task or job running.
    ///
    /// # Examples
    ///
    /// ```
    /// # pdk::testing::block_on(async {
    /// let checksum = pdk::task::spawn_blocking(|| (1..=100u64).sum::<u64>());
    /// assert_eq!(checksum.await, Ok(5050));
    ///
    /// let ticker = pdk::task::spawn(async {
    ///     loop {
    ///         pdk::time::sleep(std::time::Duration::from_millis(10)).await;
    ///     }
    /// });
    /// ticker.abort();
    /// assert!(ticker.await.is_err());
    /// # });
    /// ```
    pub struct JoinHandle<R> {
        result: oneshot::Receiver<Result<R>>,
        /// A task's; a blocking job cannot be stopped.
        abort: Option<AbortHandle>,
        /// Why the result will never come, when it will not.
        gone: &'static str,
    }

    impl<R> JoinHandle<R> {
        /// Stops a task started with [`spawn`] at its next `.await` (it
        /// is dropped there); awaiting the handle then gives an error. A
        /// blocking job cannot be stopped: for one, this does nothing.
        pub fn abort(&self) {
            if let Some(abort) = &self.abort {
                abort.abort();
            }
        }
    }

    impl<R> Future for JoinHandle<R> {
        type Output = Result<R>;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<R>> {
            let gone = self.gone;
            Pin::new(&mut self.result)
                .poll(cx)
                .map(|received| received.unwrap_or_else(|_| Err(Error::msg(gone))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::task::spawn_blocking;
    use crate::ErrorKind;

    #[test]
    fn a_blocking_job_returns_its_result_outside_a_runtime() {
        let answer = futures_executor::block_on(spawn_blocking(|| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            6 * 7
        }));
        assert_eq!(answer, Ok(42));
    }

    #[test]
    fn a_blocking_job_that_panics_is_an_error_of_its_handle() {
        let outcome =
            futures_executor::block_on(spawn_blocking(|| -> u8 { panic!("the driver crashed") }));
        let error = outcome.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Panic);
        assert_eq!(
            error.message(),
            "panicked in `spawn_blocking`: the driver crashed"
        );
    }
}
