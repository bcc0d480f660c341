//! # PDK: connector plugins in ordinary async Rust
//!
//! A connector is a struct with `#[connector(name = "...")]` and an
//! `impl` of [`Connector`]; implementing [`Source`] gives it a source side,
//! [`Sink`] a sink side. `#[pdk_export]` turns a crate of such connectors
//! into a plugin that `pdk-runtime` loads. The macros generate every piece
//! of FFI; authors write none.
//!
//! ```
//! use pdk::prelude::*;
//! use std::time::Duration;
//!
//! #[derive(Deserialize)]
//! pub struct Config {
//!     interval_ms: u64,
//! }
//!
//! #[connector(name = "ticker")]
//! pub struct Ticker {
//!     interval: Duration,
//! }
//!
//! impl Connector for Ticker {
//!     type Config = Config;
//!
//!     fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
//!         Ok(Self { interval: Duration::from_millis(config.interval_ms) })
//!     }
//! }
//!
//! impl Source for Ticker {
//!     async fn pull_data(&mut self, pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
//!         pdk::time::sleep(self.interval).await;
//!         Ok(SourceReply::data(pull_id))
//!     }
//! }
//!
//! #[pdk_export]
//! mod plugin {
//!     pub use super::Ticker;
//! }
//! # fn main() {}
//! ```
//!
//! ## Cargo features
//!
//! - `tokio`: connectors of a crate that enables it run inside one small
//!   tokio runtime of their plugin (one worker thread, started with the
//!   first such connector), so that tokio and the crates built on it
//!   (reqwest, hyper, sqlx ...) work in every method and task. Crates
//!   that do not enable it start nothing, even when cargo builds them
//!   with a `pdk` that has it. Blocking work needs no feature:
//!   [`task::spawn_blocking`] and [`channel`].

/// The C-ABI layer: the `pdk-abi` crate, whose version is the plugin
/// interface version. Plugin authors never use it; the macros and the
/// runtime do.
pub use pdk_abi as abi;
mod ambient;
pub mod batch;
mod capture;
pub mod config;
mod connector;
mod contain;
mod context;
mod error;
mod event;
mod host;
pub mod linked;
pub mod metrics;
pub mod net;
pub mod payload;
pub mod testing;
mod value;

#[doc(hidden)]
pub mod export;

/// Not a public API: what the macro expansions call.
#[doc(hidden)]
pub use export as __private;

pub use connector::{
    Attempt, Connector, EventId, Sink, SinkReply, Source, SourceReply, SourceReplyOf,
};
pub use context::{ConnectionLostNotifier, ConnectorContext, SinkReplies};
pub use error::{Context, Error, ErrorKind, Result};
pub use event::Event;
pub use host::{task, time};
pub use pdk_macros::{connector, pdk_export};
pub use value::{Bytes, Object, StaticNode, Str, Value};

/// The version of this SDK (`pdk-sdk`), which a plugin reports in its
/// metadata beside the interface version ([`abi::INTERFACE_VERSION`]):
/// a new SDK release need not change the interface.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `log` crate: records a plugin emits with `pdk::log::info!` and
/// friends reach the runtime's logger, filtered by its level.
pub use log;

/// Async channels (from the `async-channel` crate), executor-neutral: hand
/// results from a blocking thread to a connector's async methods
/// (`Sender::send_blocking`, `Receiver::recv().await`) and back.
pub mod channel {
    pub use async_channel::{
        bounded, unbounded, Receiver, RecvError, SendError, Sender, TryRecvError, TrySendError,
    };
}

/// tokio, with the plugin's runtime entered around every connector call
/// (the `tokio` feature; see the book's chapter on network I/O).
#[cfg(feature = "tokio")]
pub use tokio;

/// serde, as this `pdk` uses it, so that a plugin needs no other
/// dependency. The prelude's `#[derive(Deserialize)]` uses it by itself.
pub use serde;

/// The configuration of a connector that takes none: accepts an empty or
/// missing `config` table and rejects any key in it.
///
/// # Examples
///
/// ```
/// use pdk::prelude::*;
/// use pdk::testing::Harness;
///
/// #[connector(name = "plain")]
/// pub struct Plain;
///
/// impl Connector for Plain {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
///         Ok(Self)
///     }
/// }
/// # impl Sink for Plain {
/// #     async fn on_event(&mut self, _: Event, _: &ConnectorContext) -> Result<SinkReply> {
/// #         Ok(SinkReply::Ack)
/// #     }
/// # }
///
/// assert!(Harness::<Plain>::from_json("{}").is_ok());
/// let error = Harness::<Plain>::from_json(r#"{"port": 80}"#).unwrap_err();
/// assert!(error.message().contains("unknown field `port`"), "{error}");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// Everything a connector author needs, in one `use`.
pub mod prelude {
    /// `.context("what was being done")` on results and options.
    pub use crate::Context as _;
    pub use crate::{
        connector, pdk_export, Attempt, Connector, ConnectorContext, Error, Event, EventId,
        NoConfig, Result, Sink, SinkReply, Source, SourceReply, Value,
    };
    /// serde's `Deserialize` trait, and (in the macro namespace) the
    /// derive for a connector's config: serde's derive, with no
    /// `#[serde(crate = ...)]` and no serde dependency needed.
    pub use pdk_macros::Deserialize;
    pub use serde::de::Deserialize;
    /// The access traits that read an event's payload in place
    /// ([`Event::payload`]): `get`, `get_str`, `get_u64`, `as_object`,
    /// `as_array`, `value_type` ... brought into scope without their names.
    pub use value_trait::prelude::{
        ArrayTrait as _, Indexed as _, ObjectTrait as _, TypedScalarValue as _, TypedValue as _,
        ValueArrayAccess as _, ValueAsArray as _, ValueAsObject as _, ValueAsScalar as _,
        ValueObjectAccess as _, ValueObjectAccessAsArray as _, ValueObjectAccessAsObject as _,
        ValueObjectAccessAsScalar as _,
    };
}
