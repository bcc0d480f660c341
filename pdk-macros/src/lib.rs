//! The procedural macros of the PDK: `#[connector]` and `#[pdk_export]`.
//!
//! Use them through the `pdk` crate (`pdk::connector`, `pdk::pdk_export`),
//! which documents them with complete examples. Each macro runs in three
//! layers: `parse` reads the author's tokens into typed arguments, `model`
//! checks them (collecting every error, `errors`) and keeps what matters,
//! `codegen` writes the expansion, which calls generic helpers in
//! `pdk::__private` instead of inlining them.

mod codegen;
mod config;
mod errors;
mod manifest;
mod model;
mod parse;

use proc_macro::TokenStream;

/// Makes a struct a connector type that plugins can export.
///
/// ```text
/// #[connector(name = "my_connector")]
/// ```
///
/// | argument | required | meaning |
/// |---|---|---|
/// | `name = "..."` | yes | the connector type in flow files (`type = "..."`): lowercase ASCII letters, digits, `_` |
///
/// The struct must not be generic and must not borrow (the runtime creates
/// it by name and owns it for the whole flow), and it must implement
/// `pdk::Connector`. It gets a source side if it implements
/// `pdk::Source` and a sink side if it implements `pdk::Sink`; the
/// macro finds out which at compile time, so nothing else is declared.
/// The impls are ordinary Rust: `async fn`s, with defaults for the methods
/// left out.
///
/// # Example
///
/// ```
/// use pdk::prelude::*;
///
/// #[derive(Deserialize)]
/// pub struct Config {
///     prefix: String,
/// }
///
/// /// Prints every event with a prefix, and acknowledges it.
/// #[connector(name = "prefixed_print")]
/// pub struct PrefixedPrint {
///     prefix: String,
/// }
///
/// impl Connector for PrefixedPrint {
///     type Config = Config;
///
///     fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
///         Ok(Self { prefix: config.prefix })
///     }
/// }
///
/// impl Sink for PrefixedPrint {
///     async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
///         println!("{}{}", self.prefix, event.data());
///         Ok(SinkReply::Ack)
///     }
/// }
///
/// #[pdk_export]
/// mod plugin {
///     pub use super::PrefixedPrint;
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn connector(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = errors::Errors::default();
    parse::connector(args.into(), item.into(), &mut errors)
        .and_then(|input| model::Connector::from_parsed(input, manifest::sdk_dependency(), errors))
        .map_or_else(syn::Error::into_compile_error, |model| {
            codegen::connector(&model)
        })
        .into()
}

/// Turns the crate into a plugin exporting the connector types that a
/// module lists.
///
/// ```text
/// #[pdk_export]
/// mod plugin {
///     pub use super::{Metronome, Stdout};
/// }
/// ```
///
/// The module holds only `use` items; each name they bring in must be a
/// `#[connector]` type, listed once, and the connector names must differ.
/// The attribute takes no arguments. It generates the plugin's root module:
/// the plugin's package name and version (from Cargo), the `pdk` and
/// `rustc` versions, the connector list, and the exported library header
/// that `pdk-runtime` checks (layout and interface version) before it calls
/// anything. Use it once per crate, and build the crate with
/// `crate-type = ["cdylib"]` (add `"rlib"` to also link it statically).
///
/// # Example
///
/// ```
/// use pdk::prelude::*;
///
/// #[connector(name = "zeros")]
/// pub struct Zeros;
///
/// impl Connector for Zeros {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
///         Ok(Self)
///     }
/// }
///
/// impl Source for Zeros {
///     async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
///         Ok(SourceReply::data(0u64))
///     }
/// }
///
/// #[connector(name = "discard")]
/// pub struct Discard;
///
/// impl Connector for Discard {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
///         Ok(Self)
///     }
/// }
///
/// impl Sink for Discard {
///     async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
///         Ok(SinkReply::Ack)
///     }
/// }
///
/// #[pdk_export]
/// mod plugin {
///     pub use super::{Discard, Zeros};
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn pdk_export(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = errors::Errors::default();
    parse::export(args.into(), item.into(), &mut errors)
        .and_then(|input| model::Export::from_parsed(input, &manifest::sdk_dependency(), errors))
        .map_or_else(syn::Error::into_compile_error, |model| {
            codegen::export(&model)
        })
        .into()
}

/// `#[derive(Deserialize)]` for a connector's config, as `pdk::prelude`
/// exports it: serde's derive, with every `#[serde(...)]` attribute, and
/// no `#[serde(crate = ...)]` or serde dependency needed (it runs serde's
/// derive on a private copy of the type that names `pdk`'s serde, then
/// converts the copy field by field).
///
/// ```
/// use pdk::prelude::*;
///
/// #[derive(Debug, Deserialize)]
/// #[serde(deny_unknown_fields)]
/// pub struct Config {
///     pub url: String,
///     #[serde(default)]
///     pub retries: u32,
/// }
/// ```
#[proc_macro_derive(Deserialize, attributes(serde))]
pub fn derive_deserialize(item: TokenStream) -> TokenStream {
    syn::parse::<syn::DeriveInput>(item)
        .and_then(|input| {
            let krate = model::sdk_path(&manifest::sdk_dependency());
            config::derive_deserialize(input, &krate)
        })
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
