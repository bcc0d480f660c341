//! Checking what the author wrote and keeping what the expansion needs.
//! Every error points at the author's own tokens and says how to fix it.

use syn::spanned::Spanned;
use syn::{Ident, Item, ItemMod, ItemStruct, LitStr, UseTree};

use crate::manifest::TokioRequest;
use crate::parse::{ConnectorInput, ExportInput};

/// The arguments `#[connector]` accepts.
const CONNECTOR_ARGS: &[&str] = &["name"];

/// A connector type, checked.
pub struct Connector {
    /// The struct, emitted unchanged.
    pub item: ItemStruct,
    /// The connector type name used in flow files.
    pub name: LitStr,
    /// Whether its crate asked for `pdk`'s tokio runtime.
    pub tokio: TokioRequest,
}

impl Connector {
    /// Checks the parsed `#[connector]` input; `tokio` is what its crate's
    /// manifest asks for.
    pub fn from_parsed(input: ConnectorInput, tokio: TokioRequest) -> syn::Result<Self> {
        let item = match input.item {
            Item::Struct(item) => item,
            other => return Err(not_a_struct(&other)),
        };
        if let Some(param) = item.generics.params.first() {
            let message = if matches!(param, syn::GenericParam::Lifetime(_)) {
                "a connector type cannot borrow: the runtime owns it for the whole flow; \
                 own the data instead (e.g. `String` for `&str`)"
            } else {
                "a connector type cannot be generic: the runtime creates it by name \
                 from a flow file; make a concrete struct (wrap the generic one if needed)"
            };
            return Err(syn::Error::new(param.span(), message));
        }
        let mut name: Option<LitStr> = None;
        for arg in &input.args {
            let key = arg
                .path
                .get_ident()
                .map(Ident::to_string)
                .unwrap_or_default();
            if !CONNECTOR_ARGS.contains(&key.as_str()) {
                return Err(syn::Error::new(arg.path.span(), unknown_arg(&key)));
            }
            if name.is_some() {
                return Err(syn::Error::new(
                    arg.path.span(),
                    "`name` is given twice; keep one `name = \"...\"`",
                ));
            }
            name = Some(connector_name(&arg.value)?);
        }
        let name = name.ok_or_else(|| {
            syn::Error::new(
                item.ident.span(),
                "missing connector name: write `#[connector(name = \"my_connector\")]`",
            )
        })?;
        Ok(Self { item, name, tokio })
    }
}

fn not_a_struct(item: &Item) -> syn::Error {
    let message = "#[connector] goes on a struct: `#[connector(name = \"...\")] pub struct MyConnector { .. }`";
    match item {
        Item::Impl(i) => syn::Error::new(
            i.impl_token.span,
            "#[connector] goes on the struct, not on its impl: \
             `#[connector(name = \"...\")] pub struct MyConnector { .. }`; the impls stay plain Rust",
        ),
        Item::Enum(e) => syn::Error::new(e.enum_token.span, message),
        Item::Fn(f) => syn::Error::new(f.sig.fn_token.span, message),
        other => syn::Error::new(other.span(), message),
    }
}

fn unknown_arg(key: &str) -> String {
    let hint = CONNECTOR_ARGS
        .iter()
        .find(|known| strsim::levenshtein(known, key) <= 2)
        .map(|known| format!("; did you mean `{known}`?"))
        .unwrap_or_default();
    format!(
        "unknown argument `{key}` of #[connector]; it accepts: {}{hint}",
        CONNECTOR_ARGS.join(", ")
    )
}

fn connector_name(value: &syn::Expr) -> syn::Result<LitStr> {
    let syn::Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Str(name),
        ..
    }) = value
    else {
        return Err(syn::Error::new(
            value.span(),
            "the connector name is a string literal: `name = \"my_connector\"`",
        ));
    };
    let text = name.value();
    let valid = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(syn::Error::new(
            name.span(),
            "a connector name is lowercase ASCII letters, digits and `_` (it is typed in flow files), e.g. `name = \"tcp_server\"`",
        ));
    }
    Ok(name.clone())
}

/// A plugin's export module, checked.
pub struct Export {
    /// The module, emitted with the generated export inside it.
    pub module: ItemMod,
    /// The connector types, as the names the module's `use` items bring in.
    pub connectors: Vec<Ident>,
}

impl Export {
    /// Checks the parsed `#[pdk_export]` input.
    pub fn from_parsed(input: ExportInput) -> syn::Result<Self> {
        if !input.args.is_empty() {
            return Err(syn::Error::new(
                input.args.span(),
                "#[pdk_export] takes no arguments; list the connector types as \
                 `pub use` items inside the module",
            ));
        }
        let Item::Mod(module) = input.item else {
            return Err(syn::Error::new(
                input.item.span(),
                "#[pdk_export] goes on a module listing the connector types: \
                 `#[pdk_export] mod plugin { pub use super::MyConnector; }`",
            ));
        };
        let Some((_, items)) = &module.content else {
            return Err(syn::Error::new(
                module.ident.span(),
                "#[pdk_export] needs the module inline: `mod plugin { pub use super::MyConnector; }`",
            ));
        };
        let mut connectors: Vec<Ident> = Vec::new();
        for item in items {
            let Item::Use(item_use) = item else {
                return Err(syn::Error::new(
                    item.span(),
                    "only `use` items naming connector types belong in a #[pdk_export] module; \
                     move this item out of it",
                ));
            };
            for name in use_leaves(&item_use.tree)? {
                if connectors.contains(&name) {
                    return Err(syn::Error::new(
                        name.span(),
                        format!("`{name}` is exported twice; remove one of them"),
                    ));
                }
                connectors.push(name);
            }
        }
        if connectors.is_empty() {
            return Err(syn::Error::new(
                module.ident.span(),
                "this plugin exports no connector; add `pub use super::MyConnector;` to the module",
            ));
        }
        Ok(Self { module, connectors })
    }
}

/// The names a `use` tree brings into scope.
fn use_leaves(tree: &UseTree) -> syn::Result<Vec<Ident>> {
    match tree {
        UseTree::Path(path) => use_leaves(&path.tree),
        UseTree::Name(name) if name.ident == "self" => Err(syn::Error::new(
            name.ident.span(),
            "name the connector type itself, not `self`",
        )),
        UseTree::Name(name) => Ok(vec![name.ident.clone()]),
        UseTree::Rename(rename) => Ok(vec![rename.rename.clone()]),
        UseTree::Glob(glob) => Err(syn::Error::new(
            glob.star_token.span(),
            "name each connector type instead of `*`, so the export can be checked",
        )),
        UseTree::Group(group) => {
            let mut names = Vec::new();
            for tree in &group.items {
                names.extend(use_leaves(tree)?);
            }
            Ok(names)
        }
    }
}
