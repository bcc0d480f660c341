//! The prelude's `#[derive(Deserialize)]` needs no `#[serde(crate = ...)]`
//! and no serde dependency, and keeps every serde attribute.
use pdk::prelude::*;

fn default_port() -> u16 {
    4242
}

/// Every shape a config takes: named fields with defaults and renames,
/// a nested enum, a newtype, generics.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub host_name: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub mode: Mode,
    pub limit: Limit,
    pub tags: Tagged<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Plain,
    Tls { verify: bool },
    Proxy(String),
}

#[derive(Debug, Deserialize)]
pub struct Limit(pub u32);

#[derive(Debug, Deserialize)]
pub struct Tagged<T> {
    pub value: T,
}

#[connector(name = "configured")]
pub struct Configured;

impl Connector for Configured {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        let _ = (config.host_name, config.port, config.mode, config.limit.0, config.tags.value);
        Ok(Self)
    }
}

impl Sink for Configured {
    async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        Ok(SinkReply::Ack)
    }
}

#[pdk_export]
mod plugin {
    pub use super::Configured;
}

fn main() {}
