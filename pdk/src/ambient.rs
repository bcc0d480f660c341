//! The ambient context a plugin's code runs in.
//!
//! With the `tokio` feature, every library that contains this copy of
//! `pdk` (one plugin, or a runtime with connectors linked in) may own one
//! small tokio runtime, started the first time a connector whose crate
//! asked for tokio is created or called: one worker thread, which drives
//! the runtime's I/O and timers and runs what `tokio::spawn` starts, plus
//! the threads of tokio's blocking pool while `tokio::task::spawn_blocking`
//! jobs run. The runtime's context is entered around every call into such
//! a connector's code (creating, polling and dropping its futures, and the
//! connector itself), and, once the runtime runs, around the tasks and
//! blocking jobs it hands to the host, so that tokio-based crates find it
//! as they would in `#[tokio::main]`. The host cannot lend its own
//! reactor: each library has its own copy of tokio.
//!
//! Whether a connector's crate asked for tokio is read from its own
//! manifest by `#[connector]` (`ConnectorType::USES_TOKIO`), not from this
//! crate's features, which cargo unifies across a workspace: a plugin that
//! does not use tokio starts no thread and pays nothing, even when it is
//! built beside one that does.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

#[cfg(feature = "tokio")]
mod tokio_runtime {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::OnceLock;

    use async_ffi::FfiFuture;

    use tokio::runtime::{Builder, Runtime};

    /// This library's runtime, once started. Never shut down: a library
    /// is never unloaded.
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();

    thread_local! {
        /// Whether this thread is inside the runtime's context. Once it
        /// is, it stays: the runtime lives as long as the process, and
        /// this library's copy of tokio's thread-locals serves only this
        /// library's code, so leaving it entered costs nothing, while
        /// entering and leaving around every call cost ~80 ns a call.
        static ENTERED: Cell<bool> = const { Cell::new(false) };
    }

    /// Puts this thread inside `runtime`'s context for good.
    fn stay_entered(runtime: &'static Runtime) {
        if !ENTERED.get() {
            // The guard would restore the previous context when dropped;
            // forgotten, the context stays entered on this thread.
            std::mem::forget(runtime.enter());
            ENTERED.set(true);
        }
    }

    /// The name of this library (the plugin's package name), for the
    /// runtime's thread names.
    static LIBRARY: OnceLock<&'static str> = OnceLock::new();

    /// Names this library's runtime threads after `library`; only the
    /// first call has an effect, and only before the runtime starts.
    pub(crate) fn name(library: &'static str) {
        let _ = LIBRARY.set(library);
    }

    /// The runtime, started on first use.
    fn runtime() -> &'static Runtime {
        RUNTIME.get_or_init(|| {
            let library = LIBRARY.get().copied().unwrap_or("pdk");
            Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name(format!("tokio:{library}"))
                .enable_all()
                .build()
                // Only when the OS refuses a thread or an epoll instance;
                // the caller's containment turns this into an error of the
                // call, and the next call tries again.
                .unwrap_or_else(|e| panic!("cannot start this plugin's tokio runtime: {e}"))
        })
    }

    /// Runs `f` inside the runtime's context, starting the runtime if
    /// needed, when `uses_tokio`; else just runs `f`.
    pub(crate) fn enter<R>(uses_tokio: bool, f: impl FnOnce() -> R) -> R {
        if uses_tokio {
            stay_entered(runtime());
        }
        f()
    }

    /// Whether a pipeline runs on this library's runtime.
    static HOSTING: AtomicBool = AtomicBool::new(false);

    /// Clears [`HOSTING`] when the hosted pipeline ends, even by a panic.
    struct Hosting;

    impl Drop for Hosting {
        fn drop(&mut self) {
            HOSTING.store(false, Ordering::Release);
        }
    }

    /// Runs `driver` (a runtime's executor for one pipeline) as a task of
    /// this library's runtime, if the runtime has started and runs no
    /// other pipeline; else hands it back. The task is exempt from tokio's
    /// cooperative budget: it runs many connectors' polls in one of its
    /// own, and the executor inside yields on its own.
    pub(crate) fn host_pipeline(driver: FfiFuture<()>) -> Option<FfiFuture<()>> {
        let Some(runtime) = RUNTIME.get() else {
            return Some(driver);
        };
        if HOSTING.swap(true, Ordering::AcqRel) {
            return Some(driver);
        }
        runtime.spawn(async move {
            let _hosting = Hosting;
            tokio::task::unconstrained(driver).await;
        });
        None
    }

    /// Runs `f` inside the runtime's context if the runtime has started:
    /// for drops, tasks and blocking jobs, which need no runtime if no
    /// connector ever started one.
    pub(crate) fn enter_if_started<R>(f: impl FnOnce() -> R) -> R {
        if let Some(runtime) = RUNTIME.get() {
            stay_entered(runtime);
        }
        f()
    }
}

#[cfg(feature = "tokio")]
pub(crate) use tokio_runtime::{enter, enter_if_started, host_pipeline, name};

/// Runs `f`; with the `tokio` feature and `uses_tokio`, inside this
/// library's runtime.
#[cfg(not(feature = "tokio"))]
#[inline]
pub(crate) fn enter<R>(_uses_tokio: bool, f: impl FnOnce() -> R) -> R {
    f()
}

/// Like [`enter`], without starting anything: for drops.
#[cfg(not(feature = "tokio"))]
#[inline]
pub(crate) fn enter_if_started<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Hands `driver` back: without the `tokio` feature there is no runtime
/// to run a pipeline on.
#[cfg(not(feature = "tokio"))]
#[inline]
pub(crate) fn host_pipeline(driver: async_ffi::FfiFuture<()>) -> Option<async_ffi::FfiFuture<()>> {
    Some(driver)
}

/// Names this library's runtime threads (nothing to name without the
/// `tokio` feature).
#[cfg(not(feature = "tokio"))]
#[inline]
pub(crate) fn name(_library: &'static str) {}

pin_project! {
    /// A future polled, and dropped, inside the ambient context if this
    /// library's runtime runs: for the tasks and blocking jobs a connector
    /// hands to the runtime.
    pub(crate) struct InContext<F> {
        #[pin]
        future: Option<F>,
    }

    impl<F> PinnedDrop for InContext<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut future = this.project().future;
            enter_if_started(|| future.set(None));
        }
    }
}

impl<F> InContext<F> {
    /// `future`, to be polled in the ambient context.
    pub(crate) fn new(future: F) -> Self {
        Self {
            future: Some(future),
        }
    }
}

impl<F: Future> Future for InContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut future = self.project().future;
        enter_if_started(|| {
            // Polled after it completed and was dropped: never ready again.
            let Some(inner) = future.as_mut().as_pin_mut() else {
                return Poll::Pending;
            };
            let polled = inner.poll(cx);
            if polled.is_ready() {
                future.set(None);
            }
            polled
        })
    }
}

/// A value dropped inside the ambient context: the author's connector,
/// whose fields may be tokio resources, or values of crates that spawn a
/// task when dropped (a pooled database connection, say).
pub(crate) struct DropsInContext<T>(ManuallyDrop<T>);

impl<T> DropsInContext<T> {
    /// `value`, to be dropped in the ambient context.
    pub(crate) fn new(value: T) -> Self {
        Self(ManuallyDrop::new(value))
    }
}

impl<T> Deref for DropsInContext<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for DropsInContext<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> Drop for DropsInContext<T> {
    fn drop(&mut self) {
        // SAFETY: the value is dropped exactly once, here, while `self` is
        // being dropped; nothing can use it afterwards.
        enter_if_started(|| unsafe { ManuallyDrop::drop(&mut self.0) });
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use async_ffi::FutureExt as _;

    use super::{enter, host_pipeline};

    #[test]
    fn one_pipeline_at_a_time_runs_on_the_runtime_once_it_has_started() {
        enter(true, || {});
        let (ran_on, thread) = mpsc::channel();
        let (finish, finished) = mpsc::channel::<()>();
        let first = async move {
            ran_on
                .send(std::thread::current().name().map(str::to_owned))
                .unwrap();
            // Holds the runtime's place until the test lets it end.
            tokio::task::spawn_blocking(move || finished.recv())
                .await
                .unwrap()
                .unwrap();
        };
        assert!(host_pipeline(first.into_ffi()).is_none(), "taken");
        let name = thread.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(name.is_some_and(|n| n.starts_with("tokio:")));
        assert!(
            host_pipeline(async {}.into_ffi()).is_some(),
            "a second pipeline while the first runs: handed back"
        );
        finish.send(()).unwrap();
        let started = std::time::Instant::now();
        loop {
            let (ran_on, ran) = mpsc::channel();
            let next = async move { ran_on.send(()).unwrap() };
            if host_pipeline(next.into_ffi()).is_none() {
                ran.recv_timeout(Duration::from_secs(10)).unwrap();
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the place was never given back"
            );
            std::thread::yield_now();
        }
    }
}
