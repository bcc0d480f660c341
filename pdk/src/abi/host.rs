//! Services the runtime lends to every plugin: timers, task spawning and
//! logging, so that a plugin never runs an executor or a logger of its own.

use abi_stable::std_types::{ROption, RResult, RStr};
use abi_stable::StableAbi;
use async_ffi::FfiFuture;

use crate::abi::error::PdkError;

/// The level of a log record, as it crosses the boundary.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, StableAbi)]
pub enum LogLevel {
    /// `log::Level::Error`
    Error = 1,
    /// `log::Level::Warn`
    Warn,
    /// `log::Level::Info`
    Info,
    /// `log::Level::Debug`
    Debug,
    /// `log::Level::Trace`
    Trace,
}

impl From<log::Level> for LogLevel {
    fn from(level: log::Level) -> Self {
        match level {
            log::Level::Error => Self::Error,
            log::Level::Warn => Self::Warn,
            log::Level::Info => Self::Info,
            log::Level::Debug => Self::Debug,
            log::Level::Trace => Self::Trace,
        }
    }
}

impl From<LogLevel> for log::Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => Self::Error,
            LogLevel::Warn => Self::Warn,
            LogLevel::Info => Self::Info,
            LogLevel::Debug => Self::Debug,
            LogLevel::Trace => Self::Trace,
        }
    }
}

/// One log record emitted by a plugin.
#[repr(C)]
#[derive(Debug, StableAbi)]
pub struct LogRecord<'a> {
    /// How important it is.
    pub level: LogLevel,
    /// The `log` target (by default the plugin's module path).
    pub target: RStr<'a>,
    /// The formatted message.
    pub message: RStr<'a>,
}

/// The table of host services installed into each plugin after loading.
///
/// A prefix type: a plugin reads it through [`HostServicesRef`], and a
/// service added after the field marked `last_prefix_field` is read as an
/// `Option`, so that plugins built before it keep loading and plugins
/// built after it learn whether their runtime offers it.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = HostServicesRef)))]
pub struct HostServices {
    /// A future that completes after this many nanoseconds, on the
    /// runtime's timer.
    pub sleep: extern "C" fn(nanos: u64) -> FfiFuture<()>,
    /// Runs a task on the runtime's executor, as part of the connector
    /// whose code spawned it: a task that ends with an error (a contained
    /// panic) is a failure of that connector.
    pub spawn: extern "C" fn(task: FfiFuture<RResult<(), PdkError>>),
    /// Emits a log record through the runtime's logger.
    pub log: extern "C" fn(record: &LogRecord<'_>),
    /// The most verbose level the runtime's logger keeps; records above it
    /// are not even formatted.
    pub max_level: ROption<LogLevel>,
    /// Runs a job that may block on a thread of the runtime's blocking
    /// pool: the job is a future that completes on its first poll.
    #[sabi(last_prefix_field)]
    pub spawn_blocking: extern "C" fn(job: FfiFuture<()>),
}
