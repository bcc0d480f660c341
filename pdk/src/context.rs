//! What a connector gets from the runtime with every call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::abi::connector::{BoxedRuntimeHandle, EventId, PdkConnectorContext};
use crate::metrics::Metrics;
use crate::{Error, Result, Value};

/// The connector's view of the runtime: its id in the flow, and handles to
/// report a lost connection and to answer events later.
pub struct ConnectorContext {
    alias: String,
    handle: BoxedRuntimeHandle,
    source_linked: bool,
    /// How many times the runtime has called `connect`.
    connects: Arc<AtomicU64>,
}

impl ConnectorContext {
    /// The context the runtime handed over at creation.
    pub(crate) fn from_ffi(ctx: PdkConnectorContext) -> Self {
        Self {
            alias: ctx.alias.into_string(),
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
    pub fn decode(&self, data: Vec<u8>) -> Result<Value> {
        self.handle
            .decode(data.into())
            .into_result()
            .map(Value::from)
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
#[derive(Clone)]
pub struct ConnectionLostNotifier(BoxedRuntimeHandle);

impl ConnectionLostNotifier {
    /// Reports the lost connection. Cheap; may be called from any task.
    pub fn connection_lost(&self) {
        self.0.connection_lost();
    }
}

/// Answers events and works the circuit breaker of a sink, from any task.
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
