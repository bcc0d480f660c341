//! `metronome`: a source that emits one event every `interval_ms`
//! milliseconds, `{"connector": ID, "tick": N}` with N counting from 0, and
//! finishes after `count` events if `count` is set.

use std::time::{Duration, Instant};

use pdk::prelude::*;

/// The `config` table of a `metronome` connector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Milliseconds between two events (at least 1).
    pub interval_ms: u64,
    /// How many events to emit before finishing; forever if absent.
    #[serde(default)]
    pub count: Option<u64>,
}

/// Emits one event per tick.
#[connector(name = "metronome")]
pub struct Metronome {
    interval: Duration,
    count: Option<u64>,
    sent: u64,
    next_tick: Option<Instant>,
}

impl Connector for Metronome {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        if config.interval_ms == 0 {
            return Err(Error::config("field `interval_ms`: must be at least 1"));
        }
        Ok(Self {
            interval: Duration::from_millis(config.interval_ms),
            count: config.count,
            sent: 0,
            next_tick: None,
        })
    }
}

impl Source for Metronome {
    async fn pull_data(&mut self, _pull_id: u64, ctx: &ConnectorContext) -> Result<SourceReply> {
        if self.count.is_some_and(|count| self.sent >= count) {
            return Ok(SourceReply::Finished);
        }
        // The deadline lives in `self`, so a dropped pull resumes the same tick.
        let tick = *self
            .next_tick
            .get_or_insert_with(|| Instant::now() + self.interval);
        pdk::time::sleep(tick.saturating_duration_since(Instant::now())).await;
        self.next_tick = Some(tick + self.interval);
        let mut event = Value::object();
        event.insert("connector", ctx.alias().to_owned());
        event.insert("tick", self.sent);
        self.sent += 1;
        Ok(SourceReply::data(event))
    }
}

#[pdk_export]
mod plugin {
    pub use super::Metronome;
}

#[cfg(test)]
mod tests {
    use pdk::testing::{block_on, Harness};
    use pdk::{ErrorKind, SourceReply, Value};

    use super::Metronome;

    fn tick(reply: SourceReply) -> (Value, Value) {
        let SourceReply::Data { data, stream: 0 } = reply else {
            panic!("expected a tick on stream 0, got {reply:?}");
        };
        (
            data.get("connector").cloned().unwrap(),
            data.get("tick").cloned().unwrap(),
        )
    }

    #[test]
    fn ticks_count_from_zero_and_finish_after_count() {
        block_on(async {
            let mut metronome =
                Harness::<Metronome>::from_json(r#"{"interval_ms": 1, "count": 2}"#).unwrap();
            assert_eq!(
                tick(metronome.pull().await.unwrap()),
                (Value::from("test"), Value::from(0_u64))
            );
            assert_eq!(
                tick(metronome.pull().await.unwrap()),
                (Value::from("test"), Value::from(1_u64))
            );
            assert_eq!(metronome.pull().await, Ok(SourceReply::Finished));
        });
    }

    #[test]
    fn a_zero_interval_is_a_config_error() {
        let error = Harness::<Metronome>::from_json(r#"{"interval_ms": 0}"#).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert_eq!(error.message(), "field `interval_ms`: must be at least 1");
    }

    #[test]
    fn an_unknown_field_is_a_config_error_naming_it() {
        let error =
            Harness::<Metronome>::from_json(r#"{"interval_ms": 5, "cuont": 2}"#).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(
            error.message().contains("unknown field `cuont`"),
            "{}",
            error.message()
        );
    }
}
