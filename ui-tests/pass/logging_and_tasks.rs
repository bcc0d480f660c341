//! A sink that logs, sleeps on the runtime's timer and answers events
//! from a background task on the runtime's executor.
use std::time::Duration;

use pdk::prelude::*;

#[connector(name = "slow_acker")]
pub struct SlowAcker;

impl Connector for SlowAcker {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }

    async fn on_start(&mut self, ctx: &ConnectorContext) -> Result<()> {
        pdk::log::info!("`{}` ready", ctx.alias());
        Ok(())
    }
}

impl Sink for SlowAcker {
    async fn on_event(&mut self, event: Event, ctx: &ConnectorContext) -> Result<SinkReply> {
        pdk::log::debug!("deferring {:?}", event.id);
        let replies = ctx.replies();
        let id = event.id;
        pdk::task::spawn(async move {
            pdk::time::sleep(Duration::from_millis(10)).await;
            replies.ack(id);
        });
        Ok(SinkReply::Deferred)
    }
}

#[pdk_export]
mod plugin {
    pub use super::SlowAcker;
}

fn main() {}
