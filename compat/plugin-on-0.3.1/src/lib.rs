//! A source that sends three ticks, and a sink that acknowledges them and
//! counts them in a plugin metric, written against PDK interface 0.3.1
//! (the first with plugin metrics), which every later runtime of
//! interface 0.3 must load and run, showing the metric.

use pdk::metrics::Counter;
use pdk::prelude::*;

/// Sends `{"compat": N}` for N in 0..3, then finishes.
#[connector(name = "compat_ticker")]
pub struct CompatTicker {
    sent: u64,
}

impl Connector for CompatTicker {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self { sent: 0 })
    }
}

impl Source for CompatTicker {
    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        if self.sent == 3 {
            return Ok(SourceReply::Finished);
        }
        let mut event = Value::object();
        event.insert("compat", self.sent);
        self.sent += 1;
        Ok(SourceReply::data(event))
    }
}

/// Acknowledges every event, counting it in the plugin counter
/// `compat_events`.
#[connector(name = "compat_counter")]
pub struct CompatCounter {
    seen: Counter,
}

impl Connector for CompatCounter {
    type Config = NoConfig;

    fn new(_config: NoConfig, ctx: &ConnectorContext) -> Result<Self> {
        let seen = ctx
            .metrics()
            .counter("compat_events", "Events compat_counter acknowledged")?;
        Ok(Self { seen })
    }
}

impl Sink for CompatCounter {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        self.seen.inc();
        Ok(SinkReply::Ack)
    }
}

#[pdk_export]
mod plugin {
    pub use super::{CompatCounter, CompatTicker};
}
