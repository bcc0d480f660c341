//! Keeping a connector running: connecting with backoff, counting
//! failures against its budget, its lifecycle hooks, and giving up on
//! what is in flight when the drain runs out of time.

use std::time::Instant;

use futures::stream::FuturesUnordered;
use pdk::abi::connector::LifecycleHook;
use pdk::{Attempt, Error, ErrorKind};

use super::ConnectorTask;
use crate::executor;
use crate::flow::in_flight::Settled;
use crate::flow::restart::Backoff;

/// Whether the failure budget has been charged for a connector's current
/// outage (it is charged once per outage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outage {
    /// The failure that started it was counted already.
    Counted,
    /// Nothing counted yet: the first failed attempt counts.
    NotCounted,
}

/// What failed in a connector.
#[derive(Debug, Clone, Copy)]
pub(super) enum Culprit<'a> {
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

impl ConnectorTask {
    /// Gives up on every event in flight: a source fails its own back (a
    /// transactional one is told `fail`, so that it can redeliver them
    /// later), a sink fails back what it deferred or has waiting, and
    /// the connector stops taking events.
    pub(super) async fn abandon(&mut self) -> Result<(), GaveUp> {
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

    /// A method or a task of the connector failed:
    /// report it, fail back the events the sink deferred, and reconnect
    /// the connector.
    pub(super) async fn failed(
        &mut self,
        what: impl Into<Culprit<'_>>,
        error: &Error,
    ) -> Result<(), GaveUp> {
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
    pub(super) fn count_failure(&mut self) -> Result<(), GaveUp> {
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
    pub(super) async fn connect(&mut self, mut outage: Outage) -> Result<(), GaveUp> {
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

    /// Calls a lifecycle hook; a failure is reported, not fatal.
    pub(super) async fn lifecycle(&mut self, hook: LifecycleHook) {
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
