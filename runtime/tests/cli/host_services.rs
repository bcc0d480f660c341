//! Plugins borrow the runtime's executor and timer: loading and running
//! more plugins, with timers and background tasks, starts no thread; a
//! plugin that uses tokio adds one thread, its runtime's worker.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{plugin_dir_with, spawn_flow, terminate, wait_at_most, write_flow};

/// A metronome ticking into stdout, forever for the length of a test.
const TICKS: &str = r#"
[[connector]]
id = "tick"
type = "metronome"
config = { interval_ms = 20, count = 100000 }

[[connector]]
id = "out"
type = "stdout"

[[link]]
from = "tick"
to = "out"
"#;

/// The names of the threads of process `pid`, counted, once they have
/// settled: the same in two looks 100 ms apart (a thread that is starting
/// has its process's name until it names itself).
fn threads_of(pid: u32) -> BTreeMap<String, usize> {
    let look = || {
        let mut names = BTreeMap::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
            // A thread that ended since the directory was read is gone.
            if let Ok(comm) = std::fs::read_to_string(task.unwrap().path().join("comm")) {
                *names.entry(comm.trim().to_owned()).or_default() += 1;
            }
        }
        names
    };
    let mut last = look();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let now = look();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the threads of process {pid} never settled: {last:?}");
}

/// Runs `flow` from `dir` until it has printed an event and `ready` holds,
/// then returns the threads of the runtime and stops it.
fn threads_while_running(
    dir: &Path,
    flow: &Path,
    ready: impl Fn() -> bool,
) -> BTreeMap<String, usize> {
    let mut child = spawn_flow(flow, dir);
    let mut first_line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    assert!(first_line.contains("\"tick\""), "first event: {first_line}");
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the flow never got ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let threads = threads_of(child.id());
    terminate(&child);
    let output = wait_at_most(child, Duration::from_secs(30));
    assert!(output.status.success(), "{output:?}");
    threads
}

#[test]
fn plugins_with_timers_and_tasks_start_no_thread_of_their_own() {
    let two = plugin_dir_with("threads-two", &["metronome", "stdout"]);
    let flow = write_flow(&two, "ticks.toml", TICKS);
    let baseline = threads_while_running(&two, &flow, || true);

    let five = plugin_dir_with(
        "threads-five",
        &["metronome", "stdout", "probe", "file", "blackhole"],
    );
    let trace = five.join("trace.txt");
    let flow = write_flow(
        &five,
        "busy.toml",
        &format!(
            r#"{TICKS}
[[connector]]
id = "fast"
type = "metronome"
config = {{ interval_ms = 5, count = 100000 }}

[[connector]]
id = "later"
type = "probe_sink"
config = {{ trace = {trace:?}, defer = true }}

[[connector]]
id = "null"
type = "file"
config = {{ path = "/dev/null" }}

[[connector]]
id = "counted"
type = "blackhole"

[[link]]
from = "fast"
to = ["later", "null", "counted"]
"#
        ),
    );
    let busy = threads_while_running(&five, &flow, || {
        // Deferred answers come from tasks on the runtime's timer.
        std::fs::read_to_string(&trace)
            .is_ok_and(|t| t.lines().filter(|l| l.contains(" event ")).count() >= 10)
    });
    assert_eq!(busy, baseline, "threads with 2 plugins vs with 5 plugins");
}

#[test]
fn sixty_four_independent_pipelines_run_on_as_many_workers_as_cores() {
    let dir = plugin_dir_with("threads-64", &["metronome", "stdout", "blackhole"]);
    let pairs: String = (1..64)
        .map(|i| {
            format!(
                r#"
[[connector]]
id = "tick{i}"
type = "metronome"
config = {{ interval_ms = 20, count = 100000 }}

[[connector]]
id = "sink{i}"
type = "blackhole"

[[link]]
from = "tick{i}"
to = "sink{i}"
"#
            )
        })
        .collect();
    let flow = write_flow(&dir, "sixty-four.toml", &format!("{TICKS}{pairs}"));
    let threads = threads_while_running(&dir, &flow, || true);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let workers = threads
        .iter()
        .filter(|(name, _)| name.starts_with("pdk-worker"))
        .map(|(_, count)| count)
        .sum::<usize>();
    assert_eq!(workers, cores, "one worker per core: {threads:?}");
    let all: usize = threads.values().sum();
    assert!(
        all <= cores + 4,
        "64 pipelines: {all} threads, more than cores + 4: {threads:?}"
    );
}

/// `count` `tokio_ticker` connectors of the `ecosystem` plugin (tokio
/// timers in `pull_data`), ticking into the `out` of [`TICKS`].
fn tokio_tickers(count: usize) -> String {
    (0..count)
        .map(|i| {
            format!(
                r#"
[[connector]]
id = "tokio{i}"
type = "tokio_ticker"
config = {{ interval_ms = 20, count = 100000 }}

[[link]]
from = "tokio{i}"
to = "out"
"#
            )
        })
        .collect()
}

#[test]
fn each_plugin_that_uses_tokio_adds_one_thread_however_many_connectors_it_runs() {
    let two = plugin_dir_with("tokio-threads-baseline", &["metronome", "stdout"]);
    let flow = write_flow(&two, "ticks.toml", TICKS);
    let baseline = threads_while_running(&two, &flow, || true);

    let one_plugin = plugin_dir_with("tokio-threads-one", &["metronome", "stdout", "ecosystem"]);
    let flow = write_flow(
        &one_plugin,
        "five.toml",
        &format!("{TICKS}{}", tokio_tickers(5)),
    );
    let five_connectors = threads_while_running(&one_plugin, &flow, || true);
    let mut expected = baseline.clone();
    expected.insert(String::from("tokio:ecosystem"), 1);
    assert_eq!(
        five_connectors, expected,
        "5 tokio connectors of one plugin: one runtime thread"
    );

    let three_plugins = plugin_dir_with(
        "tokio-threads-three",
        &["metronome", "stdout", "ecosystem", "tcp_server", "udp"],
    );
    let flow = write_flow(
        &three_plugins,
        "three.toml",
        &format!(
            r#"{TICKS}{}
[[connector]]
id = "tcp"
type = "tcp_server"
config = {{ url = "127.0.0.1:0" }}

[[connector]]
id = "udp"
type = "udp"
config = {{ url = "127.0.0.1:0" }}
"#,
            tokio_tickers(1)
        ),
    );
    let three = threads_while_running(&three_plugins, &flow, || true);
    // Linux keeps the first 15 bytes of a thread's name.
    for name in ["tokio:pdk-tcp-s", "tokio:pdk-udp"] {
        expected.insert(String::from(name), 1);
    }
    assert_eq!(three, expected, "3 plugins that use tokio: one thread each");
}
