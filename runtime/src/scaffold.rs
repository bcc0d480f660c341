//! `pdk-runtime new NAME`: a new plugin crate that builds and loads as it
//! is: a `Cargo.toml` for a `cdylib` depending on `pdk`, a source connector
//! named NAME, a flow file running it into `stdout`, and a `.gitignore`.

use std::path::{Path, PathBuf};

/// The templates, with `{{name}}`, `{{type}}` and `{{pdk}}` to fill in.
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

/// Where the new crate's `pdk` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PdkSource {
    /// A checkout of the `pdk` crate (its directory).
    Path(PathBuf),
    /// The registry, at this version requirement.
    Version(String),
}

impl PdkSource {
    /// The `pdk` crate of the source tree this runtime was built from, if
    /// it is still there; otherwise the registry at this runtime's version.
    #[must_use]
    pub fn default_for_this_runtime() -> Self {
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pdk");
        if checkout.join("Cargo.toml").is_file() {
            Self::Path(checkout.canonicalize().unwrap_or(checkout))
        } else {
            Self::Version(pdk::abi::INTERFACE_VERSION.to_owned())
        }
    }

    /// The dependency's value in `Cargo.toml`.
    fn toml(&self) -> String {
        match self {
            Self::Path(dir) => format!("{{ path = {:?} }}", dir.display().to_string()),
            Self::Version(version) => format!("{version:?}"),
        }
    }
}

/// Why the crate was not created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot name both a crate and a connector type.
    #[error(
        "`{0}` is not a valid plugin name; use lowercase letters, digits and `_`, \
         starting with a letter (for example `my_source`)"
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

/// Whether `name` can be a crate name, a Rust identifier and a connector
/// type name all at once.
fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
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
    let (type_name, pdk) = (type_name(name), pdk.toml());
    for (file, template) in TEMPLATES {
        let text = template
            .replace("{{name}}", name)
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
    fn names_that_are_crates_identifiers_and_connector_types_are_accepted() {
        for good in ["greeter", "my_source", "s3", "a_b_c"] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in ["", "Greeter", "my-source", "3d", "_x", "caf\u{e9}", "a b"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_type_is_the_name_in_camel_case() {
        assert_eq!(type_name("greeter"), "Greeter");
        assert_eq!(type_name("my_tcp_source"), "MyTcpSource");
        assert_eq!(type_name("s3_sink2"), "S3Sink2");
    }

    #[test]
    fn the_pdk_dependency_is_a_path_or_a_version() {
        assert_eq!(
            PdkSource::Path(PathBuf::from("/src/pdk")).toml(),
            r#"{ path = "/src/pdk" }"#
        );
        assert_eq!(PdkSource::Version("0.1.0".into()).toml(), r#""0.1.0""#);
    }
}
