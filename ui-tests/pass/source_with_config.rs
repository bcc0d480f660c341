//! A source with a typed config, exported on its own; the config derives
//! serde's own `Deserialize`, through `pdk`'s serde.
use pdk::prelude::*;

#[derive(pdk::serde::Deserialize)]
#[serde(crate = "pdk::serde")]
pub struct Config {
    pub count: u64,
}

#[connector(name = "counter")]
pub struct Counter {
    left: u64,
}

impl Connector for Counter {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self { left: config.count })
    }
}

impl Source for Counter {
    async fn pull_data(&mut self, pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        if self.left == 0 {
            return Ok(SourceReply::Finished);
        }
        self.left -= 1;
        Ok(SourceReply::data(pull_id))
    }
}

#[pdk_export]
mod plugin {
    pub use super::Counter;
}

fn main() {}
