//! `#[connector]` on the impl block instead of the struct.
use pdk::prelude::*;

pub struct X;

#[connector(name = "x")]
impl Connector for X {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }
}

fn main() {}
