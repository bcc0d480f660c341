//! Connectors linked into the runtime (no plugin boundary) behave exactly
//! as their plugin form, also when a flow mixes both forms.

use pdk_runtime::{block_on, host_services, Flow, Observer, Registry, SearchPath, Vetting};

use crate::common::{plugin_dir_with, runtime_exe, scratch_dir, trace_of as of};

/// Runs src -> sink with the given registry; returns the trace.
fn run(test: &str, registry: &Registry, sink_extra: &str) -> Vec<String> {
    pdk::linked::install_host(host_services());
    let dir = scratch_dir(test);
    let trace = dir.join("trace.txt");
    let path = dir.join("flow.toml");
    let text = format!(
        r#"
[[connector]]
id = "src"
type = "probe_source"
config = {{ trace = {trace:?}, count = 3 }}

[[connector]]
id = "sink"
type = "probe_sink"
config = {{ trace = {trace:?} {sink_extra} }}

[[link]]
from = "src"
to = "sink"
"#
    );
    std::fs::write(&path, text).unwrap();
    let checked = Flow::load(&path, registry).unwrap();
    let (_keep_open, shutdown) = async_channel::bounded::<()>(1);
    block_on(pdk_runtime::run(
        checked,
        registry,
        &path,
        &shutdown,
        None,
        &Observer::default(),
    ))
    .unwrap();
    std::fs::read_to_string(trace)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

const SOURCE_CALLS: [&str; 9] = [
    "connect 1 1",
    "on_start",
    "stream_started 1",
    "ack 1 0",
    "ack 1 1",
    "ack 1 2",
    "stream_ended 1",
    "on_drain",
    "on_stop",
];
const SINK_CALLS: [&str; 7] = [
    "on_start",
    "event 0 ack",
    "event 1 ack",
    "event 2 ack",
    "on_upstream_finished",
    "on_drain",
    "on_stop",
];

/// A registry with both probes linked in and no plugin.
fn linked_probes(test: &str) -> Registry {
    Registry::discover_with(
        &SearchPath::new(&[scratch_dir(&format!("{test}-plugins"))], None, None),
        vec![
            pdk::linked::LinkedEntry::of::<probe::ProbeSource>(),
            pdk::linked::LinkedEntry::of::<probe::ProbeSink>(),
        ],
        None,
        &Vetting::InProcess,
    )
}

#[test]
fn linked_connectors_follow_the_same_lifecycle_as_plugins() {
    let registry = linked_probes("linked-empty");
    let trace = run("linked", &registry, "");
    assert_eq!(of(&trace, "src"), SOURCE_CALLS);
    assert_eq!(of(&trace, "sink"), SINK_CALLS);
}

#[test]
fn a_plugin_source_feeds_a_linked_sink() {
    pdk::linked::install_host(host_services());
    let registry = Registry::discover_with(
        &SearchPath::new(
            &[plugin_dir_with("mixed-plugins", &["metronome"])],
            None,
            None,
        ),
        vec![pdk::linked::LinkedEntry::of::<probe::ProbeSink>()],
        None,
        // The plugin is vetted by the real runtime's executable.
        &Vetting::subprocess(runtime_exe()),
    );
    let dir = scratch_dir("mixed");
    let trace = dir.join("trace.txt");
    let path = dir.join("flow.toml");
    let text = format!(
        r#"
[[connector]]
id = "tick"
type = "metronome"
config = {{ interval_ms = 1, count = 2 }}

[[connector]]
id = "sink"
type = "probe_sink"
config = {{ trace = {trace:?} }}

[[link]]
from = "tick"
to = "sink"
"#
    );
    std::fs::write(&path, text).unwrap();
    let checked = Flow::load(&path, &registry).unwrap();
    let (_keep_open, shutdown) = async_channel::bounded::<()>(1);
    block_on(pdk_runtime::run(
        checked,
        &registry,
        &path,
        &shutdown,
        None,
        &Observer::default(),
    ))
    .unwrap();
    let trace: Vec<String> = std::fs::read_to_string(trace)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        of(&trace, "sink"),
        [
            "on_start",
            r#"event {"connector":"tick","tick":0} ack"#,
            r#"event {"connector":"tick","tick":1} ack"#,
            "on_upstream_finished",
            "on_drain",
            "on_stop",
        ]
    );
}

#[test]
fn a_panic_in_a_linked_connector_is_contained_too() {
    let registry = linked_probes("linked-panic-empty");
    let trace = run("linked-panic", &registry, r#", panic_in = "on_event""#);
    let acked = of(&trace, "src")
        .iter()
        .filter(|l| l.starts_with("ack 1 "))
        .count();
    assert_eq!(
        acked, 3,
        "the event whose delivery panicked was failed, resent and acked: {trace:#?}"
    );
    assert!(of(&trace, "src").iter().any(|l| l.starts_with("fail 1 ")));
}
