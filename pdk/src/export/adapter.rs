//! The one generic implementation of [`RawConnector`] for every connector,
//! and the compile-time probes that find out which sides a connector has.

use std::marker::PhantomData;

use crate::abi::connector::{
    FfiEvent, FfiResultFuture, FfiSourceReply, LifecycleHook, RawConnector,
};
use crate::abi::value::PdkValue;
use crate::connector::{Attempt, Event, SinkReply, SourceReply};
use crate::export::contain::{contain, unsupported};
use crate::{Connector, ConnectorContext, Sink, Source, Value};

/// The source side of `T`, as plain function pointers (so that `Adapter<T>`
/// needs no `T: Source` bound).
pub struct SourceFns<T> {
    pull_data:
        for<'a> fn(&'a mut T, &'a ConnectorContext, u64) -> FfiResultFuture<'a, FfiSourceReply>,
    ack: for<'a> fn(&'a mut T, &'a ConnectorContext, u64, u64) -> FfiResultFuture<'a, ()>,
    fail: for<'a> fn(&'a mut T, &'a ConnectorContext, u64, u64) -> FfiResultFuture<'a, ()>,
    transactional: bool,
}

impl<T> Clone for SourceFns<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SourceFns<T> {}

impl<T: Source> SourceFns<T> {
    fn new() -> Self {
        Self {
            pull_data: |inner, ctx, pull_id| {
                contain(
                    "pull_data",
                    inner.pull_data(pull_id, ctx),
                    source_reply_to_ffi,
                )
            },
            ack: |inner, ctx, stream, pull_id| {
                contain("ack", inner.ack(stream, pull_id, ctx), |()| ())
            },
            fail: |inner, ctx, stream, pull_id| {
                contain("fail", inner.fail(stream, pull_id, ctx), |()| ())
            },
            transactional: T::TRANSACTIONAL,
        }
    }
}

impl<T> SourceFns<T> {
    /// Whether the source wants acks and fails.
    pub(crate) fn is_transactional(&self) -> bool {
        self.transactional
    }
}

/// The sink side of `T`, as a plain function pointer.
pub struct SinkFns<T> {
    on_event:
        for<'a> fn(&'a mut T, &'a ConnectorContext, FfiEvent) -> FfiResultFuture<'a, SinkReply>,
}

impl<T> Clone for SinkFns<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SinkFns<T> {}

impl<T: Sink> SinkFns<T> {
    fn new() -> Self {
        Self {
            on_event: |inner, ctx, event| {
                let event = Event {
                    id: event.id,
                    ingest_ns: event.ingest_ns,
                    data: Value::from(event.data),
                };
                contain("on_event", inner.on_event(event, ctx), |reply| reply)
            },
        }
    }
}

fn source_reply_to_ffi(reply: SourceReply) -> FfiSourceReply {
    match reply {
        SourceReply::Data { data, stream } => FfiSourceReply::Data {
            data: PdkValue::from(data),
            stream,
        },
        SourceReply::Bytes { data, stream } => FfiSourceReply::Bytes {
            data: data.into(),
            stream,
        },
        SourceReply::StreamStarted(stream) => FfiSourceReply::StreamStarted(stream),
        SourceReply::StreamEnded(stream) => FfiSourceReply::StreamEnded(stream),
        SourceReply::Empty(wait_ms) => FfiSourceReply::Empty(wait_ms),
        SourceReply::Finished => FfiSourceReply::Finished,
    }
}

/// A connector instance as the runtime sees it: the author's value, its
/// context, and its sides.
pub(crate) struct Adapter<T> {
    pub(crate) inner: T,
    pub(crate) ctx: ConnectorContext,
    pub(crate) source: Option<SourceFns<T>>,
    pub(crate) sink: Option<SinkFns<T>>,
}

impl<T: Connector> RawConnector for Adapter<T> {
    fn connect(&mut self, overall: u64, since_success: u64) -> FfiResultFuture<'_, bool> {
        let Self { inner, ctx, .. } = self;
        let attempt = Attempt {
            overall,
            since_success,
        };
        contain(
            "connect",
            async move { inner.connect(ctx, &attempt).await },
            |connected| connected,
        )
    }

    fn lifecycle(&mut self, hook: LifecycleHook) -> FfiResultFuture<'_, ()> {
        let Self { inner, ctx, .. } = self;
        contain(
            hook.method_name(),
            async move {
                match hook {
                    LifecycleHook::Start => inner.on_start(ctx).await,
                    LifecycleHook::Pause => inner.on_pause(ctx).await,
                    LifecycleHook::Resume => inner.on_resume(ctx).await,
                    LifecycleHook::Drain => inner.on_drain(ctx).await,
                    LifecycleHook::Stop => inner.on_stop(ctx).await,
                }
            },
            |()| (),
        )
    }

    fn pull_data(&mut self, pull_id: u64) -> FfiResultFuture<'_, FfiSourceReply> {
        match self.source {
            Some(fns) => (fns.pull_data)(&mut self.inner, &self.ctx, pull_id),
            None => unsupported(self.ctx.alias(), "pull_data"),
        }
    }

    fn ack(&mut self, stream: u64, pull_id: u64) -> FfiResultFuture<'_, ()> {
        match self.source {
            Some(fns) => (fns.ack)(&mut self.inner, &self.ctx, stream, pull_id),
            None => unsupported(self.ctx.alias(), "ack"),
        }
    }

    fn fail(&mut self, stream: u64, pull_id: u64) -> FfiResultFuture<'_, ()> {
        match self.source {
            Some(fns) => (fns.fail)(&mut self.inner, &self.ctx, stream, pull_id),
            None => unsupported(self.ctx.alias(), "fail"),
        }
    }

    fn on_event(&mut self, event: FfiEvent) -> FfiResultFuture<'_, SinkReply> {
        match self.sink {
            Some(fns) => (fns.on_event)(&mut self.inner, &self.ctx, event),
            None => unsupported(self.ctx.alias(), "on_event"),
        }
    }
}

/// Finds out at compile time whether `T` implements [`Source`] / [`Sink`]
/// ("autoref specialization": the impl on `Probe<T>` is preferred when its
/// bound holds; otherwise method lookup falls back to the impl on
/// `&Probe<T>`). Only works on concrete types, which is how the
/// `#[connector]` expansion uses it.
pub struct Probe<T>(PhantomData<T>);

impl<T> Probe<T> {
    /// A probe for `T`.
    #[must_use]
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for Probe<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Chosen when `T: Source`.
pub trait HasSource<T> {
    /// `T`'s source side.
    fn source_fns(&self) -> Option<SourceFns<T>>;
}

impl<T: Source> HasSource<T> for Probe<T> {
    fn source_fns(&self) -> Option<SourceFns<T>> {
        Some(SourceFns::new())
    }
}

/// Chosen when `T` does not implement [`Source`].
pub trait NoSource<T> {
    /// No source side.
    fn source_fns(&self) -> Option<SourceFns<T>> {
        None
    }
}

impl<T> NoSource<T> for &Probe<T> {}

/// Chosen when `T: Sink`.
pub trait HasSink<T> {
    /// `T`'s sink side.
    fn sink_fns(&self) -> Option<SinkFns<T>>;
}

impl<T: Sink> HasSink<T> for Probe<T> {
    fn sink_fns(&self) -> Option<SinkFns<T>> {
        Some(SinkFns::new())
    }
}

/// Chosen when `T` does not implement [`Sink`].
pub trait NoSink<T> {
    /// No sink side.
    fn sink_fns(&self) -> Option<SinkFns<T>> {
        None
    }
}

impl<T> NoSink<T> for &Probe<T> {}
