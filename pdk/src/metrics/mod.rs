//! Metrics a connector defines: counters, gauges and histograms that the
//! runtime shows beside its own, with the connector's labels (`flow`,
//! `connector`, `type`, `plugin`).
//!
//! Register them through [`ConnectorContext::metrics`](crate::ConnectorContext::metrics),
//! usually in `new`, and keep the handles: counting is one call into the
//! runtime and an atomic add, cheap enough for every event. Registering a
//! name again (after a reconnect, or in another connector of the same
//! type) returns the same metric.
//!
//! # Naming rules
//!
//! A name is 1 to 64 characters of lowercase ASCII letters, digits and
//! `_`, starting with a letter, and not ending in a suffix Prometheus
//! gives a meaning to (`_total`, `_count`, `_sum`, `_bucket`, `_created`,
//! `_info`). Name the unit at the end (`_seconds`, `_bytes`). The runtime
//! shows a metric named `rows_inserted` as `pdk_plugin_rows_inserted`
//! (a counter as `pdk_plugin_rows_inserted_total`). A name taken by a
//! metric of another kind, or a histogram with other buckets, is an
//! error; so is a bad name. None of them panics.
//!
//! ```
//! use pdk::prelude::*;
//! use pdk::metrics::Counter;
//!
//! #[connector(name = "rows")]
//! pub struct Rows {
//!     inserted: Counter,
//! }
//!
//! impl Connector for Rows {
//!     type Config = NoConfig;
//!
//!     fn new(_config: NoConfig, ctx: &ConnectorContext) -> Result<Self> {
//!         let inserted = ctx
//!             .metrics()
//!             .counter("rows_inserted", "Rows committed to the table")?;
//!         Ok(Self { inserted })
//!     }
//! }
//!
//! impl Sink for Rows {
//!     async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
//!         self.inserted.inc();
//!         Ok(SinkReply::Ack)
//!     }
//! }
//!
//! let mut harness = pdk::testing::Harness::<Rows>::from_json("{}").unwrap();
//! pdk::testing::block_on(harness.send(1)).unwrap();
//! assert_eq!(harness.counter("rows_inserted"), Some(1));
//! ```

mod local;
mod rules;

use std::fmt;

use crate::abi::connector::BoxedRuntimeHandle;
use crate::abi::metric::{BoxedMetric, MetricDefinition, MetricKind};
use crate::abi::Extensions;
use crate::{Error, Result};

pub(crate) use local::LocalMetrics;
pub use local::Observations;
pub use rules::{check, check_same};

/// Where a connector registers its metrics; see the [module](self).
///
/// # Examples
///
/// ```
/// use pdk::prelude::*;
/// use pdk::testing::Harness;
///
/// #[connector(name = "pool")]
/// pub struct Pool;
///
/// impl Connector for Pool {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, ctx: &ConnectorContext) -> Result<Self> {
///         let metrics = ctx.metrics();
///         metrics.gauge("pool_connections", "Open connections")?.set(4.0);
///         // A name Prometheus gives a meaning to is refused, with the rule:
///         assert!(metrics.counter("requests_total", "Requests").is_err());
///         Ok(Self)
///     }
/// }
/// # impl Sink for Pool {
/// #     async fn on_event(&mut self, _: Event, _: &ConnectorContext) -> Result<SinkReply> {
/// #         Ok(SinkReply::Ack)
/// #     }
/// # }
///
/// let pool = Harness::<Pool>::new(Value::object())?;
/// assert_eq!(pool.gauge("pool_connections"), Some(4.0));
/// # Ok::<(), pdk::Error>(())
/// ```
pub struct Metrics<'a>(&'a BoxedRuntimeHandle);

impl<'a> Metrics<'a> {
    pub(crate) fn new(handle: &'a BoxedRuntimeHandle) -> Self {
        Self(handle)
    }

    /// A counter: a count that only goes up (rows inserted, messages the
    /// broker redelivered).
    ///
    /// # Errors
    /// When `name` breaks the [naming rules](self#naming-rules) or names
    /// a metric of another kind.
    pub fn counter(&self, name: &str, help: &str) -> Result<Counter> {
        self.register(MetricKind::COUNTER, name, help, &[])
            .map(Counter)
    }

    /// A gauge: a value that goes up and down (open connections, the lag
    /// behind a stream's head).
    ///
    /// # Errors
    /// As [`Self::counter`].
    pub fn gauge(&self, name: &str, help: &str) -> Result<Gauge> {
        self.register(MetricKind::GAUGE, name, help, &[]).map(Gauge)
    }

    /// A histogram: how observed values (a query's duration, a batch's
    /// size) fall into buckets, `buckets` being their upper bounds: 1 to
    /// 64 finite numbers, increasing.
    ///
    /// # Errors
    /// As [`Self::counter`], and when `buckets` are not as above or differ
    /// from those the name was registered with.
    pub fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Result<Histogram> {
        self.register(MetricKind::HISTOGRAM, name, help, buckets)
            .map(Histogram)
    }

    fn register(
        &self,
        kind: MetricKind,
        name: &str,
        help: &str,
        buckets: &[f64],
    ) -> Result<BoxedMetric> {
        let definition = MetricDefinition {
            kind,
            name: name.into(),
            help: help.into(),
            buckets: buckets.into(),
            extensions: Extensions::new(),
        };
        check(&definition)?;
        match self.0.register_metric(&definition).into_option() {
            Some(registered) => registered.into_result().map_err(Error::from_ffi),
            None => {
                log::warn!(
                    "this runtime keeps no plugin metrics (its plugin interface is older \
                     than 0.3.1): metric `{name}` is counted but not shown; run the plugin \
                     on a newer pdk-runtime to see it"
                );
                Ok(LocalMetrics::detached())
            }
        }
    }
}

impl fmt::Debug for Metrics<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// A count that only goes up; see [`Metrics::counter`]. Clones count into
/// the same metric.
///
/// # Examples
///
/// See the [module](self) documentation; counting is `inc` or `inc_by`:
///
/// ```
/// # use pdk::prelude::*;
/// # #[connector(name = "rows")]
/// # pub struct Rows;
/// # impl Connector for Rows {
/// #     type Config = NoConfig;
/// fn new(_config: NoConfig, ctx: &ConnectorContext) -> Result<Self> {
///     let rows = ctx.metrics().counter("rows_read", "Rows read from the table")?;
///     rows.inc_by(3);
///     rows.inc();
///     Ok(Self)
/// }
/// # }
/// # impl Sink for Rows {
/// #     async fn on_event(&mut self, _: Event, _: &ConnectorContext) -> Result<SinkReply> {
/// #         Ok(SinkReply::Ack)
/// #     }
/// # }
/// # let harness = pdk::testing::Harness::<Rows>::new(Value::object())?;
/// # assert_eq!(harness.counter("rows_read"), Some(4));
/// # Ok::<(), pdk::Error>(())
/// ```
#[derive(Clone)]
pub struct Counter(BoxedMetric);

impl Counter {
    /// Counts one more.
    pub fn inc(&self) {
        self.0.increment(1);
    }

    /// Counts `n` more.
    pub fn inc_by(&self, n: u64) {
        self.0.increment(n);
    }
}

/// A value that goes up and down; see [`Metrics::gauge`]. Clones change
/// the same metric.
///
/// # Examples
///
/// ```
/// # use pdk::prelude::*;
/// # #[connector(name = "queue")]
/// # pub struct Queue;
/// # impl Connector for Queue {
/// #     type Config = NoConfig;
/// fn new(_config: NoConfig, ctx: &ConnectorContext) -> Result<Self> {
///     let queued = ctx.metrics().gauge("queued_requests", "Requests waiting")?;
///     queued.set(2.0);
///     queued.inc();
///     queued.add(-2.5);
///     Ok(Self)
/// }
/// # }
/// # impl Sink for Queue {
/// #     async fn on_event(&mut self, _: Event, _: &ConnectorContext) -> Result<SinkReply> {
/// #         Ok(SinkReply::Ack)
/// #     }
/// # }
/// # let harness = pdk::testing::Harness::<Queue>::new(Value::object())?;
/// # assert_eq!(harness.gauge("queued_requests"), Some(0.5));
/// # Ok::<(), pdk::Error>(())
/// ```
#[derive(Clone)]
pub struct Gauge(BoxedMetric);

impl Gauge {
    /// Sets it to `value`.
    pub fn set(&self, value: f64) {
        self.0.set(value);
    }

    /// Changes it by `delta` (negative to lower it).
    pub fn add(&self, delta: f64) {
        self.0.add(delta);
    }

    /// Raises it by one.
    pub fn inc(&self) {
        self.0.add(1.0);
    }

    /// Lowers it by one.
    pub fn dec(&self) {
        self.0.add(-1.0);
    }
}

/// A distribution of observed values; see [`Metrics::histogram`]. Clones
/// observe into the same metric.
///
/// # Examples
///
/// ```
/// # use pdk::prelude::*;
/// # #[connector(name = "timed")]
/// # pub struct Timed;
/// # impl Connector for Timed {
/// #     type Config = NoConfig;
/// fn new(_config: NoConfig, ctx: &ConnectorContext) -> Result<Self> {
///     let buckets = [0.001, 0.01, 0.1, 1.0];
///     let latency = ctx.metrics().histogram("write_seconds", "Time per write", &buckets)?;
///     latency.observe(0.004);
///     Ok(Self)
/// }
/// # }
/// # impl Sink for Timed {
/// #     async fn on_event(&mut self, _: Event, _: &ConnectorContext) -> Result<SinkReply> {
/// #         Ok(SinkReply::Ack)
/// #     }
/// # }
/// # let harness = pdk::testing::Harness::<Timed>::new(Value::object())?;
/// # assert_eq!(harness.histogram("write_seconds").map(|o| o.count), Some(1));
/// # Ok::<(), pdk::Error>(())
/// ```
#[derive(Clone)]
pub struct Histogram(BoxedMetric);

impl Histogram {
    /// Observes `value`.
    pub fn observe(&self, value: f64) {
        self.0.observe(value);
    }
}

macro_rules! opaque_debug {
    ($($name:ident),*) => {$(
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}

opaque_debug!(Counter, Gauge, Histogram);
