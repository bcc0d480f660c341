//! `stdout`: a sink that writes every event as one line of JSON on the
//! standard output of the runtime.

use std::io::Write;

use pdk::prelude::*;

/// Prints each event as one JSON line.
#[connector(name = "stdout")]
pub struct Stdout;

impl Connector for Stdout {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self)
    }

    async fn on_drain(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        std::io::stdout().flush()?;
        Ok(())
    }
}

impl Sink for Stdout {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", event.to_json_string())?;
        Ok(SinkReply::Ack)
    }
}

#[pdk_export]
mod plugin {
    pub use super::Stdout;
}
