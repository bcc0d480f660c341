//! `isolation = "process"`: a connector run in a process of its own, from
//! the same plugin file (or the same built-in connector), so that a native
//! crash in it (a bad pointer, `abort`, `exit`, a stack overflow, running
//! out of memory) is a failure of that connector only.

mod child;
mod limits;
mod metrics;
mod outbox;
mod protocol;
mod proxy;
mod watchdog;

pub use child::{child_main, CHILD_COMMAND};
pub use limits::Limits;
pub use proxy::{create, ChildPid, Isolation};
