//! The C-ABI layer: everything that crosses the plugin boundary.
//!
//! Plugin authors never use this module; the macros and the runtime do.
//! It is the only place that names abi_stable and async-ffi types, so that
//! the C-ABI layer can be replaced without touching a connector.

pub mod allocator;
pub mod connector;
pub mod error;
pub mod host;
pub mod module;
pub mod value;

/// The version of the plugin interface: the version of this crate. A
/// plugin loads if abi_stable finds it compatible (same major, and the same
/// minor while the major is 0) and every layout matches.
pub const INTERFACE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `rustc --version` line of the compiler that built this crate.
pub const RUSTC_VERSION: &str = env!("PDK_RUSTC_VERSION");
