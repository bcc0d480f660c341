//! The one place that names the executors: async-std's pool runs the
//! runtime's own tasks and the tasks plugins spawn, and each pipeline of
//! connectors has an executor of its own ([`Pipeline`]). Everything else
//! in the runtime, and every plugin through the host services, goes
//! through this module, so moving to other executors changes only this
//! file.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;

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

/// An executor of its own for the connectors of one pipeline (connectors
/// linked to each other): they run on one thread, so that handing an
/// event from one to the next wakes no other thread, and a payload is
/// freed on the thread that allocated it. A thread can be lent to it
/// while one of its connectors blocks the usual one.
#[derive(Debug, Clone)]
pub struct Pipeline {
    executor: Arc<async_executor::Executor<'static>>,
    name: Arc<str>,
}

impl Pipeline {
    /// A pipeline whose threads are named `name`.
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self {
            executor: Arc::new(async_executor::Executor::new()),
            name: Arc::from(name),
        }
    }

    /// Runs `tasks` on a new thread of this pipeline; the returned future
    /// completes with their outputs, in order, once all have ended, or
    /// with `None` if the thread died without them.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn run<F>(
        &self,
        tasks: Vec<F>,
    ) -> std::io::Result<impl Future<Output = Option<Vec<F::Output>>> + use<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (done_tx, done) = async_channel::bounded(1);
        let executor = Arc::clone(&self.executor);
        std::thread::Builder::new()
            .name(self.name.to_string())
            .spawn(move || {
                let handles: Vec<_> = tasks.into_iter().map(|task| executor.spawn(task)).collect();
                let outputs = async_io::block_on(executor.run(join_all(handles)));
                // `run` may have stopped waiting (the drain ran out).
                let _ = done_tx.send_blocking(outputs);
            })?;
        Ok(async move { done.recv().await.ok() })
    }

    /// Lends this pipeline one more thread, for as long as the returned
    /// [`LentThread`] lives.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn lend_thread(&self) -> std::io::Result<LentThread> {
        let (give_back, given_back) = async_channel::bounded::<()>(1);
        let executor = Arc::clone(&self.executor);
        std::thread::Builder::new()
            .name(format!("{} (lent)", self.name))
            .spawn(move || {
                // Ends when the `LentThread` is dropped, closing the channel.
                let _ = async_io::block_on(executor.run(given_back.recv()));
            })?;
        Ok(LentThread {
            _give_back: give_back,
        })
    }
}

/// A thread lent to a [`Pipeline`]; dropping it gives the thread back
/// (it ends once it finishes the task it is running).
#[derive(Debug)]
pub struct LentThread {
    _give_back: async_channel::Sender<()>,
}
