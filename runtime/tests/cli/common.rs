//! Shared by the integration tests: the bundled plugins, built by the
//! tests themselves, scratch directories, and the real `pdk-runtime`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The bundled connector crates (in `connectors/`).
pub const BUNDLED: &[&str] = &[
    "blackhole",
    "blaster",
    "file",
    "metronome",
    "stdout",
    "tcp_client",
    "tcp_server",
];

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
    runtime_with_env(args, &[])
}

/// [`runtime`], with extra environment variables.
pub fn runtime_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(runtime_exe())
        .args(args)
        .env_remove("PDK_PLUGIN_PATH")
        .envs(env.iter().copied())
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
    runtime_isolated_with_env(args, plugin_dir, &[])
}

/// [`runtime_isolated`], with extra environment variables.
pub fn runtime_isolated_with_env(args: &[&str], plugin_dir: &Path, env: &[(&str, &str)]) -> Output {
    let dir = plugin_dir.to_str().expect("temp paths are UTF-8");
    let mut all = args.to_vec();
    all.extend_from_slice(&["--isolated", "--plugin-path", dir]);
    runtime_with_env(&all, env)
}

/// Starts `pdk-runtime run FLOW` with the plugins of `plugin_dir` only,
/// without waiting for it; standard output and error are piped.
pub fn spawn_flow(flow: &Path, plugin_dir: &Path) -> std::process::Child {
    Command::new(runtime_exe())
        .args([
            "run",
            flow.to_str().expect("temp paths are UTF-8"),
            "--isolated",
            "--plugin-path",
        ])
        .arg(plugin_dir)
        .env_remove("PDK_PLUGIN_PATH")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("pdk-runtime starts")
}

/// Sends SIGTERM to `child`.
pub fn terminate(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits for `child` to exit, killing it (and failing) after `limit`.
pub fn wait_at_most(mut child: std::process::Child, limit: std::time::Duration) -> Output {
    let start = std::time::Instant::now();
    while child
        .try_wait()
        .expect("the child can be waited for")
        .is_none()
    {
        if start.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "pdk-runtime did not exit within {limit:?}; stderr: {}",
                stderr(&output)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("an ephemeral port")
        .port()
}

/// The lines of the probe trace file at `path` (none if it does not exist
/// yet).
pub fn trace_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The lines of a probe trace written by connector `alias`, without the
/// alias.
pub fn trace_of(trace: &[String], alias: &str) -> Vec<String> {
    let prefix = format!("{alias} ");
    trace
        .iter()
        .filter_map(|line| line.strip_prefix(&prefix).map(str::to_owned))
        .collect()
}

/// Runs the flow file `flow` with the plugins of `plugin_dir` only.
pub fn run_flow(flow: &Path, plugin_dir: &Path) -> Output {
    runtime_isolated(
        &["run", flow.to_str().expect("temp paths are UTF-8")],
        plugin_dir,
    )
}
