//! Panic containment: every entry point the macros generate goes through
//! here, so a panicking connector becomes an error for that one call.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::std_types::RResult;
use async_ffi::BorrowingFfiFuture;
use futures::future::BoxFuture;
use futures::FutureExt as _;

use crate::abi::connector::FfiResultFuture;
use crate::abi::error::PdkError;
use crate::{Error, ErrorKind, Result};

/// The message a panic carried, if it carried text.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// The error a contained panic in `method` becomes.
pub(crate) fn panic_error(method: &str, payload: &(dyn Any + Send)) -> Error {
    Error::new(
        ErrorKind::Panic,
        format!("panicked in `{method}`: {}", panic_message(payload)),
    )
}

/// Runs a synchronous entry point; a panic becomes an error.
pub(crate) fn contain_sync<R>(method: &str, f: impl FnOnce() -> Result<R>) -> Result<R> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| Err(panic_error(method, &*payload)))
}

/// Wraps an author's future for the boundary: converts its output with
/// `into_ffi`, turns errors into [`PdkError`]s and panics (while creating or
/// polling it) into [`ErrorKind::Panic`] errors.
pub(crate) fn contain<'a, T: 'a, R>(
    method: &'static str,
    future: impl Future<Output = Result<T>> + Send + 'a,
    into_ffi: fn(T) -> R,
) -> FfiResultFuture<'a, R>
where
    R: 'a,
{
    BorrowingFfiFuture::new(AssertUnwindSafe(future).catch_unwind().map(
        move |outcome| match outcome {
            Ok(Ok(value)) => RResult::ROk(into_ffi(value)),
            Ok(Err(error)) => RResult::RErr(PdkError::from(error)),
            Err(payload) => RResult::RErr(PdkError::from(panic_error(method, &*payload))),
        },
    ))
}

/// Wraps an author's future for an in-process call: a panic while creating
/// or polling it becomes an [`ErrorKind::Panic`] error.
pub(crate) fn contain_native<'a, T: 'a>(
    method: &'static str,
    future: impl Future<Output = Result<T>> + Send + 'a,
) -> BoxFuture<'a, Result<T>> {
    Box::pin(
        AssertUnwindSafe(future).catch_unwind().map(move |outcome| {
            outcome.unwrap_or_else(|payload| Err(panic_error(method, &*payload)))
        }),
    )
}

/// The error for a method that is not part of this connector.
pub(crate) fn unsupported_error(alias: &str, method: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("connector `{alias}` does not implement `{method}`"),
    )
}

/// A future that fails at once: the method is not part of this connector.
pub(crate) fn unsupported<'a, R: 'a>(alias: &str, method: &'static str) -> FfiResultFuture<'a, R> {
    let error = PdkError::from(unsupported_error(alias, method));
    BorrowingFfiFuture::new(async move { RResult::RErr(error) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_polling_becomes_an_error() {
        let future = contain("pull_data", async { panic!("boom") }, |(): ()| ());
        let outcome = futures::executor::block_on(future);
        let RResult::RErr(error) = outcome else {
            panic!("a panic must become an error");
        };
        assert_eq!(error.kind, ErrorKind::Panic);
        assert_eq!(error.message.as_str(), "panicked in `pull_data`: boom");
    }

    #[test]
    fn a_sync_panic_becomes_an_error() {
        let outcome: Result<()> = contain_sync("new", || panic!("{}", String::from("owned")));
        assert_eq!(outcome.unwrap_err().message(), "panicked in `new`: owned");
    }
}
