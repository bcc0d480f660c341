//! The release as a user meets it: the published crates, an installed
//! runtime with no source tree, and the `cargo xtask dist` layout.
//!
//! Slow (each builds the runtime from scratch), so ignored by
//! `cargo test`; CI runs them once:
//!
//! ```text
//! cargo test -p xtask --test release -- --ignored --test-threads 1
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;
use serde_json::Value;

/// The crates a user needs, which must be publishable.
const USER_CRATES: &[&str] = &["pdk-abi", "pdk-sdk", "pdk-sdk-macros", "pdk-runtime"];

#[test]
#[ignore = "slow: builds every published crate; run by .ci/run"]
fn every_publishable_crate_passes_publish_dry_run() {
    let packages = publishable();
    for needed in USER_CRATES {
        assert!(
            packages.iter().any(|p| p.name == *needed),
            "{needed} must be publishable, got {packages:?}"
        );
    }
    let mut publish = cargo();
    // `cargo publish` verifies each package in the workspace's target
    // directory by default, and a cdylib crate's rlib has no hash in its
    // file name, so the verified copy would overwrite the workspace's own
    // build of it while cargo still thinks that build is fresh.
    //
    // Each run also gets a target directory of its own: cargo unpacks the
    // packages it verifies into `$CARGO_HOME/registry/src/<hash of that
    // directory>/` and never unpacks them again once there, so a second run
    // in the same directory would verify the first run's sources.
    let runs = release_target_dir("publish");
    remove(&runs);
    publish
        .env("CARGO_TARGET_DIR", runs.join(unique_name()))
        .args(["publish", "--dry-run"]);
    for package in &packages {
        publish.args(["-p", &package.name]);
    }
    let output = succeed(&mut publish);
    assert!(
        stderr(&output).contains("aborting upload due to dry run"),
        "{}",
        stderr(&output)
    );
}

#[test]
#[ignore = "slow: installs the runtime and builds a plugin outside the repository; run by .ci/run"]
fn an_installed_runtime_creates_builds_and_runs_a_new_connector_outside_the_repository() {
    let started = Instant::now();
    let scratch = scratch_dir("install");
    let patch = packaged_crates(&scratch.join("crates"), &scratch.join("patch.toml"));
    let root = scratch.join("root");
    let runtime_crate = scratch
        .join("crates")
        .join(format!("pdk-runtime-{}", version()));
    succeed(
        quick_release(&mut cargo())
            .current_dir(&scratch)
            .env("CARGO_TARGET_DIR", release_target_dir("install"))
            .args(["install", "--path"])
            .arg(&runtime_crate)
            .arg("--root")
            .arg(&root)
            .arg("--config")
            .arg(&patch),
    );
    assert_eq!(
        files_in(&root.join("bin")),
        ["pdk-runtime"],
        "what cargo install installed"
    );
    eprintln!("installed in {:?}", started.elapsed());

    let home = scratch.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let user = |program: &str| user_command(program, &root, &home);
    succeed(user("pdk-runtime").args(["new", "my-conn"]));
    let crate_dir = home.join("my-conn");
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    let dependency = format!(
        "pdk = {{ package = \"pdk-sdk\", version = \"{}\" }}",
        version()
    );
    assert!(manifest.contains(&dependency), "{manifest}");
    assert!(!manifest.contains("path ="), "{manifest}");

    succeed(
        user("cargo")
            .current_dir(&crate_dir)
            .arg("build")
            .arg("--config")
            .arg(&patch),
    );
    let run = succeed(user("pdk-runtime").current_dir(&crate_dir).args([
        "run",
        "flow.toml",
        "--plugin-path",
        "target/debug",
    ]));
    let events: String = (0..3)
        .map(|n| format!("{{\"from\":\"my_conn\",\"n\":{n}}}\n"))
        .collect();
    assert_eq!(stdout(&run), events);
    let log = stderr(&run);
    let builtin = format!(
        "connector `out`: type `stdout` from the built-in pdk-stdout {}",
        version()
    );
    assert!(log.contains(&builtin), "{log}");
    assert!(
        log.contains("type `my_conn` from the plugin target/debug/"),
        "{log}"
    );

    let listing = stdout(&succeed(
        user("pdk-runtime").current_dir(&crate_dir).args([
            "plugins",
            "list",
            "--plugin-path",
            "target/debug",
        ]),
    ));
    assert!(
        listing.contains("loaded    target/debug/libmy_conn.so"),
        "{listing}"
    );
    assert!(
        !listing.contains("/deps/"),
        "cargo's intermediates are not listed: {listing}"
    );
    assert!(!listing.contains("rejected"), "{listing}");

    let completions = stdout(&succeed(user("pdk-runtime").args(["completions", "bash"])));
    assert!(
        completions
            .lines()
            .any(|line| line.trim_start().starts_with("complete -F ")
                && line.ends_with(" pdk-runtime")),
        "{completions}"
    );
    eprintln!("whole test in {:?}", started.elapsed());
    remove(&scratch);
}

#[test]
#[ignore = "slow: installs the runtime from a clone and builds a plugin; run by .ci/run"]
fn the_quick_start_runs_as_written_in_an_empty_directory() {
    let started = Instant::now();
    let page = std::fs::read_to_string(workspace().join("book/src/quick-start.md")).unwrap();
    let block = first_console_block(&page);
    let commands: Vec<&str> = block.lines().filter_map(|l| l.strip_prefix("$ ")).collect();
    let shown_events: Vec<&str> = block.lines().filter(|l| l.starts_with('{')).collect();
    assert!(commands.len() >= 5 && !shown_events.is_empty(), "{block}");
    let repository_url = commands
        .iter()
        .find_map(|command| command.strip_prefix("git clone "))
        .expect("the quick start clones the repository");

    let scratch = scratch_dir("quick-start");
    let root = scratch.join("cargo-root");
    let mut cwd = scratch.join("home");
    std::fs::create_dir_all(&cwd).unwrap();
    let mut outputs = Vec::new();
    for command in &commands {
        if let Some(dir) = command.strip_prefix("cd ") {
            cwd = cwd.join(dir);
            assert!(cwd.is_dir(), "`{command}`: no directory {}", cwd.display());
            continue;
        }
        let mut shell = user_command("sh", &root, &cwd);
        shell
            .args(["-c", command])
            .env("CARGO_INSTALL_ROOT", &root)
            // There is no network here: the repository's address is this
            // repository (its committed state, as a clone has it).
            .env("GIT_CONFIG_COUNT", "1")
            .env(
                "GIT_CONFIG_KEY_0",
                format!("url.{}.insteadOf", workspace().display()),
            )
            .env("GIT_CONFIG_VALUE_0", repository_url);
        if command.starts_with("cargo install") {
            quick_release(&mut shell).env("CARGO_TARGET_DIR", release_target_dir("install"));
        }
        eprintln!("$ {command} ({:?} so far)", started.elapsed());
        outputs.push((*command, succeed(&mut shell)));
    }

    let (_, new) = outputs
        .iter()
        .find(|(command, _)| command.starts_with("pdk-runtime new"))
        .expect("the quick start creates a crate");
    let created = stdout(new);
    let clone = scratch.join("home/pdk");
    assert!(
        created.contains(&format!(
            "sdk: pdk-sdk at {}, the clone this runtime was built from",
            clone.join("pdk").display()
        )),
        "{created}"
    );
    let (_, run) = outputs.last().unwrap();
    let printed: Vec<&str> = std::str::from_utf8(&run.stdout).unwrap().lines().collect();
    assert_eq!(printed, shown_events, "{}", stderr(run));
    eprintln!("whole test in {:?}", started.elapsed());
    remove(&scratch);
}

/// The first ```` ```console ```` block of a book page.
fn first_console_block(page: &str) -> &str {
    let start = page.find("```console\n").expect("a console block") + "```console\n".len();
    let length = page[start..].find("```").expect("the block's end");
    &page[start..start + length]
}

/// `command` with cargo's release profile made as quick to compile as
/// its dev profile: the tests check what is installed, not how fast it
/// runs, and an optimised runtime would add minutes to every CI run.
fn quick_release(command: &mut Command) -> &mut Command {
    command
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "256")
}

#[test]
#[ignore = "slow: builds the release layout; run by .ci/run"]
fn the_release_layout_runs_its_plugin_files_in_place_of_the_built_ins() {
    let scratch = scratch_dir("dist");
    let dist = succeed(
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .env("CARGO", env!("CARGO"))
            .args(["dist", "--debug"]),
    );
    let tarball = PathBuf::from(stdout(&dist).trim());
    let mut archive = tar::Archive::new(GzDecoder::new(File::open(&tarball).unwrap()));
    archive.unpack(&scratch).unwrap();
    let name = tarball.file_name().unwrap().to_str().unwrap();
    let layout = scratch
        .join(name.strip_suffix(".tar.gz").unwrap())
        .canonicalize()
        .unwrap();
    let runtime = layout.join("bin/pdk-runtime");
    let plugins = layout.join("lib/pdk-runtime/plugins");
    let plugin_files = files_in(&plugins);
    assert!(
        plugin_files.len() >= 10,
        "every bundled connector: {plugin_files:?}"
    );

    let listing = succeed(
        user_command(runtime.to_str().unwrap(), &layout, &scratch)
            .args(["plugins", "list", "--format", "json"]),
    );
    let entries: Vec<Value> = serde_json::from_str(&stdout(&listing)).unwrap();
    for file in &plugin_files {
        let path = plugins.join(file);
        let path = path.to_str().unwrap();
        let entry = entries
            .iter()
            .find(|e| e["path"] == path)
            .unwrap_or_else(|| panic!("{path} is not listed: {entries:#?}"));
        assert_eq!(entry["status"], "loaded", "{entry:#}");
    }
    for entry in entries.iter().filter(|e| e["status"] == "built-in") {
        let replaced_by = entry["replaced_by"].as_str().unwrap_or_default();
        assert!(
            replaced_by.starts_with(plugins.to_str().unwrap()),
            "{entry:#}"
        );
    }

    let run = succeed(
        user_command(runtime.to_str().unwrap(), &layout, &scratch)
            .current_dir(&layout)
            .args(["run", "examples/metronome-to-stdout.toml"]),
    );
    let ticks: String = (0..5)
        .map(|n| format!("{{\"connector\":\"tick\",\"tick\":{n}}}\n"))
        .collect();
    assert_eq!(stdout(&run), ticks);
    let log = stderr(&run);
    let origin = format!(
        "type `metronome` from the plugin {}",
        plugins.join(library_file("metronome")).display()
    );
    assert!(log.contains(&origin), "{log}");
    remove(&scratch);
}

/// A workspace package that is published.
#[derive(Debug)]
struct Package {
    name: String,
    version: String,
}

/// Every workspace package that does not say `publish = false`.
fn publishable() -> Vec<Package> {
    let output = succeed(cargo().args(["metadata", "--format-version", "1", "--no-deps"]));
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["publish"]
                .as_array()
                .is_none_or(|registries| !registries.is_empty())
        })
        .map(|p| Package {
            name: p["name"].as_str().unwrap().to_owned(),
            version: p["version"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// The version of the published crates (the workspace's).
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Packages every publishable crate with `cargo package`, unpacks the
/// `.crate` files into `dir`, and writes `patch`: a cargo config that
/// takes them for crates.io's, as if they were published. Returns
/// `patch`.
fn packaged_crates(dir: &Path, patch: &Path) -> PathBuf {
    let packages = publishable();
    let mut package = cargo();
    package.args(["package", "--no-verify"]);
    for p in &packages {
        package.args(["-p", &p.name]);
    }
    succeed(&mut package);
    let mut config = String::from("[patch.crates-io]\n");
    for p in &packages {
        let file = workspace()
            .join("target/package")
            .join(format!("{}-{}.crate", p.name, p.version));
        let mut archive = tar::Archive::new(GzDecoder::new(File::open(&file).unwrap()));
        archive.unpack(dir).unwrap();
        let unpacked = dir.join(format!("{}-{}", p.name, p.version));
        config.push_str(&format!(
            "{} = {{ path = {:?} }}\n",
            p.name,
            unpacked.to_str().unwrap()
        ));
    }
    std::fs::write(patch, config).unwrap();
    patch.to_path_buf()
}

/// `program` as a user runs it in a fresh shell: an environment with
/// nothing of this build in it, and a `PATH` of the installation's `bin/`
/// under `prefix`, the Rust toolchain, and the system.
fn user_command(program: &str, prefix: &Path, cwd: &Path) -> Command {
    let toolchain = Path::new(env!("CARGO")).parent().unwrap();
    let path = std::env::join_paths([
        prefix.join("bin").as_path(),
        toolchain,
        Path::new("/usr/bin"),
        Path::new("/bin"),
    ])
    .unwrap();
    let mut command = Command::new(program);
    command.env_clear().env("PATH", path).current_dir(cwd);
    for kept in ["HOME", "CARGO_HOME", "RUSTUP_HOME", "TMPDIR"] {
        if let Some(value) = std::env::var_os(kept) {
            command.env(kept, value);
        }
    }
    command
}

/// The workspace's root directory.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Where `test` builds: apart from the workspace's own `target/` and from
/// the other tests (see `every_publishable_crate_passes_publish_dry_run`).
fn release_target_dir(test: &str) -> PathBuf {
    workspace().join("target/release-test").join(test)
}

/// A name no earlier run of these tests used: the time and the process.
fn unique_name() -> String {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}-{}", since_epoch.as_nanos(), std::process::id())
}

/// The cargo running these tests, in the workspace.
fn cargo() -> Command {
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(workspace())
        .env_remove("CARGO_TARGET_DIR");
    command
}

/// Runs `command`, which must succeed.
fn succeed(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The names of the files in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The interface version of this workspace: `pdk-abi`'s version.
fn interface_version() -> String {
    let manifest = std::fs::read_to_string(workspace().join("pdk-abi/Cargo.toml")).unwrap();
    let manifest: toml::Table = manifest.parse().unwrap();
    manifest["package"]["version"].as_str().unwrap().to_owned()
}

/// Builds the plugin crate `compat/plugin-on-VERSION` against the
/// packaged SDK crates of `compat/interface-VERSION` (`crates`, each of
/// the version packaged there), outside the workspace, and copies its
/// library (crate `library`) into a new directory of plugins, which it
/// returns.
fn compat_plugin(version: &str, crates: &[&str], library: &str) -> PathBuf {
    let scratch = scratch_dir(&format!("compat-{version}"));
    let compat = workspace().join("compat");
    let packages = compat.join(format!("interface-{version}"));
    let mut patch = String::from("[patch.crates-io]\n");
    for name in crates {
        let package = packaged(&packages, name);
        let mut archive = tar::Archive::new(GzDecoder::new(File::open(&package).unwrap()));
        archive.unpack(&scratch).unwrap();
        let unpacked = scratch.join(package.file_stem().unwrap());
        patch.push_str(&format!(
            "{name} = {{ path = {:?} }}\n",
            unpacked.to_str().unwrap()
        ));
    }
    let patch_file = scratch.join("patch.toml");
    std::fs::write(&patch_file, patch).unwrap();
    let plugin_crate = scratch.join("plugin");
    for file in ["Cargo.toml", "src/lib.rs"] {
        let to = plugin_crate.join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(compat.join(format!("plugin-on-{version}")).join(file), to).unwrap();
    }
    let target = release_target_dir("compat");
    succeed(
        cargo()
            .current_dir(&plugin_crate)
            .arg("build")
            .arg("--target-dir")
            .arg(&target)
            .arg("--config")
            .arg(&patch_file),
    );
    let plugins = scratch.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        target.join("debug").join(library_file(library)),
        plugins.join(library_file(library)),
    )
    .unwrap();
    plugins
}

/// The `.crate` file of crate `name` in `dir`, whatever its version.
fn packaged(dir: &Path, name: &str) -> PathBuf {
    let prefix = format!("{name}-");
    files_in(dir)
        .into_iter()
        .find(|file| {
            file.strip_prefix(&prefix)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .map(|file| dir.join(file))
        .unwrap_or_else(|| panic!("no package of `{name}` in {}", dir.display()))
}

/// The workspace's `pdk-runtime`, built.
fn built_runtime() -> PathBuf {
    succeed(cargo().args(["build", "-p", "pdk-runtime"]));
    workspace().join("target/debug/pdk-runtime")
}

/// `plugins list --format json` of the plugins in `dir` only.
fn listing(runtime: &Path, dir: &Path) -> Vec<Value> {
    let listing = stdout(&succeed(
        Command::new(runtime)
            .args([
                "plugins",
                "list",
                "--isolated",
                "--format",
                "json",
                "--plugin-path",
            ])
            .arg(dir),
    ));
    let entries: Value = serde_json::from_str(&listing).unwrap();
    entries.as_array().unwrap().clone()
}

#[test]
#[ignore = "slow: builds plugins against the previous interfaces; run by .ci/run"]
fn plugins_built_on_earlier_interfaces_are_rejected_naming_both_versions() {
    let runtime = built_runtime();
    let sdk_crates = ["pdk-sdk", "pdk-sdk-macros"];
    for (previous, library) in [
        ("0.1.0", "plugin_on_interface_0_1"),
        ("0.2.0", "plugin_on_interface_0_2"),
    ] {
        let plugins = compat_plugin(previous, &sdk_crates, library);
        let entries = listing(&runtime, &plugins);
        let rejected: Vec<&Value> = entries
            .iter()
            .filter(|entry| entry["status"] == "rejected")
            .collect();
        assert_eq!(rejected.len(), 1, "{entries:?}");
        assert_eq!(
            rejected[0]["reason"],
            format!(
                "built for PDK interface {previous}, this runtime needs {now}; rebuild the plugin against pdk {sdk}",
                now = interface_version(),
                sdk = version()
            ),
            "{entries:?}"
        );
    }
}

#[test]
#[ignore = "slow: builds a plugin against the packaged interface 0.3.0; run by .ci/run"]
fn a_plugin_built_on_interface_0_3_0_loads_and_runs_a_flow() {
    let runtime = built_runtime();
    let plugins = compat_plugin(
        "0.3.0",
        &["pdk-abi", "pdk-sdk", "pdk-sdk-macros"],
        "plugin_on_interface_0_3",
    );
    let entries: Vec<Value> = listing(&runtime, &plugins)
        .into_iter()
        .filter(|entry| entry["status"] != "built-in")
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["status"], "loaded", "{entries:?}");
    assert_eq!(entries[0]["plugin"]["interface_version"], "0.3.0");
    let flow = plugins.join("flow.toml");
    std::fs::write(
        &flow,
        r#"
[[connector]]
id = "old"
type = "compat_ticker"

[[connector]]
id = "count"
type = "compat_counter"

[[connector]]
id = "out"
type = "stdout"

[[link]]
from = "old"
to = ["count", "out"]
"#,
    )
    .unwrap();
    // With the runtime's endpoint on: its metrics and status are the
    // runtime's own, and need nothing of the plugin.
    let output = succeed(
        Command::new(&runtime)
            .arg("run")
            .arg(&flow)
            .arg("--plugin-path")
            .arg(&plugins)
            .args(["--api", "0"]),
    );
    assert!(
        stderr(&output).contains("serving /metrics, /health and /status on http://127.0.0.1:"),
        "{}",
        stderr(&output)
    );
    let events: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(
        events,
        [r#"{"compat":0}"#, r#"{"compat":1}"#, r#"{"compat":2}"#],
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("compat_counter saw 3 events"),
        "{}",
        stderr(&output)
    );

    // The same plugin file, each of its connectors in a process of its
    // own: the same events.
    let isolated = plugins.join("isolated.toml");
    let text = std::fs::read_to_string(&flow).unwrap().replace(
        "type = \"compat_ticker\"\n",
        "type = \"compat_ticker\"\nisolation = \"process\"\n",
    );
    let text = text.replace(
        "type = \"compat_counter\"\n",
        "type = \"compat_counter\"\nisolation = \"process\"\n",
    );
    std::fs::write(&isolated, text).unwrap();
    let output = succeed(
        Command::new(&runtime)
            .arg("run")
            .arg(&isolated)
            .arg("--plugin-path")
            .arg(&plugins),
    );
    assert!(
        stderr(&output).contains("in a process of its own"),
        "{}",
        stderr(&output)
    );
    let isolated_events: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(isolated_events, events, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("compat_counter saw 3 events"),
        "{}",
        stderr(&output)
    );
}

#[test]
#[ignore = "slow: builds a plugin against the packaged interface 0.3.1; run by .ci/run"]
fn a_plugin_built_on_interface_0_3_1_shows_its_own_metric_on_the_runtimes_endpoint() {
    let runtime = built_runtime();
    let plugins = compat_plugin(
        "0.3.1",
        &["pdk-abi", "pdk-sdk", "pdk-sdk-macros"],
        "plugin_on_interface_0_3_1",
    );
    let flow = plugins.join("flow.toml");
    // A slow metronome keeps the flow running while its metrics are read.
    std::fs::write(
        &flow,
        r#"
[[connector]]
id = "ticks"
type = "compat_ticker"

[[connector]]
id = "count"
type = "compat_counter"

[[connector]]
id = "slow"
type = "metronome"
config = { interval_ms = 60000, count = 2 }

[[connector]]
id = "hole"
type = "blackhole"

[[link]]
from = "ticks"
to = "count"

[[link]]
from = "slow"
to = "hole"
"#,
    )
    .unwrap();
    let mut child = Command::new(&runtime)
        .arg("run")
        .arg(&flow)
        .arg("--plugin-path")
        .arg(&plugins)
        .args(["--api", "0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let api = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            let address = line
                .split_once("serving /metrics, /health and /status on http://")
                .map(|(_, address)| address.trim().to_owned());
            seen.push(line);
            address
        })
        .unwrap_or_else(|| panic!("no endpoint in the log:\n{}", seen.join("\n")));
    let expected = r#"pdk_plugin_compat_events_total{flow="flow",connector="count",type="compat_counter",plugin="plugin-on-interface-0-3-1"} 3"#;
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let metrics = http_get(&api, "/metrics");
        if metrics.lines().any(|line| line == expected) || Instant::now() > deadline {
            break metrics;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        metrics.lines().any(|line| line == expected),
        "no `{expected}` in:\n{metrics}"
    );
}

/// The body of `GET path` from the HTTP server at `address`.
fn http_get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// A plugin file's name on this platform.
fn library_file(crate_name: &str) -> String {
    format!(
        "{}{crate_name}.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    )
}

/// An empty directory for `test`, outside the repository; what an earlier
/// run left there is removed.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("pdk-release-tests").join(test);
    remove(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn remove(dir: &Path) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
}
