//! `cargo xtask demo`: builds the runtime and the bundled plugins, then runs
//! the demo flow (metronome -> stdout) through the real plugins.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The demo flow, relative to the workspace root.
const DEMO_FLOW: &str = "examples/metronome-to-stdout.toml";

/// The packages the demo needs built: the runtime and every bundled plugin.
const DEMO_PACKAGES: &[&str] = &["pdk-runtime", "metronome", "stdout"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["demo"] => demo(),
        _ => {
            eprintln!("usage: cargo xtask demo");
            ExitCode::from(2)
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Builds what the demo needs, then runs `pdk-runtime run` on the demo
/// flow. The runtime finds the plugins next to its own executable.
fn demo() -> ExitCode {
    let mut build = cargo();
    build.arg("build");
    for package in DEMO_PACKAGES {
        build.args(["--package", package]);
    }
    if !run(&mut build) {
        return ExitCode::FAILURE;
    }
    let mut run_flow = cargo();
    run_flow.args([
        "run",
        "--quiet",
        "--package",
        "pdk-runtime",
        "--",
        "run",
        DEMO_FLOW,
    ]);
    if run(&mut run_flow) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run(command: &mut Command) -> bool {
    match command.status() {
        Ok(status) => status.success(),
        Err(error) => {
            eprintln!("xtask: cannot run {command:?}: {error}");
            false
        }
    }
}
