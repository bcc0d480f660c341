//! The bundled connectors, built into the runtime (the default
//! `builtin-connectors` feature): the same crates as the bundled plugins,
//! called in-process, so that a runtime installed with `cargo install`
//! (which cannot install plugin files) has them. A plugin file that
//! provides the same connector type takes precedence.

use pdk::linked::LinkedEntry;

/// The built-in connector types.
#[cfg(feature = "builtin-connectors")]
#[must_use]
pub fn entries() -> Vec<LinkedEntry> {
    vec![
        LinkedEntry::of::<blackhole::Blackhole>(),
        LinkedEntry::of::<blaster::Blaster>(),
        LinkedEntry::of::<file::FileConnector>(),
        LinkedEntry::of::<http_client::HttpClient>(),
        LinkedEntry::of::<http_server::HttpServer>(),
        LinkedEntry::of::<kafka::Kafka>(),
        LinkedEntry::of::<metronome::Metronome>(),
        LinkedEntry::of::<nats::Nats>(),
        LinkedEntry::of::<stdout::Stdout>(),
        LinkedEntry::of::<tcp_client::TcpClient>(),
        LinkedEntry::of::<tcp_server::TcpServer>(),
        LinkedEntry::of::<udp::Udp>(),
    ]
}

/// The built-in connector types: none without the feature.
#[cfg(not(feature = "builtin-connectors"))]
#[must_use]
pub fn entries() -> Vec<LinkedEntry> {
    Vec::new()
}
