//! A transactional source, and a sink that answers later from a background
//! task, works the circuit breaker and reports a lost connection.
use std::time::Duration;

use pdk::prelude::*;

#[connector(name = "replay")]
pub struct Replay {
    unacked: Vec<u64>,
}

impl Connector for Replay {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self { unacked: Vec::new() })
    }
}

impl Source for Replay {
    const TRANSACTIONAL: bool = true;

    async fn pull_data(&mut self, pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        self.unacked.push(pull_id);
        Ok(SourceReply::bytes(b"{}".to_vec()))
    }

    async fn ack(&mut self, _stream: u64, pull_id: u64, _ctx: &ConnectorContext) -> Result<()> {
        self.unacked.retain(|id| *id != pull_id);
        Ok(())
    }

    async fn fail(&mut self, _stream: u64, _pull_id: u64, _ctx: &ConnectorContext) -> Result<()> {
        Ok(())
    }
}

#[connector(name = "later")]
pub struct Later;

impl Connector for Later {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }

    async fn connect(&mut self, ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
        let notifier = ctx.notifier();
        pdk::task::spawn(async move {
            pdk::time::sleep(Duration::from_secs(60)).await;
            notifier.connection_lost();
        });
        Ok(true)
    }
}

impl Sink for Later {
    async fn on_event(&mut self, event: Event, ctx: &ConnectorContext) -> Result<SinkReply> {
        let replies = ctx.replies();
        replies.pause_sources();
        pdk::task::spawn(async move {
            replies.ack(event.id);
            replies.resume_sources();
        });
        Ok(SinkReply::Deferred)
    }
}

#[pdk_export]
mod plugin {
    pub use super::Later;
    pub use super::Replay;
}

fn main() {}
