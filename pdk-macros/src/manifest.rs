//! What the crate being compiled asks of the SDK in its own `Cargo.toml`:
//! under which name it depends on it, and whether it enables the `tokio`
//! feature.
//!
//! Cargo unifies features: when one crate of a workspace enables the SDK's
//! `tokio` feature, every crate of the workspace built alongside it gets
//! that same SDK. Only the crate's own manifest says whether *it* asked
//! for tokio, so that a plugin that did not starts no tokio runtime. The
//! same manifest says whether the dependency was renamed
//! (`sdk = { package = "pdk-sdk", ... }`), so that the expansions name the
//! crate as the author's code does.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

/// The package name of the SDK crate that authors depend on.
const SDK_PACKAGE: &str = "pdk-sdk";

/// The name of the SDK's library, which code uses unless the dependency
/// is renamed.
const SDK_LIBRARY: &str = "pdk";

/// The feature of the SDK crate that runs connectors in a tokio runtime.
const TOKIO_FEATURE: &str = "tokio";

/// Whether the crate asked for the SDK's `tokio` feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokioRequest {
    /// Its dependency line on the SDK lists the feature.
    Always,
    /// Some of its own features enable it (`net = ["pdk/tokio"]`): it is
    /// on when any of them is.
    WithFeatures(Vec<String>),
    /// It did not ask (or its manifest could not be read).
    Never,
}

/// How the crate being compiled depends on the SDK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkDependency {
    /// The name its code uses for the SDK crate: `pdk`, or the key of a
    /// renamed dependency.
    pub crate_name: String,
    /// Whether it asked for the tokio feature.
    pub tokio: TokioRequest,
}

impl Default for SdkDependency {
    fn default() -> Self {
        Self {
            crate_name: String::from(SDK_LIBRARY),
            tokio: TokioRequest::Never,
        }
    }
}

/// How the crate being compiled (the one cargo names in
/// `CARGO_MANIFEST_DIR`) depends on the SDK; the default (`pdk`, no tokio)
/// when its manifest cannot be read or names no SDK dependency (the SDK's
/// own doc tests, say).
pub fn sdk_dependency() -> SdkDependency {
    let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        return SdkDependency::default();
    };
    let Some(manifest) = read_table(&dir.join("Cargo.toml")) else {
        return SdkDependency::default();
    };
    let workspace = workspace_manifest(&dir);
    sdk_dependency_in(&manifest, workspace.as_ref())
}

/// [`sdk_dependency`] for a parsed manifest and the manifest of its
/// workspace, if any (for dependencies inherited with `workspace = true`).
fn sdk_dependency_in(manifest: &Table, workspace: Option<&Table>) -> SdkDependency {
    let Some(found) = dependencies(manifest)
        .map(|(key, spec)| Resolved::new(key, spec, workspace))
        .find(|dependency| dependency.package == SDK_PACKAGE)
    else {
        return SdkDependency::default();
    };
    let crate_name = if found.key == SDK_PACKAGE {
        String::from(SDK_LIBRARY)
    } else {
        found.key.replace('-', "_")
    };
    let tokio = if found.features.iter().any(|f| f == TOKIO_FEATURE) {
        TokioRequest::Always
    } else {
        let features = features_enabling(manifest, found.key);
        if features.is_empty() {
            TokioRequest::Never
        } else {
            TokioRequest::WithFeatures(features)
        }
    };
    SdkDependency { crate_name, tokio }
}

/// A dependency entry with what it inherits from the workspace.
struct Resolved<'a> {
    /// Its key in `[dependencies]`.
    key: &'a str,
    /// The package it names.
    package: String,
    /// The features it enables, its own and the workspace's.
    features: Vec<String>,
}

impl<'a> Resolved<'a> {
    fn new(key: &'a str, spec: &'a Value, workspace: Option<&Table>) -> Self {
        let inherited = (spec.get("workspace").and_then(Value::as_bool) == Some(true))
            .then(|| {
                workspace
                    .and_then(|root| root.get("workspace"))
                    .and_then(|w| w.get("dependencies"))
                    .and_then(|deps| deps.get(key))
            })
            .flatten();
        let package = [Some(spec), inherited]
            .into_iter()
            .flatten()
            .find_map(|entry| entry.get("package").and_then(Value::as_str))
            .unwrap_or(key)
            .to_owned();
        let features = [Some(spec), inherited]
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.get("features").and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        Self {
            key,
            package,
            features,
        }
    }
}

/// Every dependency entry: `[dependencies]`, target-specific ones, then
/// `[dev-dependencies]` (a crate whose connectors live in its tests).
fn dependencies(manifest: &Table) -> impl Iterator<Item = (&str, &Value)> {
    let targets = manifest
        .get("target")
        .and_then(Value::as_table)
        .into_iter()
        .flat_map(|targets| targets.values())
        .filter_map(|target| target.get("dependencies"));
    manifest
        .get("dependencies")
        .into_iter()
        .chain(targets)
        .chain(manifest.get("dev-dependencies"))
        .filter_map(Value::as_table)
        .flatten()
        .map(|(key, spec)| (key.as_str(), spec))
}

/// The crate's own features that enable the tokio feature of its
/// dependency `key` (`net = ["pdk/tokio"]`).
fn features_enabling(manifest: &Table, key: &str) -> Vec<String> {
    let enabling = [
        format!("{key}/{TOKIO_FEATURE}"),
        format!("{key}?/{TOKIO_FEATURE}"),
    ];
    manifest
        .get("features")
        .and_then(Value::as_table)
        .into_iter()
        .flatten()
        .filter(|(_, enables)| {
            enables.as_array().is_some_and(|enables| {
                enables
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|enabled| enabling.iter().any(|e| e == enabled))
            })
        })
        .map(|(feature, _)| feature.clone())
        .collect()
}

/// The manifest of the workspace that the crate in `dir` belongs to: the
/// nearest one above it with a `[workspace]` table.
fn workspace_manifest(dir: &Path) -> Option<Table> {
    dir.ancestors()
        .filter_map(|ancestor| read_table(&ancestor.join("Cargo.toml")))
        .find(|manifest| manifest.contains_key("workspace"))
}

fn read_table(path: &Path) -> Option<Table> {
    std::fs::read_to_string(path).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(manifest: &str, workspace: Option<&str>) -> SdkDependency {
        let manifest: Table = manifest.parse().unwrap();
        let workspace: Option<Table> = workspace.map(|w| w.parse().unwrap());
        sdk_dependency_in(&manifest, workspace.as_ref())
    }

    fn sdk(crate_name: &str, tokio: TokioRequest) -> SdkDependency {
        SdkDependency {
            crate_name: crate_name.to_owned(),
            tokio,
        }
    }

    #[test]
    fn the_dependency_line_asks_for_tokio() {
        let asked = r#"
            [dependencies]
            pdk = { package = "pdk-sdk", version = "0.1", features = ["tokio"] }
        "#;
        assert_eq!(read(asked, None), sdk("pdk", TokioRequest::Always));
        let plain = r#"
            [dependencies]
            pdk-sdk = "0.1"
            tokio = { version = "1", features = ["net"] }
        "#;
        assert_eq!(read(plain, None), sdk("pdk", TokioRequest::Never));
    }

    #[test]
    fn a_renamed_dependency_names_the_crate() {
        let renamed = r#"
            [dependencies]
            plugin-sdk = { package = "pdk-sdk", version = "0.1", features = ["tokio"] }
        "#;
        assert_eq!(read(renamed, None), sdk("plugin_sdk", TokioRequest::Always));
        let target = r#"
            [target.'cfg(unix)'.dependencies]
            sdk = { package = "pdk-sdk", version = "0.1" }
        "#;
        assert_eq!(read(target, None), sdk("sdk", TokioRequest::Never));
        let other_project = r#"
            [dependencies]
            pdk = { version = "1", features = ["tokio"] }
        "#;
        assert_eq!(read(other_project, None), SdkDependency::default());
    }

    #[test]
    fn the_package_and_features_may_come_from_the_workspace() {
        let root = r#"
            [workspace.dependencies]
            pdk = { package = "pdk-sdk", path = "pdk" }
        "#;
        let member = r#"
            [dependencies]
            pdk = { workspace = true, features = ["tokio"] }
        "#;
        assert_eq!(read(member, Some(root)), sdk("pdk", TokioRequest::Always));
        let inheriting = r#"
            [dependencies]
            pdk = { workspace = true }
        "#;
        assert_eq!(
            read(inheriting, Some(root)),
            sdk("pdk", TokioRequest::Never)
        );
        let tokio_root = r#"
            [workspace.dependencies]
            pdk = { package = "pdk-sdk", path = "pdk", features = ["tokio"] }
        "#;
        assert_eq!(
            read(inheriting, Some(tokio_root)),
            sdk("pdk", TokioRequest::Always)
        );
    }

    #[test]
    fn a_feature_of_the_crate_may_enable_it() {
        let manifest = r#"
            [dependencies]
            pdk = { package = "pdk-sdk", version = "0.1" }

            [features]
            default = []
            net = ["pdk/tokio"]
            maybe = ["pdk?/tokio", "net"]
        "#;
        assert_eq!(
            read(manifest, None),
            sdk(
                "pdk",
                TokioRequest::WithFeatures(vec![String::from("maybe"), String::from("net")])
            )
        );
    }
}
