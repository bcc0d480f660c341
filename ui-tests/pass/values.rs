//! Building values in a source and reading them in a sink.
use pdk::prelude::*;

/// `{"user": {"name": ..., "tags": [...]}, "raw": <bytes>, "n": N}`
fn record(n: u64) -> Value {
    let mut user = Value::object();
    user.insert("name", format!("user-{n}"));
    user.insert("tags", vec![Value::from("new"), Value::from(n % 2 == 0)]);
    let mut event = Value::object();
    event.insert("user", user);
    event.insert("raw", b"\x00\x01".to_vec());
    event.insert("n", n);
    event
}

#[connector(name = "records")]
pub struct Records {
    sent: u64,
}

impl Connector for Records {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self { sent: 0 })
    }
}

impl Source for Records {
    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        self.sent += 1;
        Ok(SourceReply::data(record(self.sent)))
    }
}

#[connector(name = "names")]
pub struct Names {
    seen: Vec<String>,
}

impl Connector for Names {
    type Config = NoConfig;

    fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self { seen: Vec::new() })
    }
}

impl Sink for Names {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        // Reading a field converts the payload once, on first read.
        let name = event
            .data()
            .get("user")
            .and_then(|user| user.get("name"))
            .and_then(Value::as_str);
        match name {
            Some(name) => {
                self.seen.push(name.to_owned());
                Ok(SinkReply::Ack)
            }
            // Not the shape this sink handles: the source gets a fail.
            None => Ok(SinkReply::Fail),
        }
    }
}

#[pdk_export]
mod plugin {
    pub use super::{Names, Records};
}

fn main() {}
