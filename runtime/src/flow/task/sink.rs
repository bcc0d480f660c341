//! The sink side of a connector task: handing events to the plugin, its
//! deferred answers, and failing back what it cannot answer any more.

use std::time::Duration;

use async_channel::{Receiver, Sender};
use pdk::{EventId, SinkReply};

use super::{ConnectorTask, Control, Halt};
use crate::flow::deferred::{Deferred, Report};
use pdk::abi::connector::PdkEvent;

use crate::flow::instance::from_ffi;

/// An event on its way to a sink, with where its outcome goes.
pub struct Delivery {
    /// The event.
    pub event: PdkEvent,
    /// The source's reply channel.
    pub reply_to: OutcomeSender,
}

/// Where a sink sends the outcomes of one source's events: unbounded, so
/// that a sink never waits for a source (which may be waiting for the
/// sink's inbox), and backed by one queue whose buffer is reused, so that
/// steady traffic allocates nothing.
pub type OutcomeSender = flume::Sender<Outcome>;

/// What a sink did with one event.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// The event.
    pub id: EventId,
    /// Handled (`true`) or failed.
    pub ok: bool,
}

/// Tells the source of event `id`, through `reply_to`, how it went.
/// A task's sink side: where its events come from, and what it deferred.
#[derive(Default)]
pub struct SinkSide {
    /// Events for the sink side, if any connector links to it.
    pub inbox: Option<Receiver<Delivery>>,
    /// The control channels of the sources that send to this sink.
    pub upstream: Vec<Sender<Control>>,
    /// Events the sink deferred, with where their outcome goes.
    pub(super) deferred: Deferred<OutcomeSender>,
}

pub(super) fn report(reply_to: &OutcomeSender, id: EventId, ok: bool) {
    // The source may have ended after giving up; its outcome is moot then.
    let _ = reply_to.send(Outcome { id, ok });
}

/// Sends a deferred event's outcome to its source.
fn send(Report { reply_to, id, ok }: Report<OutcomeSender>) {
    report(&reply_to, id, ok);
}

impl ConnectorTask {
    /// Fails every event the sink deferred and has not answered: after a
    /// failure its answers may never come. Answers the plugin already
    /// sent count: an event it acked before it failed is not failed back
    /// (and so not delivered twice).
    pub(super) async fn fail_back_deferred(&mut self) {
        while let Ok(control) = self.inputs.control.try_recv() {
            match control {
                Control::Reply { id, ok } => self.answer_deferred(id, ok).await,
                other => self.inputs.backlog.push_back(other),
            }
        }
        if self.sink.deferred.is_empty() {
            return;
        }
        log::warn!(
            "connector `{}`: failing back {} deferred events",
            self.id,
            self.sink.deferred.len()
        );
        for failed in self.sink.deferred.fail_all() {
            send(failed);
        }
    }

    /// Closes the sink side and fails every event still waiting in it.
    pub(super) async fn fail_back_inbox(&mut self) {
        let Some(inbox) = self.sink.inbox.take() else {
            return;
        };
        inbox.close();
        while let Ok(Delivery { event, reply_to }) = inbox.try_recv() {
            report(&reply_to, event.id, false);
        }
    }

    /// Passes the plugin's answer to a deferred event on to its source.
    pub(super) async fn answer_deferred(&mut self, id: EventId, ok: bool) {
        match self.sink.deferred.answer(id, ok) {
            Some(answered) => {
                if ok {
                    self.supervision.restarts.worked();
                }
                send(answered);
            }
            None => log::warn!(
                "connector `{}`: reply for event {id:?}, which it did not defer; ignored",
                self.id
            ),
        }
    }

    /// Hands one event to the sink side and reports the outcome back, now
    /// or (for a deferred reply) when the plugin answers.
    pub(super) async fn deliver(&mut self, delivery: Delivery) -> Result<(), Halt> {
        let Delivery { event, reply_to } = delivery;
        let id = event.id;
        self.metrics.received(Duration::from_nanos(
            super::source::now_ns().saturating_sub(event.ingest_ns),
        ));
        let instance = self.held.get().await;
        let result = from_ffi(
            self.caller
                .call("on_event", instance.raw().on_event(event))
                .await,
        )
        .map(SinkReply::from);
        // Only an acknowledgement shows the sink works: a deferred event
        // may still fail (a buffered write that cannot be flushed).
        if matches!(result, Ok(SinkReply::Ack)) {
            self.supervision.restarts.worked();
        }
        let ok = match result {
            Ok(SinkReply::Deferred) => {
                self.sink.deferred.defer(id, reply_to);
                return Ok(());
            }
            Ok(SinkReply::Ack) => true,
            Ok(SinkReply::Fail) | Err(_) => false,
        };
        match result {
            Err(error) => {
                report(&reply_to, id, ok);
                self.failed("on_event", &error).await
            }
            Ok(_) if self.is_own_source(&reply_to) => self.on_outcome(Outcome { id, ok }).await,
            Ok(_) => {
                report(&reply_to, id, ok);
                Ok(())
            }
        }
    }

    /// Whether `reply_to` goes to this task's own source side (a connector
    /// linked to itself, a request/response server): its outcome is then
    /// counted at once, without a trip through the channel and a wake-up.
    fn is_own_source(&self, reply_to: &OutcomeSender) -> bool {
        self.source
            .as_ref()
            .is_some_and(|source| source.outcomes_tx.same_channel(reply_to))
    }

    /// Tells the sink side that no more events will arrive; a failure is
    /// reported, not fatal.
    pub(super) async fn upstream_finished(&mut self) {
        log::debug!(
            "connector `{}`: every upstream connector has finished",
            self.id
        );
        let instance = self.held.get().await;
        let finished = from_ffi(
            self.caller
                .call("on_upstream_finished", instance.raw().upstream_finished())
                .await,
        );
        if let Err(error) = finished {
            log::error!(
                "connector `{}`: `on_upstream_finished` failed: {}",
                self.id,
                error.message()
            );
        }
    }
}
