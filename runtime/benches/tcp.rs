//! Throughput of the TCP connectors on 127.0.0.1, through plugins:
//!
//! - one flow sends realistic ~1 KB JSON records with `blaster ->
//!   tcp_client` to a `tcp_server` of the same flow, which decodes every
//!   line and hands it to a `blackhole`; the blackhole's summary gives the
//!   figure;
//! - `blaster -> tcp_client` sends them to a plain receiver in this
//!   process (a `BufReader` counting lines), beside its peer: a plain
//!   sender writing the same lines through a `BufWriter`, the three
//!   alternating; the receiver's lines per second, from its first byte to
//!   the last line, is the figure of each. The flow runs twice: with the
//!   default `json` codec (each line decoded into an event, encoded again
//!   by `tcp_client`), and with `codec = "binary"` on the blaster, a
//!   forwarder that passes the lines through as the plain sender does.
//!
//! `cargo bench -p pdk-runtime --bench tcp`
//! (`PDK_BENCH_EVENTS`, default 200 000; `PDK_BENCH_RUNS`, default 5;
//! `PDK_BENCH_TCP_CLIENT=FILE`: measure that `tcp_client` plugin file, an
//! earlier build say, instead of the one built now;
//! `PDK_BENCH_QUICK=1`: one short round that only checks it runs).

mod records;
mod setup;

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::Instant;

/// Distinct records in the data file; the blaster loops over them.
const DISTINCT_RECORDS: u64 = 1_000;

/// Builds the plugins in release mode into `plugins`.
fn build(plugins: &Path) {
    setup::release_plugins(
        &["blaster", "blackhole", "tcp_client", "tcp_server"],
        plugins,
    );
    if let Some(earlier) = std::env::var_os("PDK_BENCH_TCP_CLIENT") {
        std::fs::copy(earlier, plugins.join(setup::library_file("tcp_client")))
            .expect("PDK_BENCH_TCP_CLIENT is readable");
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("an ephemeral port")
        .port()
}

/// The flow of one run, on a fresh port.
fn write_flow(dir: &Path, data: &Path, events: u64) -> PathBuf {
    let port = free_port();
    let warmup = events / 10;
    let path = dir.join("tcp.toml");
    let text = format!(
        r#"
[[connector]]
id = "blast"
type = "blaster"
config = {{ path = {data:?}, count = {events} }}

[[connector]]
id = "client"
type = "tcp_client"
config = {{ url = "127.0.0.1:{port}" }}

[[connector]]
id = "server"
type = "tcp_server"
config = {{ url = "127.0.0.1:{port}" }}

[[connector]]
id = "sink"
type = "blackhole"
config = {{ warmup = {warmup}, stop_after = {recorded} }}

[[link]]
from = "blast"
to = "client"

[[link]]
from = "server"
to = "sink"
"#,
        recorded = events - warmup
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// One run: events per second from the blackhole's summary. The server
/// keeps listening after the blackhole has printed, so the run is ended
/// by killing the runtime.
fn run(runtime: &Path, plugins: &Path, flow: &Path) -> f64 {
    let mut child = Command::new(runtime)
        .arg("run")
        .arg(flow)
        .arg("--isolated")
        .arg("--plugin-path")
        .arg(plugins)
        .env("PDK_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the runtime runs");
    let stdout = child.stdout.take().expect("piped");
    let summary = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|line| line.starts_with("blackhole "));
    let _ = child.kill();
    let _ = child.wait();
    let summary = summary.expect("the blackhole printed its summary");
    summary
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("events_per_second="))
        .and_then(|v| v.parse().ok())
        .expect("a rate in the summary")
}

/// Receives `lines` lines from the first client of `listener`; lines per
/// second from the first byte to the last line. It reads on until the
/// client closes: a sink whose server goes away reconnects.
fn receive(listener: TcpListener, lines: u64) -> JoinHandle<f64> {
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("a client");
        let mut reader = BufReader::with_capacity(1 << 16, stream);
        let mut first = [0u8; 1];
        reader.read_exact(&mut first).expect("a first byte");
        let started = Instant::now();
        let mut seen = u64::from(first[0] == b'\n');
        while seen < lines {
            let buffer = reader.fill_buf().expect("the stream reads");
            assert!(!buffer.is_empty(), "the sender stopped after {seen} lines");
            seen += buffer.iter().filter(|&&byte| byte == b'\n').count() as u64;
            let consumed = buffer.len();
            reader.consume(consumed);
        }
        let rate = lines as f64 / started.elapsed().as_secs_f64();
        std::io::copy(&mut reader, &mut std::io::sink()).expect("the stream reads to its end");
        rate
    })
}

/// A plain program sending `lines` of `records` (cycled) through a
/// `BufWriter`: the peer of `blaster -> tcp_client`.
fn plain_sender(records: &[String], lines: u64) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("its address");
    let receiver = receive(listener, lines);
    let stream = TcpStream::connect(address).expect("the receiver accepts");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let mut writer = BufWriter::with_capacity(1 << 16, stream);
    for record in records.iter().cycle().take(lines as usize) {
        writer.write_all(record.as_bytes()).expect("the write");
        writer.write_all(b"\n").expect("the write");
    }
    writer.flush().expect("the flush");
    // Closed: the receiver reads to the end.
    drop(writer);
    receiver.join().expect("the receiver")
}

/// `blaster -> tcp_client` sending `lines` of `data` to a plain receiver,
/// the blaster's payloads decoded by `codec`.
fn tcp_client_sender(runtime: &Path, plugins: &Path, data: &Path, lines: u64, codec: &str) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("its address");
    let receiver = receive(listener, lines);
    let flow = plugins.join("../to-receiver.toml");
    std::fs::write(
        &flow,
        format!(
            r#"
[[connector]]
id = "blast"
type = "blaster"
codec = "{codec}"
config = {{ path = {data:?}, count = {lines} }}

[[connector]]
id = "client"
type = "tcp_client"
config = {{ url = "{address}" }}

[[link]]
from = "blast"
to = "client"
"#
        ),
    )
    .expect("the flow file");
    let status = Command::new(runtime)
        .arg("run")
        .arg(&flow)
        .arg("--isolated")
        .arg("--plugin-path")
        .arg(plugins)
        .env("PDK_LOG", "error")
        .status()
        .expect("the runtime runs");
    assert!(status.success(), "the flow failed");
    receiver.join().expect("the receiver")
}

fn main() {
    let setup::Scale { events, runs, .. } = setup::Scale::from_env(200_000, 5);
    let dir = setup::workspace().join("target/bench-tcp");
    let plugins = dir.join("plugins");
    build(&plugins);
    let runtime = setup::runtime();
    let data = dir.join("records.jsonl");
    let lines: Vec<String> = (0..DISTINCT_RECORDS).map(records::record).collect();
    std::fs::write(&data, lines.join("\n") + "\n").unwrap();
    println!("== blaster -> tcp_client -> tcp_server -> blackhole, {events} events per run");
    let mut rates = Vec::new();
    for round in 1..=runs {
        let flow = write_flow(&dir, &data, events);
        let rate = run(&runtime, &plugins, &flow);
        println!("run {round}: {rate:>10.0} events/s");
        rates.push(rate);
    }
    println!("median: {:.0} events/s", setup::median(&mut rates));

    println!(
        "== lines/s into a plain receiver: blaster -> tcp_client (json, binary codec), and a plain buffered sender"
    );
    let (mut json, mut binary, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=runs {
        let sent = |codec| tcp_client_sender(&runtime, &plugins, &data, events, codec);
        json.push(sent("json"));
        binary.push(sent("binary"));
        plain.push(plain_sender(&lines, events));
        println!(
            "run {round}: tcp_client {:>9.0} lines/s (json), {:>9.0} lines/s (binary), plain sender {:>9.0} lines/s",
            json[json.len() - 1],
            binary[binary.len() - 1],
            plain[plain.len() - 1]
        );
    }
    let plain = setup::median(&mut plain);
    let (json, binary) = (setup::median(&mut json), setup::median(&mut binary));
    println!(
        "median: tcp_client {json:.0} lines/s (json, {:.2} of plain), {binary:.0} lines/s (binary, {:.2} of plain), plain sender {plain:.0} lines/s",
        json / plain,
        binary / plain
    );
}
