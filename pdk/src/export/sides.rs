//! The sides of a connector type as tables of plain function pointers,
//! built only where `T: Source` / `T: Sink` holds, so that the adapters
//! need no such bound. Each table has an entry per calling convention:
//! C-ABI futures for plugins, boxed Rust futures for statically linked
//! connectors.

use futures::future::BoxFuture;

use super::ConnectorType;
use crate::abi::connector::{PdkEvent, PdkResultFuture, PdkSourceReply};
use crate::abi::value::PdkValue;
use crate::connector::{SinkReply, SourceReply};
use crate::contain::{contain, contain_linked};
use crate::{ConnectorContext, Event, Result, Sink, Source};

/// `&mut T, &ctx, stream, pull_id` -> a C-ABI future.
type FfiSettle<T> =
    for<'a> fn(&'a mut T, &'a ConnectorContext, u64, u64) -> PdkResultFuture<'a, ()>;

/// `&mut T, &ctx, stream, pull_id` -> a boxed future.
type LinkedSettle<T> =
    for<'a> fn(&'a mut T, &'a ConnectorContext, u64, u64) -> BoxFuture<'a, Result<()>>;

/// The source side of `T`.
pub struct SourceFns<T> {
    pub(crate) pull_data:
        for<'a> fn(&'a mut T, &'a ConnectorContext, u64) -> PdkResultFuture<'a, PdkSourceReply>,
    pub(crate) ack: FfiSettle<T>,
    pub(crate) fail: FfiSettle<T>,
    pub(crate) linked_pull_data:
        for<'a> fn(&'a mut T, &'a ConnectorContext, u64) -> BoxFuture<'a, Result<SourceReply>>,
    pub(crate) linked_ack: LinkedSettle<T>,
    pub(crate) linked_fail: LinkedSettle<T>,
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
            linked_pull_data: |inner, ctx, pull_id| {
                contain_linked("pull_data", T::USES_TOKIO, move || {
                    inner.pull_data(pull_id, ctx)
                })
            },
            linked_ack: |inner, ctx, stream, pull_id| {
                contain_linked("ack", T::USES_TOKIO, move || {
                    inner.ack(stream, pull_id, ctx)
                })
            },
            linked_fail: |inner, ctx, stream, pull_id| {
                contain_linked("fail", T::USES_TOKIO, move || {
                    inner.fail(stream, pull_id, ctx)
                })
            },
            transactional: T::TRANSACTIONAL,
        }
    }
}

/// The sink side of `T`.
pub struct SinkFns<T> {
    pub(crate) on_event:
        for<'a> fn(&'a mut T, &'a ConnectorContext, PdkEvent) -> PdkResultFuture<'a, SinkReply>,
    pub(crate) upstream_finished:
        for<'a> fn(&'a mut T, &'a ConnectorContext) -> PdkResultFuture<'a, ()>,
    pub(crate) linked_on_event:
        for<'a> fn(&'a mut T, &'a ConnectorContext, Event) -> BoxFuture<'a, Result<SinkReply>>,
    pub(crate) linked_upstream_finished:
        for<'a> fn(&'a mut T, &'a ConnectorContext) -> BoxFuture<'a, Result<()>>,
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
                    |reply| reply,
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
            linked_upstream_finished: |inner, ctx| {
                contain_linked("on_upstream_finished", T::USES_TOKIO, move || {
                    inner.on_upstream_finished(ctx)
                })
            },
            linked_on_event: |inner, ctx, event| {
                contain_linked("on_event", T::USES_TOKIO, move || {
                    inner.on_event(event, ctx)
                })
            },
        }
    }
}

fn source_reply_to_ffi(reply: SourceReply) -> PdkSourceReply {
    reply.map(PdkValue::from, abi_stable::std_types::RVec::from)
}
