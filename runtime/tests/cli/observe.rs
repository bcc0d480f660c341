//! The `--api` endpoint: `/health`, `/status` and `/metrics` of a running
//! flow, read over real sockets.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::common::{plugin_dir_with, refused_port, ticks_into, write_flow, RunningFlow};

/// The log line's marker before the endpoint's address.
const LISTENING: &str = "serving /metrics, /health and /status on";

/// `GET path` from the endpoint at `address`: the status code and the body.
pub fn get(address: SocketAddr, path: &str) -> (u16, String) {
    try_get(address, path).unwrap_or_else(|e| panic!("`GET {path}` from {address}: {e}"))
}

/// [`get`], or why it could not be asked or answered.
fn try_get(address: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("a head and a body: {response}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head}"));
    Ok((status, body.to_owned()))
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

/// The connector `id` in a `/status` document, if it is there yet.
pub fn find<'a>(status: &'a serde_json::Value, id: &str) -> Option<&'a serde_json::Value> {
    status["flows"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|flow| flow["connectors"].as_array().into_iter().flatten())
        .find(|connector| connector["id"] == id)
}

/// The connector `id` in a `/status` document.
pub fn connector<'a>(status: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    find(status, id).unwrap_or_else(|| panic!("no connector `{id}` in {status}"))
}

/// Whether connector `id` of the `/status` document `body` is in `state`.
fn is_in(body: &str, id: &str, state: &str) -> bool {
    find(&json(body), id).is_some_and(|connector| connector["state"] == state)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn health_is_503_while_a_tcp_client_cannot_connect_and_200_once_its_server_is_up() {
    let (held, server) = refused_port();
    let dir = plugin_dir_with("api-health", &["metronome", "tcp_client"]);
    let config = format!(r#"{{ url = "{server}" }}"#);
    let flow = write_flow(
        &dir,
        "client.toml",
        &ticks_into(20, 100_000, "tcp_client", &config),
    );
    let runtime = RunningFlow::start_with_args(&flow, &dir, &["--api", "0"]);
    let api = runtime.address(LISTENING);

    let (_, body) = get_until(api, "/health", |status, body| {
        status == 503 && body.contains("cannot connect to")
    });
    assert!(
        body.contains("flow `client`: connector `out` is connecting: connect attempt")
            || body.contains("flow `client`: connector `out` is reconnecting: connect attempt"),
        "the reason names the flow, the connector, its state and its error: {body}"
    );
    let (_, status) = get_until(api, "/status", |_, body| {
        find(&json(body), "out").is_some_and(|out| out["last_error"].is_string())
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
    get_until(api, "/status", |_, body| is_in(body, "tick", "stopped"));
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

/// The value of the line of `metrics` that starts with `series` and a
/// space, if there is one.
fn value_of(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn a_plugin_counter_shows_the_exact_count_of_events_its_sink_got() {
    // In the runtime's process, and in one of its own.
    for isolation in ["none", "process"] {
        plugin_counter_counts_exactly(isolation);
    }
}

fn plugin_counter_counts_exactly(isolation: &str) {
    const EVENTS: u64 = 300;
    let dir = plugin_dir_with(
        &format!("api-plugin-metrics-{isolation}"),
        &["metronome", "blackhole", "probe"],
    );
    let trace = dir.join("trace");
    // Two sinks of one type count into two series of one family; a slow
    // second metronome keeps the flow running while the counts are read.
    let flow = write_flow(
        &dir,
        "counted.toml",
        &format!(
            r#"
[[connector]]
id = "tick"
type = "metronome"
config = {{ interval_ms = 1, count = {EVENTS} }}

[[connector]]
id = "probe"
type = "probe_sink"
config = {{ trace = "{trace}", counter = "probe_events" }}
isolation = "{isolation}"

[[connector]]
id = "slow"
type = "metronome"
config = {{ interval_ms = 60000, count = 2 }}

[[connector]]
id = "idle"
type = "probe_sink"
config = {{ trace = "{trace}", counter = "probe_events" }}

[[link]]
from = "tick"
to = "probe"

[[link]]
from = "slow"
to = "idle"
"#,
            trace = trace.display()
        ),
    );
    let runtime = RunningFlow::start_with_args(&flow, &dir, &["--api", "0"]);
    let api = runtime.address(LISTENING);
    let labels = |id: &str| {
        format!(r#"{{flow="counted",connector="{id}",type="probe_sink",plugin="probe"}}"#)
    };
    let counted = format!("pdk_plugin_probe_events_total{}", labels("probe"));
    let handed = format!("pdk_connector_events_in_total{}", labels("probe"));
    let (_, metrics) = get_until(api, "/metrics", |_, body| {
        value_of(body, &handed) == Some(EVENTS as f64)
            && value_of(body, &counted) >= Some(EVENTS as f64)
    });
    assert_eq!(
        value_of(&metrics, &counted),
        Some(EVENTS as f64),
        "{metrics}"
    );
    assert!(
        metrics.contains("# HELP pdk_plugin_probe_events_total Events the probe sink received")
            && metrics.contains("# TYPE pdk_plugin_probe_events_total counter"),
        "{metrics}"
    );
    let idle = format!("pdk_plugin_probe_events_total{}", labels("idle"));
    assert!(
        value_of(&metrics, &idle) <= Some(2.0),
        "the other sink's series is its own: {metrics}"
    );
    runtime.terminate(Duration::from_secs(10));
}

#[test]
fn a_plugin_metric_with_a_bad_name_stops_the_flow_naming_the_metric_and_the_rule() {
    let dir = plugin_dir_with("api-plugin-bad-name", &["metronome", "probe"]);
    let trace = dir.join("trace");
    let flow = write_flow(
        &dir,
        "bad.toml",
        &ticks_into(
            1,
            1,
            "probe_sink",
            &format!(
                r#"{{ trace = "{}", counter = "events_total" }}"#,
                trace.display()
            ),
        ),
    );
    let output = crate::common::runtime_isolated(&["run", flow.to_str().unwrap()], &dir);
    assert_eq!(output.status.code(), Some(2));
    let err = crate::common::stderr(&output);
    assert!(
        err.contains(
            "connector `out` (type `probe_sink`) config: metric `events_total`: the name ends \
             in `_total`, which Prometheus gives a meaning to; leave it out"
        ),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
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

/// Debian's `prometheus` and `promtool`, unpacked by the project's own
/// script.
fn prometheus_dir() -> std::path::PathBuf {
    let output =
        std::process::Command::new(crate::common::workspace().join("scripts/install-prometheus"))
            .output()
            .expect("scripts/install-prometheus runs");
    assert!(
        output.status.success(),
        "scripts/install-prometheus failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::path::PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// The value of the one series `query` selects, as Prometheus's HTTP API
/// at `prometheus` answers it now.
fn query(prometheus: SocketAddr, query: &str) -> Option<String> {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    // Refused until Prometheus listens.
    let (status, body) = try_get(prometheus, &format!("/api/v1/query?query={encoded}")).ok()?;
    if status != 200 {
        return None;
    }
    let answer = json(&body);
    answer["data"]["result"][0]["value"][1]
        .as_str()
        .map(str::to_owned)
}

#[test]
fn a_real_prometheus_scrapes_every_event_of_a_blaster_to_blackhole_flow() {
    const EVENTS: u64 = 5_000;
    let tools = prometheus_dir();
    let dir = plugin_dir_with("api-prometheus", &["blaster", "blackhole", "metronome"]);
    let records = dir.join("records.jsonl");
    std::fs::write(&records, "{\"n\":1,\"text\":\"a record\"}\n{\"n\":2}\n").unwrap();
    let flow = write_flow(
        &dir,
        "scraped.toml",
        &format!(
            r#"
[[connector]]
id = "blast"
type = "blaster"
config = {{ path = "{}", count = {EVENTS} }}

[[connector]]
id = "sink"
type = "blackhole"

[[connector]]
id = "slow"
type = "metronome"
config = {{ interval_ms = 60000, count = 2 }}

[[connector]]
id = "idle"
type = "blackhole"

[[link]]
from = "blast"
to = "sink"

[[link]]
from = "slow"
to = "idle"
"#,
            records.display()
        ),
    );
    let runtime = RunningFlow::start_with_args(&flow, &dir, &["--api", "0"]);
    let api = runtime.address(LISTENING);

    // Prometheus on a port the system chose, scraping the endpoint every
    // second from its start.
    let web = TcpListener::bind("127.0.0.1:0").unwrap();
    let web_address = web.local_addr().unwrap();
    drop(web);
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pdk\n    static_configs:\n      - targets: ['{api}']\n"
        ),
    )
    .unwrap();
    let mut prometheus = std::process::Command::new(tools.join("prometheus"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={web_address}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus starts");

    get_until(api, "/status", |_, body| is_in(body, "blast", "stopped"));
    let wanted = EVENTS.to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (out, into) = loop {
        let out = query(
            web_address,
            r#"pdk_connector_events_out_total{connector="blast"}"#,
        );
        let into = query(
            web_address,
            r#"pdk_connector_events_in_total{connector="sink"}"#,
        );
        if out.as_deref() == Some(&wanted) && into.as_deref() == Some(&wanted) {
            break (out, into);
        }
        if Instant::now() > deadline {
            break (out, into);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (_, metrics) = get(api, "/metrics");
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert_eq!(
        out.as_deref(),
        Some(wanted.as_str()),
        "the blaster's events out, as Prometheus scraped them"
    );
    assert_eq!(
        into.as_deref(),
        Some(wanted.as_str()),
        "the blackhole's events in, as Prometheus scraped them"
    );

    let mut promtool = std::process::Command::new(tools.join("promtool"))
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool starts");
    promtool
        .stdin
        .take()
        .expect("piped")
        .write_all(metrics.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    runtime.terminate(Duration::from_secs(10));
}

#[test]
fn top_once_prints_every_connector_with_its_state_as_json_and_as_a_table() {
    let dir = plugin_dir_with("api-top", &["metronome", "blackhole"]);
    let flow = write_flow(
        &dir,
        "watched.toml",
        &ticks_into(10, 100_000, "blackhole", "{}"),
    );
    let runtime = RunningFlow::start_with_args(&flow, &dir, &["--api", "0"]);
    let api = runtime.address(LISTENING).to_string();
    get_until(api.parse().unwrap(), "/health", |status, _| status == 200);
    let output = crate::common::runtime(&["top", "--api", &api, "--once", "--format", "json"]);
    assert!(
        output.status.success(),
        "{}",
        crate::common::stderr(&output)
    );
    let status = json(&crate::common::stdout(&output));
    for id in ["tick", "out"] {
        assert_eq!(connector(&status, id)["state"], "running", "{status}");
    }
    let output = crate::common::runtime(&["top", "--api", &api, "--once"]);
    let table = crate::common::stdout(&output);
    assert!(table.starts_with("FLOW "), "{table}");
    for id in ["tick", "out"] {
        assert!(
            table.lines().any(|line| line.starts_with("watched ")
                && line.contains(id)
                && line.contains("running")),
            "{table}"
        );
    }
    runtime.terminate(Duration::from_secs(10));
    let output = crate::common::runtime(&["top", "--api", &api, "--once"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        crate::common::stderr(&output)
            .contains(&format!("cannot read the status from http://{api}/status")),
        "{}",
        crate::common::stderr(&output)
    );
}

#[test]
fn the_flow_files_api_serves_the_endpoint_and_a_bad_one_is_named_with_the_fix() {
    let dir = plugin_dir_with("api-in-flow", &["metronome", "blackhole"]);
    let flow = write_flow(
        &dir,
        "served.toml",
        &format!(
            "api = \"0\"\n{}",
            ticks_into(10, 100_000, "blackhole", "{}")
        ),
    );
    let runtime = RunningFlow::start(&flow, &dir);
    let api = runtime.address(LISTENING);
    let (_, body) = get_until(api, "/status", |_, body| is_in(body, "out", "running"));
    assert_eq!(connector(&json(&body), "tick")["state"], "running");
    runtime.terminate(Duration::from_secs(10));

    let bad = write_flow(
        &dir,
        "bad.toml",
        &format!(
            "api = \"nowhere\"\n{}",
            ticks_into(10, 1, "blackhole", "{}")
        ),
    );
    let output = crate::common::runtime_isolated(&["run", bad.to_str().unwrap()], &dir);
    assert_eq!(output.status.code(), Some(2));
    let err = crate::common::stderr(&output);
    assert!(
        err.contains("bad.toml: api: `nowhere` is not a port or HOST:PORT")
            && err.contains("fix: write `api = \"9898\"`"),
        "{err}"
    );
}
