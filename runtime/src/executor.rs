//! The one place that names the executors, all built from smol's parts
//! (async-std, on which the runtime used to run, is discontinued:
//! RUSTSEC-2025-0052). A fixed set of worker threads, one per core, runs
//! everything else: each worker's own executor runs the pipelines placed
//! on it (the connectors linked to each other, and the tasks they spawn:
//! [`Pipeline`]), and all run the shared pool ([`Pool`]: the runtime's own
//! tasks and those plugins spawn outside any pipeline). A pipeline with a
//! connector on tokio runs instead on its plugin's tokio thread, when the
//! plugin takes it ([`Host`]). Blocking jobs run on `blocking`'s thread
//! pool; timers are `async-io`'s. Everything else in
//! the runtime, and every plugin through the host services, goes through
//! this module, so moving to other executors changes only this file.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::Duration;

use async_executor::Executor;
use async_ffi::FfiFuture;
use futures::future::{join_all, Either, FutureExt};

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
    /// The executor whose task runs this one (a pipeline's worker), which
    /// a blocked poll blocks too.
    driven_by: Option<Arc<Executor<'static>>>,
    name: Arc<str>,
}

impl Runner {
    fn new(name: &str) -> Self {
        Self {
            executor: Arc::new(Executor::new()),
            driven_by: None,
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
        let driven_by = self.driven_by.clone();
        std::thread::Builder::new()
            .name(format!("{} (lent)", self.name))
            .spawn(move || {
                // Ends when the `LentThread` is dropped, closing the channel.
                // It also runs what shares the blocked thread.
                let _ = async_io::block_on(executor.run(async {
                    match driven_by {
                        Some(driver) => driver.run(given_back.recv()).await,
                        None => given_back.recv().await,
                    }
                }));
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

/// Something that may run a pipeline's driver (the future that runs its
/// executor) on a thread of its own choosing, handing it back if it
/// declines: a plugin's `host_pipeline`, which runs it on the thread that
/// drives the plugin's tokio runtime.
pub type Host = Box<dyn FnOnce(FfiFuture<()>) -> Option<FfiFuture<()>> + Send>;

/// Where the connectors of one pipeline (connectors linked to each
/// other) and the tasks they spawn run: an executor of their own, run on
/// one thread, so that handing an event from one to the next wakes no
/// other thread, and a payload is freed on the thread that allocated it.
/// That executor runs as a task of a worker thread, the least busy one,
/// shared with other pipelines (each runs a stretch of its own tasks
/// before the next pipeline's turn, with its data still in the cache);
/// or, for a pipeline with connectors on tokio, on the thread that
/// drives that plugin's sockets, so that a request and its answer cross
/// no thread. A thread can be lent to it while one of its connectors
/// blocks the usual one.
pub struct Pipeline {
    runner: Runner,
    /// Offered to run the pipeline, in turn.
    hosts: Vec<Host>,
    /// The worker that runs it if no host takes it, and its count.
    worker: (Runner, Arc<AtomicUsize>),
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("runner", &self.runner)
            .field("hosts", &self.hosts.len())
            .field("worker", &self.worker.0)
            .finish()
    }
}

/// A pipeline's share of its worker's count, given back when dropped.
#[derive(Debug)]
struct Placed(Arc<AtomicUsize>);

impl Placed {
    /// Counts one more pipeline on the worker whose count is `count`.
    fn on(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(count))
    }
}

impl Drop for Placed {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The worker with the fewest pipelines, and its count.
fn least_busy_worker() -> std::io::Result<(Runner, Arc<AtomicUsize>)> {
    workers()
        .lanes
        .iter()
        .min_by_key(|(_, count)| count.load(Ordering::Relaxed))
        .map(|(runner, count)| (runner.clone(), Arc::clone(count)))
        .ok_or_else(|| std::io::Error::other("no worker thread could be started"))
}

impl Pipeline {
    /// A pipeline offered to each of `hosts` in turn when it runs, and run
    /// by the worker with the fewest pipelines if none takes it.
    ///
    /// # Errors
    /// No worker thread could be started.
    pub fn place(hosts: Vec<Host>) -> std::io::Result<Self> {
        let (worker, count) = least_busy_worker()?;
        let runner = Runner {
            driven_by: Some(Arc::clone(&worker.executor)),
            ..Runner::new(&worker.name)
        };
        Ok(Self {
            runner,
            hosts,
            worker: (worker, count),
        })
    }

    /// Where the pipeline's tasks run.
    #[must_use]
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// Runs `tasks` on this pipeline's thread; the returned future
    /// completes with their outputs, in order, once all have ended, or
    /// with `None` if one of them panicked. They run on even if the
    /// future is dropped.
    pub fn run<F>(self, tasks: Vec<F>) -> impl Future<Output = Option<Vec<F::Output>>> + use<F>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let Self {
            runner,
            hosts,
            worker: (worker, count),
        } = self;
        let handles: Vec<_> = tasks
            .into_iter()
            .map(|task| runner.spawn(AssertUnwindSafe(task).catch_unwind()))
            .collect();
        let (done_tx, done) = async_channel::bounded(1);
        let executor = Arc::clone(&runner.executor);
        // Set before the driver's first poll: shorter turns on a host.
        let turn = Arc::new(AtomicUsize::new(POLLS_PER_TURN_HOSTED));
        let driver_turn = Arc::clone(&turn);
        let mut driver = FfiFuture::new(async move {
            let outputs: Option<Vec<F::Output>> = drive(&executor, &driver_turn, join_all(handles))
                .await
                .into_iter()
                .map(Result::ok)
                .collect();
            // `run`'s caller may have stopped waiting (the drain ran out).
            let _ = done_tx.send(outputs).await;
        });
        for host in hosts {
            match host(driver) {
                None => return done_recv(done),
                Some(declined) => driver = declined,
            }
        }
        turn.store(POLLS_PER_TURN_ON_WORKER, Ordering::Relaxed);
        let placed = Placed::on(&count);
        worker
            .spawn(async move {
                driver.await;
                drop(placed);
            })
            .detach();
        done_recv(done)
    }
}

/// Task polls a pipeline's executor runs on a worker before the worker's
/// other pipelines have a turn (async-executor's own figure): long turns
/// keep a pipeline's events in the cache between its source and its
/// sinks (64 pipelines: 410 000 events/s with 200, 348 000 with 32).
const POLLS_PER_TURN_ON_WORKER: usize = 200;

/// Task polls a pipeline's executor runs on a host's thread before the
/// host's sockets have a turn: tokio looks at them only between its own
/// tasks' polls, and with turns of 200 a busy pipeline found its sockets
/// ready late (`blaster -> tcp_client -> tcp_server -> blackhole`: 45 000
/// events/s, 130 000 with 32).
const POLLS_PER_TURN_HOSTED: usize = 32;

/// Runs `executor`'s tasks until `until` completes, in turns of `turn`
/// polls.
async fn drive<T>(
    executor: &Executor<'static>,
    turn: &AtomicUsize,
    until: impl Future<Output = T>,
) -> T {
    let until = pin!(until);
    let turns = pin!(async {
        loop {
            for _ in 0..turn.load(Ordering::Relaxed) {
                executor.tick().await;
            }
            yield_turn().await;
        }
    });
    match futures::future::select(until, turns).await {
        Either::Left((output, _)) => output,
        Either::Right(((), until)) => until.await,
    }
}

/// Lets the thread's other work have a turn: pending once, asking to be
/// polled again.
async fn yield_turn() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// The outputs a pipeline's tasks send on `done` (`None` if they never
/// come).
async fn done_recv<T>(done: async_channel::Receiver<Option<T>>) -> Option<T> {
    done.recv().await.ok().flatten()
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

    /// The names of the threads `tasks` tasks of a pipeline on `hosts` ran on.
    fn threads_of_tasks(hosts: Vec<Host>, tasks: usize) -> Vec<String> {
        let pipeline = Pipeline::place(hosts).unwrap();
        let tasks = (0..tasks)
            .map(|_| async { std::thread::current().name().unwrap_or("").to_owned() })
            .collect();
        block_on(pipeline.run(tasks)).unwrap()
    }

    #[test]
    fn a_host_that_takes_the_pipeline_runs_all_its_tasks_on_its_thread() {
        let host: Host = Box::new(|driver| {
            std::thread::Builder::new()
                .name(String::from("the-host"))
                .spawn(move || block_on(driver))
                .unwrap();
            None
        });
        assert_eq!(threads_of_tasks(vec![host], 3), vec!["the-host"; 3]);
    }

    #[test]
    fn a_pipeline_no_host_takes_runs_on_a_worker() {
        let declines: Host = Box::new(Some);
        let threads = threads_of_tasks(vec![declines], 3);
        assert!(threads[0].starts_with("pdk-worker-"), "{threads:?}");
        assert!(
            threads.iter().all(|t| *t == threads[0]),
            "one thread: {threads:?}"
        );
        let threads = threads_of_tasks(Vec::new(), 2);
        assert!(threads[0].starts_with("pdk-worker-"), "{threads:?}");
        assert!(
            threads.iter().all(|t| *t == threads[0]),
            "one thread: {threads:?}"
        );
    }

    #[test]
    fn a_task_that_panics_ends_its_pipeline_and_not_the_workers() {
        let pipeline = Pipeline::place(Vec::new()).unwrap();
        let tasks: Vec<std::pin::Pin<Box<dyn Future<Output = u8> + Send>>> =
            vec![Box::pin(async { 1 }), Box::pin(async { panic!("a bug") })];
        assert_eq!(block_on(pipeline.run(tasks)), None);
        let next = Pipeline::place(Vec::new()).unwrap();
        assert_eq!(block_on(next.run(vec![async { 7 }])), Some(vec![7]));
    }
}
