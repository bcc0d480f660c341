//! `pdk-runtime plugins list` on the real binary: discovery, checks,
//! shadowing, and the JSON format.

use std::path::Path;

use crate::common::{
    built_plugin, library_file, plugin_dir_with, runtime, runtime_exe, runtime_isolated,
    scratch_dir, stderr, stdout,
};
use serde_json::{json, Value};

fn list_json(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["plugins", "list", "--format", "json"];
    all.extend_from_slice(args);
    let output = runtime(&all);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    serde_json::from_str::<Value>(&stdout(&output))
        .expect("the listing is JSON")
        .as_array()
        .expect("the listing is an array")
        .clone()
}

fn entry<'a>(entries: &'a [Value], path: &Path) -> &'a Value {
    let path = path.to_str().unwrap();
    entries
        .iter()
        .find(|e| e["path"] == path)
        .unwrap_or_else(|| panic!("{path} is not listed in {entries:#?}"))
}

/// The path of the C library this test process runs with: a real shared
/// library that is not a plugin.
fn system_library() -> std::path::PathBuf {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| path.contains("/libc.so") || path.contains("/libc-"))
        .map(std::path::PathBuf::from)
        .expect("the test process maps libc")
}

#[test]
fn both_plugins_load_as_themselves_and_non_plugins_are_rejected_with_a_reason() {
    let dir = plugin_dir_with("list", &["metronome", "stdout"]);
    let garbage = dir.join(library_file("garbage"));
    std::fs::write(&garbage, b"this is not a shared library at all").unwrap();
    let libc_copy = dir.join(library_file("notaplugin"));
    std::fs::copy(system_library(), &libc_copy).unwrap();
    let entries = list_json(&["--isolated", "--plugin-path", dir.to_str().unwrap()]);
    assert_eq!(entries.len(), 4, "{entries:#?}");

    let rustc = entry(&entries, &dir.join(library_file("metronome")))["plugin"]["rustc_version"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(rustc.starts_with("rustc 1."), "{rustc}");
    let pdk_version = env!("CARGO_PKG_VERSION");
    for (name, source, sink) in [("metronome", true, false), ("stdout", false, true)] {
        let path = dir.join(library_file(name));
        assert_eq!(
            entry(&entries, &path),
            &json!({
                "status": "loaded",
                "path": path.to_str().unwrap(),
                "plugin": {
                    "name": name,
                    "version": "0.1.0",
                    "pdk_version": pdk_version,
                    "rustc_version": rustc,
                },
                "connectors": [{ "name": name, "source": source, "transactional": false, "sink": sink }],
            })
        );
    }
    assert_eq!(
        entry(&entries, &garbage),
        &json!({
            "status": "rejected",
            "path": garbage.to_str().unwrap(),
            "reason": "not a shared library (unknown file format); remove it from the plugin path",
        })
    );
    assert_eq!(
        entry(&entries, &libc_copy)["reason"],
        "not a PDK plugin: it exports no PDK root module; build it with `#[pdk_export]` or remove it from the plugin path"
    );
}

#[test]
fn the_first_plugin_in_search_order_wins_and_the_later_one_names_it() {
    let first = plugin_dir_with("shadow-first", &["metronome"]);
    let second = plugin_dir_with("shadow-second", &["metronome"]);
    let entries = list_json(&[
        "--isolated",
        "--plugin-path",
        first.to_str().unwrap(),
        "--plugin-path",
        second.to_str().unwrap(),
    ]);
    let winner = first.join(library_file("metronome"));
    let loser = second.join(library_file("metronome"));
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["path"], winner.to_str().unwrap());
    assert_eq!(entries[0]["status"], "loaded");
    assert_eq!(
        entries[1],
        json!({
            "status": "rejected",
            "path": loser.to_str().unwrap(),
            "reason": format!(
                "connector type `metronome` is already provided by {}, which comes first in the plugin path; remove one of the two files",
                winner.display()
            ),
        })
    );
}

#[test]
fn a_directory_given_twice_yields_each_file_once() {
    let dir = plugin_dir_with("twice", &["stdout"]);
    let d = dir.to_str().unwrap();
    let entries = list_json(&["--isolated", "--plugin-path", d, "--plugin-path", d]);
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0]["status"], "loaded");
}

#[test]
fn plugin_path_variable_is_searched_after_the_flags() {
    let flagged = plugin_dir_with("env-flag", &["stdout"]);
    let from_env = plugin_dir_with("env-var", &["metronome", "stdout"]);
    let output = std::process::Command::new(runtime_exe())
        .args([
            "plugins",
            "list",
            "--format",
            "json",
            "--plugin-path",
            flagged.to_str().unwrap(),
        ])
        .env(
            "PDK_PLUGIN_PATH",
            format!("/nonexistent:{}", from_env.display()),
        )
        .output()
        .unwrap();
    assert!(output.status.success());
    let entries: Vec<Value> = serde_json::from_str(&stdout(&output)).unwrap();
    let status_of = |path: &Path| entry(&entries, path)["status"].as_str().unwrap().to_owned();
    assert_eq!(status_of(&flagged.join(library_file("stdout"))), "loaded");
    assert_eq!(
        status_of(&from_env.join(library_file("metronome"))),
        "loaded"
    );
    assert_eq!(
        status_of(&from_env.join(library_file("stdout"))),
        "rejected"
    );
}

#[test]
fn the_executables_own_directory_is_searched_so_cargo_build_output_works() {
    let _ = built_plugin("metronome");
    let output = runtime(&["plugins", "list", "--format", "json"]);
    assert!(output.status.success());
    let entries: Vec<Value> = serde_json::from_str(&stdout(&output)).unwrap();
    let exe_dir = runtime_exe().parent().unwrap().to_path_buf();
    for plugin in ["metronome", "stdout"] {
        assert_eq!(
            entry(&entries, &exe_dir.join(library_file(plugin)))["status"],
            "loaded"
        );
    }
}

#[test]
fn text_listing_shows_metadata_and_reasons() {
    let dir = plugin_dir_with("text", &["metronome"]);
    std::fs::write(dir.join(library_file("empty")), b"").unwrap();
    let output = runtime_isolated(&["plugins", "list"], &dir);
    let text = stdout(&output);
    assert!(text.contains("loaded    "), "{text}");
    assert!(
        text.contains("metronome 0.1.0 (pdk 0.1.0, rustc 1."),
        "{text}"
    );
    assert!(text.contains("connector `metronome` [source]"), "{text}");
    assert!(text.contains("rejected  "), "{text}");
    assert!(text.contains("not a shared library"), "{text}");
}

#[test]
fn an_empty_search_path_says_so() {
    let dir = scratch_dir("empty-path");
    let output = runtime_isolated(&["plugins", "list"], &dir);
    assert_eq!(
        stdout(&output),
        "no plugin files found in the plugin path\n"
    );
}
