//! Advice for errors whose own message does not say what to do: panics of
//! the async ecosystem that reach the runtime from a connector.

use pdk::Error;

/// A text that marks a known problem, and what to do about it.
const HINTS: &[(&str, &str)] = &[
    (
        "must be called from the context of a Tokio 1.x runtime",
        "the plugin uses tokio without the `tokio` feature of `pdk`: add \
         `features = [\"tokio\"]` to its `pdk` dependency and rebuild it (see the book's \
         chapter \"Network I/O and the async ecosystem\")",
    ),
    (
        "Cannot start a runtime from within a runtime",
        "a connector method blocks on a tokio runtime (`block_on`): `.await` the future \
         instead, or run the blocking code with `pdk::task::spawn_blocking`",
    ),
];

/// `error`, with advice appended when its message shows a known problem.
#[must_use]
pub fn explain(error: Error) -> Error {
    match HINTS
        .iter()
        .find(|(marker, _)| error.message().contains(marker))
    {
        Some((_, hint)) => Error::new(error.kind(), format!("{}; {hint}", error.message())),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pdk::ErrorKind;

    #[test]
    fn a_missing_tokio_context_gets_the_fix() {
        let error = Error::new(
            ErrorKind::Panic,
            "panicked in `connect`: there is no reactor running, must be called from the \
             context of a Tokio 1.x runtime",
        );
        let explained = explain(error);
        assert_eq!(explained.kind(), ErrorKind::Panic);
        assert!(explained
            .message()
            .ends_with("add `features = [\"tokio\"]` to its `pdk` dependency and rebuild it (see the book's chapter \"Network I/O and the async ecosystem\")"));
    }

    #[test]
    fn other_errors_are_left_as_they_are() {
        let error = Error::msg("connection refused");
        assert_eq!(explain(error.clone()), error);
    }
}
