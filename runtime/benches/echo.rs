//! Request/response through the network connectors, beside the bare
//! programs a user would otherwise write, on 127.0.0.1:
//!
//! - TCP echo: `tcp_server` linked to itself (each line decoded as JSON
//!   and written back), as a plugin file and built into the runtime,
//!   beside a bare tokio echo server (`#[tokio::main]`, a task per
//!   connection writing back each line);
//! - HTTP echo: `http_server` linked to itself (each request's JSON body
//!   is the response's), as a plugin file and built in, beside a bare
//!   hyper server answering each request with its body.
//!
//! Every server is a process of its own (the bare ones are this bench's
//! executable, started again as a peer), started on a fresh port and
//! ready once it accepts a connection. One load generator in this
//! process (one thread) keeps `1` and then `32` connections busy, each
//! sending a request and waiting for its answer before the next; the
//! servers alternate within each round. Printed: requests per second and
//! the 99th percentile of the latency, their medians over the rounds, and
//! each connector's ratio to the bare server. Where valgrind is installed,
//! callgrind then counts each server's instructions per request (every
//! thread of its process), which this shared machine's noise does not
//! move.
//!
//! `cargo bench -p pdk-runtime --bench echo` (`PDK_BENCH_SECONDS`, the
//! measured time of one run, default 2; `PDK_BENCH_RUNS`, default 5;
//! `PDK_BENCH_QUICK=1`: one short round that only checks it runs).

mod setup;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};

/// The line and the body every request sends.
const REQUEST: &str = r#"{"id":7,"user":"ada","action":"checkout","items":[3,5,8]}"#;

/// [`REQUEST`] as a line, as the TCP echo sends it.
const REQUEST_LINE: &str = concat!(
    r#"{"id":7,"user":"ada","action":"checkout","items":[3,5,8]}"#,
    "\n"
);

/// Requests in the shorter of the two runs callgrind counts; the longer
/// one sends three times as many.
const COUNTED_REQUESTS: u64 = 1_000;

/// Connection counts measured.
const CONNECTIONS: [usize; 2] = [1, 32];

/// The variable naming the bare server this executable runs as a peer.
const PEER: &str = "PDK_BENCH_PEER";

/// The protocols measured.
#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    Tcp,
    Http,
}

/// A server measured.
#[derive(Clone, Copy)]
enum Server {
    /// The connector, from its plugin file.
    Plugin,
    /// The connector built into the runtime.
    BuiltIn,
    /// The bare tokio or hyper program.
    Bare,
}

impl Server {
    const ALL: [Self; 3] = [Self::Plugin, Self::BuiltIn, Self::Bare];

    fn name(self, protocol: Protocol) -> &'static str {
        match (self, protocol) {
            (Self::Plugin, Protocol::Tcp) => "tcp_server (plugin)",
            (Self::BuiltIn, Protocol::Tcp) => "tcp_server (built in)",
            (Self::Bare, Protocol::Tcp) => "bare tokio",
            (Self::Plugin, Protocol::Http) => "http_server (plugin)",
            (Self::BuiltIn, Protocol::Http) => "http_server (built in)",
            (Self::Bare, Protocol::Http) => "bare hyper",
        }
    }

    /// The command that runs the server on `address`, its program run
    /// through `run` (`Command::new`, or [`setup::callgrind`]).
    fn command(
        self,
        protocol: Protocol,
        address: SocketAddr,
        dir: &Path,
        run: impl FnOnce(&Path) -> Command,
    ) -> Command {
        let mut command = match self {
            Self::Bare => {
                let mut command = run(&std::env::current_exe().expect("this executable"));
                command.env(
                    PEER,
                    format!(
                        "{}={address}",
                        if protocol == Protocol::Tcp {
                            "tokio"
                        } else {
                            "hyper"
                        }
                    ),
                );
                command
            }
            Self::Plugin | Self::BuiltIn => {
                let kind = if protocol == Protocol::Tcp {
                    "tcp_server"
                } else {
                    "http_server"
                };
                let flow = dir.join(format!("{kind}.toml"));
                std::fs::write(
                    &flow,
                    format!(
                        "[[connector]]\nid = \"echo\"\ntype = \"{kind}\"\n\
                         config = {{ url = \"{address}\" }}\n\n\
                         [[link]]\nfrom = \"echo\"\nto = \"echo\"\n"
                    ),
                )
                .expect("the flow file");
                let mut command = run(&setup::runtime());
                command.arg("run").arg(flow).arg("--isolated");
                if matches!(self, Self::Plugin) {
                    command.arg("--plugin-path").arg(dir.join("plugins"));
                }
                command.env("PDK_LOG", "error");
                command
            }
        };
        command.stdout(Stdio::null());
        command
    }

    /// Starts the server on `address`.
    fn start(self, protocol: Protocol, address: SocketAddr, dir: &Path) -> Child {
        self.command(protocol, address, dir, |program| Command::new(program))
            .spawn()
            .expect("the server starts")
    }
}

/// What one run measured.
struct Measured {
    requests_per_second: f64,
    p99: Duration,
}

/// Waits until something accepts connections on `address`.
async fn ready(address: SocketAddr, server: &mut Child) {
    let started = Instant::now();
    while TcpStream::connect(address).await.is_err() {
        assert!(
            server.try_wait().expect("the server's status").is_none(),
            "the server on {address} exited before it accepted a connection"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing accepted connections on {address} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One client connection, sending a request and waiting for its answer
/// before the next.
enum Client {
    Tcp {
        lines: BufReader<OwnedReadHalf>,
        write: OwnedWriteHalf,
        answer: String,
    },
    Http {
        sender: SendRequest<Full<Bytes>>,
    },
}

impl Client {
    /// A connection to the server on `address`.
    async fn connect(protocol: Protocol, address: SocketAddr) -> Self {
        let stream = TcpStream::connect(address).await.expect("a connection");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        match protocol {
            Protocol::Tcp => {
                let (read, write) = stream.into_split();
                Self::Tcp {
                    lines: BufReader::new(read),
                    write,
                    answer: String::new(),
                }
            }
            Protocol::Http => {
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .expect("an HTTP connection");
                tokio::spawn(conn);
                Self::Http { sender }
            }
        }
    }

    /// Sends one request and reads its whole answer.
    async fn round_trip(&mut self) {
        match self {
            Self::Tcp {
                lines,
                write,
                answer,
            } => {
                write
                    .write_all(REQUEST_LINE.as_bytes())
                    .await
                    .expect("a write");
                answer.clear();
                let read = lines.read_line(answer).await.expect("a read");
                assert!(read > 0, "the server closed the connection");
            }
            Self::Http { sender } => {
                let request = hyper::Request::post("/")
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(REQUEST.as_bytes())))
                    .expect("a request");
                let response = sender.send_request(request).await.expect("a response");
                assert!(response.status().is_success(), "{}", response.status());
                let body = response.into_body().collect().await.expect("the body");
                assert!(!body.to_bytes().is_empty(), "an empty answer");
            }
        }
    }
}

/// One connection's requests: sent one after the other until `end`, with
/// the latencies of those answered after `from`.
async fn connection(
    protocol: Protocol,
    address: SocketAddr,
    from: Instant,
    end: Instant,
) -> Vec<Duration> {
    let mut client = Client::connect(protocol, address).await;
    let mut latencies = Vec::new();
    while Instant::now() < end {
        let sent = Instant::now();
        client.round_trip().await;
        if sent >= from {
            latencies.push(sent.elapsed());
        }
    }
    latencies
}

/// Measures `server` with `connections` connections for `seconds` after
/// a warm-up of a fifth of that.
fn measure(
    server: Server,
    protocol: Protocol,
    connections: usize,
    seconds: f64,
    dir: &Path,
) -> Measured {
    let address = free_address();
    let mut child = server.start(protocol, address, dir);
    let load = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the load generator's runtime");
    let mut latencies: Vec<Duration> = load.block_on(async {
        ready(address, &mut child).await;
        let from = Instant::now() + Duration::from_secs_f64(seconds / 5.0);
        let end = from + Duration::from_secs_f64(seconds);
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(connection(protocol, address, from, end)))
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("a connection's task"));
        }
        all
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(!latencies.is_empty(), "no request was answered");
    latencies.sort_unstable();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    Measured {
        requests_per_second: latencies.len() as f64 / seconds,
        p99,
    }
}

/// Instructions the server executes per request, in all its threads:
/// callgrind counts a run of [`COUNTED_REQUESTS`] requests and one of
/// three times as many on one connection, and their difference is divided
/// by the requests it adds, so that start-up and shutdown cancel out.
fn instructions_per_request(server: Server, protocol: Protocol, dir: &Path) -> f64 {
    let [once, thrice] = [COUNTED_REQUESTS, 3 * COUNTED_REQUESTS]
        .map(|requests| counted(server, protocol, requests, dir));
    thrice.saturating_sub(once) as f64 / (2 * COUNTED_REQUESTS) as f64
}

/// The instructions callgrind counts in `server` while it answers
/// `requests` requests, from its start to its exit on `SIGTERM`.
fn counted(server: Server, protocol: Protocol, requests: u64, dir: &Path) -> u64 {
    let address = free_address();
    let mut child = server
        .command(protocol, address, dir, setup::callgrind)
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts under callgrind");
    let load = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the load generator's runtime");
    load.block_on(async {
        ready(address, &mut child).await;
        let mut client = Client::connect(protocol, address).await;
        for _ in 0..requests {
            client.round_trip().await;
        }
    });
    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(terminated.success(), "the server took SIGTERM");
    setup::collected_by(&child.wait_with_output().expect("the server exits"))
}

/// An address on 127.0.0.1 whose port was free a moment ago.
fn free_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("an ephemeral port")
}

/// The bare tokio echo server: what a user would write instead.
async fn bare_tokio(address: SocketAddr) {
    let listener = TcpListener::bind(address).await.expect("the port");
    loop {
        let (stream, _) = listener.accept().await.expect("a client");
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let answer = format!("{line}\n");
                if write.write_all(answer.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// The bare hyper server: answers each request with its body.
async fn bare_hyper(address: SocketAddr) {
    let listener = TcpListener::bind(address).await.expect("the port");
    loop {
        let (stream, _) = listener.accept().await.expect("a client");
        tokio::spawn(async move {
            let echo = hyper::service::service_fn(
                |request: hyper::Request<hyper::body::Incoming>| async {
                    let body = request.into_body().collect().await?.to_bytes();
                    Ok::<_, hyper::Error>(
                        hyper::Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(body))
                            .expect("a response"),
                    )
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), echo)
                .await;
        });
    }
}

/// Runs the bare server `peer` names (`tokio=ADDRESS` or `hyper=ADDRESS`)
/// until `SIGTERM`, as a user's `#[tokio::main]` program would.
fn run_peer(peer: &str) {
    let (kind, address) = peer.split_once('=').expect("KIND=ADDRESS");
    let address: SocketAddr = address.parse().expect("an address");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the peer's runtime");
    runtime.block_on(async {
        let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
        // Ends on SIGTERM, returning from `main`: callgrind counts a peer
        // that exits normally.
        match kind {
            "tokio" => tokio::select! {
                () = bare_tokio(address) => {}
                _ = terminate.recv() => {}
            },
            "hyper" => tokio::select! {
                () = bare_hyper(address) => {}
                _ = terminate.recv() => {}
            },
            other => panic!("no peer named {other}"),
        }
    });
}

fn main() {
    if let Ok(peer) = std::env::var(PEER) {
        run_peer(&peer);
        return;
    }
    // Only the rounds: a run here lasts a time, not a count of events.
    let scale = setup::Scale::from_env(0, 5);
    let seconds = if scale.quick {
        0.2
    } else {
        std::env::var("PDK_BENCH_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2.0)
    };
    let dir = setup::workspace().join("target/bench-echo");
    setup::release_plugins(&["tcp_server", "http_server"], &dir.join("plugins"));
    for protocol in [Protocol::Tcp, Protocol::Http] {
        for connections in CONNECTIONS {
            let label = if protocol == Protocol::Tcp {
                "TCP"
            } else {
                "HTTP"
            };
            println!("== {label} echo, {connections} connection(s), {seconds} s a run");
            let mut rates = [Vec::new(), Vec::new(), Vec::new()];
            let mut p99s = [Vec::new(), Vec::new(), Vec::new()];
            for round in 0..scale.runs {
                // Each round starts with another server, so that drift hits
                // all alike.
                for turn in 0..Server::ALL.len() {
                    let which = (turn + usize::try_from(round).unwrap_or(0)) % Server::ALL.len();
                    let server = Server::ALL[which];
                    let measured = measure(server, protocol, connections, seconds, &dir);
                    println!(
                        "run {}: {:<24} {:>8.0} requests/s, p99 {:>8.1} µs",
                        round + 1,
                        server.name(protocol),
                        measured.requests_per_second,
                        measured.p99.as_secs_f64() * 1e6
                    );
                    rates[which].push(measured.requests_per_second);
                    p99s[which].push(measured.p99.as_secs_f64() * 1e6);
                }
            }
            let bare_rate = setup::median(&mut rates[2].clone());
            let bare_p99 = setup::median(&mut p99s[2].clone());
            for (which, server) in Server::ALL.iter().enumerate() {
                let rate = setup::median(&mut rates[which]);
                let p99 = setup::median(&mut p99s[which]);
                println!(
                    "median: {:<24} {rate:>8.0} requests/s ({:.2} of bare), p99 {p99:>8.1} µs ({:.2} × bare)",
                    server.name(protocol),
                    rate / bare_rate,
                    p99 / bare_p99
                );
            }
        }
    }
    if !scale.quick && setup::has_valgrind() {
        print_instructions(&dir);
    }
}

/// Prints each server's instructions per request, beside the bare one's.
fn print_instructions(dir: &Path) {
    println!("== instructions per request (callgrind, one connection)");
    for protocol in [Protocol::Tcp, Protocol::Http] {
        let counts = Server::ALL.map(|server| instructions_per_request(server, protocol, dir));
        let bare = counts[2];
        for (server, count) in Server::ALL.iter().zip(counts) {
            println!(
                "{:<24} {count:>8.0} ({:.2} × bare)",
                server.name(protocol),
                count / bare
            );
        }
    }
}
