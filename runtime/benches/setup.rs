//! What the benchmarks share: the runtime this bench run built, plugin
//! files built in release mode in a target directory of their own, how
//! much each run measures (with the quick mode CI runs), medians, and
//! counting instructions with callgrind.
//!
//! The plugins get a target directory of their own because a `cargo
//! build -p ...` inside `cargo bench` resolves features without the
//! runtime's dev-dependencies: in the shared `target/` the two builds
//! would undo each other's artifacts and every bench run would rebuild
//! half the workspace.

// Each benchmark includes this module and uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The runtime's executable: the one `cargo bench` built for this run,
/// or the one `PDK_BENCH_RUNTIME` names (an earlier build, to compare).
pub fn runtime() -> PathBuf {
    std::env::var_os("PDK_BENCH_RUNTIME").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_pdk-runtime")),
        PathBuf::from,
    )
}

/// The file name of plugin library `name` on this platform.
pub fn library_file(name: &str) -> String {
    format!(
        "{}{name}.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    )
}

/// Builds the plugin libraries `names` (of the packages `pdk-NAME`, `_`
/// as `-`, or of `NAME` itself for a test plugin) in release mode and
/// copies them into `into`.
pub fn release_plugins(names: &[&str], into: &Path) {
    let target = workspace().join("target/bench-plugins");
    let mut command = Command::new(env!("CARGO"));
    command
        .args(["build", "--release", "--target-dir"])
        .arg(&target);
    for name in names {
        let package = if workspace().join("connectors").join(name).is_dir() {
            format!("pdk-{}", name.replace('_', "-"))
        } else {
            (*name).to_owned()
        };
        command.args(["-p", &package]);
    }
    let status = command
        .current_dir(workspace())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build of {names:?} failed");
    std::fs::create_dir_all(into).expect("the plugin directory");
    for name in names {
        let file = library_file(name);
        std::fs::copy(target.join("release").join(&file), into.join(&file))
            .expect("the built plugin is copied");
    }
}

/// How much a benchmark measures: `events` per run, `runs` rounds. With
/// `PDK_BENCH_QUICK` set (what CI runs), one short round that checks the
/// benchmark still works; otherwise `PDK_BENCH_EVENTS` and
/// `PDK_BENCH_RUNS`, or the benchmark's defaults.
pub struct Scale {
    /// Events (or requests, or lines) per run.
    pub events: u64,
    /// Rounds.
    pub runs: u64,
    /// Whether this is the quick mode.
    pub quick: bool,
}

impl Scale {
    /// The scale from the environment, with these defaults.
    pub fn from_env(events: u64, runs: u64) -> Self {
        if quick() {
            return Self {
                events: (events / 50).max(1_000),
                runs: 1,
                quick: true,
            };
        }
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Self {
            events: number("PDK_BENCH_EVENTS", events),
            runs: number("PDK_BENCH_RUNS", runs),
            quick: false,
        }
    }
}

/// Whether `PDK_BENCH_QUICK` asks for the quick mode.
pub fn quick() -> bool {
    std::env::var_os("PDK_BENCH_QUICK").is_some()
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Whether valgrind can be run.
pub fn has_valgrind() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// `program` under callgrind, counting every thread's instructions.
pub fn callgrind(program: &Path) -> Command {
    let mut command = Command::new("valgrind");
    command
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(program);
    command
}

/// Runs `command` (made by [`callgrind`]) and returns the instructions
/// callgrind says it collected.
pub fn collected(command: &mut Command) -> u64 {
    collected_by(&command.output().expect("valgrind runs"))
}

/// The instructions callgrind says it collected, from the `output` of a
/// program it ran (made by [`callgrind`]) that exited normally.
pub fn collected_by(output: &Output) -> u64 {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    stderr
        .lines()
        .find_map(|line| line.split("Collected : ").nth(1))
        .and_then(|count| count.trim().parse().ok())
        .expect("callgrind prints the instructions it collected")
}
