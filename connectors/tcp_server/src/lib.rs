//! `tcp_server`: listens on `url`; every client connection is a stream.
//! The source side emits one event per received line (decoded by the
//! flow's codec); the sink side writes each event, as one line, back to
//! the client its stream came from. Link the connector to itself for an
//! echo server.
//!
//! Sockets are served by tasks on the plugin's tokio runtime (`pdk`'s
//! `tokio` feature), not by a thread per client. A reply with nothing of
//! its client's before or after it is written at once by the sink side;
//! the others wait in the client's queue of `max_queued_lines` replies,
//! written in batches (module `outbound`; a reply is acknowledged once it
//! is written or queued); a client that does not read until its queue is full is
//! disconnected, and the reply that did not fit is failed, so that
//! it never delays another client or shutdown. A line longer than
//! `max_line_bytes` is dropped with one warning. A client that closes its
//! sending side still gets every reply to what it sent: its connection is
//! closed once every event of its stream is answered.
//!
//! No client can harm the others (see [`client`] and [`Config`]): at most
//! `max_connections` clients, a new one disconnecting the client that has
//! gone longest without sending a whole line; a line must arrive within
//! `line_timeout_ms` of its first byte, and a silent client is
//! disconnected after `idle_timeout_ms`; the partial lines of all clients
//! hold at most `max_buffered_bytes` beyond [`client::FREE_LINE_BYTES`]
//! each. With the defaults, what all clients' partial lines hold is
//! bounded by `max_connections * FREE_LINE_BYTES + max_buffered_bytes`:
//! 72 MiB.

mod client;
mod lines;
mod outbound;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pdk::prelude::*;
use rustc_hash::FxHashMap;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use client::{accept_loop, Incoming, Limits, Tasks};
use outbound::{Outbound, Refused};
use pdk::net::{ByteBudget, Connections, Tally};

/// How long stopping waits for the clients' queued replies to be written.
const FLUSH_ON_STOP: Duration = Duration::from_secs(1);

/// Messages from the server's tasks that may wait for the source side.
const INCOMING_CAPACITY: usize = 1024;

/// The `config` table of a `tcp_server` connector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The address to listen on, `IP:PORT` or `HOST:PORT`, e.g.
    /// `"127.0.0.1:4242"`.
    pub url: String,
    /// The longest line accepted, in bytes, without its newline; a longer
    /// one is dropped with a warning. Default: 1 MiB.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// The replies that may wait to be written to one client; a client
    /// whose queue is full is disconnected. Default: 1024.
    #[serde(default = "default_max_queued_lines")]
    pub max_queued_lines: usize,
    /// The most clients connected at once. A new one beyond it
    /// disconnects the client that has gone longest without sending a
    /// whole line. Default: 512.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long a line may take to arrive from its first byte, in
    /// milliseconds; a slower client is disconnected. Default: 10 000.
    #[serde(default = "default_line_timeout_ms")]
    pub line_timeout_ms: u64,
    /// How long a client may send nothing, in milliseconds, before it is
    /// disconnected. Default: 300 000 (five minutes).
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// The bytes of partial lines all clients may hold together (beyond
    /// 16 KiB each, which short lines always get); a client whose line
    /// does not fit is disconnected. Default: 64 MiB.
    #[serde(default = "default_max_buffered_bytes")]
    pub max_buffered_bytes: usize,
}

fn default_max_connections() -> usize {
    512
}

fn default_line_timeout_ms() -> u64 {
    10_000
}

fn default_idle_timeout_ms() -> u64 {
    300_000
}

fn default_max_buffered_bytes() -> usize {
    64 * 1024 * 1024
}

fn default_max_line_bytes() -> usize {
    1024 * 1024
}

fn default_max_queued_lines() -> usize {
    1024
}

/// `url` as the address to listen on.
fn listen_address(url: &str) -> Result<SocketAddr> {
    let invalid = |problem: String| {
        Error::config(format!(
            "field `url`: `{url}` is not an address to listen on ({problem}); \
             write IP:PORT or HOST:PORT, e.g. \"127.0.0.1:4242\""
        ))
    };
    url.to_socket_addrs()
        .map_err(|e| invalid(e.to_string()))?
        .next()
        .ok_or_else(|| invalid(String::from("it resolves to no address")))
}

/// One connected client, as the connector sees it.
struct Client {
    peer: SocketAddr,
    /// Where its replies go.
    outbound: Outbound,
    /// Closes its connection at once.
    cancel: CancellationToken,
    /// Events of its stream not answered yet.
    unanswered: u64,
    /// It will send no more lines.
    read_closed: bool,
}

/// The listener while it runs.
struct Listening {
    incoming: mpsc::Receiver<Incoming>,
    tasks: Tasks,
}

/// A newline-delimited TCP server.
#[connector(name = "tcp_server")]
pub struct TcpServer {
    address: SocketAddr,
    limits: Limits,
    max_connections: usize,
    max_buffered_bytes: usize,
    listening: Option<Listening>,
    /// The connected clients, by stream id (numbered by this connector:
    /// a fast hasher is safe).
    clients: FxHashMap<u64, Client>,
}

impl TcpServer {
    /// One event of `stream` was answered by every sink.
    fn answered(&mut self, stream: u64) {
        if let Some(client) = self.clients.get_mut(&stream) {
            client.unanswered = client.unanswered.saturating_sub(1);
        }
        self.finish_if_done(stream);
    }

    /// Once a client has sent everything and every event of its stream is
    /// answered, its connection is closed after the replies queued so far.
    fn finish_if_done(&mut self, stream: u64) {
        if self
            .clients
            .get(&stream)
            .is_some_and(|client| client.read_closed && client.unanswered == 0)
        {
            // Dropping the queue's sender lets the writer finish.
            self.clients.remove(&stream);
        }
    }

    /// Closes a client's connection at once.
    fn disconnect(&mut self, stream: u64) {
        if let Some(client) = self.clients.remove(&stream) {
            client.cancel.cancel();
        }
    }
}

impl Connector for TcpServer {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        if config.max_line_bytes == 0 || config.max_queued_lines == 0 || config.max_connections == 0
        {
            return Err(Error::config(
                "`max_line_bytes`, `max_queued_lines` and `max_connections` must be at least 1",
            ));
        }
        Ok(Self {
            address: listen_address(&config.url)?,
            limits: Limits {
                max_line_bytes: config.max_line_bytes,
                max_queued_lines: config.max_queued_lines,
                line_timeout: Duration::from_millis(config.line_timeout_ms),
                idle_timeout: Duration::from_millis(config.idle_timeout_ms),
            },
            max_connections: config.max_connections,
            max_buffered_bytes: config.max_buffered_bytes,
            listening: None,
            clients: FxHashMap::default(),
        })
    }

    async fn connect(&mut self, _ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
        if self.listening.is_some() {
            return Ok(true);
        }
        let listener = TcpListener::bind(self.address)
            .await
            .map_err(|e| Error::cannot_listen(self.address, &e))?;
        pdk::log::info!("listening on {}", listener.local_addr()?);
        let (incoming, receiver) = mpsc::channel(INCOMING_CAPACITY);
        let tasks = Tasks {
            incoming,
            accepting: CancellationToken::new(),
            shutdown: CancellationToken::new(),
            writers: TaskTracker::new(),
            limits: self.limits,
            connections: Connections::new(self.max_connections),
            budget: ByteBudget::new(self.max_buffered_bytes),
            over_budget: Arc::new(Mutex::new(Tally::every(Duration::from_secs(10)))),
        };
        tokio::spawn(accept_loop(listener, tasks.clone()));
        self.listening = Some(Listening {
            incoming: receiver,
            tasks,
        });
        Ok(true)
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        let Some(mut listening) = self.listening.take() else {
            return Ok(());
        };
        listening.tasks.accepting.cancel();
        listening.incoming.close();
        while let Ok(message) = listening.incoming.try_recv() {
            if let Incoming::Opened { cancel, .. } = message {
                cancel.cancel();
            }
        }
        // Writers finish what is queued, then close; a client that does
        // not read gets a bounded wait.
        self.clients.clear();
        listening.tasks.writers.close();
        if tokio::time::timeout(FLUSH_ON_STOP, listening.tasks.writers.wait())
            .await
            .is_err()
        {
            pdk::log::warn!(
                "some clients did not take their replies within {FLUSH_ON_STOP:?}; closing them"
            );
        }
        listening.tasks.shutdown.cancel();
        Ok(())
    }
}

impl Source for TcpServer {
    /// Every event is acknowledged or failed back, so that the server
    /// knows when a client that closed its side has all its replies.
    const TRANSACTIONAL: bool = true;

    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        let Self {
            listening,
            clients,
            limits,
            ..
        } = self;
        let max_line_bytes = limits.max_line_bytes;
        let Some(listening) = listening else {
            return Ok(SourceReply::Finished);
        };
        loop {
            // Cancel-safe: a message is either received and handled below
            // without awaiting, or left in the channel.
            let Some(message) = listening.incoming.recv().await else {
                return Ok(SourceReply::Finished);
            };
            match message {
                Incoming::Opened {
                    stream,
                    peer,
                    outbound,
                    cancel,
                } => {
                    pdk::log::debug!("client {peer} connected (stream {stream})");
                    clients.insert(
                        stream,
                        Client {
                            peer,
                            outbound,
                            cancel,
                            unanswered: 0,
                            read_closed: false,
                        },
                    );
                    return Ok(SourceReply::StreamStarted(stream));
                }
                Incoming::Line { stream, line } => {
                    if let Some(client) = clients.get_mut(&stream) {
                        client.unanswered += 1;
                        client.outbound.pulled();
                    }
                    return Ok(SourceReply::Bytes { data: line, stream });
                }
                Incoming::Oversized { stream } => {
                    let peer = clients
                        .get(&stream)
                        .map_or_else(|| String::from("?"), |c| c.peer.to_string());
                    pdk::log::warn!(
                        "client {peer} (stream {stream}) sent a line longer than \
                         max_line_bytes = {max_line_bytes}; it is dropped"
                    );
                }
                Incoming::ReadClosed { stream } => {
                    if let Some(client) = clients.get_mut(&stream) {
                        client.read_closed = true;
                    }
                    self.finish_if_done(stream);
                    return Ok(SourceReply::StreamEnded(stream));
                }
            }
        }
    }

    async fn ack(&mut self, stream: u64, _pull_id: u64, _ctx: &ConnectorContext) -> Result<()> {
        self.answered(stream);
        Ok(())
    }

    async fn fail(&mut self, stream: u64, _pull_id: u64, _ctx: &ConnectorContext) -> Result<()> {
        self.answered(stream);
        Ok(())
    }
}

impl Sink for TcpServer {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        let stream = event.id.stream;
        let Some(client) = self.clients.get(&stream) else {
            pdk::log::debug!("no client on stream {stream}; the event is failed");
            return Ok(SinkReply::Fail);
        };
        let line = event.to_line();
        // Nothing else of the client's stream is unanswered (this event,
        // if it is its own, is acknowledged after this call).
        let last = client.unanswered <= 1;
        match client.outbound.send(line, last) {
            Ok(()) => Ok(SinkReply::Ack),
            Err(Refused::Full) => {
                pdk::log::warn!(
                    "client {} (stream {stream}) does not read its replies: {} are queued; \
                     disconnecting it",
                    client.peer,
                    self.limits.max_queued_lines
                );
                self.disconnect(stream);
                Ok(SinkReply::Fail)
            }
            // Its writer stopped: the connection broke.
            Err(Refused::Closed) => Ok(SinkReply::Fail),
        }
    }
}

#[pdk_export]
mod plugin {
    pub use super::TcpServer;
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use pdk::testing::{block_on, Harness};
    use pdk::{Event, EventId, SinkReply, SourceReply, Value};

    use super::TcpServer;

    #[test]
    fn each_client_is_a_stream_and_gets_the_replies_of_its_stream() {
        block_on(async {
            let mut server = Harness::<TcpServer>::from_json(r#"{"url": "127.0.0.1:0"}"#).unwrap();
            assert_eq!(server.connect().await, Ok(true));
            let address = server
                .logged_after("listening on ")
                .expect("the listening address is logged");

            let mut client = TcpStream::connect(&address).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            client.write_all(b"ping\n").unwrap();
            let SourceReply::StreamStarted(stream) = server.pull().await.unwrap() else {
                panic!("expected the client's stream to start");
            };
            assert_eq!(
                server.pull().await,
                Ok(SourceReply::Bytes {
                    data: b"ping".to_vec(),
                    stream
                })
            );

            let reply = Event::new(
                EventId {
                    source: 0,
                    stream,
                    pull_id: 1,
                },
                0,
                Value::from("pong"),
            );
            assert_eq!(server.send_event(reply).await, Ok(SinkReply::Ack));
            let mut line = String::new();
            BufReader::new(&client).read_line(&mut line).unwrap();
            assert_eq!(line, "pong\n");

            let other = Event::new(
                EventId {
                    source: 0,
                    stream: stream + 1,
                    pull_id: 2,
                },
                0,
                Value::from("lost"),
            );
            assert_eq!(server.send_event(other).await, Ok(SinkReply::Fail));
            server.stop().await.unwrap();
        });
    }
}
