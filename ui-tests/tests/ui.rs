//! Every accepted form of the macros compiles; every rejected one fails
//! with exactly the message in its `.stderr` file. Regenerate those with
//! `TRYBUILD=overwrite cargo test -p ui-tests` and review the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("pass/*.rs");
    cases.compile_fail("fail/*.rs");
}
