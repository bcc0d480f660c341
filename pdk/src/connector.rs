//! The connector model: what an author implements.
//!
//! A connector is an ordinary struct with `#[connector(name = "...")]` on it
//! and an `impl` of [`Connector`]. It gains a source side by implementing
//! [`Source`] and a sink side by implementing [`Sink`]; the macros notice
//! which ones exist. `Connector::new` is a plain `fn`; every other method
//! is an ordinary `async fn`, and the ones an author does not write have
//! the defaults documented here.

use std::future::Future;

use serde::de::DeserializeOwned;

use crate::abi::connector::PdkSinkReply;
pub use crate::abi::connector::{EventId, SourceReplyOf};
use crate::abi::value::PdkValue;
use crate::context::ConnectorContext;
use crate::{Event, Result, Value};

/// Which connection attempt this is, counted since the connector was
/// created (`1` for the first) and since the last success.
///
/// # Examples
///
/// ```
/// use pdk::prelude::*;
///
/// #[connector(name = "patient")]
/// pub struct Patient;
///
/// impl Connector for Patient {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
///         Ok(Self)
///     }
///
///     async fn connect(&mut self, ctx: &ConnectorContext, attempt: &Attempt) -> Result<bool> {
///         if !attempt.is_first() {
///             pdk::log::warn!("`{}`: attempt {} since the last success", ctx.alias(), attempt.since_success);
///         }
///         // Not reachable yet: the runtime tries again, with backoff.
///         Ok(attempt.overall >= 3)
///     }
/// }
/// # impl Sink for Patient {
/// #     async fn on_event(&mut self, _: Event, _: &ConnectorContext) -> Result<SinkReply> {
/// #         Ok(SinkReply::Ack)
/// #     }
/// # }
///
/// # fn main() -> pdk::Result<()> { pdk::testing::block_on(async {
/// let mut patient = pdk::testing::Harness::<Patient>::new(Value::object())?;
/// assert!(!patient.connect().await?);
/// assert!(!patient.connect().await?);
/// assert!(patient.connect().await?);
/// # Ok(()) }) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// Attempts since the connector was created, including this one.
    pub overall: u64,
    /// Attempts since the last successful connect, including this one.
    pub since_success: u64,
}

impl Attempt {
    /// `true` on the very first attempt.
    #[must_use]
    pub fn is_first(&self) -> bool {
        self.overall == 1
    }
}

/// The core of every connector: construction from its configuration,
/// connecting, and the lifecycle hooks.
///
/// The runtime calls the hooks in this order: [`Connector::connect`]
/// (again after a lost connection), [`Connector::on_start`], then any
/// number of [`Connector::on_pause`] / [`Connector::on_resume`] pairs,
/// [`Connector::on_drain`] once no more events will come, and
/// [`Connector::on_stop`] last.
///
/// # Examples
///
/// A sink that accepts events up to a limit set in its flow file, with its
/// configuration checked in `new`, tried with [`crate::testing::Harness`]:
///
/// ```
/// use pdk::prelude::*;
///
/// #[derive(Deserialize)]
/// pub struct Config {
///     limit: u64,
/// }
///
/// #[connector(name = "limited")]
/// pub struct Limited {
///     limit: u64,
///     seen: u64,
/// }
///
/// impl Connector for Limited {
///     type Config = Config;
///
///     fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
///         if config.limit == 0 {
///             return Err(Error::config("`limit` must be at least 1"));
///         }
///         Ok(Self { limit: config.limit, seen: 0 })
///     }
/// }
///
/// impl Sink for Limited {
///     async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
///         self.seen += 1;
///         Ok(if self.seen <= self.limit { SinkReply::Ack } else { SinkReply::Fail })
///     }
/// }
///
/// # fn main() -> pdk::Result<()> { pdk::testing::block_on(async {
/// use pdk::testing::Harness;
/// use pdk::ErrorKind;
///
/// let mut sink = Harness::<Limited>::from_json(r#"{"limit": 1}"#)?;
/// assert_eq!(sink.send("first").await?, SinkReply::Ack);
/// assert_eq!(sink.send("second").await?, SinkReply::Fail);
///
/// let refused = Harness::<Limited>::from_json(r#"{"limit": 0}"#).unwrap_err();
/// assert_eq!(refused.kind(), ErrorKind::Config);
/// # Ok(()) }) }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is marked `#[connector]` but does not implement `pdk::Connector`",
    label = "needs `impl pdk::Connector for {Self}`",
    note = "add `impl Connector for {Self} {{ type Config = ...; fn new(config, ctx) -> Result<Self> {{ .. }} }}`"
)]
pub trait Connector: Sized + Send + 'static {
    /// The configuration, deserialized from the flow file's `config` table.
    /// Use [`crate::NoConfig`] for a connector that takes none.
    type Config: DeserializeOwned;

    /// Creates the connector from its configuration. Called once, before
    /// the flow starts; an error here stops the flow from starting.
    ///
    /// # Errors
    /// When the configuration is valid for serde but not for the connector.
    fn new(config: Self::Config, ctx: &ConnectorContext) -> Result<Self>;

    /// Connects to the outside world. `Ok(false)` means "not now, try
    /// again later"; the runtime retries with backoff. Default: `Ok(true)`.
    fn connect(
        &mut self,
        ctx: &ConnectorContext,
        attempt: &Attempt,
    ) -> impl Future<Output = Result<bool>> + Send {
        let _ = (ctx, attempt);
        async { Ok(true) }
    }

    /// Called once after the first successful connect. Default: nothing.
    fn on_start(&mut self, ctx: &ConnectorContext) -> impl Future<Output = Result<()>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// The flow is paused: stop producing until [`Connector::on_resume`].
    /// Default: nothing.
    fn on_pause(&mut self, ctx: &ConnectorContext) -> impl Future<Output = Result<()>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// The flow resumes after [`Connector::on_pause`]. Default: nothing.
    fn on_resume(&mut self, ctx: &ConnectorContext) -> impl Future<Output = Result<()>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// No more events will arrive or be pulled; flush what is buffered.
    /// A sink that deferred events answers them now: the runtime calls
    /// this as soon as no more events can come, and only then waits for
    /// the answers it still expects (on SIGTERM, for at most the flow's
    /// `drain_timeout_ms`). Called once. Default: nothing.
    fn on_drain(&mut self, ctx: &ConnectorContext) -> impl Future<Output = Result<()>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// The last call: release resources. Default: nothing.
    fn on_stop(&mut self, ctx: &ConnectorContext) -> impl Future<Output = Result<()>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }
}

/// The source side: a connector that produces events.
///
/// # Examples
///
/// A transactional source: it keeps every event until the runtime acks it,
/// and sends a failed one again.
///
/// ```
/// use pdk::prelude::*;
/// use std::collections::BTreeMap;
///
/// #[connector(name = "orders")]
/// pub struct Orders {
///     to_send: Vec<u64>,
///     in_flight: BTreeMap<u64, u64>,
/// }
///
/// impl Connector for Orders {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
///         Ok(Self { to_send: vec![2, 1], in_flight: BTreeMap::new() })
///     }
/// }
///
/// impl Source for Orders {
///     const TRANSACTIONAL: bool = true;
///
///     async fn pull_data(&mut self, pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
///         match self.to_send.pop() {
///             Some(order) => {
///                 self.in_flight.insert(pull_id, order);
///                 Ok(SourceReply::data(order))
///             }
///             None if self.in_flight.is_empty() => Ok(SourceReply::Finished),
///             // Nothing to send until an answer comes: ask again in 10 ms.
///             None => Ok(SourceReply::Empty(10)),
///         }
///     }
///
///     async fn ack(&mut self, _stream: u64, pull_id: u64, _ctx: &ConnectorContext) -> Result<()> {
///         self.in_flight.remove(&pull_id);
///         Ok(())
///     }
///
///     async fn fail(&mut self, _stream: u64, pull_id: u64, _ctx: &ConnectorContext) -> Result<()> {
///         if let Some(order) = self.in_flight.remove(&pull_id) {
///             self.to_send.push(order);
///         }
///         Ok(())
///     }
/// }
///
/// # fn main() -> pdk::Result<()> { pdk::testing::block_on(async {
/// let mut source = pdk::testing::Harness::<Orders>::new(Value::object())?;
/// assert_eq!(source.pull().await?, SourceReply::data(1u64)); // pull 0
/// assert_eq!(source.pull().await?, SourceReply::data(2u64)); // pull 1
/// source.fail(0, 1).await?;
/// source.ack(0, 0).await?;
/// assert_eq!(source.pull().await?, SourceReply::data(2u64)); // again, as pull 2
/// source.ack(0, 2).await?;
/// assert_eq!(source.pull().await?, SourceReply::Finished);
/// # Ok(()) }) }
/// ```
pub trait Source: Connector {
    /// Produces the next piece of data. `pull_id` numbers the pulls of this
    /// connector; a transactional source keeps what it produced under that
    /// id until it is acknowledged or failed.
    ///
    /// The runtime may drop this future before it completes (to deliver an
    /// event to the sink side of the same connector); like a branch of
    /// `select!`, it must be cancel-safe: keep state in `self`, not in the
    /// future.
    fn pull_data(
        &mut self,
        pull_id: u64,
        ctx: &ConnectorContext,
    ) -> impl Future<Output = Result<SourceReply>> + Send;

    /// `true` if this source wants [`Source::ack`] and [`Source::fail`]
    /// calls for its events. Default: `false`.
    const TRANSACTIONAL: bool = false;

    /// Every sink the event went to has handled it. Default: nothing.
    fn ack(
        &mut self,
        stream: u64,
        pull_id: u64,
        ctx: &ConnectorContext,
    ) -> impl Future<Output = Result<()>> + Send {
        let _ = (stream, pull_id, ctx);
        async { Ok(()) }
    }

    /// A sink failed the event; a transactional source may send it again.
    /// Default: nothing.
    fn fail(
        &mut self,
        stream: u64,
        pull_id: u64,
        ctx: &ConnectorContext,
    ) -> impl Future<Output = Result<()>> + Send {
        let _ = (stream, pull_id, ctx);
        async { Ok(()) }
    }
}

/// What [`Source::pull_data`] produced. The forms the runtime and the
/// C-ABI use share one generic enum, [`SourceReplyOf`]; this one is its
/// own type so that compiler messages about it read `SourceReply`. More
/// kinds of reply may come in later versions.
///
/// # Examples
///
/// ```
/// use pdk::prelude::*;
///
/// // One structured event, and raw bytes the flow's codec decodes:
/// assert_eq!(
///     SourceReply::data("hello"),
///     SourceReply::Data { data: Value::from("hello"), stream: 0 }
/// );
/// let raw = SourceReply::bytes(br#"{"n":1}"#.to_vec());
///
/// // A server with a stream per client:
/// let replies = [
///     SourceReply::StreamStarted(7),
///     SourceReply::Bytes { data: b"line".to_vec(), stream: 7 },
///     SourceReply::StreamEnded(7),
/// ];
///
/// // Nothing now (ask again in 100 ms), and the end of the source:
/// let later = SourceReply::Empty(100);
/// let done = SourceReply::Finished;
/// # let _ = (raw, replies, later, done);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum SourceReply {
    /// A structured value: it becomes one event as it is.
    Data {
        /// The event's payload.
        data: Value,
        /// The stream it belongs to (`0` for sources without streams).
        stream: u64,
    },
    /// A value already in the C-ABI form every sink reads: it becomes one
    /// event as it is, with no conversion (a [`Value`] is converted once).
    /// For a source that builds its events from pieces already in that
    /// form, such as a body from [`ConnectorContext::decode_payload`];
    /// [`crate::testing::Harness::pull`] returns it as [`Self::Data`].
    Payload {
        /// The event's payload.
        data: PdkValue,
        /// The stream it belongs to (`0` for sources without streams).
        stream: u64,
    },
    /// Raw bytes: the flow's codec for this connector turns them into one
    /// event (`json` by default).
    Bytes {
        /// The raw payload.
        data: Vec<u8>,
        /// The stream it belongs to (`0` for sources without streams).
        stream: u64,
    },
    /// A new stream begins (for example a client connected).
    StreamStarted(u64),
    /// A stream ended (for example a client disconnected).
    StreamEnded(u64),
    /// Nothing to send now; ask again after this many milliseconds.
    Empty(u64),
    /// The source has produced everything it ever will.
    Finished,
}

impl SourceReply {
    /// The same reply in another form ([`SourceReplyOf`]), its payload
    /// converted by `data` or `raw` (a [`Self::Payload`] to a [`Value`]
    /// first).
    pub fn map<D, R>(
        self,
        data: impl FnOnce(Value) -> D,
        raw: impl FnOnce(Vec<u8>) -> R,
    ) -> SourceReplyOf<D, R> {
        match self {
            Self::Data { data: d, stream } => SourceReplyOf::Data {
                data: data(d),
                stream,
            },
            Self::Payload { data: d, stream } => SourceReplyOf::Data {
                data: data(Value::from(d)),
                stream,
            },
            Self::Bytes { data: b, stream } => SourceReplyOf::Bytes {
                data: raw(b),
                stream,
            },
            Self::StreamStarted(stream) => SourceReplyOf::StreamStarted(stream),
            Self::StreamEnded(stream) => SourceReplyOf::StreamEnded(stream),
            Self::Empty(wait_ms) => SourceReplyOf::Empty(wait_ms),
            Self::Finished => SourceReplyOf::Finished,
        }
    }

    /// One structured event on the default stream.
    pub fn data(data: impl Into<Value>) -> Self {
        Self::Data {
            data: data.into(),
            stream: 0,
        }
    }

    /// One raw payload on the default stream, decoded by the flow's codec.
    pub fn bytes(data: impl Into<Vec<u8>>) -> Self {
        Self::Bytes {
            data: data.into(),
            stream: 0,
        }
    }
}

/// What a sink did with an event.
///
/// # Examples
///
/// A sink that answers an event later, once its write is confirmed, through
/// [`ConnectorContext::replies`]:
///
/// ```
/// use pdk::prelude::*;
/// use pdk::testing::{Harness, Report};
///
/// #[connector(name = "confirmed")]
/// pub struct Confirmed;
///
/// impl Connector for Confirmed {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
///         Ok(Self)
///     }
/// }
///
/// impl Sink for Confirmed {
///     async fn on_event(&mut self, event: Event, ctx: &ConnectorContext) -> Result<SinkReply> {
///         let replies = ctx.replies();
///         let id = event.id;
///         pdk::task::spawn(async move {
///             // ... wait for the confirmation of the write, then:
///             replies.ack(id);
///         });
///         Ok(SinkReply::Deferred)
///     }
/// }
///
/// # fn main() -> pdk::Result<()> { pdk::testing::block_on(async {
/// let mut sink = Harness::<Confirmed>::new(Value::object())?;
/// assert_eq!(sink.send("hello").await?, SinkReply::Deferred);
/// let id = sink.last_event_id().unwrap();
/// assert_eq!(sink.next_report().await, Some(Report::Ack(id)));
/// # Ok(()) }) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SinkReply {
    /// Handled: the source may forget it.
    Ack,
    /// Not handled: a transactional source may send it again.
    Fail,
    /// Not answered yet: the sink answers later, through
    /// [`ConnectorContext::replies`], with the event's id.
    Deferred,
}

impl From<SinkReply> for PdkSinkReply {
    fn from(reply: SinkReply) -> Self {
        match reply {
            SinkReply::Ack => Self::ACK,
            SinkReply::Fail => Self::FAIL,
            SinkReply::Deferred => Self::DEFERRED,
        }
    }
}

impl From<PdkSinkReply> for SinkReply {
    /// A code this SDK does not know (from a newer plugin) is `Fail`: the
    /// event is not lost, a transactional source sends it again.
    fn from(reply: PdkSinkReply) -> Self {
        match reply {
            PdkSinkReply::ACK => Self::Ack,
            PdkSinkReply::DEFERRED => Self::Deferred,
            _ => Self::Fail,
        }
    }
}

/// The sink side: a connector that consumes events.
///
/// # Examples
///
/// A sink that writes each event as a JSON line into a buffer it flushes on
/// drain:
///
/// ```
/// use pdk::prelude::*;
///
/// #[connector(name = "lines")]
/// pub struct Lines {
///     buffer: String,
/// }
///
/// impl Connector for Lines {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
///         Ok(Self { buffer: String::new() })
///     }
///
///     async fn on_drain(&mut self, _ctx: &ConnectorContext) -> Result<()> {
///         pdk::log::info!("{} bytes written", self.buffer.len());
///         self.buffer.clear();
///         Ok(())
///     }
/// }
///
/// impl Sink for Lines {
///     async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
///         self.buffer.push_str(&event.to_json_string());
///         self.buffer.push('\n');
///         Ok(SinkReply::Ack)
///     }
/// }
///
/// # fn main() -> pdk::Result<()> { pdk::testing::block_on(async {
/// let mut sink = pdk::testing::Harness::<Lines>::new(Value::object())?;
/// let mut order = Value::object();
/// order.insert("id", 1u64);
/// assert_eq!(sink.send(order).await?, SinkReply::Ack);
/// sink.drain().await?;
/// assert_eq!(sink.logged_after(""), Some(String::from("9 bytes written")));
/// # Ok(()) }) }
/// ```
pub trait Sink: Connector {
    /// Handles one event and says what became of it.
    fn on_event(
        &mut self,
        event: Event,
        ctx: &ConnectorContext,
    ) -> impl Future<Output = Result<SinkReply>> + Send;

    /// Every connector linked to this sink has finished sending and every
    /// event they sent has been delivered (some may still wait for this
    /// sink's deferred answers): no more events will arrive. A
    /// connector whose source side produces only in answer to events (an
    /// HTTP client's responses) finishes its source once it has answered
    /// the last one, so that the flow can end. Default: nothing.
    fn on_upstream_finished(
        &mut self,
        ctx: &ConnectorContext,
    ) -> impl Future<Output = Result<()>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }
}
