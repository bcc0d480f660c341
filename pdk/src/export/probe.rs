//! Finding out, at compile time, which sides a connector type has.

use std::marker::PhantomData;

use super::adapter::{SinkFns, SourceFns};
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

    /// Says, in its type, that `T` has a source side (see
    /// [`side_present`]).
    fn source_side(&self) -> Present {
        Present
    }
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

    /// Says, in its type, that `T` has no source side.
    fn source_side(&self) -> Absent {
        Absent
    }
}

impl<T> NoSource<T> for &Probe<T> {}

/// Chosen when `T: Sink`.
pub trait HasSink<T> {
    /// `T`'s sink side.
    fn sink_fns(&self) -> Option<SinkFns<T>>;

    /// Says, in its type, that `T` has a sink side.
    fn sink_side(&self) -> Present {
        Present
    }
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

    /// Says, in its type, that `T` has no sink side.
    fn sink_side(&self) -> Absent {
        Absent
    }
}

impl<T> NoSink<T> for &Probe<T> {}

/// The answer of a probe, as a type, so that a constant can read it.
pub trait Side {
    /// Whether the side exists.
    const PRESENT: bool;
}

/// The probed side exists.
pub struct Present;

/// The probed side does not exist.
pub struct Absent;

impl Side for Present {
    const PRESENT: bool = true;
}

impl Side for Absent {
    const PRESENT: bool = false;
}

/// Whether the probe `probe` (never called: only its return type counts)
/// found a side; usable in a constant, where `#[connector]` checks that a
/// type has at least one side.
pub const fn side_present<S: Side, F: FnOnce() -> S>(probe: F) -> bool {
    std::mem::forget(probe);
    S::PRESENT
}

/// Whether connector types `A` and `B` have the same name; usable in a
/// constant, where `#[pdk_export]` checks every pair it exports.
#[must_use]
pub const fn same_name<A: ConnectorType, B: ConnectorType>() -> bool {
    let (a, b) = (A::NAME.as_bytes(), B::NAME.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
