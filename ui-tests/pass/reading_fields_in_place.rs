//! A sink that reads an event's fields where they are, in the form the
//! event crossed the boundary in: no `Value` is built.
use pdk::prelude::*;

#[connector(name = "error_counter")]
pub struct ErrorCounter {
    errors: u64,
}

impl Connector for ErrorCounter {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self { errors: 0 })
    }
}

impl Sink for ErrorCounter {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        let payload = event.payload();
        if payload.get_str("level") == Some("error") {
            self.errors += 1;
            let host = payload.get_str("host").unwrap_or("unknown");
            let code = payload.get_u64("code").unwrap_or(0);
            let tags = payload.get_array("tags").map_or(0, |tags| tags.len());
            pdk::log::warn!("error {code} on {host} ({tags} tags), {} so far", self.errors);
        }
        Ok(SinkReply::Ack)
    }
}

#[pdk_export]
mod plugin {
    pub use super::ErrorCounter;
}

fn main() {}
