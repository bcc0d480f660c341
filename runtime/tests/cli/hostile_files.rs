//! Files that try to break the loader: damaged copies of a real plugin
//! (which crash the dynamic loader), a trusted file swapped for an
//! untrusted one while the runtime loads it, a candidate too big to read.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};

use object::{Object, ObjectSegment};
use serde_json::Value;

use crate::bad_files::broken_fixture;
use crate::common::{built_plugin, library_file, plugin_dir_with, runtime_exe, stderr, stdout};

/// `plugins list --format json` of `dir` alone, with `extra` arguments.
fn list(dir: &Path, extra: &[&str]) -> Output {
    Command::new(runtime_exe())
        .args([
            "plugins",
            "list",
            "--format",
            "json",
            "--isolated",
            "--plugin-path",
        ])
        .arg(dir)
        .args(extra)
        .output()
        .expect("the runtime runs")
}

/// The entry of `file` in a JSON listing.
fn entry<'a>(listing: &'a [Value], file: &Path) -> &'a Value {
    listing
        .iter()
        .find(|e| e["path"] == file.to_str().unwrap())
        .unwrap_or_else(|| panic!("{} is not listed: {listing:?}", file.display()))
}

/// A deterministic stream of numbers (xorshift), so that a failure can be
/// reproduced byte for byte.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// The end of the part of `library` that the dynamic loader maps (the
/// file ranges of its segments); debug information after it is never read
/// at load time, so damage there proves nothing.
fn loaded_part(library: &Path) -> u64 {
    let bytes = std::fs::read(library).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    file.segments()
        .map(|segment| {
            let (offset, size) = segment.file_range();
            offset + size
        })
        .max()
        .unwrap()
}

/// Writes `count` copies of `library` into `dir`, each with four bytes
/// changed: half within the first 64 KiB (headers, dynamic section,
/// symbols, relocations), half anywhere the loader maps.
fn damaged_copies(library: &Path, dir: &Path, count: usize) -> Vec<PathBuf> {
    use std::os::unix::fs::FileExt;
    let mapped = loaded_part(library);
    let mut random = Bytes(0x9e37_79b9_7f4a_7c15);
    (0..count)
        .map(|i| {
            let copy = dir.join(library_file(&format!("damaged{i:02}")));
            std::fs::copy(library, &copy).unwrap();
            let file = std::fs::OpenOptions::new().write(true).open(&copy).unwrap();
            let range = if i % 2 == 0 {
                mapped.min(64 * 1024)
            } else {
                mapped
            };
            for _ in 0..4 {
                let byte = u8::try_from(random.below(256)).unwrap();
                file.write_at(&[byte], random.below(range)).unwrap();
            }
            copy
        })
        .collect()
}

#[test]
fn sixty_damaged_copies_of_a_plugin_crash_neither_plugins_list_nor_run() {
    let dir = plugin_dir_with("damaged", &["file", "stdout"]);
    damaged_copies(&built_plugin("metronome"), &dir, 60);

    let output = list(&dir, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listing: Vec<Value> = serde_json::from_str(&stdout(&output)).unwrap();
    for good in ["file", "stdout"] {
        assert_eq!(
            entry(&listing, &dir.join(library_file(good)))["status"],
            "loaded",
            "{listing:#?}"
        );
    }
    let crashed = listing
        .iter()
        .filter(|e| {
            e["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("crashed the process that loaded it ("))
        })
        .count();
    assert!(
        crashed > 0,
        "no copy crashed the loader, so this run proved nothing: {listing:#?}"
    );
    for rejected in listing.iter().filter(|e| e["status"] == "rejected") {
        let reason = rejected["reason"].as_str().unwrap();
        assert!(
            !reason.contains('\n') && !reason.contains("/proc/self/fd"),
            "{reason:?}"
        );
    }

    let input = dir.join("lines.txt");
    std::fs::write(&input, "{\"n\":1}\n{\"n\":2}\n").unwrap();
    let flow = dir.join("flow.toml");
    std::fs::write(
        &flow,
        format!(
            "[[connector]]\nid = \"in\"\ntype = \"file\"\nconfig = {{ path = \"{}\" }}\n\
             [[connector]]\nid = \"out\"\ntype = \"stdout\"\n\
             [[link]]\nfrom = \"in\"\nto = \"out\"\n",
            input.display()
        ),
    )
    .unwrap();
    let run = Command::new(runtime_exe())
        .arg("run")
        .arg(&flow)
        .args(["--isolated", "--plugin-path"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(stdout(&run), "{\"n\":1}\n{\"n\":2}\n");
}

#[test]
fn a_trusted_file_swapped_for_an_untrusted_one_while_loading_never_runs_the_untrusted_one() {
    let dir = plugin_dir_with("swap", &[]);
    let store = plugin_dir_with("swap-store", &["metronome"]);
    let trusted = store.join(library_file("metronome"));
    let untrusted = store.join(library_file("marker"));
    broken_fixture("load-marker", &untrusted);
    let digest = Command::new("sha256sum").arg(&trusted).output().unwrap();
    let policy = store.join("trusted.txt");
    std::fs::write(&policy, stdout(&digest)).unwrap();
    let marker = store.join("opened.marker");
    let path = dir.join(library_file("swapped"));
    std::fs::copy(&trusted, &path).unwrap();

    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            // Puts each file at `path` in turn, atomically, as a deployment
            // (or an attacker with write access to the directory) would.
            let staged = dir.with_file_name("swap-staged.so");
            let mut turn = 0usize;
            while !done.load(Ordering::Relaxed) {
                let source = if turn % 2 == 0 { &untrusted } else { &trusted };
                let _ = std::fs::remove_file(&staged);
                std::fs::hard_link(source, &staged).unwrap();
                std::fs::rename(&staged, &path).unwrap();
                turn += 1;
            }
        });
        let mut loaded = 0;
        for _ in 0..200 {
            let output = Command::new(runtime_exe())
                .args(["plugins", "list", "--format", "json", "--isolated"])
                .arg("--plugin-path")
                .arg(&dir)
                .arg("--trust")
                .arg(&policy)
                .env("PDK_TEST_MARKER", &marker)
                .output()
                .unwrap();
            assert!(output.status.success(), "{}", stderr(&output));
            assert!(
                !marker.exists(),
                "the untrusted library was opened: its constructor ran"
            );
            let listing: Vec<Value> = serde_json::from_str(&stdout(&output)).unwrap();
            let status = &entry(&listing, &path)["status"];
            if status == "loaded" {
                assert_eq!(entry(&listing, &path)["plugin"]["name"], "pdk-metronome");
                loaded += 1;
            }
        }
        done.store(true, Ordering::Relaxed);
        assert!(loaded > 0, "the trusted file was never loaded");
    });
}

#[test]
fn a_candidate_too_big_for_a_plugin_is_refused_without_being_read() {
    let dir = plugin_dir_with("big", &["stdout"]);
    let big = dir.join(library_file("big"));
    // Sparse: 4 GiB that take no disk space, and would take 4 GiB of
    // memory if the loader read them whole.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    let policy = dir.join("trusted.txt");
    std::fs::write(&policy, format!("{}  big\n", "0".repeat(64))).unwrap();
    for extra in [&[][..], &["--trust", policy.to_str().unwrap()][..]] {
        let output = list(&dir, extra);
        assert!(output.status.success(), "{}", stderr(&output));
        let listing: Vec<Value> = serde_json::from_str(&stdout(&output)).unwrap();
        assert_eq!(
            entry(&listing, &big)["reason"],
            "is 4294967296 bytes, more than the 1073741824 a plugin file may have; \
             remove it from the plugin path"
        );
    }
}

#[test]
fn a_library_for_another_machine_is_named_so() {
    use std::os::unix::fs::FileExt;
    let dir = plugin_dir_with("foreign", &["metronome"]);
    let foreign = dir.join(library_file("foreign"));
    std::fs::copy(dir.join(library_file("metronome")), &foreign).unwrap();
    // The ELF header's `e_machine` (offset 18, little-endian): AArch64, or
    // x86-64 on an AArch64 host.
    let (machine, named) = if std::env::consts::ARCH == "aarch64" {
        (62u16, "X86_64")
    } else {
        (183u16, "Aarch64")
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&foreign)
        .unwrap();
    file.write_at(&machine.to_le_bytes(), 18).unwrap();
    let output = list(&dir, &[]);
    let listing: Vec<Value> = serde_json::from_str(&stdout(&output)).unwrap();
    let reason = entry(&listing, &foreign)["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.starts_with(&format!("built for another machine ({named}; this one is ")),
        "{reason}"
    );
}

#[test]
fn a_plugin_file_overwritten_in_place_while_its_flow_runs_changes_nothing() {
    let dir = plugin_dir_with("overwritten", &["metronome", "file"]);
    let out = dir.join("out.jsonl");
    let count = 300;
    let flow = crate::common::write_flow(
        &dir,
        "flow.toml",
        &crate::common::ticks_into(5, count, "file", &format!("{{ path = {out:?} }}")),
    );
    let running = crate::common::RunningFlow::start(&flow, &dir);
    running.wait_for_log("connector `out`: type `file` from the plugin");
    let lines = || std::fs::read_to_string(&out).map_or(0, |t| t.lines().count());
    let wait_for_lines = |at_least: usize| {
        let started = std::time::Instant::now();
        while lines() < at_least {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the flow stopped at {} lines; log:\n{}",
                lines(),
                running.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    // `cp` onto the loaded file: the same inode, truncated and rewritten
    // (as a build writing into the plugin directory does), first with
    // another build, then with the very same bytes.
    let plugin = dir.join(library_file("file"));
    let original = std::fs::read(&plugin).unwrap();
    wait_for_lines(10);
    std::fs::copy(built_plugin("stdout"), &plugin).unwrap();
    wait_for_lines(60);
    std::fs::write(&plugin, &original).unwrap();
    wait_for_lines(120);
    let output = running.wait(std::time::Duration::from_secs(60));
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert_eq!(
        lines(),
        usize::try_from(count).unwrap(),
        "every event is delivered"
    );
}

#[test]
fn four_hundred_candidates_under_a_limit_of_1024_descriptors_are_each_vetted_and_checked() {
    let dir = crate::common::scratch_dir("four-hundred");
    // A small plugin: stripped of what the loader never reads.
    let stripped = dir.join("stripped.so");
    std::fs::copy(built_plugin("stdout"), &stripped).unwrap();
    let strip = Command::new("strip").arg(&stripped).status();
    assert!(
        strip.is_ok_and(|s| s.success()),
        "`strip` (binutils, beside the C compiler the Rust linker uses) runs"
    );
    let library = std::fs::read(&stripped).unwrap();
    std::fs::remove_file(&stripped).unwrap();
    let candidates = 400;
    for i in 0..candidates {
        // Each a byte apart, at the end, where the loader never reads.
        let mut bytes = library.clone();
        bytes.extend_from_slice(format!("{i:03}").as_bytes());
        std::fs::write(dir.join(format!("lib{i:03}.so")), bytes).unwrap();
    }
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 1024 && exec "$0" "$@""#)
        .arg(runtime_exe())
        .args([
            "plugins",
            "list",
            "--format",
            "json",
            "--isolated",
            "--plugin-path",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let listing: Vec<Value> = serde_json::from_str(&stdout(&output)).unwrap();
    let files: Vec<&Value> = listing
        .iter()
        .filter(|e| e["path"].as_str().is_some_and(|p| p.ends_with(".so")))
        .collect();
    assert_eq!(files.len(), candidates, "every file is listed");
    let first = dir.join("lib000.so");
    assert_eq!(entry(&listing, &first)["status"], "loaded");
    for copy in files.iter().skip(1) {
        let reason = copy["reason"].as_str().unwrap_or_default();
        assert!(
            copy["status"] == "rejected"
                && reason.starts_with(&format!(
                    "the same plugin (pdk-stdout 0.3.0) as {}",
                    first.display()
                )),
            "each copy is checked, and rejected as the same plugin as the first: {copy}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
