//! The `kafka` connector against librdkafka's mock cluster, a
//! Kafka-protocol broker (produce, fetch, consumer groups, offsets)
//! running in the test process and reached over TCP like any broker:
//! two runtimes in one consumer group with one SIGKILLed, and a broker
//! taken down and up again under a sink.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use rdkafka::mocking::MockCluster;

use crate::common::{
    acked_numbers, numbers_in, plugin_dir_with, scratch_dir, wait_until, write_flow, RunningFlow,
};

/// A flow from the consumer group `${GROUP}` on topic `events` into the
/// file `${OUT}`; a member that stops heartbeating leaves the group after
/// 6 s.
const CONSUMER: &str = r#"
[[connector]]
id = "in"
type = "kafka"
config = { brokers = "${BROKERS}", topic = "events", group = "${GROUP}", max_in_flight = 200, commit_interval_ms = 100, properties = { "consumer.session.timeout.ms" = "6000", "consumer.heartbeat.interval.ms" = "500" } }

[[connector]]
id = "out"
type = "file"
config = { path = "${OUT}" }

[[link]]
from = "in"
to = "out"
"#;

#[test]
fn two_runtimes_share_a_consumer_group_and_the_survivor_takes_over_a_killed_ones_partitions() {
    const EVENTS: u64 = 3000;
    const RATE: u64 = 1000;
    // What the killed runtime may have read and not committed: its
    // `max_in_flight` (read ahead, not yet acknowledged), and what was
    // acknowledged since the last commit took effect: up to one commit
    // interval (100 ms) plus the asynchronous commit's own round trip,
    // taken as three intervals at the whole RATE.
    const UNCOMMITTED: usize = 200 + (RATE as usize * 3 / 10);
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("events", 4, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let plugins = plugin_dir_with("kafka-scale-plugins", &["kafka", "file", "blaster"]);
    let dir = scratch_dir("kafka-scale");
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
config = {{ path = "{records}", count = {EVENTS}, rate = {RATE} }}

[[connector]]
id = "produce"
type = "kafka"
config = {{ brokers = "{brokers}", topic = "events" }}

[[link]]
from = "blast"
to = "produce"
"#,
            records = records.display()
        ),
    );
    let outputs = [dir.join("b.jsonl"), dir.join("c.jsonl")];
    let start_consumer = |out: &Path| {
        let runtime = RunningFlow::start_with_env(
            &consumer,
            &plugins,
            &[
                ("BROKERS", brokers.as_str()),
                ("GROUP", "workers"),
                ("OUT", out.to_str().unwrap()),
            ],
        );
        runtime.wait_for_log("as a member of group `workers`");
        runtime
    };
    let killed = start_consumer(&outputs[0]);
    let survivor = start_consumer(&outputs[1]);
    // The group has settled once the second member has its partitions:
    // from then on, events flow at RATE.
    survivor.wait_for_log("assigned partitions");
    let producing = RunningFlow::start(&producer, &plugins);
    let union = || -> BTreeSet<u64> { outputs.iter().flat_map(|out| numbers_in(out)).collect() };
    wait_until(
        Duration::from_secs(60),
        "a third of the events never arrived",
        || numbers_in(&outputs[0]).len() as u64 >= EVENTS / 6 && union().len() as u64 >= EVENTS / 3,
    );
    let status = std::process::Command::new("kill")
        .args(["-KILL", &killed.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let killed_output = killed.wait(Duration::from_secs(10));
    assert!(killed_output.status.code().is_none(), "killed by a signal");
    let written_by_killed = numbers_in(&outputs[0]).len();
    let produced = producing.wait(Duration::from_secs(60));
    assert!(
        produced.status.success(),
        "{}",
        crate::common::stderr(&produced)
    );
    wait_until(
        Duration::from_secs(90),
        "the survivor did not take over the killed runtime's partitions",
        || union().len() as u64 == EVENTS,
    );
    let _ = survivor.terminate(Duration::from_secs(10));
    assert_eq!(union(), (0..EVENTS).collect(), "every event at least once");
    let total = numbers_in(&outputs[0]).len() + numbers_in(&outputs[1]).len();
    let duplicates = total - EVENTS as usize;
    assert!(
        duplicates <= UNCOMMITTED,
        "{duplicates} duplicates, more than the {UNCOMMITTED} the killed runtime could hold uncommitted"
    );
    let in_killed: BTreeSet<u64> = numbers_in(&outputs[0]).into_iter().collect();
    let in_both = numbers_in(&outputs[1])
        .into_iter()
        .filter(|n| in_killed.contains(n))
        .count();
    eprintln!(
        "{EVENTS} events, {written_by_killed} written by the killed runtime, {duplicates} \
         duplicates, {in_both} of them written by both runtimes"
    );
}

#[test]
fn a_kafka_sink_acks_only_what_the_broker_took_across_a_broker_outage() {
    const EVENTS: u64 = 1500;
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("events", 2, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let plugins = plugin_dir_with("kafka-outage-plugins", &["kafka", "file", "probe"]);
    let dir = scratch_dir("kafka-outage");
    let trace = dir.join("trace");
    let flow = write_flow(
        &dir,
        "produce.toml",
        &format!(
            r#"
[[connector]]
id = "src"
type = "probe_source"
config = {{ trace = "{trace}", count = {EVENTS}, pull_delay_ms = 1 }}

[[connector]]
id = "produce"
type = "kafka"
config = {{ brokers = "{brokers}", topic = "events", max_batch = 32, properties = {{ "producer.message.timeout.ms" = "2000" }} }}
restart = {{ max_failures = 1000, window_secs = 120, backoff_ms = 50, max_backoff_ms = 500 }}

[[link]]
from = "src"
to = "produce"
"#,
            trace = trace.display()
        ),
    );
    let acked = || -> BTreeSet<u64> { acked_numbers(&trace, "src").into_iter().collect() };
    let producing = RunningFlow::start(&flow, &plugins);
    wait_until(Duration::from_secs(60), "no event was acknowledged", || {
        acked().len() >= 300
    });
    cluster.broker_down(1).unwrap();
    producing.wait_for_log("they are failed back");
    let acked_while_down = acked().len();
    cluster.broker_up(1).unwrap();
    let produced = producing.wait(Duration::from_secs(120));
    let log = crate::common::stderr(&produced);
    assert!(produced.status.success(), "{log}");
    assert_eq!(acked(), (0..EVENTS).collect(), "{log}");
    assert!(acked_while_down < EVENTS as usize);
    // Everything acknowledged is in the topic: read it all back.
    let out = dir.join("topic.jsonl");
    let reader = RunningFlow::start_with_env(
        &write_flow(&dir, "read.toml", CONSUMER),
        &plugins,
        &[
            ("BROKERS", brokers.as_str()),
            ("GROUP", "check"),
            ("OUT", out.to_str().unwrap()),
        ],
    );
    wait_until(
        Duration::from_secs(60),
        "an acknowledged event is missing from the topic",
        || numbers_in(&out).into_iter().collect::<BTreeSet<_>>() == acked(),
    );
    let _ = reader.terminate(Duration::from_secs(10));
}
