//! `pdk-runtime plugins list` on the real binary: discovery, checks,
//! shadowing, and the JSON format.

use std::path::Path;

use crate::bad_files::broken_fixture;
use crate::common::{
    built_plugin, built_plugins_dir, library_file, package, plugin_dir_with, run_flow, runtime,
    runtime_exe, runtime_isolated, scratch_dir, stderr, stdout, tick, ticks_into, write_flow,
};
use serde_json::{json, Value};

/// Every entry of `plugins list --format json ARGS`.
fn list_all_json(args: &[&str]) -> Vec<Value> {
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

/// The entries of the candidate files, without the built-in connectors.
fn list_json(args: &[&str]) -> Vec<Value> {
    list_all_json(args)
        .into_iter()
        .filter(|entry| entry["status"] != "built-in")
        .collect()
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
                    "name": package(name),
                    "version": env!("CARGO_PKG_VERSION"),
                    "pdk_version": pdk_version,
                    "interface_version": pdk::abi::INTERFACE_VERSION,
                    "rustc_version": rustc,
                    "debug_assertions": true,
                },
                "connectors": [{ "name": name, "source": source, "transactional": false, "sink": sink, "uses_tokio": false }],
                "isolated": false,
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
    let second = plugin_dir_with("shadow-second", &["metronome", "stdout"]);
    let impostor = first.join(library_file("impostor"));
    broken_fixture("impostor", &impostor);
    let entries = list_json(&[
        "--isolated",
        "--plugin-path",
        first.to_str().unwrap(),
        "--plugin-path",
        second.to_str().unwrap(),
    ]);
    let winner = first.join(library_file("metronome"));
    let same = second.join(library_file("metronome"));
    let loser = second.join(library_file("stdout"));
    assert_eq!(entries.len(), 4, "{entries:#?}");
    assert_eq!(entry(&entries, &winner)["status"], "loaded");
    assert_eq!(entry(&entries, &impostor)["status"], "loaded");
    // The same plugin (name and version) twice: both files, both builds.
    let reason = entry(&entries, &same)["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    let start = format!(
        "the same plugin (pdk-metronome 0.3.0) as {}, which comes first in the plugin path \
         and is used; this file is a debug build modified ",
        winner.display()
    );
    assert!(reason.starts_with(&start), "{reason}");
    assert!(
        reason.contains(", that one a debug build modified ")
            && reason.ends_with(
                "; remove the one you do not want, or put its directory later in the plugin path"
            ),
        "{reason}"
    );
    // Another plugin providing a type already provided.
    assert_eq!(
        entry(&entries, &loser),
        &json!({
            "status": "rejected",
            "path": loser.to_str().unwrap(),
            "reason": format!(
                "connector type `stdout` is already provided by {}, which comes first in the \
                 plugin path; remove one of the two files",
                impostor.display()
            ),
        })
    );
}

#[test]
fn a_plugin_that_provides_a_built_in_type_replaces_it_and_the_listing_says_so() {
    let dir = plugin_dir_with("replace-builtin", &["stdout"]);
    let plugin = dir.join(library_file("stdout"));
    let entries = list_all_json(&["--isolated", "--plugin-path", dir.to_str().unwrap()]);
    let builtin = |name: &str| {
        entries
            .iter()
            .find(|e| e["status"] == "built-in" && e["connectors"][0]["name"] == name)
            .unwrap_or_else(|| panic!("no built-in {name} in {entries:#?}"))
    };
    assert_eq!(
        builtin("stdout"),
        &json!({
            "status": "built-in",
            "path": "(built in)",
            "plugin": { "name": "pdk-stdout", "version": "0.3.0" },
            "connectors": [{ "name": "stdout", "source": false, "transactional": false, "sink": true, "uses_tokio": false }],
            "replaced_by": plugin.to_str().unwrap(),
        })
    );
    assert_eq!(builtin("metronome")["replaced_by"], Value::Null);
    let text = stdout(&runtime_isolated(&["plugins", "list"], &dir));
    assert!(
        text.contains(&format!(
            "built in  connector `stdout` [sink] (pdk-stdout 0.3.0): replaced by the plugin {}\n",
            plugin.display()
        )),
        "{text}"
    );
    assert!(
        text.contains("built in  connector `metronome` [source] (pdk-metronome 0.3.0): used\n"),
        "{text}"
    );
}

#[test]
fn a_flow_runs_plugins_beside_built_ins_and_its_log_says_which_is_which() {
    let dir = plugin_dir_with("mixed-origins", &["stdout"]);
    let flow = write_flow(&dir, "flow.toml", &ticks_into(1, 2, "stdout", "{}"));
    let output = run_flow(&flow, &dir);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert_eq!(stdout(&output), format!("{}\n{}\n", tick(0), tick(1)));
    let log = stderr(&output);
    assert!(
        log.contains("connector `tick`: type `metronome` from the built-in pdk-metronome 0.3.0\n"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "connector `out`: type `stdout` from the plugin {} (pdk-stdout 0.3.0)\n",
            dir.join(library_file("stdout")).display()
        )),
        "{log}"
    );
}

#[test]
fn a_plugin_path_that_does_not_exist_is_an_error() {
    let output = runtime(&["plugins", "list", "--plugin-path", "/nonexistent/plugins"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: --plugin-path /nonexistent/plugins: does not exist; give a directory that holds plugin files\n"
    );
}

#[test]
fn cargos_build_intermediates_are_not_listed() {
    let target = built_plugins_dir();
    let entries = list_json(&["--isolated", "--plugin-path", target.to_str().unwrap()]);
    let noise: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["path"].as_str())
        .filter(|path| path.contains("/deps/") || path.contains("/build/"))
        .collect();
    assert!(noise.is_empty(), "{noise:#?}");
    assert_eq!(
        entry(&entries, &target.join(library_file("metronome")))["status"],
        "loaded"
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
        text.contains(&format!(
            "pdk-metronome 0.3.0 (debug build; pdk 0.3.0, interface {}, rustc 1.",
            pdk::abi::INTERFACE_VERSION
        )),
        "{text}"
    );
    assert!(text.contains("connector `metronome` [source]"), "{text}");
    assert!(text.contains("rejected  "), "{text}");
    assert!(text.contains("not a shared library"), "{text}");
}

#[test]
fn an_empty_search_path_says_so_and_names_the_directories_searched() {
    let dir = scratch_dir("empty-path");
    let output = runtime_isolated(&["plugins", "list"], &dir);
    let text = stdout(&output);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(format!("no plugin files found in {}", dir.display()).as_str())
    );
    assert!(
        lines.all(|line| line.starts_with("built in  connector `")),
        "then the built-in connectors: {text}"
    );
}

#[test]
fn a_plugin_file_whose_name_has_a_newline_is_listed_on_one_line() {
    let dir = plugin_dir_with("newline-file", &[]);
    let evil = dir.join("libtwo\nlines.so");
    std::fs::copy(built_plugin("metronome"), &evil).unwrap();
    std::fs::write(dir.join("libbad\rname.so"), b"").unwrap();
    let output = runtime_isolated(&["plugins", "list"], &dir);
    let text = stdout(&output);
    assert!(
        text.contains(&format!("loaded    {}/libtwo\\nlines.so\n", dir.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("rejected  {}/libbad\\rname.so\n", dir.display())),
        "{text}"
    );
    assert!(
        text.lines()
            .all(|line| line.starts_with(['l', 'r', 'b', ' '])),
        "every line is a heading or an indented detail: {text}"
    );
}

#[test]
fn copies_of_a_plugin_are_vetted_once_and_a_kept_verdict_spares_the_next_run() {
    let dir = scratch_dir("vetting-copies");
    let cache = scratch_dir("vetting-cache");
    for n in 0..50 {
        std::fs::copy(
            built_plugin("metronome"),
            dir.join(format!("libcopy{n:02}.so")),
        )
        .unwrap();
    }
    // A copy of the runtime in a directory of its own: the directory of
    // its executable, which it searches too, holds no plugin.
    let alone = scratch_dir("vetting-runtime");
    let exe = alone.join("pdk-runtime");
    std::fs::copy(runtime_exe(), &exe).unwrap();
    let list = || {
        std::process::Command::new(&exe)
            .args(["plugins", "list", "--plugin-path", dir.to_str().unwrap()])
            .env_remove("PDK_PLUGIN_PATH")
            .env("PDK_LOG", "debug")
            .env("PDK_VETTING_CACHE", &cache)
            .output()
            .unwrap()
    };
    let vetted = |output: &std::process::Output| -> Vec<String> {
        stderr(output)
            .lines()
            .filter(|line| line.contains("in a child process"))
            .map(str::to_owned)
            .collect()
    };

    // Fifty copies of one file: one child.
    let first = list();
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(vetted(&first).len(), 1, "{}", stderr(&first));
    let listing = stdout(&first);
    assert_eq!(listing.matches("loaded    ").count(), 1, "{listing}");
    let same = format!(
        "the same plugin (pdk-metronome 0.3.0) as {}/libcopy00.so",
        dir.display()
    );
    assert_eq!(listing.matches(&same).count(), 49, "{listing}");

    // The next run: the verdict was kept, no child at all, the same listing.
    let second = list();
    assert!(vetted(&second).is_empty(), "{}", stderr(&second));
    assert_eq!(stdout(&second), listing);

    // A new file: only it is vetted.
    std::fs::copy(built_plugin("stdout"), dir.join(library_file("stdout"))).unwrap();
    let third = list();
    let children = vetted(&third);
    assert_eq!(children.len(), 1, "{}", stderr(&third));
    assert!(
        children[0].contains(&library_file("stdout")),
        "{children:?}"
    );
}
