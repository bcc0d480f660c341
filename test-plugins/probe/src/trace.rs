//! The trace file and the one-shot panic shared by both probes.

use std::io::Write;

/// Appends `"{alias} {line}"` to the trace file, one write per line.
pub fn record(path: &str, alias: &str, line: &str) {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path);
    if let Ok(mut file) = file {
        let _ = file.write_all(format!("{alias} {line}\n").as_bytes());
    }
}

/// Panics the first time `method` is the configured `panic_in`.
pub fn maybe_panic(panic_in: &mut Option<String>, method: &str) {
    if panic_in.as_deref() == Some(method) {
        *panic_in = None;
        panic!("injected panic");
    }
}

/// Panics the first time `"{method}:sync"` is the configured `panic_in`:
/// called in the synchronous part of a method written as
/// `fn .. -> impl Future`, before it makes its future.
pub fn before_future(panic_in: &mut Option<String>, method: &str) {
    maybe_panic(panic_in, &format!("{method}:sync"));
}
