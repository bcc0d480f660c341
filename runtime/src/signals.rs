//! SIGINT and SIGTERM: the first one drains the flow (sources stop, events
//! in flight finish, `on_drain` and `on_stop` run, exit status 0); a second
//! one ends the process at once.
//!
//! The thread that waits for them is the runtime's own: if it ends
//! without having seen a signal (a plugin closed the descriptors it reads
//! from, say), that is not a signal but an internal failure: the flow
//! drains, and the runtime exits with [`INTERNAL_FAILURE_STATUS`] and the
//! reason ([`internal_failure`]).

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;

use async_channel::{Receiver, Sender};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Exit status for a second signal, which does not wait for the drain.
const FORCED_EXIT_STATUS: i32 = 130;

/// Exit status when the runtime stopped because one of its own threads
/// failed (`EX_SOFTWARE`).
pub const INTERNAL_FAILURE_STATUS: u8 = 70;

/// Why the signal thread ended without a signal, once it has.
static FAILURE: OnceLock<String> = OnceLock::new();

/// The reason the runtime stopped on an internal failure, if it did.
#[must_use]
pub fn internal_failure() -> Option<&'static str> {
    FAILURE.get().map(String::as_str)
}

/// Starts watching for SIGINT and SIGTERM. The returned receiver is closed
/// at the first signal, which every connector task sees at once, or when
/// the watching thread fails (see [`internal_failure`]).
///
/// # Errors
/// If the signal handlers cannot be installed.
pub fn drain_on_signals() -> io::Result<Receiver<()>> {
    let signals = Signals::new([SIGINT, SIGTERM])?;
    let (tell, shutdown) = async_channel::bounded::<()>(1);
    std::thread::Builder::new()
        .name(String::from("pdk-signals"))
        .spawn(move || watch(signals, tell))?;
    Ok(shutdown)
}

/// Starts watching for SIGHUP: each one is a message on the returned
/// channel (`serve` reads its flow directories and plugin path again).
///
/// # Errors
/// If the signal handler cannot be installed.
pub fn reload_on_sighup() -> io::Result<Receiver<()>> {
    let mut signals = Signals::new([SIGHUP])?;
    let (tell, reloads) = async_channel::unbounded::<()>();
    std::thread::Builder::new()
        .name(String::from("pdk-sighup"))
        .spawn(move || {
            for _ in signals.forever() {
                log::info!("SIGHUP: reading the flow directories and the plugin path again");
                if tell.try_send(()).is_err() {
                    return;
                }
            }
        })?;
    Ok(reloads)
}

/// The signal thread: closes `tell` at the first signal, exits at the
/// second; if waiting fails first, records why and closes `tell`.
fn watch(mut signals: Signals, tell: Sender<()>) {
    let mut tell = Some(tell);
    let waited = std::panic::catch_unwind(AssertUnwindSafe(|| {
        for signal in signals.forever() {
            if tell.take().is_some() {
                log::info!("signal {signal}: draining the flow (send it again to stop at once)");
            } else {
                log::warn!("signal {signal} again: stopping without draining");
                std::process::exit(FORCED_EXIT_STATUS);
            }
        }
    }));
    // Its descriptors may be closed already: closing them again would be
    // an I/O-safety violation, which aborts the process.
    std::mem::forget(signals);
    if tell.is_none() {
        return;
    }
    let how = match waited {
        Ok(()) => String::from("its signal pipe was closed"),
        Err(panic) => panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("it panicked")
            .to_owned(),
    };
    let reason = format!(
        "the thread watching for SIGINT/SIGTERM ended ({how}); a plugin may have closed a \
         descriptor it does not own. The runtime can no longer be stopped by a signal, so it \
         drains its flow and exits; fix the plugin and restart"
    );
    log::error!("{reason}");
    let _ = FAILURE.set(reason);
    drop(tell);
}
