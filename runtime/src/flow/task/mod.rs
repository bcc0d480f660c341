//! One task per connector instance: it owns the plugin object and makes
//! every call on it, one at a time, choosing among acknowledgements coming
//! back, events arriving for the sink side, "connection lost" reports and
//! pulling from the source side.

use std::collections::VecDeque;
use std::sync::Arc;

use async_channel::{Receiver, Sender};
use pdk::abi::connector::LifecycleHook;
use pdk::{Error, EventId};

use super::handle::Connection;
use super::instance::Instance;
use super::restart::RestartPolicy;
use super::restartable::Replacement;
use super::watchdog::{Activity, Caller};
use crate::logging::Tag;
use crate::observe::{ConnectorMetrics, Observed, State};

mod held;
mod listening;
mod sink;
mod source;
mod supervision;
mod wake;

use held::Held;
use listening::Listening;
pub use sink::{Delivery, Outcome, OutcomeSender, SinkSide};
pub use source::SourceSide;
pub use supervision::GaveUp;
use supervision::{Culprit, Halt, Supervision};
use wake::Wake;

/// What the plugin (through its runtime handle) or other tasks tell a
/// connector's task.
#[derive(Debug, Clone)]
pub enum Control {
    /// A task the connector spawned failed (it panicked): a failure of the
    /// connector.
    TaskFailed(Error),
    /// The plugin lost its connection.
    ConnectionLost {
        /// The connection it lost (see [`Connection`]): a report about
        /// one that has been replaced since is ignored.
        connection: u64,
    },
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
    /// An operator pauses (`true`) or resumes (`false`) the source side,
    /// as a closed circuit of a sink would.
    Hold {
        /// Paused or resumed.
        held: bool,
    },
    /// A sink this source sends to closed or opened its circuit.
    Downstream {
        /// The sink's index in the flow.
        sink: u64,
        /// Open or closed.
        open: bool,
    },
}

/// What holds a source back when an operator paused it, beside the
/// indices of the sinks whose circuit is closed: no sink has this index.
const OPERATOR_HOLD: u64 = u64::MAX;

/// One connector instance and everything its task needs.
pub struct ConnectorTask {
    /// The connector's id in the flow.
    pub id: String,
    /// Its number in the flow, stamped into its events' ids.
    pub index: u64,
    /// The connector instance, and the pull it may have under way.
    held: Held,
    /// Makes the calls into the connector, tagged and watched.
    caller: Caller,
    /// The source side, if it has one in this flow.
    pub source: Option<SourceSide>,
    /// The sink side: its inbox, if any connector links to it.
    pub sink: SinkSide,
    /// What else wakes the task: control messages, the shutdown, new
    /// builds.
    inputs: Inputs,
    /// Connecting, failing and being replaced.
    supervision: Supervision,
    /// What it counts, for the runtime's metrics and status.
    metrics: ConnectorMetrics,
    /// Its sink side was just handed an event: its source side has the
    /// next turn if it has an event ready (see [`Self::next_wake`]).
    pull_owed: bool,
}

/// What wakes a task besides its sides' traffic.
struct Inputs {
    /// Messages from the plugin's runtime handle and from other tasks.
    control: Listening<Control>,
    /// A sender of `control`, kept so that it is never closed.
    control_tx: Sender<Control>,
    /// Control messages taken from `control` early (while looking for
    /// replies), handled before anything else.
    backlog: VecDeque<Control>,
    /// Closed when the runtime shuts down.
    signal: Option<Listening<()>>,
    /// Whether the event loop has seen the shutdown.
    shutdown_seen: bool,
    /// New instances: new builds of the plugin (`run --watch`), an
    /// operator's restart.
    reload: Option<Listening<Replacement>>,
}

impl ConnectorTask {
    /// A task for `instance`, whose context stamps lost connections with
    /// `connection`, counting into `metrics`.
    #[must_use]
    #[allow(clippy::too_many_arguments)] // Each is one part of the task; a struct of them would only rename them.
    pub fn new(
        id: String,
        index: u64,
        instance: Instance,
        tag: Tag,
        restart: RestartPolicy,
        control: (Sender<Control>, Receiver<Control>),
        connection: Connection,
        metrics: ConnectorMetrics,
    ) -> Self {
        let caller = Caller::new(&id, tag);
        Self {
            held: Held::new(instance, caller.clone()),
            caller,
            id,
            index,
            source: None,
            sink: SinkSide::default(),
            inputs: Inputs {
                control: control.1.into(),
                control_tx: control.0,
                backlog: VecDeque::new(),
                signal: None,
                shutdown_seen: false,
                reload: None,
            },
            supervision: Supervision::new(restart, connection),
            metrics,
            pull_owed: false,
        }
    }

    /// Makes the source side stop pulling when `shutdown` closes, and a
    /// connector that is not connected then stop at once.
    pub fn stop_on(&mut self, shutdown: Receiver<()>) {
        self.inputs.signal = Some(shutdown.into());
    }

    /// Makes the task replace its instance with each one `reload` yields,
    /// once the old one has no event in flight.
    pub fn reload_on(&mut self, reload: Receiver<Replacement>) {
        self.inputs.reload = Some(reload.into());
    }

    /// What the connector is doing, as the watchdog sees it.
    #[must_use]
    pub fn activity(&self) -> Arc<Activity> {
        self.caller.activity()
    }

    /// The connector as the observer shows it: `kind` from `plugin`, in
    /// flow `flow`.
    #[must_use]
    pub fn observed(
        &self,
        flow: &str,
        kind: &str,
        plugin: &str,
        isolated: Option<crate::isolation::ChildPid>,
    ) -> Observed {
        Observed {
            flow: flow.to_owned(),
            id: self.id.clone(),
            kind: kind.to_owned(),
            plugin: plugin.to_owned(),
            activity: self.activity(),
            tag: self.caller.tag().clone(),
            metrics: self.metrics.clone(),
            inbox: self.sink.inbox.as_ref().map(Receiver::downgrade),
            isolated,
        }
    }

    /// A sender to this task's control channel.
    #[must_use]
    pub fn control_sender(&self) -> Sender<Control> {
        self.inputs.control_tx.clone()
    }

    /// Drives the connector until its source has finished with every event
    /// answered and no more events can reach its sink side.
    ///
    /// # Errors
    /// When the connector spent its failure budget, or failed in a way
    /// that retrying cannot mend; then every event it held or had waiting
    /// for it has been failed back to its source.
    pub async fn run(mut self) -> Result<(), GaveUp> {
        let activity = self.activity();
        let result = self.run_to_end().await;
        activity.set_state(if result.is_ok() {
            State::Stopped
        } else {
            State::Failed
        });
        activity.finish();
        result
    }

    /// [`Self::run`], up to the end of the task.
    async fn run_to_end(&mut self) -> Result<(), GaveUp> {
        let result = match self.connect().await {
            Ok(()) => {
                self.lifecycle(LifecycleHook::START).await;
                let result = self.event_loop().await;
                if result.is_ok() {
                    self.report_left_out_codec_errors();
                    self.drain().await;
                    self.lifecycle(LifecycleHook::STOP).await;
                }
                result
            }
            Err(halt) => Err(halt),
        };
        match result {
            Ok(()) => Ok(()),
            Err(halt) => {
                self.abandon_after(&halt).await;
                match halt {
                    Halt::GaveUp(gave_up) => Err(gave_up),
                    Halt::Shutdown => Ok(()),
                }
            }
        }
    }

    /// After the connector was given up, or the runtime shut down while
    /// it was not connected: fails back everything it held or had
    /// waiting for it.
    async fn abandon_after(&mut self, halt: &Halt) {
        if matches!(halt, Halt::Shutdown) {
            log::info!(
                "connector `{}`: not connected when the runtime shut down; stopped without draining",
                self.id
            );
            if let Some(source) = &mut self.source {
                let in_flight = source.in_flight.abandon();
                if !in_flight.is_empty() {
                    log::warn!(
                        "connector `{}`: {} events of its source were in flight; a \
                         transactional source delivers them again when it runs next",
                        self.id,
                        in_flight.len()
                    );
                }
            }
        }
        self.fail_back_deferred().await;
        self.fail_back_inbox().await;
    }

    async fn event_loop(&mut self) -> Result<(), Halt> {
        loop {
            let source_active = self.source.as_mut().is_some_and(|source| {
                if source.finished && source.pending_sends.is_empty() {
                    // Nothing more will be sent: let the sinks see the end,
                    // so that a sink holding deferred answers flushes them
                    // now instead of on its own timer.
                    source.outputs.clear();
                }
                // Outcomes that waited for a pull are still to be told
                // to the source.
                !source.finished
                    || !source.in_flight.is_empty()
                    || !source.pending_sends.is_empty()
                    || !source.unsettled.is_empty()
            });
            if !source_active && self.sink.inbox.is_none() {
                if self.sink.deferred.is_empty() {
                    log::debug!("connector `{}`: nothing more to do, draining", self.id);
                    return Ok(());
                }
                // No more events will come: a sink that holds a partial
                // batch flushes it now rather than on its own timer.
                self.drain().await;
            }
            if self.supervision.drained {
                self.caller.activity().set_holding(
                    self.sink.deferred.len(),
                    self.source.as_ref().map_or(0, |s| s.in_flight.len()),
                );
            }
            if let Some(reply) = self.held.take_completed() {
                self.on_pulled(reply).await?;
                continue;
            }
            if !self.held.is_pulling() && self.has_unsettled() {
                self.settle_waiting().await?;
                continue;
            }
            if let Some(control) = self.inputs.backlog.pop_front() {
                self.on_control(control).await?;
                continue;
            }
            if self.supervision.replacement.is_some() && self.is_quiet() {
                self.replace_instance().await?;
                continue;
            }
            match self.next_wake().await {
                Wake::Outcome(outcome) => self.on_outcomes(outcome).await?,
                Wake::Control(control) => self.on_control(control).await?,
                Wake::Delivery(Some(delivery)) => {
                    self.pull_owed = self.source.is_some();
                    self.deliver(delivery).await?;
                }
                Wake::Delivery(None) => {
                    self.sink.inbox = None;
                    self.upstream_finished().await;
                }
                Wake::Sent(Some(Err(id))) => self.on_outcome(Outcome { id, ok: false }).await?,
                Wake::Sent(_) => {}
                Wake::Shutdown => {
                    log::debug!("connector `{}`: shutting down, its source stops", self.id);
                    self.inputs.shutdown_seen = true;
                    // The source stops: a pull under way is given up (a
                    // reply it had already is still handled).
                    self.held.get().await;
                    if let Some(source) = &mut self.source {
                        source.finished = true;
                    }
                }
                Wake::Pulled(reply) => self.on_pulled(reply).await?,
                Wake::Reload(Some(replacement)) => {
                    log::info!(
                        "connector `{}`: restarting on {} once no event is in flight",
                        self.id,
                        replacement.reason
                    );
                    self.supervision.replacement = Some(replacement);
                }
                Wake::Reload(None) => self.inputs.reload = None,
                Wake::SettleDue => self.settle_waiting().await?,
                Wake::PullAgain => {
                    if let Some(source) = &mut self.source {
                        source.pull_again_at = None;
                    }
                }
            }
        }
    }

    /// Calls the instance's `on_drain`, once: as soon as no more events
    /// will come, before the task waits for the answers its sink deferred.
    async fn drain(&mut self) {
        if !self.supervision.drained {
            self.supervision.drained = true;
            self.caller.activity().set_state(State::Draining);
            self.lifecycle(LifecycleHook::DRAIN).await;
        }
    }

    /// Whether no event of this connector's is in flight: none of its
    /// source's events unanswered or waiting to be sent, none deferred by
    /// its sink.
    fn is_quiet(&self) -> bool {
        self.sink.deferred.is_empty()
            && self
                .source
                .as_ref()
                .is_none_or(|s| s.in_flight.is_empty() && s.pending_sends.is_empty())
    }

    /// Stops the old instance and starts the replacement in its place, on
    /// the same links.
    async fn replace_instance(&mut self) -> Result<(), Halt> {
        let Some(replacement) = self.supervision.replacement.take() else {
            return Ok(());
        };
        self.drain().await;
        self.lifecycle(LifecycleHook::STOP).await;
        let reason = replacement.reason;
        self.held.replace(replacement.instance).await;
        self.supervision.drained = false;
        self.connect().await?;
        self.lifecycle(LifecycleHook::START).await;
        if self
            .source
            .as_ref()
            .is_some_and(|s| !s.closed_sinks.is_empty())
        {
            self.lifecycle(LifecycleHook::PAUSE).await;
        }
        log::info!("connector `{}`: restarted on {reason}", self.id);
        Ok(())
    }

    /// Acts on a message from the plugin or from a downstream sink.
    async fn on_control(&mut self, control: Control) -> Result<(), Halt> {
        match control {
            Control::TaskFailed(error) => self.failed(Culprit::SpawnedTask, &error).await,
            Control::Abandon => self.abandon().await,
            Control::ConnectionLost { connection }
                if connection != self.supervision.connection.current() =>
            {
                log::debug!(
                    "connector `{}`: a lost connection reported for a connection replaced since; ignored",
                    self.id
                );
                Ok(())
            }
            Control::ConnectionLost { .. } => {
                let lost = Error::connection_lost("reconnecting");
                self.failed(Culprit::LostConnection, &lost).await
            }
            Control::Reply { id, ok } => {
                self.answer_deferred(id, ok).await;
                Ok(())
            }
            Control::Circuit { open } => {
                for source in &self.sink.upstream {
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
                self.hold_source(sink, open).await;
                Ok(())
            }
            Control::Hold { held } => {
                log::info!(
                    "connector `{}`: {} by an operator",
                    self.id,
                    if held { "paused" } else { "resumed" }
                );
                self.hold_source(OPERATOR_HOLD, !held).await;
                Ok(())
            }
        }
    }

    /// Records that `holder` (a sink's index, or [`OPERATOR_HOLD`]) holds
    /// the source back (`open` false) or lets it go; the source pauses
    /// while anything holds it.
    async fn hold_source(&mut self, holder: u64, open: bool) {
        let Some(source) = &mut self.source else {
            return;
        };
        let was_paused = !source.closed_sinks.is_empty();
        if open {
            source.closed_sinks.remove(&holder);
        } else {
            source.closed_sinks.insert(holder);
        }
        match (was_paused, source.closed_sinks.is_empty()) {
            (false, false) => {
                self.caller.activity().set_state(State::Paused);
                self.lifecycle(LifecycleHook::PAUSE).await;
            }
            (true, true) => {
                self.caller.activity().set_state(State::Running);
                self.lifecycle(LifecycleHook::RESUME).await;
            }
            _ => {}
        }
    }
}
