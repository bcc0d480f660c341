//! The watchdog: names a connector whose single call blocks its thread,
//! or a task a connector spawned that does, and keeps everything else
//! running meanwhile.
//!
//! Every call the runtime makes into a connector goes through its
//! [`Caller`], and every task a connector spawns is polled through
//! [`watched_task`]: each marks its [`Activity`] busy for the length of
//! each poll. A thread (`pdk-watchdog`) looks at every activity ten times
//! a second; a poll that has lasted [`BLOCKED_AFTER`] is blocking an
//! executor thread. The watchdog then logs one line naming the connector
//! and the method (or the task), and lends the executor the poll runs on
//! (the connector's pipeline, or the shared pool) one more thread for as
//! long as that poll lasts, so that the other connectors and tasks keep
//! running however many of them block. When the poll returns, it logs
//! how long it blocked and the thread is given back.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::executor::{LentThread, Runner};
use crate::logging::Tag;
use crate::observe::State;

/// How often the watchdog looks.
const TICK: Duration = Duration::from_millis(100);

/// How long one poll may last before it counts as blocking its thread.
pub const BLOCKED_AFTER: Duration = Duration::from_millis(500);

/// Ticks since the watchdog started: a clock that costs one relaxed load
/// to read.
static TICKS: AtomicU64 = AtomicU64::new(1);

/// Every activity, for the watchdog.
static WATCHED: Mutex<Watched> = Mutex::new(Watched {
    activities: Vec::new(),
    sweep_at: 64,
});

/// The activities the watchdog looks at.
struct Watched {
    activities: Vec<Weak<Activity>>,
    /// Activities that ended are swept out once the list grows beyond
    /// this.
    sweep_at: usize,
}

/// Whose activity it is.
#[derive(Debug)]
enum Subject {
    /// A connector's calls.
    Connector,
    /// A task a connector spawned, numbered for the log.
    Task(u64),
}

/// What one connector, or one task it spawned, is doing, as the watchdog
/// and the runtime's status see it.
#[derive(Debug)]
pub struct Activity {
    /// The connector's id in the flow.
    id: String,
    /// A connector or one of its tasks.
    subject: Subject,
    /// Its log tag, for the watchdog's lines.
    tag: Tag,
    /// The tick its current poll started at, or 0 between polls.
    busy_since: AtomicU64,
    /// The method being called.
    method: Mutex<&'static str>,
    /// The `busy_since` of the poll the watchdog reported as blocking
    /// (0: none); written by the watchdog only.
    reported: AtomicU64,
    /// Whether the connector's task has ended.
    finished: AtomicBool,
    /// Where the connector stands (a [`State`]'s code).
    state: AtomicU8,
    /// Since when.
    state_since: Mutex<Instant>,
    /// Its last failure, for the status.
    last_error: Mutex<Option<String>>,
    /// Events its sink deferred and has not answered.
    deferred: AtomicUsize,
    /// Events of its source not answered yet.
    in_flight: AtomicUsize,
    /// The executor it runs on, once it is known.
    runner: OnceLock<Runner>,
    /// The thread lent to its executor while it blocks one.
    lent: Mutex<Option<LentThread>>,
}

impl Activity {
    fn new(id: &str, subject: Subject, tag: Tag) -> Arc<Self> {
        let activity = Arc::new(Self {
            id: id.to_owned(),
            subject,
            tag,
            busy_since: AtomicU64::new(0),
            method: Mutex::new(""),
            reported: AtomicU64::new(0),
            finished: AtomicBool::new(false),
            state: AtomicU8::new(State::Connecting.code()),
            state_since: Mutex::new(Instant::now()),
            last_error: Mutex::new(None),
            deferred: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            runner: OnceLock::new(),
            lent: Mutex::new(None),
        });
        watch(&activity);
        activity
    }

    /// What the connector is doing, in words, for the drain's report.
    #[must_use]
    pub fn describe(&self) -> String {
        let since = self.busy_since.load(Ordering::Relaxed);
        let doing = if since != 0 && elapsed(since) >= BLOCKED_AFTER {
            format!(
                "blocked in `{}` for {:.1} s",
                self.method(),
                elapsed(since).as_secs_f64()
            )
        } else if since != 0 {
            format!("in `{}`", self.method())
        } else {
            match self.state() {
                State::Connecting => String::from("connecting"),
                State::Reconnecting => String::from("waiting to reconnect"),
                State::Running
                | State::Paused
                | State::Draining
                | State::Failed
                | State::Stopped => {
                    let deferred = self.deferred.load(Ordering::Relaxed);
                    let in_flight = self.in_flight.load(Ordering::Relaxed);
                    match (deferred, in_flight) {
                        (0, 0) => String::from("draining, in no call"),
                        (0, n) => format!("waiting for the sinks to answer {n} of its events"),
                        (n, _) => format!("waiting for its answers to {n} deferred events"),
                    }
                }
            }
        };
        format!("connector `{}` ({doing})", self.id)
    }

    /// Whether the connector is blocked in a call right now.
    #[must_use]
    pub fn is_blocked(&self) -> bool {
        let since = self.busy_since.load(Ordering::Relaxed);
        since != 0 && elapsed(since) >= BLOCKED_AFTER
    }

    /// Whether the connector's task has ended.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Records that the connector's task has ended.
    pub fn finish(&self) {
        self.finished.store(true, Ordering::Release);
    }

    /// Where the connector stands.
    #[must_use]
    pub fn state(&self) -> State {
        State::from_code(self.state.load(Ordering::Relaxed))
    }

    /// Since when it stands there.
    #[must_use]
    pub fn state_since(&self) -> Instant {
        *self
            .state_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records where the connector stands.
    pub fn set_state(&self, state: State) {
        if self.state.swap(state.code(), Ordering::Relaxed) != state.code() {
            *self
                .state_since
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        }
    }

    /// Its last failure, if it failed.
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records a failure of the connector.
    pub fn set_last_error(&self, error: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }

    /// Records how many events the connector holds: deferred by its sink,
    /// and sent by its source but not answered.
    pub fn set_holding(&self, deferred: usize, in_flight: usize) {
        self.deferred.store(deferred, Ordering::Relaxed);
        self.in_flight.store(in_flight, Ordering::Relaxed);
    }

    /// Records that the connector (and the tasks it spawns from now on)
    /// runs on `runner`.
    pub fn runs_on(&self, runner: &Runner) {
        // Set once, when the flow starts; a second call changes nothing.
        let _ = self.runner.set(runner.clone());
        self.tag.runs_on(runner);
    }

    /// Lends the executor a thread while this activity blocks one;
    /// returns whether it could.
    fn lend_thread(&self) -> bool {
        let lent = self.runner.get().and_then(|runner| {
            runner
                .lend_thread()
                .inspect_err(|error| log::warn!("cannot start a thread to lend ({error})"))
                .ok()
        });
        let could = lent.is_some();
        *self.lent.lock().unwrap_or_else(PoisonError::into_inner) = lent;
        could
    }

    /// Gives back the thread lent while the activity blocked.
    fn give_back_thread(&self) {
        self.lent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    fn method(&self) -> &'static str {
        *self.method.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What blocks, for the watchdog's lines.
    fn culprit(&self) -> String {
        match self.subject {
            Subject::Connector => format!("connector `{}`: `{}`", self.id, self.method()),
            Subject::Task(number) => format!(
                "connector `{}`: task {number} it spawned (with `pdk::task::spawn`)",
                self.id
            ),
        }
    }

    /// Runs `future` with this activity marked busy for each of its
    /// polls, and `tag` marking the thread.
    async fn poll_marked<F: Future>(&self, tag: &Tag, future: F) -> F::Output {
        let mut future = pin!(future);
        let busy = &self.busy_since;
        poll_fn(|cx| {
            busy.store(TICKS.load(Ordering::Relaxed), Ordering::Relaxed);
            let polled = tag.scope(|| future.as_mut().poll(cx));
            busy.store(0, Ordering::Relaxed);
            polled
        })
        .await
    }
}

/// How long since tick `since`.
fn elapsed(since: u64) -> Duration {
    let ticks = TICKS.load(Ordering::Relaxed).saturating_sub(since);
    TICK * u32::try_from(ticks).unwrap_or(u32::MAX)
}

/// Makes a connector's calls: tags their log records and shows the
/// watchdog when one blocks.
#[derive(Debug, Clone)]
pub struct Caller {
    tag: Tag,
    activity: Arc<Activity>,
}

impl Caller {
    /// The caller of connector `id`, tagged `tag`, watched from now on.
    #[must_use]
    pub fn new(id: &str, tag: Tag) -> Self {
        let activity = Activity::new(id, Subject::Connector, tag.clone());
        Self { tag, activity }
    }

    /// The connector's log tag.
    #[must_use]
    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    /// The connector's activity.
    #[must_use]
    pub fn activity(&self) -> Arc<Activity> {
        Arc::clone(&self.activity)
    }

    /// Runs `future`, the call of connector method `method`, with the
    /// connector's tag marking each poll and the watchdog watching it.
    pub async fn call<F: Future>(&self, method: &'static str, future: F) -> F::Output {
        *self
            .activity
            .method
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = method;
        self.activity.poll_marked(&self.tag, future).await
    }
}

/// `future`, a task connector `tag` spawned to run on `runner`, polled
/// with the connector's tag and watched: if one of its polls blocks its
/// thread, the watchdog names it and lends `runner` a thread meanwhile.
pub fn watched_task<F: Future>(
    tag: Tag,
    runner: &Runner,
    future: F,
) -> impl Future<Output = F::Output> {
    static NUMBER: AtomicU64 = AtomicU64::new(1);
    let number = NUMBER.fetch_add(1, Ordering::Relaxed);
    let activity = Activity::new(tag.connector(), Subject::Task(number), tag.clone());
    let _ = activity.runner.set(runner.clone());
    async move {
        let output = activity.poll_marked(&tag, future).await;
        activity.finish();
        output
    }
}

/// Adds `activity` to what the watchdog watches, starting the watchdog
/// on first use.
fn watch(activity: &Arc<Activity>) {
    static STARTED: OnceLock<()> = OnceLock::new();
    let mut watched = WATCHED.lock().unwrap_or_else(PoisonError::into_inner);
    if watched.activities.len() >= watched.sweep_at {
        watched.activities.retain(|weak| weak.strong_count() > 0);
        watched.sweep_at = (watched.activities.len() * 2).max(64);
    }
    watched.activities.push(Arc::downgrade(activity));
    drop(watched);
    STARTED.get_or_init(|| {
        let started = std::thread::Builder::new()
            .name(String::from("pdk-watchdog"))
            .spawn(|| loop {
                std::thread::sleep(TICK);
                TICKS.fetch_add(1, Ordering::Relaxed);
                look();
            });
        if let Err(error) = started {
            log::warn!("cannot start the watchdog thread ({error}); a connector that blocks its thread will not be named");
        }
    });
}

/// One look at every activity.
fn look() {
    let activities: Vec<Arc<Activity>> = WATCHED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .activities
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for activity in activities {
        let since = activity.busy_since.load(Ordering::Relaxed);
        let reported = activity.reported.load(Ordering::Relaxed);
        if reported != 0 && since != reported {
            activity.reported.store(0, Ordering::Relaxed);
            activity.give_back_thread();
            activity.tag.scope(|| {
                log::info!(
                    "{} returned after blocking its thread for {:.1} s",
                    activity.culprit(),
                    elapsed(reported).as_secs_f64()
                );
            });
        } else if since != 0 && reported == 0 && elapsed(since) >= BLOCKED_AFTER {
            activity.reported.store(since, Ordering::Relaxed);
            activity.tag.watchdog_reported();
            let meanwhile = match (activity.lend_thread(), &activity.subject) {
                (true, Subject::Connector) => {
                    "the runtime lends its pipeline another thread meanwhile"
                }
                (true, Subject::Task(_)) => {
                    "the runtime lends the executor it runs on another thread meanwhile"
                }
                (false, _) => {
                    "no thread could be lent; the connectors and tasks sharing its thread may wait"
                }
            };
            activity.tag.scope(|| {
                log::warn!(
                    "{} has blocked its thread for {:.1} s ({meanwhile}); \
                     fix: await instead of blocking, or run the blocking code with \
                     `pdk::task::spawn_blocking`",
                    activity.culprit(),
                    elapsed(since).as_secs_f64()
                );
            });
        }
    }
}
