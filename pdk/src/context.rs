//! What a connector gets from the runtime with every call.

use crate::abi::connector::{BoxedRawNotifier, FfiConnectorContext};

/// The connector's view of the runtime: its id in the flow, and a way to
/// report a lost connection.
pub struct ConnectorContext {
    alias: String,
    notifier: ConnectionLostNotifier,
}

impl ConnectorContext {
    /// The context the runtime handed over at creation.
    pub(crate) fn from_ffi(ctx: FfiConnectorContext) -> Self {
        Self {
            alias: ctx.alias.into_string(),
            notifier: ConnectionLostNotifier(ctx.notifier),
        }
    }

    /// The connector's id in the flow file (`id = "..."`).
    #[must_use]
    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// A handle that reports "connection lost" to the runtime; clone it
    /// into background tasks that watch the connection.
    #[must_use]
    pub fn notifier(&self) -> ConnectionLostNotifier {
        self.notifier.clone()
    }
}

/// Tells the runtime that the connector lost its connection; the runtime
/// then reconnects it (calling [`crate::Connector::connect`] again).
#[derive(Clone)]
pub struct ConnectionLostNotifier(BoxedRawNotifier);

impl ConnectionLostNotifier {
    /// Reports the lost connection. Cheap; may be called from any task.
    pub fn connection_lost(&self) {
        self.0.connection_lost();
    }
}
