//! The connector instance of a task, and the `pull_data` it may have
//! under way. A pending pull outlives the event loop's wake-ups (an
//! outcome coming back, a deferred answer, a timer) and is given up only
//! when the instance is needed for another call ([`Held::get`]): an event
//! for its sink side, a lifecycle hook, a reconnect, acknowledgements that
//! waited long enough. A source whose pull is costly to start again (a
//! broker fetch, a database cursor) is asked once per event it produces.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;

use futures::task::AtomicWaker;
use pdk::Error;

use crate::flow::instance::{from_ffi, pulled, Instance, Pulled};
use crate::flow::watchdog::Caller;

/// What a pull under way ends with: the instance back, and the reply if
/// the pull completed (`None` if it was given up).
type PullEnd = (Instance, Option<Result<Pulled, Error>>);

/// A pull under way, which owns the instance until it ends.
type PendingPull = Pin<Box<dyn Future<Output = PullEnd> + Send>>;

/// Asks a pending pull to give up; shared with every pull of one task.
#[derive(Default)]
struct GiveUp {
    asked: AtomicBool,
    waker: AtomicWaker,
}

impl GiveUp {
    /// `future`'s output, or `None` once giving up is asked for.
    async fn or<F: Future>(&self, future: F) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        poll_fn(|cx| {
            self.waker.register(cx.waker());
            if self.asked.load(Ordering::Acquire) {
                return Poll::Ready(None);
            }
            future.as_mut().poll(cx).map(Some)
        })
        .await
    }

    fn ask(&self) {
        self.asked.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// The instance, here or inside the pull under way.
pub(super) struct Held {
    /// The instance while no pull is under way.
    here: Option<Instance>,
    /// The pull under way, if any.
    pull: Option<PendingPull>,
    /// The reply of a pull that completed as it was being given up: it is
    /// handled next, never lost.
    completed: Option<Result<Pulled, Error>>,
    give_up: Arc<GiveUp>,
}

impl Held {
    /// `instance`, with no pull under way.
    pub(super) fn new(instance: Instance) -> Self {
        Self {
            here: Some(instance),
            pull: None,
            completed: None,
            give_up: Arc::default(),
        }
    }

    /// Whether a pull is under way.
    pub(super) fn is_pulling(&self) -> bool {
        self.pull.is_some()
    }

    /// Starts pull `pull_id` through `caller`, unless one is under way.
    pub(super) fn start_pull(&mut self, caller: &Caller, pull_id: u64) {
        let Some(mut instance) = self.here.take() else {
            return;
        };
        let caller = caller.clone();
        let give_up = Arc::clone(&self.give_up);
        give_up.asked.store(false, Ordering::Release);
        self.pull = Some(Box::pin(async move {
            let reply = {
                let pull = caller.call("pull_data", instance.raw().pull_data(pull_id));
                give_up.or(pull).await
            };
            (instance, reply.map(|reply| from_ffi(reply).map(pulled)))
        }));
    }

    /// Completes with the reply of the pull under way, once it has one;
    /// never without one. Dropping this future leaves the pull under way.
    pub(super) async fn pulled(&mut self) -> Result<Pulled, Error> {
        let Some(pull) = &mut self.pull else {
            return std::future::pending().await;
        };
        let (instance, reply) = pull.await;
        self.pull = None;
        self.here = Some(instance);
        match reply {
            Some(reply) => reply,
            // Only `get` gives a pull up, and it takes the instance back
            // itself; this cannot be reached.
            None => std::future::pending().await,
        }
    }

    /// The reply of a pull that completed as it was given up, if any.
    pub(super) fn take_completed(&mut self) -> Option<Result<Pulled, Error>> {
        self.completed.take()
    }

    /// The instance, for a call: a pull under way is given up first (its
    /// reply kept if it had one, see [`Self::take_completed`]).
    pub(super) async fn get(&mut self) -> &mut Instance {
        if let Some(pull) = self.pull.take() {
            self.give_up.ask();
            let (instance, reply) = pull.await;
            self.here = Some(instance);
            if reply.is_some() {
                self.completed = reply;
            }
        }
        self.here.get_or_insert_with(|| {
            unreachable!("the instance is here whenever no pull is under way")
        })
    }

    /// Replaces the instance (a new build, `run --watch`); a pull under
    /// way on the old one is given up first.
    pub(super) async fn replace(&mut self, instance: Instance) {
        self.get().await;
        self.here = Some(instance);
    }
}
