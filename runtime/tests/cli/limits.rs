//! Every read is bounded, and no client can take more than its share of a
//! server: the real binary against hostile inputs and clients on
//! 127.0.0.1, its memory read from `/proc`.

use std::time::{Duration, Instant};

use crate::common::{plugin_dir_with, run_flow, stderr, write_flow, RunningFlow};

/// The resident memory of process `pid`, in bytes.
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[test]
fn a_file_source_on_dev_zero_reads_with_bounded_memory_and_says_so_once() {
    let dir = plugin_dir_with("dev-zero", &["file", "blackhole"]);
    let flow = write_flow(
        &dir,
        "zero.toml",
        r#"
[[connector]]
id = "zero"
type = "file"
config = { path = "/dev/zero" }

[[connector]]
id = "sink"
type = "blackhole"

[[link]]
from = "zero"
to = "sink"
"#,
    );
    let running = RunningFlow::start(&flow, &dir);
    running.wait_for_log("`/dev/zero`: dropping 1 line(s) longer than max_line_bytes = 1048576");
    // Gigabytes of the one endless line go by meanwhile, none held.
    let started = Instant::now();
    let mut largest = 0;
    while started.elapsed() < Duration::from_secs(3) {
        largest = largest.max(rss_of(running.pid()));
        std::thread::sleep(Duration::from_millis(100));
    }
    let (output, _) = running.terminate(Duration::from_secs(15));
    let err = stderr(&output);
    assert!(
        largest < 200 * 1024 * 1024,
        "the runtime held {largest} bytes reading /dev/zero"
    );
    assert_eq!(
        err.matches("longer than max_line_bytes").count(),
        1,
        "one line says what happens: {err}"
    );
    assert!(output.status.success(), "stderr: {err}");
}

#[test]
fn a_blaster_on_a_10_gb_file_is_refused_at_once_naming_its_limit() {
    let dir = plugin_dir_with("huge-blaster", &["blaster", "blackhole"]);
    let huge = dir.join("huge.jsonl");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(10 * 1024 * 1024 * 1024)
        .unwrap();
    let flow = write_flow(
        &dir,
        "huge.toml",
        &format!(
            r#"
[[connector]]
id = "blast"
type = "blaster"
config = {{ path = {huge:?}, count = 10 }}

[[connector]]
id = "sink"
type = "blackhole"

[[link]]
from = "blast"
to = "sink"
"#
        ),
    );
    let started = Instant::now();
    let output = run_flow(&flow, &dir);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "stderr: {err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused before reading it"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(
        lines[0].contains("connector `blast` (type `blaster`) config")
            && lines[0].contains("is larger than max_file_bytes = 268435456")
            && lines[0].contains("raise `max_file_bytes`"),
        "{err}"
    );
}

/// Held by each attack test: two at once on a two-core machine would
/// measure each other's load, not the server's limits.
static ONE_ATTACK_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes [`ONE_ATTACK_AT_A_TIME`] (a failed test does not poison it).
fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_ATTACK_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Hostile clients (Python, independent of this project's Rust stack):
/// `python3 -c ATTACKER HOST PORT MODE N` opens N connections of one kind,
/// prints `ready` once they are open, and holds them until its standard
/// input closes; with `slow` modes it prints `closed SECONDS STATUS` for
/// each connection the server closes. `large` sends 1 MB bodies, one
/// request after another (HTTP), or one 1 MB partial line (TCP).
const ATTACKER: &str = r#"
import resource, socket, sys, threading, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
host, port, mode, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
head = b"POST / HTTP/1.1\r\nhost: attacker\r\ncontent-length: 1000000\r\n\r\n"
held = []
lock = threading.Lock()
def stalled(first):
    for _ in range(n):
        try:
            s = socket.create_connection((host, port))
            s.sendall(first)
            held.append(s)
        except OSError:
            pass
def slow(first):
    started = time.monotonic()
    status = "-"
    try:
        s = socket.create_connection((host, port))
        s.sendall(first)
        s.settimeout(0.05)
        while True:
            try:
                data = s.recv(4096)
                if not data:
                    break
                status = data.split(b" ")[1].decode() if data.startswith(b"HTTP") else status
            except socket.timeout:
                pass
            s.sendall(b"x")
            time.sleep(1)
    except OSError:
        pass
    with lock:
        print("closed", round(time.monotonic() - started, 1), status, flush=True)
def large(first, body):
    # HTTP: one request after another; TCP: one partial line, held.
    while True:
        try:
            s = socket.create_connection((host, port))
            s.sendall(first + body)
            s.settimeout(30)
            while s.recv(65536):
                pass
        except OSError:
            pass
        if not http:
            return
http = mode.startswith("http")
first = head if http else b""
if mode.endswith("stalled"):
    stalled(first + b"0123456789")
elif mode.endswith("slow"):
    for _ in range(n):
        threading.Thread(target=slow, args=(first,), daemon=True).start()
elif mode.endswith("large"):
    body = b"y" * (999_000 if http else 1_000_000)
    for _ in range(n):
        threading.Thread(target=large, args=(first, body), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"#;

/// A running [`ATTACKER`]; dropping it closes its connections.
struct Attack {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Attack {
    /// Starts `n` connections of `mode` against `address` and waits until
    /// they are open.
    fn start(address: std::net::SocketAddr, mode: &str, n: usize) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new("python3")
            .args(["-c", ATTACKER])
            .arg(address.ip().to_string())
            .arg(address.port().to_string())
            .args([mode, &n.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let out = child.stdout.take().expect("piped");
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        let attack = Self { child, lines };
        let ready = attack.next_line(Duration::from_secs(120));
        assert_eq!(ready.as_deref(), Some("ready"), "the {mode} attack started");
        attack
    }

    /// The next line it printed, waiting up to `limit`.
    fn next_line(&self, limit: Duration) -> Option<String> {
        self.lines.recv_timeout(limit).ok()
    }
}

impl Drop for Attack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request of a well-behaved client, and how long its answer took.
fn control_request(address: std::net::SocketAddr, http: bool) -> (String, Duration) {
    use std::io::{BufRead, Read, Write};
    let started = Instant::now();
    let stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = &stream;
    let answer = if http {
        let body = r#"{"control":1}"#;
        write!(
            writer,
            "POST /control HTTP/1.1\r\nhost: test\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        let _ = (&stream).read_to_string(&mut response);
        response.lines().next().unwrap_or_default().to_owned()
    } else {
        writer.write_all(b"control\n").unwrap();
        let mut line = String::new();
        let _ = std::io::BufReader::new(&stream).read_line(&mut line);
        line.trim_end().to_owned()
    };
    (answer, started.elapsed())
}

/// Sends control requests for `during`, asserting each is answered as
/// `expected` within a second; returns how many were sent.
fn served_throughout(
    address: std::net::SocketAddr,
    http: bool,
    expected: &str,
    during: Duration,
) -> usize {
    let started = Instant::now();
    let mut sent = 0;
    while sent < 5 || started.elapsed() < during {
        let (answer, took) = control_request(address, http);
        assert!(
            answer.starts_with(expected) && took < Duration::from_secs(1),
            "control request {sent}: `{answer}` after {took:?}"
        );
        sent += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    sent
}

/// A server connector `kind` linked to itself, under `ulimit -n 1024`,
/// and the address it listens on.
fn server_under_attack(
    test: &str,
    kind: &str,
    codec: &str,
    config: &str,
) -> (RunningFlow, std::net::SocketAddr) {
    let dir = plugin_dir_with(test, &[kind]);
    let flow = write_flow(
        &dir,
        "server.toml",
        &format!(
            r#"
[[connector]]
id = "server"
type = "{kind}"
codec = "{codec}"
config = {config}

[[link]]
from = "server"
to = "server"
"#
        ),
    );
    let running = RunningFlow::start_with_fd_limit(&flow, &dir, 1024);
    let address = running.address("listening on ");
    (running, address)
}

/// What the memory all connections hold may reach, with default limits,
/// beyond the runtime's idle size: the bound the connectors document
/// (`http_server`: 104 MiB of buffers; `tcp_server`: 72 MiB), and what
/// 512 connections' sockets, tasks and the allocator add.
const MEMORY_BOUND: u64 = 160 * 1024 * 1024;

/// The most resident memory of `pid` seen while `during` runs.
fn peak_rss_while(pid: u32, during: impl FnOnce()) -> u64 {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_of(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    during();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap()
}

/// What a protocol's attacks and its well-behaved client look like.
struct Protocol {
    /// The server connector and its codec.
    kind: &'static str,
    codec: &'static str,
    /// Whether the control client speaks HTTP (or sends a line).
    http: bool,
    /// How the control client's answer starts.
    answer: &'static str,
    /// The attack that sends a large request at once, and how many
    /// clients make it.
    large: (&'static str, usize),
}

/// Runs `protocol`'s server with default limits under `ulimit -n 1024`
/// through two attacks, 1 100 connections that never finish their
/// request and then many large ones: a control client is answered within
/// a second throughout, the memory stays bounded, and the log short.
fn serves_a_control_client_through_every_attack(test: &str, protocol: &Protocol) {
    let _alone = alone();
    let (running, address) = server_under_attack(
        test,
        protocol.kind,
        protocol.codec,
        r#"{ url = "127.0.0.1:0" }"#,
    );
    assert!(control_request(address, protocol.http)
        .0
        .starts_with(protocol.answer));
    let idle = rss_of(running.pid());
    let stalled_mode = format!("{}-stalled", if protocol.http { "http" } else { "tcp" });
    let peak = peak_rss_while(running.pid(), || {
        // More connections than the runtime has descriptors.
        let stalled: Vec<Attack> = (0..2)
            .map(|_| Attack::start(address, &stalled_mode, 550))
            .collect();
        served_throughout(
            address,
            protocol.http,
            protocol.answer,
            Duration::from_secs(3),
        );
        drop(stalled);
        let large = Attack::start(address, protocol.large.0, protocol.large.1);
        served_throughout(
            address,
            protocol.http,
            protocol.answer,
            Duration::from_secs(4),
        );
        drop(large);
    });
    eprintln!(
        "note: {}: resident memory {} MiB idle, {} MiB at most under attack",
        protocol.kind,
        idle >> 20,
        peak >> 20
    );
    assert!(
        peak.saturating_sub(idle) < MEMORY_BOUND,
        "the runtime grew from {idle} to {peak} bytes under attack"
    );
    let (output, _) = running.terminate(Duration::from_secs(15));
    let err = stderr(&output);
    assert!(output.status.success(), "stderr: {err}");
    assert!(
        !err.contains("Too many open files"),
        "the connection limit keeps the runtime within its descriptors: {err}"
    );
    let warnings = err.lines().filter(|l| l.contains("WARN")).count();
    assert!(warnings < 20, "a flood of trouble is a few lines: {err}");
}

#[test]
fn an_http_server_with_default_limits_serves_a_control_client_through_every_attack() {
    // 400 clients sending 1 MB bodies, one request after another.
    serves_a_control_client_through_every_attack(
        "http-attacks",
        &Protocol {
            kind: "http_server",
            codec: "json",
            http: true,
            answer: "HTTP/1.1 200",
            large: ("http-large", 400),
        },
    );
}

#[test]
fn a_tcp_server_with_default_limits_serves_a_control_client_through_every_attack() {
    // 200 clients each holding a 1 MB partial line.
    serves_a_control_client_through_every_attack(
        "tcp-attacks",
        &Protocol {
            kind: "tcp_server",
            codec: "string",
            http: false,
            answer: "control",
            large: ("tcp-large", 200),
        },
    );
}

#[test]
fn slow_http_bodies_and_heads_are_closed_after_their_timeouts() {
    let _alone = alone();
    let (running, address) = server_under_attack(
        "http-slow",
        "http_server",
        "json",
        r#"{ url = "127.0.0.1:0", body_timeout_ms = 2000, header_timeout_ms = 1000 }"#,
    );
    let slow = Attack::start(address, "http-slow", 200);
    served_throughout(address, true, "HTTP/1.1 200", Duration::from_secs(1));
    for i in 0..200 {
        let closed = slow
            .next_line(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("slow client {i} was never closed"));
        let fields: Vec<&str> = closed.split(' ').collect();
        let seconds: f64 = fields[1].parse().unwrap();
        assert!(
            fields[2] == "408" && (1.5..6.0).contains(&seconds),
            "closed after the 2 s body timeout with a 408: {closed}"
        );
    }
    drop(slow);
    let (output, _) = running.terminate(Duration::from_secs(15));
    assert!(output.status.success(), "stderr: {}", stderr(&output));
}

#[test]
fn slow_tcp_lines_are_closed_after_the_line_timeout() {
    let _alone = alone();
    let (running, address) = server_under_attack(
        "tcp-slow-lines",
        "tcp_server",
        "string",
        r#"{ url = "127.0.0.1:0", line_timeout_ms = 2000 }"#,
    );
    let slow = Attack::start(address, "tcp-slow", 200);
    served_throughout(address, false, "control", Duration::from_secs(1));
    for i in 0..200 {
        let closed = slow
            .next_line(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("slow client {i} was never closed"));
        let seconds: f64 = closed.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(
            (1.5..6.0).contains(&seconds),
            "closed after the 2 s line timeout: {closed}"
        );
    }
    drop(slow);
    let (output, _) = running.terminate(Duration::from_secs(15));
    assert!(output.status.success(), "stderr: {}", stderr(&output));
}
