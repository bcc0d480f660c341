//! The one place that names the executor (async-std). Everything else in
//! the runtime, and every plugin through the host services, goes through
//! these functions, so moving to another executor changes only this file.

use std::future::Future;
use std::time::Duration;

/// A handle to a spawned task; awaiting it yields the task's output.
pub type JoinHandle<T> = async_std::task::JoinHandle<T>;

/// Runs `future` to completion on the current thread, driving the
/// executor meanwhile.
pub fn block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}

/// Runs `future` in the background on the executor.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    async_std::task::spawn(future)
}

/// Runs `job`, which may block, on the executor's pool of threads for
/// blocking work; the handle yields its output.
pub fn spawn_blocking<F, T>(job: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    async_std::task::spawn_blocking(job)
}

/// Completes after `duration`, on the executor's timer.
pub async fn sleep(duration: Duration) {
    async_std::task::sleep(duration).await;
}
