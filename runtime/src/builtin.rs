//! The bundled connectors, built into the runtime (the default
//! `builtin-connectors` feature): the same crates as the bundled plugins,
//! called in-process, so that a runtime installed with `cargo install`
//! (which cannot install plugin files) has them. A plugin file that
//! provides the same connector type takes precedence.

use pdk::native::NativeEntry;

/// The built-in connector types.
#[cfg(feature = "builtin-connectors")]
#[must_use]
pub fn entries() -> Vec<NativeEntry> {
    use pdk::native::entry;
    vec![
        entry::<blackhole::Blackhole>(),
        entry::<blaster::Blaster>(),
        entry::<file::FileConnector>(),
        entry::<http_client::HttpClient>(),
        entry::<http_server::HttpServer>(),
        entry::<metronome::Metronome>(),
        entry::<stdout::Stdout>(),
        entry::<tcp_client::TcpClient>(),
        entry::<tcp_server::TcpServer>(),
        entry::<udp::Udp>(),
    ]
}

/// The built-in connector types: none without the feature.
#[cfg(not(feature = "builtin-connectors"))]
#[must_use]
pub fn entries() -> Vec<NativeEntry> {
    Vec::new()
}
