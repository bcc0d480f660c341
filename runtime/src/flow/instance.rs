//! A connector instance as the runtime drives it: the C-ABI object that a
//! plugin hands over, or that a built-in connector creates in-process (see
//! [`pdk::linked`]). One type and one path for both: a call into a
//! connector is a call on its [`BoxedPdkConnector`], its result taken with
//! [`from_ffi`].

use abi_stable::std_types::{RResult, RStr};
use pdk::abi::allocator::take_vec;
use pdk::abi::connector::{BoxedPdkConnector, PdkConnectorContext, PdkSourceReply};
use pdk::abi::error::PdkError;
use pdk::abi::value::PdkValue;
use pdk::{Error, SourceReplyOf, Value};

use super::hints;
use crate::isolation::{self, Isolation};
use crate::registry::Provider;

/// What a source produced: its payloads in the C-ABI form every sink
/// reads, its raw bytes as the codec takes them.
pub type Pulled = SourceReplyOf<PdkValue, Vec<u8>>;

/// A source's reply, in the runtime's form.
#[must_use]
pub fn pulled(reply: PdkSourceReply) -> Pulled {
    reply.map(|data| data, take_vec)
}

/// A connector's result, its error explained (see [`hints`]).
///
/// # Errors
/// The connector's error.
pub fn from_ffi<T>(result: RResult<T, PdkError>) -> Result<T, Error> {
    result
        .into_result()
        .map_err(|e| hints::explain(Error::from_ffi(e)))
}

/// One connector instance.
pub struct Instance(BoxedPdkConnector);

impl Instance {
    /// Creates a connector of type `kind` from `provider`, in this process
    /// or, with `isolation`, in one of its own; the error is the
    /// connector's (a rejected config, a panic in `new`).
    ///
    /// # Errors
    /// The connector's error.
    pub fn create(
        provider: Provider<'_>,
        kind: &str,
        ctx: PdkConnectorContext,
        config: &Value,
        isolation: Option<&Isolation>,
    ) -> Result<Self, Error> {
        if let Some(isolation) = isolation {
            return isolation::create(isolation, kind, ctx, config).map(Self);
        }
        let config = PdkValue::from(config.clone());
        let created = match provider {
            Provider::Plugin(plugin) => {
                (plugin.module.create_connector())(RStr::from_str(kind), ctx, config)
            }
            Provider::BuiltIn(entry) => (entry.create)(ctx, config),
        };
        from_ffi(created).map(Self)
    }

    /// The connector, for one call.
    pub fn raw(&mut self) -> &mut BoxedPdkConnector {
        &mut self.0
    }
}
