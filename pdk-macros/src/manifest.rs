//! What the crate being compiled asks of `pdk` in its own `Cargo.toml`.
//!
//! Cargo unifies features: when one crate of a workspace enables `pdk`'s
//! `tokio` feature, every crate of the workspace built alongside it gets
//! that same `pdk`. Only the crate's own manifest says whether *it* asked
//! for tokio, so that a plugin that did not starts no tokio runtime.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

/// The package name of the SDK crate that authors depend on.
const SDK_PACKAGE: &str = "pdk";

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

/// What the crate being compiled (the one cargo names in
/// `CARGO_MANIFEST_DIR`) asks for.
pub fn tokio_request() -> TokioRequest {
    let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        return TokioRequest::Never;
    };
    let Some(manifest) = read_table(&dir.join("Cargo.toml")) else {
        return TokioRequest::Never;
    };
    let workspace = || workspace_manifest(&dir);
    tokio_request_in(&manifest, workspace)
}

/// [`tokio_request`] for a parsed manifest; `workspace` reads the
/// workspace's manifest, for dependencies inherited with
/// `workspace = true`.
fn tokio_request_in(manifest: &Table, workspace: impl Fn() -> Option<Table>) -> TokioRequest {
    let mut keys = Vec::new();
    for (key, spec) in sdk_dependencies(manifest) {
        let inherited = || {
            workspace().and_then(|root| {
                root.get("workspace")
                    .and_then(|w| w.get("dependencies"))
                    .and_then(|deps| deps.get(key.as_str()))
                    .is_some_and(lists_tokio)
                    .then_some(())
            })
        };
        let is_inherited = spec.get("workspace").and_then(Value::as_bool) == Some(true);
        if lists_tokio(spec) || (is_inherited && inherited().is_some()) {
            return TokioRequest::Always;
        }
        keys.push(key);
    }
    let features: Vec<String> = manifest
        .get("features")
        .and_then(Value::as_table)
        .into_iter()
        .flatten()
        .filter(|(_, enables)| {
            enables.as_array().is_some_and(|enables| {
                enables.iter().filter_map(Value::as_str).any(|enabled| {
                    keys.iter().any(|key| {
                        enabled == format!("{key}/{TOKIO_FEATURE}")
                            || enabled == format!("{key}?/{TOKIO_FEATURE}")
                    })
                })
            })
        })
        .map(|(feature, _)| feature.clone())
        .collect();
    if features.is_empty() {
        TokioRequest::Never
    } else {
        TokioRequest::WithFeatures(features)
    }
}

/// The crate's dependencies on the SDK, under whatever key (a renamed
/// dependency has `package = "..."`), including target-specific ones.
fn sdk_dependencies(manifest: &Table) -> Vec<(String, &Value)> {
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
        .filter_map(Value::as_table)
        .flatten()
        .filter(|(key, spec)| {
            let package = spec.get("package").and_then(Value::as_str);
            package.unwrap_or(key.as_str()) == SDK_PACKAGE
        })
        .map(|(key, spec)| (key.clone(), spec))
        .collect()
}

/// Whether a dependency entry's `features` list the tokio feature.
fn lists_tokio(spec: &Value) -> bool {
    spec.get("features")
        .and_then(Value::as_array)
        .is_some_and(|features| {
            features
                .iter()
                .any(|feature| feature.as_str() == Some(TOKIO_FEATURE))
        })
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

    fn request(manifest: &str, workspace: Option<&str>) -> TokioRequest {
        let manifest: Table = manifest.parse().unwrap();
        tokio_request_in(&manifest, || workspace.map(|w| w.parse().unwrap()))
    }

    #[test]
    fn the_dependency_line_asks_for_tokio() {
        let asked = r#"
            [dependencies]
            pdk = { version = "0.1", features = ["tokio"] }
        "#;
        assert_eq!(request(asked, None), TokioRequest::Always);
        let plain = r#"
            [dependencies]
            pdk = "0.1"
            tokio = { version = "1", features = ["net"] }
        "#;
        assert_eq!(request(plain, None), TokioRequest::Never);
    }

    #[test]
    fn a_renamed_or_target_specific_dependency_counts() {
        let renamed = r#"
            [dependencies]
            sdk = { package = "pdk", version = "0.1", features = ["tokio"] }
        "#;
        assert_eq!(request(renamed, None), TokioRequest::Always);
        let target = r#"
            [target.'cfg(unix)'.dependencies]
            pdk = { version = "0.1", features = ["tokio"] }
        "#;
        assert_eq!(request(target, None), TokioRequest::Always);
        let other_package = r#"
            [dependencies]
            pdk = { package = "someone-elses-pdk", version = "1", features = ["tokio"] }
        "#;
        assert_eq!(request(other_package, None), TokioRequest::Never);
    }

    #[test]
    fn features_added_to_or_inherited_from_the_workspace_count() {
        let member = r#"
            [dependencies]
            pdk = { workspace = true, features = ["tokio"] }
        "#;
        assert_eq!(request(member, None), TokioRequest::Always);
        let inheriting = r#"
            [dependencies]
            pdk = { workspace = true }
        "#;
        let root = r#"
            [workspace.dependencies]
            pdk = { path = "pdk", features = ["tokio"] }
        "#;
        assert_eq!(request(inheriting, Some(root)), TokioRequest::Always);
        let plain_root = r#"
            [workspace.dependencies]
            pdk = { path = "pdk" }
        "#;
        assert_eq!(request(inheriting, Some(plain_root)), TokioRequest::Never);
    }

    #[test]
    fn a_feature_of_the_crate_may_enable_it() {
        let manifest = r#"
            [dependencies]
            pdk = "0.1"

            [features]
            default = []
            net = ["pdk/tokio"]
            maybe = ["pdk?/tokio", "net"]
        "#;
        assert_eq!(
            request(manifest, None),
            TokioRequest::WithFeatures(vec![String::from("maybe"), String::from("net")])
        );
    }
}
