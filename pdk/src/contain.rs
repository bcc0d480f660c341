//! Panic containment: every entry point the macros generate goes through
//! here, so a panicking connector becomes an error for that one call, and
//! every call runs in the plugin's ambient context (see [`crate::ambient`]).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

use abi_stable::std_types::RResult;
use async_ffi::BorrowingFfiFuture;
use pin_project_lite::pin_project;

use crate::abi::connector::PdkResultFuture;
use crate::abi::error::PdkError;
use crate::ambient;
use crate::{Error, ErrorKind, Result};

thread_local! {
    /// How many contained calls this thread is inside.
    static CONTAINED: Cell<u32> = const { Cell::new(0) };
    /// Where the last contained panic on this thread happened.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs, once per copy of `std` (each plugin has its own), a panic
/// hook that keeps quiet about panics inside a contained call: they are
/// reported once, as an error of the call, with the location the hook
/// notes here. Other panics go to the hook that was there before.
pub(crate) fn install_panic_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CONTAINED.with(Cell::get) > 0 {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                LOCATION.with(|slot| *slot.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f` as a contained call: a panic in it is left to the caller.
fn contained<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    CONTAINED.with(|depth| depth.set(depth.get() + 1));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    CONTAINED.with(|depth| depth.set(depth.get() - 1));
    outcome
}

/// The message a panic carried, if it carried text.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// The error a contained panic in `method` becomes. The payload is
/// dropped here, itself contained: a payload whose `Drop` panics is
/// forgotten, never dropped again.
pub(crate) fn panic_error(method: &str, payload: Box<dyn Any + Send>) -> Error {
    let location = LOCATION
        .with(|slot| slot.borrow_mut().take())
        .map(|at| format!(" (at {at})"))
        .unwrap_or_default();
    let error = Error::new(
        ErrorKind::Panic,
        format!(
            "panicked in `{method}`: {}{location}",
            panic_message(&*payload)
        ),
    );
    if let Err(second) = contained(move || drop(payload)) {
        std::mem::forget(second);
    }
    error
}

/// Runs a synchronous entry point; a panic becomes an error.
pub(crate) fn contain_sync<R>(method: &str, f: impl FnOnce() -> Result<R>) -> Result<R> {
    contained(f).unwrap_or_else(|payload| Err(panic_error(method, payload)))
}

pin_project! {
    /// One call of an author's async method, as the runtime sees it. The
    /// author's future is made on the first poll, so that the synchronous
    /// part of the method (before its first `.await`, or all of a method
    /// written as `fn .. -> impl Future`) runs inside the containment too;
    /// making, polling and dropping it happen in the ambient context (the
    /// plugin's tokio runtime, for a connector whose crate uses it); a
    /// panic while making or polling it becomes an [`ErrorKind::Panic`]
    /// error of the call.
    pub(crate) struct Guarded<M, F> {
        method: &'static str,
        uses_tokio: bool,
        make: Option<M>,
        #[pin]
        future: Option<F>,
    }

    impl<M, F> PinnedDrop for Guarded<M, F> {
        fn drop(this: Pin<&mut Self>) {
            let mut future = this.project().future;
            // A future whose drop panics (the author's state, a payload)
            // is given up: the panic must not cross the boundary.
            let dropped = contained(|| ambient::enter_if_started(|| future.set(None)));
            if let Err(payload) = dropped {
                std::mem::forget(payload);
                // SAFETY: the assignment above ran the old future's drop,
                // which unwound (dropping the rest of it). The slot holds
                // either `None` (an unwinding assignment still writes its
                // value) or that dropped future; overwriting it without a
                // drop leaks nothing and keeps the fields' drop glue from
                // dropping the future a second time. `None` pins nothing.
                unsafe { std::ptr::write(future.get_unchecked_mut(), None) };
            }
        }
    }
}

impl<M, F> Guarded<M, F> {
    /// The call of `method` whose future `make` makes, of a connector
    /// type that `uses_tokio` or not.
    pub(crate) fn new(method: &'static str, uses_tokio: bool, make: M) -> Self {
        Self {
            method,
            uses_tokio,
            make: Some(make),
            future: None,
        }
    }
}

impl<M, F, T> Future for Guarded<M, F>
where
    M: FnOnce() -> F,
    F: Future<Output = Result<T>>,
{
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let mut this = self.project();
        let (method, uses_tokio) = (*this.method, *this.uses_tokio);
        let polled = contained(|| {
            ambient::enter(uses_tokio, || {
                if let Some(make) = this.make.take() {
                    this.future.set(Some(make()));
                }
                let Some(future) = this.future.as_mut().as_pin_mut() else {
                    return Poll::Ready(Err(Error::msg(format!(
                        "`{method}` was polled after it completed"
                    ))));
                };
                let polled = future.poll(cx);
                if polled.is_ready() {
                    this.future.set(None);
                }
                polled
            })
        });
        polled.unwrap_or_else(|payload| Poll::Ready(Err(panic_error(method, payload))))
    }
}

/// Wraps a call of an author's method for the boundary: `make` makes its
/// future (see [`Guarded`]); the output is converted with `into_ffi`,
/// errors and panics become [`PdkError`]s.
pub(crate) fn contain<'a, M, F, T, R>(
    method: &'static str,
    uses_tokio: bool,
    make: M,
    into_ffi: fn(T) -> R,
) -> PdkResultFuture<'a, R>
where
    M: FnOnce() -> F + Send + 'a,
    F: Future<Output = Result<T>> + Send + 'a,
    T: 'a,
    R: 'a,
{
    BorrowingFfiFuture::new(ToFfi {
        call: Guarded::new(method, uses_tokio, make),
        into_ffi,
    })
}

pin_project! {
    /// A call's result in the C-ABI form: the value converted with
    /// `into_ffi`, an error as a [`PdkError`]. (A `fn` pointer rather than
    /// a closure, so that polling moves nothing: it runs on every call.)
    struct ToFfi<G, T, R> {
        #[pin]
        call: G,
        into_ffi: fn(T) -> R,
    }
}

impl<G, T, R> Future for ToFfi<G, T, R>
where
    G: Future<Output = Result<T>>,
{
    type Output = RResult<R, PdkError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.call.poll(cx).map(|outcome| match outcome {
            Ok(value) => RResult::ROk((this.into_ffi)(value)),
            Err(error) => RResult::RErr(PdkError::from(error)),
        })
    }
}

/// The error for a method that is not part of this connector.
pub(crate) fn unsupported_error(alias: &str, method: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("connector `{alias}` does not implement `{method}`"),
    )
}

/// A future that fails at once: the method is not part of this connector.
pub(crate) fn unsupported<'a, R: 'a>(alias: &str, method: &'static str) -> PdkResultFuture<'a, R> {
    let error = PdkError::from(unsupported_error(alias, method));
    BorrowingFfiFuture::new(async move { RResult::RErr(error) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_polling_becomes_an_error() {
        let future = contain("pull_data", false, || async { panic!("boom") }, |(): ()| ());
        let outcome = futures_executor::block_on(future);
        let RResult::RErr(error) = outcome else {
            panic!("a panic must become an error");
        };
        assert_eq!(ErrorKind::from(error.kind), ErrorKind::Panic);
        assert_eq!(error.message.as_str(), "panicked in `pull_data`: boom");
    }

    /// A method written as `fn .. -> impl Future` that panics before it
    /// returns its future.
    fn panics_before_its_future() -> impl Future<Output = Result<()>> {
        panic!("in the synchronous part");
        #[allow(unreachable_code)] // the future the signature promises
        async {
            Ok(())
        }
    }

    #[test]
    fn a_panic_while_making_the_future_becomes_an_error() {
        let future = contain("on_event", false, panics_before_its_future, |()| ());
        let RResult::RErr(error) = futures_executor::block_on(future) else {
            panic!("a panic must become an error");
        };
        assert_eq!(
            error.message.as_str(),
            "panicked in `on_event`: in the synchronous part"
        );
    }

    #[test]
    fn the_future_is_made_on_the_first_poll_only() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let made = AtomicUsize::new(0);
        let future = contain(
            "pull_data",
            false,
            || {
                made.fetch_add(1, Ordering::SeqCst);
                async { Ok(7) }
            },
            |n: u32| n,
        );
        assert_eq!(made.load(Ordering::SeqCst), 0, "nothing made before a poll");
        assert_eq!(futures_executor::block_on(future), RResult::ROk(7));
        assert_eq!(made.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_sync_panic_becomes_an_error() {
        let outcome: Result<()> = contain_sync("new", || panic!("{}", String::from("owned")));
        assert_eq!(outcome.unwrap_err().message(), "panicked in `new`: owned");
    }
}
