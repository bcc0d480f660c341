//! The bundled connectors and the event semantics of issue 4, on the real
//! binary: no event lost, graceful drain, the blackhole's summary, the file
//! source (the network connectors are in `network.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::common::{
    plugin_dir_with, run_flow, spawn_flow, stderr, stdout, terminate, trace_lines, wait_at_most,
    write_flow,
};

/// How many events the no-loss tests send.
const EVENTS: usize = 100_000;

/// Writes `lines` distinct, realistic JSON records (nested objects, arrays,
/// several field types) to `path`, one per line, and returns them.
fn write_records(path: &Path, lines: usize) -> Vec<String> {
    let records: Vec<String> = (0..lines)
        .map(|i| {
            let level = ["info", "warn", "error"][i % 3];
            serde_json::json!({
                "id": i,
                "level": level,
                "message": format!("request {i} served"),
                "latency_ms": (i as f64) * 0.25,
                "ok": i % 7 != 0,
                "tags": ["a", "b", i.to_string()],
                "http": { "status": 200 + (i % 5), "path": format!("/api/{i}"), "headers": { "x-id": i } },
                "nothing": null,
            })
            .to_string()
        })
        .collect();
    std::fs::write(path, records.join("\n") + "\n").unwrap();
    records
}

fn parse_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Writes a flow `blaster` (replaying `in.jsonl` of `dir`, `count` events)
/// -> one sink of type `sink_type` with id `sink` and config `sink_config`.
fn blaster_flow(dir: &Path, count: usize, sink_type: &str, sink_config: &str) -> PathBuf {
    write_flow(
        dir,
        "flow.toml",
        &format!(
            r#"
[[connector]]
id = "blast"
type = "blaster"
config = {{ path = {:?}, count = {count} }}

[[connector]]
id = "sink"
type = "{sink_type}"
config = {sink_config}

[[link]]
from = "blast"
to = "sink"
"#,
            dir.join("in.jsonl")
        ),
    )
}

#[test]
fn every_blasted_event_reaches_the_file_sink_once_and_unchanged() {
    let dir = plugin_dir_with("blast-file", &["blaster", "file"]);
    let records = write_records(&dir.join("in.jsonl"), 100);
    let out = dir.join("out.jsonl");
    let flow = blaster_flow(&dir, EVENTS, "file", &format!("{{ path = {out:?} }}"));
    let output = run_flow(&flow, &dir);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let written = parse_lines(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(written.len(), EVENTS);
    let expected: Vec<Value> = records
        .iter()
        .map(|r| serde_json::from_str(r).unwrap())
        .collect();
    for (i, line) in written.iter().enumerate() {
        assert_eq!(line, &expected[i % expected.len()], "line {i}");
    }
}

#[test]
fn no_event_is_lost_when_a_sink_fails_one_in_ten_and_the_source_resends() {
    let dir = plugin_dir_with("blast-fail", &["blaster", "probe"]);
    let records = write_records(&dir.join("in.jsonl"), 100);
    let out = dir.join("out.jsonl");
    let flow = blaster_flow(
        &dir,
        EVENTS,
        "probe_sink",
        &format!(
            "{{ trace = {:?}, fail_every = 10, output = {out:?} }}",
            dir.join("trace.txt")
        ),
    );
    let output = run_flow(&flow, &dir);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let trace = std::fs::read_to_string(dir.join("trace.txt")).unwrap();
    let failed = trace.lines().filter(|l| l.ends_with(" fail")).count();
    assert!(
        failed >= EVENTS / 10,
        "the sink failed only {failed} events"
    );
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in parse_lines(&std::fs::read_to_string(&out).unwrap()) {
        *counts.entry(line.to_string()).or_default() += 1;
    }
    assert_eq!(counts.len(), records.len());
    for record in &records {
        let key = serde_json::from_str::<Value>(record).unwrap().to_string();
        assert_eq!(
            counts.get(&key),
            Some(&(EVENTS / records.len())),
            "{record}"
        );
    }
}

#[test]
fn sigterm_drains_the_flow_and_exits_zero() {
    let dir = plugin_dir_with("sigterm", &["probe"]);
    let trace = dir.join("trace.txt");
    let flow = write_flow(
        &dir,
        "flow.toml",
        &format!(
            r#"
[[connector]]
id = "src"
type = "probe_source"
config = {{ trace = {trace:?}, count = 100000000 }}

[[connector]]
id = "sink"
type = "probe_sink"
config = {{ trace = {trace:?} }}

[[link]]
from = "src"
to = "sink"
"#
        ),
    );
    let runtime = spawn_flow(&flow, &dir);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while trace_lines(&trace).len() < 50 {
        assert!(std::time::Instant::now() < deadline, "no events flowed");
        std::thread::sleep(Duration::from_millis(20));
    }
    terminate(&runtime);
    let output = wait_at_most(runtime, Duration::from_secs(20));
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let trace = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = trace.lines().collect();
    for hook in [
        "src on_drain",
        "src on_stop",
        "sink on_drain",
        "sink on_stop",
    ] {
        assert!(lines.contains(&hook), "`{hook}` missing");
    }
    let delivered = lines
        .iter()
        .filter(|l| l.starts_with("sink event "))
        .count();
    let acked = lines.iter().filter(|l| l.starts_with("src ack ")).count();
    assert!(delivered > 0);
    assert_eq!(
        acked, delivered,
        "every event in flight was finished and acked"
    );
}

#[test]
fn blackhole_prints_its_summary_in_the_documented_format() {
    let dir = plugin_dir_with("blackhole", &["blaster", "blackhole"]);
    write_records(&dir.join("in.jsonl"), 10);
    let flow = blaster_flow(&dir, 1000, "blackhole", "{ warmup = 100 }");
    let output = run_flow(&flow, &dir);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    let line = text.lines().next().unwrap_or_default();
    let fields: Vec<(&str, &str)> = line
        .strip_prefix("blackhole ")
        .unwrap_or_else(|| panic!("{line}"))
        .split(' ')
        .map(|kv| {
            kv.split_once('=')
                .unwrap_or_else(|| panic!("{kv} in {line}"))
        })
        .collect();
    let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        keys,
        [
            "id",
            "events",
            "seconds",
            "events_per_second",
            "p50_us",
            "p90_us",
            "p99_us",
            "p99_9_us",
            "max_us"
        ]
    );
    assert_eq!(fields[0].1, "sink");
    assert_eq!(fields[1].1, "900");
    let number = |i: usize| fields[i].1.parse::<f64>().unwrap();
    assert!(number(2) > 0.0 && number(3) > 0.0);
    assert!(
        number(4) <= number(5)
            && number(5) <= number(6)
            && number(6) <= number(7)
            && number(7) <= number(8)
    );
}

#[test]
fn file_source_reads_every_line_through_the_codec() {
    let dir = plugin_dir_with("file-source", &["file", "stdout"]);
    std::fs::write(dir.join("in.txt"), "plain text\nsecond line\n").unwrap();
    let flow = write_flow(
        &dir,
        "flow.toml",
        &format!(
            r#"
[[connector]]
id = "in"
type = "file"
codec = "string"
config = {{ path = {:?} }}

[[connector]]
id = "out"
type = "stdout"

[[link]]
from = "in"
to = "out"
"#,
            dir.join("in.txt")
        ),
    );
    let output = run_flow(&flow, &dir);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert_eq!(stdout(&output), "\"plain text\"\n\"second line\"\n");
}

#[test]
fn a_line_nested_too_deeply_is_dropped_by_the_codec_and_the_flow_goes_on() {
    let dir = plugin_dir_with("file-deep", &["file", "stdout"]);
    // Decoded recursively, this line would overflow the pipeline
    // thread's stack and abort the runtime.
    let depth = 100_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    std::fs::write(
        dir.join("in.txt"),
        format!("{{\"a\":1}}\n{deep}\n{{\"b\":2}}\n"),
    )
    .unwrap();
    let flow = write_flow(
        &dir,
        "flow.toml",
        &format!(
            "[[connector]]\nid = \"in\"\ntype = \"file\"\nconfig = {{ path = {:?} }}\n\
             [[connector]]\nid = \"out\"\ntype = \"stdout\"\n\
             [[link]]\nfrom = \"in\"\nto = \"out\"\n",
            dir.join("in.txt")
        ),
    );
    let output = run_flow(&flow, &dir);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert_eq!(stdout(&output), "{\"a\":1}\n{\"b\":2}\n");
    assert!(
        stderr(&output).contains(
            "dropped by its codec: not valid JSON: arrays and objects nest deeper than 1024 levels"
        ),
        "stderr: {}",
        stderr(&output)
    );
}

#[test]
fn a_file_source_with_a_missing_path_stops_the_flow_before_it_starts() {
    let dir = plugin_dir_with("file-missing", &["file", "stdout"]);
    let missing = dir.join("missing.txt");
    let flow = write_flow(
        &dir,
        "flow.toml",
        &format!(
            "[[connector]]\nid = \"in\"\ntype = \"file\"\nconfig = {{ path = {missing:?} }}\n\
             [[connector]]\nid = \"out\"\ntype = \"stdout\"\n\
             [[link]]\nfrom = \"in\"\nto = \"out\"\n"
        ),
    );
    let output = run_flow(&flow, &dir);
    assert_eq!(output.status.code(), Some(2), "stderr: {}", stderr(&output));
    assert_eq!(
        stderr(&output).lines().last().unwrap_or_default(),
        format!(
            "error: {}: connector `in` (type `file`) config: cannot open `{}` for reading: \
             No such file or directory (os error 2); fix: correct the `config` table of \
             connector `in`",
            flow.display(),
            missing.display()
        )
    );
}

#[test]
fn every_event_the_source_saw_acknowledged_is_in_the_file_after_sigkill() {
    let dir = plugin_dir_with("file-sigkill", &["probe", "file"]);
    let trace = dir.join("trace.txt");
    let out = dir.join("out.jsonl");
    let flow = write_flow(
        &dir,
        "flow.toml",
        &format!(
            "[[connector]]\nid = \"src\"\ntype = \"probe_source\"\n\
             config = {{ trace = {trace:?}, count = 1000000 }}\n\
             [[connector]]\nid = \"sink\"\ntype = \"file\"\nconfig = {{ path = {out:?} }}\n\
             [[link]]\nfrom = \"src\"\nto = \"sink\"\n"
        ),
    );
    let mut child = spawn_flow(&flow, &dir);
    let acked = |lines: &[String]| -> Vec<u64> {
        lines
            .iter()
            .filter_map(|line| line.strip_prefix("src ack 1 "))
            .map(|n| n.parse().unwrap())
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while acked(&trace_lines(&trace)).len() < 3000 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the flow ended before it was killed"
        );
        assert!(std::time::Instant::now() < deadline, "too few acks");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let written: std::collections::HashSet<u64> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .map(|event| event["n"].as_u64().unwrap())
        .collect();
    let lost: Vec<u64> = acked(&trace_lines(&trace))
        .into_iter()
        .filter(|n| !written.contains(n))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged but not in the file: {lost:?}"
    );
}

#[test]
fn undecodable_lines_are_reported_at_a_bounded_rate_not_one_line_each() {
    let dir = plugin_dir_with("codec-errors", &["file", "stdout"]);
    let mut input = Vec::new();
    for i in 0..750 {
        if i % 100 == 0 {
            input.extend_from_slice(format!("good {i}\n").as_bytes());
        } else {
            input.extend_from_slice(b"bad \xff\xfe line\n");
        }
    }
    std::fs::write(dir.join("in.txt"), input).unwrap();
    let flow = write_flow(
        &dir,
        "flow.toml",
        &format!(
            "[[connector]]\nid = \"in\"\ntype = \"file\"\ncodec = \"string\"\n\
             config = {{ path = {:?} }}\n\
             [[connector]]\nid = \"out\"\ntype = \"stdout\"\n\
             [[link]]\nfrom = \"in\"\nto = \"out\"\n",
            dir.join("in.txt")
        ),
    );
    let output = run_flow(&flow, &dir);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let good: Vec<String> = (0..750)
        .step_by(100)
        .map(|i| format!("\"good {i}\"\n"))
        .collect();
    assert_eq!(stdout(&output), good.concat());
    let log = stderr(&output);
    let reports: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("dropped by its codec"))
        .collect();
    assert_eq!(reports.len(), 2, "{log}");
    assert!(
        reports[0].contains("connector `in`: event 1 on stream"),
        "{}",
        reports[0]
    );
    assert!(
        reports[1].ends_with(
            "connector `in`: 741 more events dropped by its codec since the last report"
        ),
        "{}",
        reports[1]
    );
}
