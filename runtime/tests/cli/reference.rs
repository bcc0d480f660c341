//! The book's command-line reference and the binary's `--help` name the
//! same commands and options.

use std::collections::BTreeSet;

use crate::common::{runtime, stderr, stdout, workspace};

/// Every `--long-option` in `text`.
fn long_options(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|word| {
            word.strip_prefix("--")
                .is_some_and(|name| name.starts_with(|c: char| c.is_ascii_lowercase()))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_cli_reference_matches_the_binarys_help() {
    let page = std::fs::read_to_string(workspace().join("book/src/reference-cli.md")).unwrap();
    let mut documented = long_options(&page);
    let mut helped = long_options(&stdout(&runtime(&["--help"])));
    for command in [
        &["plugins", "list"][..],
        &["run"],
        &["serve"],
        &["validate"],
        &["top"],
        &["new"],
        &["completions"],
    ] {
        let help = runtime(&[command, &["--help"]].concat());
        assert!(help.status.success());
        helped.extend(long_options(&stdout(&help)));
        let heading = format!("## `{}`", command.join(" "));
        assert!(page.contains(&heading), "no section `{heading}`");
    }
    // The help's own options are described once, in the synopsis.
    documented.insert(String::from("--help"));
    assert_eq!(documented, helped);

    let top = stdout(&runtime(&["--help"]));
    let commands: BTreeSet<&str> = top
        .lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|command| *command != "help")
        .collect();
    assert_eq!(
        commands,
        BTreeSet::from([
            "completions",
            "new",
            "plugins",
            "run",
            "serve",
            "top",
            "validate"
        ])
    );
}

#[test]
fn a_mistyped_subcommand_gets_a_suggestion_and_search_options_stay_where_they_apply() {
    let output = runtime(&["serv"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("a similar subcommand exists: 'serve'"),
        "{}",
        stderr(&output)
    );

    let top_help = stdout(&runtime(&["top", "--help"]));
    assert!(!top_help.contains("--plugin-path"), "{top_help}");
    let run_help = stdout(&runtime(&["run", "--help"]));
    assert!(run_help.contains("--plugin-path"), "{run_help}");

    let output = runtime(&["--plugin-path", "/tmp", "top", "--once"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: --plugin-path, --isolated and --trust apply to `plugins list`, `run`, `serve` \
         and `validate` only; fix: leave them out\n"
    );
}
