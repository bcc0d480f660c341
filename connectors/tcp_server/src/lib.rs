//! `tcp_server`: listens on `url`; every client connection is a stream.
//! The source side emits one event per received line (decoded by the
//! flow's codec); the sink side writes each event, as one line, back to
//! the client its stream came from. Link the connector to itself for an
//! echo server.
//!
//! Sockets are served by plain threads that hand lines to the async side
//! through a channel, so the plugin runs no executor or reactor of its own.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_channel::{Receiver, Sender};
use pdk::prelude::*;

/// The `config` table of a `tcp_server` connector.
#[derive(Debug, Deserialize)]
#[serde(crate = "pdk::serde", deny_unknown_fields)]
pub struct Config {
    /// The address to listen on, e.g. `"127.0.0.1:4242"`.
    pub url: String,
}

/// What the socket threads report.
enum Incoming {
    Opened(u64),
    Line(u64, Vec<u8>),
    Closed(u64),
}

/// The write halves of the connected clients, by stream id.
type Clients = Arc<Mutex<HashMap<u64, TcpStream>>>;

/// The listener while it runs.
struct Listening {
    address: SocketAddr,
    incoming: Receiver<Incoming>,
    stopping: Arc<AtomicBool>,
}

/// A newline-delimited TCP server.
#[connector(name = "tcp_server")]
pub struct TcpServer {
    url: String,
    clients: Clients,
    listening: Option<Listening>,
}

impl TcpServer {
    fn stop_listening(&mut self) {
        if let Some(listening) = self.listening.take() {
            listening.stopping.store(true, Ordering::SeqCst);
            // Wakes the accept thread up so that it sees the flag.
            let _ = TcpStream::connect(listening.address);
        }
        let clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        for client in clients.values() {
            let _ = client.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    clients: Clients,
    events: Sender<Incoming>,
    stopping: Arc<AtomicBool>,
) {
    let mut next_stream = 1;
    for connection in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = connection else { continue };
        let Ok(writer) = stream.try_clone() else {
            continue;
        };
        let id = next_stream;
        next_stream += 1;
        clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, writer);
        if events.send_blocking(Incoming::Opened(id)).is_err() {
            return;
        }
        let (clients, events) = (Arc::clone(&clients), events.clone());
        std::thread::spawn(move || read_loop(id, stream, &clients, &events));
    }
}

fn read_loop(
    id: u64,
    stream: TcpStream,
    clients: &Mutex<HashMap<u64, TcpStream>>,
    events: &Sender<Incoming>,
) {
    for line in BufReader::new(stream).split(b'\n') {
        let Ok(mut line) = line else { break };
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if events.send_blocking(Incoming::Line(id, line)).is_err() {
            break;
        }
    }
    clients
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id);
    let _ = events.send_blocking(Incoming::Closed(id));
}

impl Connector for TcpServer {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self {
            url: config.url,
            clients: Arc::default(),
            listening: None,
        })
    }

    async fn connect(&mut self, _ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
        if self.listening.is_some() {
            return Ok(true);
        }
        let listener = TcpListener::bind(&self.url)
            .map_err(|e| Error::connection_lost(format!("cannot listen on `{}`: {e}", self.url)))?;
        let address = listener.local_addr()?;
        let (events, incoming) = async_channel::bounded(1024);
        let stopping = Arc::new(AtomicBool::new(false));
        let (clients, flag) = (Arc::clone(&self.clients), Arc::clone(&stopping));
        std::thread::spawn(move || accept_loop(listener, clients, events, flag));
        pdk::log::info!("listening on {address}");
        self.listening = Some(Listening {
            address,
            incoming,
            stopping,
        });
        Ok(true)
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.stop_listening();
        Ok(())
    }
}

impl Source for TcpServer {
    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        let Some(listening) = &self.listening else {
            return Ok(SourceReply::Finished);
        };
        Ok(match listening.incoming.recv().await {
            Ok(Incoming::Opened(stream)) => SourceReply::StreamStarted(stream),
            Ok(Incoming::Line(stream, data)) => SourceReply::Bytes { data, stream },
            Ok(Incoming::Closed(stream)) => SourceReply::StreamEnded(stream),
            Err(_) => SourceReply::Finished,
        })
    }
}

impl Sink for TcpServer {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        let mut line = event.to_payload();
        line.push(b'\n');
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(client) = clients.get_mut(&event.id.stream) else {
            pdk::log::debug!(
                "no client on stream {}; the event is failed",
                event.id.stream
            );
            return Ok(SinkReply::Fail);
        };
        Ok(match client.write_all(&line) {
            Ok(()) => SinkReply::Ack,
            Err(_) => SinkReply::Fail,
        })
    }
}

#[pdk_export]
mod plugin {
    pub use super::TcpServer;
}
