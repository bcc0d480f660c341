use pdk::prelude::*;

/// The `config` table of a `reqwest_post` connector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to POST, `http://HOST:PORT/PATH`.
    url: String,
}

/// POSTs each event with reqwest.
#[connector(name = "reqwest_post")]
pub struct ReqwestPost {
    url: String,
    client: reqwest::Client,
}

impl Connector for ReqwestPost {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| Error::config(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self {
            url: config.url,
            client,
        })
    }
}

impl Sink for ReqwestPost {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        let response = self
            .client
            .post(&self.url)
            .body(event.to_payload())
            .send()
            .await
            .map_err(|e| Error::connection_lost(format!("POST {}: {e}", self.url)))?;
        Ok(if response.status().is_success() {
            SinkReply::Ack
        } else {
            pdk::log::warn!("POST {}: {}", self.url, response.status());
            SinkReply::Fail
        })
    }
}
