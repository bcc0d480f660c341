//! Services the runtime lends to every plugin: timers, task spawning and
//! logging, so that a plugin never runs an executor or a logger of its own.

use abi_stable::std_types::{ROption, RResult, RStr};
use abi_stable::StableAbi;
use async_ffi::FfiFuture;

use crate::error::PdkError;

/// The level of a log record, as a code. Open: the runtime reads a code
/// it does not know as [`LogLevel::INFO`].
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, StableAbi)]
pub struct LogLevel(pub u8);

impl LogLevel {
    /// `error`
    pub const ERROR: Self = Self(1);
    /// `warn`
    pub const WARN: Self = Self(2);
    /// `info`
    pub const INFO: Self = Self(3);
    /// `debug`
    pub const DEBUG: Self = Self(4);
    /// `trace`
    pub const TRACE: Self = Self(5);
}

impl From<log::Level> for LogLevel {
    fn from(level: log::Level) -> Self {
        match level {
            log::Level::Error => Self::ERROR,
            log::Level::Warn => Self::WARN,
            log::Level::Info => Self::INFO,
            log::Level::Debug => Self::DEBUG,
            log::Level::Trace => Self::TRACE,
        }
    }
}

impl From<LogLevel> for log::Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::ERROR => Self::Error,
            LogLevel::WARN => Self::Warn,
            LogLevel::DEBUG => Self::Debug,
            LogLevel::TRACE => Self::Trace,
            _ => Self::Info,
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
