//! Acknowledged means written, also when writing fails: a `file` sink on
//! a small tmpfs that the test fills up for two seconds.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::RunningFlow;
use crate::common::{plugin_dir_with, scratch_dir, stderr, trace_lines, trace_of, write_flow};

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallFilesystem {
    dir: PathBuf,
}

impl SmallFilesystem {
    /// Mounts a tmpfs of `size` at a new directory, or `None` where this
    /// process may not mount (not root, or in a container without the
    /// right): the caller skips with a note.
    fn mount(test: &str, size: &str) -> Option<Self> {
        let dir = scratch_dir(test);
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .ok()?;
        mounted.status.success().then_some(Self { dir })
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// Fills the file system at `dir` but for `keep` bytes, with one file.
fn fill(dir: &Path, keep: u64) -> PathBuf {
    let filler = dir.join("filler");
    let free = {
        let output = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(dir)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .nth(1)
            .and_then(|line| line.trim().parse::<u64>().ok())
            .unwrap()
    };
    std::fs::write(&filler, vec![b'x'; usize::try_from(free - keep).unwrap()]).unwrap();
    filler
}

#[test]
fn every_event_acknowledged_into_a_file_on_a_disk_that_fills_up_is_in_it_as_one_line() {
    let Some(disk) = SmallFilesystem::mount("full-disk-mount", "1m") else {
        eprintln!("note: cannot mount a tmpfs here (needs root); the full-disk test is skipped");
        return;
    };
    let dir = plugin_dir_with("full-disk", &["probe", "file"]);
    let trace = dir.join("trace.txt");
    let out = disk.dir.join("out.jsonl");
    // Room for about a third of the lines: the disk fills up mid-run.
    let filler = fill(&disk.dir, 24 * 1024);
    const EVENTS: u64 = 6000;
    let flow = write_flow(
        &dir,
        "to-disk.toml",
        &format!(
            r#"
[[connector]]
id = "src"
type = "probe_source"
config = {{ trace = {trace:?}, count = {EVENTS} }}

[[connector]]
id = "out"
type = "file"
config = {{ path = {out:?} }}

[[link]]
from = "src"
to = "out"
"#
        ),
    );
    let running = RunningFlow::start(&flow, &dir);
    running.wait_for_log("No space left on device");
    // The disk stays full for two seconds, then has room again.
    std::thread::sleep(Duration::from_secs(2));
    std::fs::remove_file(&filler).unwrap();
    let output = running.wait(Duration::from_secs(120));
    let err = stderr(&output);
    assert!(output.status.success(), "stderr: {err}");
    assert!(
        err.contains("connector `out`")
            && err.contains(&format!(
                "writing to `{}` failed: No space left on device",
                out.display()
            )),
        "the run says what failed: {err}"
    );

    let written = std::fs::read_to_string(&out).unwrap();
    let mut in_file = Vec::new();
    for line in written.lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("`{line}` is not one complete line ({e})"));
        in_file.push(value["n"].as_u64().expect("each line is an event"));
    }
    let acked: BTreeSet<u64> = trace_of(&trace_lines(&trace), "src")
        .iter()
        .filter_map(|line| line.strip_prefix("ack 1 "))
        .map(|n| n.parse().unwrap())
        .collect();
    let in_file_set: BTreeSet<u64> = in_file.iter().copied().collect();
    let missing: Vec<&u64> = acked.difference(&in_file_set).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not in the file: {missing:?}"
    );
    assert_eq!(
        acked.len() as u64,
        EVENTS,
        "every event was acknowledged in the end"
    );
    assert_eq!(
        in_file.len(),
        in_file_set.len(),
        "no event is in the file twice: what failed was cut back"
    );
}
