//! `build_info`: a source that emits `{"build": B, "seq": N}` every
//! `interval_ms` milliseconds, where B is 1, or 2 when built with the
//! `second-build` feature; the live-reload test swaps one build for the
//! other under a running flow.

use std::time::Duration;

use pdk::prelude::*;

/// Which build this is.
const BUILD: u64 = if cfg!(feature = "second-build") { 2 } else { 1 };

/// The `config` of `build_info`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Milliseconds between two events.
    pub interval_ms: u64,
}

/// Emits events that name this build.
#[connector(name = "build_info")]
pub struct BuildInfo {
    interval: Duration,
    seq: u64,
}

impl Connector for BuildInfo {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self {
            interval: Duration::from_millis(config.interval_ms),
            seq: 0,
        })
    }

    async fn on_start(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        pdk::log::info!("build {BUILD} starting");
        Ok(())
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        pdk::log::info!("build {BUILD} stopping after {} events", self.seq);
        Ok(())
    }
}

impl Source for BuildInfo {
    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        pdk::time::sleep(self.interval).await;
        let mut event = Value::object();
        event.insert("build", BUILD);
        event.insert("seq", self.seq);
        self.seq += 1;
        Ok(SourceReply::data(event))
    }
}

#[pdk_export]
mod plugin {
    pub use super::BuildInfo;
}
