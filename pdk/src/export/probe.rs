//! Finding out, at compile time, which sides a connector type has.

use std::marker::PhantomData;

use super::sides::{SinkFns, SourceFns};
use super::ConnectorType;
use crate::{Sink, Source};

/// Finds out at compile time whether `T` implements [`Source`] / [`Sink`]
/// ("autoref specialization": the impl on `Probe<T>` is preferred when its
/// bound holds; otherwise method lookup falls back to the impl on
/// `&Probe<T>`). Only works on concrete types, which is how the
/// `#[connector]` expansion uses it.
pub struct Probe<T>(PhantomData<T>);

impl<T> Probe<T> {
    /// A probe for `T`.
    #[must_use]
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for Probe<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Chosen when `T: Source`.
pub trait HasSource<T> {
    /// `T`'s source side.
    fn source_fns(&self) -> Option<SourceFns<T>>;
}

impl<T: Source + ConnectorType> HasSource<T> for Probe<T> {
    fn source_fns(&self) -> Option<SourceFns<T>> {
        Some(SourceFns::new())
    }
}

/// Chosen when `T` does not implement [`Source`].
pub trait NoSource<T> {
    /// No source side.
    fn source_fns(&self) -> Option<SourceFns<T>> {
        None
    }
}

impl<T> NoSource<T> for &Probe<T> {}

/// Chosen when `T: Sink`.
pub trait HasSink<T> {
    /// `T`'s sink side.
    fn sink_fns(&self) -> Option<SinkFns<T>>;
}

impl<T: Sink + ConnectorType> HasSink<T> for Probe<T> {
    fn sink_fns(&self) -> Option<SinkFns<T>> {
        Some(SinkFns::new())
    }
}

/// Chosen when `T` does not implement [`Sink`].
pub trait NoSink<T> {
    /// No sink side.
    fn sink_fns(&self) -> Option<SinkFns<T>> {
        None
    }
}

impl<T> NoSink<T> for &Probe<T> {}
