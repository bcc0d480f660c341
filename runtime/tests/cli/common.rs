//! Shared by the integration tests: the bundled plugins, built by the
//! tests themselves, scratch directories, and the real `pdk-runtime`.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// The bundled connector crates (in `connectors/`), by library name: the
/// plugin file of `metronome` is `libmetronome.so`, its package
/// `pdk-metronome` (see [`package`]).
pub const BUNDLED: &[&str] = &[
    "blackhole",
    "blaster",
    "file",
    "http_client",
    "http_server",
    "kafka",
    "metronome",
    "nats",
    "stdout",
    "tcp_client",
    "tcp_server",
    "udp",
];

/// The test plugins (in `test-plugins/`).
pub const TEST_PLUGINS: &[&str] = &["probe", "ecosystem", "forgot_tokio", "blocking", "batching"];

/// The package of plugin library `plugin`: `pdk-` and the name with
/// dashes for a bundled connector, the name itself for a test plugin.
pub fn package(plugin: &str) -> String {
    if BUNDLED.contains(&plugin) {
        format!("pdk-{}", plugin.replace('_', "-"))
    } else {
        plugin.to_owned()
    }
}

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
            build.args(["-p", &package(plugin)]);
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

/// Where the tests' scratch directories are, named `TEST-PID`. The first
/// use in a test process removes those of test processes that have ended:
/// a failed test's files stay for inspection until the next run, and runs
/// never pile up gigabytes of plugin copies.
fn scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join("pdk-runtime-tests");
        let entries = std::fs::read_dir(&root).into_iter().flatten().flatten();
        for entry in entries {
            let name = entry.file_name();
            let pid = name
                .to_string_lossy()
                .rsplit('-')
                .next()
                .and_then(|pid| pid.parse::<u32>().ok());
            let ended = pid.is_some_and(|pid| {
                pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
            });
            if ended {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        root
    })
}

/// A fresh, empty directory for one test.
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = scratch_root().join(format!("{test}-{}", std::process::id()));
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

/// A runtime's process, killed if it still runs when its test ends (a
/// test that fails midway leaves no process behind).
struct KilledOnDrop(Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
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
/// Its piped output is read while it runs, so that a child with more to
/// say than a pipe holds never blocks on writing it.
pub fn wait_at_most(mut child: std::process::Child, limit: std::time::Duration) -> Output {
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = read_all(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = read_all(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.join().unwrap_or_default();
            panic!(
                "pdk-runtime did not exit within {limit:?}; stderr: {}",
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
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

/// A flow: a metronome `tick` (`interval_ms`, `count` ticks) linked to one
/// connector `out` of type `kind` with the TOML table `config`.
pub fn ticks_into(interval_ms: u64, count: u64, kind: &str, config: &str) -> String {
    format!(
        r#"
[[connector]]
id = "tick"
type = "metronome"
config = {{ interval_ms = {interval_ms}, count = {count} }}

[[connector]]
id = "out"
type = "{kind}"
config = {config}

[[link]]
from = "tick"
to = "out"
"#
    )
}

/// What the metronome of [`ticks_into`] sends as tick `n`, as JSON.
pub fn tick(n: u64) -> String {
    format!(r#"{{"connector":"tick","tick":{n}}}"#)
}

/// Runs the flow file `flow` with the plugins of `plugin_dir` only.
pub fn run_flow(flow: &Path, plugin_dir: &Path) -> Output {
    runtime_isolated(
        &["run", flow.to_str().expect("temp paths are UTF-8")],
        plugin_dir,
    )
}

/// How long a test waits for a log line before it fails.
const LOG_WAIT: Duration = Duration::from_secs(30);

/// The log lines of a running `pdk-runtime`, as they arrive.
#[derive(Default)]
struct Log {
    lines: Mutex<Vec<String>>,
    arrived: Condvar,
}

/// A `pdk-runtime run` in the background, whose log a test can wait on:
/// the runtime's own readiness signal (`listening on ...`), instead of a
/// sleep or a fixed port.
pub struct RunningFlow {
    child: KilledOnDrop,
    log: Arc<Log>,
    stdout: std::thread::JoinHandle<Vec<u8>>,
    stderr: std::thread::JoinHandle<()>,
}

impl RunningFlow {
    /// Starts `pdk-runtime run FLOW` with the plugins of `plugin_dir` only.
    pub fn start(flow: &Path, plugin_dir: &Path) -> Self {
        Self::start_with_env(flow, plugin_dir, &[])
    }

    /// [`RunningFlow::start`], with `args` after the flow file.
    pub fn start_with_args(flow: &Path, plugin_dir: &Path, args: &[&str]) -> Self {
        let mut command = Command::new(runtime_exe());
        Self::spawn_with(command.args(["run"]).arg(flow).args(args), plugin_dir)
    }

    /// Starts `pdk-runtime serve --flows FLOW_DIR` with `args`, with the
    /// plugins of `plugin_dir` only.
    pub fn serve(flow_dir: &Path, plugin_dir: &Path, args: &[&str]) -> Self {
        let mut command = Command::new(runtime_exe());
        Self::spawn_with(
            command.arg("serve").arg("--flows").arg(flow_dir).args(args),
            plugin_dir,
        )
    }

    /// [`RunningFlow::start`], with extra environment variables.
    pub fn start_with_env(flow: &Path, plugin_dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(runtime_exe());
        command.envs(env.iter().copied());
        Self::spawn(command, flow, plugin_dir)
    }

    /// [`RunningFlow::start`], the runtime limited to `descriptors` open
    /// files (`ulimit -n`).
    pub fn start_with_fd_limit(flow: &Path, plugin_dir: &Path, descriptors: u32) -> Self {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!(r#"ulimit -n {descriptors} && exec "$0" "$@""#))
            .arg(runtime_exe());
        Self::spawn(command, flow, plugin_dir)
    }

    /// Runs `command` (the runtime, or what executes it) with `run FLOW`.
    fn spawn(mut command: Command, flow: &Path, plugin_dir: &Path) -> Self {
        Self::spawn_with(command.arg("run").arg(flow), plugin_dir)
    }

    /// Runs `command` (the runtime with its arguments), searching only
    /// `plugin_dir` for plugins.
    fn spawn_with(command: &mut Command, plugin_dir: &Path) -> Self {
        let mut child = command
            .arg("--isolated")
            .arg("--plugin-path")
            .arg(plugin_dir)
            .env_remove("PDK_PLUGIN_PATH")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pdk-runtime starts");
        let mut out = child.stdout.take().expect("piped");
        let stdout = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        });
        let log = Arc::new(Log::default());
        let err = child.stderr.take().expect("piped");
        let sink = Arc::clone(&log);
        let stderr = std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lines
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
                sink.arrived.notify_all();
            }
        });
        Self {
            child: KilledOnDrop(child),
            log,
            stdout,
            stderr,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// The log so far.
    pub fn log(&self) -> String {
        self.log
            .lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join("\n")
    }

    /// Waits for a log line containing `needle` and returns it.
    pub fn wait_for_log(&self, needle: &str) -> String {
        self.wait_for_log_within(needle, LOG_WAIT)
    }

    /// [`Self::wait_for_log`], waiting up to `limit`.
    pub fn wait_for_log_within(&self, needle: &str, limit: Duration) -> String {
        self.wait_for_logs_within(needle, 1, limit).remove(0)
    }

    /// Waits for `count` log lines containing `needle` and returns them.
    pub fn wait_for_logs(&self, needle: &str, count: usize) -> Vec<String> {
        self.wait_for_logs_within(needle, count, LOG_WAIT)
    }

    fn wait_for_logs_within(&self, needle: &str, count: usize, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut lines = self
            .log
            .lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            let found: Vec<String> = lines
                .iter()
                .filter(|line| line.contains(needle))
                .take(count)
                .cloned()
                .collect();
            if found.len() == count {
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "not {count} log lines with `{needle}` within {limit:?}; log:\n{}",
                lines.join("\n")
            );
            lines = self
                .log
                .arrived
                .wait_timeout(lines, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The address in the log line `... MARKER ADDRESS` that a connector
    /// prints when it is ready (`listening on`, `bound to`).
    pub fn address(&self, marker: &str) -> SocketAddr {
        let line = self.wait_for_log(marker);
        let after = line
            .split(marker)
            .nth(1)
            .expect("the marker is in the line")
            .trim()
            .trim_start_matches("http://");
        after
            .parse()
            .unwrap_or_else(|e| panic!("`{after}` is not an address ({e}): {line}"))
    }

    /// Sends SIGTERM and waits at most `limit` for the exit; returns the
    /// output and how long the exit took.
    pub fn terminate(mut self, limit: Duration) -> (Output, Duration) {
        let start = Instant::now();
        terminate(&self.child.0);
        while self.child.0.try_wait().expect("waitable").is_none() {
            if start.elapsed() > limit {
                let _ = self.child.0.kill();
                let _ = self.child.0.wait();
                panic!(
                    "pdk-runtime did not exit within {limit:?} of SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let took = start.elapsed();
        (self.finish(), took)
    }

    /// Waits for the runtime to exit by itself, at most `limit`.
    pub fn wait(mut self, limit: Duration) -> Output {
        let start = Instant::now();
        while self.child.0.try_wait().expect("waitable").is_none() {
            if start.elapsed() > limit {
                let _ = self.child.0.kill();
                let _ = self.child.0.wait();
                panic!(
                    "pdk-runtime did not exit within {limit:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.finish()
    }

    fn finish(self) -> Output {
        let Self {
            mut child,
            log,
            stdout,
            stderr,
        } = self;
        let status = child.0.wait().expect("waitable");
        let stdout = stdout.join().unwrap_or_default();
        let _ = stderr.join();
        let stderr = log
            .lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|line| format!("{line}\n"))
            .collect::<String>()
            .into_bytes();
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

/// Runs a Python 3 script with `args`; the machine's `python3` is a real
/// client independent of this project's Rust stack.
pub fn python(script: &str, args: &[&str]) -> Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs (it is part of every machine this project runs on)")
}

/// A real local HTTP/1.1 server (Python's `ThreadingHTTPServer`, a thread
/// per connection) that answers the first `failing` POSTs `503` and the
/// others `200` with `{"seen": N}` (N counting every request), and
/// reports every request it receives.
const HTTP_RECEIVER: &str = r#"
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
failing = int(sys.argv[1])
lock = threading.Lock()
seen = [0]
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        with lock:
            seen[0] += 1
            n = seen[0]
            print(json.dumps({"method": "POST", "path": self.path, "body": body}), flush=True)
        if n <= failing:
            status, kind, reply = 503, "text/plain", b"busy"
        else:
            status, kind, reply = 200, "application/json", json.dumps({"seen": n}).encode()
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// One request an [`HttpReceiver`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// `POST`.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The body, as text.
    pub body: String,
}

/// A real local HTTP server for the HTTP client tests (see
/// [`HTTP_RECEIVER`]); stopped when dropped.
pub struct HttpReceiver {
    child: Child,
    /// Where it listens.
    pub address: SocketAddr,
    requests: std::sync::mpsc::Receiver<Received>,
}

impl HttpReceiver {
    /// Starts it; it answers the first `failing` requests `503`.
    pub fn start(failing: usize) -> Self {
        let mut child = Command::new("python3")
            .args(["-c", HTTP_RECEIVER, &failing.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs (it is part of every machine this project runs on)");
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let port: u16 = lines
            .next()
            .and_then(Result::ok)
            .and_then(|line| line.parse().ok())
            .expect("the receiver prints its port");
        let (sender, requests) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let record: serde_json::Value =
                    serde_json::from_str(&line).expect("one JSON line per request");
                let field = |name: &str| record[name].as_str().unwrap_or_default().to_owned();
                let received = Received {
                    method: field("method"),
                    path: field("path"),
                    body: field("body"),
                };
                if sender.send(received).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            requests,
        }
    }

    /// The first `count` requests it received, waiting for them.
    pub fn requests(&self, count: usize) -> Vec<Received> {
        (0..count)
            .map(|i| {
                self.requests
                    .recv_timeout(LOG_WAIT)
                    .unwrap_or_else(|_| panic!("request {} never arrived", i + 1))
            })
            .collect()
    }

    /// Whether a request beyond those taken arrived.
    pub fn nothing_more(&self) -> bool {
        self.requests.try_recv().is_err()
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 held but not listened on: connections to it are
/// refused, and no other process can take it before the test listens on
/// it (`held.listen(n)`, then `TcpListener::from(held)`).
pub fn refused_port() -> (socket2::Socket, SocketAddr) {
    let held =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    held.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("a port on 127.0.0.1");
    let address = held
        .local_addr()
        .expect("its address")
        .as_socket()
        .expect("an IP address");
    (held, address)
}

/// The numbers a `probe_source` named `source` acknowledged on its stream
/// 1, in the order of the trace at `trace`.
pub fn acked_numbers(trace: &Path, source: &str) -> Vec<u64> {
    trace_of(&trace_lines(trace), source)
        .iter()
        .filter_map(|line| line.strip_prefix("ack 1 ")?.parse().ok())
        .collect()
}

/// The numbers `n` of the events `{"n": N}` in the JSON-lines file at
/// `path` (a line cut off by a kill is skipped).
pub fn numbers_in(path: &Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|event| event["n"].as_u64())
        .collect()
}

/// Waits until `done` holds, failing with `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
