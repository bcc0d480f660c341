//! Shared by the integration tests: the bundled plugins, built by the
//! tests themselves, scratch directories, and the real `pdk-runtime`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The bundled connector crates (in `connectors/`).
pub const BUNDLED: &[&str] = &["metronome", "stdout"];

/// The test plugins (in `test-plugins/`).
pub const TEST_PLUGINS: &[&str] = &["probe"];

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The directory cargo put the plugins in, after building them once per
/// test process with the same cargo that runs the tests.
pub fn built_plugins_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut build = Command::new(env!("CARGO"));
        build.arg("build").current_dir(workspace());
        for plugin in BUNDLED.iter().chain(TEST_PLUGINS) {
            build.args(["-p", plugin]);
        }
        let output = build.output().expect("cargo runs");
        assert!(
            output.status.success(),
            "building the plugins failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        runtime_exe()
            .parent()
            .expect("the binary has a directory")
            .to_path_buf()
    })
}

/// The file name of plugin `crate_name`'s library on this platform.
pub fn library_file(crate_name: &str) -> String {
    format!(
        "{}{crate_name}.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    )
}

/// The path of a built plugin's library.
pub fn built_plugin(crate_name: &str) -> PathBuf {
    built_plugins_dir().join(library_file(crate_name))
}

/// A fresh, empty directory for one test.
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("pdk-runtime-tests")
        .join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    dir
}

/// A fresh directory holding copies of the named plugins.
pub fn plugin_dir_with(test: &str, plugins: &[&str]) -> PathBuf {
    let dir = scratch_dir(test);
    for plugin in plugins {
        std::fs::copy(built_plugin(plugin), dir.join(library_file(plugin))).expect("plugin copies");
    }
    dir
}

/// The real `pdk-runtime` binary.
pub fn runtime_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pdk-runtime"))
}

/// Runs `pdk-runtime` with `args`, without `PDK_PLUGIN_PATH` from the
/// environment of the test run.
pub fn runtime(args: &[&str]) -> Output {
    Command::new(runtime_exe())
        .args(args)
        .env_remove("PDK_PLUGIN_PATH")
        .output()
        .expect("pdk-runtime runs")
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes a flow file into `dir` and returns its path.
pub fn write_flow(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("flow file is writable");
    path
}

/// Runs `pdk-runtime` with `args`, searching only `plugin_dir`.
pub fn runtime_isolated(args: &[&str], plugin_dir: &Path) -> Output {
    let dir = plugin_dir.to_str().expect("temp paths are UTF-8");
    let mut all = args.to_vec();
    all.extend_from_slice(&["--isolated", "--plugin-path", dir]);
    runtime(&all)
}

/// Runs the flow file `flow` with the plugins of `plugin_dir` only.
pub fn run_flow(flow: &Path, plugin_dir: &Path) -> Output {
    runtime_isolated(
        &["run", flow.to_str().expect("temp paths are UTF-8")],
        plugin_dir,
    )
}
