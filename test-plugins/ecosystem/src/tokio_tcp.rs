use std::time::Duration;

use pdk::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;

/// The `config` table of a `tokio_tcp` connector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The server, `HOST:PORT`.
    url: String,
    /// How long to wait before acknowledging a written event.
    #[serde(default = "default_ack_delay_ms")]
    ack_delay_ms: u64,
}

fn default_ack_delay_ms() -> u64 {
    1
}

/// Writes one line per event to a TCP server, on tokio.
#[connector(name = "tokio_tcp")]
pub struct TokioTcp {
    config: Config,
    writer: Option<OwnedWriteHalf>,
}

impl Connector for TokioTcp {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self {
            config,
            writer: None,
        })
    }

    async fn connect(&mut self, ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
        let stream = TcpStream::connect(&self.config.url).await?;
        let (mut reader, writer) = stream.into_split();
        let notifier = ctx.notifier();
        // A `tokio::spawn`ed task runs on the plugin's tokio worker: its
        // records name the connector's target to keep its tag.
        let target = ctx.log_target().to_owned();
        let url = self.config.url.clone();
        tokio::spawn(async move {
            pdk::log::info!(target: &target, "watching the connection to {url}");
            // The server sends nothing: the read ends when it closes.
            let mut buf = [0u8; 64];
            while matches!(reader.read(&mut buf).await, Ok(n) if n > 0) {}
            notifier.connection_lost();
        });
        self.writer = Some(writer);
        pdk::log::info!("connected to {}", self.config.url);
        Ok(true)
    }
}

impl Sink for TokioTcp {
    async fn on_event(&mut self, event: Event, ctx: &ConnectorContext) -> Result<SinkReply> {
        let Some(writer) = &mut self.writer else {
            return Ok(SinkReply::Fail);
        };
        let mut line = event.to_payload();
        line.push(b'\n');
        if let Err(error) = writer.write_all(&line).await {
            self.writer = None;
            return Err(Error::connection_lost(error));
        }
        let replies = ctx.replies();
        let (id, delay) = (event.id, Duration::from_millis(self.config.ack_delay_ms));
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            replies.ack(id);
        });
        Ok(SinkReply::Deferred)
    }
}
