//! `udp`: binds `url`; the source side emits one event per datagram
//! received (decoded by the flow's codec), the sink side sends one
//! datagram per event. Each peer that sends datagrams is a stream, so an
//! event goes back to the peer its stream came from: link the connector
//! to itself for an echo server. An event of another stream goes to
//! `peer`, if set, and is failed otherwise.

mod peers;

use std::net::{SocketAddr, ToSocketAddrs};

use pdk::prelude::*;
use tokio::net::UdpSocket;

use peers::Peers;

/// The largest payload of a UDP datagram over IPv4.
const MAX_DATAGRAM: usize = 65_507;

/// The `config` table of a `udp` connector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The address to bind, `IP:PORT` or `HOST:PORT`, e.g.
    /// `"127.0.0.1:4243"` (port 0: any free port).
    pub url: String,
    /// Where events that did not come from a peer of this connector go,
    /// `IP:PORT` or `HOST:PORT`. Default: nowhere (they are failed).
    #[serde(default)]
    pub peer: Option<String>,
    /// How many peers are remembered for replies; the one seen longest ago
    /// is forgotten first. Default: 4096.
    #[serde(default = "default_max_peers")]
    pub max_peers: usize,
}

fn default_max_peers() -> usize {
    4096
}

/// `address`, field `field`, resolved.
fn socket_address(field: &str, address: &str) -> Result<SocketAddr> {
    let invalid = |problem: String| {
        Error::config(format!(
            "field `{field}`: `{address}` is not a UDP address ({problem}); \
             write IP:PORT or HOST:PORT, e.g. \"127.0.0.1:4243\""
        ))
    };
    address
        .to_socket_addrs()
        .map_err(|e| invalid(e.to_string()))?
        .next()
        .ok_or_else(|| invalid(String::from("it resolves to no address")))
}

/// One event per datagram, both ways.
#[connector(name = "udp")]
pub struct Udp {
    address: SocketAddr,
    peer: Option<SocketAddr>,
    socket: Option<UdpSocket>,
    peers: Peers,
    buffer: Vec<u8>,
}

impl Connector for Udp {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        if config.max_peers == 0 {
            return Err(Error::config("field `max_peers`: must be at least 1"));
        }
        Ok(Self {
            address: socket_address("url", &config.url)?,
            peer: config
                .peer
                .as_deref()
                .map(|peer| socket_address("peer", peer))
                .transpose()?,
            socket: None,
            peers: Peers::new(config.max_peers),
            buffer: vec![0; MAX_DATAGRAM],
        })
    }

    async fn connect(&mut self, _ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
        if self.socket.is_none() {
            let socket = UdpSocket::bind(self.address).await.map_err(|e| {
                Error::connection_lost(format!("cannot bind {}: {e}", self.address))
            })?;
            pdk::log::info!("bound to {}", socket.local_addr()?);
            self.socket = Some(socket);
        }
        Ok(true)
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.socket = None;
        Ok(())
    }
}

impl Source for Udp {
    async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        let Some(socket) = &self.socket else {
            return Ok(SourceReply::Finished);
        };
        // Cancel-safe: a datagram is either received whole or left queued.
        let (length, from) = socket
            .recv_from(&mut self.buffer)
            .await
            .map_err(|e| Error::connection_lost(format!("receiving failed: {e}")))?;
        Ok(SourceReply::Bytes {
            data: self.buffer[..length].to_vec(),
            stream: self.peers.stream_of(from),
        })
    }
}

impl Sink for Udp {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        let Some(socket) = &self.socket else {
            return Ok(SinkReply::Fail);
        };
        let Some(to) = self.peers.address_of(event.id.stream).or(self.peer) else {
            pdk::log::debug!(
                "no peer for stream {} and no `peer` configured; the event is failed",
                event.id.stream
            );
            return Ok(SinkReply::Fail);
        };
        Ok(match socket.send_to(&event.to_payload(), to).await {
            Ok(_) => SinkReply::Ack,
            Err(error) => {
                pdk::log::debug!("sending to {to} failed: {error}");
                SinkReply::Fail
            }
        })
    }
}

#[pdk_export]
mod plugin {
    pub use super::Udp;
}
