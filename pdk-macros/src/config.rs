//! `#[derive(Deserialize)]` as `pdk::prelude` exports it: serde's own
//! derive, run on a private copy of the type whose `#[serde(crate = ...)]`
//! names the SDK's serde, so that a connector's config needs neither that
//! attribute nor a serde dependency. The copy keeps every `#[serde(...)]`
//! attribute and is converted into the type, field by field.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Attribute, Data, DeriveInput, Fields, Ident, Path};

/// Container attributes serde applies to another type than the derived
/// one, which the copy cannot forward.
const UNSUPPORTED: &[&str] = &["from", "try_from", "remote"];

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
    let shadow_ident = format_ident!("__PdkDeserialize{}", ident);
    let mut shadow = input.clone();
    shadow.ident = shadow_ident.clone();
    shadow.vis = syn::Visibility::Inherited;
    shadow.attrs = serde_attrs(&input.attrs);
    let serde_crate = format!("{}::serde", quote!(#krate).to_string().replace(' ', ""));
    if !container.iter().any(|key| key == "crate") {
        shadow
            .attrs
            .push(syn::parse_quote!(#[serde(crate = #serde_crate)]));
    }
    if !container.iter().any(|key| key == "rename") {
        // serde's messages name the type ("expected struct Config").
        let name = ident.to_string();
        shadow
            .attrs
            .push(syn::parse_quote!(#[serde(rename = #name)]));
    }
    let conversion = match &mut shadow.data {
        Data::Struct(data) => {
            keep_serde_attrs(&mut data.fields);
            let (pattern, built) = destructure(&data.fields, quote!(#shadow_ident), quote!(Self));
            quote!(match shadow { #pattern => #built })
        }
        Data::Enum(data) => {
            let arms = data.variants.iter_mut().map(|variant| {
                variant.attrs = serde_attrs(&variant.attrs);
                keep_serde_attrs(&mut variant.fields);
                let name = &variant.ident;
                let (pattern, built) = destructure(
                    &variant.fields,
                    quote!(#shadow_ident::#name),
                    quote!(Self::#name),
                );
                quote!(#pattern => #built,)
            });
            let arms: Vec<TokenStream> = arms.collect();
            quote!(match shadow { #(#arms)* })
        }
        Data::Union(_) => {
            return Err(syn::Error::new_spanned(
                ident,
                "a union cannot be deserialized; use a struct or an enum",
            ))
        }
    };

    let mut impl_generics = input.generics.clone();
    impl_generics.params.insert(0, syn::parse_quote!('de));
    let (impl_generics, _, _) = impl_generics.split_for_impl();
    let (_, type_generics, where_clause) = input.generics.split_for_impl();
    let mut where_clause = where_clause
        .cloned()
        .unwrap_or_else(|| syn::parse_quote!(where));
    where_clause
        .predicates
        .push(syn::parse_quote!(#shadow_ident #type_generics: #krate::serde::Deserialize<'de>));

    Ok(quote! {
        const _: () = {
            #[derive(#krate::serde::Deserialize)]
            #shadow

            #[automatically_derived]
            impl #impl_generics #krate::serde::Deserialize<'de> for #ident #type_generics
            #where_clause
            {
                fn deserialize<D>(deserializer: D) -> ::core::result::Result<Self, D::Error>
                where
                    D: #krate::serde::Deserializer<'de>,
                {
                    let shadow =
                        <#shadow_ident #type_generics as #krate::serde::Deserialize<'de>>::deserialize(
                            deserializer,
                        )?;
                    ::core::result::Result::Ok(#conversion)
                }
            }
        };
    })
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

/// Keeps only the `#[serde(...)]` attributes of every field.
fn keep_serde_attrs(fields: &mut Fields) {
    for field in fields.iter_mut() {
        field.attrs = serde_attrs(&field.attrs);
        field.vis = syn::Visibility::Inherited;
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
