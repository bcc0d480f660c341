//! The PDK runtime: discovers connector plugins, checks each before use,
//! and runs event flows through them.
//!
//! The binary `pdk-runtime` is a thin command line over this library:
//! [`discovery`] finds candidate files, [`loader`] checks and loads one,
//! [`registry`] decides which plugin provides which connector type,
//! [`report`] lists them, and [`flow`] checks and runs flow files.

pub mod builtin;
pub mod codec;
pub mod discovery;
pub mod executor;
pub mod flow;
pub mod host;
pub mod loader;
pub mod logging;
pub mod printable;
pub mod registry;
pub mod report;
pub mod scaffold;
pub mod signals;
pub mod trust;
pub mod vetting;
