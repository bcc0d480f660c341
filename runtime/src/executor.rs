//! The one place that names the executor (async-std, on
//! async-global-executor's thread pool). Everything else in the runtime,
//! and every plugin through the host services, goes through these
//! functions, so moving to another executor changes only this file.

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

/// How many threads the executor may lend, beyond its usual ones, to
/// stand in for threads that connectors block.
const MAX_LENT_THREADS: usize = 64;

/// Sets up the executor's thread pool: as many threads as
/// `ASYNC_STD_THREAD_COUNT` says (default: one per CPU), and room for
/// [`MAX_LENT_THREADS`] more. Call it before anything else uses the
/// executor; later calls, or calls after that, change nothing.
pub fn init() {
    let usual = std::env::var("ASYNC_STD_THREAD_COUNT")
        .ok()
        .and_then(|count| count.parse::<usize>().ok())
        .filter(|&count| count > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    async_global_executor::init_with_config(
        async_global_executor::GlobalExecutorConfig::default()
            .with_min_threads(usual)
            .with_max_threads(usual + MAX_LENT_THREADS)
            .with_thread_name_fn(|| String::from("async-std/runtime")),
    );
}

/// Adds one thread to the executor's pool, if it has room; returns
/// whether it did.
pub fn add_thread() -> bool {
    async_global_executor::block_on(async_global_executor::spawn_more_threads(1))
        .is_ok_and(|added| added == 1)
}

/// Takes one thread out of the executor's pool (one added by
/// [`add_thread`]; the pool never shrinks below its usual size).
pub fn remove_thread() {
    async_global_executor::stop_thread().detach();
}
