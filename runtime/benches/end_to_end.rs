//! End to end over realistic ~1 KB JSON records, through plugins and with
//! the connectors built into the runtime, alternating runs, printing both
//! throughputs and the ratio plugins / static, for four flows:
//! - blaster -> blackhole (the blackhole's own throughput figure); the
//!   blackhole never reads a payload;
//! - blaster -> blackhole converting every payload to a `Value`
//!   (`materialize = true`);
//! - blaster -> blackhole reading every field of every payload in place
//!   (`read_fields = true`), as a sink that inspects fields would;
//! - blaster -> file on `/dev/null`, which serializes every event (events
//!   divided by the whole run's wall-clock time).
//!
//! Each round runs every flow, and before each flow the limit: one thread,
//! no runtime, copying each line, parsing it with simd-json into an owned
//! value (reusing the copy and simd-json's buffers, as the runtime does;
//! printed beside it, the same with fresh buffers), counting it and
//! dropping it; every build's share of that limit
//! is printed, and each flow's throughput over the first flow's, round by
//! round. Where valgrind is installed, callgrind also counts each flow's
//! instructions per event, in both builds, and those of `blaster ->
//! blackhole` with ~100-byte records beside the limit's.
//!
//! `cargo bench -p pdk-runtime --bench end_to_end`
//! (`PDK_BENCH_EVENTS`, default 1 000 000; `PDK_BENCH_RUNS`, default 5;
//! `PDK_BENCH_QUICK=1`: one short round that only checks it runs).

mod records;
mod setup;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Distinct records in the data file; the blaster loops over them.
const DISTINCT_RECORDS: u64 = 1_000;

/// Events in the shorter of the two runs callgrind counts.
const CALLGRIND_EVENTS: u64 = 10_000;

/// Builds the plugins in release mode into `dir/plugins`, and copies the
/// runtime (with its built-in connectors) into `dir`; returns the runtime.
/// Run with the plugin directory, the plugin files replace the built-in
/// connectors; run without it, the built-ins run in-process.
fn build(dir: &Path) -> PathBuf {
    let plugins = dir.join("plugins");
    setup::release_plugins(&["blaster", "blackhole", "file"], &plugins);
    let runtime = dir.join("pdk-runtime");
    std::fs::copy(setup::runtime(), &runtime).unwrap();
    assert_plugins_replace_builtins(&runtime, &plugins);
    runtime
}

/// Checks that, with `plugins` on the plugin path, the plugin files (not
/// the built-in connectors) provide the benchmarked types.
fn assert_plugins_replace_builtins(runtime: &Path, plugins: &Path) {
    let output = Command::new(runtime)
        .args([
            "plugins",
            "list",
            "--format",
            "json",
            "--isolated",
            "--plugin-path",
        ])
        .arg(plugins)
        .output()
        .expect("the runtime runs");
    let listing: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    for name in ["blaster", "blackhole", "file"] {
        let builtin = listing
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["status"] == "built-in" && e["connectors"][0]["name"] == name)
            .expect("a built-in entry");
        assert!(
            builtin["replaced_by"].is_string(),
            "the {name} plugin file must replace the built-in: {builtin}"
        );
    }
}

/// Writes the data and the flows; returns each flow's name and file.
fn prepare(dir: &Path, lines: &[String], events: u64) -> Vec<(&'static str, PathBuf)> {
    std::fs::create_dir_all(dir).unwrap();
    let data = dir.join("records.jsonl");
    std::fs::write(&data, lines.join("\n") + "\n").unwrap();
    let flow = |name: &str, sink: &str| {
        let path = dir.join(format!("{name}.toml"));
        let text = format!(
            "[[connector]]\nid = \"blast\"\ntype = \"blaster\"\nconfig = {{ path = {data:?}, count = {events} }}\n\n\
             [[connector]]\nid = \"sink\"\n{sink}\n\n\
             [[link]]\nfrom = \"blast\"\nto = \"sink\"\n"
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let warmup = events / 10;
    vec![
        (
            "blaster -> blackhole",
            flow(
                "blackhole",
                &format!("type = \"blackhole\"\nconfig = {{ warmup = {warmup} }}"),
            ),
        ),
        (
            "blaster -> blackhole converting every payload to a Value",
            flow(
                "materialize",
                &format!(
                    "type = \"blackhole\"\nconfig = {{ warmup = {warmup}, materialize = true }}"
                ),
            ),
        ),
        (
            "blaster -> blackhole reading every field in place",
            flow(
                "read-fields",
                &format!(
                    "type = \"blackhole\"\nconfig = {{ warmup = {warmup}, read_fields = true }}"
                ),
            ),
        ),
        (
            "blaster -> file (/dev/null)",
            flow("file", "type = \"file\"\nconfig = { path = \"/dev/null\" }"),
        ),
    ]
}

/// One run; returns events per second: the blackhole's figure if it
/// printed one, else `events` over the run's wall-clock time.
fn run(runtime: &Path, flow: &Path, plugins: Option<&Path>, events: u64) -> f64 {
    let mut command = Command::new(runtime);
    command.args(["run"]).arg(flow).arg("--isolated");
    if let Some(plugins) = plugins {
        command.arg("--plugin-path").arg(plugins);
    }
    let start = Instant::now();
    let output = command
        .env("PDK_LOG", "warn")
        .output()
        .expect("the runtime runs");
    let elapsed = start.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .find_map(|kv| kv.strip_prefix("events_per_second="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(events as f64 / elapsed)
}

/// Instructions the run of `flow` executes, in every thread, counted by
/// callgrind.
fn instructions(runtime: &Path, flow: &Path, plugins: Option<&Path>) -> u64 {
    let mut command = setup::callgrind(runtime);
    command.arg("run").arg(flow).arg("--isolated");
    if let Some(plugins) = plugins {
        command.arg("--plugin-path").arg(plugins);
    }
    setup::collected(command.env("PDK_LOG", "warn"))
}

/// Instructions per event of the flow `which` (an index into
/// [`prepare`]'s flows): the difference between runs of
/// [`CALLGRIND_EVENTS`] and twice as many events, over
/// [`CALLGRIND_EVENTS`], so that start-up and shutdown cancel out.
fn instructions_per_event(
    runtime: &Path,
    dir: &Path,
    lines: &[String],
    which: usize,
    plugins: Option<&Path>,
) -> f64 {
    let [once, twice] = [CALLGRIND_EVENTS, 2 * CALLGRIND_EVENTS].map(|events| {
        let flows = prepare(&dir.join(format!("callgrind-{events}")), lines, events);
        instructions(runtime, &flows[which].1, plugins)
    });
    twice.saturating_sub(once) as f64 / CALLGRIND_EVENTS as f64
}

/// The limit, in events per second: what one thread does per event with
/// no runtime at all (copy the line, parse it with simd-json into an owned
/// value, count it, drop it), over `events` events looping over `lines`;
/// with `reuse`, the copy and simd-json's buffers are reused from one
/// line to the next, as the runtime's decoder reuses them.
fn limit(lines: &[Vec<u8>], events: u64, reuse: bool) -> f64 {
    let start = Instant::now();
    let parsed = if reuse {
        parse_reusing(lines, events)
    } else {
        let mut parsed = 0u64;
        for line in lines
            .iter()
            .cycle()
            .take(usize::try_from(events).unwrap_or(usize::MAX))
        {
            let mut copy = line.clone();
            if simd_json::to_owned_value(&mut copy).is_ok() {
                parsed += 1;
            }
        }
        parsed
    };
    assert_eq!(parsed, events, "every record is valid JSON");
    events as f64 / start.elapsed().as_secs_f64()
}

/// Parses `events` lines of `lines` (cycled) into owned values, reusing
/// the copy and simd-json's buffers; returns how many parsed.
fn parse_reusing(lines: &[Vec<u8>], events: u64) -> u64 {
    let mut buffers = simd_json::Buffers::default();
    let mut copy = Vec::new();
    let mut parsed = 0u64;
    for line in lines
        .iter()
        .cycle()
        .take(usize::try_from(events).unwrap_or(usize::MAX))
    {
        copy.clear();
        copy.extend_from_slice(line);
        if simd_json::owned::to_value_with_buffers(&mut copy, &mut buffers).is_ok() {
            parsed += 1;
        }
    }
    parsed
}

/// Small record `i`: one flat line of JSON of about 100 bytes, as a
/// metric or an access-log line would be.
fn small_record(i: u64) -> String {
    let level = ["debug", "info", "warn", "error"][usize::try_from(i % 4).unwrap_or(0)];
    let service = ["checkout", "search", "auth"][usize::try_from(i % 3).unwrap_or(0)];
    format!(
        r#"{{"ts":{},"level":"{level}","service":"{service}","user":{},"latency_ms":{:.2},"ok":{}}}"#,
        1_700_000_000_000_u64 + i * 17,
        i * 7919 % 1_000_000,
        (i * 104_729 % 100_000) as f64 / 100.0,
        i % 4 != 0
    )
}

/// The variable that makes this executable run only the reusing limit,
/// `FILE:EVENTS`, for callgrind to count.
const LIMIT_ONLY: &str = "PDK_BENCH_LIMIT_ONLY";

/// Instructions per event of the reusing limit over the lines of `data`,
/// counted by callgrind as [`instructions_per_event`] counts a flow's.
fn limit_instructions_per_event(data: &Path) -> f64 {
    let [once, twice] = [CALLGRIND_EVENTS, 2 * CALLGRIND_EVENTS].map(|events| {
        setup::collected(
            setup::callgrind(&std::env::current_exe().expect("this executable"))
                .env(LIMIT_ONLY, format!("{}:{events}", data.display())),
        )
    });
    twice.saturating_sub(once) as f64 / CALLGRIND_EVENTS as f64
}

/// Runs the reusing limit as [`LIMIT_ONLY`] says.
fn run_limit_only(spec: &str) {
    let (file, events) = spec.rsplit_once(':').expect("FILE:EVENTS");
    let text = std::fs::read(file).expect("the data file");
    let lines: Vec<Vec<u8>> = text
        .split(|&byte| byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let events = events.parse().expect("a number of events");
    assert_eq!(parse_reusing(&lines, events), events);
}

/// One flow's throughputs, one entry per round.
#[derive(Default)]
struct Rounds {
    plugins: Vec<f64>,
    builtin: Vec<f64>,
    limit: Vec<f64>,
}

fn main() {
    if let Ok(spec) = std::env::var(LIMIT_ONLY) {
        run_limit_only(&spec);
        return;
    }
    let scale = setup::Scale::from_env(1_000_000, 5);
    let (events, runs) = (scale.events, scale.runs);
    let dir = setup::workspace().join("target/bench-e2e");
    std::fs::create_dir_all(&dir).unwrap();
    let runtime = build(&dir);
    let plugins = dir.join("plugins");
    let lines: Vec<String> = (0..DISTINCT_RECORDS).map(records::record).collect();
    let bytes: Vec<Vec<u8>> = lines.iter().map(|line| line.clone().into_bytes()).collect();
    let average = lines.iter().map(String::len).sum::<usize>() / lines.len();
    println!("data: {DISTINCT_RECORDS} distinct records, {average} bytes on average, {events} events per run");
    let flows = prepare(&dir, &lines, events);
    if !scale.quick && setup::has_valgrind() {
        println!("== instructions per event (callgrind)");
        for (which, (name, _)) in flows.iter().enumerate() {
            println!(
                "{name}: plugins {:.0}, static {:.0}",
                instructions_per_event(&runtime, &dir, &lines, which, Some(&plugins)),
                instructions_per_event(&runtime, &dir, &lines, which, None)
            );
        }
        let small_dir = dir.join("small");
        let small: Vec<String> = (0..DISTINCT_RECORDS).map(small_record).collect();
        let small_flows = prepare(&small_dir, &small, events);
        let small_average = small.iter().map(String::len).sum::<usize>() / small.len();
        let limit = limit_instructions_per_event(&small_dir.join("records.jsonl"));
        let (plugins, builtin) = (
            instructions_per_event(&runtime, &small_dir, &small, 0, Some(&plugins)),
            instructions_per_event(&runtime, &small_dir, &small, 0, None),
        );
        println!(
            "{} with {small_average}-byte records: plugins {plugins:.0}, static {builtin:.0}; \
             the limit reusing simd-json's buffers {limit:.0}; above it: plugins {:.0}, static {:.0}",
            small_flows[0].0,
            plugins - limit,
            builtin - limit
        );
    }
    // Every round runs every flow, so that the machine's drift hits all
    // flows alike, and each flow's figures can be compared with the first
    // flow's (the blackhole that reads nothing) round by round.
    let mut rounds: Vec<Rounds> = flows.iter().map(|_| Rounds::default()).collect();
    for round in 0..runs {
        println!("== round {}", round + 1);
        for ((name, flow), measured) in flows.iter().zip(&mut rounds) {
            let (reusing, fresh) = (limit(&bytes, events, true), limit(&bytes, events, false));
            // Alternate which variant goes first, so drift hits both alike.
            let (p, s) = if round % 2 == 0 {
                let p = run(&runtime, flow, Some(&plugins), events);
                (p, run(&runtime, flow, None, events))
            } else {
                let s = run(&runtime, flow, None, events);
                (run(&runtime, flow, Some(&plugins), events), s)
            };
            println!(
                "{name}: plugins {p:>8.0} events/s   static {s:>8.0} events/s   ratio {:.3}   limit {reusing:>8.0} events/s (fresh buffers {fresh:>8.0})",
                p / s
            );
            measured.plugins.push(p);
            measured.builtin.push(s);
            measured.limit.push(reusing);
        }
    }
    let first = &rounds[0];
    for ((name, _), measured) in flows.iter().zip(&rounds) {
        let ratio_of_runs = |a: &[f64], b: &[f64]| {
            setup::median(&mut a.iter().zip(b).map(|(a, b)| a / b).collect::<Vec<_>>())
        };
        let (p, s, l) = (
            setup::median(&mut measured.plugins.clone()),
            setup::median(&mut measured.builtin.clone()),
            setup::median(&mut measured.limit.clone()),
        );
        println!("== {name}");
        println!("median: plugins {p:.0} events/s, static {s:.0} events/s, limit {l:.0} events/s");
        println!(
            "share of the limit: plugins {:.2}, static {:.2}",
            p / l,
            s / l
        );
        println!(
            "ratio plugins/static: median of runs {:.3}, of medians {:.3}",
            ratio_of_runs(&measured.plugins, &measured.builtin),
            p / s
        );
        println!(
            "throughput / {}'s, median of rounds: plugins {:.3}, static {:.3}",
            flows[0].0,
            ratio_of_runs(&measured.plugins, &first.plugins),
            ratio_of_runs(&measured.builtin, &first.builtin)
        );
    }
}
