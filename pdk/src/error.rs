//! The error type of every fallible connector method.

use std::fmt;

/// What kind of failure an [`Error`] reports; the runtime acts on it
/// (a config error stops the flow before it starts, a panic or connection
/// error makes the runtime reconnect the connector).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, abi_stable::StableAbi)]
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

/// A connector failure: a [`kind`](ErrorKind) and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// The result type of every fallible connector method.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl fmt::Display) -> Self {
        Self {
            kind,
            message: message.to_string(),
        }
    }

    /// An [`ErrorKind::Other`] error with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Other, message)
    }

    /// An [`ErrorKind::Config`] error with this message.
    pub fn config(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// An [`ErrorKind::ConnectionLost`] error with this message.
    pub fn connection_lost(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::ConnectionLost, message)
    }

    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::msg(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::msg(e)
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self::msg(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self::msg(message)
    }
}
