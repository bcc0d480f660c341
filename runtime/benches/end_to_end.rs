//! End to end: blaster -> blackhole over realistic ~1 KB JSON records,
//! through plugins and with the connectors linked statically, alternating
//! runs, printing both throughputs and the ratio plugins / static.
//!
//! `cargo bench -p pdk-runtime --bench end_to_end`
//! (`PDK_BENCH_EVENTS`, default 1 000 000; `PDK_BENCH_RUNS`, default 5).

mod records;

use std::path::{Path, PathBuf};
use std::process::Command;

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

fn cargo_build(args: &[&str]) {
    let status = Command::new(env!("CARGO"))
        .arg("build")
        .arg("--release")
        .args(args)
        .current_dir(workspace())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build {args:?} failed");
}

/// Builds both runtimes and the plugins into `dir`; returns the two
/// runtime binaries (plugins, static).
fn build(dir: &Path) -> (PathBuf, PathBuf) {
    let release = workspace().join("target/release");
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    cargo_build(&["-p", "pdk-runtime", "-p", "blaster", "-p", "blackhole"]);
    let with_plugins = dir.join("pdk-runtime-plugins");
    std::fs::copy(release.join("pdk-runtime"), &with_plugins).unwrap();
    for plugin in ["blaster", "blackhole"] {
        let file = format!(
            "{}{plugin}.{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_EXTENSION
        );
        std::fs::copy(release.join(&file), plugins.join(&file)).unwrap();
    }
    cargo_build(&["-p", "pdk-runtime", "--features", "static-connectors"]);
    let linked = dir.join("pdk-runtime-static");
    std::fs::copy(release.join("pdk-runtime"), &linked).unwrap();
    (with_plugins, linked)
}

/// Writes the data and the flow; returns the flow file.
fn prepare(dir: &Path, events: u64) -> PathBuf {
    let data = dir.join("records.jsonl");
    let lines: Vec<String> = (0..DISTINCT_RECORDS).map(records::record).collect();
    let average = lines.iter().map(String::len).sum::<usize>() / lines.len();
    println!("data: {DISTINCT_RECORDS} distinct records, {average} bytes on average, {events} events per run");
    std::fs::write(&data, lines.join("\n") + "\n").unwrap();
    let flow = dir.join("flow.toml");
    let text = format!(
        r#"
[[connector]]
id = "blast"
type = "blaster"
config = {{ path = {data:?}, count = {events} }}

[[connector]]
id = "bh"
type = "blackhole"
config = {{ warmup = {} }}

[[link]]
from = "blast"
to = "bh"
"#,
        events / 10
    );
    std::fs::write(&flow, text).unwrap();
    flow
}

/// One run; returns events per second from the blackhole's summary.
fn run(runtime: &Path, flow: &Path, plugins: Option<&Path>) -> f64 {
    let mut command = Command::new(runtime);
    command.args(["run"]).arg(flow).arg("--isolated");
    if let Some(plugins) = plugins {
        command.arg("--plugin-path").arg(plugins);
    }
    let output = command
        .env("PDK_LOG", "warn")
        .output()
        .expect("the runtime runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .find_map(|kv| kv.strip_prefix("events_per_second="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no summary in: {text}"))
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
    let events = env_number("PDK_BENCH_EVENTS", 1_000_000);
    let runs = env_number("PDK_BENCH_RUNS", 5);
    let dir = workspace().join("target/bench-e2e");
    std::fs::create_dir_all(&dir).unwrap();
    let (with_plugins, linked) = build(&dir);
    let flow = prepare(&dir, events);
    let plugins = dir.join("plugins");
    let (mut through_plugins, mut through_static, mut ratios) =
        (Vec::new(), Vec::new(), Vec::new());
    for round in 0..runs {
        // Alternate which variant goes first, so drift hits both alike.
        let (p, s) = if round % 2 == 0 {
            let p = run(&with_plugins, &flow, Some(&plugins));
            (p, run(&linked, &flow, None))
        } else {
            let s = run(&linked, &flow, None);
            (run(&with_plugins, &flow, Some(&plugins)), s)
        };
        println!(
            "run {}: plugins {p:>10.0} events/s   static {s:>10.0} events/s   ratio {:.3}",
            round + 1,
            p / s
        );
        through_plugins.push(p);
        through_static.push(s);
        ratios.push(p / s);
    }
    let (p, s) = (median(&mut through_plugins), median(&mut through_static));
    println!("median: plugins {p:.0} events/s, static {s:.0} events/s");
    println!(
        "ratio plugins/static: median of runs {:.3}, of medians {:.3}",
        median(&mut ratios),
        p / s
    );
}
