//! The PDK runtime: discovers connector plugins, checks each before use,
//! and runs event flows through them.
//!
//! The binary `pdk-runtime` is [`cli::main`]. What a program embedding the
//! runtime needs is re-exported here: find candidate files
//! ([`SearchPath`]), vet and load them into a [`Registry`] (or one with
//! [`load`]), check a [`Flow`] file and [`run`] it on an executor
//! ([`block_on`]), its connectors' states and metrics kept in an
//! [`Observer`]. Everything else is internal.

mod builtin;
pub mod cli;
mod codec;
mod discovery;
mod executor;
mod flow;
mod host;
mod isolation;
mod loader;
mod logging;
mod observe;
mod printable;
mod registry;
mod report;
mod scaffold;
mod serve;
mod signals;
mod trust;
mod vetting;
mod watching;

pub use discovery::{NotADirectory, SearchPath};
pub use executor::block_on;
pub use flow::{run, Flow, FlowError, FlowErrors, RunError, Watch};
pub use host::services as host_services;
pub use loader::{load, LoadedPlugin, Rejected};
pub use observe::{ConnectorFamilies, Observer};
pub use registry::Registry;
pub use trust::{TrustPolicy, Untrusted};
pub use vetting::Vetting;
