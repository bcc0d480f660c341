//! `cargo xtask dist`: the release layout, for people who want the bundled
//! connectors as plugin files (to replace one, to list them, to trust them
//! by digest):
//!
//! ```text
//! target/dist/pdk-VERSION-TARGET.tar.gz
//!   pdk-VERSION-TARGET/
//!     bin/pdk-runtime
//!     lib/pdk-runtime/plugins/libmetronome.so ...   (searched by default)
//!     examples/*.toml
//!     README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::workspace::{self, bundled, cargo, root};

/// The cargo profile the layout is built with.
#[derive(Debug, Clone, Copy)]
pub enum Profile {
    /// Optimized: what people install.
    Release,
    /// Unoptimized, faster to build: for the tests of the layout.
    Debug,
}

impl Profile {
    /// The profile's output directory in `target/`.
    fn dir(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Debug => "debug",
        }
    }
}

/// The files from the workspace root that go into the layout as they are.
const DOCUMENTS: &[&str] = &["README.md", "CHANGELOG.md", "LICENSE-MIT", "LICENSE-APACHE"];

/// The plugin directory inside the layout, beside `bin/`: the runtime
/// searches it by default (its `RELEASE_PLUGIN_DIR`).
const PLUGIN_DIR: &str = "lib/pdk-runtime/plugins";

/// Builds the layout and its tarball, and prints the tarball's path.
pub fn run(profile: Profile) -> Result<(), String> {
    let bundled = bundled()?;
    let mut build = cargo();
    build.arg("build").args(["-p", "pdk-runtime"]);
    if let Profile::Release = profile {
        build.arg("--release");
    }
    for connector in &bundled {
        build.args(["-p", &connector.package()]);
    }
    workspace::run(&mut build)?;
    let built = root().join("target").join(profile.dir());
    let name = format!("pdk-{}-{}", version(&built)?, host_target()?);
    let dist = root().join("target").join("dist");
    let layout = dist.join(&name);
    if layout.exists() {
        std::fs::remove_dir_all(&layout).map_err(|e| io_error(&layout, &e))?;
    }
    let plugins = layout.join(PLUGIN_DIR);
    for dir in [layout.join("bin"), plugins.clone(), layout.join("examples")] {
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, &e))?;
    }
    copy(&built.join("pdk-runtime"), &layout.join("bin/pdk-runtime"))?;
    for connector in &bundled {
        let file = connector.library_file();
        copy(&built.join(&file), &plugins.join(&file))?;
    }
    for document in DOCUMENTS {
        copy(&root().join(document), &layout.join(document))?;
    }
    let examples = root().join("examples");
    for entry in std::fs::read_dir(&examples).map_err(|e| io_error(&examples, &e))? {
        let path = entry.map_err(|e| io_error(&examples, &e))?.path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            let file = path.file_name().unwrap_or_default();
            copy(&path, &layout.join("examples").join(file))?;
        }
    }
    let tarball = dist.join(format!("{name}.tar.gz"));
    write_tarball(&layout, &name, &tarball)?;
    println!("{}", tarball.display());
    Ok(())
}

/// The runtime's version, as it reports it (`pdk-runtime 0.2.0`).
fn version(built: &Path) -> Result<String, String> {
    let output = Command::new(built.join("pdk-runtime"))
        .arg("-V")
        .output()
        .map_err(|e| format!("cannot run the built runtime: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .ok_or_else(|| String::from("the built runtime printed no version"))
}

/// The target triple of this machine, as rustc names it.
fn host_target() -> Result<String, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| String::from("rustc -vV names no host"))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

fn io_error(path: &Path, error: &std::io::Error) -> String {
    format!("{}: {error}", path.display())
}

/// Writes `layout` as `name/...` into the gzipped tarball `tarball`.
fn write_tarball(layout: &Path, name: &str, tarball: &PathBuf) -> Result<(), String> {
    let file = File::create(tarball).map_err(|e| io_error(tarball, &e))?;
    let mut archive = tar::Builder::new(GzEncoder::new(file, Compression::default()));
    archive
        .append_dir_all(name, layout)
        .map_err(|e| io_error(layout, &e))?;
    archive
        .into_inner()
        .and_then(GzEncoder::finish)
        .map(drop)
        .map_err(|e| io_error(tarball, &e))
}
