//! The metrics plugins define: families registered while the runtime
//! runs, shown as `pdk_plugin_NAME` with the registering connector's
//! labels. A connector counts through a handle on its own series (an
//! atomic in the runtime's memory), never through a lookup.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use abi_stable::type_level::downcasting::TD_Opaque;
use pdk::abi::metric::{BoxedMetric, MetricDefinition, MetricKind, PdkMetric, PdkMetric_TO};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::metrics::Labels;

/// A gauge of any value.
type FloatGauge = Gauge<f64, AtomicU64>;

/// Makes the histograms of one family, with its buckets.
#[derive(Debug, Clone)]
struct Buckets(Arc<[f64]>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// The series of one plugin metric, by connector.
#[derive(Debug)]
enum Series {
    Counter(Family<Labels, Counter>),
    Gauge(Family<Labels, FloatGauge>),
    Histogram(Family<Labels, Histogram, Buckets>),
}

/// One plugin metric, as it was first registered.
#[derive(Debug)]
struct PluginFamily {
    help: String,
    kind: MetricKind,
    buckets: Arc<[f64]>,
    series: Series,
}

impl PluginFamily {
    fn new(definition: &MetricDefinition<'_>) -> Self {
        let buckets: Arc<[f64]> = definition.buckets.as_slice().into();
        let series = match definition.kind {
            MetricKind::COUNTER => Series::Counter(Family::default()),
            MetricKind::GAUGE => Series::Gauge(Family::default()),
            _ => Series::Histogram(Family::new_with_constructor(Buckets(buckets.clone()))),
        };
        Self {
            help: definition.help.as_str().to_owned(),
            kind: definition.kind,
            buckets,
            series,
        }
    }

    /// The series of the connector labelled `labels`.
    fn series_of(&self, labels: &Labels) -> RuntimeMetric {
        match &self.series {
            Series::Counter(family) => RuntimeMetric::Counter(family.get_or_create(labels).clone()),
            Series::Gauge(family) => RuntimeMetric::Gauge(family.get_or_create(labels).clone()),
            Series::Histogram(family) => {
                RuntimeMetric::Histogram(family.get_or_create(labels).clone())
            }
        }
    }
}

/// One connector's series of a plugin metric: what its handle counts into.
#[derive(Debug, Clone)]
enum RuntimeMetric {
    Counter(Counter),
    Gauge(FloatGauge),
    Histogram(Histogram),
}

impl PdkMetric for RuntimeMetric {
    fn increment(&self, by: u64) {
        if let Self::Counter(counter) = self {
            counter.inc_by(by);
        }
    }

    fn set(&self, value: f64) {
        if let Self::Gauge(gauge) = self {
            gauge.set(value);
        }
    }

    fn add(&self, delta: f64) {
        if let Self::Gauge(gauge) = self {
            gauge.inc_by(delta);
        }
    }

    fn observe(&self, value: f64) {
        if let Self::Histogram(histogram) = self {
            histogram.observe(value);
        }
    }
}

/// The most plugin metric names one runtime keeps: a plugin that makes a
/// name of each value it sees (a user id, a path) would otherwise grow
/// every scrape without bound.
const MAX_FAMILIES: usize = 1024;

/// Every plugin metric, by name; shown at each scrape.
#[derive(Debug, Clone, Default)]
pub struct PluginFamilies(Arc<Mutex<BTreeMap<String, PluginFamily>>>);

impl PluginFamilies {
    /// Registers `definition` for the connector labelled `labels`, or
    /// returns its series registered before.
    ///
    /// # Errors
    /// When the definition breaks the naming rules, or its name is taken
    /// by a metric of another kind or with other buckets.
    pub fn register(
        &self,
        labels: &Labels,
        definition: &MetricDefinition<'_>,
    ) -> pdk::Result<BoxedMetric> {
        pdk::metrics::check(definition)?;
        let mut families = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let name = definition.name.as_str();
        if families.len() >= MAX_FAMILIES && !families.contains_key(name) {
            return Err(pdk::Error::config(format!(
                "metric `{name}`: the plugins of this runtime registered {MAX_FAMILIES} metric \
                 names already, the most it keeps; name a metric by what it counts, never by a \
                 value it sees"
            )));
        }
        let family = families
            .entry(definition.name.as_str().to_owned())
            .or_insert_with(|| PluginFamily::new(definition));
        pdk::metrics::check_same(family.kind, &family.buckets, definition)?;
        Ok(PdkMetric_TO::from_value(
            family.series_of(labels),
            TD_Opaque,
        ))
    }
}

impl Collector for PluginFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let families = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, family) in families.iter() {
            match &family.series {
                Series::Counter(series) => encode(&mut encoder, name, &family.help, series)?,
                Series::Gauge(series) => encode(&mut encoder, name, &family.help, series)?,
                Series::Histogram(series) => encode(&mut encoder, name, &family.help, series)?,
            }
        }
        Ok(())
    }
}

fn encode(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: &impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    series.encode(encoder.encode_descriptor(name, help, None, series.metric_type())?)
}

/// Where one connector registers its metrics: the families, and its
/// labels.
#[derive(Debug, Clone)]
pub struct ConnectorFamilies {
    families: PluginFamilies,
    labels: Labels,
}

impl ConnectorFamilies {
    /// The connector labelled `labels` registering into `families`.
    #[must_use]
    pub fn new(families: PluginFamilies, labels: Labels) -> Self {
        Self { families, labels }
    }

    /// Registers `definition` for this connector, or returns its series
    /// registered before.
    ///
    /// # Errors
    /// When the definition breaks the naming rules
    /// ([`pdk::metrics::check`]), or its name is taken by a metric of
    /// another kind or with other buckets.
    pub fn register(&self, definition: &MetricDefinition<'_>) -> pdk::Result<BoxedMetric> {
        self.families.register(&self.labels, definition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pdk::abi::Extensions;
    use prometheus_client::encoding::prometheus_text::encode;
    use prometheus_client::registry::Registry;

    fn definition<'a>(kind: MetricKind, name: &'a str, buckets: &'a [f64]) -> MetricDefinition<'a> {
        MetricDefinition {
            kind,
            name: name.into(),
            help: "What it counts".into(),
            buckets: buckets.into(),
            extensions: Extensions::new(),
        }
    }

    fn labels(id: &str) -> Labels {
        vec![("connector", id.to_owned())]
    }

    fn exposition(families: &PluginFamilies) -> String {
        let mut registry = Registry::with_prefix("pdk_plugin");
        registry.register_collector(Box::new(families.clone()));
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn each_connector_counts_into_its_own_series_of_one_family() {
        let families = PluginFamilies::default();
        let counter = definition(MetricKind::COUNTER, "rows", &[]);
        let a = families.register(&labels("a"), &counter).unwrap();
        let b = families.register(&labels("b"), &counter).unwrap();
        let a_again = families.register(&labels("a"), &counter).unwrap();
        a.increment(2);
        b.increment(5);
        a_again.increment(1);
        let text = exposition(&families);
        assert!(
            text.contains("# TYPE pdk_plugin_rows_total counter"),
            "{text}"
        );
        assert!(
            text.contains("pdk_plugin_rows_total{connector=\"a\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("pdk_plugin_rows_total{connector=\"b\"} 5"),
            "{text}"
        );
    }

    #[test]
    fn gauges_and_histograms_show_what_they_were_given() {
        let families = PluginFamilies::default();
        let gauge = families
            .register(
                &labels("a"),
                &definition(MetricKind::GAUGE, "lag_seconds", &[]),
            )
            .unwrap();
        gauge.set(2.5);
        gauge.add(-1.0);
        let histogram = families
            .register(
                &labels("a"),
                &definition(MetricKind::HISTOGRAM, "batch_rows", &[1.0, 10.0]),
            )
            .unwrap();
        histogram.observe(4.0);
        histogram.observe(40.0);
        let text = exposition(&families);
        assert!(
            text.contains("pdk_plugin_lag_seconds{connector=\"a\"} 1.5"),
            "{text}"
        );
        assert!(
            text.contains("pdk_plugin_batch_rows_count{connector=\"a\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("pdk_plugin_batch_rows_bucket{connector=\"a\",le=\"10\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn names_beyond_the_limit_are_refused_and_known_ones_still_register() {
        let families = PluginFamilies::default();
        for n in 0..MAX_FAMILIES {
            let name = format!("m{n}");
            families
                .register(&labels("a"), &definition(MetricKind::GAUGE, &name, &[]))
                .unwrap();
        }
        let refused = families
            .register(
                &labels("a"),
                &definition(MetricKind::GAUGE, "one_more", &[]),
            )
            .err()
            .unwrap();
        assert!(refused
            .message()
            .contains("registered 1024 metric names already"));
        assert!(families
            .register(&labels("b"), &definition(MetricKind::GAUGE, "m7", &[]))
            .is_ok());
    }

    #[test]
    fn a_help_with_line_breaks_and_backslashes_stays_on_its_line() {
        let families = PluginFamilies::default();
        let mut counter = definition(MetricKind::COUNTER, "rows", &[]);
        counter.help = "two\nlines \\ and a slash".into();
        families.register(&labels("a"), &counter).unwrap();
        let text = exposition(&families);
        assert!(
            text.contains("# HELP pdk_plugin_rows_total two\\nlines \\\\ and a slash\n"),
            "{text}"
        );
    }

    #[test]
    fn a_bad_or_conflicting_definition_is_an_error_and_changes_nothing() {
        let families = PluginFamilies::default();
        let bad = families.register(&labels("a"), &definition(MetricKind::COUNTER, "Rows", &[]));
        assert!(bad.is_err());
        families
            .register(&labels("a"), &definition(MetricKind::COUNTER, "rows", &[]))
            .unwrap();
        let other_kind = families
            .register(&labels("b"), &definition(MetricKind::GAUGE, "rows", &[]))
            .err()
            .unwrap();
        assert!(other_kind
            .message()
            .contains("registered as a counter already"));
        let text = exposition(&families);
        assert!(!text.contains("connector=\"b\""), "{text}");
        assert!(!text.contains("Rows"), "{text}");
    }
}
