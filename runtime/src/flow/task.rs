//! One task per connector instance: it owns the plugin object and makes
//! every call on it, one at a time, choosing among acknowledgements coming
//! back, events arriving for the sink side, "connection lost" reports and
//! pulling from the source side.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_channel::{Receiver, Sender, TrySendError};
use futures::future::{Fuse, FutureExt};
use futures::stream::{FuturesUnordered, StreamExt};
use pdk::abi::connector::LifecycleHook;
use pdk::{Attempt, Error, ErrorKind, EventId, SinkReply};

use super::in_flight::{InFlight, Settled};
use super::instance::{Instance, Payload, Pulled, RuntimeEvent};
use super::restart::{Backoff, FailureWindow, RestartPolicy};
use super::throttle::{Report, Throttle};

use super::watchdog::{Activity, Caller};
use crate::codec::Codec;
use crate::executor;
use crate::logging::Tag;

/// Whether the failure budget has been charged for a connector's current
/// outage (it is charged once per outage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outage {
    /// The failure that started it was counted already.
    Counted,
    /// Nothing counted yet: the first failed attempt counts.
    NotCounted,
}

/// An event on its way to a sink, with where its outcome goes.
pub struct Delivery {
    /// The event.
    pub event: RuntimeEvent,
    /// The source's reply channel.
    pub reply_to: Sender<Outcome>,
}

/// What a sink did with one event.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// The event.
    pub id: EventId,
    /// Handled (`true`) or failed.
    pub ok: bool,
}

/// The source side's state.
pub struct SourceSide {
    /// Where events go (one sender per linked sink).
    pub outputs: Vec<Sender<Delivery>>,
    /// The sender half of `outcomes`, cloned into every delivery.
    pub outcomes_tx: Sender<Outcome>,
    /// Outcomes of this source's events.
    pub outcomes: Receiver<Outcome>,
    /// How raw bytes become values.
    pub codec: Codec,
    /// Whether every linked sink is a plugin: then the codec decodes
    /// straight into the C-ABI form.
    pub decode_for_plugins: bool,
    in_flight: InFlight,
    /// When a source that had nothing to give (`Empty`) is asked again;
    /// meanwhile the task does everything else.
    pull_again_at: Option<Instant>,
    finished: bool,
    next_pull_id: u64,
    /// Events its codec could not decode, reported at a bounded rate.
    codec_errors: Throttle,
    transactional: bool,
    closed_sinks: HashSet<u64>,
    pending_sends: FuturesUnordered<PendingSend>,
}

impl SourceSide {
    /// Decodes raw bytes with the codec, into the form the sinks use.
    fn decode(&self, data: Vec<u8>) -> Result<Payload, String> {
        if self.decode_for_plugins {
            self.codec.decode_ffi(data).map(Payload::Ffi)
        } else {
            self.codec.decode(data).map(Payload::Native)
        }
    }

    /// A source side sending to `outputs`.
    #[must_use]
    pub fn new(
        outputs: Vec<Sender<Delivery>>,
        codec: Codec,
        decode_for_plugins: bool,
        transactional: bool,
    ) -> Self {
        let (outcomes_tx, outcomes) = async_channel::unbounded();
        Self {
            outputs,
            outcomes_tx,
            outcomes,
            codec,
            decode_for_plugins,
            in_flight: InFlight::default(),
            pull_again_at: None,
            finished: false,
            next_pull_id: 0,
            codec_errors: Throttle::default(),
            transactional,
            closed_sinks: HashSet::new(),
            pending_sends: FuturesUnordered::new(),
        }
    }
}

/// What the plugin (through its runtime handle) or other tasks tell a
/// connector's task.
#[derive(Debug, Clone)]
pub enum Control {
    /// A task the connector spawned failed (it panicked): a failure of the
    /// connector.
    TaskFailed(Error),
    /// The plugin lost its connection.
    ConnectionLost,
    /// The plugin answers an event it deferred.
    Reply {
        /// The event.
        id: EventId,
        /// Handled or failed.
        ok: bool,
    },
    /// The plugin's sink closes (`false`) or opens (`true`) its circuit.
    Circuit {
        /// Open or closed.
        open: bool,
    },
    /// The drain ran out of time: fail every event in flight back to its
    /// source, and end.
    Abandon,
    /// A sink this source sends to closed or opened its circuit.
    Downstream {
        /// The sink's index in the flow.
        sink: u64,
        /// Open or closed.
        open: bool,
    },
}

/// What woke the task up.
enum Wake {
    Outcome(Outcome),
    Control(Control),
    Delivery(Option<Delivery>),
    Pulled(Result<Pulled, Error>),
    /// A send that had to wait for room completed (or found the sink gone).
    Sent(Option<Result<(), EventId>>),
    /// The runtime is shutting down: stop pulling, finish what is in flight.
    Shutdown,
    /// A new build of the plugin offers a new instance (`None`: no more
    /// will come).
    Reload(Option<Instance>),
    /// The wait a source asked for with `Empty` is over.
    PullAgain,
}

/// A send to a full inbox, driven by the event loop until it completes;
/// fails with the event's id if the sink is gone.
type PendingSend = Pin<Box<dyn Future<Output = Result<(), EventId>> + Send>>;

/// What failed in a connector.
#[derive(Debug, Clone, Copy)]
enum Culprit<'a> {
    /// One of its methods.
    Method(&'a str),
    /// A task it spawned.
    SpawnedTask,
}

impl<'a> From<&'a str> for Culprit<'a> {
    fn from(method: &'a str) -> Self {
        Self::Method(method)
    }
}

impl std::fmt::Display for Culprit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Method(method) => write!(f, "`{method}`"),
            Self::SpawnedTask => f.write_str("a task it spawned"),
        }
    }
}

/// A connector that could not be kept running.
#[derive(Debug, thiserror::Error)]
#[error("connector `{id}`: {message}")]
pub struct GaveUp {
    /// The connector's id.
    pub id: String,
    /// Why.
    pub message: String,
}

/// One connector instance and everything its task needs.
pub struct ConnectorTask {
    /// The connector's id in the flow.
    pub id: String,
    /// Its number in the flow, stamped into its events' ids.
    pub index: u64,
    /// The plugin object.
    pub instance: Instance,
    /// Makes the calls into the connector, tagged and watched.
    caller: Caller,
    /// The source side, if it has one in this flow.
    pub source: Option<SourceSide>,
    /// Events for the sink side, if any connector links to it.
    pub inbox: Option<Receiver<Delivery>>,
    /// The control channels of the sources that send to this sink.
    pub upstream: Vec<Sender<Control>>,
    /// Messages from the plugin's runtime handle and from other tasks.
    control: Receiver<Control>,
    /// A sender of `control`, kept so that it is never closed.
    control_tx: Sender<Control>,
    /// Events the sink deferred, with where their outcome goes.
    deferred: HashMap<EventId, Sender<Outcome>>,
    /// Closed when the runtime shuts down; `None` once seen.
    shutdown: Option<Receiver<()>>,
    /// Connect attempts so far.
    attempts: u64,
    /// Recent failures, against the connector's budget.
    failures: FailureWindow,
    /// New instances from new builds of the plugin (`run --watch`).
    reload: Option<Receiver<Instance>>,
    /// A new instance waiting for the old one to have nothing in flight.
    replacement: Option<Instance>,
    /// Control messages taken from `control` early (while looking for
    /// replies), handled before anything else.
    backlog: VecDeque<Control>,
}

impl ConnectorTask {
    /// A task for `instance`.
    #[must_use]
    pub fn new(
        id: String,
        index: u64,
        instance: Instance,
        tag: Tag,
        restart: RestartPolicy,
        control: (Sender<Control>, Receiver<Control>),
    ) -> Self {
        Self {
            caller: Caller::new(&id, tag),
            id,
            index,
            instance,
            source: None,
            inbox: None,
            upstream: Vec::new(),
            control: control.1,
            control_tx: control.0,
            deferred: HashMap::new(),
            shutdown: None,
            attempts: 0,
            failures: FailureWindow::new(restart),
            reload: None,
            replacement: None,
            backlog: VecDeque::new(),
        }
    }

    /// Makes the source side stop pulling when `shutdown` closes.
    pub fn stop_on(&mut self, shutdown: Receiver<()>) {
        self.shutdown = Some(shutdown);
    }

    /// Makes the task replace its instance with each one `reload` yields,
    /// once the old one has no event in flight.
    pub fn reload_on(&mut self, reload: Receiver<Instance>) {
        self.reload = Some(reload);
    }

    /// What the connector is doing, as the watchdog sees it.
    #[must_use]
    pub fn activity(&self) -> Arc<Activity> {
        self.caller.activity()
    }

    /// A sender to this task's control channel.
    #[must_use]
    pub fn control_sender(&self) -> Sender<Control> {
        self.control_tx.clone()
    }

    /// Drives the connector until its source has finished with every event
    /// answered and no more events can reach its sink side.
    ///
    /// # Errors
    /// When the connector spent its failure budget; then every event it
    /// held or had waiting for it has been failed back to its source.
    pub async fn run(mut self) -> Result<(), GaveUp> {
        let activity = self.activity();
        let result = self.run_to_end().await;
        activity.finish();
        result
    }

    /// [`Self::run`], up to the end of the task.
    async fn run_to_end(&mut self) -> Result<(), GaveUp> {
        let result = match self.connect(Outage::NotCounted).await {
            Ok(()) => {
                self.lifecycle(LifecycleHook::Start).await;
                let result = self.event_loop().await;
                self.report_left_out_codec_errors();
                self.lifecycle(LifecycleHook::Drain).await;
                self.lifecycle(LifecycleHook::Stop).await;
                result
            }
            Err(gave_up) => Err(gave_up),
        };
        if result.is_err() {
            self.fail_back_deferred().await;
            self.fail_back_inbox().await;
        }
        result
    }

    /// Reports the undecodable events not reported yet, at the end.
    fn report_left_out_codec_errors(&mut self) {
        let left_out = self
            .source
            .as_mut()
            .map_or(0, |source| source.codec_errors.take_left_out());
        if left_out > 0 {
            log::error!(
                "connector `{}`: {left_out} more events dropped by its codec since the last report",
                self.id
            );
        }
    }

    /// Fails every event the sink deferred and has not answered: after a
    /// failure its answers may never come. Answers the plugin already
    /// sent count: an event it acked before it failed is not failed back
    /// (and so not delivered twice).
    async fn fail_back_deferred(&mut self) {
        while let Ok(control) = self.control.try_recv() {
            match control {
                Control::Reply { id, ok } => self.answer_deferred(id, ok).await,
                other => self.backlog.push_back(other),
            }
        }
        if self.deferred.is_empty() {
            return;
        }
        log::warn!(
            "connector `{}`: failing back {} deferred events",
            self.id,
            self.deferred.len()
        );
        for (id, reply_to) in self.deferred.drain() {
            fail_back(&reply_to, id).await;
        }
    }

    /// Closes the sink side and fails every event still waiting in it.
    async fn fail_back_inbox(&mut self) {
        let Some(inbox) = self.inbox.take() else {
            return;
        };
        inbox.close();
        while let Ok(Delivery { event, reply_to }) = inbox.try_recv() {
            fail_back(&reply_to, event.id).await;
        }
    }

    async fn event_loop(&mut self) -> Result<(), GaveUp> {
        loop {
            let source_active = self.source.as_mut().is_some_and(|source| {
                if source.finished && source.in_flight.is_empty() && source.pending_sends.is_empty()
                {
                    // Nothing more will be sent: let the sinks see the end.
                    source.outputs.clear();
                }
                !source.finished || !source.in_flight.is_empty() || !source.pending_sends.is_empty()
            });
            if !source_active && self.inbox.is_none() && self.deferred.is_empty() {
                log::debug!("connector `{}`: nothing more to do, draining", self.id);
                return Ok(());
            }
            if let Some(control) = self.backlog.pop_front() {
                self.on_control(control).await?;
                continue;
            }
            if self.replacement.is_some() && self.is_quiet() {
                self.replace_instance().await?;
                continue;
            }
            match self.next_wake().await {
                Wake::Outcome(outcome) => self.on_outcome(outcome).await?,
                Wake::Control(control) => self.on_control(control).await?,
                Wake::Delivery(Some(delivery)) => self.deliver(delivery).await?,
                Wake::Delivery(None) => {
                    self.inbox = None;
                    self.upstream_finished().await;
                }
                Wake::Sent(Some(Err(id))) => self.on_outcome(Outcome { id, ok: false }).await?,
                Wake::Sent(_) => {}
                Wake::Shutdown => {
                    log::debug!("connector `{}`: shutting down, its source stops", self.id);
                    self.shutdown = None;
                    if let Some(source) = &mut self.source {
                        source.finished = true;
                    }
                }
                Wake::Pulled(reply) => self.on_pulled(reply).await?,
                Wake::Reload(Some(instance)) => {
                    log::info!(
                        "connector `{}`: a new build is loaded; restarting on it once no event is in flight",
                        self.id
                    );
                    self.replacement = Some(instance);
                }
                Wake::Reload(None) => self.reload = None,
                Wake::PullAgain => {
                    if let Some(source) = &mut self.source {
                        source.pull_again_at = None;
                    }
                }
            }
        }
    }

    /// Whether no event of this connector's is in flight: none of its
    /// source's events unanswered or waiting to be sent, none deferred by
    /// its sink.
    fn is_quiet(&self) -> bool {
        self.deferred.is_empty()
            && self
                .source
                .as_ref()
                .is_none_or(|s| s.in_flight.is_empty() && s.pending_sends.is_empty())
    }

    /// Stops the old instance and starts the replacement in its place, on
    /// the same links.
    async fn replace_instance(&mut self) -> Result<(), GaveUp> {
        let Some(replacement) = self.replacement.take() else {
            return Ok(());
        };
        self.lifecycle(LifecycleHook::Drain).await;
        self.lifecycle(LifecycleHook::Stop).await;
        self.instance = replacement;
        self.connect(Outage::NotCounted).await?;
        self.lifecycle(LifecycleHook::Start).await;
        if self
            .source
            .as_ref()
            .is_some_and(|s| !s.closed_sinks.is_empty())
        {
            self.lifecycle(LifecycleHook::Pause).await;
        }
        log::info!("connector `{}`: restarted on the new build", self.id);
        Ok(())
    }

    /// Waits for the first thing to do, in priority order.
    async fn next_wake(&mut self) -> Wake {
        let pull_id = self.source.as_ref().map_or(0, |s| s.next_pull_id);
        let swapping = self.replacement.is_some();
        let pulling = !swapping
            && self.source.as_ref().is_some_and(|s| {
                !s.finished
                    && s.closed_sinks.is_empty()
                    && s.pending_sends.is_empty()
                    && s.pull_again_at.is_none()
            });
        // A deadline, not a sleep: until it passes, the task answers
        // everything else.
        let pull_again_in = self
            .source
            .as_ref()
            .and_then(|s| s.pull_again_at)
            .map(|at| at.saturating_duration_since(Instant::now()));
        let Self {
            instance,
            caller,
            source,
            inbox,
            control,
            shutdown,
            reload,
            ..
        } = self;
        let (outcome, mut sent) = match source {
            Some(SourceSide {
                outcomes,
                pending_sends,
                ..
            }) => (
                outcomes.recv().fuse(),
                if pending_sends.is_empty() {
                    Fuse::terminated()
                } else {
                    pending_sends.next().fuse()
                },
            ),
            None => (Fuse::terminated(), Fuse::terminated()),
        };
        let mut outcome = pin!(outcome);
        let mut shutdown = pin!(match shutdown {
            Some(shutdown) => shutdown.recv().fuse(),
            None => Fuse::terminated(),
        });
        // While an instance waits to be replaced, new events wait in the
        // inbox: only the replacement gets them.
        let mut delivery = pin!(match inbox {
            Some(inbox) if !swapping => inbox.recv().fuse(),
            _ => Fuse::terminated(),
        });
        let mut reloaded = pin!(match reload {
            Some(reload) if !swapping => reload.recv().fuse(),
            _ => Fuse::terminated(),
        });
        let mut control = pin!(control.recv().fuse());
        let mut pull_again = pin!(match pull_again_in {
            Some(wait) => executor::sleep(wait).fuse(),
            None => Fuse::terminated(),
        });
        let mut pull = pin!(async {
            if pulling {
                caller.call("pull_data", instance.pull_data(pull_id)).await
            } else {
                std::future::pending().await
            }
        }
        .fuse());
        futures::select_biased! {
            received = outcome => match received {
                Ok(received) => Wake::Outcome(received),
                // Cannot happen: the source side holds a sender itself.
                Err(_) => Wake::Control(Control::ConnectionLost),
            },
            received = control => match received {
                Ok(received) => Wake::Control(received),
                // Cannot happen: the task holds a sender itself.
                Err(_) => Wake::Control(Control::ConnectionLost),
            },
            _ = shutdown => Wake::Shutdown,
            result = sent => Wake::Sent(result),
            received = delivery => Wake::Delivery(received.ok()),
            reply = pull => Wake::Pulled(reply),
            () = pull_again => Wake::PullAgain,
            instance = reloaded => Wake::Reload(instance.ok()),
        }
    }

    async fn on_pulled(&mut self, reply: Result<Pulled, Error>) -> Result<(), GaveUp> {
        let Some(source) = &mut self.source else {
            return Ok(());
        };
        let pull_id = source.next_pull_id;
        source.next_pull_id += 1;
        match reply {
            Ok(Pulled::Data { data, stream }) => self.emit(data, stream, pull_id).await,
            Ok(Pulled::Bytes { data, stream }) => match source.decode(data) {
                Ok(payload) => self.emit(payload, stream, pull_id).await,
                Err(problem) => {
                    if let Report::Now { left_out } = source.codec_errors.occurred(Instant::now()) {
                        let also = if left_out > 0 {
                            format!(" ({left_out} more dropped since the last report)")
                        } else {
                            String::new()
                        };
                        log::error!(
                            "connector `{}`: event {pull_id} on stream {stream} dropped by its codec: {problem}{also}",
                            self.id
                        );
                    }
                    self.settle(stream, pull_id, false).await
                }
            },
            Ok(Pulled::StreamStarted(stream)) => {
                log::debug!("connector `{}`: stream {stream} started", self.id);
                Ok(())
            }
            Ok(Pulled::StreamEnded(stream)) => {
                log::debug!("connector `{}`: stream {stream} ended", self.id);
                Ok(())
            }
            Ok(Pulled::Empty(wait_ms)) => {
                source.pull_again_at = Some(Instant::now() + Duration::from_millis(wait_ms));
                Ok(())
            }
            Ok(Pulled::Finished) => {
                source.finished = true;
                log::debug!("connector `{}`: source finished", self.id);
                Ok(())
            }
            Err(error) => self.failed("pull_data", &error).await,
        }
    }

    /// Sends one event to every linked sink.
    async fn emit(&mut self, data: Payload, stream: u64, pull_id: u64) -> Result<(), GaveUp> {
        let Some(source) = &mut self.source else {
            return Ok(());
        };
        let id = EventId {
            source: self.index,
            stream,
            pull_id,
        };
        let event = RuntimeEvent {
            id,
            ingest_ns: now_ns(),
            data,
        };
        source.in_flight.sent(pull_id, stream, source.outputs.len());
        let mut unreachable = Vec::new();
        let mut event = Some(event);
        let last = source.outputs.len().saturating_sub(1);
        for (i, output) in source.outputs.iter().enumerate() {
            let event = if i == last {
                event.take()
            } else {
                event.clone()
            };
            let Some(event) = event else { break };
            let delivery = Delivery {
                event,
                reply_to: source.outcomes_tx.clone(),
            };
            // Never wait here: the sink may be this very task (a connector
            // linked to itself). A full inbox gets a send that is driven
            // by the event loop, which stops pulling meanwhile.
            match output.try_send(delivery) {
                Ok(()) => {}
                Err(TrySendError::Full(delivery)) => {
                    let output = output.clone();
                    source.pending_sends.push(Box::pin(async move {
                        output.send(delivery).await.map_err(|_| id)
                    }));
                }
                Err(TrySendError::Closed(_)) => unreachable.push(i),
            }
        }
        // A sink that stopped gets no more events; a source with no sink
        // left stops pulling.
        for &i in unreachable.iter().rev() {
            source.outputs.remove(i);
        }
        if source.outputs.is_empty() && !source.finished {
            log::warn!(
                "connector `{}`: every connector it sends to has stopped; its source stops",
                self.id
            );
            source.finished = true;
        }
        for _ in unreachable {
            self.on_outcome(Outcome { id, ok: false }).await?;
        }
        Ok(())
    }

    /// Counts one sink's answer; acks or fails the event at the source once
    /// every sink has answered.
    async fn on_outcome(&mut self, outcome: Outcome) -> Result<(), GaveUp> {
        let Some(source) = &mut self.source else {
            return Ok(());
        };
        match source.in_flight.answered(outcome.id.pull_id, outcome.ok) {
            Some(Settled {
                stream,
                pull_id,
                ok,
            }) => self.settle(stream, pull_id, ok).await,
            None => Ok(()),
        }
    }

    /// Tells a transactional source that an event is done. An `ack` or
    /// `fail` that errors is retried after reconnecting, so that the source
    /// learns the outcome at least once.
    async fn settle(&mut self, stream: u64, pull_id: u64, ok: bool) -> Result<(), GaveUp> {
        if !self.source.as_ref().is_some_and(|s| s.transactional) {
            return Ok(());
        }
        let method = if ok { "ack" } else { "fail" };
        loop {
            let result = self
                .caller
                .call(method, self.instance.settle(stream, pull_id, ok))
                .await;
            match result {
                Ok(()) => return Ok(()),
                Err(error) => self.failed(method, &error).await?,
            }
        }
    }

    /// Acts on a message from the plugin or from a downstream sink.
    async fn on_control(&mut self, control: Control) -> Result<(), GaveUp> {
        match control {
            Control::TaskFailed(error) => self.failed(Culprit::SpawnedTask, &error).await,
            Control::Abandon => self.abandon().await,
            Control::ConnectionLost => {
                log::warn!("connector `{}`: connection lost, reconnecting", self.id);
                self.count_failure()?;
                self.connect(Outage::Counted).await
            }
            Control::Reply { id, ok } => {
                self.answer_deferred(id, ok).await;
                Ok(())
            }
            Control::Circuit { open } => {
                for source in &self.upstream {
                    let message = Control::Downstream {
                        sink: self.index,
                        open,
                    };
                    // A source that ended needs no pause.
                    let _ = source.send(message).await;
                }
                Ok(())
            }
            Control::Downstream { sink, open } => {
                let Some(source) = &mut self.source else {
                    return Ok(());
                };
                let was_paused = !source.closed_sinks.is_empty();
                if open {
                    source.closed_sinks.remove(&sink);
                } else {
                    source.closed_sinks.insert(sink);
                }
                match (was_paused, source.closed_sinks.is_empty()) {
                    (false, false) => self.lifecycle(LifecycleHook::Pause).await,
                    (true, true) => self.lifecycle(LifecycleHook::Resume).await,
                    _ => {}
                }
                Ok(())
            }
        }
    }

    /// Gives up on every event in flight: a source fails its own back (a
    /// transactional one is told `fail`, so that it can redeliver them
    /// later), a sink fails back what it deferred or has waiting, and
    /// the connector stops taking events.
    async fn abandon(&mut self) -> Result<(), GaveUp> {
        if let Some(source) = &mut self.source {
            source.finished = true;
            source.pending_sends = FuturesUnordered::new();
            let in_flight = source.in_flight.abandon();
            if !in_flight.is_empty() {
                log::warn!(
                    "connector `{}`: failing back {} events in flight, which the drain could not finish",
                    self.id,
                    in_flight.len()
                );
            }
            for Settled {
                stream,
                pull_id,
                ok,
            } in in_flight
            {
                self.settle(stream, pull_id, ok).await?;
            }
        }
        self.fail_back_deferred().await;
        self.fail_back_inbox().await;
        Ok(())
    }

    /// Passes the plugin's answer to a deferred event on to its source.
    async fn answer_deferred(&mut self, id: EventId, ok: bool) {
        match self.deferred.remove(&id) {
            // The source may have given up; its outcome is moot then.
            Some(reply_to) => drop(reply_to.send(Outcome { id, ok }).await),
            None => log::warn!(
                "connector `{}`: reply for event {id:?}, which it did not defer; ignored",
                self.id
            ),
        }
    }

    /// Hands one event to the sink side and reports the outcome back, now
    /// or (for a deferred reply) when the plugin answers.
    async fn deliver(&mut self, delivery: Delivery) -> Result<(), GaveUp> {
        let Delivery { event, reply_to } = delivery;
        let id = event.id;
        let result = self
            .caller
            .call("on_event", self.instance.on_event(event))
            .await;
        let ok = match result {
            Ok(SinkReply::Deferred) => {
                self.deferred.insert(id, reply_to);
                return Ok(());
            }
            Ok(SinkReply::Ack) => true,
            Ok(SinkReply::Fail) | Err(_) => false,
        };
        // The source may have ended after giving up; its outcome is moot then.
        let _ = reply_to.send(Outcome { id, ok }).await;
        match result {
            Err(error) => self.failed("on_event", &error).await,
            Ok(_) => Ok(()),
        }
    }

    /// A method or a task of the connector failed:
    /// report it, fail back the events the sink deferred, and reconnect
    /// the connector.
    async fn failed(&mut self, what: impl Into<Culprit<'_>>, error: &Error) -> Result<(), GaveUp> {
        let what = what.into();
        log::error!(
            "connector `{}`: {what} failed: {}",
            self.id,
            error.message()
        );
        self.count_failure()?;
        self.fail_back_deferred().await;
        self.connect(Outage::Counted).await
    }

    /// Counts one failure against the connector's budget.
    fn count_failure(&mut self) -> Result<(), GaveUp> {
        self.failures.record(Instant::now()).map_err(|spent| {
            let gave_up = GaveUp {
                id: self.id.clone(),
                message: format!("{spent}; stopped, the rest of the flow goes on"),
            };
            log::error!("{gave_up}");
            gave_up
        })
    }

    /// Connects, retrying with exponential backoff (see [`Backoff`]) until
    /// it succeeds. The whole outage is one failure
    /// against the budget: the failure that started it, or else the first
    /// failed attempt; a server that stays down for minutes does not stop
    /// the connector. A `connect` that panics counts every time.
    async fn connect(&mut self, mut outage: Outage) -> Result<(), GaveUp> {
        let mut backoff = Backoff::default();
        let mut since_success = 0;
        loop {
            since_success += 1;
            self.attempts += 1;
            let attempt = Attempt {
                overall: self.attempts,
                since_success,
            };
            let connected = self
                .caller
                .call("connect", self.instance.connect(attempt))
                .await;
            let (problem, defect) = match connected {
                Ok(true) => return Ok(()),
                Ok(false) => (String::from("not connected yet"), false),
                Err(error) => (error.message().to_owned(), error.kind() == ErrorKind::Panic),
            };
            log::warn!(
                "connector `{}`: connect attempt {since_success} failed: {problem}",
                self.id
            );
            // A panic is a defect of the connector, not an outage of what
            // it connects to: each one counts.
            if outage == Outage::NotCounted || defect {
                self.count_failure()?;
                outage = Outage::Counted;
            }
            executor::sleep(backoff.next_wait()).await;
        }
    }

    /// Tells the sink side that no more events will arrive; a failure is
    /// reported, not fatal.
    async fn upstream_finished(&mut self) {
        log::debug!(
            "connector `{}`: every upstream connector has finished",
            self.id
        );
        let finished = self
            .caller
            .call("on_upstream_finished", self.instance.upstream_finished())
            .await;
        if let Err(error) = finished {
            log::error!(
                "connector `{}`: `on_upstream_finished` failed: {}",
                self.id,
                error.message()
            );
        }
    }

    /// Calls a lifecycle hook; a failure is reported, not fatal.
    async fn lifecycle(&mut self, hook: LifecycleHook) {
        let called = self
            .caller
            .call(hook.method_name(), self.instance.lifecycle(hook))
            .await;
        if let Err(error) = called {
            log::error!(
                "connector `{}`: `{}` failed: {}",
                self.id,
                hook.method_name(),
                error.message()
            );
        }
    }
}

/// Tells the source of event `id`, through `reply_to`, that it failed.
async fn fail_back(reply_to: &Sender<Outcome>, id: EventId) {
    // The source may have ended; its outcome is moot then.
    let _ = reply_to.send(Outcome { id, ok: false }).await;
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
