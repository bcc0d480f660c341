//! Supervision: a failing connector gets its events failed back to their
//! sources and is reconnected, until it spends its failure budget
//! (`restart`); then it is stopped and the rest of the flow goes on.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{plugin_dir_with, run_flow, stderr, trace_lines, trace_of, write_flow};

/// A flow's run and the probe trace it left.
struct Supervised {
    output: Output,
    trace: Vec<String>,
}

impl Supervised {
    /// Runs `flow` (with `{trace}` standing for the trace file's path) with
    /// the probe plugin.
    fn run(test: &str, flow: &str) -> Self {
        let dir = plugin_dir_with(test, &["probe"]);
        let trace = dir.join("trace.txt");
        let flow = flow.replace("{trace}", &format!("{:?}", path_str(&trace)));
        let output = run_flow(&write_flow(&dir, "flow.toml", &flow), &dir);
        let trace = trace_lines(&trace);
        Self { output, trace }
    }

    /// The events (by `n`) acknowledged at source `alias`, sorted.
    fn acked(&self, alias: &str) -> Vec<u64> {
        self.settled(alias, "ack")
    }

    /// The events (by `n`) failed back to source `alias`, sorted.
    fn failed(&self, alias: &str) -> Vec<u64> {
        self.settled(alias, "fail")
    }

    fn settled(&self, alias: &str, verdict: &str) -> Vec<u64> {
        let prefix = format!("{verdict} 1 ");
        let mut events: Vec<u64> = trace_of(&self.trace, alias)
            .iter()
            .filter_map(|line| line.strip_prefix(&prefix))
            .map(|n| n.parse().unwrap())
            .collect();
        events.sort_unstable();
        events
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

#[test]
fn events_a_failing_sink_held_are_failed_back_and_resent_after_it_reconnects() {
    let run = Supervised::run(
        "failed-back",
        r#"
[[connector]]
id = "src"
type = "probe_source"
config = { trace = {trace}, count = 5 }

[[connector]]
id = "sink"
type = "probe_sink"
config = { trace = {trace}, hold_first = 2, error_at = [3] }

[[link]]
from = "src"
to = "sink"
"#,
    );
    let err = stderr(&run.output);
    assert!(run.output.status.success(), "stderr: {err}");
    assert!(
        err.contains("connector `sink`: `on_event` failed: injected error"),
        "stderr: {err}"
    );
    assert!(
        err.contains("connector `sink`: failing back 2 deferred events"),
        "stderr: {err}"
    );
    assert_eq!(
        trace_of(&run.trace, "sink")[1..4],
        ["event 0 held", "event 1 held", "event 2 error"]
    );
    assert_eq!(run.failed("src"), [0, 1, 2], "trace: {:#?}", run.trace);
    assert_eq!(run.acked("src"), [0, 1, 2, 3, 4], "trace: {:#?}", run.trace);
}

#[test]
fn a_connector_that_spends_its_failure_budget_is_stopped_and_the_rest_of_the_flow_goes_on() {
    let run = Supervised::run(
        "budget",
        r#"
[[connector]]
id = "src"
type = "probe_source"
config = { trace = {trace}, count = 10 }

[[connector]]
id = "sink"
type = "probe_sink"
config = { trace = {trace}, hold_first = 2, error_at = [3, 5, 7, 9] }
restart = { max_failures = 3, window_secs = 600, backoff_ms = 1 }

[[connector]]
id = "src2"
type = "probe_source"
config = { trace = {trace}, count = 10 }

[[connector]]
id = "sink2"
type = "probe_sink"
config = { trace = {trace} }

[[link]]
from = "src"
to = "sink"

[[link]]
from = "src2"
to = "sink2"
"#,
    );
    let err = stderr(&run.output);
    assert_eq!(run.output.status.code(), Some(1), "stderr: {err}");
    let report = "connector `sink`: failed 3 times within 600 s \
                  (restart.max_failures = 3, restart.window_secs = 600); \
                  stopped, the rest of the flow goes on";
    assert!(err.contains(report), "stderr: {err}");
    assert!(
        err.lines()
            .last()
            .unwrap()
            .starts_with("error: connector `sink`: failed 3 times"),
        "the exit names the stopped connector; stderr: {err}"
    );
    assert_eq!(
        trace_of(&run.trace, "sink")
            .iter()
            .filter(|l| l.ends_with(" error"))
            .count(),
        3,
        "no call after the third failure; trace: {:#?}",
        run.trace
    );
    // Every event the stopped sink held (0, 1) or failed (2) came back as
    // a fail, and its source stopped; the sink worked between its
    // failures (each is an outage of its own), so some resent events were
    // acknowledged, each once. (Under load a resent copy may reach the
    // sink before it is stopped, and be failed back once more.)
    let acked = run.acked("src");
    let mut once = acked.clone();
    once.dedup();
    assert!(!acked.is_empty() && once == acked, "acks: {acked:?}");
    let failed = run.failed("src");
    assert!(
        [0, 1, 2].iter().all(|n| failed.contains(n)),
        "fails: {failed:?}"
    );
    assert!(
        err.contains("connector `src`: every connector it sends to has stopped; its source stops"),
        "stderr: {err}"
    );
    assert!(trace_of(&run.trace, "src").ends_with(&["on_drain".into(), "on_stop".into()]));
    // The other branch ran to its end.
    assert_eq!(run.acked("src2"), (0..10).collect::<Vec<_>>());
}

#[test]
fn a_zero_failure_budget_is_a_flow_error() {
    let dir: PathBuf = plugin_dir_with("budget-zero", &["probe"]);
    let flow = write_flow(
        &dir,
        "flow.toml",
        r#"
[[connector]]
id = "sink"
type = "probe_sink"
config = { trace = "/dev/null" }
restart = { max_failures = 0 }
"#,
    );
    let output = run_flow(&flow, &dir);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains(
            "flow.toml: line 6, column 28: invalid value: integer `0`, expected a nonzero u32"
        ),
        "stderr: {err}"
    );
}

#[test]
fn a_sink_failing_for_half_a_second_reconnects_with_backoff_and_every_event_arrives() {
    let run = Supervised::run(
        "half-second-outage",
        r#"
[[connector]]
id = "src"
type = "probe_source"
config = { trace = {trace}, count = 200 }

[[connector]]
id = "sink"
type = "probe_sink"
config = { trace = {trace}, error_for_ms = 500 }

[[link]]
from = "src"
to = "sink"
"#,
    );
    let err = stderr(&run.output);
    assert!(
        run.output.status.success(),
        "the default budget survives a short outage; stderr: {err}"
    );
    assert_eq!(run.acked("src"), (0..200).collect::<Vec<_>>());
    let about_it = err
        .lines()
        .filter(|l| l.contains("connector `sink`"))
        .count();
    assert!(
        (2..50).contains(&about_it),
        "{about_it} log lines about the outage (each failure waits its backoff): {err}"
    );
}

#[test]
fn a_sink_that_connects_but_never_works_is_stopped() {
    let run = Supervised::run(
        "never-works",
        r#"
[[connector]]
id = "src"
type = "probe_source"
config = { trace = {trace}, count = 5 }

[[connector]]
id = "sink"
type = "probe_sink"
config = { trace = {trace}, error_for_ms = 600000 }
restart = { backoff_ms = 10, max_backoff_ms = 40 }

[[link]]
from = "src"
to = "sink"
"#,
    );
    let err = stderr(&run.output);
    assert_eq!(run.output.status.code(), Some(1), "stderr: {err}");
    assert!(
        err.contains("connector `sink`: failed 5 times within 60 s"),
        "stderr: {err}"
    );
}

#[test]
fn a_lost_connection_reported_for_a_replaced_connection_is_ignored() {
    let run = Supervised::run(
        "stale-lost",
        r#"
[[connector]]
id = "src"
type = "probe_source"
config = { trace = {trace}, count = 20 }

[[connector]]
id = "sink"
type = "probe_sink"
config = { trace = {trace}, lose_connection_at = 3 }

[[link]]
from = "src"
to = "sink"
"#,
    );
    let err = stderr(&run.output);
    assert!(run.output.status.success(), "stderr: {err}");
    let connects = trace_of(&run.trace, "sink")
        .iter()
        .filter(|line| *line == "connect")
        .count();
    assert_eq!(
        connects, 2,
        "connected at the start and once after the failure, not again for the report \
         its old connection's task sent during the backoff; trace: {:#?}",
        run.trace
    );
    assert_eq!(run.acked("src"), (0..20).collect::<Vec<_>>());
}
