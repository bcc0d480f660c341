//! The rules every plugin metric follows, checked by the SDK when a
//! connector registers one and again by the runtime, with the same
//! messages.

use crate::abi::metric::{MetricDefinition, MetricKind};
use crate::{Error, Result};

/// The longest name allowed.
const MAX_NAME: usize = 64;

/// The most buckets a histogram may have.
const MAX_BUCKETS: usize = 64;

/// Endings Prometheus gives a meaning to.
const RESERVED_SUFFIXES: [&str; 6] = ["_total", "_count", "_sum", "_bucket", "_created", "_info"];

/// What a metric of `kind` is called in messages.
fn kind_name(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::COUNTER => "counter",
        MetricKind::GAUGE => "gauge",
        MetricKind::HISTOGRAM => "histogram",
        _ => "metric of an unknown kind",
    }
}

/// Checks `definition` against the [naming rules](super#naming-rules)
/// and, for a histogram, its buckets.
///
/// # Errors
/// A config error naming the metric, what is wrong and how to fix it.
pub fn check(definition: &MetricDefinition<'_>) -> Result<()> {
    let name = definition.name.as_str();
    let bad = |what: &str| {
        Error::config(format!(
            "metric `{name}`: {what}; a metric name is 1 to {MAX_NAME} lowercase ASCII \
             letters, digits and `_`, starting with a letter (`rows_inserted`)"
        ))
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(bad("the name is empty")),
        Some(first) if !first.is_ascii_lowercase() => {
            return Err(bad(&format!("the name starts with `{first}`")))
        }
        Some(_) => {}
    }
    if let Some(other) =
        chars.find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    {
        return Err(bad(&format!("the name has `{other}` in it")));
    }
    if name.len() > MAX_NAME {
        return Err(bad(&format!("the name is {} characters long", name.len())));
    }
    if let Some(suffix) = RESERVED_SUFFIXES.iter().find(|s| name.ends_with(*s)) {
        return Err(Error::config(format!(
            "metric `{name}`: the name ends in `{suffix}`, which Prometheus gives a meaning \
             to; leave it out (a counter is shown with `_total` added)"
        )));
    }
    match definition.kind {
        MetricKind::COUNTER | MetricKind::GAUGE => Ok(()),
        MetricKind::HISTOGRAM => check_buckets(name, definition.buckets.as_slice()),
        other => Err(Error::config(format!(
            "metric `{name}`: kind {} is not one this SDK knows (counter, gauge, histogram)",
            other.0
        ))),
    }
}

fn check_buckets(name: &str, buckets: &[f64]) -> Result<()> {
    let bad = |what: String| {
        Error::config(format!(
            "histogram `{name}`: {what}; give 1 to {MAX_BUCKETS} finite bucket bounds, \
             increasing (`&[0.001, 0.01, 0.1, 1.0]`)"
        ))
    };
    if buckets.is_empty() || buckets.len() > MAX_BUCKETS {
        return Err(bad(format!("{} buckets", buckets.len())));
    }
    if let Some(bound) = buckets.iter().find(|b| !b.is_finite()) {
        return Err(bad(format!("the bound {bound} is not finite")));
    }
    if let Some(pair) = buckets.windows(2).find(|pair| pair[0] >= pair[1]) {
        return Err(bad(format!("{} is not below {}", pair[0], pair[1])));
    }
    Ok(())
}

/// Checks that `definition` asks for the metric registered before under
/// its name, which is of kind `kind` with buckets `buckets`.
///
/// # Errors
/// A config error naming both kinds, or both sets of buckets.
pub fn check_same(
    kind: MetricKind,
    buckets: &[f64],
    definition: &MetricDefinition<'_>,
) -> Result<()> {
    let name = definition.name.as_str();
    if kind != definition.kind {
        return Err(Error::config(format!(
            "metric `{name}` is registered as a {} already, and cannot be a {} too; \
             give the {} another name",
            kind_name(kind),
            kind_name(definition.kind),
            kind_name(definition.kind)
        )));
    }
    if buckets != definition.buckets.as_slice() {
        return Err(Error::config(format!(
            "histogram `{name}` is registered with the buckets {buckets:?} already, \
             not {:?}; register it with the same buckets everywhere",
            definition.buckets.as_slice()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::Extensions;
    use crate::ErrorKind;

    fn definition<'a>(kind: MetricKind, name: &'a str, buckets: &'a [f64]) -> MetricDefinition<'a> {
        MetricDefinition {
            kind,
            name: name.into(),
            help: "help".into(),
            buckets: buckets.into(),
            extensions: Extensions::new(),
        }
    }

    fn message(kind: MetricKind, name: &str, buckets: &[f64]) -> String {
        let error = check(&definition(kind, name, buckets)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        error.message().to_owned()
    }

    #[test]
    fn good_names_pass() {
        for name in [
            "rows_inserted",
            "a",
            "lag_seconds",
            "http2_streams",
            &"x".repeat(64),
        ] {
            assert_eq!(
                check(&definition(MetricKind::COUNTER, name, &[])),
                Ok(()),
                "{name}"
            );
        }
    }

    #[test]
    fn each_bad_name_is_named_with_what_is_wrong() {
        assert!(message(MetricKind::COUNTER, "", &[]).contains("the name is empty"));
        assert!(message(MetricKind::COUNTER, "Rows", &[]).contains("starts with `R`"));
        assert!(message(MetricKind::COUNTER, "_rows", &[]).contains("starts with `_`"));
        assert!(message(MetricKind::COUNTER, "9rows", &[]).contains("starts with `9`"));
        assert!(message(MetricKind::GAUGE, "rows-inserted", &[]).contains("has `-` in it"));
        assert!(message(MetricKind::GAUGE, "rows:inserted", &[]).contains("has `:` in it"));
        assert!(message(MetricKind::GAUGE, "ünits", &[]).contains("starts with `ü`"));
        assert!(message(MetricKind::GAUGE, &"x".repeat(65), &[]).contains("65 characters long"));
        let reserved = message(MetricKind::COUNTER, "rows_total", &[]);
        assert!(
            reserved.starts_with("metric `rows_total`: the name ends in `_total`"),
            "{reserved}"
        );
    }

    #[test]
    fn a_histogram_needs_finite_increasing_buckets() {
        let ok = [0.1, 1.0, 10.0];
        assert_eq!(
            check(&definition(MetricKind::HISTOGRAM, "query_seconds", &ok)),
            Ok(())
        );
        assert!(message(MetricKind::HISTOGRAM, "q", &[]).contains("0 buckets"));
        assert!(message(MetricKind::HISTOGRAM, "q", &[1.0, f64::NAN]).contains("NaN is not finite"));
        assert!(message(MetricKind::HISTOGRAM, "q", &[1.0, 1.0]).contains("1 is not below 1"));
        assert!(message(MetricKind::HISTOGRAM, "q", &[0.0; 65]).contains("65 buckets"));
    }

    #[test]
    fn an_unknown_kind_is_an_error() {
        assert!(message(MetricKind(9), "q", &[]).contains("kind 9 is not one this SDK knows"));
    }

    #[test]
    fn a_name_taken_by_another_kind_or_other_buckets_is_an_error() {
        let gauge = definition(MetricKind::GAUGE, "rows", &[]);
        assert_eq!(check_same(MetricKind::GAUGE, &[], &gauge), Ok(()));
        let error = check_same(MetricKind::COUNTER, &[], &gauge).unwrap_err();
        assert_eq!(
            error.message(),
            "metric `rows` is registered as a counter already, and cannot be a gauge too; \
             give the gauge another name"
        );
        let histogram = definition(MetricKind::HISTOGRAM, "q", &[1.0, 2.0]);
        let error = check_same(MetricKind::HISTOGRAM, &[1.0], &histogram).unwrap_err();
        assert!(
            error.message().contains("[1.0] already, not [1.0, 2.0]"),
            "{}",
            error.message()
        );
    }
}
