//! What a connector gets from the runtime with every call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::abi::connector::{BoxedRuntimeHandle, EventId, PdkConnectorContext};
use crate::abi::value::PdkValue;
use crate::metrics::Metrics;
use crate::{Error, Result, Value};

/// The connector's view of the runtime: its id in the flow, and handles to
/// report a lost connection and to answer events later.
///
/// # Examples
///
/// A sink that logs under its id and counts what it handled in a metric of
/// its own:
///
/// ```
/// use pdk::metrics::Counter;
/// use pdk::prelude::*;
/// use pdk::testing::{Harness, Setup};
///
/// #[connector(name = "audit")]
/// pub struct Audit {
///     handled: Counter,
/// }
///
/// impl Connector for Audit {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, ctx: &ConnectorContext) -> Result<Self> {
///         pdk::log::info!("`{}` audits every event", ctx.alias());
///         let handled = ctx.metrics().counter("handled", "Events audited")?;
///         Ok(Self { handled })
///     }
/// }
///
/// impl Sink for Audit {
///     async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
///         self.handled.inc();
///         Ok(SinkReply::Ack)
///     }
/// }
///
/// # fn main() -> pdk::Result<()> { pdk::testing::block_on(async {
/// let setup = Setup { alias: String::from("payments"), ..Setup::default() };
/// let mut sink = Harness::<Audit>::with_setup(Value::object(), setup)?;
/// assert_eq!(sink.logged_after("`payments` "), Some(String::from("audits every event")));
/// sink.send("paid").await?;
/// assert_eq!(sink.counter("handled"), Some(1));
/// # Ok(()) }) }
/// ```
pub struct ConnectorContext {
    alias: String,
    /// `PACKAGE/ALIAS`: the tag the runtime gives the connector's records.
    log_target: String,
    handle: BoxedRuntimeHandle,
    source_linked: bool,
    /// How many times the runtime has called `connect`.
    connects: Arc<AtomicU64>,
}

impl ConnectorContext {
    /// The context the runtime handed over at creation, for a connector
    /// of the crate `package`.
    pub(crate) fn from_ffi(ctx: PdkConnectorContext, package: &str) -> Self {
        let alias = ctx.alias.into_string();
        Self {
            log_target: format!("{package}/{alias}"),
            alias,
            handle: ctx.handle,
            source_linked: ctx.source_linked,
            connects: Arc::default(),
        }
    }

    /// Counts a call of `connect`, made after the runtime has failed back
    /// every event the connector deferred before it.
    pub(crate) fn connecting(&self) {
        self.connects.fetch_add(1, Ordering::AcqRel);
    }

    /// How many times the runtime has called `connect`, kept up to date.
    pub(crate) fn connects(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.connects)
    }

    /// The connector's id in the flow file (`id = "..."`).
    #[must_use]
    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// The log target the runtime gives this connector's records,
    /// `PACKAGE/ID` (`my-plugin/out`): what `PDK_LOG` selects and the log
    /// shows. Records from the connector's methods and from
    /// [`crate::task::spawn`] tasks carry it by themselves; a task started
    /// with `tokio::spawn` runs on the plugin's tokio worker, where the
    /// runtime cannot tell whose it is, and keeps the connector's tag by
    /// naming this target.
    ///
    /// ```
    /// use pdk::prelude::*;
    ///
    /// #[connector(name = "watcher")]
    /// pub struct Watcher;
    ///
    /// impl Connector for Watcher {
    ///     type Config = NoConfig;
    ///
    ///     fn new(_config: NoConfig, ctx: &ConnectorContext) -> Result<Self> {
    ///         // The crate's package name and the connector's id.
    ///         assert_eq!(ctx.log_target(), concat!(env!("CARGO_PKG_NAME"), "/test"));
    ///         let target = ctx.log_target().to_owned();
    ///         std::thread::spawn(move || {
    ///             // On a thread (or a `tokio::spawn` task) of the plugin's own:
    ///             pdk::log::info!(target: &target, "watching");
    ///         });
    ///         Ok(Self)
    ///     }
    /// }
    /// # impl Sink for Watcher {
    /// #     async fn on_event(&mut self, _: Event, _: &ConnectorContext) -> Result<SinkReply> {
    /// #         Ok(SinkReply::Ack)
    /// #     }
    /// # }
    ///
    /// pdk::testing::Harness::<Watcher>::new(Value::object())?;
    /// # Ok::<(), pdk::Error>(())
    /// ```
    #[must_use]
    pub fn log_target(&self) -> &str {
        &self.log_target
    }

    /// Whether the flow links this connector's source side to any sink:
    /// a connector with both sides can skip producing events that nobody
    /// would pull (an HTTP client's responses, say).
    #[must_use]
    pub fn source_linked(&self) -> bool {
        self.source_linked
    }

    /// A handle that reports "connection lost" to the runtime; clone it
    /// into background tasks that watch the connection.
    #[must_use]
    pub fn notifier(&self) -> ConnectionLostNotifier {
        ConnectionLostNotifier(self.handle.clone())
    }

    /// Decodes raw bytes with this connector's codec (the flow file's
    /// `codec`, `json` by default), as the runtime decodes
    /// [`crate::SourceReply::Bytes`]: for a source that builds a
    /// structured event around a raw body (an HTTP request's method, path
    /// and headers around its decoded body, say).
    ///
    /// # Errors
    /// When `data` is not valid for the codec (not JSON, not UTF-8).
    ///
    /// ```
    /// use pdk::prelude::*;
    ///
    /// #[connector(name = "requests")]
    /// pub struct Requests;
    ///
    /// impl Connector for Requests {
    ///     type Config = NoConfig;
    ///
    ///     fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
    ///         Ok(Self)
    ///     }
    /// }
    ///
    /// impl Source for Requests {
    ///     async fn pull_data(&mut self, _pull_id: u64, ctx: &ConnectorContext) -> Result<SourceReply> {
    ///         let mut request = Value::object();
    ///         request.insert("method", "POST");
    ///         request.insert("body", ctx.decode(br#"{"n":1}"#.to_vec())?);
    ///         Ok(SourceReply::data(request))
    ///     }
    /// }
    ///
    /// # fn main() -> pdk::Result<()> {
    /// let mut source = pdk::testing::Harness::<Requests>::new(Value::object())?;
    /// let SourceReply::Data { data, .. } = pdk::testing::block_on(source.pull())? else {
    ///     panic!("a structured event");
    /// };
    /// assert_eq!(data.get("body").and_then(|body| body.get("n")).and_then(Value::as_u64), Some(1));
    /// # Ok(()) }
    /// ```
    pub fn decode(&self, data: Vec<u8>) -> Result<Value> {
        self.decode_payload(data).map(Value::from)
    }

    /// [`Self::decode`], kept in the C-ABI form the runtime decodes into:
    /// for a source that builds its event in that form too and replies
    /// [`crate::SourceReply::Payload`], so that the body is never
    /// converted to a [`Value`] and back.
    ///
    /// # Errors
    /// When `data` is not valid for the codec (not JSON, not UTF-8).
    pub fn decode_payload(&self, data: Vec<u8>) -> Result<PdkValue> {
        self.handle
            .decode(data.into())
            .into_result()
            .map_err(Error::from_ffi)
    }

    /// Where the connector registers metrics of its own (counters,
    /// gauges, histograms), shown by the runtime with the connector's
    /// labels; see [`crate::metrics`].
    #[must_use]
    pub fn metrics(&self) -> Metrics<'_> {
        Metrics::new(&self.handle)
    }

    /// A handle to answer events later (after replying
    /// [`crate::SinkReply::Deferred`]) and to work the circuit breaker, from
    /// any task.
    #[must_use]
    pub fn replies(&self) -> SinkReplies {
        SinkReplies(self.handle.clone())
    }
}

/// Tells the runtime that the connector lost its connection; the runtime
/// then reconnects it (calling [`crate::Connector::connect`] again).
///
/// # Examples
///
/// ```
/// use pdk::prelude::*;
/// use pdk::testing::{Harness, Report};
///
/// #[connector(name = "watched")]
/// pub struct Watched;
///
/// impl Connector for Watched {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
///         Ok(Self)
///     }
///
///     async fn connect(&mut self, ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
///         let notifier = ctx.notifier();
///         pdk::task::spawn(async move {
///             // ... wait until the server closes the connection, then:
///             notifier.connection_lost();
///         });
///         Ok(true)
///     }
/// }
/// # impl Sink for Watched {
/// #     async fn on_event(&mut self, _: Event, _: &ConnectorContext) -> Result<SinkReply> {
/// #         Ok(SinkReply::Ack)
/// #     }
/// # }
///
/// # fn main() -> pdk::Result<()> { pdk::testing::block_on(async {
/// let mut connector = Harness::<Watched>::new(Value::object())?;
/// connector.connect().await?;
/// assert_eq!(connector.next_report().await, Some(Report::ConnectionLost));
/// # Ok(()) }) }
/// ```
#[derive(Clone)]
pub struct ConnectionLostNotifier(BoxedRuntimeHandle);

impl ConnectionLostNotifier {
    /// Reports the lost connection. Cheap; may be called from any task.
    pub fn connection_lost(&self) {
        self.0.connection_lost();
    }
}

/// Answers events and works the circuit breaker of a sink, from any task.
///
/// # Examples
///
/// A sink whose downstream is full pauses the sources that feed it, and
/// resumes them once there is room:
///
/// ```
/// use pdk::prelude::*;
/// use pdk::testing::{Harness, Report};
///
/// #[connector(name = "careful")]
/// pub struct Careful;
///
/// impl Connector for Careful {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
///         Ok(Self)
///     }
/// }
///
/// impl Sink for Careful {
///     async fn on_event(&mut self, _event: Event, ctx: &ConnectorContext) -> Result<SinkReply> {
///         let replies = ctx.replies();
///         replies.pause_sources();
///         // ... once the downstream has room again:
///         replies.resume_sources();
///         Ok(SinkReply::Ack)
///     }
/// }
///
/// # fn main() -> pdk::Result<()> { pdk::testing::block_on(async {
/// let mut sink = Harness::<Careful>::new(Value::object())?;
/// sink.send("x").await?;
/// assert_eq!(sink.reports(), [Report::SourcesPaused, Report::SourcesResumed]);
/// # Ok(()) }) }
/// ```
#[derive(Clone)]
pub struct SinkReplies(BoxedRuntimeHandle);

impl SinkReplies {
    /// The event, answered [`crate::SinkReply::Deferred`] before, is handled.
    pub fn ack(&self, id: EventId) {
        self.0.reply(id, true);
    }

    /// The event, answered [`crate::SinkReply::Deferred`] before, failed.
    pub fn fail(&self, id: EventId) {
        self.0.reply(id, false);
    }

    /// The sink cannot take more events (its circuit breaker is open): the
    /// runtime pauses every source linked to it (calling their
    /// `on_pause`) until [`Self::resume_sources`].
    pub fn pause_sources(&self) {
        self.0.set_circuit(false);
    }

    /// The sink takes events again (its circuit breaker is closed): paused
    /// sources resume (`on_resume`).
    pub fn resume_sources(&self) {
        self.0.set_circuit(true);
    }

    /// The old name of [`Self::pause_sources`], which said the opposite
    /// of what it does: an open breaker stops traffic.
    #[deprecated(since = "0.2.0", note = "renamed `pause_sources`")]
    pub fn close_circuit(&self) {
        self.pause_sources();
    }

    /// The old name of [`Self::resume_sources`].
    #[deprecated(since = "0.2.0", note = "renamed `resume_sources`")]
    pub fn open_circuit(&self) {
        self.resume_sources();
    }
}
