//! The network connectors on the real binary, against real clients and
//! servers on 127.0.0.1: `tcp_server`, `tcp_client`, `udp`, `http_server`
//! and `http_client`. Servers bind port 0; a test learns the address from
//! the connector's `listening on` / `bound to` log line.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::common::{
    plugin_dir_with, python, refused_port, run_flow, stderr, stdout, tick, ticks_into, write_flow,
    HttpReceiver, RunningFlow,
};

/// A flow of one connector `echo` of type `kind`, linked to itself.
fn self_linked(kind: &str, codec: &str, config: &str) -> String {
    format!(
        r#"
[[connector]]
id = "echo"
type = "{kind}"
codec = "{codec}"
config = {config}

[[link]]
from = "echo"
to = "echo"
"#
    )
}

/// A `tcp_server` linked to itself (an echo server, `string` codec) on a
/// free port, with `extra` keys in its config.
fn echo_server(test: &str, extra: &str) -> (RunningFlow, SocketAddr) {
    let dir = plugin_dir_with(test, &["tcp_server"]);
    let config = format!(r#"{{ url = "127.0.0.1:0"{extra} }}"#);
    let flow = write_flow(
        &dir,
        "echo.toml",
        &self_linked("tcp_server", "string", &config),
    );
    let running = RunningFlow::start(&flow, &dir);
    let address = running.address("listening on ");
    (running, address)
}

/// Sends `lines` and reads as many lines back.
fn echo_round_trip(address: SocketAddr, lines: &[String]) -> Vec<String> {
    let stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    for line in lines {
        writer.write_all(format!("{line}\n").as_bytes()).unwrap();
    }
    BufReader::new(stream)
        .lines()
        .take(lines.len())
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_client_that_never_reads_delays_no_other_client_nor_shutdown() {
    let (server, address) = echo_server("tcp-nonreader", ", max_queued_lines = 100000");
    // 16 MB of echoes it never reads: they fill both kernel buffers, and
    // the server's writes to it block.
    let mut idle = TcpStream::connect(address).unwrap();
    let line = format!("{}\n", "x".repeat(8 * 1024));
    for _ in 0..2_000 {
        idle.write_all(line.as_bytes()).unwrap();
    }
    let clients: Vec<_> = (0..20)
        .map(|client| {
            std::thread::spawn(move || {
                let sent: Vec<String> = (0..10)
                    .map(|k| format!("client {client} line {k}"))
                    .collect();
                assert_eq!(echo_round_trip(address, &sent), sent, "client {client}");
            })
        })
        .collect();
    for client in clients {
        client.join().expect("every client gets its own echoes");
    }
    assert!(
        !server.log().contains("disconnecting"),
        "the idle client is still connected: {}",
        server.log()
    );
    let (output, _) = server.terminate(Duration::from_secs(5));
    assert!(output.status.success(), "{}", stderr(&output));
    drop(idle);
}

#[test]
fn a_client_that_half_closes_gets_its_echo_every_time() {
    let (server, address) = echo_server("tcp-halfclose", "");
    // What `printf 'hello\n' | nc -q1 HOST PORT` does, 50 times.
    for attempt in 0..50 {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(format!("hello {attempt}\n").as_bytes())
            .unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, format!("hello {attempt}\n"), "attempt {attempt}");
    }
    let (output, _) = server.terminate(Duration::from_secs(10));
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn a_client_that_pipelines_thousands_of_lines_gets_every_echo_in_order() {
    // Replies are written by the sink side itself or queued for the
    // client's writer, whichever is free: a burst larger than the socket's
    // buffers takes both ways, often within one line (a partial write).
    let (server, address) = echo_server("tcp-pipelined", ", max_queued_lines = 100000");
    let stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let lines = 20_000;
    let reader = {
        let stream = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            BufReader::new(stream)
                .lines()
                .take(lines)
                .map(Result::unwrap)
                .collect::<Vec<_>>()
        })
    };
    let mut burst = String::new();
    for k in 0..lines {
        burst.push_str(&format!("line {k} {}\n", "y".repeat(k % 300)));
    }
    (&stream).write_all(burst.as_bytes()).unwrap();
    let echoed = reader.join().expect("every echo arrives");
    let sent: Vec<&str> = burst.lines().collect();
    assert_eq!(echoed.len(), sent.len());
    if let Some(k) = (0..lines).find(|&k| echoed[k] != sent[k]) {
        panic!(
            "echo {k} out of order: {:?} where {:?} was sent",
            echoed[k], sent[k]
        );
    }
    let (output, _) = server.terminate(Duration::from_secs(10));
    assert!(output.status.success(), "{}", stderr(&output));
}

/// The resident set size of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kib| kib.trim().trim_end_matches(" kB").parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

#[test]
fn a_line_without_a_newline_is_dropped_in_bounded_memory() {
    let (server, address) = echo_server("tcp-longline", "");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let megabyte = vec![b'y'; 1 << 20];
    let mut peak = rss_kib(server.pid());
    for _ in 0..100 {
        stream.write_all(&megabyte).unwrap();
        peak = peak.max(rss_kib(server.pid()));
    }
    stream.write_all(b"\nafter\n").unwrap();
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply).unwrap();
    peak = peak.max(rss_kib(server.pid()));
    assert_eq!(reply, "after\n", "the next line is served");
    assert!(peak < 64 * 1024, "RSS reached {peak} KiB for a 100 MB line");
    let (output, _) = server.terminate(Duration::from_secs(10));
    assert!(output.status.success(), "{}", stderr(&output));
    let log = stderr(&output);
    let warnings: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("longer than max_line_bytes = 1048576"))
        .collect();
    assert_eq!(warnings.len(), 1, "one log line for the long line: {log}");
}

#[test]
fn a_client_that_never_reads_is_disconnected_once_its_queue_is_full() {
    let (server, address) = echo_server("tcp-slow", ", max_queued_lines = 8");
    let mut idle = TcpStream::connect(address).unwrap();
    let line = format!("{}\n", "z".repeat(64 * 1024));
    let deadline = Instant::now() + Duration::from_secs(30);
    while idle.write_all(line.as_bytes()).is_ok() {
        assert!(Instant::now() < deadline, "never disconnected");
    }
    let warning = server.wait_for_log("does not read its replies");
    assert!(
        warning.contains("8 are queued; disconnecting it"),
        "{warning}"
    );
    let sent = vec![String::from("still served")];
    assert_eq!(echo_round_trip(address, &sent), sent);
    let (output, _) = server.terminate(Duration::from_secs(5));
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn a_bad_address_is_a_config_error_at_load() {
    let network = [
        "tcp_server",
        "tcp_client",
        "udp",
        "http_server",
        "http_client",
    ];
    let dir = plugin_dir_with("bad-urls", &network);
    for (kind, url, says) in [
        ("tcp_server", "localhost", "is not an address to listen on"),
        ("tcp_client", "no-port", "is not a server address"),
        ("udp", "127.0.0.1:99999", "is not a UDP address"),
        (
            "http_server",
            "999.0.0.1:80",
            "is not an address to listen on",
        ),
        ("http_client", "https://example.com/", "includes no TLS"),
    ] {
        let flow = write_flow(
            &dir,
            &format!("{kind}.toml"),
            &format!(
                "[[connector]]\nid = \"net\"\ntype = \"{kind}\"\nconfig = {{ url = \"{url}\" }}\n"
            ),
        );
        let output = run_flow(&flow, &dir);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{kind}: {message}");
        assert_eq!(message.lines().count(), 1, "{kind}: one line: {message}");
        assert!(
            message.contains(&format!("connector `net` (type `{kind}`) config"))
                && message.contains(&format!("field `url`: `{url}`"))
                && message.contains(says),
            "{kind}: {message}"
        );
    }
}

/// The time of a log line, `[2026-11-22T15:08:01Z ...`, in seconds.
fn log_time(line: &str) -> i64 {
    let stamp = line
        .trim_start_matches('[')
        .split([' ', ']'])
        .next()
        .unwrap();
    stamp.parse::<jiff::Timestamp>().unwrap().as_second()
}

/// The server stays down long enough for the backoff to reach its cap
/// (5 s, from the 8th attempt on) and stay there for 30 s: under the default
/// budget (5 failures within 60 s) the client keeps trying, and delivers
/// once the server is up. Takes about 40 s.
#[test]
fn tcp_client_reconnects_until_the_server_is_up_and_delivers_every_line() {
    let (held, address) = refused_port();
    let dir = plugin_dir_with("tcp-client", &["metronome", "tcp_client"]);
    let config = format!(r#"{{ url = "{address}" }}"#);
    let flow = write_flow(
        &dir,
        "client.toml",
        &ticks_into(1, 3, "tcp_client", &config),
    );
    let runtime = RunningFlow::start(&flow, &dir);
    runtime.wait_for_log("connector `out`: connect attempt 1 failed: cannot connect to");
    let at_cap = runtime.wait_for_log("connector `out`: connect attempt 8 failed");
    let later = runtime.wait_for_log_within(
        "connector `out`: connect attempt 14 failed",
        Duration::from_secs(60),
    );
    assert!(
        log_time(&later) - log_time(&at_cap) >= 23,
        "six attempts at the 5 s cap (each at least 4 s, with its jitter): {at_cap} ... {later}"
    );
    held.listen(1).unwrap();
    let listener = TcpListener::from(held);
    let (stream, _) = listener.accept().unwrap();
    let lines: Vec<String> = BufReader::new(stream)
        .lines()
        .take(3)
        .map(Result::unwrap)
        .collect();
    let output = runtime.wait(Duration::from_secs(30));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(lines, (0..3).map(tick).collect::<Vec<_>>());
}

#[test]
fn tcp_client_reconnects_when_the_server_closes_and_delivers_the_rest() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let dir = plugin_dir_with("tcp-client-reconnect", &["metronome", "tcp_client"]);
    let config = format!(r#"{{ url = "{address}" }}"#);
    // 200 ms between ticks: time enough to notice the closed connection
    // before the next line, which TCP would otherwise accept and lose.
    let flow = write_flow(
        &dir,
        "client.toml",
        &ticks_into(200, 10, "tcp_client", &config),
    );
    let runtime = RunningFlow::start(&flow, &dir);
    let (first, _) = listener.accept().unwrap();
    let mut lines: Vec<String> = BufReader::new(first)
        .lines()
        .take(3)
        .map(Result::unwrap)
        .collect();
    // The first connection is dropped here: the server went away.
    let (second, _) = listener.accept().unwrap();
    lines.extend(BufReader::new(second).lines().map(Result::unwrap));
    let output = runtime.wait(Duration::from_secs(30));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(lines, (0..10).map(tick).collect::<Vec<_>>());
    assert!(stderr(&output).contains("connection lost: reconnecting"));
}

#[test]
fn udp_echoes_datagrams_from_a_python_client() {
    let dir = plugin_dir_with("udp-echo", &["udp"]);
    let config = r#"{ url = "127.0.0.1:0" }"#;
    let flow = write_flow(&dir, "udp.toml", &self_linked("udp", "string", config));
    let server = RunningFlow::start(&flow, &dir);
    let address = server.address("bound to ");
    let client = python(
        r#"
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
echoed = 0
for i in range(20):
    message = ("datagram %d" % i).encode()
    s.sendto(message, (host, int(port)))
    reply, _ = s.recvfrom(65536)
    echoed += reply == message
print(echoed)
"#,
        &[&address.to_string()],
    );
    assert_eq!(stdout(&client), "20\n", "{}", stderr(&client));
    let (output, _) = server.terminate(Duration::from_secs(10));
    assert!(output.status.success(), "{}", stderr(&output));
}

/// A Python HTTP client that ignores any proxy of the environment.
const PYTHON_HTTP: &str = r#"
import json, sys, threading, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def post(url, body, content_type="application/json"):
    request = urllib.request.Request(url, data=body, headers={"content-type": content_type})
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
"#;

#[test]
fn http_server_answers_50_concurrent_clients_each_with_its_own_response() {
    let dir = plugin_dir_with("http-echo", &["http_server"]);
    let config = r#"{ url = "127.0.0.1:0" }"#;
    let flow = write_flow(
        &dir,
        "http.toml",
        &self_linked("http_server", "json", config),
    );
    let server = RunningFlow::start(&flow, &dir);
    let address = server.address("listening on ");
    let client = python(
        &format!(
            "{PYTHON_HTTP}{}",
            r#"
url = sys.argv[1]
together = threading.Barrier(50)
results = [None] * 50
def client(i):
    together.wait()
    status, body = post("%s/clients/%d" % (url, i), json.dumps({"client": i}).encode())
    results[i] = (status, json.loads(body))
threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
for t in threads: t.start()
for t in threads: t.join()
print(sum(1 for i, r in enumerate(results) if r == (200, {"client": i})))
"#
        ),
        &[&format!("http://{address}")],
    );
    assert_eq!(stdout(&client), "50\n", "{}", stderr(&client));
    let (output, _) = server.terminate(Duration::from_secs(10));
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn http_server_answers_what_goes_wrong_with_the_matching_status() {
    let dir = plugin_dir_with("http-errors", &["http_server", "probe", "blackhole"]);
    let trace = dir.join("trace.txt");
    let flow = write_flow(
        &dir,
        "http.toml",
        &format!(
            r#"
[[connector]]
id = "fails"
type = "http_server"
config = {{ url = "127.0.0.1:0", max_body_bytes = 16 }}

[[connector]]
id = "refuser"
type = "probe_sink"
config = {{ trace = {trace:?}, fail_every = 1 }}

[[connector]]
id = "silent"
type = "http_server"
config = {{ url = "127.0.0.1:0", timeout_ms = 200 }}

[[connector]]
id = "counter"
type = "blackhole"

[[link]]
from = "fails"
to = "refuser"

[[link]]
from = "silent"
to = "counter"
"#
        ),
    );
    let server = RunningFlow::start(&flow, &dir);
    let fails = server.address("pdk-http-server/fails] listening on ");
    let silent = server.address("pdk-http-server/silent] listening on ");
    let client = python(
        &format!(
            "{PYTHON_HTTP}{}",
            r#"
fails, silent = sys.argv[1], sys.argv[2]
print(post(fails, b"x" * 100)[0], post(fails, b'{"a": 1}')[0], post(fails, b"not json")[0], post(silent, b'{"a": 1}')[0])
"#
        ),
        &[&format!("http://{fails}"), &format!("http://{silent}")],
    );
    // Too large, failed in the flow, not decodable, never answered.
    assert_eq!(stdout(&client), "413 500 400 504\n", "{}", stderr(&client));
    let (output, _) = server.terminate(Duration::from_secs(10));
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn http_client_posts_every_event_and_its_responses_reach_the_linked_sink() {
    let receiver = HttpReceiver::start(0);
    let address = receiver.address;
    let dir = plugin_dir_with("http-client", &["metronome", "http_client", "file"]);
    let out = dir.join("responses.jsonl");
    let config = format!(r#"{{ url = "http://{address}/ingest" }}"#);
    let flow = write_flow(
        &dir,
        "client.toml",
        &format!(
            r#"{}
[[connector]]
id = "responses"
type = "file"
config = {{ path = {out:?} }}

[[link]]
from = "out"
to = "responses"
"#,
            ticks_into(1, 20, "http_client", &config)
        ),
    );
    // The flow ends by itself once every response has reached the file.
    let output = run_flow(&flow, &dir);
    assert!(output.status.success(), "{}", stderr(&output));
    let ticks: BTreeSet<u64> = receiver
        .requests(20)
        .iter()
        .map(|request| {
            assert_eq!(
                (request.method.as_str(), request.path.as_str()),
                ("POST", "/ingest")
            );
            let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
            body["tick"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(ticks, (0..20).collect());
    let responses: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(responses.len(), 20, "{}", stderr(&output));
    let seen: BTreeSet<u64> = responses
        .iter()
        .map(|response| {
            assert_eq!(response["status"], 200);
            assert_eq!(response["headers"]["content-type"], "application/json");
            response["body"]["seen"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(seen, (1..=20).collect());
}

#[test]
fn http_client_fed_faster_than_its_server_answers_passes_every_response_on() {
    // The blaster sends far more events than `max_in_flight` requests
    // and the queue of responses hold, and the connector's inbox is never
    // empty: its sink side waits for a request slot while its source side,
    // in the same task, has responses to pass on.
    let dir = plugin_dir_with(
        "http-client-fast",
        &["blaster", "http_client", "http_server", "file"],
    );
    let server_flow = write_flow(
        &dir,
        "server.toml",
        &self_linked("http_server", "json", r#"{ url = "127.0.0.1:0" }"#),
    );
    let server = RunningFlow::start(&server_flow, &dir);
    let address = server.address("listening on ");
    let data = dir.join("in.jsonl");
    let records: String = (0..100).map(|i| format!("{{\"i\":{i}}}\n")).collect();
    std::fs::write(&data, records).unwrap();
    let out = dir.join("responses.jsonl");
    let events = 3_000;
    let flow = write_flow(
        &dir,
        "client.toml",
        &format!(
            r#"
[[connector]]
id = "blast"
type = "blaster"
config = {{ path = {data:?}, count = {events} }}

[[connector]]
id = "client"
type = "http_client"
config = {{ url = "http://{address}/", max_in_flight = 8 }}

[[connector]]
id = "responses"
type = "file"
config = {{ path = {out:?} }}

[[link]]
from = "blast"
to = "client"

[[link]]
from = "client"
to = "responses"
"#
        ),
    );
    // A stalled flow never exits: `wait` fails the test after 60 s.
    let output = RunningFlow::start(&flow, &dir).wait(Duration::from_secs(60));
    assert!(output.status.success(), "{}", stderr(&output));
    let responses = std::fs::read_to_string(&out).unwrap();
    let statuses: Vec<u64> = responses
        .lines()
        .map(|line| {
            let response: serde_json::Value = serde_json::from_str(line).unwrap();
            response["status"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(statuses.len(), events, "{}", stderr(&output));
    assert!(statuses.iter().all(|&status| status == 200));
    drop(server);
}

#[test]
fn http_client_fails_events_the_server_refuses_and_the_source_sends_them_again() {
    let receiver = HttpReceiver::start(3);
    let address = receiver.address;
    let dir = plugin_dir_with("http-client-retry", &["blaster", "http_client"]);
    let records: Vec<String> = (0..5).map(|i| format!(r#"{{"record":{i}}}"#)).collect();
    std::fs::write(dir.join("in.jsonl"), records.join("\n") + "\n").unwrap();
    let flow = write_flow(
        &dir,
        "retry.toml",
        &format!(
            r#"
[[connector]]
id = "blast"
type = "blaster"
config = {{ path = {:?}, count = 5 }}

[[connector]]
id = "post"
type = "http_client"
config = {{ url = "{address}", max_in_flight = 1 }}

[[link]]
from = "blast"
to = "post"
"#,
            dir.join("in.jsonl")
        ),
    );
    let output = run_flow(&flow, &dir);
    assert!(output.status.success(), "{}", stderr(&output));
    let received = receiver.requests(8);
    assert!(receiver.nothing_more(), "3 refused, then 5 accepted");
    let accepted: BTreeSet<&str> = received[3..].iter().map(|r| r.body.as_str()).collect();
    assert_eq!(accepted, records.iter().map(String::as_str).collect());
    let refusals = stderr(&output)
        .lines()
        .filter(|line| line.contains("the server answered 503"))
        .count();
    assert_eq!(refusals, 3, "{}", stderr(&output));
}

#[test]
fn http_client_used_only_as_a_sink_keeps_no_responses_and_never_stalls() {
    // More responses than its queue and its requests in flight together
    // could hold, with nothing pulling its source side.
    let receiver = HttpReceiver::start(0);
    let dir = plugin_dir_with("http-client-sink-only", &["metronome", "http_client"]);
    let config = format!(r#"{{ url = "http://{}/sink" }}"#, receiver.address);
    let flow = write_flow(
        &dir,
        "sink.toml",
        &ticks_into(1, 400, "http_client", &config),
    );
    let output = RunningFlow::start(&flow, &dir).wait(Duration::from_secs(60));
    assert!(output.status.success(), "{}", stderr(&output));
    let ticks: BTreeSet<String> = receiver
        .requests(400)
        .into_iter()
        .map(|request| request.body)
        .collect();
    assert_eq!(ticks, (0..400).map(tick).collect());
}
