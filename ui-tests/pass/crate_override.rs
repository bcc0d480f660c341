//! The SDK under another path: `crate = "..."` tells both macros where it
//! is (a dependency renamed in `Cargo.toml` needs nothing: the macros read
//! the name from the manifest).
pub use pdk as sdk;

use sdk::prelude::*;

#[connector(name = "renamed", crate = "crate::sdk")]
pub struct Renamed;

impl Connector for Renamed {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }
}

impl Source for Renamed {
    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        Ok(SourceReply::Finished)
    }
}

#[pdk_export(crate = "crate::sdk")]
mod plugin {
    pub use super::Renamed;
}

fn main() {}
