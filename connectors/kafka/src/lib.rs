//! `kafka`: events to and from Kafka, with librdkafka (the `rdkafka`
//! crate) on the plugin's tokio runtime (`pdk`'s `tokio` feature).
//!
//! The **source** is a member of the consumer group `group` on `topic`:
//! the runtimes that run the same flow with the same `group` share the
//! topic's partitions, and the group moves a partition to another member
//! when one leaves or dies. An offset is committed only once every event
//! before it is acknowledged (see [`offsets`]); a failed event is read
//! again from the connector (up to `max_retries` more times), then, with
//! a `dead_letter_topic`, produced there and counted as handled; without
//! one it is retried for as long as it fails (and its partition commits
//! nothing past it). When a partition is revoked, what was acknowledged is
//! committed at once and the events still in flight from it are never
//! committed by this runtime: their new owner reads them again. After a
//! crash, the events read and not committed are read again: delivery is
//! at least once.
//!
//! The **sink** produces each event to `topic` and acknowledges it when
//! the broker confirms the write (its delivery report, with the
//! producer's `acks`), in batches ([`pdk::batch`]).
//!
//! `properties` are passed to librdkafka as they are: TLS
//! (`security.protocol = "ssl"`, `ssl.ca.location` ...), SASL PLAIN and
//! SCRAM (`sasl.mechanisms`, `sasl.username`, `sasl.password`),
//! timeouts; a key that starts with `consumer.` or `producer.` applies to
//! that side only (without the prefix). The consumer uses the
//! `cooperative-sticky` assignor unless told otherwise: a member that
//! joins or leaves moves only the partitions that must move, and the
//! others keep theirs (and their events in flight).

pub mod offsets;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pdk::batch::{Batch, BatchWriter, Bounds};
use pdk::config::SocketAddress;
use pdk::prelude::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use offsets::{Offsets, Read};

/// The `config` table of a `kafka` connector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The bootstrap brokers, `HOST:PORT[,HOST:PORT...]`.
    pub brokers: String,
    /// The topic events are produced to and consumed from.
    pub topic: String,
    /// The consumer group (required for the source).
    #[serde(default)]
    pub group: Option<String>,
    /// How many events the source may have in flight (read and not
    /// settled). Default: 1000.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// How many more times a failed event is read again before it goes to
    /// `dead_letter_topic` (without one: without limit). Default: 3.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Where events that failed `max_retries` more times go.
    #[serde(default)]
    pub dead_letter_topic: Option<String>,
    /// How often acknowledged offsets are committed, in milliseconds
    /// (and at once on drain, stop and rebalance). Default: 500.
    #[serde(default = "default_commit_interval_ms")]
    pub commit_interval_ms: u64,
    /// The most events the sink produces before it waits for their
    /// delivery reports. Default: 1024.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// How long the first event of a batch waits for more, in
    /// milliseconds. Default: 2.
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// librdkafka properties, passed as they are (TLS, SASL, timeouts).
    #[serde(default)]
    pub properties: HashMap<String, String>,
}

fn default_max_in_flight() -> usize {
    1_000
}

fn default_max_retries() -> u32 {
    3
}

fn default_commit_interval_ms() -> u64 {
    500
}

fn default_max_batch() -> usize {
    1_024
}

fn default_linger_ms() -> u64 {
    2
}

impl Config {
    /// Checks what can be checked without a broker; `reads`: whether the
    /// source side is linked.
    fn check(&self, reads: bool) -> Result<()> {
        let valid = |broker: &str| broker.trim().parse::<SocketAddress>().is_ok();
        if let Some(broker) = self.brokers.split(',').find(|broker| !valid(broker)) {
            return Err(Error::config(format!(
                "field `brokers`: `{broker}` is not a broker address; write HOST:PORT, several \
                 separated by commas, e.g. \"127.0.0.1:9092\""
            )));
        }
        if self.topic.trim().is_empty() {
            return Err(Error::config(
                "field `topic` is empty; name the topic to produce to and consume from",
            ));
        }
        if reads && self.group.is_none() {
            return Err(Error::config(
                "field `group` is missing: the source reads as a member of a consumer group; \
                 name it (runtimes with the same group share the topic's partitions)",
            ));
        }
        for (field, value) in [
            ("max_in_flight", self.max_in_flight),
            ("max_batch", self.max_batch),
        ] {
            if value == 0 {
                return Err(Error::config(format!("field `{field}` must be at least 1")));
            }
        }
        Ok(())
    }

    /// librdkafka's config for `side` (`consumer` or `producer`): the
    /// brokers, `defaults` unless the properties set them, and the
    /// `properties` for both sides and for this one.
    fn client(&self, side: &str, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        let other = if side == "consumer" {
            "producer."
        } else {
            "consumer."
        };
        for (key, value) in &self.properties {
            if key.starts_with(other) {
                continue;
            }
            let key = key
                .strip_prefix(side)
                .and_then(|rest| rest.strip_prefix('.'))
                .unwrap_or(key);
            config.set(key, value);
        }
        config
    }
}

/// A config librdkafka refused: its message, with the fix.
fn refused(error: &rdkafka::error::KafkaError) -> Error {
    Error::config(format!(
        "librdkafka refuses the config: {error}; correct `properties` (see librdkafka's \
         CONFIGURATION.md)"
    ))
}

/// The consumer's group callbacks: a revoked partition commits what was
/// acknowledged and forgets the rest; an assigned one starts afresh.
struct Group {
    topic: String,
    offsets: Arc<Mutex<Offsets>>,
}

impl ClientContext for Group {}

impl ConsumerContext for Group {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(revoked) = rebalance else {
            return;
        };
        let mut commit = TopicPartitionList::new();
        {
            let mut offsets = self.offsets.lock().unwrap_or_else(PoisonError::into_inner);
            for element in revoked.elements() {
                if let Some(offset) = offsets.revoke(element.partition()) {
                    let _ = commit.add_partition_offset(
                        &self.topic,
                        element.partition(),
                        Offset::Offset(offset),
                    );
                }
            }
        }
        if commit.count() > 0 {
            if let Err(error) = consumer.commit(&commit, CommitMode::Sync) {
                pdk::log::warn!("committing the revoked partitions' offsets failed: {error}");
            }
        }
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        offsets: &TopicPartitionList,
    ) {
        match result {
            Ok(()) => pdk::log::debug!("committed {offsets:?}"),
            Err(error) => pdk::log::warn!("committing offsets failed: {error}"),
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(assigned) = rebalance {
            let mut offsets = self.offsets.lock().unwrap_or_else(PoisonError::into_inner);
            for element in assigned.elements() {
                offsets.assign(element.partition());
            }
            let partitions: Vec<String> = assigned
                .elements()
                .iter()
                .map(|element| element.partition().to_string())
                .collect();
            pdk::log::info!(
                "assigned partitions [{}] of `{}`",
                partitions.join(", "),
                self.topic
            );
        }
    }
}

/// An event read and not settled.
struct InFlight {
    read: Read,
    payload: Vec<u8>,
    /// How many times it was read again after failing.
    retries: u32,
}

/// The source side, once connected.
struct Reader {
    consumer: StreamConsumer<Group>,
    offsets: Arc<Mutex<Offsets>>,
    last_commit: Instant,
}

/// A Kafka source and sink.
#[connector(name = "kafka")]
pub struct Kafka {
    config: Config,
    reader: Option<Reader>,
    /// By pull id.
    in_flight: HashMap<u64, InFlight>,
    /// Failed events to read again, before new ones.
    again: VecDeque<InFlight>,
    dead_letters: Option<FutureProducer>,
    outgoing: Batch<Vec<u8>>,
}

impl Connector for Kafka {
    type Config = Config;

    fn new(config: Config, ctx: &ConnectorContext) -> Result<Self> {
        config.check(ctx.source_linked())?;
        let producer = config
            // The sink batches already (`max_batch`, `linger_ms`): a
            // batch is sent at once rather than after librdkafka's own
            // linger.
            .client("producer", &[("linger.ms", "0")])
            .create::<FutureProducer>()
            .map_err(|e| refused(&e))?;
        let dead_letters = match (&config.dead_letter_topic, ctx.source_linked()) {
            (Some(_), true) => Some(producer.clone()),
            _ => None,
        };
        let writer = Writer {
            producer,
            topic: config.topic.clone(),
        };
        let bounds = Bounds {
            max_events: config.max_batch,
            linger: Duration::from_millis(config.linger_ms),
        };
        Ok(Self {
            config,
            reader: None,
            in_flight: HashMap::new(),
            again: VecDeque::new(),
            dead_letters,
            outgoing: Batch::start(bounds, writer, ctx),
        })
    }

    async fn connect(&mut self, ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
        if !ctx.source_linked() || self.reader.is_some() {
            return Ok(true);
        }
        let offsets = Arc::new(Mutex::new(Offsets::default()));
        let group = Group {
            topic: self.config.topic.clone(),
            offsets: Arc::clone(&offsets),
        };
        let consumer: StreamConsumer<Group> = self
            .config
            .client(
                "consumer",
                &[
                    ("auto.offset.reset", "earliest"),
                    ("partition.assignment.strategy", "cooperative-sticky"),
                ],
            )
            .set("group.id", self.config.group.as_deref().unwrap_or_default())
            .set("enable.auto.commit", "false")
            .create_with_context(group)
            .map_err(|e| refused(&e))?;
        consumer.subscribe(&[&self.config.topic]).map_err(|e| {
            Error::connection_lost(format!("subscribing to `{}`: {e}", self.config.topic))
        })?;
        pdk::log::info!(
            "reading `{}` from {} as a member of group `{}`",
            self.config.topic,
            self.config.brokers,
            self.config.group.as_deref().unwrap_or_default()
        );
        self.reader = Some(Reader {
            consumer,
            offsets,
            last_commit: Instant::now(),
        });
        Ok(true)
    }

    async fn on_drain(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.outgoing.flush().await?;
        self.commit(CommitMode::Sync);
        Ok(())
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.outgoing.flush().await?;
        self.commit(CommitMode::Sync);
        Ok(())
    }
}

impl Kafka {
    /// Commits what the acknowledged events allow.
    fn commit(&mut self, mode: CommitMode) {
        let Some(reader) = &mut self.reader else {
            return;
        };
        reader.last_commit = Instant::now();
        let committable = reader
            .offsets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .committable();
        if committable.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for (partition, offset) in committable {
            let _ =
                list.add_partition_offset(&self.config.topic, partition, Offset::Offset(offset));
        }
        if let Err(error) = reader.consumer.commit(&list, mode) {
            pdk::log::warn!(
                "committing offsets failed: {error}; they are committed with the next ones"
            );
        }
    }

    /// Commits if the interval has passed since the last commit.
    fn commit_when_due(&mut self) {
        let interval = Duration::from_millis(self.config.commit_interval_ms);
        if self
            .reader
            .as_ref()
            .is_some_and(|reader| reader.last_commit.elapsed() >= interval)
        {
            self.commit(CommitMode::Async);
        }
    }

    /// Settles `event` for good.
    fn settled(&mut self, event: &InFlight) {
        if let Some(reader) = &self.reader {
            reader
                .offsets
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .settle(event.read);
        }
        self.commit_when_due();
    }
}

impl Source for Kafka {
    const TRANSACTIONAL: bool = true;

    async fn pull_data(&mut self, pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        if let Some(event) = self.again.pop_front() {
            let payload = event.payload.clone();
            self.in_flight.insert(pull_id, event);
            return Ok(SourceReply::bytes(payload));
        }
        if self.in_flight.len() >= self.config.max_in_flight {
            self.commit_when_due();
            return Ok(SourceReply::Empty(5));
        }
        let Some(reader) = &self.reader else {
            return Err(Error::connection_lost("the consumer is not connected"));
        };
        let interval = Duration::from_millis(self.config.commit_interval_ms);
        let received = tokio::time::timeout(interval, reader.consumer.recv()).await;
        let message = match received {
            Err(_) => {
                // Quiet: commit what was acknowledged meanwhile.
                self.commit(CommitMode::Async);
                return Ok(SourceReply::Empty(0));
            }
            Ok(Err(error)) => {
                return Err(Error::connection_lost(format!(
                    "reading `{}`: {error}",
                    self.config.topic
                )))
            }
            Ok(Ok(message)) => message,
        };
        let payload = message.payload().unwrap_or_default().to_vec();
        let read = reader
            .offsets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .read(message.partition(), message.offset());
        drop(message);
        self.in_flight.insert(
            pull_id,
            InFlight {
                read,
                payload: payload.clone(),
                retries: 0,
            },
        );
        Ok(SourceReply::bytes(payload))
    }

    async fn ack(&mut self, _stream: u64, pull_id: u64, _ctx: &ConnectorContext) -> Result<()> {
        if let Some(event) = self.in_flight.remove(&pull_id) {
            self.settled(&event);
        }
        Ok(())
    }

    async fn fail(&mut self, _stream: u64, pull_id: u64, _ctx: &ConnectorContext) -> Result<()> {
        let Some(mut event) = self.in_flight.remove(&pull_id) else {
            return Ok(());
        };
        let current = self.reader.as_ref().is_some_and(|reader| {
            reader
                .offsets
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_current(event.read)
        });
        if !current {
            // Revoked: its partition's new owner reads it again.
            return Ok(());
        }
        event.retries += 1;
        match (&self.dead_letters, &self.config.dead_letter_topic) {
            (Some(producer), Some(topic)) if event.retries > self.config.max_retries => {
                let record = FutureRecord::<(), [u8]>::to(topic).payload(&event.payload);
                producer
                    .send(record, Duration::from_secs(30))
                    .await
                    .map_err(|(error, _)| {
                        Error::connection_lost(format!(
                            "producing a failed event to the dead-letter topic `{topic}`: {error}"
                        ))
                    })?;
                pdk::log::warn!(
                    "an event of partition {} offset {} failed {} times; it went to `{topic}`",
                    event.read.partition,
                    event.read.offset,
                    event.retries
                );
                self.settled(&event);
            }
            _ => self.again.push_back(event),
        }
        Ok(())
    }
}

impl Sink for Kafka {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        let payload = event.to_json_string().into_bytes();
        self.outgoing.push(event.id, payload).await
    }
}

/// Produces the sink's batches.
struct Writer {
    producer: FutureProducer,
    topic: String,
}

impl BatchWriter<Vec<u8>> for Writer {
    async fn write(&mut self, payloads: &mut Vec<Vec<u8>>) -> Result<()> {
        let mut deliveries = Vec::with_capacity(payloads.len());
        for payload in payloads.iter() {
            let record = FutureRecord::<(), [u8]>::to(&self.topic).payload(payload);
            let delivery = self.producer.send_result(record).map_err(|(error, _)| {
                Error::connection_lost(format!("producing to `{}`: {error}", self.topic))
            })?;
            deliveries.push(delivery);
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => {
                    return Err(Error::connection_lost(format!(
                        "the broker did not take an event of `{}`: {error}",
                        self.topic
                    )))
                }
                Err(_) => {
                    return Err(Error::connection_lost(format!(
                        "the producer of `{}` was closed",
                        self.topic
                    )))
                }
            }
        }
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.producer.flush(Duration::from_secs(5));
    }
}

#[pdk_export]
mod plugin {
    pub use super::Kafka;
}

#[cfg(test)]
mod tests {
    use pdk::testing::{Harness, Setup};
    use pdk::ErrorKind;

    use super::Kafka;

    fn config_error(json: &str) -> String {
        let error = Harness::<Kafka>::from_json(json).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config, "{}", error.message());
        error.message().to_owned()
    }

    #[test]
    fn a_broker_that_is_not_host_and_port_is_named_with_the_fix() {
        let message =
            config_error(r#"{"brokers": "127.0.0.1:9092,nowhere", "topic": "t", "group": "g"}"#);
        assert!(
            message.contains("field `brokers`: `nowhere` is not a broker address; write HOST:PORT"),
            "{message}"
        );
    }

    #[test]
    fn a_source_needs_a_group_and_a_sink_does_not() {
        let json = r#"{"brokers": "127.0.0.1:9092", "topic": "t"}"#;
        let message = config_error(json);
        assert!(message.contains("field `group` is missing"), "{message}");
        let sink_only = Setup {
            source_linked: false,
            ..Setup::default()
        };
        let config = pdk::Value::from_json_str(json).unwrap();
        assert!(Harness::<Kafka>::with_setup(config, sink_only).is_ok());
    }

    #[test]
    fn a_property_librdkafka_refuses_is_a_config_error_naming_it() {
        let message = config_error(
            r#"{"brokers": "127.0.0.1:9092", "topic": "t", "group": "g",
                "properties": {"no.such.property": "1"}}"#,
        );
        assert!(
            message.starts_with("librdkafka refuses the config: ")
                && message.contains("no.such.property"),
            "{message}"
        );
    }
}
