//! `pdk-runtime new NAME`: a new plugin crate that builds and loads as it
//! is: a `Cargo.toml` for a `cdylib` depending on the SDK (`pdk-sdk`, used
//! as `pdk`) this runtime was built with, a source connector named after
//! the crate, a flow file running it into the built-in `stdout`, and a
//! `.gitignore`. As with `cargo new`, a name may have `-`: the package is
//! `my-source`, the crate and the connector type `my_source`.

use std::path::{Path, PathBuf};

/// The package name of the SDK on crates.io.
const SDK_PACKAGE: &str = "pdk-sdk";

/// The templates, with `{{name}}` (the package), `{{connector}}` (the
/// connector type and crate name), `{{type}}` and `{{pdk}}` to fill in.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../templates/plugin/Cargo.toml.in"),
    ),
    ("src/lib.rs", include_str!("../templates/plugin/lib.rs.in")),
    (
        "flow.toml",
        include_str!("../templates/plugin/flow.toml.in"),
    ),
    (
        ".gitignore",
        include_str!("../templates/plugin/gitignore.in"),
    ),
];

/// Where the new crate's SDK comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PdkSource {
    /// The registry, at this version requirement.
    Version(String),
    /// The SDK crate of the clone this runtime was built from.
    Clone(PathBuf),
    /// The SDK crate in a directory the user named (`--pdk-path`).
    Path(PathBuf),
}

impl PdkSource {
    /// The SDK this runtime was built with: the clone's, when the runtime
    /// was built from a clone of the PDK repository that is still there
    /// (`cargo install --path runtime`); otherwise the registry's, at this
    /// runtime's version. Either way, plugins built from it load in this
    /// runtime.
    #[must_use]
    pub fn this_runtimes() -> Self {
        clone_sdk(Path::new(env!("CARGO_MANIFEST_DIR")))
            .map_or_else(|| Self::Version(pdk::SDK_VERSION.to_owned()), Self::Clone)
    }

    /// The dependency's value in `Cargo.toml`.
    fn toml(&self) -> String {
        match self {
            Self::Version(version) => {
                format!("{{ package = \"{SDK_PACKAGE}\", version = {version:?} }}")
            }
            Self::Clone(dir) | Self::Path(dir) => format!(
                "{{ package = \"{SDK_PACKAGE}\", path = {:?} }}",
                dir.display().to_string()
            ),
        }
    }

    /// One line for the user: which SDK the new crate depends on.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Version(version) => format!("sdk: {SDK_PACKAGE} {version} from crates.io"),
            Self::Clone(dir) => format!(
                "sdk: {SDK_PACKAGE} at {}, the clone this runtime was built from \
                 (a runtime installed from crates.io depends on crates.io's)",
                dir.display()
            ),
            Self::Path(dir) => format!("sdk: {SDK_PACKAGE} at {} (--pdk-path)", dir.display()),
        }
    }
}

/// The SDK crate beside `runtime_dir`, the directory the runtime was
/// compiled in, if that is a clone of the PDK repository (the SDK's `pdk/`
/// beside it) still there. A runtime compiled from its crates.io package
/// has no such neighbour: the registry unpacks each crate into a directory
/// named after its version.
fn clone_sdk(runtime_dir: &Path) -> Option<PathBuf> {
    let sdk = runtime_dir.parent()?.join("pdk");
    let manifest: toml::Table = std::fs::read_to_string(sdk.join("Cargo.toml"))
        .ok()?
        .parse()
        .ok()?;
    let name = manifest.get("package")?.get("name")?.as_str()?;
    (name == SDK_PACKAGE).then_some(sdk)
}

/// Why the crate was not created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot name both a package and a connector type.
    #[error(
        "`{0}` is not a valid plugin name; use lowercase letters, digits, `-` and `_`, \
         starting with a letter (for example `my-source`)"
    )]
    InvalidName(String),
    /// Something is already there.
    #[error("{} already exists; choose another name or remove it", .0.display())]
    Exists(PathBuf),
    /// Writing failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Whether `name` can be a package name whose crate name (`-` as `_`) is
/// a Rust identifier and a connector type name.
fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The crate name and connector type of package `name`: `my-source` ->
/// `my_source`.
fn connector_name(name: &str) -> String {
    name.replace('-', "_")
}

/// `my_source` -> `MySource`.
fn type_name(name: &str) -> String {
    name.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// Creates the crate `name` in `parent` (as `parent/name`) and returns its
/// directory.
///
/// # Errors
/// A [`ScaffoldError`] for a bad name, an existing directory, or a write
/// that failed.
pub fn create(name: &str, parent: &Path, pdk: &PdkSource) -> Result<PathBuf, ScaffoldError> {
    if !is_valid_name(name) {
        return Err(ScaffoldError::InvalidName(name.to_owned()));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScaffoldError::Write { path, source }
    };
    let src = dir.join("src");
    std::fs::create_dir_all(&src).map_err(write_error(&src))?;
    let connector = connector_name(name);
    let (type_name, pdk) = (type_name(&connector), pdk.toml());
    for (file, template) in TEMPLATES {
        let text = template
            .replace("{{name}}", name)
            .replace("{{connector}}", &connector)
            .replace("{{type}}", &type_name)
            .replace("{{pdk}}", &pdk);
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(write_error(&path))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scaffolds_config_is_derived_as_the_tutorial_derives_its_own() {
        let derive =
            "#[derive(Debug, Deserialize)]\n#[serde(deny_unknown_fields)]\npub struct Config {";
        let scaffold = include_str!("../templates/plugin/lib.rs.in");
        let tutorial = include_str!("../../tutorial/src/lib.rs");
        assert!(scaffold.contains(derive), "{scaffold}");
        assert!(
            tutorial.contains(derive),
            "the book's tutorial changed its derive"
        );
        assert!(
            !scaffold.contains("serde(crate"),
            "the prelude's derive needs no `crate` (the configuration chapter)"
        );
    }

    #[test]
    fn names_that_are_packages_and_connector_types_are_accepted() {
        for good in ["greeter", "my_source", "my-source", "s3", "a_b-c"] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in ["", "Greeter", "3d", "_x", "-x", "caf\u{e9}", "a b"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        assert_eq!(connector_name("my-tcp-source"), "my_tcp_source");
    }

    #[test]
    fn the_type_is_the_name_in_camel_case() {
        assert_eq!(type_name("greeter"), "Greeter");
        assert_eq!(type_name("my_tcp_source"), "MyTcpSource");
        assert_eq!(type_name("s3_sink2"), "S3Sink2");
    }

    #[test]
    fn the_sdk_dependency_names_the_package_and_a_version_or_a_path() {
        assert_eq!(
            PdkSource::Version("0.3.0".into()).toml(),
            r#"{ package = "pdk-sdk", version = "0.3.0" }"#
        );
        assert_eq!(
            PdkSource::Path(PathBuf::from("/src/pdk")).toml(),
            r#"{ package = "pdk-sdk", path = "/src/pdk" }"#
        );
    }

    #[test]
    fn only_a_neighbouring_sdk_crate_makes_a_clone() {
        let root = tempfile::tempdir().unwrap();
        let runtime = root.path().join("runtime");
        std::fs::create_dir_all(&runtime).unwrap();
        // Unpacked from the registry: no `pdk/` beside the runtime.
        assert_eq!(clone_sdk(&runtime), None);
        // A `pdk/` of another project, or a manifest that does not parse.
        let sdk = root.path().join("pdk");
        std::fs::create_dir_all(&sdk).unwrap();
        std::fs::write(sdk.join("Cargo.toml"), "[package]\nname = \"pdk\"\n").unwrap();
        assert_eq!(clone_sdk(&runtime), None);
        std::fs::write(sdk.join("Cargo.toml"), "[package\n").unwrap();
        assert_eq!(clone_sdk(&runtime), None);
        // The SDK crate of a clone.
        std::fs::write(sdk.join("Cargo.toml"), "[package]\nname = \"pdk-sdk\"\n").unwrap();
        assert_eq!(clone_sdk(&runtime), Some(sdk));
    }

    #[test]
    fn a_runtime_built_in_a_clone_uses_the_clones_sdk() {
        let clone = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let sdk = clone.join("pdk");
        assert_eq!(PdkSource::this_runtimes(), PdkSource::Clone(sdk));
    }
}
