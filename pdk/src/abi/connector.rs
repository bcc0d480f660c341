//! The C-ABI form of a connector instance and of what it exchanges.
//!
//! The runtime holds a [`BoxedPdkConnector`]; the plugin implements
//! [`PdkConnector`] once, generically, in [`crate::export`]. New methods go
//! after the last one, so older plugins keep loading (abi_stable checks the
//! prefix of the vtable).

// The `#[sabi_trait]` expansion (abi_stable 0.11.3, pinned) nests impls in
// a const and contains items that clippy flags; neither is ours to change.
#![allow(
    non_local_definitions,
    clippy::ptr_as_ptr,
    clippy::used_underscore_items
)]

use abi_stable::sabi_trait;
use abi_stable::std_types::{RBox, RResult, RString, RVec};
use abi_stable::StableAbi;
use async_ffi::BorrowingFfiFuture;

use super::error::PdkError;
use super::value::PdkValue;

/// A future returned across the boundary, borrowing the connector.
pub type PdkResultFuture<'a, T> = BorrowingFfiFuture<'a, RResult<T, PdkError>>;

/// Identifies one event: which source connector produced it, on which
/// stream, with which pull id.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, StableAbi)]
pub struct EventId {
    /// The runtime's number for the source connector in this flow.
    pub source: u64,
    /// The stream within that source.
    pub stream: u64,
    /// The pull id the source produced it under.
    pub pull_id: u64,
}

/// What a sink did with an event.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, StableAbi)]
pub enum SinkReply {
    /// Handled: the source may forget it.
    Ack,
    /// Not handled: a transactional source may send it again.
    Fail,
    /// Not answered yet: the sink answers later through
    /// `ConnectorContext::replies` with the event's id.
    Deferred,
}

/// One of the lifecycle hooks of [`crate::Connector`].
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, StableAbi)]
pub enum LifecycleHook {
    /// [`crate::Connector::on_start`]
    Start,
    /// [`crate::Connector::on_pause`]
    Pause,
    /// [`crate::Connector::on_resume`]
    Resume,
    /// [`crate::Connector::on_drain`]
    Drain,
    /// [`crate::Connector::on_stop`]
    Stop,
}

impl LifecycleHook {
    /// The name of the author's method, for messages.
    #[must_use]
    pub fn method_name(self) -> &'static str {
        match self {
            Self::Start => "on_start",
            Self::Pause => "on_pause",
            Self::Resume => "on_resume",
            Self::Drain => "on_drain",
            Self::Stop => "on_stop",
        }
    }
}

/// What a source's `pull_data` produced, generic over the form of its
/// payload: [`PdkSourceReply`] across the boundary, and the runtime's own
/// form. Authors write `pdk::SourceReply`, the same variants with a
/// `Value` (it is a type of its own only so that compiler messages name
/// it), which converts with `SourceReply::map`.
#[repr(C)]
#[derive(Debug, Clone, PartialEq, StableAbi)]
pub enum SourceReplyOf<Data, Raw> {
    /// A structured value: it becomes one event as it is.
    Data {
        /// The event's payload.
        data: Data,
        /// The stream it belongs to (`0` for sources without streams).
        stream: u64,
    },
    /// Raw bytes: the flow's codec for this connector turns them into one
    /// event (`json` by default).
    Bytes {
        /// The raw payload.
        data: Raw,
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

impl<Data, Raw> SourceReplyOf<Data, Raw> {
    /// The same reply with its payload converted by `data` or `raw`.
    pub fn map<D, R>(
        self,
        data: impl FnOnce(Data) -> D,
        raw: impl FnOnce(Raw) -> R,
    ) -> SourceReplyOf<D, R> {
        match self {
            Self::Data { data: d, stream } => SourceReplyOf::Data {
                data: data(d),
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
}

/// The C-ABI form of `pdk::SourceReply`.
pub type PdkSourceReply = SourceReplyOf<PdkValue, RVec<u8>>;

/// The C-ABI form of [`crate::Event`].
#[repr(C)]
#[derive(Debug, Clone, PartialEq, StableAbi)]
pub struct PdkEvent {
    /// Where the event came from.
    pub id: EventId,
    /// Ingest time in nanoseconds since the Unix epoch.
    pub ingest_ns: u64,
    /// The payload.
    pub data: PdkValue,
}

/// What the runtime learns about a connector type before creating one.
#[repr(C)]
#[derive(Debug, Clone, PartialEq, Eq, StableAbi)]
pub struct ConnectorTypeInfo {
    /// The connector type name used in flow files.
    pub name: RString,
    /// Whether it has a source side.
    pub source: bool,
    /// Whether its source side wants acks and fails.
    pub transactional: bool,
    /// Whether it has a sink side.
    pub sink: bool,
}

/// A connector instance, as the runtime drives it. The runtime awaits each
/// returned future (or drops it) before the next call.
#[sabi_trait]
pub trait PdkConnector: Send {
    /// [`crate::Connector::connect`]
    fn connect(&mut self, overall: u64, since_success: u64) -> PdkResultFuture<'_, bool>;

    /// One of the lifecycle hooks.
    fn lifecycle(&mut self, hook: LifecycleHook) -> PdkResultFuture<'_, ()>;

    /// [`crate::Source::pull_data`]
    fn pull_data(&mut self, pull_id: u64) -> PdkResultFuture<'_, PdkSourceReply>;

    /// [`crate::Source::ack`]
    fn ack(&mut self, stream: u64, pull_id: u64) -> PdkResultFuture<'_, ()>;

    /// [`crate::Source::fail`]
    fn fail(&mut self, stream: u64, pull_id: u64) -> PdkResultFuture<'_, ()>;

    /// [`crate::Sink::on_event`]
    fn on_event(&mut self, event: PdkEvent) -> PdkResultFuture<'_, SinkReply>;

    /// [`crate::Sink::on_upstream_finished`]
    #[sabi(last_prefix_field)]
    fn upstream_finished(&mut self) -> PdkResultFuture<'_, ()>;
}

/// A connector instance behind the boundary.
pub type BoxedPdkConnector = PdkConnector_TO<'static, RBox<()>>;

/// The runtime's handle for one connector: what a plugin may tell the
/// runtime at any time, from any task. Behind [`crate::ConnectionLostNotifier`]
/// and [`crate::SinkReplies`].
#[sabi_trait]
pub trait PdkRuntimeHandle: Clone + Send + Sync {
    /// The connector lost its connection; the runtime will reconnect it.
    fn connection_lost(&self);

    /// The answer to an event the sink replied [`SinkReply::Deferred`] to.
    fn reply(&self, id: EventId, ok: bool);

    /// Circuit breaker: `false` pauses the sources linked to this sink,
    /// `true` resumes them.
    fn set_circuit(&self, open: bool);

    /// Decodes raw bytes with the connector's codec (the flow file's
    /// `codec`), as the runtime decodes [`PdkSourceReply::Bytes`].
    #[sabi(last_prefix_field)]
    fn decode(&self, data: RVec<u8>) -> RResult<PdkValue, PdkError>;
}

/// A runtime handle behind the boundary.
pub type BoxedRuntimeHandle = PdkRuntimeHandle_TO<'static, RBox<()>>;

/// What the runtime hands a plugin when it creates a connector.
#[repr(C)]
#[derive(StableAbi)]
pub struct PdkConnectorContext {
    /// The connector's id in the flow.
    pub alias: RString,
    /// Reports to the runtime.
    pub handle: BoxedRuntimeHandle,
    /// Whether the flow links the connector's source side to any sink.
    pub source_linked: bool,
}
