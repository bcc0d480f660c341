//! Flow files: what they may contain, how they are checked, how they run.

mod deferred;
mod error;
mod handle;
mod hints;
mod in_flight;
mod instance;
mod pipelines;
mod restart;
mod run;
mod spec;
pub(crate) mod task;
mod throttle;
mod variables;
mod watch;
pub(crate) mod watchdog;

pub use error::FlowError;
pub use restart::RestartPolicy;
pub use run::{run, RunError};
pub use spec::{Flow, Node};
pub use watch::Watch;
