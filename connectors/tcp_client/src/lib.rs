//! `tcp_client`: a sink that connects to `url` and writes each event as one
//! line, on the plugin's tokio runtime (`pdk`'s `tokio` feature). Lines are
//! written in batches ([`pdk::batch`]): what arrives while a write is under
//! way goes out in the next one, one `write` for many events, and each
//! event is acknowledged once the write holding its line is done. A failed
//! write, or the server closing the connection, reports the lost
//! connection: the runtime reconnects with backoff and fails the batch's
//! events back to their sources.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pdk::batch::{Batch, BatchWriter, Bounds};
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
    /// The most lines in one write. Default: 1024.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// How long the first line of a batch waits for more, in
    /// milliseconds. Default: 0 (written at once; what arrives meanwhile
    /// goes in the next write).
    #[serde(default)]
    pub linger_ms: u64,
}

fn default_connect_timeout_ms() -> u64 {
    5_000
}

fn default_max_batch() -> usize {
    1024
}

/// The writing half of the connection while it is up, shared by the
/// connector (which connects) and its batch task (which writes).
type SharedWriter = Arc<Mutex<Option<OwnedWriteHalf>>>;

/// A newline-delimited TCP client.
#[connector(name = "tcp_client")]
pub struct TcpClient {
    url: String,
    connect_timeout: Duration,
    writer: SharedWriter,
    /// Reads the server's side of the connection, to notice when it
    /// closes.
    watcher: Option<JoinHandle<()>>,
    lines: Batch<Vec<u8>>,
}

impl Connector for TcpClient {
    type Config = Config;

    fn new(config: Config, ctx: &ConnectorContext) -> Result<Self> {
        if config.max_batch == 0 {
            return Err(Error::config(
                "`max_batch` is 0; fix: write at least 1 (the most lines in one write)",
            ));
        }
        let url = config.url.to_string();
        let writer = SharedWriter::default();
        let lines = LineWriter {
            url: url.clone(),
            writer: Arc::clone(&writer),
        };
        let bounds = Bounds {
            max_events: config.max_batch,
            linger: Duration::from_millis(config.linger_ms),
        };
        Ok(Self {
            url,
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            writer,
            watcher: None,
            lines: Batch::start(bounds, lines, ctx),
        })
    }

    async fn connect(&mut self, ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
        self.disconnect();
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
        self.watcher = Some(tokio::spawn(async move {
            // The server is not expected to send anything; whatever it
            // sends is discarded, and the end of it means it closed.
            let mut discard = [0u8; 4096];
            while matches!(reader.read(&mut discard).await, Ok(n) if n > 0) {}
            notifier.connection_lost();
        }));
        *lock(&self.writer) = Some(writer);
        Ok(true)
    }

    async fn on_drain(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.lines.flush().await
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.lines.flush().await?;
        let writer = lock(&self.writer).take();
        self.disconnect();
        if let Some(mut writer) = writer {
            let _ = writer.shutdown().await;
        }
        Ok(())
    }
}

impl TcpClient {
    /// Drops the connection, if there is one.
    fn disconnect(&mut self) {
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
        *lock(&self.writer) = None;
    }
}

impl Drop for TcpClient {
    fn drop(&mut self) {
        self.disconnect();
    }
}

impl Sink for TcpClient {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        if lock(&self.writer).is_none() {
            return Ok(SinkReply::Fail);
        }
        let line = event.to_line();
        self.lines.push(event.id, line).await
    }
}

/// Writes a batch of lines to the connection in one `write_all`.
struct LineWriter {
    url: String,
    writer: SharedWriter,
}

impl BatchWriter<Vec<u8>> for LineWriter {
    async fn write(&mut self, lines: &mut Vec<Vec<u8>>) -> Result<()> {
        let Some(mut writer) = lock(&self.writer).take() else {
            return Err(Error::connection_lost(format!(
                "not connected to `{}`",
                self.url
            )));
        };
        let bytes = lines.concat();
        writer.write_all(&bytes).await.map_err(|error| {
            Error::connection_lost(format!("writing to `{}` failed: {error}", self.url))
        })?;
        // Unless the connector connected again meanwhile, the connection
        // serves the next batch.
        lock(&self.writer).get_or_insert(writer);
        Ok(())
    }
}

/// The shared writer, whatever a panicking holder left in it.
fn lock(writer: &SharedWriter) -> std::sync::MutexGuard<'_, Option<OwnedWriteHalf>> {
    writer.lock().unwrap_or_else(PoisonError::into_inner)
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

            // Written in batches: each event is acknowledged once the
            // write that holds its line is done.
            assert_eq!(client.send("hello").await, Ok(SinkReply::Deferred));
            let hello = client.last_event_id().unwrap();
            assert_eq!(client.send(42_u64).await, Ok(SinkReply::Deferred));
            let answer = client.last_event_id().unwrap();
            assert_eq!(lines.next().unwrap().unwrap(), "hello");
            assert_eq!(lines.next().unwrap().unwrap(), "42");
            client.drain().await.unwrap();
            let acked: Vec<Report> = client.reports();
            assert_eq!(acked, [Report::Ack(hello), Report::Ack(answer)]);

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
