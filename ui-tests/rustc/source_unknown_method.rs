//! A method name that is not part of the source model.
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
    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        Ok(SourceReply::Finished)
    }

    async fn pul_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        Ok(SourceReply::Finished)
    }
}

fn main() {}
