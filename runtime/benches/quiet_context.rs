//! The context of a connector measured alone: its runtime handle ignores
//! what it is told. Shared by the boundary benchmark and
//! `examples/boundary_calls`.

use abi_stable::std_types::{RResult, RVec};
use abi_stable::type_level::downcasting::TD_Opaque;
use pdk::abi::connector::{PdkConnectorContext, PdkRuntimeHandle, PdkRuntimeHandle_TO};
use pdk::abi::error::PdkError;
use pdk::abi::value::PdkValue;
use pdk::Value;

/// A runtime handle that ignores what it is told.
#[derive(Clone)]
struct Ignore;

impl PdkRuntimeHandle for Ignore {
    fn connection_lost(&self) {}
    fn reply(&self, _id: pdk::EventId, _ok: bool) {}
    fn set_circuit(&self, _open: bool) {}
    fn decode(&self, _data: RVec<u8>) -> RResult<PdkValue, PdkError> {
        RResult::ROk(PdkValue::from(Value::NULL))
    }
}

/// A context whose handle ignores what it is told.
pub fn context() -> PdkConnectorContext {
    PdkConnectorContext {
        alias: "bench".into(),
        handle: PdkRuntimeHandle_TO::from_value(Ignore, TD_Opaque),
        source_linked: false,
        extensions: pdk::abi::Extensions::new(),
    }
}
