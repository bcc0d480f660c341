//! The C-ABI form of [`crate::Error`].

use abi_stable::std_types::RString;
use abi_stable::StableAbi;

use crate::{Error, ErrorKind};

/// An [`Error`] as it crosses the boundary.
#[repr(C)]
#[derive(Debug, Clone, PartialEq, Eq, StableAbi)]
pub struct PdkError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The message for people.
    pub message: RString,
}

impl From<Error> for PdkError {
    fn from(e: Error) -> Self {
        Self {
            kind: e.kind(),
            message: RString::from(e.message()),
        }
    }
}

impl From<PdkError> for Error {
    fn from(e: PdkError) -> Self {
        Error::new(e.kind, e.message)
    }
}
