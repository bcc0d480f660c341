//! A sink whose config reads a server address and a duration with
//! `pdk::config`'s field types, and which keeps the handle of the task it
//! spawns to stop it on `on_stop`.
use pdk::prelude::*;

// ANCHOR: config
use pdk::config::{Duration, SocketAddress};

#[derive(Deserialize)]
pub struct Config {
    pub url: SocketAddress,
    pub timeout: Duration,
}
// ANCHOR_END: config

#[connector(name = "watched")]
pub struct Watched {
    pub url: SocketAddress,
    pub timeout: Duration,
    watcher: Option<pdk::task::JoinHandle<()>>,
}

impl Connector for Watched {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self {
            url: config.url,
            timeout: config.timeout,
            watcher: None,
        })
    }

    // ANCHOR: handle
    async fn connect(&mut self, ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
        let (timeout, lost) = (*self.timeout, ctx.notifier());
        let watcher = pdk::task::spawn(async move {
            pdk::time::sleep(timeout).await;
            lost.connection_lost();
        });
        // A new connection's watcher replaces the last one's.
        if let Some(last) = self.watcher.replace(watcher) {
            last.abort();
        }
        Ok(true)
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
        Ok(())
    }
    // ANCHOR_END: handle
}

impl Sink for Watched {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        pdk::log::debug!("sending to {}", self.url);
        Ok(SinkReply::Ack)
    }
}

#[pdk_export]
mod plugin {
    pub use super::Watched;
}

fn main() {}
