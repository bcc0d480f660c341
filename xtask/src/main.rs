//! The project's own tasks:
//!
//! - `cargo xtask demo`: builds the runtime and two bundled plugins, then
//!   runs the demo flow (metronome -> stdout) through the plugin files.
//! - `cargo xtask dist [--debug]`: builds the release layout, a tarball
//!   with `bin/pdk-runtime` and the bundled connectors as plugin files in
//!   `lib/pdk-runtime/plugins`, which the runtime searches by default.

mod demo;
mod dist;
mod workspace;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask demo | cargo xtask dist [--debug]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let done = match args.as_slice() {
        ["demo"] => demo::run(),
        ["dist"] => dist::run(dist::Profile::Release),
        ["dist", "--debug"] => dist::run(dist::Profile::Debug),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error}");
            ExitCode::FAILURE
        }
    }
}
