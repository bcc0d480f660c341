//! `/status` and `/health`: every flow and connector with its state, last
//! error and counts, and whether all of them are well.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::metrics::Counts;
use super::state::{FlowState, State};
use super::{FlowRecord, Observed};

/// Every flow the runtime runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// Whether a flow runs and every connector is healthy (see
    /// [`State::is_healthy`]).
    pub healthy: bool,
    /// The flows, in the order they started.
    pub flows: Vec<FlowStatus>,
}

/// One flow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlowStatus {
    /// Its name (its file's stem).
    pub name: String,
    /// Its flow file.
    #[serde(default)]
    pub file: String,
    /// Where it stands.
    pub state: FlowState,
    /// For how long, in seconds.
    #[serde(default)]
    pub state_seconds: f64,
    /// Why it failed, if it did.
    #[serde(default)]
    pub error: Option<String>,
    /// Why the last change of its file was refused (it runs on as it
    /// was).
    #[serde(default)]
    pub rejected: Option<String>,
    /// How many times it has started.
    #[serde(default)]
    pub starts: u64,
    /// Its connectors, in the order of the flow file.
    pub connectors: Vec<ConnectorStatus>,
}

/// One connector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectorStatus {
    /// Its id in the flow.
    pub id: String,
    /// Its connector type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The package that provides its type.
    pub plugin: String,
    /// Where it stands.
    pub state: State,
    /// For how long, in seconds.
    pub state_seconds: f64,
    /// Its last failure, if it failed since it started.
    pub last_error: Option<String>,
    /// Events waiting in its sink inbox.
    pub queue_depth: usize,
    /// Whether it runs in a process of its own (`isolation = "process"`).
    #[serde(default)]
    pub isolated: bool,
    /// That process's id, while one runs.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Its counts.
    #[serde(flatten)]
    pub counts: Counts,
}

impl Status {
    /// The status of `flows` and their `connectors`.
    pub(super) fn of(records: &[FlowRecord], connectors: &[Observed]) -> Self {
        let mut flows: Vec<FlowStatus> = records
            .iter()
            .map(|record| FlowStatus {
                name: record.name.clone(),
                file: record.file.clone(),
                state: record.state,
                state_seconds: round_ms(record.since.elapsed()),
                error: record.error.clone(),
                rejected: record.rejected.clone(),
                starts: record.starts,
                connectors: Vec::new(),
            })
            .collect();
        for connector in connectors {
            let status = ConnectorStatus {
                id: connector.id.clone(),
                kind: connector.kind.clone(),
                plugin: connector.plugin.clone(),
                state: connector.activity.state(),
                state_seconds: round_ms(connector.activity.state_since().elapsed()),
                last_error: connector.activity.last_error(),
                queue_depth: connector.queue_depth(),
                isolated: connector.isolated.is_some(),
                pid: connector
                    .isolated
                    .as_ref()
                    .and_then(crate::isolation::ChildPid::get),
                counts: connector.metrics.counts(),
            };
            match flows.iter_mut().find(|flow| flow.name == connector.flow) {
                Some(flow) => flow.connectors.push(status),
                None => flows.push(FlowStatus {
                    name: connector.flow.clone(),
                    file: String::new(),
                    state: FlowState::Running,
                    state_seconds: 0.0,
                    error: None,
                    rejected: None,
                    starts: 1,
                    connectors: vec![status],
                }),
            }
        }
        let healthy = !flows.is_empty()
            && flows.iter().all(|flow| flow.state != FlowState::Failed)
            && flows
                .iter()
                .flat_map(|flow| &flow.connectors)
                .all(|connector| connector.state.is_healthy());
        Self { healthy, flows }
    }

    /// Whether every connector is well, and if not, why.
    #[must_use]
    pub fn health(&self) -> Health {
        if self.flows.is_empty() {
            return Health::Unwell(vec![String::from(
                "no flow runs yet: its connectors are being created",
            )]);
        }
        let failed = self
            .flows
            .iter()
            .filter(|flow| flow.state == FlowState::Failed)
            .map(|flow| {
                let why = flow
                    .error
                    .as_deref()
                    .map_or(String::new(), |error| format!(": {error}"));
                format!("flow `{}` failed{why}", flow.name)
            });
        let unwell: Vec<String> = failed
            .chain(
                self.flows
                    .iter()
                    .flat_map(|flow| flow.connectors.iter().map(move |c| (flow, c)))
                    .filter(|(_, connector)| !connector.state.is_healthy())
                    .map(|(flow, connector)| {
                        let why = connector
                            .last_error
                            .as_deref()
                            .map_or(String::new(), |error| format!(": {error}"));
                        format!(
                            "flow `{}`: connector `{}` is {}{why}",
                            flow.name,
                            connector.id,
                            connector.state.name()
                        )
                    }),
            )
            .collect();
        if unwell.is_empty() {
            Health::Well
        } else {
            Health::Unwell(unwell)
        }
    }
}

/// What `/health` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Every connector is running or has finished.
    Well,
    /// These connectors are not, each with why.
    Unwell(Vec<String>),
}

/// Seconds, to the millisecond.
fn round_ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::watchdog::Caller;
    use crate::logging::Tag;
    use crate::observe::Metrics;

    fn observed(id: &str, state: State, error: Option<&str>) -> Observed {
        let tag = Tag::new("pdk-test", id);
        let activity = Caller::new(id, tag.clone()).activity();
        activity.set_state(state);
        if let Some(error) = error {
            activity.set_last_error(error.to_owned());
        }
        Observed {
            flow: String::from("f"),
            id: id.to_owned(),
            kind: String::from("probe"),
            plugin: String::from("pdk-test"),
            activity,
            tag,
            metrics: Metrics::default().connector(&Vec::new()),
            inbox: None,
            isolated: None,
        }
    }

    #[test]
    fn no_flow_yet_is_not_healthy() {
        let status = Status::of(&[], &[]);
        assert!(!status.healthy);
        assert!(
            matches!(status.health(), Health::Unwell(why) if why[0].starts_with("no flow runs yet"))
        );
    }

    #[test]
    fn running_paused_draining_and_stopped_connectors_are_healthy() {
        let connectors: Vec<Observed> = [
            State::Running,
            State::Paused,
            State::Draining,
            State::Stopped,
        ]
        .into_iter()
        .enumerate()
        .map(|(i, state)| observed(&format!("c{i}"), state, None))
        .collect();
        let status = Status::of(&[], &connectors);
        assert!(status.healthy);
        assert_eq!(status.health(), Health::Well);
    }

    #[test]
    fn every_unwell_connector_is_named_with_its_state_and_last_error() {
        let connectors = [
            observed("up", State::Running, Some("recovered from this")),
            observed("down", State::Reconnecting, Some("cannot connect")),
            observed("gone", State::Failed, None),
        ];
        let status = Status::of(&[], &connectors);
        assert!(!status.healthy);
        assert_eq!(
            status.health(),
            Health::Unwell(vec![
                String::from("flow `f`: connector `down` is reconnecting: cannot connect"),
                String::from("flow `f`: connector `gone` is failed"),
            ])
        );
        assert_eq!(status.flows.len(), 1);
        assert_eq!(
            status.flows[0].connectors[0].last_error.as_deref(),
            Some("recovered from this")
        );
    }
}
