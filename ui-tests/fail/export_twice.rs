//! `#[pdk_export]` naming the same type twice.
use pdk::prelude::*;

#[connector(name = "x")]
pub struct X;

impl Connector for X {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }
}

#[pdk_export]
mod plugin {
    pub use super::X;
    pub use super::{X};
}

fn main() {}
