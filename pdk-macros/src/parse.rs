//! Reading the author's tokens into syntax trees, without judging them.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Item, MetaNameValue, Token};

/// `#[connector(args)] item`, as written.
pub struct ConnectorInput {
    /// The `key = value` arguments.
    pub args: Punctuated<MetaNameValue, Token![,]>,
    /// The item the attribute is on.
    pub item: Item,
}

/// `#[pdk_export(args)] item`, as written.
pub struct ExportInput {
    /// Whatever was written between the parentheses (nothing is expected).
    pub args: TokenStream,
    /// The item the attribute is on.
    pub item: Item,
}

/// Parses the input of `#[connector]`.
pub fn connector(args: TokenStream, item: TokenStream) -> syn::Result<ConnectorInput> {
    let args = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(args)?;
    let item = syn::parse2(item)?;
    Ok(ConnectorInput { args, item })
}

/// Parses the input of `#[pdk_export]`.
pub fn export(args: TokenStream, item: TokenStream) -> syn::Result<ExportInput> {
    let item = syn::parse2(item)?;
    Ok(ExportInput { args, item })
}
