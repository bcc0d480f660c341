//! Checking what the author wrote and keeping what the expansion needs:
//! the model of each macro's input, built only if every check passes.
//! Every error points at the author's own tokens and says how to fix it,
//! and all of them are reported at once.

use syn::spanned::Spanned;
use syn::{Ident, Item, ItemMod, ItemStruct, LitStr, Path, UseTree};

use crate::errors::Errors;
use crate::manifest::{SdkDependency, TokioRequest};
use crate::parse::{ConnectorArg, ConnectorInput, CrateArg, ExportArg, ExportInput};

/// A connector type, checked.
pub struct Connector {
    /// The struct, emitted unchanged.
    pub item: ItemStruct,
    /// The connector type name used in flow files.
    pub name: LitStr,
    /// The path of the SDK crate in the author's code.
    pub krate: Path,
    /// Whether its crate asked for the SDK's tokio runtime.
    pub tokio: TokioRequest,
}

impl Connector {
    /// Checks the parsed `#[connector]` input, adding to the `errors` its
    /// parsing found; `sdk` is how its crate's manifest depends on the
    /// SDK.
    pub fn from_parsed(
        input: ConnectorInput,
        sdk: SdkDependency,
        mut errors: Errors,
    ) -> syn::Result<Self> {
        let mut name: Option<LitStr> = None;
        let mut krate: Option<Path> = None;
        for arg in &input.args {
            match arg {
                ConnectorArg::Name { key, .. } if name.is_some() => errors.push(syn::Error::new(
                    key.span,
                    "`name` is given twice; keep one `name = \"...\"`",
                )),
                ConnectorArg::Name { value, .. } => name = errors.take(connector_name(value)),
                ConnectorArg::Crate(arg) if krate.is_some() => errors.push(crate_twice(arg)),
                ConnectorArg::Crate(arg) => krate = errors.take(crate_path(&arg.value)),
            }
        }
        let item = match input.item {
            Item::Struct(item) => Some(item),
            other => {
                errors.push(not_a_struct(&other));
                None
            }
        };
        if let Some(param) = item.as_ref().and_then(|item| item.generics.params.first()) {
            let message = if matches!(param, syn::GenericParam::Lifetime(_)) {
                "a connector type cannot borrow: the runtime owns it for the whole flow; \
                 own the data instead (e.g. `String` for `&str`)"
            } else {
                "a connector type cannot be generic: the runtime creates it by name \
                 from a flow file; make a concrete struct (wrap the generic one if needed)"
            };
            errors.push(syn::Error::new(param.span(), message));
        }
        let has_name_arg = input
            .args
            .iter()
            .any(|arg| matches!(arg, ConnectorArg::Name { .. }));
        // A misspelt argument was meant to be the name: its error says so.
        if let (Some(item), false, false) = (&item, has_name_arg, input.args_rejected) {
            errors.push(syn::Error::new(
                item.ident.span(),
                "missing connector name: write `#[connector(name = \"my_connector\")]`",
            ));
        }
        errors.finish()?;
        match (item, name) {
            (Some(item), Some(name)) => Ok(Self {
                item,
                name,
                krate: krate.unwrap_or_else(|| sdk_path(&sdk)),
                tokio: sdk.tokio,
            }),
            // Every way to get here recorded an error above.
            (item, _) => Err(syn::Error::new(
                item.map_or_else(proc_macro2::Span::call_site, |item| item.ident.span()),
                "invalid #[connector]",
            )),
        }
    }
}

/// The path of the SDK crate as the manifest names it.
pub fn sdk_path(sdk: &SdkDependency) -> Path {
    let name = Ident::new(&sdk.crate_name, proc_macro2::Span::call_site());
    syn::parse_quote!(::#name)
}

/// `crate = "..."`: the path of the SDK crate, for code that renames it in
/// a way its manifest does not show.
fn crate_path(value: &syn::Expr) -> syn::Result<Path> {
    let syn::Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Str(path),
        ..
    }) = value
    else {
        return Err(syn::Error::new(
            value.span(),
            "the SDK's path is a string literal: `crate = \"pdk\"`",
        ));
    };
    path.parse::<Path>().map_err(|_| {
        syn::Error::new(
            path.span(),
            "`crate` names the SDK crate as a path, e.g. `crate = \"my_sdk\"` or `crate = \"::my_sdk\"`",
        )
    })
}

fn crate_twice(arg: &CrateArg) -> syn::Error {
    syn::Error::new(
        arg.key.span,
        "`crate` is given twice; keep one `crate = \"...\"`",
    )
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
    /// The path of the SDK crate in the author's code.
    pub krate: Path,
}

impl Export {
    /// Checks the parsed `#[pdk_export]` input, adding to the `errors` its
    /// parsing found; `sdk` is how its crate's manifest depends on the
    /// SDK.
    pub fn from_parsed(
        input: ExportInput,
        sdk: &SdkDependency,
        mut errors: Errors,
    ) -> syn::Result<Self> {
        let mut krate: Option<Path> = None;
        for ExportArg::Crate(arg) in &input.args {
            if krate.is_some() {
                errors.push(crate_twice(arg));
            } else {
                krate = errors.take(crate_path(&arg.value));
            }
        }
        let krate = krate.unwrap_or_else(|| sdk_path(sdk));
        let Item::Mod(module) = input.item else {
            errors.push(syn::Error::new(
                input.item.span(),
                "#[pdk_export] goes on a module listing the connector types: \
                 `#[pdk_export] mod plugin { pub use super::MyConnector; }`",
            ));
            return Err(errors.finish().unwrap_err());
        };
        let Some((_, items)) = &module.content else {
            errors.push(syn::Error::new(
                module.ident.span(),
                "#[pdk_export] needs the module inline: `mod plugin { pub use super::MyConnector; }`",
            ));
            return Err(errors.finish().unwrap_err());
        };
        let mut connectors: Vec<Ident> = Vec::new();
        for item in items {
            let Item::Use(item_use) = item else {
                errors.push(syn::Error::new(
                    item.span(),
                    "only `use` items naming connector types belong in a #[pdk_export] module; \
                     move this item out of it",
                ));
                continue;
            };
            for name in use_leaves(&item_use.tree, &mut errors) {
                if connectors.contains(&name) {
                    errors.push(syn::Error::new(
                        name.span(),
                        format!("`{name}` is exported twice; remove one of them"),
                    ));
                } else {
                    connectors.push(name);
                }
            }
        }
        // With an error above, the author meant to export something.
        if connectors.is_empty() && errors.is_empty() {
            errors.push(syn::Error::new(
                module.ident.span(),
                "this plugin exports no connector; add `pub use super::MyConnector;` to the module",
            ));
        }
        errors.finish()?;
        Ok(Self {
            module,
            connectors,
            krate,
        })
    }
}

/// The names a `use` tree brings into scope; a leaf that names no type
/// (`self`, `*`) is an error in `errors`.
fn use_leaves(tree: &UseTree, errors: &mut Errors) -> Vec<Ident> {
    match tree {
        UseTree::Path(path) => use_leaves(&path.tree, errors),
        UseTree::Name(name) if name.ident == "self" => {
            errors.push(syn::Error::new(
                name.ident.span(),
                "name the connector type itself, not `self`",
            ));
            Vec::new()
        }
        UseTree::Name(name) => vec![name.ident.clone()],
        UseTree::Rename(rename) => vec![rename.rename.clone()],
        UseTree::Glob(glob) => {
            errors.push(syn::Error::new(
                glob.star_token.span(),
                "name each connector type instead of `*`, so the export can be checked",
            ));
            Vec::new()
        }
        UseTree::Group(group) => group
            .items
            .iter()
            .flat_map(|tree| use_leaves(tree, errors))
            .collect(),
    }
}
