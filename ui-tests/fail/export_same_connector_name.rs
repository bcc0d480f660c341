//! Two connector types with the same name in one plugin.
use pdk::prelude::*;

#[connector(name = "twin")]
pub struct A;

impl Connector for A {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }
}

impl Sink for A {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        Ok(SinkReply::Ack)
    }
}

#[connector(name = "twin")]
pub struct B;

impl Connector for B {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }
}

impl Sink for B {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        Ok(SinkReply::Ack)
    }
}

#[pdk_export]
mod plugin {
    pub use super::{A, B};
}

fn main() {}
