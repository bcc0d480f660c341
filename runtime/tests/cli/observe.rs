//! The `--api` endpoint: `/health`, `/status` and `/metrics` of a running
//! flow, read over real sockets.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::common::{plugin_dir_with, ticks_into, write_flow, RunningFlow};

/// The log line's marker before the endpoint's address.
const LISTENING: &str = "serving /metrics, /health and /status on";

/// `GET path` from the endpoint at `address`: the status code and the body.
pub fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("the endpoint accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout can be set");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("the request is sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("the response is read");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("a head and a body: {response}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head}"));
    (status, body.to_owned())
}

/// Polls `GET path` until `done` holds for its answer (at most 30 s);
/// returns that answer.
pub fn get_until(
    address: SocketAddr,
    path: &str,
    done: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(address, path);
        if done(status, &body) {
            return (status, body);
        }
        assert!(
            Instant::now() < deadline,
            "`GET {path}` never answered as expected; last: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The connector `id` in a `/status` document.
pub fn connector<'a>(status: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    status["flows"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|flow| flow["connectors"].as_array().into_iter().flatten())
        .find(|connector| connector["id"] == id)
        .unwrap_or_else(|| panic!("no connector `{id}` in {status}"))
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn health_is_503_while_a_tcp_client_cannot_connect_and_200_once_its_server_is_up() {
    // A port held but not listened on: connections to it are refused, and
    // no other process can take it before the server starts on it.
    let held = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    held.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let server = held.local_addr().unwrap().as_socket().unwrap();
    let dir = plugin_dir_with("api-health", &["metronome", "tcp_client"]);
    let config = format!(r#"{{ url = "{server}" }}"#);
    let flow = write_flow(
        &dir,
        "client.toml",
        &ticks_into(20, 100_000, "tcp_client", &config),
    );
    let runtime = RunningFlow::start_with_args(&flow, &dir, &["--api", "0"]);
    let api = runtime.address(LISTENING);

    let (_, body) = get_until(api, "/health", |status, _| status == 503);
    assert!(
        body.contains("flow `client`: connector `out` is ") && body.contains("cannot connect to"),
        "the reason names the flow, the connector, its state and its error: {body}"
    );
    let (_, status) = get_until(api, "/status", |_, body| {
        connector(&json(body), "out")["last_error"].is_string()
    });
    let status = json(&status);
    let out = connector(&status, "out");
    assert!(
        ["connecting", "reconnecting"].contains(&out["state"].as_str().unwrap_or_default()),
        "{out}"
    );
    assert!(out["connect_attempts"].as_u64() >= Some(1), "{out}");
    assert_eq!(status["healthy"], false);
    assert_eq!(connector(&status, "tick")["state"], "running");

    held.listen(8).unwrap();
    let listener = TcpListener::from(held);
    let (_, body) = get_until(api, "/health", |status, _| status == 200);
    assert!(body.starts_with("ok"), "{body}");
    let (_, status) = get(api, "/status");
    let status = json(&status);
    let out = connector(&status, "out");
    assert_eq!(out["state"], "running", "{out}");
    assert!(
        out["last_error"]
            .as_str()
            .is_some_and(|error| error.contains("cannot connect to")),
        "the last error stays shown: {out}"
    );
    assert_eq!(status["healthy"], true);
    drop(listener);
    runtime.terminate(Duration::from_secs(10));
}

#[test]
fn metrics_count_every_event_and_unknown_paths_are_named() {
    let dir = plugin_dir_with("api-metrics", &["metronome", "blackhole"]);
    // 40 ticks, then the flow keeps running on a second, slow metronome,
    // so that the final counts can be read while it runs.
    let flow = write_flow(
        &dir,
        "counted.toml",
        r#"
[[connector]]
id = "tick"
type = "metronome"
config = { interval_ms = 1, count = 40 }

[[connector]]
id = "hole"
type = "blackhole"

[[connector]]
id = "slow"
type = "metronome"
config = { interval_ms = 60000, count = 2 }

[[connector]]
id = "idle"
type = "blackhole"

[[link]]
from = "tick"
to = "hole"

[[link]]
from = "slow"
to = "idle"
"#,
    );
    let runtime = RunningFlow::start_with_args(&flow, &dir, &["--api", "0"]);
    let api = runtime.address(LISTENING);
    get_until(api, "/status", |_, body| {
        connector(&json(body), "tick")["state"] == "stopped"
    });
    let (status, metrics) = get(api, "/metrics");
    assert_eq!(status, 200);
    let labels = |id: &str, kind: &str, plugin: &str| {
        format!(r#"{{flow="counted",connector="{id}",type="{kind}",plugin="{plugin}"}}"#)
    };
    for line in [
        format!(
            "pdk_connector_events_out_total{} 40",
            labels("tick", "metronome", "pdk-metronome")
        ),
        format!(
            "pdk_connector_acks_total{} 40",
            labels("tick", "metronome", "pdk-metronome")
        ),
        format!(
            "pdk_connector_events_in_total{} 40",
            labels("hole", "blackhole", "pdk-blackhole")
        ),
        format!(
            "pdk_connector_event_latency_seconds_count{} 40",
            labels("hole", "blackhole", "pdk-blackhole")
        ),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in:\n{metrics}"
        );
    }
    assert!(
        metrics.contains(
            r#"pdk_connector_state{flow="counted",connector="tick",type="metronome",plugin="pdk-metronome",state="stopped"} 1"#
        ),
        "{metrics}"
    );
    let (status, body) = get(api, "/nope");
    assert_eq!(status, 404);
    assert!(body.contains("/metrics, /health and /status"), "{body}");
    runtime.terminate(Duration::from_secs(10));
}

#[test]
fn an_api_address_in_use_stops_the_run_with_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = plugin_dir_with("api-in-use", &["metronome", "blackhole"]);
    let flow = write_flow(&dir, "f.toml", &ticks_into(1, 1, "blackhole", "{}"));
    let output =
        crate::common::runtime_isolated(&["run", flow.to_str().unwrap(), "--api", &port], &dir);
    assert_eq!(output.status.code(), Some(2));
    let err = crate::common::stderr(&output);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port} for --api"))
            && err.contains("fix: choose a free port"),
        "{err}"
    );
    let output =
        crate::common::runtime_isolated(&["run", flow.to_str().unwrap(), "--api", "nowhere"], &dir);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        crate::common::stderr(&output).contains("`nowhere` is not a port or HOST:PORT"),
        "{}",
        crate::common::stderr(&output)
    );
}
