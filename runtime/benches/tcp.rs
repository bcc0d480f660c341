//! Throughput of the TCP connectors on 127.0.0.1, through plugins: one
//! flow sends realistic ~1 KB JSON records with `blaster -> tcp_client`
//! to a `tcp_server` of the same flow, which decodes every line and hands
//! it to a `blackhole`; the blackhole's summary gives the figure.
//!
//! `cargo bench -p pdk-runtime --bench tcp`
//! (`PDK_BENCH_EVENTS`, default 200 000; `PDK_BENCH_RUNS`, default 5).

mod records;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Distinct records in the data file; the blaster loops over them.
const DISTINCT_RECORDS: u64 = 1_000;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds the runtime and the plugins in release mode and copies the
/// plugins into `plugins`; returns the runtime binary.
fn build(plugins: &Path) -> PathBuf {
    const PLUGINS: [&str; 4] = ["blaster", "blackhole", "tcp_client", "tcp_server"];
    let mut command = Command::new(env!("CARGO"));
    command.args(["build", "--release", "-p", "pdk-runtime"]);
    for plugin in PLUGINS {
        command.args(["-p", &format!("pdk-{}", plugin.replace('_', "-"))]);
    }
    let status = command
        .current_dir(workspace())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build failed");
    let release = workspace().join("target/release");
    std::fs::create_dir_all(plugins).unwrap();
    for plugin in PLUGINS {
        let file = format!(
            "{}{plugin}.{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_EXTENSION
        );
        std::fs::copy(release.join(&file), plugins.join(&file)).unwrap();
    }
    release.join("pdk-runtime")
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("an ephemeral port")
        .port()
}

/// The flow of one run, on a fresh port.
fn write_flow(dir: &Path, data: &Path, events: u64) -> PathBuf {
    let port = free_port();
    let warmup = events / 10;
    let path = dir.join("tcp.toml");
    let text = format!(
        r#"
[[connector]]
id = "blast"
type = "blaster"
config = {{ path = {data:?}, count = {events} }}

[[connector]]
id = "client"
type = "tcp_client"
config = {{ url = "127.0.0.1:{port}" }}

[[connector]]
id = "server"
type = "tcp_server"
config = {{ url = "127.0.0.1:{port}" }}

[[connector]]
id = "sink"
type = "blackhole"
config = {{ warmup = {warmup}, stop_after = {recorded} }}

[[link]]
from = "blast"
to = "client"

[[link]]
from = "server"
to = "sink"
"#,
        recorded = events - warmup
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// One run: events per second from the blackhole's summary. The server
/// keeps listening after the blackhole has printed, so the run is ended
/// by killing the runtime.
fn run(runtime: &Path, plugins: &Path, flow: &Path) -> f64 {
    let mut child = Command::new(runtime)
        .arg("run")
        .arg(flow)
        .arg("--isolated")
        .arg("--plugin-path")
        .arg(plugins)
        .env("PDK_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the runtime runs");
    let stdout = child.stdout.take().expect("piped");
    let summary = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|line| line.starts_with("blackhole "));
    let _ = child.kill();
    let _ = child.wait();
    let summary = summary.expect("the blackhole printed its summary");
    summary
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("events_per_second="))
        .and_then(|v| v.parse().ok())
        .expect("a rate in the summary")
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

fn main() {
    let events = env_number("PDK_BENCH_EVENTS", 200_000);
    let runs = env_number("PDK_BENCH_RUNS", 5);
    let dir = workspace().join("target/bench-tcp");
    let plugins = dir.join("plugins");
    let runtime = build(&plugins);
    let data = dir.join("records.jsonl");
    let lines: Vec<String> = (0..DISTINCT_RECORDS).map(records::record).collect();
    std::fs::write(&data, lines.join("\n") + "\n").unwrap();
    println!("== blaster -> tcp_client -> tcp_server -> blackhole, {events} events per run");
    let mut rates = Vec::new();
    for round in 1..=runs {
        let flow = write_flow(&dir, &data, events);
        let rate = run(&runtime, &plugins, &flow);
        println!("run {round}: {rate:>10.0} events/s");
        rates.push(rate);
    }
    println!("median: {:.0} events/s", median(&mut rates));
}
