//! `pull_data` without its `pull_id` argument.
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
    async fn pull_data(&mut self, _ctx: &ConnectorContext) -> Result<SourceReply> {
        Ok(SourceReply::Finished)
    }
}

fn main() {}
