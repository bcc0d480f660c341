//! A container-level `#[serde(default)]` (the type's `Default`) and
//! `#[serde(default = "path")]` work with the prelude's derive, and config
//! errors name the author's own types.
use pdk::prelude::*;
use pdk::testing::Harness;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub tls: Option<Tls>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: String::from("localhost"),
            port: 4242,
            tls: None,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Tls {
    pub verify: bool,
}

fn tuned() -> Tuned {
    Tuned { level: 3 }
}

#[derive(Debug, Deserialize)]
#[serde(default = "tuned")]
pub struct Tuned {
    pub level: u8,
}

/// Logs the config it was created with.
#[connector(name = "defaulted")]
pub struct Defaulted;

impl Connector for Defaulted {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        pdk::log::info!("{}:{} tls={:?}", config.host, config.port, config.tls.map(|t| t.verify));
        Ok(Self)
    }
}

impl Sink for Defaulted {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        Ok(SinkReply::Ack)
    }
}

/// Logs its level.
#[connector(name = "tuned")]
pub struct TunedSink;

impl Connector for TunedSink {
    type Config = Tuned;

    fn new(config: Tuned, _ctx: &ConnectorContext) -> Result<Self> {
        pdk::log::info!("level {}", config.level);
        Ok(Self)
    }
}

impl Sink for TunedSink {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        Ok(SinkReply::Ack)
    }
}

#[pdk_export]
mod plugin {
    pub use super::{Defaulted, TunedSink};
}

fn logged(logs: Vec<pdk::testing::LogLine>) -> String {
    logs.into_iter().map(|line| line.message).collect()
}

fn main() {
    let defaulted = Harness::<Defaulted>::from_json(r#"{"port": 80}"#).unwrap();
    assert_eq!(logged(defaulted.logs()), "localhost:80 tls=None");
    let tuned = Harness::<TunedSink>::from_json("{}").unwrap();
    assert_eq!(logged(tuned.logs()), "level 3");

    let not_a_table = Harness::<Defaulted>::from_json("5").err().unwrap();
    assert_eq!(
        not_a_table.message(),
        "invalid type: integer `5`, expected struct Config"
    );
    let nested = Harness::<Defaulted>::from_json(r#"{"tls": 1}"#).err().unwrap();
    assert_eq!(
        nested.message(),
        "field `tls`: invalid type: integer `1`, expected struct Tls"
    );
}
