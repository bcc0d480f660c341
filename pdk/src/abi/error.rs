//! The C-ABI form of `pdk::Error`, and its kind.

use abi_stable::std_types::RString;
use abi_stable::StableAbi;

/// What kind of failure a `pdk::Error` reports; the runtime acts on it
/// (a config error stops the flow before it starts, a panic or connection
/// error makes the runtime reconnect the connector).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, StableAbi)]
pub enum ErrorKind {
    /// The connector's configuration was rejected.
    Config,
    /// The connector lost its connection to the outside world.
    ConnectionLost,
    /// A connector method panicked; the panic was contained.
    Panic,
    /// The runtime called a method the connector does not support
    /// (for example `pull_data` on a sink-only connector).
    Unsupported,
    /// Any other failure.
    Other,
}

/// An `Error` as it crosses the boundary.
#[repr(C)]
#[derive(Debug, Clone, PartialEq, Eq, StableAbi)]
pub struct PdkError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The message for people.
    pub message: RString,
}
