//! Every read is bounded, and no client can take more than its share of a
//! server: the real binary against hostile inputs and clients on
//! 127.0.0.1, its memory read from `/proc`.

use std::time::{Duration, Instant};

use crate::common::{plugin_dir_with, run_flow, stderr, write_flow, RunningFlow};

/// The resident memory of process `pid`, in bytes.
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[test]
fn a_file_source_on_dev_zero_reads_with_bounded_memory_and_says_so_once() {
    let dir = plugin_dir_with("dev-zero", &["file", "blackhole"]);
    let flow = write_flow(
        &dir,
        "zero.toml",
        r#"
[[connector]]
id = "zero"
type = "file"
config = { path = "/dev/zero" }

[[connector]]
id = "sink"
type = "blackhole"

[[link]]
from = "zero"
to = "sink"
"#,
    );
    let running = RunningFlow::start(&flow, &dir);
    running.wait_for_log("`/dev/zero`: dropping 1 line(s) longer than max_line_bytes = 1048576");
    // Gigabytes of the one endless line go by meanwhile, none held.
    let started = Instant::now();
    let mut largest = 0;
    while started.elapsed() < Duration::from_secs(3) {
        largest = largest.max(rss_of(running.pid()));
        std::thread::sleep(Duration::from_millis(100));
    }
    let (output, _) = running.terminate(Duration::from_secs(15));
    let err = stderr(&output);
    assert!(
        largest < 200 * 1024 * 1024,
        "the runtime held {largest} bytes reading /dev/zero"
    );
    assert_eq!(
        err.matches("longer than max_line_bytes").count(),
        1,
        "one line says what happens: {err}"
    );
    assert!(output.status.success(), "stderr: {err}");
}

#[test]
fn a_blaster_on_a_10_gb_file_is_refused_at_once_naming_its_limit() {
    let dir = plugin_dir_with("huge-blaster", &["blaster", "blackhole"]);
    let huge = dir.join("huge.jsonl");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(10 * 1024 * 1024 * 1024)
        .unwrap();
    let flow = write_flow(
        &dir,
        "huge.toml",
        &format!(
            r#"
[[connector]]
id = "blast"
type = "blaster"
config = {{ path = {huge:?}, count = 10 }}

[[connector]]
id = "sink"
type = "blackhole"

[[link]]
from = "blast"
to = "sink"
"#
        ),
    );
    let started = Instant::now();
    let output = run_flow(&flow, &dir);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "stderr: {err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused before reading it"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(
        lines[0].contains("connector `blast` (type `blaster`) config")
            && lines[0].contains("is larger than max_file_bytes = 268435456")
            && lines[0].contains("raise `max_file_bytes`"),
        "{err}"
    );
}
