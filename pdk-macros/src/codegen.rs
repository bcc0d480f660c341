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
    let Connector { item, name, tokio } = model;
    let ident = &item.ident;
    let uses_tokio = match tokio {
        TokioRequest::Always => quote!(true),
        TokioRequest::Never => quote!(false),
        TokioRequest::WithFeatures(features) => {
            quote!(::core::cfg!(any(#(feature = #features),*)))
        }
    };
    quote! {
        #item

        impl ::pdk::__private::ConnectorType for #ident {
            const NAME: &'static str = #name;
            const USES_TOKIO: bool = #uses_tokio;

            fn source_fns() -> ::core::option::Option<::pdk::__private::SourceFns<Self>> {
                use ::pdk::__private::{HasSource as _, NoSource as _};
                (&::pdk::__private::Probe::<Self>::new()).source_fns()
            }

            fn sink_fns() -> ::core::option::Option<::pdk::__private::SinkFns<Self>> {
                use ::pdk::__private::{HasSink as _, NoSink as _};
                (&::pdk::__private::Probe::<Self>::new()).sink_fns()
            }
        }
    }
}

/// `#[pdk_export]`: the module, with the plugin description and the
/// exported library header added inside it.
pub fn export(model: &Export) -> TokenStream {
    let Export { module, connectors } = model;
    let header = Ident::new(
        &abi_stable_shared::mangled_root_module_loader_name(),
        Span::call_site(),
    );
    let names_checked = quote_spanned! {module.ident.span()=>
        const _: () = ::pdk::__private::assert_distinct_names(
            <PdkPlugin as ::pdk::__private::Plugin>::CONNECTORS,
        );
    };
    let generated = quote! {
        // `feature = "linked"` is the plugin crate's own, optional feature:
        // a crate that does not declare it is never linked statically.
        #[allow(unexpected_cfgs)]
        const _: () = {
            struct PdkPlugin;

            impl ::pdk::__private::Plugin for PdkPlugin {
                const NAME: &'static str = ::core::env!("CARGO_PKG_NAME");
                const VERSION: &'static str = ::core::env!("CARGO_PKG_VERSION");
                const CONNECTORS: &'static [::pdk::__private::ConnectorEntry] = &[
                    #(::pdk::__private::ConnectorEntry::of::<#connectors>(),)*
                ];
            }

            #names_checked

            // Every plugin allocates with the system allocator, so that
            // buffers can move between it and the runtime without copies.
            #[cfg(not(feature = "linked"))]
            #[global_allocator]
            static PDK_ALLOCATOR: ::std::alloc::System = ::std::alloc::System;

            // A crate linked into a runtime statically (its `linked`
            // feature) exports no header: several would clash.
            #[cfg(not(feature = "linked"))]
            #[unsafe(no_mangle)]
            pub static #header: ::pdk::__private::PluginHeader =
                ::pdk::__private::lib_header::<PdkPlugin>();
        };
    };
    let mut module = module.clone();
    if let Some((_, items)) = &mut module.content {
        items.push(syn::Item::Verbatim(generated));
    }
    quote!(#module)
}
