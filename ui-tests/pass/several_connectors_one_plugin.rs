//! Several connector types, a sink and a source-and-sink, in one plugin,
//! with lifecycle hooks and renamed, grouped exports.
use pdk::prelude::*;

#[connector(name = "sink_only")]
pub struct SinkOnly;

impl Connector for SinkOnly {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }
}

impl Sink for SinkOnly {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        Ok(SinkReply::Ack)
    }
}

#[connector(name = "echo")]
pub struct Echo {
    pending: Vec<Value>,
}

impl Connector for Echo {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self { pending: Vec::new() })
    }

    async fn connect(&mut self, _ctx: &ConnectorContext, attempt: &Attempt) -> Result<bool> {
        Ok(attempt.overall < 10)
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.pending.clear();
        Ok(())
    }
}

impl Source for Echo {
    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        Ok(self.pending.pop().map_or(SourceReply::Empty(10), SourceReply::data))
    }
}

impl Sink for Echo {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        self.pending.push(event.into_data());
        Ok(SinkReply::Ack)
    }
}

#[pdk_export]
mod plugin {
    pub use super::{Echo as Loopback, SinkOnly};
}

fn main() {}
