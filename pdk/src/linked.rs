//! The in-process form of a connector type: what a runtime that links
//! connector crates statically creates. It is the very object a plugin
//! hands over (a [`BoxedPdkConnector`], called through the same C-ABI),
//! made without loading a library: one connector path, whichever way a
//! connector arrives. Every `#[connector]` type has one
//! (`LinkedEntry::of::<T>()`).

use abi_stable::std_types::RResult;
use async_ffi::FfiFuture;

use crate::abi::connector::{BoxedPdkConnector, PdkConnectorContext};
use crate::abi::error::PdkError;
use crate::abi::host::HostServicesRef;
use crate::abi::value::PdkValue;

/// A statically linked connector type.
///
/// # Examples
///
/// ```
/// use pdk::linked::LinkedEntry;
/// use pdk::prelude::*;
///
/// #[connector(name = "built_in")]
/// pub struct BuiltIn;
///
/// impl Connector for BuiltIn {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
///         Ok(Self)
///     }
/// }
/// # impl Sink for BuiltIn {
/// #     async fn on_event(&mut self, _: Event, _: &ConnectorContext) -> Result<SinkReply> {
/// #         Ok(SinkReply::Ack)
/// #     }
/// # }
///
/// let entry = LinkedEntry::of::<BuiltIn>();
/// assert_eq!(entry.name, "built_in");
/// assert!(entry.sink && !entry.source);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LinkedEntry {
    /// The connector type name used in flow files.
    pub name: &'static str,
    /// The package name of the crate that defines it.
    pub package: &'static str,
    /// The version of that package.
    pub version: &'static str,
    /// Whether it has a source side.
    pub source: bool,
    /// Whether its source side wants acks and fails.
    pub transactional: bool,
    /// Whether it has a sink side.
    pub sink: bool,
    /// Whether its crate runs on tokio (see [`host_pipeline`]).
    pub uses_tokio: bool,
    /// Creates one from its configuration, as a plugin's root module does.
    pub create:
        extern "C" fn(PdkConnectorContext, PdkValue) -> RResult<BoxedPdkConnector, PdkError>,
}

/// Runs `driver`, which runs the connectors of one pipeline, on the thread
/// that drives the tokio runtime of linked connectors, if one has started
/// and hosts no pipeline yet; else hands it back. What a plugin's
/// `host_pipeline` does, for the runtime's own copy of `pdk`.
#[must_use]
pub fn host_pipeline(driver: FfiFuture<()>) -> Option<FfiFuture<()>> {
    crate::ambient::host_pipeline(driver)
}

/// Installs the runtime's services (timer, spawner, logger) for linked
/// connectors, which use the runtime's own copy of `pdk`. Only the first
/// call has an effect.
pub fn install_host(host: HostServicesRef) {
    crate::host::install(host, "runtime");
}
