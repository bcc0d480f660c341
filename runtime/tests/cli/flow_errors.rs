//! A bad flow file: exit code 2 and exactly one error line naming the file,
//! the field and the fix (a syntax error followed by the line and a
//! caret), on the real binary.

use crate::common::{plugin_dir_with, run_flow, runtime, scratch_dir, stderr, stdout, write_flow};

/// Runs `flow_text` and returns the single error line of standard error.
fn single_error_line(test: &str, flow_text: &str) -> (String, String) {
    let dir = plugin_dir_with(test, &["metronome", "stdout"]);
    let flow = write_flow(&dir, "bad.toml", flow_text);
    let flow_arg = flow.to_str().unwrap().to_owned();
    let output = run_flow(&flow, &dir);
    assert_eq!(output.status.code(), Some(2), "stderr: {}", stderr(&output));
    assert_eq!(stdout(&output), "", "no event may be printed");
    let err = stderr(&output);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 1, "exactly one error expected, got: {err}");
    (lines[0].to_owned(), flow_arg)
}

#[test]
fn a_syntax_error_names_the_file_and_the_line_and_shows_it() {
    let (line, flow) = single_error_line("syntax", "[[connector]\nid = \"x\"\n");
    assert!(
        line.starts_with(&format!("error: {flow}: line 1, column 12: ")),
        "{line}"
    );
    assert!(line.contains("; fix: "), "{line}");
    let output = run_flow(
        std::path::Path::new(&flow),
        std::path::Path::new(&flow).parent().unwrap(),
    );
    assert!(
        stderr(&output).ends_with("\n1 | [[connector]\n  |            ^\n"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unknown_field_names_it_and_the_line() {
    let (line, flow) = single_error_line(
        "unknown-field",
        "[[connector]]\nid = \"x\"\ntyep = \"stdout\"\n",
    );
    assert!(
        line.starts_with(&format!(
            "error: {flow}: line 3, column 1: unknown field `tyep`"
        )),
        "{line}"
    );
}

#[test]
fn an_unknown_connector_type_suggests_the_close_one() {
    let (line, flow) = single_error_line(
        "unknown-type",
        "[[connector]]\nid = \"tick\"\ntype = \"metronom\"\nconfig = { interval_ms = 1 }\n",
    );
    assert_eq!(
        line,
        format!(
            "error: {flow}: connector `tick`.type: no loaded plugin and no built-in connector provides \
             connector type `metronom` (known: blackhole, blaster, file, http_client, http_server, kafka, \
             metronome, nats, stdout, tcp_client, tcp_server, udp); fix: did you mean `metronome`? check the \
             type name, or add the plugin's directory with --plugin-path (`pdk-runtime plugins list` \
             shows what is found)"
        )
    );
}

#[test]
fn a_link_to_an_unknown_id_lists_the_ids() {
    let (line, flow) = single_error_line(
        "unknown-id",
        r#"
[[connector]]
id = "tick"
type = "metronome"
config = { interval_ms = 1 }

[[connector]]
id = "out"
type = "stdout"

[[link]]
from = "tick"
to = ["out", "nowhere"]
"#,
    );
    assert_eq!(
        line,
        format!(
            "error: {flow}: link[0].to[1]: no connector has id `nowhere`; \
             fix: use one of the connector ids: out, tick"
        )
    );
}

#[test]
fn a_missing_required_config_field_is_named_before_anything_runs() {
    let (line, flow) = single_error_line(
        "missing-config",
        r#"
[[connector]]
id = "tick"
type = "metronome"

[[connector]]
id = "out"
type = "stdout"

[[link]]
from = "tick"
to = "out"
"#,
    );
    assert_eq!(
        line,
        format!(
            "error: {flow}: connector `tick` (type `metronome`) config: missing field `interval_ms`; \
             fix: correct the `config` table of connector `tick`"
        )
    );
}

#[test]
fn a_config_key_a_connector_does_not_take_is_rejected() {
    let (line, _) = single_error_line(
        "extra-config",
        r#"
[[connector]]
id = "tick"
type = "metronome"
config = { interval_ms = 1, count = 1 }

[[connector]]
id = "out"
type = "stdout"
config = { colour = "red" }

[[link]]
from = "tick"
to = "out"
"#,
    );
    assert!(
        line.contains(
            "connector `out` (type `stdout`) config: unknown field `colour`, there are no fields;"
        ),
        "{line}"
    );
}

#[test]
fn a_link_from_a_sink_is_rejected() {
    let (line, flow) = single_error_line(
        "sink-as-source",
        r#"
[[connector]]
id = "out"
type = "stdout"

[[connector]]
id = "out2"
type = "stdout"

[[link]]
from = "out"
to = "out2"
"#,
    );
    assert_eq!(
        line,
        format!(
            "error: {flow}: link[0].from: connector `out` (type `stdout`) has no source side; \
             fix: link from a connector with a source side"
        )
    );
}

#[test]
fn a_source_without_a_link_is_rejected_rather_than_losing_events() {
    let (line, _) = single_error_line(
        "unlinked",
        "[[connector]]\nid = \"tick\"\ntype = \"metronome\"\nconfig = { interval_ms = 1 }\n",
    );
    assert!(
        line.contains("source `tick` is not linked to any sink"),
        "{line}"
    );
}

#[test]
fn duplicate_ids_are_rejected() {
    let (line, _) = single_error_line(
        "dup-id",
        "[[connector]]\nid = \"a\"\ntype = \"stdout\"\n[[connector]]\nid = \"a\"\ntype = \"stdout\"\n",
    );
    assert!(
        line.contains("connector[1].id: id `a` is used by two connectors"),
        "{line}"
    );
}

#[test]
fn a_missing_flow_file_is_named() {
    let output = runtime(&["run", "/nonexistent/flow.toml", "--isolated"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).starts_with("error: /nonexistent/flow.toml: file: cannot be read"));
}

#[test]
fn a_flow_file_that_is_not_utf8_is_named_with_its_line() {
    let dir = scratch_dir("not-utf8");
    let flow = dir.join("flow.toml");
    std::fs::write(&flow, b"# a flow\n[[connector]]\nid = \"caf\xe9\"\n").unwrap();
    let output = runtime(&["run", flow.to_str().unwrap(), "--isolated"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "error: {}: line 3: is not UTF-8 text (an invalid byte at offset 32); fix: save the \
             flow file as UTF-8, as TOML requires\n",
            flow.display()
        )
    );
}

#[test]
fn an_id_with_a_newline_is_rejected_on_one_line() {
    let (line, _) = single_error_line(
        "newline-id",
        "[[connector]]\nid = \"two\\nlines\"\ntype = \"stdout\"\n",
    );
    assert!(
        line.contains(
            "connector[0].id: the id `two\\nlines` contains a control character; fix: write the id on one line"
        ),
        "{line}"
    );
}

#[test]
fn a_flow_file_whose_name_has_a_newline_is_named_on_one_line() {
    let dir = scratch_dir("newline-name");
    let flow = dir.join("evil\nname.toml");
    std::fs::write(&flow, "[[connector]\n").unwrap();
    let output = runtime(&["run", flow.to_str().unwrap(), "--isolated"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error: ")).count(),
        1,
        "{err}"
    );
    assert!(
        err.starts_with(&format!(
            "error: {}/evil\\nname.toml: line 1",
            dir.display()
        )),
        "{err}"
    );
}

#[test]
fn a_config_that_is_not_a_table_names_the_connectors_own_config_type() {
    let (line, flow) = single_error_line(
        "config-not-a-table",
        r#"
[[connector]]
id = "tick"
type = "metronome"
config = 5

[[connector]]
id = "out"
type = "stdout"

[[link]]
from = "tick"
to = "out"
"#,
    );
    assert_eq!(
        line,
        format!(
            "error: {flow}: connector `tick` (type `metronome`) config: invalid type: \
             integer `5`, expected struct Config; fix: correct the `config` table of \
             connector `tick`"
        )
    );
}
