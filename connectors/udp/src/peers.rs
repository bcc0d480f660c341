//! The peers a `udp` connector has heard from, each a stream, so that a
//! reply finds its way back; bounded, forgetting the one seen longest ago.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

/// Peer addresses and their stream numbers.
pub struct Peers {
    streams: HashMap<SocketAddr, u64>,
    addresses: HashMap<u64, SocketAddr>,
    /// Streams in the order their peers were first seen.
    order: VecDeque<u64>,
    next_stream: u64,
    capacity: usize,
}

impl Peers {
    /// Remembers at most `capacity` peers.
    pub fn new(capacity: usize) -> Self {
        Self {
            streams: HashMap::new(),
            addresses: HashMap::new(),
            order: VecDeque::new(),
            next_stream: 1,
            capacity,
        }
    }

    /// The stream of the peer at `address`, a new one if it is new.
    pub fn stream_of(&mut self, address: SocketAddr) -> u64 {
        if let Some(&stream) = self.streams.get(&address) {
            return stream;
        }
        if self.order.len() >= self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                if let Some(forgotten) = self.addresses.remove(&oldest) {
                    self.streams.remove(&forgotten);
                }
            }
        }
        let stream = self.next_stream;
        self.next_stream += 1;
        self.streams.insert(address, stream);
        self.addresses.insert(stream, address);
        self.order.push_back(stream);
        stream
    }

    /// The address of the peer of `stream`, if it is remembered.
    pub fn address_of(&self, stream: u64) -> Option<SocketAddr> {
        self.addresses.get(&stream).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_peer_keeps_its_stream() {
        let mut peers = Peers::new(8);
        let first = peers.stream_of(address(1));
        let second = peers.stream_of(address(2));
        assert_ne!(first, second);
        assert_eq!(peers.stream_of(address(1)), first);
        assert_eq!(peers.address_of(second), Some(address(2)));
        assert_eq!(peers.address_of(99), None);
    }

    #[test]
    fn the_peer_seen_longest_ago_is_forgotten_first() {
        let mut peers = Peers::new(2);
        let one = peers.stream_of(address(1));
        let two = peers.stream_of(address(2));
        let three = peers.stream_of(address(3));
        assert_eq!(peers.address_of(one), None);
        assert_eq!(peers.address_of(two), Some(address(2)));
        assert_eq!(peers.address_of(three), Some(address(3)));
        assert_ne!(
            peers.stream_of(address(1)),
            one,
            "a forgotten peer gets a new stream"
        );
    }
}
