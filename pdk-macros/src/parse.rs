//! Reading the author's tokens into syntax trees and typed arguments,
//! without judging their values.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Item, MetaNameValue, Token};

use crate::errors::Errors;

/// The keywords of the macros' arguments that are not Rust keywords.
mod kw {
    syn::custom_keyword!(name);
}

/// One argument of `#[connector(...)]`.
pub enum ConnectorArg {
    /// `name = "..."`: the connector type in flow files.
    Name {
        /// The keyword, for errors about it.
        key: kw::name,
        /// What follows `=`.
        value: Expr,
    },
    /// `crate = "..."`: the path of the SDK crate.
    Crate(CrateArg),
}

/// One argument of `#[pdk_export(...)]`.
pub enum ExportArg {
    /// `crate = "..."`: the path of the SDK crate.
    Crate(CrateArg),
}

/// `crate = "..."`.
pub struct CrateArg {
    /// The keyword, for errors about it.
    pub key: Token![crate],
    /// What follows `=`.
    pub value: Expr,
}

/// The keywords `#[connector]` accepts, for messages.
pub const CONNECTOR_KEYWORDS: &[&str] = &["name", "crate"];

impl Parse for ConnectorArg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::name) {
            let key = input.parse()?;
            input.parse::<Token![=]>()?;
            Ok(Self::Name {
                key,
                value: input.parse()?,
            })
        } else if lookahead.peek(Token![crate]) {
            Ok(Self::Crate(input.parse()?))
        } else {
            Err(unknown_keyword(input, "#[connector]", CONNECTOR_KEYWORDS))
        }
    }
}

impl Parse for ExportArg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(Token![crate]) {
            Ok(Self::Crate(input.parse()?))
        } else {
            Err(syn::Error::new(
                input.span(),
                "#[pdk_export] takes only `crate = \"...\"`; list the connector types as \
                 `pub use` items inside the module",
            ))
        }
    }
}

impl Parse for CrateArg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key = input.parse()?;
        input.parse::<Token![=]>()?;
        Ok(Self {
            key,
            value: input.parse()?,
        })
    }
}

/// The error for an argument whose keyword `macro_name` does not know,
/// with the closest known one.
fn unknown_keyword(input: ParseStream<'_>, macro_name: &str, known: &[&str]) -> syn::Error {
    let span = input.span();
    let (key, span) = input.parse::<syn::Path>().map_or_else(
        |_| (String::new(), span),
        |path| {
            (
                path.to_token_stream().to_string().replace(' ', ""),
                path.span(),
            )
        },
    );
    let hint = known
        .iter()
        .find(|k| strsim::levenshtein(k, &key) <= 2)
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default();
    syn::Error::new(
        span,
        format!(
            "unknown argument `{key}` of {macro_name}; it accepts: {}{hint}",
            known.join(", ")
        ),
    )
}

/// `#[connector(args)] item`, as written.
pub struct ConnectorInput {
    /// The arguments that were understood.
    pub args: Vec<ConnectorArg>,
    /// Whether an argument was not understood (its error is recorded).
    pub args_rejected: bool,
    /// The item the attribute is on.
    pub item: Item,
}

/// `#[pdk_export(args)] item`, as written.
pub struct ExportInput {
    /// The arguments that were understood.
    pub args: Vec<ExportArg>,
    /// The item the attribute is on.
    pub item: Item,
}

/// Parses the input of `#[connector]`; an argument that is not understood
/// is recorded in `errors`, and the others are kept.
pub fn connector(
    args: TokenStream,
    item: TokenStream,
    errors: &mut Errors,
) -> syn::Result<ConnectorInput> {
    let (args, args_rejected) = typed_args(args, errors)?;
    Ok(ConnectorInput {
        args,
        args_rejected,
        item: syn::parse2(item)?,
    })
}

/// Parses the input of `#[pdk_export]`, as [`connector`] does.
pub fn export(
    args: TokenStream,
    item: TokenStream,
    errors: &mut Errors,
) -> syn::Result<ExportInput> {
    let span = args.span();
    let (args, _) = typed_args(args, errors).map_err(|_| {
        syn::Error::new(
            span,
            "#[pdk_export] takes only `crate = \"...\"`; list the connector types as \
             `pub use` items inside the module",
        )
    })?;
    Ok(ExportInput {
        args,
        item: syn::parse2(item)?,
    })
}

/// `key = value, ...` read as typed arguments, each on its own, so that
/// one unknown keyword does not hide the problems of the others; and
/// whether any was rejected.
fn typed_args<A: Parse>(args: TokenStream, errors: &mut Errors) -> syn::Result<(Vec<A>, bool)> {
    let pairs = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(args)?;
    let count = pairs.len();
    let typed: Vec<A> = pairs
        .into_iter()
        .filter_map(|pair| errors.take(syn::parse2(pair.into_token_stream())))
        .collect();
    let rejected = typed.len() < count;
    Ok((typed, rejected))
}
