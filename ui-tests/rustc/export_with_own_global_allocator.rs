//! A plugin declaring a global allocator of its own: `pdk` pins the system
//! allocator, so that buffers cross the boundary without copies.
use pdk::prelude::*;

#[global_allocator]
static ALLOCATOR: std::alloc::System = std::alloc::System;

#[connector(name = "x")]
pub struct X;

impl Connector for X {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }
}

#[pdk_export]
mod plugin {
    pub use super::X;
}

impl Sink for X {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        Ok(SinkReply::Ack)
    }
}

fn main() {}
