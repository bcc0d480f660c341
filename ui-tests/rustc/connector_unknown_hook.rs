//! A lifecycle hook that does not exist (`on_stp` instead of `on_stop`).
use pdk::prelude::*;

#[connector(name = "x")]
pub struct X;

impl Connector for X {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }

    async fn on_stp(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        Ok(())
    }
}

impl Sink for X {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        Ok(SinkReply::Ack)
    }
}

fn main() {}
