//! Every accepted form of the macros compiles; every rejected one fails
//! with exactly the message in its `.stderr` file. Regenerate those with
//! `TRYBUILD=overwrite cargo test -p ui-tests` and review the diff.
//!
//! `fail/` holds the misuses whose messages PDK writes (the macros'
//! errors, `pdk`'s `on_unimplemented` notes and compile-time checks).
//! `rustc/` holds misuses of ordinary trait impls, whose messages are
//! rustc's own and change with the compiler: they are compared only with
//! the compiler named in `rustc/PINNED`, which made their snapshots.

use std::path::Path;

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("pass/*.rs");
    cases.compile_fail("fail/*.rs");
    let pinned_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("rustc/PINNED");
    let pinned = std::fs::read_to_string(&pinned_file).expect("rustc/PINNED is readable");
    let running = rustc_version::version().expect("rustc reports its version");
    if running.to_string() == pinned.trim() {
        cases.compile_fail("rustc/*.rs");
    } else {
        eprintln!(
            "ui-tests: rustc/*.rs skipped: their messages are rustc {}'s, this is rustc {running}",
            pinned.trim()
        );
    }
}
