//! The in-process form of a connector: what a runtime that links connector
//! crates statically calls, with no C-ABI and no value conversion. Every
//! `#[connector]` type has one (`LinkedEntry::of::<T>()`), next to its
//! plugin form.

use futures::future::BoxFuture;

use crate::abi::connector::{LifecycleHook, PdkConnectorContext};
use crate::abi::host::HostServicesRef;
use crate::{Attempt, Event, Result, SinkReply, SourceReply, Value};

/// A connector instance called in-process. Mirrors
/// [`crate::abi::connector::PdkConnector`] with Rust types; panics in the
/// author's methods become errors just the same.
pub trait LinkedConnector: Send {
    /// [`crate::Connector::connect`]
    fn connect(&mut self, attempt: Attempt) -> BoxFuture<'_, Result<bool>>;
    /// One of the lifecycle hooks.
    fn lifecycle(&mut self, hook: LifecycleHook) -> BoxFuture<'_, Result<()>>;
    /// [`crate::Source::pull_data`]
    fn pull_data(&mut self, pull_id: u64) -> BoxFuture<'_, Result<SourceReply>>;
    /// [`crate::Source::ack`]
    fn ack(&mut self, stream: u64, pull_id: u64) -> BoxFuture<'_, Result<()>>;
    /// [`crate::Source::fail`]
    fn fail(&mut self, stream: u64, pull_id: u64) -> BoxFuture<'_, Result<()>>;
    /// [`crate::Sink::on_event`]
    fn on_event(&mut self, event: Event) -> BoxFuture<'_, Result<SinkReply>>;
    /// [`crate::Sink::on_upstream_finished`]
    fn upstream_finished(&mut self) -> BoxFuture<'_, Result<()>>;
}

/// A statically linked connector type.
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
    /// Creates one from its configuration.
    pub create: fn(PdkConnectorContext, Value) -> Result<Box<dyn LinkedConnector>>,
}

/// Installs the runtime's services (timer, spawner, logger) for linked
/// connectors, which use the runtime's own copy of `pdk`. Only the first
/// call has an effect.
pub fn install_host(host: HostServicesRef) {
    crate::host::install(host, "runtime");
}
