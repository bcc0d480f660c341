//! `pdk-runtime plugins list`: every candidate, as text or JSON.

use serde::Serialize;

use crate::loader::{ConnectorKind, PluginInfo};
use crate::printable::{printable, printable_path};
use crate::registry::{BuiltIn, Registry, Status};
use crate::trust::Placement;

/// One entry of the JSON listing.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum Entry<'a> {
    /// A plugin that is used.
    Loaded {
        path: String,
        plugin: &'a PluginInfo,
        connectors: &'a [ConnectorKind],
        /// Whether its connectors run in processes of their own, by the
        /// trust policy.
        isolated: bool,
    },
    /// A file that is not used, and why.
    Rejected { path: String, reason: &'a str },
    /// A connector type built into the runtime.
    #[serde(rename = "built-in")]
    BuiltIn {
        path: &'static str,
        plugin: Package<'a>,
        connectors: [&'a ConnectorKind; 1],
        /// The plugin file used instead, if any.
        replaced_by: Option<String>,
    },
}

/// The crate a built-in connector comes from.
#[derive(Debug, Serialize)]
struct Package<'a> {
    name: &'a str,
    version: &'a str,
}

/// What the listing shows as the path of a built-in connector.
const BUILT_IN: &str = "(built in)";

/// The listing as a JSON array of objects with `path`, `status`
/// (`loaded`, `rejected` or `built-in`) and either `plugin`, `connectors`
/// and `isolated` or `reason`; a built-in connector also has `replaced_by`,
/// the plugin file used instead of it, or `null`.
#[must_use]
pub fn json(registry: &Registry) -> String {
    let candidates = registry.candidates().iter().map(|candidate| {
        let path = candidate.path.display().to_string();
        match &candidate.status {
            Status::Loaded(plugin) => Entry::Loaded {
                path,
                plugin: &plugin.info,
                connectors: &plugin.connectors,
                isolated: plugin.placement == Placement::Isolated,
            },
            Status::Rejected(reason) => Entry::Rejected { path, reason },
        }
    });
    let builtins = registry.builtins().iter().map(|builtin| Entry::BuiltIn {
        path: BUILT_IN,
        plugin: Package {
            name: builtin.entry.package,
            version: builtin.entry.version,
        },
        connectors: [&builtin.kind],
        replaced_by: builtin
            .replaced_by
            .as_ref()
            .map(|path| path.display().to_string()),
    });
    let entries: Vec<Entry<'_>> = candidates.chain(builtins).collect();
    // A Vec of plain structs of strings and bools always serializes.
    serde_json::to_string_pretty(&entries).unwrap_or_else(|_| String::from("[]"))
}

/// The listing for people: one paragraph per candidate, then the
/// built-in connectors.
#[must_use]
pub fn text(registry: &Registry) -> String {
    let mut out = String::new();
    if registry.candidates().is_empty() {
        let searched: Vec<String> = registry
            .searched()
            .iter()
            .map(|dir| printable_path(dir))
            .collect();
        if searched.is_empty() {
            out.push_str("no plugin files found: no directory of the plugin path exists\n");
        } else {
            out.push_str(&format!(
                "no plugin files found in {}\n",
                searched.join(", ")
            ));
        }
    }
    for candidate in registry.candidates() {
        let path = printable_path(&candidate.path);
        match &candidate.status {
            Status::Loaded(plugin) => {
                let info = &plugin.info;
                out.push_str(&format!(
                    "loaded    {path}\n          {} {} ({}; pdk {}, interface {}, {})\n",
                    printable(&info.name),
                    printable(&info.version),
                    info.build(),
                    printable(&info.pdk_version),
                    printable(&info.interface_version),
                    printable(&info.rustc_version)
                ));
                let placed = match plugin.placement {
                    Placement::Isolated => ", isolated (not on the --in-process list)",
                    Placement::InProcess => "",
                };
                for kind in &plugin.connectors {
                    out.push_str(&format!(
                        "          connector `{}` [{}]{placed}\n",
                        printable(&kind.name),
                        sides(kind)
                    ));
                }
            }
            Status::Rejected(reason) => {
                out.push_str(&format!(
                    "rejected  {path}\n          {}\n",
                    printable(reason)
                ));
            }
        }
    }
    for builtin in registry.builtins() {
        out.push_str(&built_in(builtin));
    }
    out
}

/// The paragraph of one built-in connector type.
fn built_in(builtin: &BuiltIn) -> String {
    let BuiltIn {
        kind,
        entry,
        replaced_by,
    } = builtin;
    let used = match replaced_by {
        Some(path) => format!("replaced by the plugin {}", printable_path(path)),
        None => String::from("used"),
    };
    format!(
        "built in  connector `{}` [{}] ({} {}): {used}\n",
        kind.name,
        sides(kind),
        entry.package,
        entry.version
    )
}

fn sides(kind: &ConnectorKind) -> &'static str {
    match (kind.source, kind.sink) {
        (true, true) => "source, sink",
        (true, false) => "source",
        (false, true) => "sink",
        (false, false) => "no side",
    }
}
