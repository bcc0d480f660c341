//! Where a connector stands: the state `/status`, `/health` and the
//! `pdk_connector_state` metric show, and the drain's report names.

use serde::{Deserialize, Serialize};

/// A connector's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum State {
    /// Calling `connect`.
    Connecting = 0,
    /// Waiting out the backoff before it connects again, after a failed
    /// attempt or a failure while it ran.
    Reconnecting = 1,
    /// Connected and taking events.
    Running = 2,
    /// Connected, its source paused because a sink it sends to closed
    /// its circuit.
    Paused = 3,
    /// No more events will come; it finishes what it holds.
    Draining = 4,
    /// Given up: its failure budget is spent, or its configuration must
    /// change. The rest of the flow goes on.
    Failed = 5,
    /// Ended: its source finished, or the runtime shut down.
    Stopped = 6,
}

impl State {
    /// Every state, in the order of their codes.
    pub const ALL: [Self; 7] = [
        Self::Connecting,
        Self::Reconnecting,
        Self::Running,
        Self::Paused,
        Self::Draining,
        Self::Failed,
        Self::Stopped,
    ];

    /// The state of code `code` (as stored by [`Self::code`]).
    #[must_use]
    pub fn from_code(code: u8) -> Self {
        Self::ALL
            .get(usize::from(code))
            .copied()
            .unwrap_or(Self::Failed)
    }

    /// Its code, for an atomic.
    #[must_use]
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Its name, as `/status` and the metrics' `state` label show it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Reconnecting => "reconnecting",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Draining => "draining",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
        }
    }

    /// Whether a connector in this state counts as healthy: running (a
    /// paused one is running, held back by its sink), finishing what it
    /// holds, or ended.
    #[must_use]
    pub fn is_healthy(self) -> bool {
        matches!(
            self,
            Self::Running | Self::Paused | Self::Draining | Self::Stopped
        )
    }
}

/// A flow's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowState {
    /// Its connectors are being created.
    Starting,
    /// Its connectors run.
    Running,
    /// Asked to stop (removed, replaced or the runtime shuts down): its
    /// sources stopped, it finishes what is in flight.
    Draining,
    /// Ended: its sources finished, or it was stopped.
    Stopped,
    /// It could not start, or a connector of it was given up.
    Failed,
}

impl FlowState {
    /// Its name, as `/status` shows it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Draining => "draining",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_survives_its_code() {
        for state in State::ALL {
            assert_eq!(State::from_code(state.code()), state);
        }
    }

    #[test]
    fn the_serialized_name_is_the_shown_name() {
        for state in State::ALL {
            assert_eq!(
                serde_json::to_value(state).ok(),
                Some(serde_json::Value::from(state.name()))
            );
        }
    }
}
