//! Checking what the author wrote and keeping what the expansion needs.
//! Every error points at the author's own tokens and says how to fix it.

use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Ident, Item, ItemMod, ItemStruct, LitStr, MetaNameValue, Path, Token, UseTree};

use crate::manifest::{SdkDependency, TokioRequest};
use crate::parse::{ConnectorInput, ExportInput};

/// The arguments `#[connector]` accepts.
const CONNECTOR_ARGS: &[&str] = &["name", "crate"];

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
    /// Checks the parsed `#[connector]` input; `sdk` is how its crate's
    /// manifest depends on the SDK.
    pub fn from_parsed(input: ConnectorInput, sdk: SdkDependency) -> syn::Result<Self> {
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
        let mut krate: Option<Path> = None;
        for arg in &input.args {
            let key = arg_key(arg);
            match key.as_str() {
                "name" if name.is_some() => {
                    return Err(syn::Error::new(
                        arg.path.span(),
                        "`name` is given twice; keep one `name = \"...\"`",
                    ))
                }
                "name" => name = Some(connector_name(&arg.value)?),
                "crate" if krate.is_some() => return Err(crate_twice(arg)),
                "crate" => krate = Some(crate_path(&arg.value)?),
                _ => return Err(syn::Error::new(arg.path.span(), unknown_arg(&key))),
            }
        }
        let name = name.ok_or_else(|| {
            syn::Error::new(
                item.ident.span(),
                "missing connector name: write `#[connector(name = \"my_connector\")]`",
            )
        })?;
        Ok(Self {
            item,
            name,
            krate: krate.unwrap_or_else(|| sdk_path(&sdk)),
            tokio: sdk.tokio,
        })
    }
}

/// The name of an argument (`crate` included, which is a keyword).
fn arg_key(arg: &MetaNameValue) -> String {
    arg.path
        .segments
        .first()
        .map(|segment| segment.ident.to_string())
        .unwrap_or_default()
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

fn crate_twice(arg: &MetaNameValue) -> syn::Error {
    syn::Error::new(
        arg.path.span(),
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
    /// The path of the SDK crate in the author's code.
    pub krate: Path,
}

impl Export {
    /// Checks the parsed `#[pdk_export]` input; `sdk` is how its crate's
    /// manifest depends on the SDK.
    pub fn from_parsed(input: ExportInput, sdk: &SdkDependency) -> syn::Result<Self> {
        let not_an_argument = |span: proc_macro2::Span| {
            syn::Error::new(
                span,
                "#[pdk_export] takes only `crate = \"...\"`; list the connector types as \
                 `pub use` items inside the module",
            )
        };
        let args = Punctuated::<MetaNameValue, Token![,]>::parse_terminated
            .parse2(input.args.clone())
            .map_err(|_| not_an_argument(input.args.span()))?;
        let mut krate: Option<Path> = None;
        for arg in &args {
            match arg_key(arg).as_str() {
                "crate" if krate.is_some() => return Err(crate_twice(arg)),
                "crate" => krate = Some(crate_path(&arg.value)?),
                _ => return Err(not_an_argument(arg.span())),
            }
        }
        let krate = krate.unwrap_or_else(|| sdk_path(sdk));
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
        Ok(Self {
            module,
            connectors,
            krate,
        })
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
