//! The C-ABI form of a connector instance and of what it exchanges.
//!
//! The runtime holds a [`BoxedPdkConnector`]; `pdk-sdk` implements
//! [`PdkConnector`] once, generically, for every connector type. New
//! methods go after the last one, so older plugins keep loading (abi_stable
//! checks the prefix of the vtable).

// The `#[sabi_trait]` expansion (abi_stable 0.11.3, pinned) nests impls in
// a const and contains items that clippy flags; neither is ours to change.
#![allow(
    non_local_definitions,
    clippy::ptr_as_ptr,
    clippy::used_underscore_items
)]

use abi_stable::sabi_trait;
use abi_stable::std_types::{RBox, ROption, RResult, RString, RVec};
use abi_stable::StableAbi;
use async_ffi::BorrowingFfiFuture;

use crate::error::PdkError;
use crate::metric::{BoxedMetric, MetricDefinition};
use crate::value::PdkValue;
use crate::Extensions;

/// A future returned across the boundary, borrowing the connector.
pub type PdkResultFuture<'a, T> = BorrowingFfiFuture<'a, RResult<T, PdkError>>;

/// Identifies one event: which source connector produced it, on which
/// stream, with which pull id.
///
/// # Examples
///
/// ```
/// # use pdk_abi::connector::EventId;
/// let id = EventId { source: 0, stream: 3, pull_id: 41 };
/// assert_eq!((id.stream, id.pull_id), (3, 41));
/// ```
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

/// What a sink did with an event, as a code. Open: the runtime reads a
/// code it does not know as [`PdkSinkReply::FAIL`] (the event is not
/// lost: a transactional source sends it again).
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, StableAbi)]
pub struct PdkSinkReply(pub u8);

impl PdkSinkReply {
    /// Handled: the source may forget it.
    pub const ACK: Self = Self(0);
    /// Not handled: a transactional source may send it again.
    pub const FAIL: Self = Self(1);
    /// Not answered yet: the sink answers later through its runtime
    /// handle, with the event's id.
    pub const DEFERRED: Self = Self(2);
}

/// One of the lifecycle hooks of `pdk::Connector`, as a code. Open: a
/// plugin that gets a hook it does not know (from a newer runtime) does
/// nothing and succeeds.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, StableAbi)]
pub struct LifecycleHook(pub u8);

impl LifecycleHook {
    /// `on_start`
    pub const START: Self = Self(0);
    /// `on_pause`
    pub const PAUSE: Self = Self(1);
    /// `on_resume`
    pub const RESUME: Self = Self(2);
    /// `on_drain`
    pub const DRAIN: Self = Self(3);
    /// `on_stop`
    pub const STOP: Self = Self(4);

    /// The name of the author's method, for messages.
    #[must_use]
    pub fn method_name(self) -> &'static str {
        match self {
            Self::START => "on_start",
            Self::PAUSE => "on_pause",
            Self::RESUME => "on_resume",
            Self::DRAIN => "on_drain",
            Self::STOP => "on_stop",
            _ => "a lifecycle hook",
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
    /// A kind of reply added by a later interface version, by its code,
    /// with a stream and a value: a side reads a code it does not know as
    /// an error of the source.
    Other {
        /// The kind of reply.
        kind: u32,
        /// The stream it belongs to.
        stream: u64,
        /// What it carries.
        data: Data,
    },
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
            Self::Other {
                kind,
                stream,
                data: d,
            } => SourceReplyOf::Other {
                kind,
                stream,
                data: data(d),
            },
        }
    }
}

/// The C-ABI form of `pdk::SourceReply`.
pub type PdkSourceReply = SourceReplyOf<PdkValue, RVec<u8>>;

/// The C-ABI form of `pdk::Event`.
#[repr(C)]
#[derive(Debug, Clone, PartialEq, StableAbi)]
pub struct PdkEvent {
    /// Where the event came from.
    pub id: EventId,
    /// Ingest time in nanoseconds since the Unix epoch.
    pub ingest_ns: u64,
    /// The payload.
    pub data: PdkValue,
    /// What later interface versions add.
    pub extensions: Extensions,
}

/// The name of the [`ConnectorTypeInfo`] extension that says, `true`,
/// that the connector type's crate runs on tokio (interface 0.3.2): the
/// runtime may then run its pipeline on the plugin's tokio thread
/// (`PluginModule::host_pipeline`).
pub const USES_TOKIO: &str = "uses_tokio";

/// What the runtime learns about a connector type before creating one.
#[repr(C)]
#[derive(Debug, Clone, PartialEq, StableAbi)]
pub struct ConnectorTypeInfo {
    /// The connector type name used in flow files.
    pub name: RString,
    /// Whether it has a source side.
    pub source: bool,
    /// Whether its source side wants acks and fails.
    pub transactional: bool,
    /// Whether it has a sink side.
    pub sink: bool,
    /// What later interface versions add.
    pub extensions: Extensions,
}

/// A connector instance, as the runtime drives it. The runtime awaits each
/// returned future (or drops it) before the next call. A method added
/// later goes after the last one, with a default body: that default is
/// what an older plugin's object does.
#[sabi_trait]
pub trait PdkConnector: Send {
    /// `pdk::Connector::connect`
    fn connect(&mut self, overall: u64, since_success: u64) -> PdkResultFuture<'_, bool>;

    /// One of the lifecycle hooks.
    fn lifecycle(&mut self, hook: LifecycleHook) -> PdkResultFuture<'_, ()>;

    /// `pdk::Source::pull_data`
    fn pull_data(&mut self, pull_id: u64) -> PdkResultFuture<'_, PdkSourceReply>;

    /// `pdk::Source::ack`
    fn ack(&mut self, stream: u64, pull_id: u64) -> PdkResultFuture<'_, ()>;

    /// `pdk::Source::fail`
    fn fail(&mut self, stream: u64, pull_id: u64) -> PdkResultFuture<'_, ()>;

    /// `pdk::Sink::on_event`
    fn on_event(&mut self, event: PdkEvent) -> PdkResultFuture<'_, PdkSinkReply>;

    /// `pdk::Sink::on_upstream_finished`
    #[sabi(last_prefix_field)]
    fn upstream_finished(&mut self) -> PdkResultFuture<'_, ()>;
}

/// A connector instance behind the boundary.
pub type BoxedPdkConnector = PdkConnector_TO<'static, RBox<()>>;

/// The runtime's handle for one connector: what a plugin may tell the
/// runtime at any time, from any task. Behind `pdk::ConnectionLostNotifier`
/// and `pdk::SinkReplies`. A method added later goes after the last one,
/// with a default body, used when an older runtime's handle lacks it.
#[sabi_trait]
pub trait PdkRuntimeHandle: Clone + Send + Sync {
    /// The connector lost its connection; the runtime will reconnect it.
    fn connection_lost(&self);

    /// The answer to an event the sink replied [`PdkSinkReply::DEFERRED`]
    /// to.
    fn reply(&self, id: EventId, ok: bool);

    /// Circuit breaker: `false` pauses the sources linked to this sink,
    /// `true` resumes them.
    fn set_circuit(&self, open: bool);

    /// Decodes raw bytes with the connector's codec (the flow file's
    /// `codec`), as the runtime decodes `SourceReplyOf::Bytes`.
    #[sabi(last_prefix_field)]
    fn decode(&self, data: RVec<u8>) -> RResult<PdkValue, PdkError>;

    /// Registers a metric of this connector, or returns the one it
    /// registered before under that name (interface 0.3.1): an error when
    /// the name breaks the naming rules or is taken by a metric of another
    /// kind. `RNone` from a runtime that keeps no plugin metrics (one of
    /// interface 0.3.0, whose handle lacks this method).
    fn register_metric(
        &self,
        definition: &MetricDefinition<'_>,
    ) -> ROption<RResult<BoxedMetric, PdkError>> {
        let _ = definition;
        ROption::RNone
    }
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
    /// What later interface versions add.
    pub extensions: Extensions,
}
