//! `tcp_client`: a sink that connects to `url` and writes each event as one
//! line, on the plugin's tokio runtime (`pdk`'s `tokio` feature). An event
//! is acknowledged once its line is written to the socket. A failed write,
//! or the server closing the connection, reports the lost connection: the
//! runtime reconnects with backoff and fails the event back to its source.

use std::time::Duration;

use pdk::config::SocketAddress;
use pdk::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// The `config` table of a `tcp_client` connector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The server to connect to, `HOST:PORT`, e.g. `"127.0.0.1:4242"`.
    pub url: SocketAddress,
    /// How long one connection attempt may take, in milliseconds.
    /// Default: 5000.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

fn default_connect_timeout_ms() -> u64 {
    5_000
}

/// The connection while it is up.
struct Connection {
    writer: OwnedWriteHalf,
    /// Reads the server's side, to notice when it closes.
    watcher: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// A newline-delimited TCP client.
#[connector(name = "tcp_client")]
pub struct TcpClient {
    url: String,
    connect_timeout: Duration,
    connection: Option<Connection>,
}

impl Connector for TcpClient {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self {
            url: config.url.to_string(),
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            connection: None,
        })
    }

    async fn connect(&mut self, ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
        self.connection = None;
        let cannot = |problem: String| {
            Error::connection_lost(format!("cannot connect to `{}`: {problem}", self.url))
        };
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(&self.url))
            .await
            .map_err(|_| cannot(format!("no answer within {:?}", self.connect_timeout)))?
            .map_err(|e| cannot(e.to_string()))?;
        stream.set_nodelay(true)?;
        let (mut reader, writer) = stream.into_split();
        let notifier = ctx.notifier();
        let watcher = tokio::spawn(async move {
            // The server is not expected to send anything; whatever it
            // sends is discarded, and the end of it means it closed.
            let mut discard = [0u8; 4096];
            while matches!(reader.read(&mut discard).await, Ok(n) if n > 0) {}
            notifier.connection_lost();
        });
        self.connection = Some(Connection { writer, watcher });
        Ok(true)
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        if let Some(mut connection) = self.connection.take() {
            let _ = connection.writer.shutdown().await;
        }
        Ok(())
    }
}

impl Sink for TcpClient {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        let Some(connection) = &mut self.connection else {
            return Ok(SinkReply::Fail);
        };
        let mut line = event.to_payload();
        line.push(b'\n');
        if let Err(error) = connection.writer.write_all(&line).await {
            self.connection = None;
            return Err(Error::connection_lost(format!(
                "writing to `{}` failed: {error}",
                self.url
            )));
        }
        Ok(SinkReply::Ack)
    }
}

#[pdk_export]
mod plugin {
    pub use super::TcpClient;
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    use pdk::testing::{block_on, Harness, Report};
    use pdk::{ErrorKind, SinkReply, Value};

    use super::TcpClient;

    fn config(url: &str) -> Value {
        let mut config = Value::object();
        config.insert("url", url.to_owned());
        config
    }

    // ANCHOR: socket_test
    #[test]
    fn writes_one_line_per_event_and_reports_a_server_that_closes() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = server.local_addr().unwrap().to_string();
        block_on(async {
            let mut client = Harness::<TcpClient>::new(config(&url)).unwrap();
            assert_eq!(client.send("early").await, Ok(SinkReply::Fail));
            assert_eq!(client.connect().await, Ok(true));
            let (accepted, _) = server.accept().unwrap();
            let mut lines = BufReader::new(accepted.try_clone().unwrap()).lines();

            assert_eq!(client.send("hello").await, Ok(SinkReply::Ack));
            assert_eq!(client.send(42_u64).await, Ok(SinkReply::Ack));
            assert_eq!(lines.next().unwrap().unwrap(), "hello");
            assert_eq!(lines.next().unwrap().unwrap(), "42");

            drop(lines);
            drop(accepted);
            assert_eq!(client.next_report().await, Some(Report::ConnectionLost));
        });
    }
    // ANCHOR_END: socket_test

    #[test]
    fn a_url_without_a_port_is_a_config_error() {
        let error = Harness::<TcpClient>::new(config("localhost")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(
            error.message().contains("write HOST:PORT"),
            "{}",
            error.message()
        );
    }
}
