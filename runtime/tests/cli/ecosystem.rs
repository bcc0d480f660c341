//! Plugins written on the tokio ecosystem, as the book's network chapter
//! says (`test-plugins/ecosystem`), run in real flows against real
//! servers on 127.0.0.1; a plugin that uses tokio without `pdk`'s `tokio`
//! feature gets a message that says what to do.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::time::Duration;

use crate::common::{
    plugin_dir_with, run_flow, stderr, tick, ticks_into, write_flow, HttpReceiver, RunningFlow,
};

#[test]
fn tokio_sockets_timers_and_tasks_deliver_every_event_to_a_real_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let dir = plugin_dir_with("tokio-tcp", &["metronome", "ecosystem"]);
    let flow = write_flow(
        &dir,
        "flow.toml",
        &ticks_into(1, 200, "tokio_tcp", &format!(r#"{{ url = "{address}" }}"#)),
    );
    let runtime = RunningFlow::start(&flow, &dir);
    let (server_side, _) = listener.accept().unwrap();
    let lines: Vec<String> = BufReader::new(server_side)
        .lines()
        .take(200)
        .map(Result::unwrap)
        .collect();
    let output = runtime.wait(Duration::from_secs(30));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(lines, (0..200).map(tick).collect::<Vec<_>>());
    let log = stderr(&output);
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        log.contains(&format!("INFO  ecosystem/out] connected to {address}")),
        "{log}"
    );
    // From a `tokio::spawn`ed task, with the connector's target.
    assert!(
        log.contains(&format!(
            "INFO  ecosystem/out] watching the connection to {address}"
        )),
        "{log}"
    );
}

#[test]
fn reqwest_posts_every_event_to_a_real_http_server() {
    let receiver = HttpReceiver::start(0);
    let address = receiver.address;
    let dir = plugin_dir_with("reqwest", &["metronome", "ecosystem"]);
    let flow = write_flow(
        &dir,
        "flow.toml",
        &ticks_into(
            1,
            30,
            "reqwest_post",
            &format!(r#"{{ url = "http://{address}/events" }}"#),
        ),
    );
    let output = run_flow(&flow, &dir);
    assert!(output.status.success(), "{}", stderr(&output));
    let bodies: BTreeSet<String> = receiver
        .requests(30)
        .into_iter()
        .map(|request| request.body)
        .collect();
    assert_eq!(bodies, (0..30).map(tick).collect());
}

#[test]
fn a_plugin_that_uses_tokio_without_the_feature_is_told_how_to_fix_it() {
    let dir = plugin_dir_with("forgot-tokio", &["metronome", "forgot_tokio"]);
    let flow = write_flow(&dir, "flow.toml", &ticks_into(1, 1, "forgot_tokio", "{}"));
    let output = run_flow(&flow, &dir);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let advice = stderr(&output)
        .lines()
        .filter(|line| {
            line.contains("connector `out`: connect attempt")
                && line.contains("there is no reactor running")
                && line.contains(
                    "the plugin uses tokio without the `tokio` feature of `pdk`: add \
                     `features = [\"tokio\"]` to its `pdk` dependency and rebuild it",
                )
        })
        .count();
    assert_eq!(advice, 5, "every failed attempt says what to do");
}

#[test]
fn a_blocking_library_runs_on_a_blocking_thread_with_the_connectors_log_tag() {
    let dir = plugin_dir_with("blocking", &["blocking", "stdout"]);
    let input = dir.join("in.txt");
    let lines: Vec<String> = (0..500).map(|i| format!("line {i}")).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let flow = write_flow(
        &dir,
        "flow.toml",
        &format!(
            r#"
[[connector]]
id = "reader"
type = "blocking_lines"
codec = "string"
config = {{ path = {input:?} }}

[[connector]]
id = "out"
type = "stdout"

[[link]]
from = "reader"
to = "out"
"#
        ),
    );
    let output = run_flow(&flow, &dir);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed: Vec<String> = crate::common::stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(printed, lines);
    let log = stderr(&output);
    assert!(
        log.contains("INFO  blocking/reader] reading")
            && log.contains("INFO  blocking/reader] read 500 lines"),
        "records from the blocking thread keep the connector's tag: {log}"
    );
}
