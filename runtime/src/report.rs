//! `pdk-runtime plugins list`: every candidate, as text or JSON.

use serde::Serialize;

use crate::loader::{ConnectorKind, PluginInfo};
use crate::registry::{Registry, Status};

/// One entry of the JSON listing.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum Entry<'a> {
    /// A plugin that is used.
    Loaded {
        path: String,
        plugin: &'a PluginInfo,
        connectors: &'a [ConnectorKind],
    },
    /// A file that is not used, and why.
    Rejected { path: String, reason: &'a str },
}

/// The listing as a JSON array of objects with `path`, `status` and either
/// `plugin` and `connectors` or `reason`.
#[must_use]
pub fn json(registry: &Registry) -> String {
    let entries: Vec<Entry<'_>> = registry
        .candidates()
        .iter()
        .map(|candidate| {
            let path = candidate.path.display().to_string();
            match &candidate.status {
                Status::Loaded(plugin) => Entry::Loaded {
                    path,
                    plugin: &plugin.info,
                    connectors: &plugin.connectors,
                },
                Status::Rejected(reason) => Entry::Rejected { path, reason },
            }
        })
        .collect();
    // A Vec of plain structs of strings and bools always serializes.
    serde_json::to_string_pretty(&entries).unwrap_or_else(|_| String::from("[]"))
}

/// The listing for people: one paragraph per candidate.
#[must_use]
pub fn text(registry: &Registry) -> String {
    let mut out = String::new();
    for kind in registry.linked() {
        out.push_str(&format!(
            "linked    connector `{}` [{}] (built into this runtime)\n",
            kind.name,
            sides(kind)
        ));
    }
    if registry.candidates().is_empty() {
        out.push_str("no plugin files found in the plugin path\n");
    }
    for candidate in registry.candidates() {
        let path = candidate.path.display();
        match &candidate.status {
            Status::Loaded(plugin) => {
                let info = &plugin.info;
                out.push_str(&format!(
                    "loaded    {path}\n          {} {} (pdk {}, {})\n",
                    info.name, info.version, info.pdk_version, info.rustc_version
                ));
                for kind in &plugin.connectors {
                    out.push_str(&format!(
                        "          connector `{}` [{}]\n",
                        kind.name,
                        sides(kind)
                    ));
                }
            }
            Status::Rejected(reason) => {
                out.push_str(&format!("rejected  {path}\n          {reason}\n"));
            }
        }
    }
    out
}

fn sides(kind: &ConnectorKind) -> &'static str {
    match (kind.source, kind.sink) {
        (true, true) => "source, sink",
        (true, false) => "source",
        (false, true) => "sink",
        (false, false) => "no side",
    }
}
