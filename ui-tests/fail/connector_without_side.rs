//! A connector that implements neither `Source` nor `Sink`: the runtime
//! could never use it.
use pdk::prelude::*;

#[connector(name = "idle")]
pub struct Idle;

impl Connector for Idle {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }
}

#[pdk_export]
mod plugin {
    pub use super::Idle;
}

fn main() {}
