//! The import graph of `pdk`'s modules has no cycle, and the C-ABI layer
//! (the crate `pdk-abi`) depends on nothing of the SDK: a crate boundary,
//! which the compiler enforces, checked here in its manifest.
//!
//! The graph is read from the sources: every `crate::...` and `super::...`
//! path outside comments and unit tests (use trees included), resolved to
//! the module that defines it (an item the crate root re-exports counts
//! for the module it comes from). Its nodes are the top-level modules,
//! and the submodules of `abi`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module name (`abi::value`, `export`, `crate` for `lib.rs`) -> source.
fn modules(root: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "rs"))
        .map(|entry| {
            let relative = entry.path().strip_prefix(root).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let name = if parts.is_empty() {
                String::from("crate")
            } else {
                parts.join("::")
            };
            (
                name,
                code_of(&std::fs::read_to_string(entry.path()).unwrap()),
            )
        })
        .collect()
}

/// The source without its unit tests (a trailing `#[cfg(test)] mod tests`)
/// and without comments.
fn code_of(source: &str) -> String {
    let source = source
        .find("#[cfg(test)]\nmod tests")
        .map_or(source, |at| &source[..at]);
    source
        .lines()
        .map(|line| line.find("//").map_or(line, |at| &line[..at]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path that starts with `crate::` or `super::`, as its segments;
/// a use tree `crate::{a, b::c}` gives `crate::a` and `crate::b::c`.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while at < code.len() {
        let rest = &code[at..];
        let starts = (rest.starts_with("crate::") || rest.starts_with("super::"))
            && (at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_'));
        if !starts {
            at += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let head: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let mut base: Vec<String> = head
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let after = &rest[head.len()..];
        if head.ends_with("::") && after.starts_with('{') {
            let end = after.find('}').unwrap_or(after.len());
            for item in after[1..end].split(',') {
                let item: String = item.chars().filter(|c| !c.is_whitespace()).collect();
                let item = item.trim_start_matches('{');
                if item.is_empty() || item == "self" {
                    continue;
                }
                let mut path = base.clone();
                path.extend(item.split("::").map(str::to_owned));
                found.push(path);
            }
            at += head.len() + end;
        } else {
            found.push(std::mem::take(&mut base));
            at += head.len();
        }
    }
    found
}

/// The names `lib.rs` re-exports (`pub use module::{A, B}`), with the
/// module that defines them.
fn reexports(lib: &str, modules: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for statement in lib.split(';') {
        let Some(used) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = used.split_once("::") else {
            continue;
        };
        if !modules.contains_key(module) {
            continue;
        }
        for item in items.split([',', '{', '}']) {
            let name = item.trim().rsplit("::").next().unwrap_or("").trim();
            if !name.is_empty() {
                map.entry(name.to_owned())
                    .or_insert_with(|| module.to_owned());
            }
        }
    }
    map
}

/// The module a path from module `from` resolves to.
fn resolve(
    from: &str,
    path: &[String],
    modules: &BTreeMap<String, String>,
    reexported: &BTreeMap<String, String>,
) -> String {
    let mut base: Vec<&str> = Vec::new();
    let mut rest = path;
    if rest.first().map(String::as_str) == Some("super") {
        base = from.split("::").collect();
        while rest.first().map(String::as_str) == Some("super") {
            base.pop();
            rest = &rest[1..];
        }
    } else {
        rest = &rest[1..];
    }
    for take in (1..=rest.len()).rev() {
        let mut candidate = base.clone();
        candidate.extend(rest[..take].iter().map(String::as_str));
        let candidate = candidate.join("::");
        if modules.contains_key(&candidate) {
            return candidate;
        }
    }
    if base.is_empty() {
        if let Some(module) = rest.first().and_then(|name| reexported.get(name)) {
            return module.clone();
        }
    }
    if base.is_empty() {
        String::from("crate")
    } else {
        base.join("::")
    }
}

/// The node of the graph a module belongs to.
fn node(module: &str) -> String {
    let parts: Vec<&str> = module.split("::").collect();
    let keep = if parts[0] == "abi" { 2 } else { 1 };
    parts[..keep.min(parts.len())].join("::")
}

/// The import graph of the crate at `root`, between nodes.
fn graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules(root);
    let reexported = reexports(&modules["crate"], &modules);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, code) in &modules {
        for path in paths(code) {
            let target = resolve(name, &path, &modules, &reexported);
            let (from, to) = (node(name), node(&target));
            if from != to && from != "crate" && to != "crate" {
                graph.entry(from).or_default().insert(to);
            }
        }
    }
    graph
}

/// A cycle of `graph`, if it has one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

fn pdk_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pdk/src")
}

#[test]
fn pdk_modules_import_each_other_without_cycles() {
    let graph = graph(&pdk_src());
    assert!(
        graph.contains_key("export"),
        "the graph was read: {graph:#?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}\ngraph: {graph:#?}", cycle.join(" -> "));
    }
}

#[test]
fn the_c_abi_crate_depends_on_nothing_of_the_sdk() {
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../pdk-abi/Cargo.toml"),
    )
    .unwrap();
    let manifest: toml::Table = manifest.parse().unwrap();
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        let names: Vec<&String> = manifest
            .get(section)
            .and_then(toml::Value::as_table)
            .map(|table| table.keys().collect())
            .unwrap_or_default();
        assert!(
            names.iter().all(|name| !name.starts_with("pdk")),
            "pdk-abi's {section} name a crate of the SDK: {names:?}"
        );
    }
}

#[test]
fn the_checker_finds_a_cycle_where_there_is_one() {
    let dir = std::env::temp_dir().join(format!("pdk-module-graph-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("abi")).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\npub use b::Thing;\n").unwrap();
    std::fs::write(
        dir.join("a.rs"),
        "use crate::Thing; // b, through the root\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b.rs"),
        "use crate::a::{self, X};\npub struct Thing;\n",
    )
    .unwrap();
    std::fs::write(dir.join("abi/mod.rs"), "pub mod c;\n").unwrap();
    std::fs::write(dir.join("abi/c.rs"), "use super::super::a::X;\n").unwrap();
    let graph = graph(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(graph["abi::c"], BTreeSet::from([String::from("a")]));
    let cycle = find_cycle(&graph).expect("a -> b -> a");
    assert!(cycle.contains(&String::from("a")) && cycle.contains(&String::from("b")));
}
