//! `?` on the error of any crate, and `.context(...)` to say what was
//! being done, in a connector's methods.
use pdk::prelude::*;

#[derive(Deserialize)]
pub struct Config {
    pub path: String,
}

#[connector(name = "reads_a_number")]
pub struct ReadsANumber {
    path: String,
}

impl Connector for ReadsANumber {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self { path: config.path })
    }
}

impl Source for ReadsANumber {
    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        // `std::io::Error`, with what was being done.
        let text = std::fs::read_to_string(&self.path)
            .with_context(|| format!("reading `{}`", self.path))?;
        // `ParseIntError`, as it is.
        let number: u64 = text.trim().parse()?;
        // An `Option`.
        let first = text.lines().next().context("the file is empty")?;
        let mut event = Value::object();
        event.insert("number", number);
        event.insert("line", first.to_owned());
        Ok(SourceReply::data(event))
    }
}

#[pdk_export]
mod plugin {
    pub use super::ReadsANumber;
}

fn main() {}
