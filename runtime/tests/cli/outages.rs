//! Failures that retrying cannot mend end a connector at once, and a stop
//! during an outage is prompt: the real binary, real sockets on
//! 127.0.0.1.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{
    plugin_dir_with, refused_port, run_flow, stderr, ticks_into, write_flow, RunningFlow,
};

#[test]
fn a_tcp_server_on_a_port_in_use_stops_at_once_naming_the_port_and_the_fix() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = plugin_dir_with("port-in-use", &["tcp_server"]);
    let flow = write_flow(
        &dir,
        "echo.toml",
        &format!(
            r#"
[[connector]]
id = "echo"
type = "tcp_server"
config = {{ url = "127.0.0.1:{port}" }}

[[link]]
from = "echo"
to = "echo"
"#
        ),
    );
    let started = Instant::now();
    let output = run_flow(&flow, &dir);
    let took = started.elapsed();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "stderr: {err}");
    assert!(
        took < Duration::from_secs(2),
        "a port in use is not retried: took {took:?}"
    );
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: connector `echo`: `connect` failed: cannot listen on ")
            && last.contains(&format!("port {port} is already in use"))
            && last.contains("fix: stop the program that uses it, or choose another port in `url`"),
        "{last}"
    );
    assert!(!err.contains("connect attempt"), "no retry was made: {err}");
    drop(taken);
}

#[test]
fn sigint_while_a_tcp_client_retries_a_closed_port_exits_0_at_once() {
    // Held to the end of the test, so that the port stays refused.
    let (_held, address) = refused_port();
    let dir = plugin_dir_with("stop-while-retrying", &["metronome", "tcp_client"]);
    let flow = write_flow(
        &dir,
        "client.toml",
        &format!(
            "drain_timeout_ms = 10000\n{}",
            ticks_into(1, 3, "tcp_client", &format!(r#"{{ url = "{address}" }}"#))
        ),
    );
    let running = RunningFlow::start(&flow, &dir);
    // By the fifth attempt the backoff waits 0.8 s between attempts.
    running.wait_for_log("connector `out`: connect attempt 5 failed");
    let attempts_before = running.log().matches("connect attempt").count();
    let status = Command::new("kill")
        .args(["-INT", &running.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let output = running.wait(Duration::from_secs(15));
    let took = started.elapsed();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "stderr: {err}");
    assert!(
        took < Duration::from_secs(1),
        "the signal cancels the backoff and the attempts: took {took:?}; stderr: {err}"
    );
    assert!(
        err.contains(
            "connector `out`: not connected when the runtime shut down; stopped without draining"
        ),
        "stderr: {err}"
    );
    // One attempt may have been failing as the signal arrived.
    assert!(
        err.matches("connect attempt").count() <= attempts_before + 1,
        "no attempt after the signal: {err}"
    );
}

#[test]
fn a_plugin_that_closes_the_signal_threads_socket_is_an_internal_failure_not_a_signal() {
    let dir = plugin_dir_with("closed-signal-pipe", &["metronome", "probe"]);
    let trace = dir.join("trace.txt");
    // An endless flow: only a signal, or a failure, ends it.
    let flow = write_flow(
        &dir,
        "endless.toml",
        &ticks_into(
            10,
            1_000_000_000,
            "probe_sink",
            &format!("{{ trace = {trace:?}, close_sockets = true }}"),
        ),
    );
    let running = RunningFlow::start(&flow, &dir);
    let output = running.wait(Duration::from_secs(30));
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(70), "stderr: {err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: internal failure: the thread watching for SIGINT/SIGTERM ended")
            && last.contains("a plugin may have closed a descriptor it does not own"),
        "{last}"
    );
    assert!(
        !err.contains("draining the flow (send it again"),
        "no signal was seen: {err}"
    );
}
