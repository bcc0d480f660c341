//! A config type that does not implement `Deserialize`.
use pdk::prelude::*;

pub struct Settings {
    pub port: u16,
}

#[connector(name = "x")]
pub struct X;

impl Connector for X {
    type Config = Settings;

    fn new(_config: Settings, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }
}

impl Sink for X {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        Ok(SinkReply::Ack)
    }
}

fn main() {}
