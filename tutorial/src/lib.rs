//! `greeter`: the book's tutorial connector. A source that greets every
//! name of its config, one every `interval_ms` milliseconds, then
//! finishes.

// ANCHOR: imports
use std::collections::VecDeque;
use std::time::Duration;

use pdk::prelude::*;
// ANCHOR_END: imports

// ANCHOR: config
/// The `config` table of a `greeter` connector in a flow file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Who to greet, in order.
    pub names: Vec<String>,
    /// Milliseconds between two greetings.
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
}

fn default_interval_ms() -> u64 {
    100
}
// ANCHOR_END: config

// ANCHOR: state
/// Greets each name of its config once.
#[connector(name = "greeter")]
pub struct Greeter {
    to_greet: VecDeque<String>,
    interval: Duration,
}
// ANCHOR_END: state

// ANCHOR: connector
impl Connector for Greeter {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        if config.names.is_empty() {
            return Err(Error::config("field `names`: give at least one name"));
        }
        Ok(Self {
            to_greet: config.names.into(),
            interval: Duration::from_millis(config.interval_ms),
        })
    }

    async fn on_start(&mut self, ctx: &ConnectorContext) -> Result<()> {
        pdk::log::info!("`{}` will greet {} names", ctx.alias(), self.to_greet.len());
        Ok(())
    }
}
// ANCHOR_END: connector

// ANCHOR: source
impl Source for Greeter {
    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        if self.to_greet.is_empty() {
            return Ok(SourceReply::Finished);
        }
        // Wait before taking the name: if the runtime drops this future
        // while it sleeps, no name is lost (`pull_data` must be
        // cancel-safe).
        pdk::time::sleep(self.interval).await;
        let Some(name) = self.to_greet.pop_front() else {
            return Ok(SourceReply::Finished);
        };
        let mut event = Value::object();
        event.insert("greeting", format!("Hello, {name}!"));
        Ok(SourceReply::data(event))
    }
}
// ANCHOR_END: source

// ANCHOR: export
#[pdk_export]
mod plugin {
    pub use super::Greeter;
}
// ANCHOR_END: export

// ANCHOR: test
#[cfg(test)]
mod tests {
    use pdk::testing::{block_on, Harness};
    use pdk::{ErrorKind, SourceReply};

    use super::Greeter;

    #[test]
    fn greets_every_name_in_order_then_finishes() {
        block_on(async {
            let config = r#"{"names": ["Ada", "Grace"], "interval_ms": 1}"#;
            let mut greeter = Harness::<Greeter>::from_json(config).unwrap();
            assert_eq!(greeter.connect().await, Ok(true));
            greeter.start().await.unwrap();

            for name in ["Ada", "Grace"] {
                let SourceReply::Data { data, .. } = greeter.pull().await.unwrap() else {
                    panic!("expected a greeting");
                };
                assert_eq!(
                    data.get("greeting").and_then(|g| g.as_str()),
                    Some(&*format!("Hello, {name}!"))
                );
            }
            assert_eq!(greeter.pull().await, Ok(SourceReply::Finished));

            let logs = greeter.logs();
            assert_eq!(logs.len(), 1);
            assert_eq!(logs[0].message, "`test` will greet 2 names");
        });
    }

    #[test]
    fn an_empty_list_of_names_is_a_config_error() {
        let error = Harness::<Greeter>::from_json(r#"{"names": []}"#).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert_eq!(error.message(), "field `names`: give at least one name");
    }
}
// ANCHOR_END: test
