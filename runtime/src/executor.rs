//! The one place that names the executors, all built from smol's parts
//! (async-std, on which the runtime used to run, is discontinued:
//! RUSTSEC-2025-0052). A small shared pool ([`Pool`]) runs the runtime's
//! own tasks and the tasks plugins spawn outside any pipeline; each
//! pipeline of connectors is placed on one of a fixed set of worker
//! threads, one per core, whose executor also runs the tasks its
//! connectors spawn ([`Pipeline`]); blocking jobs run on
//! `blocking`'s thread pool; timers are `async-io`'s. Everything else in
//! the runtime, and every plugin through the host services, goes through
//! this module, so moving to other executors changes only this file.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_executor::Executor;
use futures::future::{join_all, FutureExt};

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

/// The shared pool, for tasks that belong to no pipeline: an executor
/// run by every worker thread (see [`Workers`]), started on first use.
#[must_use]
pub fn pool() -> &'static Pool {
    &workers().pool
}

/// An executor shared by the worker threads; threads can be lent to it
/// while a task blocks one.
#[derive(Debug, Clone)]
pub struct Pool {
    runner: Runner,
}

impl Pool {
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

/// The threads that run every pipeline and the shared pool: one per core
/// (at least two), started together on first use, whatever the number of
/// flows and pipelines. Each has an executor of its own for the pipelines
/// placed on it, and runs the pool's tasks between theirs.
struct Workers {
    pool: Pool,
    /// Each worker's executor, with the number of pipelines placed on it.
    lanes: Vec<(Runner, Arc<AtomicUsize>)>,
}

/// The worker threads, started on first use.
fn workers() -> &'static Workers {
    static WORKERS: OnceLock<Workers> = OnceLock::new();
    WORKERS.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        Workers::start(threads)
    })
}

impl Workers {
    /// Starts `threads` workers. A thread that cannot be started is
    /// logged, and takes no pipeline.
    fn start(threads: usize) -> Self {
        let pool = Pool {
            runner: Runner::new("pdk-tasks"),
        };
        let mut lanes = Vec::new();
        for number in 0..threads {
            let name = format!("pdk-worker-{number}");
            let lane = Runner::new(&name);
            let (own, shared) = (
                Arc::clone(&lane.executor),
                Arc::clone(&pool.runner.executor),
            );
            let thread = name.clone();
            let started = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || Self::work(&thread, &own, &shared));
            match started {
                Ok(_) => lanes.push((lane, Arc::new(AtomicUsize::new(0)))),
                Err(error) => log::warn!("cannot start the thread {name} ({error})"),
            }
        }
        Self { pool, lanes }
    }

    /// A worker's life: its own executor's tasks, and the pool's between
    /// them. A task that panics (a bug of the runtime: connector code is
    /// contained) is logged, and the worker goes on with the others.
    fn work(name: &str, own: &Executor<'static>, shared: &Executor<'static>) {
        loop {
            let serve = AssertUnwindSafe(|| {
                async_io::block_on(own.run(shared.run(std::future::pending::<()>())));
            });
            if std::panic::catch_unwind(serve).is_err() {
                log::error!(
                    "a task on {name} panicked; this is a bug in pdk-runtime, please report it \
                     with the log"
                );
            }
        }
    }
}

/// A place on a worker thread for the connectors of one pipeline
/// (connectors linked to each other) and the tasks they spawn: they run
/// on one thread, so that handing an event from one to the next wakes no
/// other thread, and a payload is freed on the thread that allocated it.
/// Pipelines share the workers, the least busy one taking the next; a
/// thread can be lent to a worker's executor while one of its
/// connectors blocks the worker.
#[derive(Debug)]
pub struct Pipeline {
    runner: Runner,
    /// The count of pipelines on its worker, which this one is part of
    /// until it ends.
    placed: Placed,
}

/// A pipeline's share of its worker's count, given back when dropped.
#[derive(Debug)]
struct Placed(Arc<AtomicUsize>);

impl Drop for Placed {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Pipeline {
    /// A pipeline on the worker with the fewest pipelines.
    ///
    /// # Errors
    /// No worker thread could be started.
    pub fn place() -> std::io::Result<Self> {
        let (runner, count) = workers()
            .lanes
            .iter()
            .min_by_key(|(_, count)| count.load(Ordering::Relaxed))
            .ok_or_else(|| std::io::Error::other("no worker thread could be started"))?;
        count.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            runner: runner.clone(),
            placed: Placed(Arc::clone(count)),
        })
    }

    /// Where the pipeline's tasks run.
    #[must_use]
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// Runs `tasks` on this pipeline's worker; the returned future
    /// completes with their outputs, in order, once all have ended, or
    /// with `None` if one of them panicked. They run on even if the
    /// future is dropped.
    pub fn run<F>(self, tasks: Vec<F>) -> impl Future<Output = Option<Vec<F::Output>>> + use<F>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let Self { runner, placed } = self;
        let handles: Vec<_> = tasks
            .into_iter()
            .map(|task| runner.spawn(AssertUnwindSafe(task).catch_unwind()))
            .collect();
        let (done_tx, done) = async_channel::bounded(1);
        runner
            .spawn(async move {
                let outputs: Option<Vec<F::Output>> = join_all(handles)
                    .await
                    .into_iter()
                    .map(Result::ok)
                    .collect();
                drop(placed);
                // `run`'s caller may have stopped waiting (the drain ran out).
                let _ = done_tx.send(outputs).await;
            })
            .detach();
        async move { done.recv().await.ok().flatten() }
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
