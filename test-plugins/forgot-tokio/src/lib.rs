//! `forgot_tokio`: a sink whose `connect` sleeps with `tokio::time::sleep`,
//! in a plugin that depends on tokio but not on `pdk`'s `tokio` feature,
//! as an author who skipped that step would write it. The runtime's
//! message must say what to do.

use std::time::Duration;

use pdk::prelude::*;

/// Sleeps on tokio's timer in `connect`.
#[connector(name = "forgot_tokio")]
pub struct ForgotTokio;

impl Connector for ForgotTokio {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }

    async fn connect(&mut self, _ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(true)
    }
}

impl Sink for ForgotTokio {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        Ok(SinkReply::Ack)
    }
}

#[pdk::pdk_export]
mod plugin {
    pub use super::ForgotTokio;
}
