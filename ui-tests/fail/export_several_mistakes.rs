//! Several mistakes in one `#[pdk_export]` module: every one is reported
//! in the same build.
use pdk::prelude::*;

#[connector(name = "a")]
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

#[pdk_export]
mod plugin {
    pub use super::{A, A};
    pub use super::*;
    fn helper() {}
}

fn main() {}
