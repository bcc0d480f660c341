//! Flow files: what they may contain, how they are checked, how they run.

mod check;
mod deferred;
mod error;
mod handle;
mod hints;
mod in_flight;
mod instance;
mod pipelines;
mod restart;
mod restartable;
mod run;
mod spec;
mod steering;
pub(crate) mod task;
mod throttle;
mod variables;
mod watch;
pub(crate) mod watchdog;

pub use error::{FlowError, FlowErrors};
pub(crate) use instance::Instance;
pub use restart::RestartPolicy;
pub use run::{flow_name, run, start, RunError};
pub use spec::{Flow, Node};
pub use steering::{SteerError, Steering};
pub use watch::Watch;
