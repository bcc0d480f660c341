//! Seeing what runs: every connector's state and metrics, kept by its
//! task and read by the runtime's HTTP endpoint (`--api`): `/metrics`
//! (Prometheus), `/health` and `/status`.

mod api;
mod metrics;
mod plugin;
mod state;
mod status;
mod top;

use std::sync::{Arc, Mutex, PoisonError};

use async_channel::WeakReceiver;

pub use api::{parse_address, serve, ApiError, Endpoint};
pub use metrics::{ConnectorMetrics, Labels, Metrics};
pub use plugin::ConnectorFamilies;
pub use state::{FlowState, State};
pub use status::{Health, Status};
pub use top::{fetch, Rates};

use crate::flow::task::Delivery;
use crate::flow::watchdog::Activity;
use crate::logging::Tag;
use metrics::Shown;

/// What the runtime shows of its flows. Cloning it is one reference
/// count; every clone sees the same connectors.
#[derive(Clone, Default)]
pub struct Observer(Arc<Inner>);

#[derive(Default)]
struct Inner {
    metrics: Metrics,
    flows: Mutex<Vec<FlowRecord>>,
    connectors: Mutex<Vec<Observed>>,
}

/// A flow as the observer sees it, beside its connectors.
#[derive(Debug, Clone)]
pub struct FlowRecord {
    /// Its name.
    pub name: String,
    /// Its flow file.
    pub file: String,
    /// Where it stands.
    pub state: FlowState,
    /// Since when.
    pub since: std::time::Instant,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Why the last change of its file was refused (the flow runs on as
    /// it was), until a change is accepted.
    pub rejected: Option<String>,
    /// How many times it has started.
    pub starts: u64,
}

/// One connector as the observer sees it.
pub struct Observed {
    /// The flow it belongs to.
    pub flow: String,
    /// Its id in the flow.
    pub id: String,
    /// Its connector type.
    pub kind: String,
    /// The package that provides its type.
    pub plugin: String,
    /// Its state and last error.
    pub activity: Arc<Activity>,
    /// Its log tag, which counts the watchdog's reports.
    pub tag: Tag,
    /// Its counters.
    pub metrics: ConnectorMetrics,
    /// Its sink inbox, if it has one, without keeping it open.
    pub inbox: Option<WeakReceiver<Delivery>>,
    /// With `isolation = "process"`: its process.
    pub isolated: Option<crate::isolation::ChildPid>,
}

impl Observer {
    /// The labels and metric handles of connector `id` of flow `flow`.
    #[must_use]
    pub(crate) fn metrics_for(
        &self,
        flow: &str,
        id: &str,
        kind: &str,
        plugin: &str,
    ) -> ConnectorMetrics {
        self.0.metrics.connector(&labels(flow, id, kind, plugin))
    }

    /// Where connector `id` of flow `flow`, of type `kind` from package
    /// `plugin`, registers the metrics its plugin defines (what its
    /// runtime handle does when the plugin asks).
    #[must_use]
    pub fn plugin_metrics_for(
        &self,
        flow: &str,
        id: &str,
        kind: &str,
        plugin: &str,
    ) -> ConnectorFamilies {
        self.0.metrics.plugin(&labels(flow, id, kind, plugin))
    }

    /// Shows `connector` from now on.
    pub(crate) fn add(&self, connector: Observed) {
        self.connectors().push(connector);
    }

    /// Records that flow `name` (from `file`) is now in `state`, with
    /// `error` when it failed; a flow starting again counts one more
    /// start, and shows its new connectors in place of the old.
    pub fn flow_state(&self, name: &str, file: &str, state: FlowState, error: Option<String>) {
        if state == FlowState::Starting {
            self.connectors().retain(|connector| connector.flow != name);
        }
        let mut flows = self.flows();
        let index = match flows.iter().position(|flow| flow.name == name) {
            Some(index) => index,
            None => {
                flows.push(FlowRecord {
                    name: name.to_owned(),
                    file: file.to_owned(),
                    state,
                    since: std::time::Instant::now(),
                    error: None,
                    rejected: None,
                    starts: 0,
                });
                flows.len() - 1
            }
        };
        let flow = &mut flows[index];
        if state == FlowState::Starting {
            flow.starts += 1;
            flow.rejected = None;
            flow.file = file.to_owned();
        }
        if flow.state != state {
            flow.since = std::time::Instant::now();
        }
        flow.state = state;
        flow.error = error;
    }

    /// Records that a change of flow `name`'s file was refused for
    /// `why`; the flow runs on as it was.
    pub fn flow_rejected(&self, name: &str, file: &str, why: String) {
        let mut flows = self.flows();
        match flows.iter_mut().find(|flow| flow.name == name) {
            Some(flow) => flow.rejected = Some(why),
            None => flows.push(FlowRecord {
                name: name.to_owned(),
                file: file.to_owned(),
                state: FlowState::Failed,
                since: std::time::Instant::now(),
                error: Some(why),
                rejected: None,
                starts: 0,
            }),
        }
    }

    /// Shows flow `name`, its connectors and their metrics no more.
    pub fn remove_flow(&self, name: &str) {
        self.connectors().retain(|connector| {
            let keep = connector.flow != name;
            if !keep {
                self.0.metrics.forget(&labels(
                    &connector.flow,
                    &connector.id,
                    &connector.kind,
                    &connector.plugin,
                ));
            }
            keep
        });
        self.flows().retain(|flow| flow.name != name);
    }

    fn flows(&self) -> std::sync::MutexGuard<'_, Vec<FlowRecord>> {
        self.0.flows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn connectors(&self) -> std::sync::MutexGuard<'_, Vec<Observed>> {
        self.0
            .connectors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The metrics in Prometheus's text format.
    #[must_use]
    pub fn exposition(&self) -> String {
        for connector in self.connectors().iter() {
            let labels = labels(
                &connector.flow,
                &connector.id,
                &connector.kind,
                &connector.plugin,
            );
            self.0.metrics.refresh(
                &labels,
                &Shown {
                    state: connector.activity.state(),
                    state_for: connector.activity.state_since().elapsed(),
                    queue_depth: connector.queue_depth(),
                    watchdog_reports: connector.tag.watchdog_reports(),
                },
            );
        }
        self.0.metrics.exposition()
    }

    /// Every flow and connector, with its state and counts.
    #[must_use]
    pub fn status(&self) -> Status {
        Status::of(&self.flows(), &self.connectors())
    }
}

impl Observed {
    /// Events waiting in its sink inbox.
    #[must_use]
    pub fn queue_depth(&self) -> usize {
        self.inbox
            .as_ref()
            .and_then(WeakReceiver::upgrade)
            .map_or(0, |inbox| inbox.len())
    }
}

fn labels(flow: &str, id: &str, kind: &str, plugin: &str) -> Labels {
    vec![
        ("flow", flow.to_owned()),
        ("connector", id.to_owned()),
        ("type", kind.to_owned()),
        ("plugin", plugin.to_owned()),
    ]
}
