//! `tcp_client`: a sink that connects to `url` and writes each event as one
//! line. A failed write reports the lost connection; the runtime then
//! reconnects with backoff, and the event is failed back to its source.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use pdk::prelude::*;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `config` table of a `tcp_client` connector.
#[derive(Debug, Deserialize)]
#[serde(crate = "pdk::serde", deny_unknown_fields)]
pub struct Config {
    /// The server to connect to, e.g. `"127.0.0.1:4242"`.
    pub url: String,
}

/// A newline-delimited TCP client.
#[connector(name = "tcp_client")]
pub struct TcpClient {
    url: String,
    stream: Option<TcpStream>,
}

impl TcpClient {
    fn open(&self) -> std::io::Result<TcpStream> {
        let mut last_error = None;
        for address in self.url.to_socket_addrs()? {
            match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
                Ok(stream) => return Ok(stream),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| std::io::Error::other("the address resolves to nothing")))
    }
}

impl Connector for TcpClient {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self {
            url: config.url,
            stream: None,
        })
    }

    async fn connect(&mut self, _ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
        let stream = self.open().map_err(|e| {
            Error::connection_lost(format!("cannot connect to `{}`: {e}", self.url))
        })?;
        stream.set_nodelay(true)?;
        self.stream = Some(stream);
        Ok(true)
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.stream = None;
        Ok(())
    }
}

impl Sink for TcpClient {
    async fn on_event(&mut self, event: Event, ctx: &ConnectorContext) -> Result<SinkReply> {
        let Some(stream) = &mut self.stream else {
            return Ok(SinkReply::Fail);
        };
        let mut line = event.to_payload();
        line.push(b'\n');
        if stream.write_all(&line).is_err() {
            self.stream = None;
            ctx.notifier().connection_lost();
            return Ok(SinkReply::Fail);
        }
        Ok(SinkReply::Ack)
    }
}

#[pdk_export]
mod plugin {
    pub use super::TcpClient;
}
