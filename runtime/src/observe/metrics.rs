//! The metrics the runtime keeps for every connector, in one
//! `prometheus-client` registry beside those plugins define, and the handles a connector's task
//! counts with: each count is one relaxed atomic add on a handle made
//! when the flow starts, never a lookup by labels.

use std::time::Duration;

use prometheus_client::encoding::prometheus_text::{encode, CONTENT_TYPE};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry};

use super::plugin::{ConnectorFamilies, PluginFamilies};
use super::state::State;

/// The labels of one connector's metrics: `flow`, `connector` (its id),
/// `type` and `plugin` (the package that provides the type).
pub type Labels = Vec<(&'static str, String)>;

/// How a latency histogram is made: buckets from 10 µs to about 10 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1e-5, 4.0, 11))
}

/// Every connector's metrics, by their labels.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    events_out: Family<Labels, Counter>,
    events_in: Family<Labels, Counter>,
    bytes_out: Family<Labels, Counter>,
    acks: Family<Labels, Counter>,
    fails: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    connect_attempts: Family<Labels, Counter>,
    reconnects: Family<Labels, Counter>,
    watchdog_reports: Family<Labels, Gauge>,
    state: Family<Labels, Gauge>,
    state_seconds: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    in_flight: Family<Labels, Gauge>,
    queue_depth: Family<Labels, Gauge>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    plugin: PluginFamilies,
}

/// Registers `metric` in `registry` as `name` with `help`, and returns it.
fn register<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let r = registry.sub_registry_with_prefix("pdk_connector");
        let events_out = register(
            r,
            "events_out",
            "Events the connector's source sent into the flow",
            Family::default(),
        );
        let events_in = register(
            r,
            "events_in",
            "Events handed to the connector's sink",
            Family::default(),
        );
        let bytes_out = register(
            r,
            "bytes_out",
            "Raw bytes the connector's source gave its codec",
            Family::default(),
        );
        let acks = register(
            r,
            "acks",
            "Events of the connector's source that every sink handled",
            Family::default(),
        );
        let fails = register(
            r,
            "fails",
            "Events of the connector's source that a sink failed, or its codec dropped",
            Family::default(),
        );
        let errors = register(
            r,
            "errors",
            "Failures of the connector, by kind (a contained panic is kind `panic`)",
            Family::default(),
        );
        let connect_attempts = register(
            r,
            "connect_attempts",
            "Calls of the connector's `connect`",
            Family::default(),
        );
        let reconnects = register(
            r,
            "reconnects",
            "Connections after the first one",
            Family::default(),
        );
        let watchdog_reports = register(
            r,
            "watchdog_reports",
            "Times the watchdog found the connector, or a task it spawned, blocking its thread",
            Family::default(),
        );
        let state = register(
            r,
            "state",
            "1 for the connector's current state, 0 for the others",
            Family::default(),
        );
        let state_seconds = register(
            r,
            "state_seconds",
            "How long the connector has been in its current state",
            Family::default(),
        );
        let in_flight = register(
            r,
            "events_in_flight",
            "Events of the connector's source not answered by every sink yet",
            Family::default(),
        );
        let queue_depth = register(
            r,
            "queue_depth",
            "Events waiting in the connector's sink inbox",
            Family::default(),
        );
        let latency = register(
            r,
            "event_latency_seconds",
            "Time from the source's pull to the sink's call, per event handed to the sink",
            Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        );
        let plugin = PluginFamilies::default();
        registry
            .sub_registry_with_prefix("pdk_plugin")
            .register_collector(Box::new(plugin.clone()));
        Self {
            registry,
            plugin,
            events_out,
            events_in,
            bytes_out,
            acks,
            fails,
            errors,
            connect_attempts,
            reconnects,
            watchdog_reports,
            state,
            state_seconds,
            in_flight,
            queue_depth,
            latency,
        }
    }
}

impl Metrics {
    /// The handles of the connector labelled `labels`.
    #[must_use]
    pub fn connector(&self, labels: &Labels) -> ConnectorMetrics {
        ConnectorMetrics {
            events_out: self.events_out.get_or_create(labels).clone(),
            events_in: self.events_in.get_or_create(labels).clone(),
            bytes_out: self.bytes_out.get_or_create(labels).clone(),
            acks: self.acks.get_or_create(labels).clone(),
            fails: self.fails.get_or_create(labels).clone(),
            connect_attempts: self.connect_attempts.get_or_create(labels).clone(),
            reconnects: self.reconnects.get_or_create(labels).clone(),
            in_flight: self.in_flight.get_or_create(labels).clone(),
            latency: self.latency.get_or_create(labels).clone(),
            errors: self.errors.clone(),
            labels: labels.clone(),
        }
    }

    /// Where the connector labelled `labels` registers the metrics its
    /// plugin defines.
    #[must_use]
    pub fn plugin(&self, labels: &Labels) -> ConnectorFamilies {
        ConnectorFamilies::new(self.plugin.clone(), labels.clone())
    }

    /// Shows the connector labelled `labels` no more (its flow was
    /// removed); its error counts by kind stay, as counters that no longer
    /// grow.
    pub fn forget(&self, labels: &Labels) {
        for family in [
            &self.events_out,
            &self.events_in,
            &self.bytes_out,
            &self.acks,
            &self.fails,
            &self.connect_attempts,
            &self.reconnects,
        ] {
            family.remove(labels);
        }
        for family in [&self.watchdog_reports, &self.in_flight, &self.queue_depth] {
            family.remove(labels);
        }
        self.state_seconds.remove(labels);
        self.latency.remove(labels);
        for state in State::ALL {
            let mut with_state = labels.clone();
            with_state.push(("state", state.name().to_owned()));
            self.state.remove(&with_state);
        }
    }

    /// Sets what is read only when the metrics are shown, for the
    /// connector labelled `labels`.
    pub fn refresh(&self, labels: &Labels, shown: &Shown) {
        for state in State::ALL {
            let mut with_state = labels.clone();
            with_state.push(("state", state.name().to_owned()));
            self.state
                .get_or_create(&with_state)
                .set(i64::from(state == shown.state));
        }
        self.state_seconds
            .get_or_create(labels)
            .set(shown.state_for.as_secs_f64());
        self.queue_depth
            .get_or_create(labels)
            .set(saturating_i64(shown.queue_depth));
        self.watchdog_reports
            .get_or_create(labels)
            .set(saturating_i64(shown.watchdog_reports));
    }

    /// The `Content-Type` of [`Self::exposition`].
    pub const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    /// The metrics in Prometheus's text format (version 0.0.4).
    #[must_use]
    pub fn exposition(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// What the metrics show that is read when they are shown.
#[derive(Debug, Clone, Copy)]
pub struct Shown {
    /// The connector's state.
    pub state: State,
    /// How long it has been in it.
    pub state_for: Duration,
    /// Events waiting in its sink inbox.
    pub queue_depth: usize,
    /// Times the watchdog reported it blocking.
    pub watchdog_reports: u64,
}

fn saturating_i64(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// One connector's handles: what its task counts with.
#[derive(Debug, Clone)]
pub struct ConnectorMetrics {
    events_out: Counter,
    events_in: Counter,
    bytes_out: Counter,
    acks: Counter,
    fails: Counter,
    connect_attempts: Counter,
    reconnects: Counter,
    in_flight: Gauge,
    latency: Histogram,
    errors: Family<Labels, Counter>,
    labels: Labels,
}

impl ConnectorMetrics {
    /// The source sent an event, `bytes` of raw payload long if it gave
    /// bytes to its codec.
    pub fn sent(&self, bytes: Option<usize>) {
        self.events_out.inc();
        if let Some(bytes) = bytes {
            self.bytes_out.inc_by(bytes as u64);
        }
    }

    /// The sink was handed an event that waited `latency` since its pull.
    pub fn received(&self, latency: Duration) {
        self.events_in.inc();
        self.latency.observe(latency.as_secs_f64());
    }

    /// One of the source's events was settled: handled by every sink, or
    /// failed.
    pub fn settled(&self, ok: bool) {
        if ok {
            self.acks.inc();
        } else {
            self.fails.inc();
        }
    }

    /// The source has `n` events not answered by every sink.
    pub fn in_flight(&self, n: usize) {
        self.in_flight.set(saturating_i64(n));
    }

    /// The connector failed with an error of `kind`.
    pub fn failed(&self, kind: &str) {
        let mut labels = self.labels.clone();
        labels.push(("kind", kind.to_owned()));
        self.errors.get_or_create(&labels).inc();
    }

    /// `connect` is called.
    pub fn connecting(&self) {
        self.connect_attempts.inc();
    }

    /// It connected; a connection after the first is a reconnect.
    pub fn connected(&self, first: bool) {
        if !first {
            self.reconnects.inc();
        }
    }

    /// Events counted so far, for `/status`.
    #[must_use]
    pub fn counts(&self) -> Counts {
        Counts {
            events_in: self.events_in.get(),
            events_out: self.events_out.get(),
            acks: self.acks.get(),
            fails: self.fails.get(),
            in_flight: u64::try_from(self.in_flight.get()).unwrap_or(0),
            connect_attempts: self.connect_attempts.get(),
            reconnects: self.reconnects.get(),
        }
    }
}

/// One connector's counts, as `/status` shows them.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Events handed to its sink.
    pub events_in: u64,
    /// Events its source sent.
    pub events_out: u64,
    /// Its source's events every sink handled.
    pub acks: u64,
    /// Its source's events failed.
    pub fails: u64,
    /// Its source's events not answered yet.
    pub in_flight: u64,
    /// Calls of `connect`.
    pub connect_attempts: u64,
    /// Connections after the first.
    pub reconnects: u64,
}
