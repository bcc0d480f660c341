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
            let socket = UdpSocket::bind(self.address)
                .await
                .map_err(|e| Error::cannot_listen(self.address, &e))?;
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

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::time::Duration;

    use pdk::testing::{block_on, Harness};
    use pdk::{ErrorKind, Event, EventId, SinkReply, SourceReply, Value};

    use super::Udp;

    #[test]
    fn echoes_a_datagram_back_to_the_peer_of_its_stream() {
        block_on(async {
            let mut udp = Harness::<Udp>::from_json(r#"{"url": "127.0.0.1:0"}"#).unwrap();
            assert_eq!(udp.connect().await, Ok(true));
            let server = udp
                .logged_after("bound to ")
                .expect("the bound address is logged");
            let client = UdpSocket::bind("127.0.0.1:0").unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            client.send_to(b"hello", &server).unwrap();

            let SourceReply::Bytes { data, stream } = udp.pull().await.unwrap() else {
                panic!("expected the datagram");
            };
            assert_eq!(data, b"hello");
            let reply = Event::new(
                EventId {
                    source: 0,
                    stream,
                    pull_id: 0,
                },
                0,
                Value::from("hello back"),
            );
            assert_eq!(udp.send_event(reply).await, Ok(SinkReply::Ack));
            let mut buffer = [0u8; 64];
            let (length, from) = client.recv_from(&mut buffer).unwrap();
            assert_eq!(&buffer[..length], b"hello back");
            assert_eq!(from.to_string(), server);
        });
    }

    #[test]
    fn an_event_of_an_unknown_stream_without_a_peer_is_failed() {
        block_on(async {
            let mut udp = Harness::<Udp>::from_json(r#"{"url": "127.0.0.1:0"}"#).unwrap();
            assert_eq!(udp.connect().await, Ok(true));
            assert_eq!(udp.send("nobody").await, Ok(SinkReply::Fail));
        });
    }

    #[test]
    fn an_address_without_a_port_is_a_config_error() {
        let error = Harness::<Udp>::from_json(r#"{"url": "localhost"}"#).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(
            error
                .message()
                .starts_with("field `url`: `localhost` is not a UDP address"),
            "{}",
            error.message()
        );
    }
}
