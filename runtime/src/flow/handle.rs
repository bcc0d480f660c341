//! The handle a connector's plugin object gets to its task: how a plugin
//! reports a lost connection, answers deferred events, works the circuit
//! breaker and registers metrics of its own, from any thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use abi_stable::std_types::{ROption, RResult, RVec};
use abi_stable::type_level::downcasting::TD_Opaque;
use async_channel::Sender;
use pdk::abi::connector::{PdkConnectorContext, PdkRuntimeHandle, PdkRuntimeHandle_TO};
use pdk::abi::error::PdkError;
use pdk::abi::metric::{BoxedMetric, MetricDefinition};
use pdk::abi::value::PdkValue;
use pdk::EventId;

use super::task::Control;
use crate::codec::Codec;
use crate::observe::ConnectorFamilies;

/// Which connection of a connector is the current one: a number that
/// grows with every successful `connect`, so that a "connection lost"
/// reported for an earlier connection (by a task of that connection,
/// say) is known to be stale once the connector has connected again.
#[derive(Debug, Clone, Default)]
pub struct Connection(Arc<AtomicU64>);

impl Connection {
    /// Records a successful `connect`: a new connection is current.
    pub fn connected(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    /// The current connection's number.
    #[must_use]
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// A plugin's handle to its connector's task, its codec and the metrics
/// it defines.
#[derive(Clone)]
struct RuntimeHandle {
    control: Sender<Control>,
    connection: Connection,
    codec: Codec,
    metrics: ConnectorFamilies,
}

impl RuntimeHandle {
    fn tell(&self, control: Control) {
        // Unbounded, so it never blocks the plugin; closed means the task
        // has ended and nothing is listening any more.
        let _ = self.control.try_send(control);
    }
}

impl PdkRuntimeHandle for RuntimeHandle {
    fn connection_lost(&self) {
        self.tell(Control::ConnectionLost {
            connection: self.connection.current(),
        });
    }

    fn reply(&self, id: EventId, ok: bool) {
        self.tell(Control::Reply { id, ok });
    }

    fn set_circuit(&self, open: bool) {
        self.tell(Control::Circuit { open });
    }

    fn decode(&self, data: RVec<u8>) -> RResult<PdkValue, PdkError> {
        self.codec.decode_for_plugin(data)
    }

    fn register_metric(
        &self,
        definition: &MetricDefinition<'_>,
    ) -> ROption<RResult<BoxedMetric, PdkError>> {
        ROption::RSome(
            self.metrics
                .register(definition)
                .map_err(PdkError::from)
                .into(),
        )
    }
}

/// How the flow uses one connector: what its instances' contexts say.
#[derive(Debug, Clone, Copy)]
pub struct Wiring {
    /// How raw bytes it produces become values.
    pub codec: Codec,
    /// Whether its source side is linked to any sink.
    pub source_linked: bool,
}

/// The context a new instance of connector `alias` is created with, its
/// handle sending to the task's `control` channel, its lost connections
/// stamped with the current one of `connection`, the metrics its plugin
/// defines registered into `metrics`.
pub fn context(
    alias: &str,
    control: Sender<Control>,
    connection: Connection,
    wiring: Wiring,
    metrics: ConnectorFamilies,
) -> PdkConnectorContext {
    let handle = RuntimeHandle {
        control,
        connection,
        codec: wiring.codec,
        metrics,
    };
    PdkConnectorContext {
        alias: alias.into(),
        handle: PdkRuntimeHandle_TO::from_value(handle, TD_Opaque),
        source_linked: wiring.source_linked,
        extensions: pdk::abi::Extensions::new(),
    }
}
