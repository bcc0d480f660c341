//! `#[derive(Deserialize)]` as `pdk::prelude` exports it: serde's own
//! derive, run on a private copy of the type whose `#[serde(crate = ...)]`
//! names the SDK's serde, so that a connector's config needs neither that
//! attribute nor a serde dependency. The copy keeps every `#[serde(...)]`
//! attribute and is converted into the type, field by field.
//!
//! The copy has the type's own name (serde's messages say "expected
//! struct Config"), in a module of its own inside an anonymous `const`
//! block, which sees everything the type's module sees (`use super::*`).
//! A container-level `#[serde(default)]` gets the copy a `Default` made
//! from the type's.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Attribute, Data, DeriveInput, Fields, Ident, Path};

/// Container attributes serde applies to another type than the derived
/// one, which the copy cannot forward.
const UNSUPPORTED: &[&str] = &["from", "try_from", "remote"];

/// The module the copy is defined in.
const SHADOW_MODULE: &str = "__pdk_config";

/// How the container asks for defaults, if it does.
enum ContainerDefault {
    /// `#[serde(default)]`: the type's `Default`.
    Trait,
    /// `#[serde(default = "path")]`: the function at `path`.
    Function(syn::ExprPath),
}

/// The expansion for `input`, with `krate` the path of the SDK crate.
pub fn derive_deserialize(input: DeriveInput, krate: &Path) -> syn::Result<TokenStream> {
    let container = serde_keys(&input.attrs)?;
    if let Some(key) = container
        .iter()
        .find(|key| UNSUPPORTED.contains(&key.as_str()))
    {
        return Err(syn::Error::new_spanned(
            &input.ident,
            format!(
                "`#[serde({key} = ...)]` needs serde's own derive: write \
                 `#[derive(pdk::serde::Deserialize)]` with `#[serde(crate = \"pdk::serde\")]`"
            ),
        ));
    }
    let ident = &input.ident;
    let module = format_ident!("{}", SHADOW_MODULE);
    let default = container_default(&input.attrs)?;
    let mut shadow = input.clone();
    shadow.vis = syn::parse_quote!(pub(super));
    shadow.attrs = serde_attrs(&input.attrs);
    if let Some(ContainerDefault::Function(_)) = default {
        // The function returns the type, not the copy: the copy's default
        // converts what it returns.
        shadow.attrs = without_container_default(&shadow.attrs);
        shadow.attrs.push(syn::parse_quote!(#[serde(default)]));
    }
    let serde_crate = format!("{}::serde", quote!(#krate).to_string().replace(' ', ""));
    if !container.iter().any(|key| key == "crate") {
        shadow
            .attrs
            .push(syn::parse_quote!(#[serde(crate = #serde_crate)]));
    }
    let (conversion, to_shadow) = match &mut shadow.data {
        Data::Struct(data) => {
            keep_serde_attrs(&mut data.fields, true);
            let (pattern, built) = destructure(&data.fields, quote!(#module::#ident), quote!(Self));
            let (outer, inner) = destructure(&data.fields, quote!(super::#ident), quote!(Self));
            (
                quote!(match shadow { #pattern => #built }),
                quote!(match outer { #outer => #inner }),
            )
        }
        Data::Enum(data) => {
            if default.is_some() {
                return Err(syn::Error::new_spanned(
                    ident,
                    "`#[serde(default)]` on a container applies to structs only",
                ));
            }
            let arms = data.variants.iter_mut().map(|variant| {
                variant.attrs = serde_attrs(&variant.attrs);
                keep_serde_attrs(&mut variant.fields, false);
                let name = &variant.ident;
                let (pattern, built) = destructure(
                    &variant.fields,
                    quote!(#module::#ident::#name),
                    quote!(Self::#name),
                );
                quote!(#pattern => #built,)
            });
            let arms: Vec<TokenStream> = arms.collect();
            (quote!(match shadow { #(#arms)* }), TokenStream::new())
        }
        Data::Union(_) => {
            return Err(syn::Error::new_spanned(
                ident,
                "a union cannot be deserialized; use a struct or an enum",
            ))
        }
    };

    let (_, type_generics, where_clause) = input.generics.split_for_impl();
    let shadow_default = default.map(|default| {
        let (impl_generics, _, _) = input.generics.split_for_impl();
        let outer = match default {
            ContainerDefault::Trait => {
                quote!(<super::#ident #type_generics as ::core::default::Default>::default())
            }
            ContainerDefault::Function(path) => {
                let path = relative_to_parent(path);
                quote!(#path())
            }
        };
        quote! {
            #[automatically_derived]
            impl #impl_generics ::core::default::Default for #ident #type_generics #where_clause {
                fn default() -> Self {
                    let outer: super::#ident #type_generics = #outer;
                    #to_shadow
                }
            }
        }
    });

    let mut impl_generics = input.generics.clone();
    impl_generics.params.insert(0, syn::parse_quote!('de));
    let (impl_generics, _, _) = impl_generics.split_for_impl();
    let mut where_clause = where_clause
        .cloned()
        .unwrap_or_else(|| syn::parse_quote!(where));
    where_clause
        .predicates
        .push(syn::parse_quote!(#module::#ident #type_generics: #krate::serde::Deserialize<'de>));

    Ok(quote! {
        const _: () = {
            #[allow(non_snake_case, unused_imports, clippy::wildcard_imports)]
            mod #module {
                use super::*;

                #[derive(#krate::serde::Deserialize)]
                #shadow

                #shadow_default
            }

            #[automatically_derived]
            impl #impl_generics #krate::serde::Deserialize<'de> for #ident #type_generics
            #where_clause
            {
                fn deserialize<D>(deserializer: D) -> ::core::result::Result<Self, D::Error>
                where
                    D: #krate::serde::Deserializer<'de>,
                {
                    let shadow =
                        <#module::#ident #type_generics as #krate::serde::Deserialize<'de>>::deserialize(
                            deserializer,
                        )?;
                    ::core::result::Result::Ok(#conversion)
                }
            }
        };
    })
}

/// How the container's `#[serde(default ...)]` asks for defaults, if it
/// does.
fn container_default(attrs: &[Attribute]) -> syn::Result<Option<ContainerDefault>> {
    let mut default = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("default") {
                default = Some(if meta.input.peek(syn::Token![=]) {
                    let path: syn::LitStr = meta.value()?.parse()?;
                    ContainerDefault::Function(path.parse()?)
                } else {
                    ContainerDefault::Trait
                });
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _group: proc_macro2::Group = meta.input.parse()?;
            }
            Ok(())
        })?;
    }
    Ok(default)
}

/// `attrs` without a container-level `default = "..."`.
fn without_container_default(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter(|attr| {
            !attr
                .meta
                .require_list()
                .is_ok_and(|list| list.tokens.to_string().trim_start().starts_with("default"))
        })
        .cloned()
        .collect()
}

/// `path`, written in the type's module, as the copy's module names it:
/// `self::` becomes `super::`, and `super::` one level more; an absolute
/// path stays, and a plain one resolves through the copy's `use super::*`.
fn relative_to_parent(path: syn::ExprPath) -> syn::ExprPath {
    let first = path.path.segments.first().map(|s| s.ident.to_string());
    if path.path.leading_colon.is_some() {
        return path;
    }
    match first.as_deref() {
        Some("self") => {
            let rest = path.path.segments.iter().skip(1);
            syn::parse_quote!(super::#(#rest)::*)
        }
        Some("super") => syn::parse_quote!(super::#path),
        _ => path,
    }
}

/// A pattern binding every field of `path` and the same fields built into
/// `built`.
fn destructure(
    fields: &Fields,
    path: TokenStream,
    built: TokenStream,
) -> (TokenStream, TokenStream) {
    match fields {
        Fields::Named(named) => {
            let names: Vec<&Ident> = named
                .named
                .iter()
                .filter_map(|f| f.ident.as_ref())
                .collect();
            (
                quote!(#path { #(#names),* }),
                quote!(#built { #(#names),* }),
            )
        }
        Fields::Unnamed(unnamed) => {
            let names: Vec<Ident> = (0..unnamed.unnamed.len())
                .map(|i| format_ident!("field{}", i))
                .collect();
            (quote!(#path(#(#names),*)), quote!(#built(#(#names),*)))
        }
        Fields::Unit => (path, built),
    }
}

/// Keeps only the `#[serde(...)]` attributes of every field; a struct's
/// fields are made visible to the conversion beside the copy's module (an
/// enum's are, as its variants).
fn keep_serde_attrs(fields: &mut Fields, of_struct: bool) {
    for field in fields.iter_mut() {
        field.attrs = serde_attrs(&field.attrs);
        field.vis = if of_struct {
            syn::parse_quote!(pub(super))
        } else {
            syn::Visibility::Inherited
        };
    }
}

/// The `#[serde(...)]` attributes among `attrs`.
fn serde_attrs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("serde"))
        .cloned()
        .collect()
}

/// The keys of the container's `#[serde(...)]` attributes (`crate`,
/// `rename`, `deny_unknown_fields` ...).
fn serde_keys(attrs: &[Attribute]) -> syn::Result<Vec<String>> {
    let mut keys = Vec::new();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if let Some(key) = meta.path.get_ident() {
                keys.push(key.to_string());
            }
            // Skip the value (`= "..."`) or the group (`(...)`), if any.
            if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _group: proc_macro2::Group = meta.input.parse()?;
            }
            Ok(())
        })?;
    }
    Ok(keys)
}
