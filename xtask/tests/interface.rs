//! The plugin interface changes only with its version: `pdk-abi/src` is,
//! but for comments, exactly the `pdk-abi` packaged into
//! `compat/interface-VERSION/` for its version. A change to what crosses
//! the boundary therefore needs a new interface version (and its package
//! in `compat/`), and a change to the SDK alone never changes the
//! interface version (the SDK is another crate, with a version of its
//! own). See the book's chapter Contributing.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A source file without its comments and blank lines: what the
/// interface is made of.
fn code_of(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `pdk-abi/src/**` as the workspace has it, by path below `src/`.
fn current_sources() -> BTreeMap<String, String> {
    let src = workspace().join("pdk-abi/src");
    walkdir::WalkDir::new(&src)
        .into_iter()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| {
            let name = entry
                .path()
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (
                name,
                code_of(&std::fs::read_to_string(entry.path()).unwrap()),
            )
        })
        .collect()
}

/// The sources of the packaged `pdk-abi-VERSION.crate`, by path below
/// `src/`.
fn packaged_sources(version: &str, package: &Path) -> BTreeMap<String, String> {
    let prefix = format!("pdk-abi-{version}/src/");
    let mut archive = tar::Archive::new(GzDecoder::new(File::open(package).unwrap()));
    archive
        .entries()
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter_map(|mut entry| {
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let name = path.strip_prefix(&prefix)?.to_owned();
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            Some((name, code_of(&text)))
        })
        .collect()
}

#[test]
fn the_c_abi_is_the_packaged_one_of_its_interface_version() {
    let manifest = std::fs::read_to_string(workspace().join("pdk-abi/Cargo.toml")).unwrap();
    let manifest: toml::Table = manifest.parse().unwrap();
    let version = manifest["package"]["version"].as_str().unwrap().to_owned();
    let package = workspace()
        .join("compat")
        .join(format!("interface-{version}"))
        .join(format!("pdk-abi-{version}.crate"));
    assert!(
        package.exists(),
        "interface {version} has no package in compat/: run `cargo package -p pdk-abi -p \
         pdk-sdk-macros -p pdk-sdk --no-verify` and copy the crates into {}",
        package.parent().unwrap().display()
    );
    let packaged = packaged_sources(&version, &package);
    let current = current_sources();
    let changed: std::collections::BTreeSet<&String> = current
        .keys()
        .chain(packaged.keys())
        .filter(|name| current.get(*name) != packaged.get(*name))
        .collect();
    assert!(
        changed.is_empty(),
        "pdk-abi changed what crosses the boundary in {changed:?}, but its version is still \
         {version}: give it a new interface version (a compatible change, such as a new \
         prefix field or a new code, is a new patch version) and package it into compat/"
    );
}
