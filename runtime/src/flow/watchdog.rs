//! The watchdog: names a connector whose single call blocks its thread,
//! and keeps the other connectors running meanwhile.
//!
//! Every call the runtime makes into a connector goes through its
//! [`Caller`], which marks the connector busy, with the call's method,
//! for the length of each poll. A thread (`pdk-watchdog`) looks at every
//! connector ten times a second; a poll that has lasted
//! [`BLOCKED_AFTER`] is blocking an executor thread. The watchdog then
//! logs one line naming the connector and the method, and lends the
//! connector's pipeline one more thread for as long as that poll lasts,
//! so that the other connectors of that pipeline, and its drain, keep
//! running however many of them block (other pipelines run on threads of
//! their own anyway). When the poll returns, it logs how long it blocked
//! and the thread is given back.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use crate::executor::{LentThread, Pipeline};
use crate::logging::Tag;

/// How often the watchdog looks.
const TICK: Duration = Duration::from_millis(100);

/// How long one poll may last before it counts as blocking its thread.
pub const BLOCKED_AFTER: Duration = Duration::from_millis(500);

/// Ticks since the watchdog started: a clock that costs one relaxed load
/// to read.
static TICKS: AtomicU64 = AtomicU64::new(1);

/// Every connector's activity, for the watchdog.
static WATCHED: Mutex<Vec<Weak<Activity>>> = Mutex::new(Vec::new());

/// What one connector is doing, as the watchdog sees it.
#[derive(Debug)]
pub struct Activity {
    /// The connector's id in the flow.
    id: String,
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
    /// The pipeline the connector runs in, once it is known.
    pipeline: OnceLock<Pipeline>,
    /// The thread lent to the pipeline while the connector blocks one.
    lent: Mutex<Option<LentThread>>,
}

impl Activity {
    /// What the connector is doing, in words, for the drain's report.
    #[must_use]
    pub fn describe(&self) -> String {
        let since = self.busy_since.load(Ordering::Relaxed);
        if since == 0 {
            format!("connector `{}` (still draining, in no call)", self.id)
        } else {
            format!(
                "connector `{}` (blocked in `{}` for {:.1} s)",
                self.id,
                self.method(),
                elapsed(since).as_secs_f64()
            )
        }
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

    /// Records that the connector runs in `pipeline`.
    pub fn runs_in(&self, pipeline: &Pipeline) {
        // Set once, when the flow starts; a second call changes nothing.
        let _ = self.pipeline.set(pipeline.clone());
    }

    /// Lends the connector's pipeline a thread while it blocks one;
    /// returns whether it could.
    fn lend_thread(&self) -> bool {
        let lent = self.pipeline.get().and_then(|pipeline| {
            pipeline
                .lend_thread()
                .inspect_err(|error| log::warn!("cannot start a thread to lend ({error})"))
                .ok()
        });
        let could = lent.is_some();
        *self.lent.lock().unwrap_or_else(PoisonError::into_inner) = lent;
        could
    }

    /// Gives back the thread lent while the connector blocked.
    fn give_back_thread(&self) {
        self.lent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    fn method(&self) -> &'static str {
        *self.method.lock().unwrap_or_else(PoisonError::into_inner)
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
        let activity = Arc::new(Activity {
            id: id.to_owned(),
            tag: tag.clone(),
            busy_since: AtomicU64::new(0),
            method: Mutex::new(""),
            reported: AtomicU64::new(0),
            finished: AtomicBool::new(false),
            pipeline: OnceLock::new(),
            lent: Mutex::new(None),
        });
        watch(&activity);
        Self { tag, activity }
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
        let mut future = pin!(future);
        let busy = &self.activity.busy_since;
        poll_fn(|cx| {
            busy.store(TICKS.load(Ordering::Relaxed), Ordering::Relaxed);
            let polled = self.tag.scope(|| future.as_mut().poll(cx));
            busy.store(0, Ordering::Relaxed);
            polled
        })
        .await
    }
}

/// Adds `activity` to what the watchdog watches, starting the watchdog
/// on first use.
fn watch(activity: &Arc<Activity>) {
    static STARTED: OnceLock<()> = OnceLock::new();
    let mut watched = WATCHED.lock().unwrap_or_else(PoisonError::into_inner);
    watched.retain(|weak| weak.strong_count() > 0);
    watched.push(Arc::downgrade(activity));
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

/// One look at every connector.
fn look() {
    let activities: Vec<Arc<Activity>> = WATCHED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
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
                    "connector `{}`: `{}` returned after blocking its thread for {:.1} s",
                    activity.id,
                    activity.method(),
                    elapsed(reported).as_secs_f64()
                );
            });
        } else if since != 0 && reported == 0 && elapsed(since) >= BLOCKED_AFTER {
            activity.reported.store(since, Ordering::Relaxed);
            let meanwhile = if activity.lend_thread() {
                "the runtime lends its pipeline another thread meanwhile"
            } else {
                "no thread could be lent; the connectors linked to it may wait"
            };
            activity.tag.scope(|| {
                log::warn!(
                    "connector `{}`: `{}` has blocked its thread for {:.1} s ({meanwhile}); \
                     fix: await instead of blocking, or run the blocking code with \
                     `pdk::task::spawn_blocking`",
                    activity.id,
                    activity.method(),
                    elapsed(since).as_secs_f64()
                );
            });
        }
    }
}
