//! Writing the expansions. Each is a handful of items that call the
//! generic helpers of `pdk::__private`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;

use crate::manifest::TokioRequest;
use crate::model::{Connector, Export};

/// `#[connector]`: the struct, plus its `ConnectorType` impl (name and the
/// sides found by probing its trait impls).
pub fn connector(model: &Connector) -> TokenStream {
    let Connector {
        item,
        name,
        krate,
        tokio,
    } = model;
    let ident = &item.ident;
    let uses_tokio = match tokio {
        TokioRequest::Always => quote!(true),
        TokioRequest::Never => quote!(false),
        TokioRequest::WithFeatures(features) => {
            quote!(::core::cfg!(any(#(feature = #features),*)))
        }
    };
    let no_side = format!(
        "`{ident}` has no side: implement `pdk::Source` (it produces events), `pdk::Sink` \
         (it consumes them), or both"
    );
    // Fails at compile time; its error points at the struct's name.
    let at_ident = respanned(quote!(#krate), ident.span());
    let side_checked = quote_spanned! {ident.span()=>
        const _: () = {
            // Probing picks one trait of each pair; the other goes unused.
            #[allow(unused_imports)]
            use #at_ident::__private::{HasSink as _, HasSource as _, NoSink as _, NoSource as _};
            let source = #at_ident::__private::side_present(|| {
                (&#at_ident::__private::Probe::<#ident>::new()).source_side()
            });
            let sink = #at_ident::__private::side_present(|| {
                (&#at_ident::__private::Probe::<#ident>::new()).sink_side()
            });
            if !source && !sink {
                ::core::panic!(#no_side);
            }
        };
    };
    // One check per field, its error on the field's type.
    let fields_checked = item.fields.iter().map(|field| {
        let ty = &field.ty;
        let at_field = respanned(quote!(#krate), syn::spanned::Spanned::span(ty));
        quote_spanned! {syn::spanned::Spanned::span(ty)=>
            const _: () = #at_field::__private::send_field::<#ty>();
        }
    });
    quote! {
        #item

        #(#fields_checked)*

        #side_checked

        impl #krate::__private::ConnectorType for #ident {
            const NAME: &'static str = #name;
            const PACKAGE: &'static str = ::core::env!("CARGO_PKG_NAME");
            const PACKAGE_VERSION: &'static str = ::core::env!("CARGO_PKG_VERSION");
            const USES_TOKIO: bool = #uses_tokio;

            fn source_fns() -> ::core::option::Option<#krate::__private::SourceFns<Self>> {
                use #krate::__private::{HasSource as _, NoSource as _};
                (&#krate::__private::Probe::<Self>::new()).source_fns()
            }

            fn sink_fns() -> ::core::option::Option<#krate::__private::SinkFns<Self>> {
                use #krate::__private::{HasSink as _, NoSink as _};
                (&#krate::__private::Probe::<Self>::new()).sink_fns()
            }
        }
    }
}

/// `tokens` with every span set to `span`, so that an error inside them
/// points at the author's tokens there.
fn respanned(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(group) = &tree {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respanned(group.stream(), span));
                inner.set_span(span);
                tree = proc_macro2::TokenTree::Group(inner);
            }
            tree.set_span(span);
            tree
        })
        .collect()
}

/// The prefix of the symbol under which a plugin exports its root module;
/// `pdk::abi::module::ROOT_MODULE_SYMBOL_PREFIX` is the same text (the
/// runtime finds plugins by it, so every test that loads a plugin checks
/// that the two agree).
const ROOT_MODULE_SYMBOL_PREFIX: &str = "pdk_plugin_root_module__";

/// The symbol of the crate being compiled: the prefix, its crate name and
/// its version, so that several plugin crates linked into one program (a
/// runtime with its bundled connectors built in) never clash.
fn root_module_symbol() -> Ident {
    let name = std::env::var("CARGO_CRATE_NAME").unwrap_or_else(|_| String::from("plugin"));
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let version: String = version
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Ident::new(
        &format!("{ROOT_MODULE_SYMBOL_PREFIX}{name}__{version}"),
        Span::call_site(),
    )
}

/// One compile-time check per pair of exported types that their names
/// differ; the error names both types and points at the second.
fn distinct_names_checked(connectors: &[Ident], krate: &syn::Path) -> TokenStream {
    let mut checks = TokenStream::new();
    for (i, first) in connectors.iter().enumerate() {
        for second in &connectors[i + 1..] {
            let span = second.span();
            let message = format!(
                "`{}` and `{}` have the same `#[connector(name = ...)]`: a plugin's connector \
                 types need distinct names; rename one",
                first, second
            );
            let at_second = respanned(quote!(#krate), span);
            checks.extend(quote_spanned! {span=>
                const _: () = if #at_second::__private::same_name::<#first, #second>() {
                    ::core::panic!(#message);
                };
            });
        }
    }
    checks
}

/// `#[pdk_export]`: the module, with the plugin description and the
/// exported library header added inside it.
pub fn export(model: &Export) -> TokenStream {
    let Export {
        module,
        connectors,
        krate,
    } = model;
    let header = root_module_symbol();
    let names_checked = distinct_names_checked(connectors, krate);
    let generated = quote! {
        const _: () = {
            struct PdkPlugin;

            impl #krate::__private::Plugin for PdkPlugin {
                const NAME: &'static str = ::core::env!("CARGO_PKG_NAME");
                const VERSION: &'static str = ::core::env!("CARGO_PKG_VERSION");
                const CONNECTORS: &'static [#krate::__private::ConnectorEntry] = &[
                    #(#krate::__private::ConnectorEntry::of::<#connectors>(),)*
                ];
                const DEBUG_ASSERTIONS: bool = ::core::cfg!(debug_assertions);
            }

            #names_checked

            // What the runtime's loader looks for, by name, in the
            // library's export table.
            #[unsafe(no_mangle)]
            pub static #header: #krate::__private::PluginHeader =
                #krate::__private::lib_header::<PdkPlugin>();
        };
    };
    let mut module = module.clone();
    if let Some((_, items)) = &mut module.content {
        items.push(syn::Item::Verbatim(generated));
    }
    quote!(#module)
}
