//! The one generic implementation of [`PdkConnector`] for every connector
//! a plugin exports.

use super::sides::{SinkFns, SourceFns};
use super::{run_hook, ConnectorType};
use crate::abi::connector::{
    LifecycleHook, PdkConnector, PdkEvent, PdkResultFuture, PdkSourceReply,
};
use crate::ambient::DropsInContext;
use crate::connector::{Attempt, SinkReply};
use crate::contain::{contain, unsupported};
use crate::ConnectorContext;

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

    fn on_event(&mut self, event: PdkEvent) -> PdkResultFuture<'_, SinkReply> {
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
