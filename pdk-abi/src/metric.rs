//! Metrics a connector defines (interface 0.3.1): it registers them
//! through its runtime handle, and the runtime shows them with the
//! connector's labels.
//!
//! A registered metric is a handle into the runtime's memory: counting is
//! one call through its vtable and an atomic add, cheap enough per event.

// The `#[sabi_trait]` expansion (abi_stable 0.11.3, pinned) nests impls in
// a const and contains items that clippy flags; neither is ours to change.
#![allow(
    non_local_definitions,
    clippy::ptr_as_ptr,
    clippy::used_underscore_items
)]

use abi_stable::sabi_trait;
use abi_stable::std_types::{RBox, RSlice, RStr};
use abi_stable::StableAbi;

use crate::Extensions;

/// What kind of metric a connector registers, as a code. Open: a runtime
/// answers a code it does not know with an error naming it.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, StableAbi)]
pub struct MetricKind(pub u8);

impl MetricKind {
    /// A count that only goes up ([`PdkMetric::increment`]).
    pub const COUNTER: Self = Self(1);
    /// A value that goes up and down ([`PdkMetric::set`],
    /// [`PdkMetric::add`]).
    pub const GAUGE: Self = Self(2);
    /// A distribution of observed values in buckets
    /// ([`PdkMetric::observe`]).
    pub const HISTOGRAM: Self = Self(3);
}

/// A metric a connector asks the runtime to keep.
#[repr(C)]
#[derive(Debug, StableAbi)]
pub struct MetricDefinition<'a> {
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// Its name, without the runtime's prefix (`rows_inserted`).
    pub name: RStr<'a>,
    /// What it counts, for people.
    pub help: RStr<'a>,
    /// A histogram's bucket upper bounds, increasing; empty for the other
    /// kinds.
    pub buckets: RSlice<'a, f64>,
    /// What later interface versions add.
    pub extensions: Extensions,
}

/// A metric the runtime keeps for a connector. Each method is meant for
/// one kind; a metric of another kind ignores it.
#[sabi_trait]
pub trait PdkMetric: Clone + Send + Sync {
    /// A counter counts `by` more.
    fn increment(&self, by: u64);

    /// A gauge takes the value `value`.
    fn set(&self, value: f64);

    /// A gauge changes by `delta`.
    fn add(&self, delta: f64);

    /// A histogram observes `value`.
    #[sabi(last_prefix_field)]
    fn observe(&self, value: f64);
}

/// A registered metric behind the boundary.
pub type BoxedMetric = PdkMetric_TO<'static, RBox<()>>;
