use std::time::Duration;

use pdk::prelude::*;
use tokio::time::{interval, Interval, MissedTickBehavior};

/// The `config` table of a `tokio_ticker` connector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Milliseconds between ticks.
    interval_ms: u64,
    /// Ticks before the source finishes.
    count: u64,
}

/// One event per tick of a tokio interval.
#[connector(name = "tokio_ticker")]
pub struct TokioTicker {
    config: Config,
    ticks: Option<Interval>,
    sent: u64,
}

impl Connector for TokioTicker {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self {
            config,
            ticks: None,
            sent: 0,
        })
    }

    async fn connect(&mut self, _ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
        let mut ticks = interval(Duration::from_millis(self.config.interval_ms.max(1)));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        self.ticks = Some(ticks);
        Ok(true)
    }
}

impl Source for TokioTicker {
    async fn pull_data(&mut self, _pull_id: u64, ctx: &ConnectorContext) -> Result<SourceReply> {
        if self.sent >= self.config.count {
            return Ok(SourceReply::Finished);
        }
        let Some(ticks) = &mut self.ticks else {
            return Ok(SourceReply::Finished);
        };
        // `Interval::tick` is cancel-safe: a dropped pull loses no tick.
        ticks.tick().await;
        let mut event = Value::object();
        event.insert("connector", ctx.alias().to_owned());
        event.insert("tick", self.sent);
        self.sent += 1;
        Ok(SourceReply::data(event))
    }
}
