//! A source that sends three ticks, written against PDK 0.2.0.

use pdk::prelude::*;

/// Sends `{"old": N}` for N in 0..3, then finishes.
#[connector(name = "old_ticker_0_2")]
pub struct OldTicker {
    sent: u64,
}

impl Connector for OldTicker {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self { sent: 0 })
    }
}

impl Source for OldTicker {
    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        if self.sent == 3 {
            return Ok(SourceReply::Finished);
        }
        let mut event = Value::object();
        event.insert("old", self.sent);
        self.sent += 1;
        Ok(SourceReply::data(event))
    }
}

#[pdk_export]
mod plugin {
    pub use super::OldTicker;
}
