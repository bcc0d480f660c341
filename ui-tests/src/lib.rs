//! The trybuild suite of the PDK macros lives in `tests/ui.rs`, with the
//! accepted forms in `pass/` and the rejected ones, each with the expected
//! compiler output, in `fail/`.
