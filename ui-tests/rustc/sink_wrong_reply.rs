//! `on_event` answering `()` instead of a `SinkReply`.
use pdk::prelude::*;

#[connector(name = "x")]
pub struct X;

impl Connector for X {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }
}

impl Sink for X {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<()> {
        Ok(())
    }
}

fn main() {}
