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
    vec![
        NativeEntry::of::<blackhole::Blackhole>(),
        NativeEntry::of::<blaster::Blaster>(),
        NativeEntry::of::<file::FileConnector>(),
        NativeEntry::of::<http_client::HttpClient>(),
        NativeEntry::of::<http_server::HttpServer>(),
        NativeEntry::of::<metronome::Metronome>(),
        NativeEntry::of::<stdout::Stdout>(),
        NativeEntry::of::<tcp_client::TcpClient>(),
        NativeEntry::of::<tcp_server::TcpServer>(),
        NativeEntry::of::<udp::Udp>(),
    ]
}

/// The built-in connector types: none without the feature.
#[cfg(not(feature = "builtin-connectors"))]
#[must_use]
pub fn entries() -> Vec<NativeEntry> {
    Vec::new()
}
