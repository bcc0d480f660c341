//! Every kind of bad candidate file, each rejected with its one-line
//! reason while the good plugins beside it load; and the trust policy,
//! which keeps untrusted files away from the dynamic loader.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use serde_json::Value;

use crate::common::{
    built_plugin, built_plugins_dir, library_file, plugin_dir_with, runtime_exe, runtime_isolated,
    stderr, stdout, workspace, write_flow,
};

/// `cargo build -p broken --features F` writes the same file for every
/// fixture: one build at a time.
static FIXTURE_BUILDS: Mutex<()> = Mutex::new(());

/// Builds the `broken` fixture with `feature` and copies it to `to`.
///
/// The fixtures build in a target directory of their own: in `target/debug`
/// they would sit beside the runtime's executable, where every run that is
/// not `--isolated` (the README's demo among them) would find them.
pub fn broken_fixture(feature: &str, to: &Path) {
    broken_fixture_with(feature, &[], to);
}

/// [`broken_fixture`], with extra arguments for `cargo build`.
fn broken_fixture_with(feature: &str, cargo_args: &[&str], to: &Path) {
    let _one_at_a_time = FIXTURE_BUILDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let target_dir = workspace().join("target").join("fixtures");
    let status = Command::new(env!("CARGO"))
        .args(["build", "-p", "broken", "--features", feature])
        .args(cargo_args)
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(workspace())
        .status()
        .unwrap();
    assert!(status.success());
    let built = target_dir.join("debug").join(library_file("broken"));
    std::fs::copy(built, to).unwrap();
}

/// Runs `plugins list --format json` searching only `dir`, as a user who
/// is not root when the tests run as root (so that file permissions hold).
fn list_as_user(dir: &Path, extra: &[&str]) -> Output {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| stdout(&o).trim() == "0");
    let mut command = if is_root.unwrap_or(false) {
        // A copy beside the test's files, which `nobody` can reach wherever
        // the repository is checked out.
        let exe = dir
            .parent()
            .expect("scratch dirs have a parent")
            .join("pdk-runtime-as-user");
        std::fs::copy(runtime_exe(), &exe).unwrap();
        let mut setpriv = Command::new("setpriv");
        setpriv
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(exe);
        setpriv
    } else {
        Command::new(runtime_exe())
    };
    command
        .args([
            "plugins",
            "list",
            "--format",
            "json",
            "--isolated",
            "--plugin-path",
        ])
        .arg(dir)
        .args(extra)
        .env_remove("PDK_PLUGIN_PATH")
        .output()
        .unwrap()
}

fn reasons(output: &Output) -> Vec<(String, String)> {
    assert!(output.status.success(), "stderr: {}", stderr(output));
    let entries: Vec<Value> = serde_json::from_str(&stdout(output)).unwrap();
    entries
        .iter()
        .filter(|e| e["status"] != "built-in")
        .map(|e| {
            let name = Path::new(e["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let verdict = e["reason"]
                .as_str()
                .map_or_else(|| String::from("loaded"), str::to_owned);
            (name, verdict)
        })
        .collect()
}

/// The path of the C library this test process runs with.
fn system_library() -> PathBuf {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| path.contains("/libc.so") || path.contains("/libc-"))
        .map(PathBuf::from)
        .expect("the test process maps libc")
}

#[test]
fn every_kind_of_bad_file_is_rejected_with_its_reason_and_the_good_ones_load() {
    let dir = plugin_dir_with("bad-files", &["metronome", "stdout"]);
    let ext = std::env::consts::DLL_EXTENSION;
    let file = |name: &str| dir.join(format!("{name}.{ext}"));
    std::fs::write(file("empty"), b"").unwrap();
    std::fs::write(
        file("random"),
        (0..4096u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let real = std::fs::read(built_plugin("metronome")).unwrap();
    std::fs::write(file("truncated"), &real[..real.len() / 2]).unwrap();
    std::fs::copy(system_library(), file("system")).unwrap();
    broken_fixture("other-version", &file("other-version"));
    broken_fixture("other-layout", &file("other-layout"));
    broken_fixture("panicking-init", &file("panicking-init"));
    broken_fixture("two-roots", &file("two-roots"));
    broken_fixture("first-release", &file("first-release"));
    std::fs::create_dir(file("directory")).unwrap();
    std::os::unix::fs::symlink(file("loop-b"), file("loop-a")).unwrap();
    std::os::unix::fs::symlink(file("loop-a"), file("loop-b")).unwrap();
    assert!(Command::new("mkfifo")
        .arg(file("fifo"))
        .status()
        .unwrap()
        .success());
    std::fs::write(file("unreadable"), &real).unwrap();
    let chmod = Command::new("chmod")
        .arg("000")
        .arg(file("unreadable"))
        .status()
        .unwrap();
    assert!(chmod.success());

    let got = reasons(&list_as_user(&dir, &[]));
    let version = pdk::abi::INTERFACE_VERSION;
    let sdk = pdk::SDK_VERSION;
    // The fixture's "later patch" is of its own (the workspace's) version.
    let later_patch = concat!(
        env!("CARGO_PKG_VERSION_MAJOR"),
        ".",
        env!("CARGO_PKG_VERSION_MINOR"),
        ".77"
    );
    let expected: Vec<(String, String)> = [
        ("directory", "is a directory named like a library; rename it or move it out of the plugin path".to_owned()),
        ("empty", "not a shared library (unknown file format); remove it from the plugin path".to_owned()),
        ("fifo", "is not a regular file (a FIFO, socket or device named like a library); remove it from the plugin path".to_owned()),
        ("first-release", format!("built for PDK interface 0.1.0 (the first release, whose root module has abi_stable's own symbol), this runtime needs {version}; rebuild the plugin against pdk {sdk} (if it is not a PDK plugin but another abi_stable library, remove it from the plugin path)")),
        ("libmetronome", "loaded".to_owned()),
        ("libstdout", "loaded".to_owned()),
        ("loop-a", "is a symbolic link, and the plugin path does not follow symlinks; put the file itself (or its directory) in the plugin path".to_owned()),
        ("loop-b", "is a symbolic link, and the plugin path does not follow symlinks; put the file itself (or its directory) in the plugin path".to_owned()),
        ("other-layout", format!("built for PDK interface {later_patch}, whose layout this runtime (PDK interface {version}) cannot load; rebuild the plugin against pdk {sdk}")),
        ("other-version", format!("built for PDK interface 9.4.0, this runtime needs {version}; rebuild the plugin against pdk {sdk}")),
        ("panicking-init", "its root module panicked while initializing; fix the plugin's initialization".to_owned()),
        ("random", "not a shared library (unknown file format); remove it from the plugin path".to_owned()),
        ("system", "not a PDK plugin: it exports no PDK root module; build it with `#[pdk_export]` or remove it from the plugin path".to_owned()),
        ("truncated", "a damaged or truncated shared library (its ELF structure cannot be read); rebuild it or copy it again".to_owned()),
        ("two-roots", "exports several PDK root modules (`pdk_plugin_root_module__broken__0_1_0`, `pdk_plugin_root_module__other__0_1_0`): one crate per plugin library has `#[pdk_export]`; keep it in one".to_owned()),
        ("unreadable", "cannot be read (Permission denied (os error 13)); check the file's permissions".to_owned()),
    ]
    .into_iter()
    .map(|(name, reason)| (format!("{name}.{ext}"), reason))
    .collect();
    assert_eq!(got, expected);
}

#[test]
fn a_plugin_built_with_panic_abort_is_refused_before_its_code_runs() {
    let dir = plugin_dir_with("panic-abort", &["metronome"]);
    let fixture = dir.join(library_file("aborts"));
    broken_fixture_with(
        "aborts",
        &["--config", "profile.dev.panic=\"abort\""],
        &fixture,
    );
    let got = reasons(&list_as_user(&dir, &[]));
    assert_eq!(
        got,
        [
            (
                library_file("aborts"),
                "built with `panic = \"abort\"`: any panic in it would end the runtime instead of \
                 failing one call; remove `panic = \"abort\"` from the `[profile]` sections of its \
                 Cargo.toml (or its workspace's) and rebuild it"
                    .to_owned()
            ),
            (library_file("metronome"), "loaded".to_owned()),
        ]
    );

    let flow = write_flow(
        &dir,
        "aborts.toml",
        "[[connector]]\nid = \"a\"\ntype = \"aborts\"\n\n[[connector]]\nid = \"out\"\ntype = \"stdout\"\n\n[[link]]\nfrom = \"a\"\nto = \"out\"\n",
    );
    let run = runtime_isolated(&["run", flow.to_str().unwrap()], &dir);
    assert_eq!(run.status.code(), Some(2), "stderr: {}", stderr(&run));
    assert!(
        stderr(&run).contains("built with `panic = \"abort\"`"),
        "the run names the reason: {}",
        stderr(&run)
    );
}

#[test]
fn a_connector_crate_built_without_cdylib_gets_the_fix() {
    let dir = plugin_dir_with("rlib-only", &["stdout"]);
    // What a connector crate without `crate-type = ["cdylib"]` leaves in
    // `target/debug`: its Rust library, and no plugin file.
    let rlib = built_plugins_dir().join("libmetronome.rlib");
    std::fs::copy(rlib, dir.join("libmetronome.rlib")).unwrap();
    let got = reasons(&list_as_user(&dir, &[]));
    assert_eq!(
        got,
        [
            (
                "libmetronome.rlib".to_owned(),
                "a Rust library with a PDK plugin in it, but no plugin file was built from it; \
                 add `crate-type = [\"cdylib\"]` to the `[lib]` section of its Cargo.toml and \
                 rebuild"
                    .to_owned()
            ),
            (library_file("stdout"), "loaded".to_owned()),
        ]
    );
}

#[test]
fn a_library_not_in_the_trust_policy_is_never_opened() {
    let dir = plugin_dir_with("trust", &["metronome"]);
    let fixture = dir.join(library_file("marker"));
    broken_fixture("load-marker", &fixture);
    let marker = dir.join("opened.marker");
    let policy = dir.join("trusted.txt");
    let digest = Command::new("sha256sum")
        .arg(dir.join(library_file("metronome")))
        .output()
        .unwrap();
    std::fs::write(&policy, stdout(&digest)).unwrap();
    let list = |extra: &[&str]| {
        Command::new(runtime_exe())
            .args([
                "plugins",
                "list",
                "--format",
                "json",
                "--isolated",
                "--plugin-path",
            ])
            .arg(&dir)
            .args(extra)
            .env("PDK_TEST_MARKER", &marker)
            .output()
            .unwrap()
    };

    let trusted = reasons(&list(&["--trust", policy.to_str().unwrap()]));
    assert_eq!(trusted[0], (library_file("marker"), trusted[0].1.clone()));
    assert!(
        trusted[0]
            .1
            .starts_with(&format!("not in the trust policy {}", policy.display())),
        "{trusted:?}"
    );
    assert_eq!(
        trusted[1],
        (library_file("metronome"), String::from("loaded"))
    );
    assert!(
        !marker.exists(),
        "the untrusted library was opened: its constructor ran"
    );

    // The fixture does leave the marker when it is opened.
    let untrusted = reasons(&list(&[]));
    assert_eq!(
        untrusted[0].1,
        "its root module panicked while initializing; fix the plugin's initialization"
    );
    assert!(marker.exists(), "without a policy the fixture is opened");
}

#[test]
fn a_bad_trust_file_stops_with_one_line() {
    let dir = plugin_dir_with("bad-trust", &[]);
    let policy = dir.join("trusted.txt");
    std::fs::write(&policy, "# ok\nnot-a-digest  libx.so\n").unwrap();
    let output = Command::new(runtime_exe())
        .args(["plugins", "list", "--isolated", "--trust"])
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "error: {}: line 2: `not-a-digest` is not a SHA-256 digest (64 hexadecimal digits); \
             fix: write one digest per line, as `sha256sum FILE` prints it\n",
            policy.display()
        )
    );
}
