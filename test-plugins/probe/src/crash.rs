//! Native crashes on demand, for the isolation tests: each ends the
//! process in a way no `catch_unwind` can contain.

use std::hint::black_box;
use std::path::Path;

use crate::sink::CrashAt;

/// Crashes as `crash` says when `count` reaches its number, unless its
/// marker file says it has crashed before.
pub fn maybe(crash: &CrashAt, count: u64) {
    if count != crash.at || Path::new(&crash.marker).exists() {
        return;
    }
    if std::fs::write(&crash.marker, &crash.how).is_err() {
        return;
    }
    match crash.how.as_str() {
        "null_write" => {
            let null = black_box(std::ptr::null_mut::<u64>());
            // SAFETY: none: this write through a null pointer is the crash
            // the test asks for (SIGSEGV).
            unsafe { null.write_volatile(1) };
        }
        "abort" => std::process::abort(),
        "exit" => std::process::exit(3),
        "stack_overflow" => {
            black_box(recurse(black_box(1)));
        }
        "allocate" => {
            let mut held: Vec<Vec<u8>> = Vec::new();
            loop {
                held.push(black_box(vec![1; 16 << 20]));
            }
        }
        // A plugin that attacks the runtime through the protocol: it
        // writes a frame that claims 2 GiB to every socket it has, then
        // waits.
        "garbage" => {
            for fd in sockets() {
                // SAFETY: none; this is the misbehaviour under test. The
                // descriptor is open (just listed); `ManuallyDrop` leaves
                // it open.
                let mut socket = std::mem::ManuallyDrop::new(unsafe {
                    <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd)
                });
                let _ = std::io::Write::write_all(&mut *socket, &[0xff, 0xff, 0xff, 0x7f, 1, 2, 3]);
            }
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
        // It blocks its thread, as a deadlock would.
        "block" => std::thread::sleep(std::time::Duration::from_secs(3600)),
        // It closes its end of the protocol and goes on.
        "close" => crate::sink::close_sockets(),
        other => panic!("no crash `{other}`"),
    }
}

/// The sockets this process has open, beyond the standard streams.
fn sockets() -> Vec<i32> {
    std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let fd: i32 = entry.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            (fd > 2 && target.to_string_lossy().starts_with("socket:")).then_some(fd)
        })
        .collect()
}

/// Recurses until the stack overflows (the limit is never reached).
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 64]);
    if black_box(depth) == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1) + frame[black_box(3)]
}
