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

#[cfg(test)]
mod tests {
    use pdk::testing::{block_on, Harness};
    use pdk::{ErrorKind, SinkReply, Value};

    use super::Stdout;

    #[test]
    fn acknowledges_every_event_it_prints() {
        block_on(async {
            let mut stdout = Harness::<Stdout>::new(Value::object()).unwrap();
            assert_eq!(stdout.send("a line").await, Ok(SinkReply::Ack));
            assert_eq!(stdout.send(7_u64).await, Ok(SinkReply::Ack));
            stdout.drain().await.unwrap();
        });
    }

    #[test]
    fn takes_no_config() {
        let error = Harness::<Stdout>::from_json(r#"{"path": "out.txt"}"#).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
    }
}
