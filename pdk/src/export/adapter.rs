//! The one generic implementation of [`PdkConnector`] for every connector
//! type, whether a plugin hands it over or a runtime links it in: one
//! connector path. The source and sink sides are tables of plain function
//! pointers ([`SourceFns`], [`SinkFns`]), built only where `T: Source` /
//! `T: Sink` holds, so that the adapter needs no such bound.

use super::{run_hook, ConnectorType};
use crate::abi::connector::{
    LifecycleHook, PdkConnector, PdkEvent, PdkResultFuture, PdkSinkReply, PdkSourceReply,
};
use crate::abi::value::PdkValue;
use crate::ambient::DropsInContext;
use crate::connector::{Attempt, SourceReply};
use crate::contain::{contain, unsupported};
use crate::{ConnectorContext, Event, Sink, Source};

/// A connector instance behind the C-ABI: the author's value (dropped in
/// the ambient context), its context, and its sides.
pub(crate) struct Adapter<T> {
    pub(crate) inner: DropsInContext<T>,
    pub(crate) ctx: ConnectorContext,
    pub(crate) source: Option<SourceFns<T>>,
    pub(crate) sink: Option<SinkFns<T>>,
}

impl<T: ConnectorType> PdkConnector for Adapter<T> {
    fn connect(&mut self, overall: u64, since_success: u64) -> PdkResultFuture<'_, bool> {
        let Self { inner, ctx, .. } = self;
        ctx.connecting();
        let attempt = Attempt {
            overall,
            since_success,
        };
        contain(
            "connect",
            T::USES_TOKIO,
            move || async move { inner.connect(ctx, &attempt).await },
            |connected| connected,
        )
    }

    fn lifecycle(&mut self, hook: LifecycleHook) -> PdkResultFuture<'_, ()> {
        let Self { inner, ctx, .. } = self;
        contain(
            hook.method_name(),
            T::USES_TOKIO,
            move || run_hook(&mut **inner, ctx, hook),
            |()| (),
        )
    }

    fn pull_data(&mut self, pull_id: u64) -> PdkResultFuture<'_, PdkSourceReply> {
        match self.source {
            Some(fns) => (fns.pull_data)(&mut self.inner, &self.ctx, pull_id),
            None => unsupported(self.ctx.alias(), "pull_data"),
        }
    }

    fn ack(&mut self, stream: u64, pull_id: u64) -> PdkResultFuture<'_, ()> {
        match self.source {
            Some(fns) => (fns.ack)(&mut self.inner, &self.ctx, stream, pull_id),
            None => unsupported(self.ctx.alias(), "ack"),
        }
    }

    fn fail(&mut self, stream: u64, pull_id: u64) -> PdkResultFuture<'_, ()> {
        match self.source {
            Some(fns) => (fns.fail)(&mut self.inner, &self.ctx, stream, pull_id),
            None => unsupported(self.ctx.alias(), "fail"),
        }
    }

    fn on_event(&mut self, event: PdkEvent) -> PdkResultFuture<'_, PdkSinkReply> {
        match self.sink {
            Some(fns) => (fns.on_event)(&mut self.inner, &self.ctx, event),
            None => unsupported(self.ctx.alias(), "on_event"),
        }
    }

    fn upstream_finished(&mut self) -> PdkResultFuture<'_, ()> {
        match self.sink {
            Some(fns) => (fns.upstream_finished)(&mut self.inner, &self.ctx),
            None => unsupported(self.ctx.alias(), "on_upstream_finished"),
        }
    }
}

/// `&mut T, &ctx, stream, pull_id` -> a C-ABI future.
type Settle<T> = for<'a> fn(&'a mut T, &'a ConnectorContext, u64, u64) -> PdkResultFuture<'a, ()>;

/// The source side of `T`.
pub struct SourceFns<T> {
    pub(crate) pull_data:
        for<'a> fn(&'a mut T, &'a ConnectorContext, u64) -> PdkResultFuture<'a, PdkSourceReply>,
    pub(crate) ack: Settle<T>,
    pub(crate) fail: Settle<T>,
    pub(crate) transactional: bool,
}

impl<T> Clone for SourceFns<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SourceFns<T> {}

impl<T: Source + ConnectorType> SourceFns<T> {
    pub(crate) fn new() -> Self {
        Self {
            pull_data: |inner, ctx, pull_id| {
                contain(
                    "pull_data",
                    T::USES_TOKIO,
                    move || inner.pull_data(pull_id, ctx),
                    source_reply_to_ffi,
                )
            },
            ack: |inner, ctx, stream, pull_id| {
                contain(
                    "ack",
                    T::USES_TOKIO,
                    move || inner.ack(stream, pull_id, ctx),
                    |()| (),
                )
            },
            fail: |inner, ctx, stream, pull_id| {
                contain(
                    "fail",
                    T::USES_TOKIO,
                    move || inner.fail(stream, pull_id, ctx),
                    |()| (),
                )
            },
            transactional: T::TRANSACTIONAL,
        }
    }
}

/// The sink side of `T`.
pub struct SinkFns<T> {
    pub(crate) on_event:
        for<'a> fn(&'a mut T, &'a ConnectorContext, PdkEvent) -> PdkResultFuture<'a, PdkSinkReply>,
    pub(crate) upstream_finished:
        for<'a> fn(&'a mut T, &'a ConnectorContext) -> PdkResultFuture<'a, ()>,
}

impl<T> Clone for SinkFns<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SinkFns<T> {}

impl<T: Sink + ConnectorType> SinkFns<T> {
    pub(crate) fn new() -> Self {
        Self {
            on_event: |inner, ctx, event| {
                let event = Event::with_payload(event.id, event.ingest_ns, event.data);
                contain(
                    "on_event",
                    T::USES_TOKIO,
                    move || inner.on_event(event, ctx),
                    PdkSinkReply::from,
                )
            },
            upstream_finished: |inner, ctx| {
                contain(
                    "on_upstream_finished",
                    T::USES_TOKIO,
                    move || inner.on_upstream_finished(ctx),
                    |()| (),
                )
            },
        }
    }
}

fn source_reply_to_ffi(reply: SourceReply) -> PdkSourceReply {
    match reply {
        SourceReply::Payload { data, stream } => PdkSourceReply::Data { data, stream },
        reply => reply.map(PdkValue::from, abi_stable::std_types::RVec::from),
    }
}
