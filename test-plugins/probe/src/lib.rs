//! `probe_source` and `probe_sink`: connectors that use every capability of
//! the connector model and append one line per call to a trace file, so
//! that the runtime's integration tests can see what the runtime did.
//! Each can be told to panic in one method, once.

mod crash;
mod sink;
mod source;
mod trace;

pub use sink::ProbeSink;
pub use source::ProbeSource;

#[pdk::pdk_export]
mod plugin {
    pub use super::{ProbeSink, ProbeSource};
}
