//! Choosing what a connector task does next.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use async_channel::TryRecvError;
use futures::future::{Fuse, FutureExt};
use futures::stream::StreamExt;
use pdk::{Error, EventId};

use super::{ConnectorTask, Control, Delivery, Inputs, Outcome, SinkSide, SourceSide};
use crate::executor;
use crate::flow::instance::Pulled;
use crate::flow::restartable::Replacement;

/// What woke the task up.
pub(super) enum Wake {
    Outcome(Outcome),
    Control(Control),
    Delivery(Option<Delivery>),
    Pulled(Result<Pulled, Error>),
    /// A send that had to wait for room completed (or found the sink gone).
    Sent(Option<Result<(), EventId>>),
    /// The runtime is shutting down: stop pulling, finish what is in flight.
    Shutdown,
    /// A new instance is offered (`None`: no more will come).
    Reload(Option<Replacement>),
    /// The wait a source asked for with `Empty` is over.
    PullAgain,
    /// Outcomes have waited long enough for the pull under way.
    SettleDue,
}

impl ConnectorTask {
    /// Waits for the first thing to do, in priority order.
    pub(super) async fn next_wake(&mut self) -> Wake {
        let pull_id = self.source.as_ref().map_or(0, |s| s.next_pull_id);
        let swapping = self.supervision.replacement.is_some();
        // Right after an event for its sink side, a connector's own source
        // side goes before its inbox if it has an event ready: a busy
        // inbox would otherwise starve it (`http_client` fed by a fast
        // upstream kept every response it received and passed none on).
        let pull_owed = std::mem::take(&mut self.pull_owed);
        if let Some(wake) = self.ready_now() {
            return wake;
        }
        if !pull_owed {
            if let Some(wake) = self.ready_in_inbox(swapping) {
                return wake;
            }
        }
        let pulling = !swapping
            && self.source.as_ref().is_some_and(|s| {
                !s.finished
                    && s.closed_sinks.is_empty()
                    && s.pending_sends.is_empty()
                    && s.pull_again_at.is_none()
            });
        if pulling {
            self.held.start_pull(pull_id);
        }
        // Nothing else was ready a moment ago: a busy source's next event
        // usually is, and is taken before registering with every other
        // input. Polled here, the pull is not polled again by the select
        // below until something wakes the task.
        let mut pull_polled = false;
        if self.held.is_pulling() {
            let mut pull = pin!(self.held.pulled());
            if let Poll::Ready(reply) = poll_fn(|cx| Poll::Ready(pull.as_mut().poll(cx))).await {
                return Wake::Pulled(reply);
            }
            pull_polled = true;
        }
        if pull_owed {
            if let Some(wake) = self.ready_in_inbox(swapping) {
                return wake;
            }
        }
        // A deadline, not a sleep: until it passes, the task answers
        // everything else.
        let pull_again_in = self
            .source
            .as_ref()
            .and_then(|s| s.pull_again_at)
            .map(|at| at.saturating_duration_since(Instant::now()));
        let settle_in = self.settle_due_in();
        let Self {
            held,
            source,
            sink: SinkSide { inbox, .. },
            inputs:
                Inputs {
                    control,
                    signal,
                    shutdown_seen,
                    reload,
                    ..
                },
            ..
        } = self;
        // Inputs that stay quiet (control, shutdown, new builds) are
        // polled as streams that keep their registration from one wait to
        // the next. The inbox and the outcomes are registered with for
        // this wait only: they carry the traffic, often sent by this very
        // task (a connector linked to itself), and a registration kept
        // would wake the task again for every event it sent itself.
        // A channel only this task sends to, and empty now, gets nothing
        // while the task waits: it is not registered with at all (a
        // request/response server linked to itself waits on its pull
        // alone).
        let own_inbox_senders = source.as_ref().map_or(0, SourceSide::own_inbox_senders);
        let (outcome, mut sent) = match source {
            Some(side) => (
                if side.no_outcome_can_come() {
                    Fuse::terminated()
                } else {
                    side.outcomes.recv_async().fuse()
                },
                if side.pending_sends.is_empty() {
                    Fuse::terminated()
                } else {
                    side.pending_sends.next().fuse()
                },
            ),
            None => (Fuse::terminated(), Fuse::terminated()),
        };
        let mut outcome = pin!(outcome);
        let mut shutdown = pin!(match signal {
            Some(signal) if !*shutdown_seen => signal.next().fuse(),
            _ => Fuse::terminated(),
        });
        // While an instance waits to be replaced, new events wait in the
        // inbox: only the replacement gets them.
        let mut delivery = pin!(match inbox {
            Some(inbox) if !swapping && !fed_by_self_only(inbox, own_inbox_senders) => {
                inbox.recv().fuse()
            }
            _ => Fuse::terminated(),
        });
        let mut reloaded = pin!(match reload {
            Some(reload) if !swapping => reload.next().fuse(),
            _ => Fuse::terminated(),
        });
        let mut control = pin!(control.next().fuse());
        let mut pull_again = pin!(match pull_again_in {
            Some(wait) => executor::sleep(wait).fuse(),
            None => Fuse::terminated(),
        });
        let mut settle_due = pin!(match settle_in {
            Some(wait) => executor::sleep(wait).fuse(),
            None => Fuse::terminated(),
        });
        // Kept under way across wake-ups (see `Held`).
        let mut pulled = pin!(held.pulled());
        let mut pull = pin!(poll_fn(move |cx| {
            if std::mem::take(&mut pull_polled) {
                // Polled above with this same waker.
                return Poll::Pending;
            }
            pulled.as_mut().poll(cx)
        })
        .fuse());
        futures::select_biased! {
            received = outcome => match received {
                Ok(received) => Wake::Outcome(received),
                // Cannot happen: the source side holds a sender itself.
                Err(_) => Wake::Control(Control::Abandon),
            },
            received = control => match received {
                Some(received) => Wake::Control(received),
                // Cannot happen: the task holds a sender itself.
                None => Wake::Control(Control::Abandon),
            },
            _ = shutdown => Wake::Shutdown,
            result = sent => Wake::Sent(result),
            received = delivery => Wake::Delivery(received.ok()),
            () = settle_due => Wake::SettleDue,
            reply = pull => Wake::Pulled(reply),
            () = pull_again => Wake::PullAgain,
            instance = reloaded => Wake::Reload(instance),
        }
    }

    /// What is ready now, in [`Self::next_wake`]'s priority order, found
    /// without registering to be woken: a busy flow's task mostly wakes to
    /// an outcome or a delivery already waiting, and registering with
    /// every channel on every wake-up (an event listener each, allocated
    /// and freed) cost more than handling the event. `None`: nothing is
    /// (the inbox aside, see [`Self::ready_in_inbox`]).
    fn ready_now(&mut self) -> Option<Wake> {
        if let Some(Ok(outcome)) = self.source.as_ref().map(|s| s.outcomes.try_recv()) {
            return Some(Wake::Outcome(outcome));
        }
        let inputs = &mut self.inputs;
        // Control messages are rare: looking costs two loads, taking one
        // far more.
        if !inputs.control.receiver().is_empty() {
            if let Ok(control) = inputs.control.try_recv() {
                return Some(Wake::Control(control));
            }
        }
        if let Some(signal) = inputs.signal.as_ref().filter(|_| !inputs.shutdown_seen) {
            // Shut down: a message, or the channel closed.
            let signal = signal.receiver();
            if signal.is_closed() || !signal.is_empty() {
                return Some(Wake::Shutdown);
            }
        }
        None
    }

    /// An event waiting in the inbox, found without registering to be
    /// woken; `None` if none is, or if a send waiting for room comes
    /// first (only the select polls that).
    fn ready_in_inbox(&mut self, swapping: bool) -> Option<Wake> {
        if self
            .source
            .as_ref()
            .is_some_and(|s| !s.pending_sends.is_empty())
        {
            return None;
        }
        match self.sink.inbox.as_ref().filter(|_| !swapping)?.try_recv() {
            Ok(delivery) => Some(Wake::Delivery(Some(delivery))),
            Err(TryRecvError::Closed) => Some(Wake::Delivery(None)),
            Err(TryRecvError::Empty) => None,
        }
    }
}

/// Whether `inbox` is empty and no task but this one, which holds
/// `own_senders` of its senders, can send to it.
fn fed_by_self_only(inbox: &async_channel::Receiver<Delivery>, own_senders: usize) -> bool {
    inbox.is_empty() && inbox.sender_count() <= own_senders
}
