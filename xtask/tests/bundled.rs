//! The bundled connectors are the crates in `connectors/`; every other
//! place that names them must name the same ones: the workspace members,
//! the runtime's optional dependencies and its `builtin-connectors`
//! feature, the entries of `runtime/src/builtin.rs`, `BUNDLED` in the CLI
//! tests, and an example flow each. Adding a connector and forgetting one
//! of them fails here, naming the place.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn toml_of(path: &str) -> toml::Table {
    read(path).parse().unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The directories of `connectors/`: the one list.
fn connector_crates() -> BTreeSet<String> {
    std::fs::read_dir(workspace().join("connectors"))
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The quoted names in the Rust array that follows `start` in `text`.
fn quoted_after(text: &str, start: &str) -> BTreeSet<String> {
    let from = text.find(start).unwrap_or_else(|| panic!("no `{start}`"));
    let list = &text[from..];
    let list = &list[..list.find("];").unwrap()];
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn assert_same(place: &str, found: &BTreeSet<String>) {
    let expected = connector_crates();
    assert!(
        *found == expected,
        "{place} names {found:?}, but connectors/ holds {expected:?}: make them agree \
         (see the book's chapter Contributing, \"Adding a bundled connector\")"
    );
}

#[test]
fn the_workspace_members_are_the_connector_crates() {
    let manifest = toml_of("Cargo.toml");
    let members = manifest["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|member| member.as_str()?.strip_prefix("connectors/"))
        .map(str::to_owned)
        .collect();
    assert_same("the workspace's members", &members);
}

#[test]
fn the_runtime_depends_on_each_and_builds_each_in() {
    let manifest = toml_of("runtime/Cargo.toml");
    let optional: BTreeSet<String> = manifest["dependencies"]
        .as_table()
        .unwrap()
        .iter()
        .filter(|(_, dependency)| {
            dependency
                .get("path")
                .and_then(toml::Value::as_str)
                .is_some_and(|path| path.starts_with("../connectors/"))
        })
        .map(|(name, dependency)| {
            assert_eq!(
                dependency.get("optional").and_then(toml::Value::as_bool),
                Some(true),
                "runtime/Cargo.toml: the bundled connector `{name}` must be optional"
            );
            let path = dependency["path"].as_str().unwrap();
            assert_eq!(
                path.strip_prefix("../connectors/"),
                Some(name.as_str()),
                "runtime/Cargo.toml: the dependency `{name}` must be named after its directory"
            );
            name.clone()
        })
        .collect();
    assert_same("runtime/Cargo.toml's connector dependencies", &optional);
    let feature = manifest["features"]["builtin-connectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|dep| dep.as_str()?.strip_prefix("dep:"))
        .map(str::to_owned)
        .collect();
    assert_same("the runtime's `builtin-connectors` feature", &feature);
}

#[test]
fn the_built_in_entries_are_the_connector_crates() {
    let source = read("runtime/src/builtin.rs");
    let entries = source
        .split("LinkedEntry::of::<")
        .skip(1)
        .map(|rest| rest[..rest.find("::").unwrap()].to_owned())
        .collect();
    assert_same("runtime/src/builtin.rs", &entries);
}

#[test]
fn the_cli_tests_build_every_connector_crate() {
    let bundled = quoted_after(&read("runtime/tests/cli/common.rs"), "pub const BUNDLED");
    assert_same("`BUNDLED` in runtime/tests/cli/common.rs", &bundled);
}

#[test]
fn every_connector_is_in_the_reference_and_a_package_of_its_name() {
    let reference = read("book/src/connectors.md");
    for name in connector_crates() {
        let manifest = toml_of(&format!("connectors/{name}/Cargo.toml"));
        let package = manifest["package"]["name"].as_str().unwrap();
        assert_eq!(
            package,
            format!("pdk-{}", name.replace('_', "-")),
            "connectors/{name}: the package must be `pdk-` and its directory's name"
        );
        assert!(
            reference.contains(&format!("`{name}`")),
            "book/src/connectors.md does not describe the bundled connector `{name}`"
        );
    }
}
