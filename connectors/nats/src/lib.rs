//! `nats`: events to and from a NATS server, on the plugin's tokio runtime
//! (`pdk`'s `tokio` feature), with the `async-nats` client.
//!
//! **With `stream`** (JetStream), the source is a durable pull consumer
//! named `consumer` on that stream: every runtime that runs the same flow
//! with the same `consumer` shares its messages, each message goes to one
//! of them, and a message is acknowledged to the server only when the
//! runtime acknowledges its event. A failed event is negatively
//! acknowledged with a delay (`nak_delay_ms`) and redelivered; a message
//! left unacknowledged (a runtime killed with it in flight) is redelivered
//! after `ack_wait_ms`, to whichever runtime pulls next. At most
//! `max_ack_pending` messages of the consumer are in flight at once,
//! across all runtimes. The sink publishes each event to `subject` and
//! acknowledges it once the server has stored it (its publish
//! acknowledgement), in batches ([`pdk::batch`]). The stream is created
//! with `subject` if it does not exist.
//!
//! **Without `stream`** (core NATS), the source subscribes to `subject`
//! (in the queue group `consumer` if given: the group shares the
//! messages) and the sink publishes to it, acknowledging an event once the
//! server has received it (a flush); core NATS keeps nothing, so an event
//! in flight when a runtime dies is lost (at most once).
//!
//! A connection that fails is reported lost: the runtime reconnects the
//! connector with its backoff, and the events in flight go back to their
//! sources.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, AckKind};
use async_nats::{Client, ConnectOptions, ServerAddr};
use futures::StreamExt;
use pdk::batch::{Batch, BatchWriter, Bounds};
use pdk::prelude::*;

/// The `config` table of a `nats` connector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The server(s): `nats://HOST:PORT`, or several separated by commas.
    pub url: String,
    /// The subject events are published to and read from.
    pub subject: String,
    /// The JetStream stream; without it, core NATS.
    #[serde(default)]
    pub stream: Option<String>,
    /// The durable consumer (JetStream, required for the source) or the
    /// queue group (core NATS) that runtimes share.
    #[serde(default)]
    pub consumer: Option<String>,
    /// How long the server waits for an acknowledgement before it
    /// redelivers a message, in milliseconds. Default: 30 000.
    #[serde(default = "default_ack_wait_ms")]
    pub ack_wait_ms: u64,
    /// How many messages of the consumer may be unacknowledged at once,
    /// across every runtime. Default: 1000.
    #[serde(default = "default_max_ack_pending")]
    pub max_ack_pending: i64,
    /// How many messages one fetch from the server asks for. Default: 128.
    #[serde(default = "default_fetch_batch")]
    pub fetch_batch: usize,
    /// How long a failed message waits before it is redelivered, in
    /// milliseconds. Default: 1000.
    #[serde(default = "default_nak_delay_ms")]
    pub nak_delay_ms: u64,
    /// The most events the sink publishes before it waits for their
    /// acknowledgements. Default: 1024.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// How long the first event of a batch waits for more, in
    /// milliseconds. Default: 2.
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// A token to authenticate with.
    #[serde(default)]
    pub token: Option<String>,
    /// A credentials file (`.creds`) to authenticate with.
    #[serde(default)]
    pub credentials: Option<String>,
}

fn default_ack_wait_ms() -> u64 {
    30_000
}

fn default_max_ack_pending() -> i64 {
    1_000
}

fn default_fetch_batch() -> usize {
    128
}

fn default_nak_delay_ms() -> u64 {
    1_000
}

fn default_max_batch() -> usize {
    1_024
}

fn default_linger_ms() -> u64 {
    2
}

impl Config {
    /// Checks what can be checked without a server; `reads`: whether the
    /// source side is linked.
    fn check(&self, reads: bool) -> Result<()> {
        for server in self.url.split(',') {
            server.trim().parse::<ServerAddr>().map_err(|e| {
                Error::config(format!(
                    "field `url`: `{server}` is not a NATS server address ({e}); write \
                     nats://HOST:PORT, e.g. \"nats://127.0.0.1:4222\""
                ))
            })?;
        }
        if self.subject.trim().is_empty() {
            return Err(Error::config(
                "field `subject` is empty; name the subject to publish to and read from",
            ));
        }
        if reads && self.stream.is_some() && self.consumer.is_none() {
            return Err(Error::config(
                "field `consumer` is missing: a JetStream source reads through a durable \
                 consumer; name it (runtimes with the same name share the messages)",
            ));
        }
        for (field, value) in [
            ("fetch_batch", self.fetch_batch),
            ("max_batch", self.max_batch),
        ] {
            if value == 0 {
                return Err(Error::config(format!("field `{field}` must be at least 1")));
            }
        }
        if self.max_ack_pending < 1 {
            return Err(Error::config("field `max_ack_pending` must be at least 1"));
        }
        Ok(())
    }

    /// Connects a client.
    async fn connect(&self) -> Result<Client> {
        let mut options = ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .name(format!("pdk {}", self.subject));
        if let Some(token) = &self.token {
            options = options.token(token.clone());
        }
        if let Some(path) = &self.credentials {
            options = ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| Error::config(format!("field `credentials`: `{path}`: {e}")))?
                .connection_timeout(Duration::from_secs(5));
        }
        let servers: Vec<ServerAddr> = self
            .url
            .split(',')
            .filter_map(|server| server.trim().parse().ok())
            .collect();
        options
            .connect(servers)
            .await
            .map_err(|e| Error::connection_lost(format!("cannot connect to `{}`: {e}", self.url)))
    }

    /// The stream, created with the subject if it does not exist.
    async fn stream(&self, client: &Client, name: &str) -> Result<jetstream::stream::Stream> {
        jetstream::new(client.clone())
            .get_or_create_stream(jetstream::stream::Config {
                name: name.to_owned(),
                subjects: vec![self.subject.clone()],
                ..Default::default()
            })
            .await
            .map_err(|e| Error::connection_lost(format!("stream `{name}`: {e}")))
    }
}

/// Where the source's messages come from.
enum Incoming {
    /// A durable pull consumer's messages (boxed: the client's stream is
    /// large).
    JetStream(Box<consumer::pull::Stream>),
    /// A subscription (core NATS).
    Core(async_nats::Subscriber),
}

/// A NATS source and sink.
#[connector(name = "nats")]
pub struct Nats {
    config: Config,
    client: Option<Client>,
    incoming: Option<Incoming>,
    /// The JetStream messages pulled and not yet settled, by pull id.
    unsettled: HashMap<u64, jetstream::Message>,
    outgoing: Batch<Vec<u8>>,
}

impl Nats {
    /// What the source reads, for people.
    fn reading(&self) -> String {
        let config = &self.config;
        match (&config.stream, &config.consumer) {
            (Some(stream), consumer) => format!(
                "stream `{stream}` through the durable consumer `{}`",
                consumer.as_deref().unwrap_or_default()
            ),
            (None, Some(group)) => format!("subject `{}` in queue group `{group}`", config.subject),
            (None, None) => format!("subject `{}`", config.subject),
        }
    }

    /// The client, connected on first use (it reconnects by itself).
    async fn client(&mut self) -> Result<Client> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let client = self.config.connect().await?;
        Ok(self.client.insert(client).clone())
    }

    /// Starts reading the subject or the consumer.
    async fn subscribe(&mut self) -> Result<Incoming> {
        let client = self.client().await?;
        let config = &self.config;
        let Some(name) = &config.stream else {
            let subject = config.subject.clone();
            let subscribed = match &config.consumer {
                Some(group) => client.queue_subscribe(subject, group.clone()).await,
                None => client.subscribe(subject).await,
            };
            return subscribed
                .map(Incoming::Core)
                .map_err(|e| Error::connection_lost(format!("subscribing: {e}")));
        };
        let durable = config.consumer.clone().unwrap_or_default();
        let stream = config.stream(&client, name).await?;
        let consumer: consumer::PullConsumer = stream
            .get_or_create_consumer(
                &durable,
                consumer::pull::Config {
                    durable_name: Some(durable.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_millis(config.ack_wait_ms),
                    max_ack_pending: config.max_ack_pending,
                    filter_subject: config.subject.clone(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| Error::connection_lost(format!("consumer `{durable}`: {e}")))?;
        consumer
            .stream()
            .max_messages_per_batch(config.fetch_batch)
            .messages()
            .await
            .map(|messages| Incoming::JetStream(Box::new(messages)))
            .map_err(|e| Error::connection_lost(format!("consumer `{durable}`: {e}")))
    }
}

impl Connector for Nats {
    type Config = Config;

    fn new(config: Config, ctx: &ConnectorContext) -> Result<Self> {
        config.check(ctx.source_linked())?;
        let publisher = Publisher {
            config: config.clone(),
            client: None,
        };
        let bounds = Bounds {
            max_events: config.max_batch,
            linger: Duration::from_millis(config.linger_ms),
        };
        Ok(Self {
            config,
            client: None,
            incoming: None,
            unsettled: HashMap::new(),
            outgoing: Batch::start(bounds, publisher, ctx),
        })
    }

    async fn connect(&mut self, ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
        self.incoming = None;
        self.client().await?;
        if ctx.source_linked() {
            self.incoming = Some(self.subscribe().await?);
            pdk::log::info!(
                "connected to {}; reading {}",
                self.config.url,
                self.reading()
            );
        }
        Ok(true)
    }

    async fn on_drain(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.outgoing.flush().await
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        // Messages fetched and never pulled are left unacknowledged: the
        // server redelivers them after `ack_wait_ms`.
        self.incoming = None;
        self.outgoing.flush().await
    }
}

impl Source for Nats {
    const TRANSACTIONAL: bool = true;

    async fn pull_data(&mut self, pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
        let incoming = match &mut self.incoming {
            Some(incoming) => incoming,
            None => {
                let incoming = self.subscribe().await?;
                self.incoming.insert(incoming)
            }
        };
        match incoming {
            Incoming::JetStream(messages) => match messages.next().await {
                Some(Ok(message)) => {
                    let payload = message.payload.to_vec();
                    self.unsettled.insert(pull_id, message);
                    Ok(SourceReply::bytes(payload))
                }
                Some(Err(e)) => {
                    self.incoming = None;
                    Err(Error::connection_lost(format!("reading the consumer: {e}")))
                }
                None => {
                    self.incoming = None;
                    Err(Error::connection_lost("the consumer's messages ended"))
                }
            },
            Incoming::Core(subscriber) => match subscriber.next().await {
                Some(message) => Ok(SourceReply::bytes(message.payload.to_vec())),
                None => {
                    self.incoming = None;
                    Err(Error::connection_lost("the subscription ended"))
                }
            },
        }
    }

    async fn ack(&mut self, _stream: u64, pull_id: u64, _ctx: &ConnectorContext) -> Result<()> {
        self.settle(pull_id, AckKind::Ack).await
    }

    async fn fail(&mut self, _stream: u64, pull_id: u64, _ctx: &ConnectorContext) -> Result<()> {
        let delay = Duration::from_millis(self.config.nak_delay_ms);
        self.settle(pull_id, AckKind::Nak(Some(delay))).await
    }
}

impl Nats {
    /// Tells the server what became of message `pull_id` (JetStream); the
    /// message stays unsettled if that fails (the runtime settles it again
    /// after reconnecting).
    async fn settle(&mut self, pull_id: u64, kind: AckKind) -> Result<()> {
        let Some(message) = self.unsettled.get(&pull_id) else {
            return Ok(());
        };
        message
            .ack_with(kind)
            .await
            .map_err(|e| Error::connection_lost(format!("acknowledging a message: {e}")))?;
        self.unsettled.remove(&pull_id);
        Ok(())
    }
}

impl Sink for Nats {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        let payload = event.to_json_string().into_bytes();
        self.outgoing.push(event.id, payload).await
    }
}

/// Publishes the sink's batches.
struct Publisher {
    config: Config,
    /// The client, with the stream made sure of (JetStream).
    client: Option<Client>,
}

impl BatchWriter<Vec<u8>> for Publisher {
    async fn write(&mut self, payloads: &mut Vec<Vec<u8>>) -> Result<()> {
        let client = match &self.client {
            Some(client) => client.clone(),
            None => {
                let client = self.config.connect().await?;
                if let Some(name) = &self.config.stream {
                    self.config.stream(&client, name).await?;
                }
                self.client.insert(client).clone()
            }
        };
        let subject = self.config.subject.clone();
        let published = match &self.config.stream {
            Some(_) => publish_stored(&client, &subject, payloads).await,
            None => publish(&client, &subject, payloads).await,
        };
        if published.is_err() {
            // The next batch connects again.
            self.client = None;
        }
        published
    }
}

/// Publishes `payloads` to JetStream and waits until the server has
/// stored every one.
async fn publish_stored(client: &Client, subject: &str, payloads: &mut Vec<Vec<u8>>) -> Result<()> {
    let context = jetstream::new(client.clone());
    let mut acks = Vec::with_capacity(payloads.len());
    for payload in payloads.drain(..) {
        let ack = context
            .publish(subject.to_owned(), payload.into())
            .await
            .map_err(|e| Error::connection_lost(format!("publishing to `{subject}`: {e}")))?;
        acks.push(ack);
    }
    for ack in acks {
        ack.await.map_err(|e| {
            Error::connection_lost(format!(
                "the server did not store an event on `{subject}`: {e}"
            ))
        })?;
    }
    Ok(())
}

/// Publishes `payloads` (core NATS) and waits until the server has them.
async fn publish(client: &Client, subject: &str, payloads: &mut Vec<Vec<u8>>) -> Result<()> {
    for payload in payloads.drain(..) {
        client
            .publish(subject.to_owned(), payload.into())
            .await
            .map_err(|e| Error::connection_lost(format!("publishing to `{subject}`: {e}")))?;
    }
    client
        .flush()
        .await
        .map_err(|e| Error::connection_lost(format!("publishing to `{subject}`: {e}")))
}

#[pdk_export]
mod plugin {
    pub use super::Nats;
}

#[cfg(test)]
mod tests {
    use pdk::testing::{Harness, Setup};
    use pdk::ErrorKind;

    use super::Nats;

    fn sink_only() -> Setup {
        Setup {
            source_linked: false,
            ..Setup::default()
        }
    }

    fn config_error(json: &str) -> String {
        let error = Harness::<Nats>::from_json(json).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config, "{}", error.message());
        error.message().to_owned()
    }

    #[test]
    fn a_url_that_is_not_a_server_is_named_with_the_fix() {
        let message = config_error(r#"{"url": "nats://127.0.0.1:notaport", "subject": "s"}"#);
        assert!(
            message
                .contains("field `url`: `nats://127.0.0.1:notaport` is not a NATS server address")
                && message.contains("nats://HOST:PORT"),
            "{message}"
        );
    }

    #[test]
    fn a_jetstream_source_needs_a_durable_consumer_and_a_sink_does_not() {
        let json = r#"{"url": "nats://127.0.0.1:4222", "subject": "s", "stream": "S"}"#;
        let message = config_error(json);
        assert!(message.contains("field `consumer` is missing"), "{message}");
        let config = pdk::Value::from_json_str(json).unwrap();
        assert!(Harness::<Nats>::with_setup(config, sink_only()).is_ok());
    }

    #[test]
    fn an_empty_subject_and_a_zero_batch_are_refused() {
        let message = config_error(r#"{"url": "nats://127.0.0.1:4222", "subject": " "}"#);
        assert!(message.contains("field `subject` is empty"), "{message}");
        let message =
            config_error(r#"{"url": "nats://127.0.0.1:4222", "subject": "s", "max_batch": 0}"#);
        assert!(
            message.contains("field `max_batch` must be at least 1"),
            "{message}"
        );
    }
}
