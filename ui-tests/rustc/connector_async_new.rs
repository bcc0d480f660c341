//! `new` written as an `async fn`: it is a plain `fn` (connecting belongs
//! in `connect`).
use pdk::prelude::*;

#[connector(name = "x")]
pub struct X;

impl Connector for X {
    type Config = NoConfig;

    async fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }
}

impl Sink for X {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        Ok(SinkReply::Ack)
    }
}

fn main() {}
