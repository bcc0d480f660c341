//! The host services the runtime lends to every plugin it loads: the
//! executor's timer, task spawner and blocking pool, and the runtime's
//! logger.

use std::sync::OnceLock;
use std::time::Duration;

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::RResult;
use async_ffi::{FfiFuture, FutureExt};
use pdk::abi::error::PdkError;
use pdk::abi::host::{HostServices, HostServicesRef, LogLevel, LogRecord};

use crate::executor;
use crate::flow::watchdog::watched_task;
use crate::logging::{self, Tag};

extern "C" fn sleep(nanos: u64) -> FfiFuture<()> {
    executor::sleep(Duration::from_nanos(nanos)).into_ffi()
}

extern "C" fn spawn(task: FfiFuture<RResult<(), PdkError>>) {
    // Detached: the task runs until it completes, on the executor of the
    // connector that spawned it (its pipeline, once known: a task spawned
    // in `new` starts when the flow does) or else the shared pool,
    // watched like the connector's own calls; its records are tagged like
    // the connector's, which answers for its failure.
    match Tag::current() {
        Some(tag) => tag.clone().start_at_home(move |runner| {
            let task = watched_task(tag.clone(), runner, task);
            runner
                .spawn(async move {
                    if let RResult::RErr(error) = task.await {
                        tag.task_failed(pdk::Error::from_ffi(error));
                    }
                })
                .detach();
        }),
        None => executor::pool()
            .runner()
            .spawn(async move {
                if let RResult::RErr(error) = task.await {
                    let error = pdk::Error::from_ffi(error);
                    log::error!("a spawned task failed: {}", error.message());
                }
            })
            .detach(),
    }
}

extern "C" fn spawn_blocking(job: FfiFuture<()>) {
    // The job completes on its first poll; it runs on a blocking thread,
    // its records tagged like those of the connector that started it.
    let tag = Tag::current();
    executor::spawn_blocking(move || match tag {
        Some(tag) => futures::executor::block_on(logging::tagged(&tag, job)),
        None => futures::executor::block_on(job),
    })
    .detach();
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
/// level when they were first asked for (after the logger is installed);
/// built once and shared by every plugin.
#[must_use]
pub fn services() -> HostServicesRef {
    static SERVICES: OnceLock<HostServicesRef> = OnceLock::new();
    *SERVICES.get_or_init(|| {
        HostServices {
            sleep,
            spawn,
            log,
            max_level: log::max_level().to_level().map(LogLevel::from).into(),
            spawn_blocking,
        }
        .leak_into_prefix()
    })
}
