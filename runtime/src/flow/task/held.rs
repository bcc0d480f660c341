//! The connector instance of a task, and the `pull_data` it may have
//! under way. A pending pull outlives the event loop's wake-ups (an
//! outcome coming back, a deferred answer, a timer) and is given up only
//! when the instance is needed for another call ([`Held::get`]): an event
//! for its sink side, a lifecycle hook, a reconnect, acknowledgements that
//! waited long enough. A source whose pull is costly to start again (a
//! broker fetch, a database cursor) is asked once per event it produces.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use pdk::Error;
use pin_project_lite::pin_project;

use crate::flow::instance::{from_ffi, pulled, Instance, Pulled};
use crate::flow::watchdog::Caller;

/// What a pull under way ends with: the instance back, and the reply if
/// the pull completed (`None` if it was given up).
type PullEnd = (Instance, Option<Result<Pulled, Error>>);

/// What every pull of one task shares: the caller that watches it, and
/// whether the pull under way is asked to give up. No waker is needed for
/// that: only [`Held::get`] asks, and it polls the pull itself right after
/// asking.
struct PullEnv {
    caller: Caller,
    give_up: AtomicBool,
}

/// One pull: calls `pull_data` on `instance`, which it owns until the
/// pull ends or is given up.
async fn pull(mut instance: Instance, env: Arc<PullEnv>, pull_id: u64) -> PullEnd {
    let reply = {
        let mut pull = pin!(env
            .caller
            .call("pull_data", instance.raw().pull_data(pull_id)));
        poll_fn(|cx| {
            if env.give_up.load(Ordering::Acquire) {
                return Poll::Ready(None);
            }
            pull.as_mut().poll(cx).map(Some)
        })
        .await
    };
    (instance, reply.map(|reply| from_ffi(reply).map(pulled)))
}

pin_project! {
    /// Room for the pull under way, allocated once per task and reused by
    /// every pull (a pull is made for each event a source produces).
    struct Slot<F> {
        make: fn(Instance, Arc<PullEnv>, u64) -> F,
        #[pin]
        pull: Option<F>,
    }
}

/// [`Slot`], whatever the type of its pull.
trait PullSlot: Send {
    /// Starts a pull (the slot is empty).
    fn start(self: Pin<&mut Self>, instance: Instance, env: Arc<PullEnv>, id: u64);
    /// The end of the pull under way, emptying the slot; pending while
    /// the slot is empty.
    fn poll_end(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<PullEnd>;
}

impl<F: Future<Output = PullEnd> + Send> PullSlot for Slot<F> {
    fn start(self: Pin<&mut Self>, instance: Instance, env: Arc<PullEnv>, id: u64) {
        let mut this = self.project();
        let pull = (this.make)(instance, env, id);
        this.pull.set(Some(pull));
    }

    fn poll_end(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<PullEnd> {
        let mut this = self.project();
        let Some(pull) = this.pull.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        let end = ready!(pull.poll(cx));
        this.pull.set(None);
        Poll::Ready(end)
    }
}

/// The instance, here or inside the pull under way.
pub(super) struct Held {
    /// The instance while no pull is under way.
    here: Option<Instance>,
    /// The pull under way, if [`Self::pulling`].
    slot: Pin<Box<dyn PullSlot>>,
    pulling: bool,
    /// The reply of a pull that completed as it was being given up: it is
    /// handled next, never lost.
    completed: Option<Result<Pulled, Error>>,
    env: Arc<PullEnv>,
}

impl Held {
    /// `instance`, with no pull under way; its pulls are made through
    /// `caller`.
    pub(super) fn new(instance: Instance, caller: Caller) -> Self {
        Self {
            here: Some(instance),
            slot: Box::pin(Slot {
                make: pull,
                pull: None,
            }),
            pulling: false,
            completed: None,
            env: Arc::new(PullEnv {
                caller,
                give_up: AtomicBool::new(false),
            }),
        }
    }

    /// Whether a pull is under way.
    pub(super) fn is_pulling(&self) -> bool {
        self.pulling
    }

    /// Starts pull `pull_id`, unless one is under way.
    pub(super) fn start_pull(&mut self, pull_id: u64) {
        let Some(instance) = self.here.take() else {
            return;
        };
        self.env.give_up.store(false, Ordering::Release);
        self.slot
            .as_mut()
            .start(instance, Arc::clone(&self.env), pull_id);
        self.pulling = true;
    }

    /// The end of the pull under way; the instance is here again after it.
    async fn end(&mut self) -> Option<Result<Pulled, Error>> {
        let (instance, reply) = poll_fn(|cx| self.slot.as_mut().poll_end(cx)).await;
        self.pulling = false;
        self.here = Some(instance);
        reply
    }

    /// Completes with the reply of the pull under way, once it has one;
    /// never without one. Dropping this future leaves the pull under way.
    pub(super) async fn pulled(&mut self) -> Result<Pulled, Error> {
        if !self.pulling {
            return std::future::pending().await;
        }
        match self.end().await {
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
        if self.pulling {
            self.env.give_up.store(true, Ordering::Release);
            let reply = self.end().await;
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
