//! `pdk-abi`: everything that crosses the PDK plugin boundary, and
//! nothing else. A plugin and the runtime each link their own copy; what
//! they exchange is checked by abi_stable (layouts, and this crate's
//! version as the interface version) before the runtime calls a single
//! function of a plugin.
//!
//! Plugin authors never use this crate directly: `pdk-sdk` re-exports it
//! as `pdk::abi` for the macros and the runtime. It depends on nothing of
//! the author-facing SDK, so the SDK can change (a new helper, a fix)
//! without changing the interface, and it is the only crate that names
//! abi_stable and async-ffi types, so that the C-ABI layer could be
//! replaced without touching a connector.
//!
//! # How the interface grows
//!
//! Every type can grow without breaking plugins already built:
//! - the root module, the plugin metadata and the host services are
//!   abi_stable prefix types: a field added after the last one is read as
//!   missing from an older library;
//! - the connector and runtime-handle traits are `#[sabi_trait]`s: a
//!   method added after the last one has a default, which is what an older
//!   plugin's object does;
//! - every struct passed by value carries [`Extensions`]: named values a
//!   newer side may add and an older side ignores;
//! - every enum is open: a C-like one is a code ([`error::PdkErrorKind`],
//!   [`connector::PdkSinkReply`], [`connector::LifecycleHook`],
//!   [`host::LogLevel`]) that a side reads with a documented meaning for a
//!   code it does not know, and [`connector::SourceReplyOf`] has an
//!   `Other` variant for kinds of reply added later.
//!
//! Which changes are compatible, and what a side does with something it
//! does not know, is written down in the book's Contributing chapter.

pub mod allocator;
pub mod connector;
pub mod error;
pub mod extension;
pub mod host;
pub mod metric;
pub mod module;
pub mod value;

pub use extension::{Extension, Extensions};

/// The version of the plugin interface: the version of this crate, which
/// changes only when what crosses the boundary changes. A plugin loads if
/// abi_stable finds its interface version compatible with the runtime's
/// (same major, and the same minor while the major is 0) and every layout
/// matches.
pub const INTERFACE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `rustc --version` line of the compiler that built this crate.
pub const RUSTC_VERSION: &str = env!("PDK_RUSTC_VERSION");
