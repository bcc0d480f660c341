//! Live reload on the real binary: `run --watch` refuses a replaced plugin
//! file that fails the checks, keeping the running build, and restarts
//! the connectors of a good new build without stopping the rest of the
//! flow.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bad_files::broken_fixture;
use crate::common::{
    library_file, plugin_dir_with, runtime_exe, terminate, wait_at_most, workspace, write_flow,
};

/// Builds `reloadable` (with `features`) and copies the library to `to`.
fn reloadable_build(features: &[&str], to: &Path) {
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "-p", "reloadable"])
        .current_dir(workspace());
    for feature in features {
        build.args(["--features", feature]);
    }
    assert!(build.status().unwrap().success());
    let built = runtime_exe()
        .parent()
        .unwrap()
        .join(library_file("reloadable"));
    std::fs::copy(built, to).unwrap();
}

/// Puts `new` in place of `file` the way `cargo build` does: a new file
/// renamed over the old, never a rewrite of the library in use.
fn replace(file: &Path, new: &Path) {
    let staged = file.with_extension("staged");
    std::fs::copy(new, &staged).unwrap();
    std::fs::rename(&staged, file).unwrap();
}

/// Waits for a line of `lines` satisfying `wanted`, and returns it.
fn next_line_where(lines: &Receiver<String>, mut wanted: impl FnMut(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).expect("the awaited line comes");
        if wanted(&line) {
            return line;
        }
    }
}

/// Waits until the text collected in `err` contains `wanted`.
fn wait_for_text(err: &Mutex<String>, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !err.lock().unwrap().contains(wanted) {
        assert!(
            Instant::now() < deadline,
            "`{wanted}` never logged; stderr: {}",
            err.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The number in `"key":N` of a JSON line.
fn field(line: &str, key: &str) -> u64 {
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    value[key].as_u64().unwrap()
}

#[test]
fn a_replaced_plugin_is_reloaded_and_a_bad_build_refused_while_the_flow_runs() {
    let dir = plugin_dir_with("reload", &["metronome", "stdout"]);
    let (first, second, bad) = (dir.join("first"), dir.join("second"), dir.join("bad"));
    reloadable_build(&[], &first);
    reloadable_build(&["second-build"], &second);
    broken_fixture("other-version", &bad);
    let plugin = dir.join(library_file("reloadable"));
    std::fs::copy(&first, &plugin).unwrap();
    let flow = write_flow(
        &dir,
        "flow.toml",
        r#"
[[connector]]
id = "info"
type = "build_info"
config = { interval_ms = 10 }

[[connector]]
id = "tick"
type = "metronome"
config = { interval_ms = 10 }

[[connector]]
id = "out"
type = "stdout"

[[link]]
from = "info"
to = "out"

[[link]]
from = "tick"
to = "out"
"#,
    );
    let mut child = Command::new(runtime_exe())
        .args(["run", "--watch", "--isolated", "--plugin-path"])
        .args([&dir, &flow])
        .env_remove("PDK_PLUGIN_PATH")
        .env("PDK_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let err = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().unwrap();
    let collected = Arc::clone(&err);
    std::thread::spawn(move || {
        let mut buffer = [0; 4096];
        while let Ok(n @ 1..) = stderr.read(&mut buffer) {
            collected
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    });
    let is_build =
        |b: u64| move |line: &str| line.contains("\"build\"") && field(line, "build") == b;

    next_line_where(&lines, is_build(1));
    replace(&plugin, &bad);
    wait_for_text(
        &err,
        &format!(
            "libreloadable.so: new build refused, the running one is kept: \
             built for PDK interface 9.4.0, this runtime needs {}",
            pdk::abi::INTERFACE_VERSION
        ),
    );
    // The first build runs on after the refusal.
    let before = field(&next_line_where(&lines, is_build(1)), "seq");
    next_line_where(&lines, |line| {
        is_build(1)(line) && field(line, "seq") > before
    });

    replace(&plugin, &second);
    let mut ticks = Vec::new();
    let first_of_second = next_line_where(&lines, |line| {
        if line.contains("\"tick\"") {
            ticks.push(field(line, "tick"));
        }
        is_build(2)(line)
    });
    assert_eq!(field(&first_of_second, "seq"), 0, "a new instance starts");
    // The metronome was not restarted: its ticks went on counting.
    let later_tick = field(&next_line_where(&lines, |l| l.contains("\"tick\"")), "tick");
    assert!(
        ticks.len() > 1 && later_tick > *ticks.last().unwrap(),
        "ticks: {ticks:?}"
    );
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "ticks: {ticks:?}"
    );

    terminate(&child);
    let output = wait_at_most(child, Duration::from_secs(30));
    assert!(output.status.success());
    let err = err.lock().unwrap();
    let order = [
        "INFO  reloadable/info] build 1 starting",
        "new build refused",
        "libreloadable.so: new build reloadable 0.3.0 loaded; restarting info",
        "INFO  reloadable/info] build 1 stopping after",
        "INFO  reloadable/info] build 2 starting",
        "connector `info`: restarted on the new build",
        "INFO  reloadable/info] build 2 stopping after",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|text| {
            err.find(text)
                .unwrap_or_else(|| panic!("`{text}` not in {err}"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "stderr: {err}");
}
