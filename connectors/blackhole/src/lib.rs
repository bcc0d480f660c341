//! `blackhole`: a sink that acknowledges every event, counts them and
//! records each one's end-to-end latency (from its ingest time) in an HDR
//! histogram. It prints one summary line on standard output, when it has
//! recorded `stop_after` events or, at the latest, when it stops:
//!
//! ```text
//! blackhole id=out events=100000 seconds=1.234567 events_per_second=81000.4 p50_us=12 p90_us=30 p99_us=80 p99_9_us=150 max_us=2000
//! ```

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use pdk::abi::value::PdkValue;
use pdk::prelude::*;

/// The longest latency recorded exactly (one hour, in microseconds).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// The `config` table of a `blackhole` connector.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Events to acknowledge without recording them first.
    #[serde(default)]
    pub warmup: u64,
    /// Record at most this many events (after the warmup), then print the
    /// summary; later events are acknowledged and not counted.
    #[serde(default)]
    pub stop_after: Option<u64>,
    /// Read every payload as a `Value`, as a sink that inspects fields
    /// would (for benchmarks: by default the blackhole never reads one).
    #[serde(default)]
    pub materialize: bool,
    /// Read every field of every payload in place (keys, strings, numbers,
    /// nested arrays and objects), as a sink that inspects fields would,
    /// without building a `Value` (for benchmarks).
    #[serde(default)]
    pub read_fields: bool,
}

/// Reads every field of `payload` in place; returns how many string bytes
/// and scalars it read.
fn read_every_field(payload: &PdkValue) -> u64 {
    if let Some(object) = payload.as_object() {
        object
            .iter()
            .map(|(key, value)| key.len() as u64 + read_every_field(value))
            .sum()
    } else if let Some(array) = payload.as_array() {
        array.iter().map(read_every_field).sum()
    } else if let Some(text) = payload.as_str() {
        text.len() as u64
    } else {
        u64::from(payload.cast_f64().is_some() || payload.as_bool().is_some())
    }
}

/// Counts events and their latencies.
#[connector(name = "blackhole")]
pub struct Blackhole {
    config: Config,
    seen: u64,
    recorded: u64,
    first: Option<Instant>,
    last: Option<Instant>,
    latencies: Histogram<u64>,
    reported: bool,
}

impl Blackhole {
    fn summary(&self, alias: &str) -> String {
        let seconds = match (self.first, self.last) {
            (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
            _ => 0.0,
        };
        #[allow(clippy::cast_precision_loss)] // a rate, printed with one decimal
        let rate = if seconds > 0.0 {
            self.recorded as f64 / seconds
        } else {
            0.0
        };
        let h = &self.latencies;
        format!(
            "blackhole id={alias} events={} seconds={seconds:.6} events_per_second={rate:.1} \
             p50_us={} p90_us={} p99_us={} p99_9_us={} max_us={}",
            self.recorded,
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max(),
        )
    }

    fn report(&mut self, alias: &str) {
        if !self.reported {
            self.reported = true;
            println!("{}", self.summary(alias));
        }
    }
}

impl Connector for Blackhole {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        let latencies = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
            .map_err(|e| Error::msg(format!("cannot create the latency histogram: {e}")))?;
        Ok(Self {
            config,
            seen: 0,
            recorded: 0,
            first: None,
            last: None,
            latencies,
            reported: false,
        })
    }

    async fn on_stop(&mut self, ctx: &ConnectorContext) -> Result<()> {
        self.report(ctx.alias());
        Ok(())
    }
}

impl Sink for Blackhole {
    async fn on_event(&mut self, event: Event, ctx: &ConnectorContext) -> Result<SinkReply> {
        self.seen += 1;
        if self.config.materialize {
            std::hint::black_box(event.data());
        }
        if self.config.read_fields {
            std::hint::black_box(read_every_field(event.payload()));
        }
        let done = self.config.stop_after.is_some_and(|n| self.recorded >= n);
        if self.seen <= self.config.warmup || done {
            return Ok(SinkReply::Ack);
        }
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.recorded += 1;
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let latency_us = (now_ns.saturating_sub(event.ingest_ns) / 1_000).clamp(1, MAX_LATENCY_US);
        self.latencies.saturating_record(latency_us);
        if self.config.stop_after == Some(self.recorded) {
            self.report(ctx.alias());
        }
        Ok(SinkReply::Ack)
    }
}

#[pdk_export]
mod plugin {
    pub use super::Blackhole;
}

#[cfg(test)]
mod tests {
    use pdk::testing::{block_on, Harness};
    use pdk::{ErrorKind, SinkReply, Value};

    use super::Blackhole;

    #[test]
    fn acknowledges_every_event_whatever_it_reads() {
        block_on(async {
            let config =
                r#"{"warmup": 1, "stop_after": 2, "read_fields": true, "materialize": true}"#;
            let mut blackhole = Harness::<Blackhole>::from_json(config).unwrap();
            let mut event = Value::object();
            event.insert("nested", vec![Value::from(1_u64), Value::from("two")]);
            for _ in 0..4 {
                assert_eq!(blackhole.send(event.clone()).await, Ok(SinkReply::Ack));
            }
            blackhole.stop().await.unwrap();
        });
    }

    #[test]
    fn a_misspelt_setting_is_a_config_error() {
        let error = Harness::<Blackhole>::from_json(r#"{"stop_afer": 2}"#).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(error.message().contains("stop_afer"), "{}", error.message());
    }
}
