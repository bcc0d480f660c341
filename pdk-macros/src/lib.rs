//! The procedural macros of the PDK: `#[connector]` and `#[pdk_export]`.
//!
//! Use them through the `pdk` crate (`pdk::connector`, `pdk::pdk_export`),
//! which documents them with complete examples. Each macro runs in three
//! layers: `parse` reads the author's tokens, `model` checks them and
//! keeps what matters, `codegen` writes the expansion, which calls
//! generic helpers in `pdk::__private` instead of inlining them.

mod codegen;
mod model;
mod parse;

use proc_macro::TokenStream;

/// Turns a struct into a connector type. See `pdk::connector`.
#[proc_macro_attribute]
pub fn connector(args: TokenStream, item: TokenStream) -> TokenStream {
    parse::connector(args.into(), item.into())
        .and_then(model::Connector::from_parsed)
        .map_or_else(syn::Error::into_compile_error, |model| {
            codegen::connector(&model)
        })
        .into()
}

/// Turns a module listing connector types into a plugin. See
/// `pdk::pdk_export`.
#[proc_macro_attribute]
pub fn pdk_export(args: TokenStream, item: TokenStream) -> TokenStream {
    parse::export(args.into(), item.into())
        .and_then(model::Export::from_parsed)
        .map_or_else(syn::Error::into_compile_error, |model| {
            codegen::export(&model)
        })
        .into()
}
