//! Keeping a connector running: connecting, waiting out the backoff
//! after every failure, counting failures against its budget, giving up
//! at once on a failure retrying cannot mend, its lifecycle hooks, and
//! giving up on what is in flight when the drain runs out of time.

use std::time::Instant;

use futures::future::FutureExt;
use futures::stream::FuturesUnordered;
use pdk::abi::connector::LifecycleHook;
use pdk::{Attempt, Error, ErrorKind};

use super::ConnectorTask;
use crate::executor;
use crate::flow::handle::Connection;
use crate::flow::instance::from_ffi;
use crate::flow::restart::Failure;
use crate::flow::restart::{RestartPolicy, Restarts};
use crate::flow::restartable::Replacement;
use crate::observe::State;

/// A task's supervision state: its connection, its failures against the
/// connector's budget, and the instance that replaces it on a new build.
pub(super) struct Supervision {
    /// Connect attempts so far.
    pub(super) attempts: u64,
    /// Which connection is current.
    pub(super) connection: Connection,
    /// The backoff, and recent failures against the connector's budget.
    pub(super) restarts: Restarts,
    /// A new instance waiting for the old one to have nothing in flight.
    pub(super) replacement: Option<Replacement>,
    /// Whether the instance's `on_drain` has been called.
    pub(super) drained: bool,
}

impl Supervision {
    /// Not connected yet, with `policy`'s budget, on `connection`.
    pub(super) fn new(policy: RestartPolicy, connection: Connection) -> Self {
        Self {
            attempts: 0,
            connection,
            restarts: Restarts::new(policy),
            replacement: None,
            drained: false,
        }
    }
}

/// The name of an error's kind, for the metrics' `kind` label.
fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Config => "config",
        ErrorKind::ConnectionLost => "connection_lost",
        ErrorKind::Panic => "panic",
        ErrorKind::Unsupported => "unsupported",
        _ => "other",
    }
}

/// What failed in a connector.
#[derive(Debug, Clone, Copy)]
pub(super) enum Culprit<'a> {
    /// One of its methods.
    Method(&'a str),
    /// A task it spawned.
    SpawnedTask,
    /// It reported that it lost its connection.
    LostConnection,
}

impl<'a> From<&'a str> for Culprit<'a> {
    fn from(method: &'a str) -> Self {
        Self::Method(method)
    }
}

impl std::fmt::Display for Culprit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Method(method) => write!(f, "`{method}` failed"),
            Self::SpawnedTask => f.write_str("a task it spawned failed"),
            Self::LostConnection => f.write_str("connection lost"),
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
    /// Whether retrying could not have helped: its configuration (or
    /// what it names, such as a port in use) must change.
    pub permanent: bool,
}

/// Why a connector task stops early.
#[derive(Debug)]
pub enum Halt {
    /// The connector was given up.
    GaveUp(GaveUp),
    /// The runtime shuts down while the connector is not connected: it
    /// is stopped without draining.
    Shutdown,
}

impl From<GaveUp> for Halt {
    fn from(gave_up: GaveUp) -> Self {
        Self::GaveUp(gave_up)
    }
}

impl ConnectorTask {
    /// Gives up on every event in flight: a source fails its own back (a
    /// transactional one is told `fail`, so that it can redeliver them
    /// later), a sink fails back what it deferred or has waiting, and
    /// the connector stops taking events.
    pub(super) async fn abandon(&mut self) -> Result<(), Halt> {
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
            for settled in in_flight {
                self.metrics.settled(settled.ok);
                self.settle_now(settled).await?;
            }
            if let Some(source) = &self.source {
                self.metrics.in_flight(source.in_flight.len());
            }
            self.settle_waiting().await?;
        }
        self.fail_back_deferred().await;
        self.fail_back_inbox().await;
        Ok(())
    }

    /// A method or a task of the connector failed, or it lost its
    /// connection: report it, fail back the events the sink deferred,
    /// wait out the backoff and reconnect the connector; give it up if
    /// the failure spends its budget or retrying cannot mend it.
    pub(super) async fn failed(
        &mut self,
        what: impl Into<Culprit<'_>>,
        error: &Error,
    ) -> Result<(), Halt> {
        let what = what.into();
        self.metrics.failed(kind_name(error.kind()));
        self.caller
            .activity()
            .set_last_error(format!("{what}: {}", error.message()));
        if error.kind() == ErrorKind::Config {
            return Err(self.give_up_permanently(&what.to_string(), error).into());
        }
        log::error!("connector `{}`: {what}: {}", self.id, error.message());
        let failure = if error.kind() == ErrorKind::Panic {
            Failure::Panic
        } else {
            Failure::Running
        };
        let wait = self.count_failure(failure)?;
        self.fail_back_deferred().await;
        self.wait_to_reconnect(wait).await?;
        self.connect().await
    }

    /// Counts one failure against the connector's budget; `Ok` with the
    /// backoff to wait before the next attempt.
    fn count_failure(&mut self, failure: Failure) -> Result<std::time::Duration, GaveUp> {
        self.supervision
            .restarts
            .failed(failure, Instant::now())
            .map_err(|spent| {
                let gave_up = GaveUp {
                    id: self.id.clone(),
                    message: format!("{spent}; stopped, the rest of the flow goes on"),
                    permanent: false,
                };
                log::error!("{gave_up}");
                gave_up
            })
    }

    /// Gives the connector up on `error`, which says that retrying will
    /// not help (its kind is `Config`).
    fn give_up_permanently(&self, what: &str, error: &Error) -> GaveUp {
        let gave_up = GaveUp {
            id: self.id.clone(),
            message: format!(
                "{what}: {} (a configuration error: not retried)",
                error.message()
            ),
            permanent: true,
        };
        log::error!("{gave_up}");
        gave_up
    }

    /// Waits `wait` before connecting again, or until the runtime shuts
    /// down.
    async fn wait_to_reconnect(&mut self, wait: std::time::Duration) -> Result<(), Halt> {
        self.caller.activity().set_state(State::Reconnecting);
        let mut stop = self.stop_signal();
        futures::select_biased! {
            () = stop => Err(Halt::Shutdown),
            () = executor::sleep(wait).fuse() => Ok(()),
        }
    }

    /// Completes when the runtime shuts down (at once if it has).
    fn stop_signal(&self) -> futures::future::Fuse<futures::future::BoxFuture<'static, ()>> {
        let signal = self
            .inputs
            .signal
            .as_ref()
            .map(|signal| signal.receiver().clone());
        async move {
            match signal {
                Some(signal) => {
                    // Closed at the first signal; nothing is ever sent.
                    let _ = signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        .boxed()
        .fuse()
    }

    /// Connects, retrying with the backoff until it succeeds, the runtime
    /// shuts down, or `connect` fails with an error that retrying cannot
    /// mend (its kind is `Config`). Attempts that fail because the
    /// connector cannot connect yet are one outage (see
    /// [`crate::flow::restart::Restarts`]): a server that stays down for
    /// minutes does not stop the connector. A `connect` that panics counts
    /// every time.
    pub(super) async fn connect(&mut self) -> Result<(), Halt> {
        let mut since_success = 0;
        loop {
            since_success += 1;
            self.supervision.attempts += 1;
            let attempt = Attempt {
                overall: self.supervision.attempts,
                since_success,
            };
            self.caller.activity().set_state(State::Connecting);
            self.metrics.connecting();
            let mut stop = self.stop_signal();
            let connected = {
                let connecting = self
                    .held
                    .get()
                    .await
                    .raw()
                    .connect(attempt.overall, attempt.since_success);
                let mut call = std::pin::pin!(self.caller.call("connect", connecting).fuse());
                futures::select_biased! {
                    () = stop => return Err(Halt::Shutdown),
                    connected = call => connected,
                }
            };
            let (problem, failure) = match from_ffi(connected) {
                Ok(true) => {
                    self.supervision.connection.connected();
                    self.metrics
                        .connected(self.supervision.connection.current() == 1);
                    self.caller.activity().set_state(State::Running);
                    return Ok(());
                }
                Ok(false) => (String::from("not connected yet"), Failure::Connect),
                Err(error) if error.kind() == ErrorKind::Config => {
                    self.metrics.failed(kind_name(error.kind()));
                    self.caller
                        .activity()
                        .set_last_error(format!("`connect` failed: {}", error.message()));
                    return Err(self.give_up_permanently("`connect` failed", &error).into());
                }
                Err(error) => {
                    let failure = if error.kind() == ErrorKind::Panic {
                        Failure::Panic
                    } else {
                        Failure::Connect
                    };
                    (error.message().to_owned(), failure)
                }
            };
            log::warn!(
                "connector `{}`: connect attempt {since_success} failed: {problem}",
                self.id
            );
            self.caller
                .activity()
                .set_last_error(format!("connect attempt {since_success} failed: {problem}"));
            let wait = self.count_failure(failure)?;
            self.wait_to_reconnect(wait).await?;
        }
    }

    /// Calls a lifecycle hook; a failure is reported, not fatal.
    pub(super) async fn lifecycle(&mut self, hook: LifecycleHook) {
        let instance = self.held.get().await;
        let called = from_ffi(
            self.caller
                .call(hook.method_name(), instance.raw().lifecycle(hook))
                .await,
        );
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
