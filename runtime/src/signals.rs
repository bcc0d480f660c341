//! SIGINT and SIGTERM: the first one drains the flow (sources stop, events
//! in flight finish, `on_drain` and `on_stop` run, exit status 0); a second
//! one ends the process at once.

use std::io;

use async_channel::Receiver;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Exit status for a second signal, which does not wait for the drain.
const FORCED_EXIT_STATUS: i32 = 130;

/// Starts watching for SIGINT and SIGTERM. The returned receiver is closed
/// at the first signal, which every connector task sees at once.
///
/// # Errors
/// If the signal handlers cannot be installed.
pub fn drain_on_signals() -> io::Result<Receiver<()>> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let (tell, shutdown) = async_channel::bounded::<()>(1);
    std::thread::Builder::new()
        .name(String::from("pdk-signals"))
        .spawn(move || {
            let mut tell = Some(tell);
            for signal in signals.forever() {
                if tell.take().is_some() {
                    log::info!(
                        "signal {signal}: draining the flow (send it again to stop at once)"
                    );
                } else {
                    log::warn!("signal {signal} again: stopping without draining");
                    std::process::exit(FORCED_EXIT_STATUS);
                }
            }
        })?;
    Ok(shutdown)
}
