//! `pull_data` returning the wrong type.
use pdk::prelude::*;

#[connector(name = "x")]
pub struct X;

impl Connector for X {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }
}

impl Source for X {
    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<Value> {
        Ok(Value::NULL)
    }
}

fn main() {}
