//! Every struct form `#[connector]` takes, and every `use` form
//! `#[pdk_export]` takes: `crate::` and `super::` paths, private and public
//! imports, several `use` items.
use pdk::prelude::*;

#[connector(name = "unit")]
pub struct Unit;

#[connector(name = "tuple_2")]
struct Tuple(u64, String);

#[connector(name = "named")]
pub(crate) struct Named {
    _value: Value,
}

impl Connector for Unit {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }
}

impl Connector for Tuple {
    type Config = NoConfig;

    fn new(_config: NoConfig, ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self(0, ctx.alias().to_owned()))
    }
}

impl Connector for Named {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self { _value: Value::NULL })
    }
}

#[pdk_export]
mod plugin {
    use super::Tuple;
    pub use crate::Unit;
    pub(crate) use crate::{Named};
}

impl Sink for Unit {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        Ok(SinkReply::Ack)
    }
}

impl Sink for Tuple {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        Ok(SinkReply::Ack)
    }
}

impl Sink for Named {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        Ok(SinkReply::Ack)
    }
}

fn main() {}
