//! A source that sends three ticks, and a sink that acknowledges and
//! counts, written against PDK 0.3.0: the first growable interface, which
//! every later runtime of interface 0.3 must load and run.

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

/// Acknowledges every event; logs how many it got when it stops.
#[connector(name = "compat_counter")]
pub struct CompatCounter {
    seen: u64,
}

impl Connector for CompatCounter {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self { seen: 0 })
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        pdk::log::info!("compat_counter saw {} events", self.seen);
        Ok(())
    }
}

impl Sink for CompatCounter {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        self.seen += 1;
        Ok(SinkReply::Ack)
    }
}

#[pdk_export]
mod plugin {
    pub use super::{CompatCounter, CompatTicker};
}
