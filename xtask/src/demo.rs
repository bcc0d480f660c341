//! `cargo xtask demo`: builds the runtime and the `metronome` and `stdout`
//! plugins, then runs the demo flow. The runtime finds the plugin files
//! next to its own executable; they replace its built-in connectors of the
//! same types, and its log says where each connector comes from.

use crate::workspace::{self, cargo};

/// The demo flow, relative to the workspace root.
const DEMO_FLOW: &str = "examples/metronome-to-stdout.toml";

/// What the demo builds: the runtime and the plugins the flow uses.
const DEMO_PACKAGES: &[&str] = &["pdk-runtime", "pdk-metronome", "pdk-stdout"];

/// Builds, then runs the demo flow.
pub fn run() -> Result<(), String> {
    let mut build = cargo();
    build.arg("build");
    for package in DEMO_PACKAGES {
        build.args(["--package", package]);
    }
    workspace::run(&mut build)?;
    workspace::run(cargo().args([
        "run",
        "--quiet",
        "--package",
        "pdk-runtime",
        "--",
        "run",
        DEMO_FLOW,
    ]))
}
