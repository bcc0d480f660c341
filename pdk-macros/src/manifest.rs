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
//!
//! The manifest is read with `basic-toml` into the few tables it needs
//! (every other key is ignored): a plugin's first build compiles that and
//! `serde`, which it compiles anyway, rather than a full TOML editor.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    let Some(manifest) = read_manifest(&dir.join("Cargo.toml")) else {
        return SdkDependency::default();
    };
    let workspace = workspace_manifest(&dir);
    sdk_dependency_in(&manifest, workspace.as_ref())
}

/// The parts of a `Cargo.toml` that say how it depends on the SDK.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Manifest {
    #[serde(default)]
    dependencies: BTreeMap<String, Dependency>,
    #[serde(default)]
    dev_dependencies: BTreeMap<String, Dependency>,
    /// `[target.'cfg(...)'.dependencies]`.
    #[serde(default)]
    target: BTreeMap<String, Target>,
    #[serde(default)]
    features: BTreeMap<String, Vec<String>>,
    /// Present in the manifest of a workspace's root.
    workspace: Option<Workspace>,
}

/// A `[target.'cfg(...)']` table.
#[derive(Debug, Default, Deserialize)]
struct Target {
    #[serde(default)]
    dependencies: BTreeMap<String, Dependency>,
}

/// A `[workspace]` table.
#[derive(Debug, Default, Deserialize)]
struct Workspace {
    #[serde(default)]
    dependencies: BTreeMap<String, Dependency>,
}

/// A dependency's value: a table, or a version requirement.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Dependency {
    /// `name = { package = ..., features = [...], workspace = true, ... }`.
    Detailed(Detail),
    /// `name = "1.0"`: nothing in it matters here.
    Version(serde::de::IgnoredAny),
}

/// The keys of a dependency table that matter here.
#[derive(Debug, Default, Deserialize)]
struct Detail {
    package: Option<String>,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default)]
    workspace: bool,
}

impl Dependency {
    /// Its table, if it has one.
    fn detail(&self) -> Option<&Detail> {
        match self {
            Self::Version(_) => None,
            Self::Detailed(detail) => Some(detail),
        }
    }
}

/// [`sdk_dependency`] for a parsed manifest and the manifest of its
/// workspace, if any (for dependencies inherited with `workspace = true`).
fn sdk_dependency_in(manifest: &Manifest, workspace: Option<&Manifest>) -> SdkDependency {
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
    fn new(key: &'a str, spec: &'a Dependency, workspace: Option<&Manifest>) -> Self {
        let own = spec.detail();
        let inherited = own
            .filter(|detail| detail.workspace)
            .and_then(|_| workspace?.workspace.as_ref()?.dependencies.get(key))
            .and_then(Dependency::detail);
        let entries = || [own, inherited].into_iter().flatten();
        let package = entries()
            .find_map(|entry| entry.package.as_deref())
            .unwrap_or(key)
            .to_owned();
        let features = entries()
            .flat_map(|entry| entry.features.iter().cloned())
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
fn dependencies(manifest: &Manifest) -> impl Iterator<Item = (&str, &Dependency)> {
    let targets = manifest.target.values().map(|target| &target.dependencies);
    std::iter::once(&manifest.dependencies)
        .chain(targets)
        .chain(std::iter::once(&manifest.dev_dependencies))
        .flatten()
        .map(|(key, spec)| (key.as_str(), spec))
}

/// The crate's own features that enable the tokio feature of its
/// dependency `key` (`net = ["pdk/tokio"]`).
fn features_enabling(manifest: &Manifest, key: &str) -> Vec<String> {
    let enabling = [
        format!("{key}/{TOKIO_FEATURE}"),
        format!("{key}?/{TOKIO_FEATURE}"),
    ];
    manifest
        .features
        .iter()
        .filter(|(_, enables)| {
            enables
                .iter()
                .any(|enabled| enabling.iter().any(|e| e == enabled))
        })
        .map(|(feature, _)| feature.clone())
        .collect()
}

/// The manifest of the workspace that the crate in `dir` belongs to: the
/// nearest one above it with a `[workspace]` table.
fn workspace_manifest(dir: &Path) -> Option<Manifest> {
    dir.ancestors()
        .filter_map(|ancestor| read_manifest(&ancestor.join("Cargo.toml")))
        .find(|manifest| manifest.workspace.is_some())
}

/// The manifest at `path`, if it can be read and parsed.
fn read_manifest(path: &Path) -> Option<Manifest> {
    basic_toml::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(manifest: &str, workspace: Option<&str>) -> SdkDependency {
        let manifest: Manifest = basic_toml::from_str(manifest).unwrap();
        let workspace: Option<Manifest> = workspace.map(|w| basic_toml::from_str(w).unwrap());
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

    #[test]
    fn whole_manifests_are_read_past_the_tables_that_do_not_matter() {
        let member = include_str!("../../connectors/tcp_server/Cargo.toml");
        let root = include_str!("../../Cargo.toml");
        assert_eq!(read(member, Some(root)), sdk("pdk", TokioRequest::Always));
        let scaffold = include_str!("../../runtime/templates/plugin/Cargo.toml.in")
            .replace("{{name}}", "my-conn")
            .replace("{{pdk}}", r#"{ package = "pdk-sdk", version = "0.3.0" }"#);
        assert_eq!(read(&scaffold, None), sdk("pdk", TokioRequest::Never));
    }
}
