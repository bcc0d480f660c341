//! Throughput as flows are added: one runtime runs `N` independent
//! pipelines `blaster -> blackhole` (plugin files, ~1 KB JSON records),
//! for `N` = 1, 2, 8 and 64, the same number of events in all. The figure
//! is the events over the run's wall-clock time less that of the same
//! flow sending one event per pipeline, run just before (starting and
//! stopping 64 pipelines takes a tenth of a second, which is not
//! throughput); printed beside it, how many threads the runtime had while
//! it ran (read from `/proc` in its first half second). The counts
//! alternate within each round.
//!
//! `cargo bench -p pdk-runtime --bench flows` (`PDK_BENCH_EVENTS`, all
//! events of one run, default 2 000 000; `PDK_BENCH_RUNS`, default 5;
//! `PDK_BENCH_QUICK=1`: one short round that only checks it runs).

mod records;
mod setup;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Distinct records in the data file; the blasters loop over them.
const DISTINCT_RECORDS: u64 = 1_000;

/// The numbers of independent pipelines measured.
const PIPELINES: [u64; 4] = [1, 2, 8, 64];

/// A flow of `pipelines` independent `blaster -> blackhole` pipelines
/// sending `events` in all.
fn write_flow(dir: &Path, data: &Path, pipelines: u64, events: u64) -> PathBuf {
    let each = events / pipelines;
    let text: String = (0..pipelines)
        .map(|i| {
            format!(
                "[[connector]]\nid = \"blast{i}\"\ntype = \"blaster\"\n\
                 config = {{ path = {data:?}, count = {each} }}\n\n\
                 [[connector]]\nid = \"sink{i}\"\ntype = \"blackhole\"\n\n\
                 [[link]]\nfrom = \"blast{i}\"\nto = \"sink{i}\"\n\n"
            )
        })
        .collect();
    let path = dir.join(format!("flows-{pipelines}-{each}.toml"));
    std::fs::write(&path, text).expect("the flow file");
    path
}

/// The threads of process `pid`.
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count)
}

/// One run: its wall-clock time, and the runtime's threads once its
/// pipelines run (the most seen in its first half second).
fn run(flow: &Path, plugins: &Path) -> (Duration, usize) {
    let started = Instant::now();
    let mut child = Command::new(setup::runtime())
        .arg("run")
        .arg(flow)
        .arg("--isolated")
        .arg("--plugin-path")
        .arg(plugins)
        .env("PDK_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("the runtime runs");
    let mut most = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("the runtime's status") {
            break status;
        }
        if started.elapsed() < Duration::from_millis(500) {
            most = most.max(threads(child.id()));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(status.success(), "the flow failed");
    (started.elapsed(), most)
}

fn main() {
    let setup::Scale { events, runs, .. } = setup::Scale::from_env(2_000_000, 5);
    let dir = setup::workspace().join("target/bench-flows");
    let plugins = dir.join("plugins");
    setup::release_plugins(&["blaster", "blackhole"], &plugins);
    let data = dir.join("records.jsonl");
    let lines: Vec<String> = (0..DISTINCT_RECORDS).map(records::record).collect();
    std::fs::write(&data, lines.join("\n") + "\n").expect("the data file");
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "== N independent blaster -> blackhole pipelines, {events} events in all, {cores} cores"
    );
    let mut rates: Vec<Vec<f64>> = PIPELINES.iter().map(|_| Vec::new()).collect();
    for round in 0..runs {
        for turn in 0..PIPELINES.len() {
            let which = (turn + usize::try_from(round).unwrap_or(0)) % PIPELINES.len();
            let pipelines = PIPELINES[which];
            let (one_each, _) = run(&write_flow(&dir, &data, pipelines, pipelines), &plugins);
            let (took, threads) = run(&write_flow(&dir, &data, pipelines, events), &plugins);
            let rate = (events - pipelines) as f64 / took.saturating_sub(one_each).as_secs_f64();
            println!(
                "run {}: {pipelines:>2} pipelines {rate:>9.0} events/s, {threads} threads",
                round + 1
            );
            rates[which].push(rate);
        }
    }
    let one = setup::median(&mut rates[0].clone());
    for (pipelines, rates) in PIPELINES.iter().zip(&mut rates) {
        let rate = setup::median(rates);
        println!(
            "median: {pipelines:>2} pipelines {rate:>9.0} events/s, {:.2} × one pipeline",
            rate / one
        );
    }
}
