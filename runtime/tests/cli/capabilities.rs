//! Every capability of the connector model, through the real runtime and
//! the `probe` test plugin, which records each call in a trace file.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common::{plugin_dir_with, stderr, trace_lines, trace_of, write_flow, RunningFlow};

/// What one probe run left behind.
struct Run {
    output: Output,
    trace: Vec<String>,
}

impl Run {
    /// The trace lines of connector `alias`, without the alias.
    fn of(&self, alias: &str) -> Vec<String> {
        trace_of(&self.trace, alias)
    }

    /// Where `line` of `alias` first appears in the whole trace.
    fn position(&self, alias: &str, line: &str) -> usize {
        let full = format!("{alias} {line}");
        self.trace
            .iter()
            .position(|l| *l == full)
            .unwrap_or_else(|| panic!("`{full}` not in trace {:#?}", self.trace))
    }

    fn assert_success(&self) {
        assert!(
            self.output.status.success(),
            "stderr: {}",
            stderr(&self.output)
        );
    }

    /// Every one of `count` events was acknowledged at the source exactly
    /// once, and every failure the sink reported reached the source (a
    /// panicking sink fails an event without reporting it).
    fn assert_each_event_acked_once(&self, count: u64) {
        let src = self.of("src");
        let mut acked: Vec<u64> = src
            .iter()
            .filter_map(|l| l.strip_prefix("ack 1 "))
            .map(|n| n.parse().unwrap())
            .collect();
        acked.sort_unstable();
        assert_eq!(
            acked,
            (0..count).collect::<Vec<_>>(),
            "trace: {:#?}",
            self.trace
        );
        let fails_at_source = src.iter().filter(|l| l.starts_with("fail 1 ")).count();
        let fails_at_sink = self
            .of("sink")
            .iter()
            .filter(|l| l.ends_with(" fail"))
            .count();
        assert!(fails_at_source >= fails_at_sink, "trace: {:#?}", self.trace);
    }

    /// The sink acked each of `count` events exactly once: none was
    /// handled twice after a failure.
    fn assert_sink_acked_each_once(&self, count: u64) {
        let mut acked: Vec<u64> = self
            .of("sink")
            .iter()
            .filter_map(|l| l.strip_prefix("event ")?.strip_suffix(" ack"))
            .map(|n| n.parse().unwrap())
            .collect();
        acked.sort_unstable();
        assert_eq!(
            acked,
            (0..count).collect::<Vec<_>>(),
            "trace: {:#?}",
            self.trace
        );
    }
}

/// Runs `probe_source` (`count` events) -> `probe_sink` with extra config.
fn probe(test: &str, count: u64, source_extra: &str, sink_extra: &str) -> Run {
    probe_with_codec(test, count, source_extra, sink_extra, "json")
}

/// [`probe`], with the source's `codec` chosen.
fn probe_with_codec(
    test: &str,
    count: u64,
    source_extra: &str,
    sink_extra: &str,
    codec: &str,
) -> Run {
    probe_with_env(test, count, source_extra, sink_extra, codec, &[])
}

/// [`probe_with_codec`], with extra environment variables for the runtime.
fn probe_with_env(
    test: &str,
    count: u64,
    source_extra: &str,
    sink_extra: &str,
    codec: &str,
    env: &[(&str, &str)],
) -> Run {
    let (flow, trace) = probe_flow(test, count, source_extra, sink_extra, codec);
    let dir = flow
        .parent()
        .expect("the flow file is in its test's directory");
    // Bounded, so that a flow that never ends fails its test instead of
    // hanging it.
    let output = RunningFlow::start_with_env(&flow, dir, env).wait(Duration::from_secs(60));
    let trace = trace_lines(&trace);
    Run { output, trace }
}

/// Writes the flow of [`probe_with_env`] into a fresh directory with the
/// probe plugin; returns the flow file and the trace file.
fn probe_flow(
    test: &str,
    count: u64,
    source_extra: &str,
    sink_extra: &str,
    codec: &str,
) -> (PathBuf, PathBuf) {
    let dir = plugin_dir_with(test, &["probe"]);
    let trace = dir.join("trace.txt");
    let trace_toml = toml_string(&trace);
    let flow = write_flow(
        &dir,
        "probe.toml",
        &format!(
            r#"
[[connector]]
id = "src"
type = "probe_source"
codec = "{codec}"
config = {{ trace = {trace_toml}, count = {count} {source_extra} }}

[[connector]]
id = "sink"
type = "probe_sink"
config = {{ trace = {trace_toml} {sink_extra} }}

[[link]]
from = "src"
to = "sink"
"#
        ),
    );
    (flow, trace)
}

fn toml_string(path: &Path) -> String {
    format!("{:?}", path.to_str().unwrap())
}

#[test]
fn lifecycle_streams_and_acks_happen_in_order() {
    let run = probe("lifecycle", 3, "", "");
    run.assert_success();
    assert_eq!(
        run.of("src"),
        [
            "connect 1 1",
            "on_start",
            "stream_started 1",
            "ack 1 0",
            "ack 1 1",
            "ack 1 2",
            "stream_ended 1",
            "on_drain",
            "on_stop",
        ]
    );
    assert_eq!(
        run.of("sink"),
        [
            "on_start",
            "event 0 ack",
            "event 1 ack",
            "event 2 ack",
            "on_upstream_finished",
            "on_drain",
            "on_stop"
        ]
    );
}

#[test]
fn a_sink_holding_deferred_answers_is_drained_before_the_runtime_waits_for_them() {
    let (flow, trace) = probe_flow(
        "answer-on-drain",
        50,
        "",
        ", answer_on_drain = true",
        "json",
    );
    let dir = flow
        .parent()
        .expect("the flow file is in its test's directory");
    let running = RunningFlow::start(&flow, dir);
    // The source has sent every event and waits for their answers, which
    // the sink gives only in `on_drain`.
    wait_for_trace_line(&trace, "sink event 49 held");
    let (output, _) = running.terminate(Duration::from_secs(30));
    let run = Run {
        output,
        trace: trace_lines(&trace),
    };
    run.assert_success();
    run.assert_each_event_acked_once(50);
    let sink = run.of("sink");
    let drained = sink
        .iter()
        .position(|l| l == "on_drain")
        .expect("on_drain was called");
    assert_eq!(
        sink.iter().filter(|l| *l == "on_drain").count(),
        1,
        "{sink:#?}"
    );
    assert_eq!(sink[drained - 1], "on_upstream_finished", "{sink:#?}");
    assert_eq!(sink[drained + 1], "event 0 ack", "{sink:#?}");
    assert_eq!(
        sink.last().map(String::as_str),
        Some("on_stop"),
        "{sink:#?}"
    );
}

/// Waits until the trace file has `line`, at most 30 s.
fn wait_for_trace_line(trace: &Path, line: &str) {
    let start = std::time::Instant::now();
    while !trace_lines(trace).iter().any(|l| l == line) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "`{line}` never appeared in {:#?}",
            trace_lines(trace)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn raw_bytes_are_decoded_by_the_flows_codec() {
    let run = probe("bytes", 3, ", bytes = true", "");
    run.assert_success();
    run.assert_each_event_acked_once(3);
    assert_eq!(
        run.of("sink")[1..4],
        ["event 0 ack", "event 1 ack", "event 2 ack"],
        "the JSON codec (the default) turned the bytes into objects"
    );
    let run = probe_with_codec("bytes-string", 2, ", bytes = true", "", "string");
    run.assert_success();
    assert_eq!(
        run.of("sink")[1..3],
        [r#"event "{\"n\":0}" ack"#, r#"event "{\"n\":1}" ack"#],
        "the string codec kept the bytes as text"
    );
}

#[test]
fn failed_events_go_back_to_the_source_and_are_resent_until_acked() {
    let run = probe("fail-resend", 10, "", ", fail_every = 3");
    run.assert_success();
    run.assert_each_event_acked_once(10);
    assert!(run.of("src").iter().any(|l| l.starts_with("fail 1 ")));
}

#[test]
fn deferred_replies_from_a_background_task_reach_the_source() {
    let run = probe("deferred", 8, "", ", defer = true, fail_every = 4");
    run.assert_success();
    run.assert_each_event_acked_once(8);
    assert!(run.of("src").iter().any(|l| l.starts_with("fail 1 ")));
}

#[test]
fn a_closed_circuit_pauses_the_source_until_the_sink_opens_it() {
    let run = probe("circuit", 6, "", ", pause_sources_after = 2");
    run.assert_success();
    run.assert_each_event_acked_once(6);
    let paused = run.position("src", "on_pause");
    let resumed = run.position("src", "on_resume");
    assert!(paused < resumed);
    assert!(run.position("sink", "event 1 ack") < paused);
}

#[test]
fn a_lost_connection_is_reconnected() {
    let run = probe("lost", 4, ", lose_connection_after = 2", "");
    run.assert_success();
    run.assert_each_event_acked_once(4);
    assert!(
        run.of("src").contains(&String::from("connect 2 1")),
        "{:#?}",
        run.trace
    );
}

/// A panic in `method` of connector `alias` is reported with both names,
/// the runtime keeps running, and no event is lost. `method:sync` panics
/// in the synchronous part of a method written as `fn .. -> impl Future`,
/// before it returns its future.
fn assert_panic_contained(alias: &str, panic_in: &str, source_extra: &str, sink_extra: &str) {
    let method = panic_in.trim_end_matches(":sync");
    let panic_in = format!(r#", panic_in = "{panic_in}""#);
    let (source_extra, sink_extra) = if alias == "src" {
        (format!("{panic_in}{source_extra}"), sink_extra.to_owned())
    } else {
        (source_extra.to_owned(), format!("{panic_in}{sink_extra}"))
    };
    let run = probe(
        &format!(
            "panic-{alias}-{}",
            panic_in.replace(['"', ' ', ',', '=', ':'], "")
        ),
        4,
        &source_extra,
        &sink_extra,
    );
    run.assert_success();
    let err = stderr(&run.output);
    let reported = err.lines().any(|line| {
        line.contains(&format!("connector `{alias}`"))
            && line.contains(&format!("panicked in `{method}`: injected panic"))
    });
    assert!(
        reported,
        "no report naming `{alias}` and `{method}` in: {err}"
    );
    assert!(
        err.contains("injected panic (at test-plugins/probe/src/trace.rs:"),
        "the report names where the panic happened: {err}"
    );
    assert!(
        !err.contains("panicked at"),
        "the panic is reported once, by the runtime, not by std's hook too: {err}"
    );
    run.assert_each_event_acked_once(4);
}

#[test]
fn a_panic_in_any_source_method_is_contained_and_reported() {
    for method in [
        "connect",
        "on_start",
        "pull_data",
        "ack",
        "on_drain",
        "on_stop",
    ] {
        assert_panic_contained("src", method, "", "");
        assert_panic_contained("src", &format!("{method}:sync"), "", "");
    }
    for part in ["fail", "fail:sync"] {
        assert_panic_contained("src", part, "", ", fail_every = 2");
    }
    for part in ["on_pause", "on_pause:sync"] {
        assert_panic_contained("src", part, "", ", pause_sources_after = 1");
    }
}

#[test]
fn a_panic_in_any_sink_method_is_contained_and_reported() {
    for method in [
        "on_start",
        "on_event",
        "on_upstream_finished",
        "on_drain",
        "on_stop",
    ] {
        assert_panic_contained("sink", method, "", "");
        assert_panic_contained("sink", &format!("{method}:sync"), "", "");
    }
    assert_panic_contained("sink", "connect:sync", "", "");
}

#[test]
fn a_panic_in_a_task_holding_deferred_events_fails_them_back_and_restarts_the_connector() {
    let run = probe(
        "panic-worker",
        100,
        "",
        r#", defer_to_worker = true, panic_in = "worker""#,
    );
    run.assert_success();
    let err = stderr(&run.output);
    assert!(
        err.contains(
            "connector `sink`: a task it spawned failed: panicked in `spawn`: the worker gives up at event"
        ) && err.contains("(at test-plugins/probe/src/sink.rs:"),
        "the task's panic is a failure of its connector, with its location: {err}"
    );
    assert!(
        err.contains("connector `sink`: failing back"),
        "the events the task held are failed back: {err}"
    );
    assert!(!err.contains("panicked at"), "reported once: {err}");
    run.assert_each_event_acked_once(100);
    run.assert_sink_acked_each_once(100);
}

#[test]
fn a_panic_while_answering_deferred_events_fails_the_unanswered_ones_back() {
    let run = probe("panic-reply", 100, "", r#", batch = 8, panic_in = "reply""#);
    run.assert_success();
    let err = stderr(&run.output);
    assert!(
        err.contains("connector `sink`: `on_event` failed: panicked in `on_event`: injected panic")
            && err.contains("connector `sink`: failing back 3 deferred events"),
        "of a batch of 8, the 4 acked before the panic stay acked; the 3 deferred \
         before and not answered are failed back (the 8th fails with the call): {err}"
    );
    run.assert_each_event_acked_once(100);
    run.assert_sink_acked_each_once(100);
}

#[test]
fn a_panic_whose_payload_panics_when_dropped_is_contained_too() {
    let run = probe("bad-payload", 4, "", ", panic_with_bad_payload = true");
    run.assert_success();
    let err = stderr(&run.output);
    assert!(
        err.contains("connector `sink`: `on_event` failed: panicked in `on_event`: a panic without a message (at test-plugins/probe/src/sink.rs:"),
        "{err}"
    );
    run.assert_each_event_acked_once(4);
}

#[test]
fn a_panic_while_creating_stops_the_flow_before_it_starts() {
    let run = probe("panic-new", 3, r#", panic_in = "new""#, "");
    assert_eq!(run.output.status.code(), Some(2));
    let err = stderr(&run.output);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains(
            "connector `src` (type `probe_source`): could not be created: panicked in `new`: \
             injected panic (at test-plugins/probe/src/trace.rs:"
        ) && last.ends_with("); fix: fix the plugin providing `probe_source`"),
        "{err}"
    );
    assert!(run.trace.is_empty(), "nothing may run: {:#?}", run.trace);
}

#[test]
fn a_typed_config_error_names_the_connector_and_the_field() {
    let run = probe("bad-config", 3, "", r#", fail_every = "often""#);
    assert_eq!(run.output.status.code(), Some(2));
    let err = stderr(&run.output);
    assert!(
        err.contains(
            "connector `sink` (type `probe_sink`) config: field `fail_every`: invalid type: \
             string \"often\", expected u64"
        ),
        "{err}"
    );
}

/// The runtime's standard error after a probe run with `PDK_LOG=filter`.
fn probe_log(test: &str, filter: &str) -> String {
    let run = probe_with_env(test, 2, "", "", "json", &[("PDK_LOG", filter)]);
    run.assert_success();
    stderr(&run.output)
}

#[test]
fn plugin_log_records_reach_the_runtime_tagged_and_filtered() {
    let info = probe_log("log_info", "info");
    assert!(
        info.contains(" INFO  probe/src] starting with 2 events to send\n"),
        "stderr: {info}"
    );
    assert!(
        info.contains(" INFO  probe/sink] a background task says hello\n"),
        "a spawned task's records carry its connector's tag; stderr: {info}"
    );
    assert!(!info.contains("resending failed events"), "stderr: {info}");

    let debug = probe_log("log_debug", "info,probe=debug");
    assert!(
        debug.contains(" DEBUG probe/src] resending failed events\n"),
        "stderr: {debug}"
    );

    let warn = probe_log("log_warn", "warn");
    assert!(!warn.contains("starting with"), "stderr: {warn}");
    assert!(!warn.contains("background task"), "stderr: {warn}");
}
