//! `isolation = "process"`: native crashes, a hostile child and the
//! runtime's own death, with the real binary, the real probe plugin and
//! real processes.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{
    acked_numbers, library_file, plugin_dir_with, run_flow, runtime_isolated, scratch_dir, stderr,
    stdout, trace_lines, trace_of, write_flow, RunningFlow,
};

/// A transactional `probe_source` of 20 events into an isolated
/// `probe_sink` whose config gets `sink_extra`, beside a metronome
/// pipeline of 100 ticks into a file, in one flow.
fn crashing_flow(dir: &Path, sink_extra: &str, limits: &str) -> String {
    let trace = dir.join("trace");
    format!(
        r#"
[[connector]]
id = "src"
type = "probe_source"
config = {{ trace = "{trace}", count = 20 }}

[[connector]]
id = "snk"
type = "probe_sink"
config = {{ trace = "{trace}"{sink_extra} }}
isolation = "process"
{limits}

[[connector]]
id = "tick"
type = "metronome"
config = {{ interval_ms = 5, count = 100 }}

[[connector]]
id = "ticks"
type = "file"
config = {{ path = "{ticks}" }}

[[link]]
from = "src"
to = "snk"

[[link]]
from = "tick"
to = "ticks"
"#,
        trace = trace.display(),
        ticks = dir.join("ticks.jsonl").display(),
    )
}

/// The numbers `src` acknowledged, in order.
fn acked(dir: &Path) -> Vec<u64> {
    acked_numbers(&dir.join("trace"), "src")
}

#[test]
fn a_native_crash_in_an_isolated_sink_fails_only_that_connector() {
    let plugins = plugin_dir_with("isolation-crash-plugins", &["probe"]);
    for (how, ended) in [
        (
            "null_write",
            "was killed by signal 11 (SIGSEGV) while in on_event",
        ),
        (
            "abort",
            "was killed by signal 6 (SIGABRT) while in on_event",
        ),
        ("exit", "exited with status 3 while in on_event"),
        (
            "stack_overflow",
            "was killed by signal 6 (SIGABRT) while in on_event",
        ),
        (
            "allocate",
            "was killed by signal 6 (SIGABRT) while in on_event",
        ),
    ] {
        let dir = scratch_dir(&format!("isolation-crash-{how}"));
        let marker = dir.join("crashed");
        let extra = format!(
            r#", crash = {{ how = "{how}", at = 5, marker = "{}" }}"#,
            marker.display()
        );
        let flow = write_flow(
            &dir,
            "crash.toml",
            &crashing_flow(&dir, &extra, "limits = { memory_mb = 512 }"),
        );
        let output = run_flow(&flow, &plugins);
        let log = stderr(&output);
        assert!(output.status.success(), "{how}: {log}");
        assert!(marker.exists(), "{how}: it never crashed: {log}");
        assert!(
            log.contains("connector `snk`: its isolated process (pid "),
            "{how}: {log}"
        );
        assert!(log.contains(ended), "{how}: not `{ended}`: {log}");
        // Every event acknowledged exactly once: the one in flight at the
        // crash was failed back and sent again.
        let mut acks = acked(&dir);
        assert_eq!(acks.len(), 20, "{how}: {acks:?}");
        acks.sort_unstable();
        assert_eq!(acks, (0..20).collect::<Vec<_>>(), "{how}");
        // The other pipeline ran to its end.
        let ticks = std::fs::read_to_string(dir.join("ticks.jsonl")).unwrap();
        assert_eq!(ticks.lines().count(), 100, "{how}");
    }
}

#[test]
fn an_isolated_connector_that_blocks_its_thread_is_named_and_restarted() {
    let plugins = plugin_dir_with("isolation-block-plugins", &["probe"]);
    let dir = scratch_dir("isolation-block");
    let extra = format!(
        r#", crash = {{ how = "block", at = 5, marker = "{}" }}"#,
        dir.join("blocked").display()
    );
    let flow = write_flow(
        &dir,
        "block.toml",
        &crashing_flow(&dir, &extra, "limits = { unresponsive_ms = 2500 }"),
    );
    let output = run_flow(&flow, &plugins);
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("connector `snk`: blocks its isolated process's thread in on_event for "),
        "{log}"
    );
    assert!(
        log.contains("ended itself: its connector blocked it past `limits.unresponsive_ms`"),
        "{log}"
    );
    let mut acks = acked(&dir);
    acks.sort_unstable();
    assert_eq!(acks, (0..20).collect::<Vec<_>>());
}

#[test]
fn a_native_crash_in_an_isolated_source_restarts_it() {
    let plugins = plugin_dir_with("isolation-source-plugins", &["probe"]);
    let dir = scratch_dir("isolation-source");
    let trace = dir.join("trace");
    let flow = write_flow(
        &dir,
        "source.toml",
        &format!(
            r#"
[[connector]]
id = "src"
type = "probe_source"
config = {{ trace = "{trace}", count = 20, crash = {{ how = "null_write", at = 5, marker = "{marker}" }} }}
isolation = "process"

[[connector]]
id = "snk"
type = "probe_sink"
config = {{ trace = "{trace}" }}

[[link]]
from = "src"
to = "snk"
"#,
            trace = trace.display(),
            marker = dir.join("crashed").display()
        ),
    );
    let output = run_flow(&flow, &plugins);
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("its isolated process (pid ") && log.contains("(SIGSEGV) during pull_data"),
        "{log}"
    );
    // The new process's source sends everything again (its state died
    // with the old one): every event reached the sink.
    let received: BTreeSet<u64> = trace_of(&trace_lines(&trace), "snk")
        .iter()
        .filter_map(|line| {
            line.strip_prefix("event ")?
                .strip_suffix(" ack")?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(received, (0..20).collect());
}

#[test]
fn a_child_that_breaks_the_protocol_is_a_failure_of_its_connector() {
    let plugins = plugin_dir_with("isolation-hostile-plugins", &["probe"]);
    for (how, said) in [
        ("garbage", "broke the protocol (a frame of"),
        ("close", "its isolated process (pid "),
    ] {
        let dir = scratch_dir(&format!("isolation-hostile-{how}"));
        let extra = format!(
            r#", crash = {{ how = "{how}", at = 5, marker = "{}" }}"#,
            dir.join("crashed").display()
        );
        let flow = write_flow(&dir, "hostile.toml", &crashing_flow(&dir, &extra, ""));
        let output = run_flow(&flow, &plugins);
        let log = stderr(&output);
        assert!(output.status.success(), "{how}: {log}");
        assert!(log.contains(said), "{how}: {log}");
        let mut acks = acked(&dir);
        acks.sort_unstable();
        assert_eq!(acks, (0..20).collect::<Vec<_>>(), "{how}");
    }
}

#[test]
fn an_isolated_connector_gives_the_same_output_as_in_process() {
    let plugins = plugin_dir_with("isolation-same-plugins", &["probe", "ecosystem"]);
    let mut outputs = Vec::new();
    for isolation in ["none", "process"] {
        let dir = scratch_dir(&format!("isolation-same-{isolation}"));
        let trace = dir.join("trace");
        let flow = write_flow(
            &dir,
            "same.toml",
            &format!(
                r#"
[[connector]]
id = "src"
type = "probe_source"
config = {{ trace = "{trace}", count = 60, bytes = true }}
isolation = "{isolation}"

[[connector]]
id = "snk"
type = "probe_sink"
config = {{ trace = "{trace}", defer = true, fail_every = 7, pause_sources_after = 10, output = "{out}" }}
isolation = "{isolation}"

[[connector]]
id = "tokio"
type = "tokio_ticker"
config = {{ interval_ms = 2, count = 30 }}
isolation = "{isolation}"

[[connector]]
id = "ticks"
type = "file"
config = {{ path = "{ticks}" }}
isolation = "{isolation}"

[[link]]
from = "src"
to = "snk"

[[link]]
from = "tokio"
to = "ticks"
"#,
                trace = trace.display(),
                out = dir.join("out.jsonl").display(),
                ticks = dir.join("ticks.jsonl").display(),
            ),
        );
        let output = run_flow(&flow, &plugins);
        assert!(output.status.success(), "{isolation}: {}", stderr(&output));
        let sorted = |file: &str| -> Vec<String> {
            let mut lines: Vec<String> = std::fs::read_to_string(dir.join(file))
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect();
            lines.sort();
            lines
        };
        let mut acks = acked(&dir);
        acks.sort_unstable();
        outputs.push((sorted("out.jsonl"), sorted("ticks.jsonl"), acks));
    }
    assert_eq!(outputs[0].2, (0..60).collect::<Vec<_>>());
    assert_eq!(outputs[0].1.len(), 30);
    assert_eq!(outputs[0], outputs[1]);
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Whether process `pid` still runs (a zombie does not).
fn runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit(')').next().map(|rest| rest.trim().to_owned()))
        .is_some_and(|rest| !rest.starts_with('Z'))
}

#[test]
fn sigkill_of_the_runtime_leaves_no_isolated_process_behind() {
    let plugins = plugin_dir_with("isolation-orphans-plugins", &["probe"]);
    let dir = scratch_dir("isolation-orphans");
    let trace = dir.join("trace");
    let flow = write_flow(
        &dir,
        "endless.toml",
        &format!(
            r#"
[[connector]]
id = "src"
type = "probe_source"
config = {{ trace = "{trace}", count = 1000000, pull_delay_ms = 5 }}
isolation = "process"

[[connector]]
id = "snk"
type = "probe_sink"
config = {{ trace = "{trace}" }}
isolation = "process"

[[link]]
from = "src"
to = "snk"
"#,
            trace = trace.display()
        ),
    );
    let runtime = RunningFlow::start_with_args(&flow, &plugins, &["--api", "0"]);
    let api = runtime.address("serving /metrics, /health and /status on");
    runtime.wait_for_log("probe/snk");
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked(&dir).len() < 5 {
        assert!(Instant::now() < deadline, "no event went through");
        std::thread::sleep(Duration::from_millis(20));
    }
    let children: Vec<u32> = children_of(runtime.pid())
        .into_iter()
        .filter(|&child| {
            std::fs::read(format!("/proc/{child}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("__pdk-isolated"))
        })
        .collect();
    assert_eq!(children.len(), 2, "{children:?}");
    // `/status` names each connector's process.
    let (_, body) = crate::observe::get(api, "/status");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut shown: Vec<u32> = ["src", "snk"]
        .iter()
        .map(|id| {
            let connector = crate::observe::connector(&status, id);
            assert_eq!(connector["isolated"], true, "{connector}");
            connector["pid"]
                .as_u64()
                .and_then(|pid| u32::try_from(pid).ok())
                .unwrap()
        })
        .collect();
    shown.sort_unstable();
    let mut expected = children.clone();
    expected.sort_unstable();
    assert_eq!(shown, expected);
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &runtime.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let _ = runtime.wait(Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    while children.iter().any(|&child| runs(child)) {
        assert!(
            Instant::now() < deadline,
            "isolated processes outlived the runtime: {children:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_plugin_off_the_in_process_list_runs_isolated_without_a_word_in_its_flow() {
    let plugins = plugin_dir_with("isolation-in-process-plugins", &["probe"]);
    let dir = scratch_dir("isolation-in-process");
    let trace = dir.join("trace");
    let flow = write_flow(
        &dir,
        "plain.toml",
        &format!(
            r#"
[[connector]]
id = "src"
type = "probe_source"
config = {{ trace = "{trace}", count = 20 }}

[[connector]]
id = "snk"
type = "probe_sink"
config = {{ trace = "{trace}" }}

[[link]]
from = "src"
to = "snk"
"#,
            trace = trace.display()
        ),
    );
    // What an operator types: `sha256sum` of the plugins they vouch for.
    let listed = dir.join("listed.txt");
    let digest = std::process::Command::new("sha256sum")
        .arg(plugins.join(library_file("probe")))
        .output()
        .unwrap();
    assert!(digest.status.success());
    std::fs::write(&listed, &digest.stdout).unwrap();
    let unlisted = dir.join("unlisted.txt");
    std::fs::write(&unlisted, "# no plugin runs in the runtime's process\n").unwrap();
    for (list, isolated) in [(&unlisted, true), (&listed, false)] {
        let list = list.to_str().unwrap();
        let listing = runtime_isolated(&["plugins", "list", "--in-process", list], &plugins);
        assert!(listing.status.success(), "{}", stderr(&listing));
        assert_eq!(
            stdout(&listing)
                .contains("connector `probe_sink` [sink], isolated (not on the --in-process list)"),
            isolated,
            "{}",
            stdout(&listing)
        );
        let _ = std::fs::remove_file(&trace);
        let output = runtime_isolated(
            &["run", flow.to_str().unwrap(), "--in-process", list],
            &plugins,
        );
        let log = stderr(&output);
        assert!(output.status.success(), "{log}");
        for id in ["src", "snk"] {
            assert_eq!(
                log.lines()
                    .any(|line| line.contains(&format!("connector `{id}`: type"))
                        && line.contains("in a process of its own")),
                isolated,
                "{log}"
            );
        }
        assert_eq!(acked(&dir), (0..20).collect::<Vec<_>>(), "{log}");
    }
    let missing = runtime_isolated(
        &["plugins", "list", "--in-process", "no-such-list.txt"],
        &plugins,
    );
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("no-such-list.txt: file: cannot be read")
            && stderr(&missing).contains("check the path given to --in-process"),
        "{}",
        stderr(&missing)
    );
}
