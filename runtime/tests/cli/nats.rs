//! The `nats` connector against a real `nats-server` with JetStream (the
//! official binary, installed by `scripts/install-nats-server`): several
//! runtimes sharing one durable consumer with one of them killed, and a
//! server stopped and restarted under a sink.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{
    acked_numbers, numbers_in, plugin_dir_with, scratch_dir, wait_until, write_flow, RunningFlow,
};

/// The directory of the real nats-server, installed by the project's own
/// script.
fn nats_dir() -> PathBuf {
    let output = Command::new(crate::common::workspace().join("scripts/install-nats-server"))
        .output()
        .expect("scripts/install-nats-server runs");
    assert!(
        output.status.success(),
        "scripts/install-nats-server failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// A nats-server with JetStream on 127.0.0.1, its store in a directory of
/// the test's; stopped when dropped.
struct NatsServer {
    child: Child,
    port: u16,
}

impl NatsServer {
    /// Starts a server on a port of its choosing.
    fn start(store: &Path) -> Self {
        Self::start_on(store, None)
    }

    /// Starts a server on `port` (or one of its choosing) and waits until
    /// it says it is ready.
    fn start_on(store: &Path, port: Option<u16>) -> Self {
        let port_arg = port.map_or_else(|| String::from("-1"), |port| port.to_string());
        let mut child = Command::new(nats_dir().join("nats-server"))
            .args(["-js", "-a", "127.0.0.1", "-p", &port_arg, "-sd"])
            .arg(store)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nats-server starts");
        let (lines, received) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    // Keep reading so that the server never blocks on its log.
                    continue;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut listening = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = received
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("nats-server did not get ready"));
            if let Some(address) = line.split("Listening for client connections on ").nth(1) {
                listening = address
                    .trim()
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok());
            }
            if line.contains("Server is ready") {
                break;
            }
        }
        Self {
            child,
            port: listening.expect("nats-server names its port"),
        }
    }

    /// The URL a connector's config names it by.
    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGTERM) and waits for it to exit.
    fn stop(mut self) -> u16 {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A flow from the durable consumer `workers` of stream `EVENTS` into the
/// file `${OUT}`.
const CONSUMER: &str = r#"
[[connector]]
id = "in"
type = "nats"
config = { url = "${NATS_URL}", subject = "events", stream = "EVENTS", consumer = "${CONSUMER:-workers}", ack_wait_ms = 2000, max_ack_pending = 200, fetch_batch = 50 }

[[connector]]
id = "out"
type = "file"
config = { path = "${OUT}" }

[[link]]
from = "in"
to = "out"
"#;

#[test]
fn two_runtimes_share_a_jetstream_consumer_and_the_survivor_takes_over_a_killed_ones_events() {
    const EVENTS: u64 = 3000;
    const IN_FLIGHT: usize = 200;
    let plugins = plugin_dir_with("nats-scale-plugins", &["nats", "file", "blaster"]);
    let dir = scratch_dir("nats-scale");
    let server = NatsServer::start(&dir.join("store"));
    let url = server.url();
    let records = dir.join("records.jsonl");
    let lines: String = (0..EVENTS).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    std::fs::write(&records, lines).unwrap();
    let consumer = write_flow(&dir, "consumer.toml", CONSUMER);
    let producer = write_flow(
        &dir,
        "producer.toml",
        &format!(
            r#"
[[connector]]
id = "blast"
type = "blaster"
config = {{ path = "{records}", count = {EVENTS}, rate = 1000 }}

[[connector]]
id = "publish"
type = "nats"
config = {{ url = "{url}", subject = "events", stream = "EVENTS" }}

[[link]]
from = "blast"
to = "publish"
"#,
            records = records.display()
        ),
    );
    let outputs = [dir.join("b.jsonl"), dir.join("c.jsonl")];
    let start_consumer = |out: &Path| {
        let runtime = RunningFlow::start_with_env(
            &consumer,
            &plugins,
            &[("NATS_URL", url.as_str()), ("OUT", out.to_str().unwrap())],
        );
        runtime.wait_for_log("through the durable consumer `workers`");
        runtime
    };
    let killed = start_consumer(&outputs[0]);
    let survivor = start_consumer(&outputs[1]);
    let publishing = RunningFlow::start(&producer, &plugins);
    let union = || -> BTreeSet<u64> { outputs.iter().flat_map(|out| numbers_in(out)).collect() };
    wait_until(
        Duration::from_secs(60),
        "a third of the events never arrived",
        || union().len() as u64 >= EVENTS / 3,
    );
    assert!(
        !numbers_in(&outputs[0]).is_empty(),
        "the first runtime got no event"
    );
    let status = Command::new("kill")
        .args(["-KILL", &killed.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = killed.wait(Duration::from_secs(10));
    let written_by_killed = numbers_in(&outputs[0]).len();
    let published = publishing.wait(Duration::from_secs(60));
    assert!(
        published.status.success(),
        "{}",
        crate::common::stderr(&published)
    );
    wait_until(
        Duration::from_secs(60),
        "the survivor did not take over every event of the killed runtime",
        || union().len() as u64 == EVENTS,
    );
    let (_, _) = survivor.terminate(Duration::from_secs(10));
    assert_eq!(union(), (0..EVENTS).collect(), "every event at least once");
    let total = numbers_in(&outputs[0]).len() + numbers_in(&outputs[1]).len();
    let duplicates = total - EVENTS as usize;
    assert!(
        duplicates <= IN_FLIGHT,
        "{duplicates} duplicates, more than the {IN_FLIGHT} the killed runtime could hold unacknowledged"
    );
    assert!(written_by_killed > 0 && written_by_killed < EVENTS as usize);
    eprintln!(
        "{EVENTS} events, {written_by_killed} written by the killed runtime, {duplicates} duplicates"
    );
}

#[test]
fn a_jetstream_sink_acks_only_what_the_server_stored_across_a_server_restart() {
    const EVENTS: u64 = 1500;
    let plugins = plugin_dir_with("nats-restart-plugins", &["nats", "file", "probe"]);
    let dir = scratch_dir("nats-restart");
    let store = dir.join("store");
    let server = NatsServer::start(&store);
    let url = server.url();
    let trace = dir.join("trace");
    let flow = write_flow(
        &dir,
        "publish.toml",
        &format!(
            r#"
[[connector]]
id = "src"
type = "probe_source"
config = {{ trace = "{trace}", count = {EVENTS}, pull_delay_ms = 1 }}

[[connector]]
id = "publish"
type = "nats"
config = {{ url = "{url}", subject = "events", stream = "EVENTS", max_batch = 32 }}
restart = {{ max_failures = 1000, window_secs = 120, backoff_ms = 50, max_backoff_ms = 500 }}

[[link]]
from = "src"
to = "publish"
"#,
            trace = trace.display()
        ),
    );
    let acked = || -> BTreeSet<u64> { acked_numbers(&trace, "src").into_iter().collect() };
    let publishing = RunningFlow::start(&flow, &plugins);
    wait_until(Duration::from_secs(60), "no event was acknowledged", || {
        acked().len() >= 300
    });
    let port = server.stop();
    // The sink notices: a batch fails and is failed back.
    publishing.wait_for_log("they are failed back");
    let acked_while_down = acked().len();
    let server = NatsServer::start_on(&store, Some(port));
    let published = publishing.wait(Duration::from_secs(120));
    let log = crate::common::stderr(&published);
    assert!(published.status.success(), "{log}");
    assert_eq!(acked(), (0..EVENTS).collect(), "{log}");
    assert!(acked_while_down < EVENTS as usize);
    // Everything acknowledged is in the stream: read it all back.
    let out = dir.join("stream.jsonl");
    let reader = RunningFlow::start_with_env(
        &write_flow(&dir, "read.toml", CONSUMER),
        &plugins,
        &[
            ("NATS_URL", server.url().as_str()),
            ("OUT", out.to_str().unwrap()),
            ("CONSUMER", "check"),
        ],
    );
    wait_until(
        Duration::from_secs(60),
        "an acknowledged event is missing from the stream",
        || numbers_in(&out).into_iter().collect::<BTreeSet<_>>() == acked(),
    );
    let _ = reader.terminate(Duration::from_secs(10));
}
