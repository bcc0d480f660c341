//! `pdk-runtime serve`: flows of a directory started, replaced and stopped
//! while it runs; the control API; `validate`; plugins added meanwhile.
//! All over real files and real sockets on 127.0.0.1.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{
    built_plugin, library_file, plugin_dir_with, runtime_isolated, scratch_dir, stderr, stdout,
    trace_lines, trace_of, workspace, write_flow, RunningFlow,
};

/// The log line's marker before the endpoint's address under `serve`.
const CONTROL: &str = "and the control API (/flows) on";

/// `METHOD path` with `body` and, if given, the bearer `token`: the status
/// code and the body of the answer.
fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("the endpoint accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let authorization = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n{authorization}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    (status, body.to_owned())
}

/// The `/status` document.
fn status(address: SocketAddr) -> serde_json::Value {
    let (code, body) = request(address, "GET", "/status", "", None);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

/// Flow `name` of a `/status` document, if it is there.
fn flow<'a>(status: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    status["flows"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|flow| flow["name"] == name)
}

/// Polls `/status` until `done` holds for it (at most 60 s); returns it.
fn status_until(
    address: SocketAddr,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = status(address);
        if done(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "/status never showed {what}; last: {status:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether flow `name` is in `state`, started `starts` times.
fn is(status: &serde_json::Value, name: &str, state: &str, starts: u64) -> bool {
    flow(status, name).is_some_and(|f| f["state"] == state && f["starts"] == starts)
}

/// A metronome ticking every 20 ms into the file `out`.
fn ticks_to(out: &Path) -> String {
    format!(
        r#"
[[connector]]
id = "tick"
type = "metronome"
config = {{ interval_ms = 20 }}

[[connector]]
id = "out"
type = "file"
config = {{ path = "{}" }}

[[link]]
from = "tick"
to = "out"
"#,
        out.display()
    )
}

/// A transactional `probe_source` (slow, endless for a test) into the
/// file `out`, tracing into `trace`.
fn transactional_to(trace: &Path, out: &Path) -> String {
    format!(
        r#"
[[connector]]
id = "src"
type = "probe_source"
config = {{ trace = "{}", count = 1000000, pull_delay_ms = 2 }}

[[connector]]
id = "out"
type = "file"
config = {{ path = "{}" }}

[[link]]
from = "src"
to = "out"
"#,
        trace.display(),
        out.display()
    )
}

fn lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until `file` has more than `than` lines.
fn grows_past(file: &Path, than: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while lines(file).len() <= than {
        assert!(
            Instant::now() < deadline,
            "{} stopped growing",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_follows_its_flow_directory() {
    let plugins = plugin_dir_with("serve-dir-plugins", &["probe"]);
    let dir = scratch_dir("serve-dir");
    let flows = dir.join("flows");
    std::fs::create_dir(&flows).unwrap();
    let (trace_a1, out_a1) = (dir.join("a1.trace"), dir.join("a1.jsonl"));
    let (trace_a2, out_a2) = (dir.join("a2.trace"), dir.join("a2.jsonl"));
    let (out_b, out_c) = (dir.join("b.jsonl"), dir.join("c.jsonl"));
    write_flow(&flows, "a.toml", &transactional_to(&trace_a1, &out_a1));
    write_flow(&flows, "b.toml", &ticks_to(&out_b));
    let serve = RunningFlow::serve(&flows, &plugins, &["--api", "0"]);
    let api = serve.address(CONTROL);
    status_until(api, "a and b running", |s| {
        is(s, "a", "running", 1) && is(s, "b", "running", 1)
    });

    // SIGHUP reads the directory again; it does not end the runtime.
    let hup = Command::new("kill")
        .args(["-HUP", &serve.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    serve.wait_for_log("SIGHUP: reading the flow directories and the plugin path again");

    // A new file starts its flow.
    write_flow(&flows, "c.toml", &ticks_to(&out_c));
    status_until(api, "c running", |s| is(s, "c", "running", 1));
    grows_past(&out_c, 0);

    // A changed file restarts its flow on the new content, the old one
    // drained first: every event of the transactional source written is
    // acknowledged once, none twice, none lost.
    grows_past(&out_a1, 20);
    write_flow(&flows, "a.toml", &transactional_to(&trace_a2, &out_a2));
    status_until(api, "a started again", |s| is(s, "a", "running", 2));
    serve.wait_for_log("flow `a`: ");
    let acked: Vec<String> = trace_of(&trace_lines(&trace_a1), "src")
        .into_iter()
        .filter_map(|line| line.strip_prefix("ack 1 ").map(str::to_owned))
        .collect();
    let unique: HashSet<&String> = acked.iter().collect();
    assert_eq!(unique.len(), acked.len(), "an event was acknowledged twice");
    let written: Vec<String> = lines(&out_a1)
        .iter()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["n"].to_string()
        })
        .collect();
    assert_eq!(
        written.iter().collect::<HashSet<_>>(),
        unique,
        "what was written and what was acknowledged differ"
    );
    assert_eq!(written.len(), acked.len());
    grows_past(&out_a2, 0);

    // An invalid new version is refused: the old one runs on, and
    // /status says why.
    write_flow(
        &flows,
        "b.toml",
        "[[connector]]\nid = \"tick\"\ntype = \"metronom\"\n",
    );
    let refused = status_until(api, "b's new version refused", |s| {
        flow(s, "b").is_some_and(|b| b["rejected"].is_string())
    });
    let b = flow(&refused, "b").unwrap();
    assert_eq!(
        (b["state"].as_str(), b["starts"].as_u64()),
        (Some("running"), Some(1))
    );
    assert!(
        b["rejected"].as_str().unwrap().contains("`metronom`"),
        "{b:#}"
    );
    serve.wait_for_log("flow `b`: ");
    let before = lines(&out_b).len();
    grows_past(&out_b, before);

    // A removed file drains and stops its flow.
    std::fs::remove_file(flows.join("c.toml")).unwrap();
    status_until(api, "c gone", |s| flow(s, "c").is_none());
    serve.wait_for_log("flow `c`: stopped");
    let (_, metrics) = request(api, "GET", "/metrics", "", None);
    assert!(metrics.contains(r#"flow="b""#), "{metrics}");
    assert!(
        !metrics.lines().any(
            |line| line.starts_with("pdk_connector_events_out") && line.contains(r#"flow="c""#)
        ),
        "{metrics}"
    );
    let after = lines(&out_c).len();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(lines(&out_c).len(), after, "c still writes");

    let (output, _) = serve.terminate(Duration::from_secs(30));
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn the_control_api_puts_steers_and_deletes_flows() {
    let plugins = plugin_dir_with("serve-api-plugins", &[]);
    let dir = scratch_dir("serve-api");
    let flows = dir.join("flows");
    std::fs::create_dir(&flows).unwrap();
    let out = dir.join("ticks.jsonl");
    let serve = RunningFlow::serve(&flows, &plugins, &["--api", "0"]);
    let api = serve.address(CONTROL);

    let good = ticks_to(&out);
    let (code, body) = request(api, "PUT", "/flows/ticks", &good, None);
    assert_eq!(code, 201, "{body}");
    status_until(api, "ticks running", |s| is(s, "ticks", "running", 1));
    assert_eq!(
        std::fs::read_to_string(flows.join("ticks.toml")).unwrap(),
        good
    );
    serve.wait_for_log("control API: flow `ticks` put");

    // An invalid flow is refused with the command line's message, and
    // changes nothing.
    let bad = "[[connector]]\nid = \"tick\"\ntype = \"metronom\"\n";
    let (code, body) = request(api, "PUT", "/flows/ticks", bad, None);
    assert_eq!(code, 400, "{body}");
    assert!(
        body.starts_with(&format!(
            "error: {}: connector `tick`.type: no loaded plugin",
            flows.join("ticks.toml").display()
        )),
        "{body}"
    );
    assert_eq!(
        std::fs::read_to_string(flows.join("ticks.toml")).unwrap(),
        good
    );
    assert!(is(&status(api), "ticks", "running", 1));
    let (code, body) = request(api, "PUT", "/flows/..%2Fescape", &good, None);
    assert_eq!(code, 400, "{body}");

    // Pause and resume a source, restart a connector.
    let (code, body) = request(api, "POST", "/flows/ticks/connectors/tick/pause", "", None);
    assert_eq!(code, 200, "{body}");
    status_until(api, "tick paused", |s| {
        crate::observe::find(s, "tick").is_some_and(|c| c["state"] == "paused")
    });
    let written = lines(&out).len();
    std::thread::sleep(Duration::from_millis(200));
    assert!(lines(&out).len() <= written + 1, "a paused source goes on");
    let (code, _) = request(api, "POST", "/flows/ticks/resume", "", None);
    assert_eq!(code, 200);
    grows_past(&out, written + 1);
    let (code, body) = request(api, "POST", "/flows/ticks/connectors/out/restart", "", None);
    assert_eq!(code, 200, "{body}");
    serve.wait_for_log("connector `out`: restarted on an operator's request");
    let (code, body) = request(api, "POST", "/flows/ticks/connectors/out/pause", "", None);
    assert_eq!(code, 409, "{body}");
    let (code, body) = request(api, "POST", "/flows/ticks/connectors/nope/pause", "", None);
    assert_eq!(code, 404, "{body}");
    let (code, body) = request(api, "POST", "/flows/ticks/restart", "", None);
    assert_eq!(code, 200, "{body}");
    status_until(api, "ticks started again", |s| is(s, "ticks", "running", 2));

    // Delete stops it and removes its file.
    let (code, body) = request(api, "DELETE", "/flows/ticks", "", None);
    assert_eq!(code, 200, "{body}");
    assert!(!flows.join("ticks.toml").exists());
    status_until(api, "ticks gone", |s| flow(s, "ticks").is_none());
    let (code, _) = request(api, "DELETE", "/flows/ticks", "", None);
    assert_eq!(code, 404);

    let (output, _) = serve.terminate(Duration::from_secs(30));
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn beyond_loopback_the_endpoint_needs_a_token() {
    let plugins = plugin_dir_with("serve-token-plugins", &[]);
    let dir = scratch_dir("serve-token");
    let flows = dir.to_str().unwrap();
    let output = runtime_isolated(&["serve", "--flows", flows, "--api", "0.0.0.0:0"], &plugins);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: --api 0.0.0.0:0 listens beyond this machine, so the endpoint needs a token; \
         fix: pass --api-token-file FILE (the token on its first line), or listen on 127.0.0.1\n"
    );

    let token_file = dir.join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let serve = RunningFlow::serve(
        &dir,
        &plugins,
        &[
            "--api",
            "0.0.0.0:0",
            "--api-token-file",
            token_file.to_str().unwrap(),
        ],
    );
    let mut api = serve.address(CONTROL);
    api.set_ip([127, 0, 0, 1].into());
    for path in ["/status", "/metrics", "/flows"] {
        let (code, body) = request(api, "GET", path, "", None);
        assert_eq!(code, 401, "{path}: {body}");
        let (code, _) = request(api, "GET", path, "", Some("s3cret-tokem"));
        assert_eq!(code, 401, "{path}");
        let (code, body) = request(api, "GET", path, "", Some("s3cret-token"));
        assert_eq!(code, 200, "{path}: {body}");
    }
    let (code, _) = request(api, "PUT", "/flows/x", "", None);
    assert_eq!(code, 401);
    serve.terminate(Duration::from_secs(30));
}

#[test]
fn validate_reports_every_mistake_and_connects_nothing() {
    let plugins = plugin_dir_with("validate-plugins", &[]);
    let dir = scratch_dir("validate");
    let bad = write_flow(
        &dir,
        "bad.toml",
        r#"
[[connector]]
id = "tick"
type = "metronom"

[[connector]]
id = "client"
type = "tcp_client"
config = { url = "nonsense" }

[[link]]
from = "tick"
to = "nowhere"
"#,
    );
    let output = runtime_isolated(&["validate", bad.to_str().unwrap()], &plugins);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    let errors: Vec<&str> = err.lines().collect();
    assert_eq!(errors.len(), 3, "{err}");
    let bad = bad.display();
    assert!(
        errors[0].starts_with(&format!("error: {bad}: connector `tick`.type: ")),
        "{err}"
    );
    assert!(
        errors[1].starts_with(&format!(
            "error: {bad}: link[0].to[0]: no connector has id `nowhere`"
        )),
        "{err}"
    );
    assert!(
        errors[2].starts_with(&format!(
            "error: {bad}: connector `client` (type `tcp_client`) config: field `url`: "
        )),
        "{err}"
    );

    let syntax = write_flow(&dir, "syntax.toml", "[[connector]]\nid = tick\n");
    let output = runtime_isolated(&["validate", syntax.to_str().unwrap()], &plugins);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).ends_with("\n2 | id = tick\n  |      ^\n"),
        "{}",
        stderr(&output)
    );

    // A good flow: exit 0, and its client never connects to the server
    // that listens for it.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let good = write_flow(
        &dir,
        "good.toml",
        &format!(
            r#"
[[connector]]
id = "tick"
type = "metronome"
config = {{ interval_ms = 10, count = 3 }}

[[connector]]
id = "client"
type = "tcp_client"
config = {{ url = "{}" }}

[[link]]
from = "tick"
to = "client"
"#,
            server.local_addr().unwrap()
        ),
    );
    let output = runtime_isolated(&["validate", good.to_str().unwrap()], &plugins);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!("ok: {}: 2 connectors, 1 links\n", good.display())
    );
    assert_eq!(
        server.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "validate connected"
    );
}

#[test]
fn a_plugin_copied_in_while_serve_runs_is_used_by_a_later_flow_if_trusted() {
    let plugins = scratch_dir("serve-hot-add-plugins");
    let dir = scratch_dir("serve-hot-add");
    let flows = dir.join("flows");
    std::fs::create_dir(&flows).unwrap();
    let digest = Command::new("sha256sum")
        .arg(built_plugin("probe"))
        .output()
        .expect("sha256sum runs");
    let trust = dir.join("trusted");
    std::fs::write(&trust, &digest.stdout).unwrap();
    let serve = RunningFlow::serve(
        &flows,
        &plugins,
        &["--api", "0", "--trust", trust.to_str().unwrap()],
    );
    let api = serve.address(CONTROL);

    for plugin in ["probe", "blocking"] {
        // Copied under another name, then renamed: the file appears whole.
        let part = plugins.join(format!(".{plugin}.part"));
        std::fs::copy(built_plugin(plugin), &part).unwrap();
        std::fs::rename(&part, plugins.join(library_file(plugin))).unwrap();
    }
    serve.wait_for_log(&format!(
        "new plugin {}",
        plugins.join(library_file("probe")).display()
    ));

    let trace = dir.join("p.trace");
    write_flow(
        &flows,
        "p.toml",
        &format!(
            r#"
[[connector]]
id = "src"
type = "probe_source"
config = {{ trace = "{0}", count = 3 }}

[[connector]]
id = "snk"
type = "probe_sink"
config = {{ trace = "{0}" }}

[[link]]
from = "src"
to = "snk"
"#,
            trace.display()
        ),
    );
    status_until(api, "p finished", |s| is(s, "p", "stopped", 1));
    let acked: Vec<String> = trace_of(&trace_lines(&trace), "src")
        .into_iter()
        .filter(|line| line.starts_with("ack 1 "))
        .collect();
    assert_eq!(acked, ["ack 1 0", "ack 1 1", "ack 1 2"]);

    write_flow(
        &flows,
        "q.toml",
        "[[connector]]\nid = \"blocker\"\ntype = \"thread_blocker\"\n",
    );
    let refused = status_until(api, "q refused", |s| {
        flow(s, "q").is_some_and(|q| q["state"] == "failed")
    });
    let error = flow(&refused, "q").unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("`thread_blocker`"), "{error}");
    assert!(error.contains(&library_file("blocking")), "{error}");
    serve.terminate(Duration::from_secs(30));
}

#[test]
fn the_books_curl_commands_drive_a_real_serve() {
    let plugins = plugin_dir_with("serve-curl-plugins", &[]);
    let flows = scratch_dir("serve-curl");
    let example = workspace().join("examples/serve/ticks.toml");
    let output = runtime_isolated(&["validate", example.to_str().unwrap()], &plugins);
    assert!(output.status.success(), "{}", stderr(&output));

    let serve = RunningFlow::serve(&flows, &plugins, &["--api", "0"]);
    let api = serve.address(CONTROL);
    let output = Command::new("sh")
        .arg("examples/serve/control-api.sh")
        .current_dir(workspace())
        .env("API", format!("http://{api}"))
        .output()
        .expect("sh runs");
    let out = stdout(&output);
    assert!(output.status.success(), "{out}{}", stderr(&output));
    for answer in [
        r#""paused": ["#,
        r#""resumed": ["#,
        r#""restarted": ["#,
        "reloaded the flow directories and the plugin path",
        r#""deleted": "ticks""#,
    ] {
        assert!(out.contains(answer), "no `{answer}` in:\n{out}");
    }
    serve.wait_for_log("control API: flow `ticks` deleted");
    assert!(!flows.join("ticks.toml").exists());
    serve.terminate(Duration::from_secs(30));
}

#[test]
fn a_client_that_never_finishes_its_body_delays_no_one_and_is_cut_off() {
    let plugins = plugin_dir_with("serve-slow-plugins", &[]);
    let flows = scratch_dir("serve-slow");
    let serve = RunningFlow::serve(&flows, &plugins, &["--api", "0"]);
    let api = serve.address(CONTROL);
    let mut stalled = TcpStream::connect(api).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stalled,
        "PUT /flows/slow HTTP/1.1\r\nHost: {api}\r\nContent-Length: 1000\r\n\r\n[[connector]]\n"
    )
    .unwrap();
    // Others are answered while it is still waiting for its answer.
    let (code, _) = request(api, "GET", "/flows", "", None);
    assert_eq!(code, 200);
    stalled.set_nonblocking(true).unwrap();
    assert_eq!(
        stalled.read(&mut [0; 1]).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "the stalled request was answered before the others"
    );
    stalled.set_nonblocking(false).unwrap();
    let mut answer = String::new();
    let _ = stalled.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(!flows.join("slow.toml").exists());
    serve.terminate(Duration::from_secs(30));
}

#[test]
fn a_failed_flow_stops_alone_and_health_says_which() {
    let plugins = plugin_dir_with("serve-failed-plugins", &[]);
    let dir = scratch_dir("serve-failed");
    let flows = dir.join("flows");
    std::fs::create_dir(&flows).unwrap();
    let out = dir.join("a.jsonl");
    write_flow(&flows, "a.toml", &ticks_to(&out));
    // A server on a port that is taken: a configuration error, which
    // retrying cannot mend.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    write_flow(
        &flows,
        "b.toml",
        &format!(
            "[[connector]]\nid = \"echo\"\ntype = \"tcp_server\"\nconfig = {{ url = \"{}\" }}\n\n\
             [[link]]\nfrom = \"echo\"\nto = \"echo\"\n",
            taken.local_addr().unwrap()
        ),
    );
    let serve = RunningFlow::serve(&flows, &plugins, &["--api", "0"]);
    let api = serve.address(CONTROL);
    let status = status_until(api, "b failed", |s| {
        flow(s, "b").is_some_and(|b| b["state"] == "failed")
    });
    assert!(
        flow(&status, "b").unwrap()["error"]
            .as_str()
            .is_some_and(|error| error.contains("echo")),
        "{status:#}"
    );
    let (code, why) = request(api, "GET", "/health", "", None);
    assert_eq!(code, 503, "{why}");
    assert!(why.starts_with("flow `b` failed"), "{why}");
    // The other flow runs on.
    status_until(api, "a running", |s| is(s, "a", "running", 1));
    let written = lines(&out).len();
    grows_past(&out, written);
    serve.terminate(Duration::from_secs(30));
}
