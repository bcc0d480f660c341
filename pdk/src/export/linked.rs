//! The one generic implementation of [`LinkedConnector`] for every connector
//! type linked into a runtime statically.

use futures::future::BoxFuture;

use super::sides::{SinkFns, SourceFns};
use super::{run_hook, ConnectorType};
use crate::abi::connector::LifecycleHook;
use crate::ambient::DropsInContext;
use crate::contain::{contain_linked, unsupported_error};
use crate::linked::{LinkedConnector, LinkedEntry};
use crate::{Attempt, ConnectorContext, Event, Result, SinkReply, SourceReply};

/// A connector instance called in-process: the author's value (dropped in
/// the ambient context), its context, and its sides.
pub(crate) struct LinkedAdapter<T> {
    pub(crate) inner: DropsInContext<T>,
    pub(crate) ctx: ConnectorContext,
    pub(crate) source: Option<SourceFns<T>>,
    pub(crate) sink: Option<SinkFns<T>>,
}

impl<T> LinkedAdapter<T> {
    fn unsupported<'a, R: Send + 'a>(&self, method: &'static str) -> BoxFuture<'a, Result<R>> {
        let error = unsupported_error(self.ctx.alias(), method);
        Box::pin(async move { Err(error) })
    }
}

impl<T: ConnectorType> LinkedConnector for LinkedAdapter<T> {
    fn connect(&mut self, attempt: Attempt) -> BoxFuture<'_, Result<bool>> {
        let Self { inner, ctx, .. } = self;
        contain_linked("connect", T::USES_TOKIO, move || async move {
            inner.connect(ctx, &attempt).await
        })
    }

    fn lifecycle(&mut self, hook: LifecycleHook) -> BoxFuture<'_, Result<()>> {
        let Self { inner, ctx, .. } = self;
        contain_linked(hook.method_name(), T::USES_TOKIO, move || {
            run_hook(&mut **inner, ctx, hook)
        })
    }

    fn pull_data(&mut self, pull_id: u64) -> BoxFuture<'_, Result<SourceReply>> {
        match self.source {
            Some(fns) => (fns.linked_pull_data)(&mut self.inner, &self.ctx, pull_id),
            None => self.unsupported("pull_data"),
        }
    }

    fn ack(&mut self, stream: u64, pull_id: u64) -> BoxFuture<'_, Result<()>> {
        match self.source {
            Some(fns) => (fns.linked_ack)(&mut self.inner, &self.ctx, stream, pull_id),
            None => self.unsupported("ack"),
        }
    }

    fn fail(&mut self, stream: u64, pull_id: u64) -> BoxFuture<'_, Result<()>> {
        match self.source {
            Some(fns) => (fns.linked_fail)(&mut self.inner, &self.ctx, stream, pull_id),
            None => self.unsupported("fail"),
        }
    }

    fn on_event(&mut self, event: Event) -> BoxFuture<'_, Result<SinkReply>> {
        match self.sink {
            Some(fns) => (fns.linked_on_event)(&mut self.inner, &self.ctx, event),
            None => self.unsupported("on_event"),
        }
    }

    fn upstream_finished(&mut self) -> BoxFuture<'_, Result<()>> {
        match self.sink {
            Some(fns) => (fns.linked_upstream_finished)(&mut self.inner, &self.ctx),
            None => self.unsupported("on_upstream_finished"),
        }
    }
}

impl LinkedEntry {
    /// The in-process entry of connector type `T` (any `#[connector]`
    /// type).
    #[must_use]
    pub fn of<T: ConnectorType>() -> Self {
        let source = T::source_fns();
        Self {
            name: T::NAME,
            package: T::PACKAGE,
            version: T::PACKAGE_VERSION,
            source: source.is_some(),
            transactional: source.is_some_and(|fns| fns.transactional),
            sink: T::sink_fns().is_some(),
            create: super::create_linked::<T>,
        }
    }
}
