//! The connector crates linked into the runtime by the `static-connectors`
//! feature: the same source as the bundled plugins, called in-process.

use pdk::native::NativeEntry;

/// The linked connector types (none without the feature), with the host
/// services installed for them.
#[cfg(feature = "static-connectors")]
#[must_use]
pub fn entries() -> Vec<NativeEntry> {
    use pdk::native::entry;
    pdk::native::install_host(crate::host::services());
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

/// The linked connector types (none without the feature).
#[cfg(not(feature = "static-connectors"))]
#[must_use]
pub fn entries() -> Vec<NativeEntry> {
    Vec::new()
}
