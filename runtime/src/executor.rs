//! The one place that names the executors, all built from smol's parts
//! (async-std, on which the runtime used to run, is discontinued:
//! RUSTSEC-2025-0052). A small shared pool ([`Pool`]) runs the runtime's
//! own tasks and the tasks plugins spawn outside any pipeline; each
//! pipeline of connectors has an executor of its own ([`Pipeline`]),
//! which also runs the tasks its connectors spawn; blocking jobs run on
//! `blocking`'s thread pool; timers are `async-io`'s. Everything else in
//! the runtime, and every plugin through the host services, goes through
//! this module, so moving to other executors changes only this file.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_executor::Executor;
use futures::future::join_all;

/// A handle to a spawned task: awaiting it yields the task's output;
/// dropping it cancels the task unless it was detached
/// ([`async_executor::Task::detach`]).
pub type JoinHandle<T> = async_executor::Task<T>;

/// An executor for tasks that stay on the thread that runs it (`serve`
/// runs its flows' ends on one).
pub type Local = async_executor::LocalExecutor<'static>;

/// Runs `future` to completion on the current thread, driving the
/// timers meanwhile.
pub fn block_on<F: Future>(future: F) -> F::Output {
    async_io::block_on(future)
}

/// Runs `job`, which may block, on the pool of threads for blocking
/// work; the handle yields its output (detach it to let the job run on
/// unobserved).
pub fn spawn_blocking<F, T>(job: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    blocking::unblock(job)
}

/// Completes after `duration`, on the timer of `async-io`.
pub async fn sleep(duration: Duration) {
    async_io::Timer::after(duration).await;
}

/// The shared pool: as many threads as the machine has cores (at least
/// two), started on first use, for tasks that belong to no pipeline.
#[must_use]
pub fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        Pool::start("pdk-tasks", threads)
    })
}

/// An executor run by a fixed set of threads of its own, for as long as
/// the process lives; threads can be lent to it while a task blocks one.
#[derive(Debug, Clone)]
pub struct Pool {
    runner: Runner,
}

impl Pool {
    /// Starts `threads` threads named `name`. A thread that cannot be
    /// started is logged; the pool runs on the others (or on lent ones).
    fn start(name: &str, threads: usize) -> Self {
        let runner = Runner::new(name);
        for _ in 0..threads {
            let executor = Arc::clone(&runner.executor);
            let started = std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || async_io::block_on(executor.run(std::future::pending::<()>())));
            if let Err(error) = started {
                log::warn!("cannot start a thread of the {name} pool ({error})");
            }
        }
        Self { runner }
    }

    /// Where the pool's tasks run.
    #[must_use]
    pub fn runner(&self) -> &Runner {
        &self.runner
    }
}

/// An executor and a way to lend it threads: what a task is spawned on,
/// and what the watchdog lends a thread to when a poll blocks one.
#[derive(Debug, Clone)]
pub struct Runner {
    executor: Arc<Executor<'static>>,
    name: Arc<str>,
}

impl Runner {
    fn new(name: &str) -> Self {
        Self {
            executor: Arc::new(Executor::new()),
            name: Arc::from(name),
        }
    }

    /// Runs `future` in the background on this executor.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.executor.spawn(future)
    }

    /// Lends this executor one more thread, for as long as the returned
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

/// An executor of its own for the connectors of one pipeline (connectors
/// linked to each other) and the tasks they spawn: they run on one
/// thread, so that handing an event from one to the next wakes no other
/// thread, and a payload is freed on the thread that allocated it. A
/// thread can be lent to it while one of its connectors blocks the usual
/// one.
#[derive(Debug, Clone)]
pub struct Pipeline {
    runner: Runner,
}

impl Pipeline {
    /// A pipeline whose threads are named `name`.
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self {
            runner: Runner::new(name),
        }
    }

    /// Where the pipeline's tasks run.
    #[must_use]
    pub fn runner(&self) -> &Runner {
        &self.runner
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
        let executor = Arc::clone(&self.runner.executor);
        std::thread::Builder::new()
            .name(self.runner.name.to_string())
            .spawn(move || {
                let handles: Vec<_> = tasks.into_iter().map(|task| executor.spawn(task)).collect();
                let outputs = async_io::block_on(executor.run(join_all(handles)));
                // `run` may have stopped waiting (the drain ran out).
                let _ = done_tx.send_blocking(outputs);
            })?;
        Ok(async move { done.recv().await.ok() })
    }
}

/// A thread lent to a [`Runner`]; dropping it gives the thread back
/// (it ends once it finishes the task it is running).
#[derive(Debug)]
pub struct LentThread {
    _give_back: async_channel::Sender<()>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lent_thread_runs_the_other_tasks_while_one_blocks_a_thread() {
        let runner = Runner::new("test-runner");
        let _first = runner.lend_thread().unwrap();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let blocked =
            runner.spawn(async move { released.recv_timeout(Duration::from_secs(10)).is_ok() });
        let _second = runner.lend_thread().unwrap();
        // Answered while one of the two threads is blocked: with one
        // thread it would wait for the blocked task to time out.
        assert_eq!(block_on(runner.spawn(async { 7 })), 7);
        release.send(()).unwrap();
        assert!(
            block_on(blocked),
            "the blocked task was released, not timed out"
        );
    }

    #[test]
    fn blocking_jobs_and_timers_need_no_executor_thread() {
        let started = std::time::Instant::now();
        block_on(sleep(Duration::from_millis(20)));
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(block_on(spawn_blocking(|| 6 * 7)), 42);
    }
}
