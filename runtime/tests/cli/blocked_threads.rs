//! Connectors that block their thread: the watchdog names them, the
//! other connectors keep running, and the drain after SIGTERM is bounded.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{plugin_dir_with, write_flow, RunningFlow};

/// The flow's drain bound in these tests.
const DRAIN_BOUND_MS: u64 = 3000;

/// How many lines the file sink at `path` has written.
fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

/// Waits until the file at `path` has more than `count` lines; returns
/// whether it did within `limit`.
fn grows_past(path: &Path, count: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if lines_in(path) > count {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn two_connectors_that_block_for_a_minute_neither_stop_a_third_flow_nor_the_drain() {
    let dir = plugin_dir_with("blocked-threads", &["blocking", "metronome", "file"]);
    let out = dir.join("out.txt");
    let flow = write_flow(
        &dir,
        "blocked.toml",
        &format!(
            r#"
drain_timeout_ms = {DRAIN_BOUND_MS}

[[connector]]
id = "tick1"
type = "metronome"
config = {{ interval_ms = 1, count = 1 }}

[[connector]]
id = "sleeper"
type = "thread_blocker"
config = {{ block_ms = 60000 }}

[[connector]]
id = "tick2"
type = "metronome"
config = {{ interval_ms = 1, count = 1 }}

[[connector]]
id = "spinner"
type = "thread_blocker"
config = {{ block_ms = 60000, spin = true }}

[[connector]]
id = "steady"
type = "metronome"
config = {{ interval_ms = 2, count = 1000000 }}

[[connector]]
id = "out"
type = "file"
config = {{ path = {out:?} }}

[[link]]
from = "tick1"
to = "sleeper"

[[link]]
from = "tick2"
to = "spinner"

[[link]]
from = "steady"
to = "out"
"#
        ),
    );
    let running = RunningFlow::start(&flow, &dir);
    for blocker in ["sleeper", "spinner"] {
        let line = running.wait_for_log(&format!(
            "connector `{blocker}`: `on_event` has blocked its thread for"
        ));
        assert!(
            line.contains("the runtime lends its pipeline another thread meanwhile")
                && line.contains("fix: await instead of blocking"),
            "{line}"
        );
    }
    // Both blockers hold their pipelines' threads by now; the third
    // pipeline goes on.
    let before = lines_in(&out);
    assert!(
        grows_past(&out, before + 100, Duration::from_secs(30)),
        "the third flow stopped while two connectors block: {before} lines, then {}; log:\n{}",
        lines_in(&out),
        running.log()
    );
    let (output, took) = running.terminate(Duration::from_millis(DRAIN_BOUND_MS + 10_000));
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains("the drain did not finish within 3.0 s: ")
            && last.contains("connector `sleeper` (blocked in `on_event` for")
            && last.contains("connector `spinner` (blocked in `on_event` for")
            && !last.contains("`tick1`")
            && !last.contains("`tick2`")
            && !last.contains("`steady`")
            && !last.contains("`out`"),
        "the report names the two blocked connectors, and only them (the metronomes linked \
         to them drain on the threads lent to their pipelines): {last}"
    );
    assert!(
        took < Duration::from_millis(DRAIN_BOUND_MS + 2000),
        "the first SIGTERM ends the runtime at the drain bound, not after the 60 s blocks: took {took:?}"
    );
    assert!(
        lines_in(&out) > before + 100,
        "what the third flow wrote stays written"
    );
}

#[test]
fn tasks_that_block_their_threads_are_named_and_stop_no_other_connector() {
    let dir = plugin_dir_with("blocked-tasks", &["blocking", "metronome", "file"]);
    let out = dir.join("out.txt");
    // One slow tick every 20 ms: without its 2 ms flush (a task of the
    // file sink), a line would reach the file only with the 256th event.
    let flow = write_flow(
        &dir,
        "blocked-tasks.toml",
        &format!(
            r#"
drain_timeout_ms = {DRAIN_BOUND_MS}

[[connector]]
id = "tick"
type = "metronome"
config = {{ interval_ms = 1, count = 1 }}

[[connector]]
id = "blocker"
type = "thread_blocker"
config = {{ block_ms = 60000, blocking_tasks = 2 }}

[[connector]]
id = "steady"
type = "metronome"
config = {{ interval_ms = 20, count = 1000000 }}

[[connector]]
id = "out"
type = "file"
config = {{ path = {out:?} }}

[[link]]
from = "tick"
to = "blocker"

[[link]]
from = "steady"
to = "out"
"#
        ),
    );
    let running = RunningFlow::start(&flow, &dir);
    let named = running.wait_for_logs(
        "it spawned (with `pdk::task::spawn`) has blocked its thread for",
        2,
    );
    assert!(
        named.len() == 2
            && named
                .iter()
                .all(|line| line.contains("connector `blocker`: task ")
                    && line.contains("fix: await instead of blocking")),
        "both blocked tasks are named, with their connector: {named:#?}"
    );
    // As many blocked tasks as the machine has cores would have held every
    // thread of a shared pool; the file sink's flush still runs, so each
    // tick is in the file within far less than 256 ticks (5 s).
    let before = lines_in(&out);
    assert!(
        grows_past(&out, before + 10, Duration::from_millis(2500)),
        "the file sink stopped acknowledging while two tasks block: {before} lines, then {}; log:\n{}",
        lines_in(&out),
        running.log()
    );
    let (output, _) = running.terminate(Duration::from_millis(DRAIN_BOUND_MS + 10_000));
    assert!(
        lines_in(&out) > before + 10,
        "what the file sink acknowledged stays written: {output:?}"
    );
}
