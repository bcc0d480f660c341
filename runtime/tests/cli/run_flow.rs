//! `pdk-runtime run` on the real binary with the real plugins.

use crate::common::{
    plugin_dir_with, run_flow, runtime_isolated_with_env, stderr, stdout, ticks_into, write_flow,
};

const DEMO_FLOW: &str = r#"
[[connector]]
id = "tick"
type = "metronome"
config = { interval_ms = 10, count = 5 }

[[connector]]
id = "out"
type = "stdout"

[[link]]
from = "tick"
to = ["out"]
"#;

#[test]
fn metronome_events_reach_stdout_in_order_and_the_run_ends_by_itself() {
    let dir = plugin_dir_with("demo", &["metronome", "stdout"]);
    let flow = write_flow(&dir, "demo.toml", DEMO_FLOW);
    let output = run_flow(&flow, &dir);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let expected: String = (0..5)
        .map(|n| format!("{{\"connector\":\"tick\",\"tick\":{n}}}\n"))
        .collect();
    assert_eq!(stdout(&output), expected);
}

#[test]
fn the_example_flow_of_the_readme_runs() {
    let dir = plugin_dir_with("example", &["metronome", "stdout"]);
    let flow = crate::common::workspace().join("examples/metronome-to-stdout.toml");
    let output = run_flow(&flow, &dir);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert_eq!(stdout(&output).lines().count(), 5);
}

#[test]
fn a_string_target_and_fan_out_deliver_every_event_to_every_sink() {
    let dir = plugin_dir_with("fanout", &["metronome", "stdout"]);
    let flow = write_flow(
        &dir,
        "fanout.toml",
        r#"
[[connector]]
id = "a"
type = "metronome"
config = { interval_ms = 1, count = 3 }

[[connector]]
id = "one"
type = "stdout"

[[connector]]
id = "two"
type = "stdout"

[[link]]
from = "a"
to = "one"

[[link]]
from = "a"
to = ["two"]
"#,
    );
    let output = run_flow(&flow, &dir);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let mut lines: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    lines.sort();
    let mut expected: Vec<String> = (0..3)
        .flat_map(|n| {
            let line = format!("{{\"connector\":\"a\",\"tick\":{n}}}");
            [line.clone(), line]
        })
        .collect();
    expected.sort();
    assert_eq!(lines, expected);
}

#[test]
fn a_pull_under_way_is_kept_while_acknowledgements_come_back() {
    let dir = plugin_dir_with("kept-pull", &["probe", "blackhole"]);
    let trace = dir.join("trace.txt");
    // Each pull waits 2 ms, as a source waiting on a broker: outcomes
    // come back while the next pull is under way.
    let flow = write_flow(
        &dir,
        "flow.toml",
        &format!(
            r#"
[[connector]]
id = "src"
type = "probe_source"
config = {{ trace = {trace:?}, count = 50, pull_delay_ms = 2 }}

[[connector]]
id = "hole"
type = "blackhole"

[[link]]
from = "src"
to = "hole"
"#
        ),
    );
    let output = run_flow(&flow, &dir);
    assert!(output.status.success(), "{}", stderr(&output));
    let counts = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("src pulls started ").map(str::to_owned))
        .expect("the source traced its pulls");
    let (started, completed) = counts
        .split_once(" completed ")
        .map(|(s, c)| (s.parse::<u64>().unwrap(), c.parse::<u64>().unwrap()))
        .unwrap();
    assert!(
        completed >= 50 && started <= completed + 1,
        "{started} pulls started, {completed} completed: each pull is given up only for a call \
         the connector must get"
    );
}

#[test]
fn log_lines_are_json_objects_on_request() {
    let dir = plugin_dir_with("json-log", &["metronome", "stdout"]);
    let flow = write_flow(&dir, "ticks.toml", &ticks_into(1, 2, "stdout", "{}"));
    let output = runtime_isolated_with_env(
        &["run", flow.to_str().unwrap()],
        &dir,
        &[("PDK_LOG_FORMAT", "json")],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let records: Vec<serde_json::Value> = stderr(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        records.iter().any(|record| record["level"] == "INFO"
            && record["target"] == "pdk_runtime::flow::run"
            && record["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("flow `ticks`: connector `tick`: type `metronome`"))
            && record["time"].as_str().is_some_and(|t| t.ends_with('Z'))),
        "{records:#?}"
    );
}
