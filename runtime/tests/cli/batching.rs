//! `pdk::batch` in a real flow: the `batching` test plugin's sink fails
//! one write in three, and a transactional source's resends still put
//! every event in the file exactly once.

use crate::common::{
    acked_numbers, numbers_in, plugin_dir_with, run_flow, scratch_dir, stderr, write_flow,
};

#[test]
fn a_batching_sink_failing_one_write_in_three_delivers_every_event_exactly_once() {
    let plugins = plugin_dir_with("batching-plugins", &["probe", "batching"]);
    let dir = scratch_dir("batching");
    let trace = dir.join("trace");
    let out = dir.join("out.jsonl");
    let flow = write_flow(
        &dir,
        "flaky.toml",
        &format!(
            r#"
[[connector]]
id = "src"
type = "probe_source"
config = {{ trace = "{trace}", count = 300 }}

[[connector]]
id = "snk"
type = "flaky_batches"
config = {{ path = "{out}", fail_every = 3, max_events = 16 }}
restart = {{ max_failures = 1000, window_secs = 60, backoff_ms = 1, max_backoff_ms = 5 }}

[[link]]
from = "src"
to = "snk"
"#,
            trace = trace.display(),
            out = out.display()
        ),
    );
    let output = run_flow(&flow, &plugins);
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("failed: write 3 fails, as configured; they are failed back"),
        "no write failed: {log}"
    );
    let mut written = numbers_in(&out);
    written.sort_unstable();
    assert_eq!(written, (0..300).collect::<Vec<_>>(), "each exactly once");
    let mut acked = acked_numbers(&trace, "src");
    acked.sort_unstable();
    assert_eq!(acked, (0..300).collect::<Vec<_>>());
}
