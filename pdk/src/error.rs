//! The error type of every fallible connector method.

use std::fmt;

use abi_stable::std_types::RString;

use crate::abi::error::{PdkError, PdkErrorKind};

/// What kind of failure an [`Error`] reports; the runtime acts on it (see
/// the book's connector model: which failures are retried).
///
/// # Examples
///
/// ```
/// use pdk::{Error, ErrorKind};
///
/// // Retried by the runtime (it reconnects), and not:
/// assert_eq!(Error::connection_lost("the broker went away").kind(), ErrorKind::ConnectionLost);
/// assert_eq!(Error::config("`port` must not be 0").kind(), ErrorKind::Config);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The connector's configuration is wrong (or what it names: a port in
    /// use): the runtime does not retry it.
    Config,
    /// The connector lost its connection to the outside world.
    ConnectionLost,
    /// A connector method panicked; the panic was contained.
    Panic,
    /// The runtime called a method the connector does not support (for
    /// example `pull_data` on a sink-only connector).
    Unsupported,
    /// Any other failure.
    Other,
}

impl From<ErrorKind> for PdkErrorKind {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Config => Self::CONFIG,
            ErrorKind::ConnectionLost => Self::CONNECTION_LOST,
            ErrorKind::Panic => Self::PANIC,
            ErrorKind::Unsupported => Self::UNSUPPORTED,
            ErrorKind::Other => Self::OTHER,
        }
    }
}

impl From<PdkErrorKind> for ErrorKind {
    /// A code this SDK does not know (from a newer side) is `Other`.
    fn from(kind: PdkErrorKind) -> Self {
        match kind {
            PdkErrorKind::CONFIG => Self::Config,
            PdkErrorKind::CONNECTION_LOST => Self::ConnectionLost,
            PdkErrorKind::PANIC => Self::Panic,
            PdkErrorKind::UNSUPPORTED => Self::Unsupported,
            _ => Self::Other,
        }
    }
}

/// A connector failure: a [`kind`](ErrorKind) and a message for people.
///
/// Like `anyhow::Error`, it converts from any `std::error::Error` (so `?`
/// works on the errors of every crate, and the message keeps the chain of
/// causes), and for that reason does not implement `std::error::Error`
/// itself. [`Context`] adds what was being done.
///
/// # Examples
///
/// ```
/// use pdk::prelude::*;
/// use pdk::ErrorKind;
///
/// fn port(text: &str) -> Result<u16> {
///     text.parse::<u16>().context("reading `port`")
/// }
///
/// assert_eq!(port("8080"), Ok(8080));
/// let error = port("http").unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::Other);
/// assert_eq!(error.message(), "reading `port`: invalid digit found in string");
///
/// let lost = Error::connection_lost("the server closed the connection");
/// assert_eq!(lost.to_string(), "the server closed the connection");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// The result type of every fallible connector method.
///
/// # Examples
///
/// ```
/// fn half(n: u64) -> pdk::Result<u64> {
///     if n % 2 == 1 {
///         return Err(pdk::Error::msg(format!("{n} is odd")));
///     }
///     Ok(n / 2)
/// }
/// assert_eq!(half(4), Ok(2));
/// ```
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

    /// The error for a server that cannot listen on `address`: a
    /// [`ErrorKind::Config`] error, which the runtime does not retry, when
    /// only another address mends it (a fixed port already in use, a port
    /// this process may not use, an address not on this machine), and an
    /// [`ErrorKind::ConnectionLost`] one, retried with backoff, otherwise.
    /// The message names the address and the fix.
    #[must_use]
    pub fn cannot_listen(address: std::net::SocketAddr, error: &std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let port = address.port();
        match error.kind() {
            Io::AddrInUse if port != 0 => Self::config(format!(
                "cannot listen on {address}: port {port} is already in use; fix: stop the \
                 program that uses it, or choose another port in `url`"
            )),
            Io::PermissionDenied => Self::config(format!(
                "cannot listen on {address}: permission denied (ports below 1024 need \
                 privileges); fix: choose a port from 1024 up in `url`, or give the runtime \
                 the CAP_NET_BIND_SERVICE capability"
            )),
            Io::AddrNotAvailable => Self::config(format!(
                "cannot listen on {address}: the address is not one of this machine's; fix: \
                 use one of its addresses (or 0.0.0.0 for all of them) in `url`"
            )),
            _ => Self::connection_lost(format!("cannot listen on {address}: {error}")),
        }
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

impl From<Error> for PdkError {
    fn from(e: Error) -> Self {
        Self::new(e.kind.into(), RString::from(e.message))
    }
}

impl Error {
    /// The error a [`PdkError`] carries across the boundary. (Not a `From`
    /// impl: that would overlap the conversion from every
    /// `std::error::Error`, which a foreign type may implement one day.)
    #[must_use]
    pub fn from_ffi(error: PdkError) -> Self {
        Error::new(error.kind.into(), error.message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Any error of any crate, as an [`ErrorKind::Other`] error whose message
/// is the error's and its causes', joined with `: `.
impl<E: std::error::Error + Send + Sync + 'static> From<E> for Error {
    fn from(error: E) -> Self {
        let mut message = error.to_string();
        let mut next = error.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            // Many errors repeat their cause in their own message.
            if !message.ends_with(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            next = cause.source();
        }
        Self::msg(message)
    }
}

/// Adds what was being done to an error, anyhow-style:
/// `std::fs::read(path).context("reading the records")?` fails with
/// "reading the records: No such file or directory (os error 2)". The
/// prelude brings it into scope.
///
/// # Examples
///
/// ```
/// use pdk::prelude::*;
///
/// fn first_line(path: &str) -> Result<String> {
///     let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
///     let line = text.lines().next().context("the file is empty")?;
///     Ok(line.to_owned())
/// }
///
/// let error = first_line("/no/such/file").unwrap_err();
/// assert!(error.message().starts_with("reading /no/such/file: "), "{error}");
/// ```
pub trait Context<T> {
    /// The error, prefixed with `context`; its kind is kept.
    ///
    /// # Errors
    /// When `self` is an error (or `None`).
    fn context(self, context: impl fmt::Display) -> Result<T>;

    /// [`Context::context`], with the context computed only on error.
    ///
    /// # Errors
    /// When `self` is an error (or `None`).
    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|error| prefixed(error.into(), &context))
    }

    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|error| prefixed(error.into(), &context()))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.ok_or_else(|| Error::msg(context))
    }

    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::msg(context()))
    }
}

fn prefixed(error: Error, context: &dyn fmt::Display) -> Error {
    Error::new(error.kind, format!("{context}: {}", error.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error with a cause, as most client libraries return them.
    #[derive(Debug, thiserror::Error)]
    #[error("request to `http://example` failed")]
    struct Request(#[source] std::io::Error);

    fn refused() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused")
    }

    #[test]
    fn any_std_error_converts_with_its_causes() {
        let error = Error::from(Request(refused()));
        assert_eq!(error.kind(), ErrorKind::Other);
        assert_eq!(
            error.message(),
            "request to `http://example` failed: connection refused"
        );
    }

    #[test]
    fn question_mark_works_on_foreign_errors() {
        fn parse(text: &str) -> Result<u16> {
            Ok(text.parse::<u16>()?)
        }
        assert_eq!(parse("80"), Ok(80));
        assert_eq!(
            parse("eighty").unwrap_err().message(),
            "invalid digit found in string"
        );
    }

    #[test]
    fn context_prefixes_the_message_and_keeps_the_kind() {
        let io: std::result::Result<(), _> = Err(refused());
        assert_eq!(
            io.context("connecting to the database")
                .unwrap_err()
                .message(),
            "connecting to the database: connection refused"
        );
        let lost: Result<()> = Err(Error::connection_lost("socket closed"));
        let error = lost
            .with_context(|| format!("writing to `{}`", "db"))
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionLost);
        assert_eq!(error.message(), "writing to `db`: socket closed");
        assert_eq!(
            None::<u8>
                .context("no `host` in the event")
                .unwrap_err()
                .message(),
            "no `host` in the event"
        );
    }
}
