//! Metrics kept in the plugin's own memory: what a [`crate::testing::Harness`]
//! records for a test to read, and what a connector counts into when its
//! runtime keeps no plugin metrics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use abi_stable::type_level::downcasting::TD_Opaque;

use crate::abi::metric::{BoxedMetric, MetricDefinition, MetricKind, PdkMetric, PdkMetric_TO};
use crate::Result;

use super::check_same;

/// One metric's values.
#[derive(Debug, Default)]
struct Cells {
    /// A counter's count.
    count: AtomicU64,
    /// A gauge's value, as the bits of an `f64`.
    gauge: AtomicU64,
    /// A histogram's observations.
    observed: Mutex<Observed>,
}

/// What a histogram observed.
#[derive(Debug, Default)]
struct Observed {
    count: u64,
    sum: f64,
}

/// A metric in local memory; clones share it.
#[derive(Debug, Clone, Default)]
struct LocalMetric(Arc<Cells>);

impl PdkMetric for LocalMetric {
    fn increment(&self, by: u64) {
        self.0.count.fetch_add(by, Ordering::Relaxed);
    }

    fn set(&self, value: f64) {
        self.0.gauge.store(value.to_bits(), Ordering::Relaxed);
    }

    fn add(&self, delta: f64) {
        // `fetch_update` retries until no other thread changed it between.
        let _ = self
            .0
            .gauge
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + delta).to_bits())
            });
    }

    fn observe(&self, value: f64) {
        let mut observed = self
            .0
            .observed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        observed.count += 1;
        observed.sum += value;
    }
}

impl LocalMetric {
    fn boxed(&self) -> BoxedMetric {
        PdkMetric_TO::from_value(self.clone(), TD_Opaque)
    }
}

/// A registered metric: its kind and buckets, and its values.
#[derive(Debug)]
struct Registered {
    kind: MetricKind,
    buckets: Vec<f64>,
    metric: LocalMetric,
}

/// What a histogram observed, as [`crate::testing::Harness::histogram`]
/// shows it.
///
/// # Examples
///
/// ```
/// use pdk::metrics::Histogram;
/// use pdk::prelude::*;
/// use pdk::testing::{block_on, Harness, Observations};
///
/// #[connector(name = "sized")]
/// pub struct Sized {
///     sizes: Histogram,
/// }
///
/// impl Connector for Sized {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, ctx: &ConnectorContext) -> Result<Self> {
///         let sizes = ctx.metrics().histogram("event_bytes", "Event sizes", &[64.0, 1024.0])?;
///         Ok(Self { sizes })
///     }
/// }
///
/// impl Sink for Sized {
///     async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
///         self.sizes.observe(event.to_json_string().len() as f64);
///         Ok(SinkReply::Ack)
///     }
/// }
///
/// let mut sink = Harness::<Sized>::new(Value::object())?;
/// block_on(sink.send("four"))?;
/// assert_eq!(sink.histogram("event_bytes"), Some(Observations { count: 1, sum: 6.0 }));
/// # Ok::<(), pdk::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observations {
    /// How many values it observed.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
}

/// The metrics one harness's connector registered, by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocalMetrics(Arc<Mutex<BTreeMap<String, Registered>>>);

impl LocalMetrics {
    /// A metric registered nowhere, counting into memory nobody reads.
    pub(crate) fn detached() -> BoxedMetric {
        LocalMetric::default().boxed()
    }

    /// Registers `definition` (checked already), or returns the metric
    /// registered before under its name.
    pub(crate) fn register(&self, definition: &MetricDefinition<'_>) -> Result<BoxedMetric> {
        let mut metrics = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let name = definition.name.as_str();
        if let Some(registered) = metrics.get(name) {
            check_same(registered.kind, &registered.buckets, definition)?;
            return Ok(registered.metric.boxed());
        }
        let metric = LocalMetric::default();
        let boxed = metric.boxed();
        metrics.insert(
            name.to_owned(),
            Registered {
                kind: definition.kind,
                buckets: definition.buckets.to_vec(),
                metric,
            },
        );
        Ok(boxed)
    }

    /// The metric registered as `name`, if it is of `kind`.
    fn read<R>(&self, name: &str, kind: MetricKind, read: impl FnOnce(&Cells) -> R) -> Option<R> {
        let metrics = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        metrics
            .get(name)
            .filter(|registered| registered.kind == kind)
            .map(|registered| read(&registered.metric.0))
    }

    /// The count of counter `name`.
    pub(crate) fn counter(&self, name: &str) -> Option<u64> {
        self.read(name, MetricKind::COUNTER, |cells| {
            cells.count.load(Ordering::Relaxed)
        })
    }

    /// The value of gauge `name`.
    pub(crate) fn gauge(&self, name: &str) -> Option<f64> {
        self.read(name, MetricKind::GAUGE, |cells| {
            f64::from_bits(cells.gauge.load(Ordering::Relaxed))
        })
    }

    /// What histogram `name` observed.
    pub(crate) fn histogram(&self, name: &str) -> Option<Observations> {
        self.read(name, MetricKind::HISTOGRAM, |cells| {
            let observed = cells
                .observed
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            Observations {
                count: observed.count,
                sum: observed.sum,
            }
        })
    }
}
