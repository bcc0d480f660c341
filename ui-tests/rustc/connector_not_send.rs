//! A connector holding an `Rc` cannot move between the runtime's threads.
use std::rc::Rc;

use pdk::prelude::*;

#[connector(name = "x")]
pub struct X {
    shared: Rc<u64>,
}

impl Connector for X {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self { shared: Rc::new(0) })
    }
}

fn main() {}
