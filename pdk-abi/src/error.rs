//! The C-ABI form of `pdk::Error`, and its kind.

use abi_stable::std_types::RString;
use abi_stable::StableAbi;

use crate::Extensions;

/// What kind of failure a `pdk::Error` reports, as a code; the runtime
/// acts on it (a config error is not retried, a panic counts against the
/// budget each time). Open: a side reads a code it does not know as
/// [`PdkErrorKind::OTHER`].
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, StableAbi)]
pub struct PdkErrorKind(pub u8);

impl PdkErrorKind {
    /// The connector's configuration was rejected.
    pub const CONFIG: Self = Self(0);
    /// The connector lost its connection to the outside world.
    pub const CONNECTION_LOST: Self = Self(1);
    /// A connector method panicked; the panic was contained.
    pub const PANIC: Self = Self(2);
    /// The runtime called a method the connector does not support.
    pub const UNSUPPORTED: Self = Self(3);
    /// Any other failure, and any code this side does not know.
    pub const OTHER: Self = Self(4);
}

/// An `Error` as it crosses the boundary.
#[repr(C)]
#[derive(Debug, Clone, PartialEq, StableAbi)]
pub struct PdkError {
    /// What kind of failure.
    pub kind: PdkErrorKind,
    /// The message for people.
    pub message: RString,
    /// What later interface versions add.
    pub extensions: Extensions,
}

impl PdkError {
    /// An error of `kind` with `message`, and no extensions.
    #[must_use]
    pub fn new(kind: PdkErrorKind, message: impl Into<RString>) -> Self {
        Self {
            kind,
            message: message.into(),
            extensions: Extensions::new(),
        }
    }
}
