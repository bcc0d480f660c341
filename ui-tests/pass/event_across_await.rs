//! `Event` is `Sync`: a helper may hold `&Event` across an `.await`, and
//! the sink's future is still `Send`.
use std::time::Duration;

use pdk::prelude::*;

/// Waits, then reads the event.
async fn host_after_a_while(event: &Event) -> Option<String> {
    pdk::time::sleep(Duration::from_millis(1)).await;
    event.payload().get_str("host").map(str::to_owned)
}

#[connector(name = "patient")]
pub struct Patient;

impl Connector for Patient {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }
}

impl Sink for Patient {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        let host = host_after_a_while(&event).await;
        pdk::log::debug!("host {host:?}");
        Ok(SinkReply::Ack)
    }
}

#[pdk_export]
mod plugin {
    pub use super::Patient;
}

fn main() {}
