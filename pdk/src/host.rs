//! The plugin's side of the host services: timers, tasks and logging,
//! all served by the runtime that loaded the plugin.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use async_ffi::FutureExt;

use crate::abi::host::{HostServices, LogRecord};

static HOST: OnceLock<HostServices> = OnceLock::new();

/// Installs the runtime's services into this copy of `pdk`, and routes the
/// `log` crate of this copy to the runtime's logger. Only the first call
/// has an effect.
pub fn install(host: HostServices) {
    if HOST.set(host).is_ok() {
        if host.system_allocator {
            // SAFETY: the runtime promised it allocates with the system
            // allocator; a plugin does too (`#[pdk_export]` pins it), and a
            // linked connector shares the runtime's allocator.
            unsafe { crate::abi::allocator::declare_system_allocator() };
        }
        // Fails when this copy of `log` already has a logger (the runtime's
        // own, when a connector is linked statically): then records already
        // reach it and nothing is to be done.
        if log::set_logger(&HostLogger).is_ok() {
            log::set_max_level(
                host.max_level
                    .into_option()
                    .map_or(log::LevelFilter::Off, |l| {
                        log::Level::from(l).to_level_filter()
                    }),
            );
        }
    }
}

/// Forwards `log` records to the runtime.
struct HostLogger;

impl log::Log for HostLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if let Some(host) = HOST.get() {
            if self.enabled(record.metadata()) {
                let message = record.args().to_string();
                (host.log)(&LogRecord {
                    level: record.level().into(),
                    target: record.target().into(),
                    message: message.as_str().into(),
                });
            }
        }
    }

    fn flush(&self) {}
}

/// Timers on the runtime's clock.
pub mod time {
    use super::{Duration, HOST};

    /// Waits for `duration` on the runtime's timer, without blocking a
    /// thread.
    pub async fn sleep(duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        match HOST.get() {
            Some(host) => (host.sleep)(nanos).await,
            None => detached_sleep(duration).await,
        }
    }

    /// A sleep for code running outside any runtime (a connector's own unit
    /// tests): a helper thread completes it.
    async fn detached_sleep(duration: Duration) {
        let (done, wait) = futures::channel::oneshot::channel::<()>();
        std::thread::spawn(move || {
            std::thread::sleep(duration);
            let _ = done.send(());
        });
        let _ = wait.await;
    }
}

/// Background tasks on the runtime's executor.
pub mod task {
    use super::{Future, FutureExt, HOST};

    /// Runs `task` in the background on the runtime's executor.
    ///
    /// Outside any runtime (a connector's own unit tests) the task runs on
    /// a thread of its own.
    pub fn spawn(task: impl Future<Output = ()> + Send + 'static) {
        match HOST.get() {
            Some(host) => (host.spawn)(task.into_ffi()),
            None => {
                std::thread::spawn(move || futures::executor::block_on(task));
            }
        }
    }
}
