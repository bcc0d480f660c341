//! A connector instance as the runtime drives it: behind the C-ABI of a
//! plugin, or linked into the runtime (the `static-connectors` feature).
//! Event payloads stay in the form their source produced them in and are
//! converted only when they reach a connector of the other form.

use abi_stable::std_types::{RResult, RStr};
use pdk::abi::allocator::take_vec;
use pdk::abi::connector::{
    BoxedPdkConnector, LifecycleHook, PdkConnectorContext, PdkEvent, PdkSourceReply,
};
use pdk::abi::error::PdkError;
use pdk::abi::value::PdkValue;
use pdk::linked::LinkedConnector;
use pdk::{Attempt, Error, Event, EventId, SinkReply, SourceReply, SourceReplyOf, Value};

use super::hints;
use crate::registry::Provider;

/// An event's payload, in the form its producer made it.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Made by a plugin: already in C-ABI form.
    Ffi(PdkValue),
    /// Made in-process (a linked connector or a codec).
    Linked(Value),
}

impl Payload {
    fn into_ffi(self) -> PdkValue {
        match self {
            Self::Ffi(value) => value,
            Self::Linked(value) => PdkValue::from(value),
        }
    }
}

/// An event on its way through the runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeEvent {
    /// Where it came from.
    pub id: EventId,
    /// When the runtime received it, in nanoseconds since the Unix epoch.
    pub ingest_ns: u64,
    /// Its payload.
    pub data: Payload,
}

/// What a source produced, in either form.
pub type Pulled = SourceReplyOf<Payload, Vec<u8>>;

/// The reply of a plugin's source, in the runtime's form.
fn pulled_from_ffi(reply: PdkSourceReply) -> Pulled {
    reply.map(Payload::Ffi, take_vec)
}

/// The reply of a linked source, in the runtime's form.
fn pulled_from_linked(reply: SourceReply) -> Pulled {
    reply.map(Payload::Linked, |bytes| bytes)
}

/// A connector instance of either form.
pub enum Instance {
    /// Created by a plugin, called through its C-ABI.
    Plugin(BoxedPdkConnector),
    /// Linked into the runtime, called directly.
    Linked(Box<dyn LinkedConnector>),
}

/// A plugin's result, its error explained (see [`hints`]).
fn from_ffi<T>(result: RResult<T, PdkError>) -> Result<T, Error> {
    result
        .into_result()
        .map_err(|e| hints::explain(Error::from(e)))
}

/// A linked connector's result, its error explained (see [`hints`]).
fn from_linked<T>(result: Result<T, Error>) -> Result<T, Error> {
    result.map_err(hints::explain)
}

impl Instance {
    /// Creates a connector of type `kind` from `provider`; the error is the
    /// connector's (a rejected config, a panic in `new`).
    pub fn create(
        provider: Provider<'_>,
        kind: &str,
        ctx: PdkConnectorContext,
        config: &Value,
    ) -> Result<Self, Error> {
        match provider {
            Provider::Plugin(plugin) => {
                let create = plugin.module.create_connector();
                from_ffi(create(
                    RStr::from_str(kind),
                    ctx,
                    PdkValue::from(config.clone()),
                ))
                .map(Self::Plugin)
            }
            Provider::BuiltIn(entry) => {
                from_linked((entry.create)(ctx, config.clone())).map(Self::Linked)
            }
        }
    }

    /// [`pdk::Connector::connect`]
    pub async fn connect(&mut self, attempt: Attempt) -> Result<bool, Error> {
        match self {
            Self::Plugin(raw) => {
                from_ffi(raw.connect(attempt.overall, attempt.since_success).await)
            }
            Self::Linked(linked) => from_linked(linked.connect(attempt).await),
        }
    }

    /// A lifecycle hook.
    pub async fn lifecycle(&mut self, hook: LifecycleHook) -> Result<(), Error> {
        match self {
            Self::Plugin(raw) => from_ffi(raw.lifecycle(hook).await),
            Self::Linked(linked) => from_linked(linked.lifecycle(hook).await),
        }
    }

    /// [`pdk::Source::pull_data`]
    pub async fn pull_data(&mut self, pull_id: u64) -> Result<Pulled, Error> {
        match self {
            Self::Plugin(raw) => from_ffi(raw.pull_data(pull_id).await).map(pulled_from_ffi),
            Self::Linked(linked) => {
                from_linked(linked.pull_data(pull_id).await).map(pulled_from_linked)
            }
        }
    }

    /// [`pdk::Source::ack`] (`ok`) or [`pdk::Source::fail`].
    pub async fn settle(&mut self, stream: u64, pull_id: u64, ok: bool) -> Result<(), Error> {
        match (self, ok) {
            (Self::Plugin(raw), true) => from_ffi(raw.ack(stream, pull_id).await),
            (Self::Plugin(raw), false) => from_ffi(raw.fail(stream, pull_id).await),
            (Self::Linked(linked), true) => from_linked(linked.ack(stream, pull_id).await),
            (Self::Linked(linked), false) => from_linked(linked.fail(stream, pull_id).await),
        }
    }

    /// [`pdk::Sink::on_upstream_finished`]
    pub async fn upstream_finished(&mut self) -> Result<(), Error> {
        match self {
            Self::Plugin(raw) => from_ffi(raw.upstream_finished().await),
            Self::Linked(linked) => from_linked(linked.upstream_finished().await),
        }
    }

    /// [`pdk::Sink::on_event`], converting the payload if its form differs.
    pub async fn on_event(&mut self, event: RuntimeEvent) -> Result<SinkReply, Error> {
        let RuntimeEvent {
            id,
            ingest_ns,
            data,
        } = event;
        match self {
            Self::Plugin(raw) => {
                let event = PdkEvent {
                    id,
                    ingest_ns,
                    data: data.into_ffi(),
                };
                from_ffi(raw.on_event(event).await)
            }
            Self::Linked(linked) => {
                let event = Event::with_payload(id, ingest_ns, data.into_ffi());
                from_linked(linked.on_event(event).await)
            }
        }
    }
}
