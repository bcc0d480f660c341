//! The handle a connector's plugin object gets to its task: how a plugin
//! reports a lost connection, answers deferred events and works the
//! circuit breaker, from any thread.

use abi_stable::type_level::downcasting::TD_Opaque;
use async_channel::Sender;
use pdk::abi::connector::{FfiConnectorContext, RawRuntimeHandle, RawRuntimeHandle_TO};
use pdk::EventId;

use super::task::Control;

/// A plugin's handle to its connector's task.
#[derive(Clone)]
struct RuntimeHandle(Sender<Control>);

impl RuntimeHandle {
    fn tell(&self, control: Control) {
        // Unbounded, so it never blocks the plugin; closed means the task
        // has ended and nothing is listening any more.
        let _ = self.0.try_send(control);
    }
}

impl RawRuntimeHandle for RuntimeHandle {
    fn connection_lost(&self) {
        self.tell(Control::ConnectionLost);
    }

    fn reply(&self, id: EventId, ok: bool) {
        self.tell(Control::Reply { id, ok });
    }

    fn set_circuit(&self, open: bool) {
        self.tell(Control::Circuit { open });
    }
}

/// The context a new instance of connector `alias` is created with, its
/// handle sending to the task's `control` channel.
pub fn context(alias: &str, control: Sender<Control>) -> FfiConnectorContext {
    FfiConnectorContext {
        alias: alias.into(),
        handle: RawRuntimeHandle_TO::from_value(RuntimeHandle(control), TD_Opaque),
    }
}
