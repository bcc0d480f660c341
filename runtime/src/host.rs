//! The host services the runtime lends to every plugin it loads: the
//! executor's timer and task spawner, and the runtime's logger.

use std::time::Duration;

use async_ffi::{FfiFuture, FutureExt};
use pdk::abi::host::{HostServices, LogLevel, LogRecord};

use crate::executor;
use crate::logging::{self, Tag};

extern "C" fn sleep(nanos: u64) -> FfiFuture<()> {
    executor::sleep(Duration::from_nanos(nanos)).into_ffi()
}

extern "C" fn spawn(task: FfiFuture<()>) {
    // Detached: the task runs until it completes, its records tagged like
    // those of the connector that spawned it.
    let handle = match Tag::current() {
        Some(tag) => executor::spawn(async move { logging::tagged(&tag, task).await }),
        None => executor::spawn(task),
    };
    drop(handle);
}

/// Records reach the runtime's logger, which tags them (see
/// [`crate::logging`]).
extern "C" fn log(record: &LogRecord<'_>) {
    log::logger().log(
        &log::Record::builder()
            .level(record.level.into())
            .target(record.target.as_str())
            .args(format_args!("{}", record.message))
            .build(),
    );
}

/// The services as the plugin interface describes them, with the logger's
/// current level.
#[must_use]
pub fn services() -> HostServices {
    HostServices {
        sleep,
        spawn,
        log,
        max_level: log::max_level().to_level().map(LogLevel::from).into(),
        system_allocator: pdk::abi::allocator::system_allocator_everywhere(),
    }
}
