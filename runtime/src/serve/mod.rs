//! `pdk-runtime serve`: every flow file of the flow directories runs as a
//! flow of its own, each failing alone, until SIGINT or SIGTERM drains
//! them all. Flow files added, changed or removed while it runs take
//! effect (through the file system, SIGHUP or the control API), and so do
//! plugin files added to the plugin path.

mod control;
mod fleet;

use std::path::PathBuf;
use std::rc::Rc;

use async_channel::Receiver;
use futures::FutureExt;

pub use control::{Action, Control, Request};
pub use fleet::{is_flow_name, Settings};

use crate::executor::{self, Local};
use crate::observe::{Endpoint, Observer};
use crate::registry::Registry;
use crate::signals;
use crate::watching::{DirWatch, WatchError, SETTLE};
use fleet::Fleet;

/// Why `serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A flow directory does not exist.
    #[error("--flows {}: not a directory; fix: create it, or pass the directory that holds the flow files", crate::printable::printable_path(.0))]
    NoFlowDirectory(PathBuf),
    /// A directory cannot be watched.
    #[error(transparent)]
    Watch(#[from] WatchError),
    /// SIGHUP cannot be watched for.
    #[error("cannot watch for SIGHUP: {0}")]
    Signal(std::io::Error),
    /// The endpoint cannot start.
    #[error(transparent)]
    Api(#[from] crate::observe::ApiError),
}

/// Runs every flow of `settings`' flow directories with the plugins of
/// `registry` until `shutdown` closes, then drains them all; with `api`,
/// serves the metrics, status and control API there.
///
/// # Errors
/// When it cannot start: a missing flow directory, a directory that
/// cannot be watched, an endpoint that cannot listen.
pub fn serve(
    settings: Settings,
    registry: Registry,
    api: Option<Endpoint>,
    shutdown: &Receiver<()>,
) -> Result<(), ServeError> {
    if let Some(missing) = settings.flow_dirs.iter().find(|dir| !dir.is_dir()) {
        return Err(ServeError::NoFlowDirectory(missing.clone()));
    }
    let mut flow_watch = DirWatch::new(SETTLE)?;
    for dir in &settings.flow_dirs {
        flow_watch.add(dir, false)?;
    }
    let mut plugin_watch = DirWatch::new(SETTLE)?;
    for dir in settings.search.dirs() {
        plugin_watch.add(dir, true)?;
    }
    let reloads = signals::reload_on_sighup().map_err(ServeError::Signal)?;
    let observer = Observer::default();
    let (control, commands) = Control::channel();
    if let Some(endpoint) = api {
        let bound = crate::observe::serve(endpoint, observer.clone(), Some(control))?;
        log::info!(
            "serving /metrics, /health, /status and the control API (/flows) on http://{bound}"
        );
    }
    let executor = Rc::new(Local::new());
    let (mut fleet, ends) = Fleet::new(settings, registry, observer, Rc::clone(&executor));
    let watches = Watches {
        flows: flow_watch,
        plugins: plugin_watch,
        reloads,
    };
    executor::block_on(executor.run(async {
        fleet.reconcile().await;
        steer(&mut fleet, &watches, &commands, &ends, shutdown).await;
        log::info!("draining every flow");
        fleet.stop_all().await;
    }));
    Ok(())
}

/// What tells `serve` that something changed.
struct Watches {
    flows: DirWatch,
    plugins: DirWatch,
    reloads: Receiver<()>,
}

/// Acts on every change and request until `shutdown` closes.
async fn steer(
    fleet: &mut Fleet,
    watches: &Watches,
    commands: &Receiver<control::Command>,
    ends: &Receiver<fleet::Ended>,
    shutdown: &Receiver<()>,
) {
    loop {
        futures::select_biased! {
            _ = shutdown.recv().fuse() => return,
            _ = watches.plugins.changes().recv().fuse() => fleet.add_new_plugins(),
            _ = watches.flows.changes().recv().fuse() => fleet.reconcile().await,
            _ = watches.reloads.recv().fuse() => {
                fleet.add_new_plugins();
                fleet.reconcile().await;
            }
            command = commands.recv().fuse() => if let Ok(command) = command {
                let answer = fleet.answer(command.request).await;
                // The client may have gone.
                let _ = command.reply.try_send(answer);
            },
            ended = ends.recv().fuse() => if let Ok(ended) = ended {
                fleet.on_end(ended).await;
            },
        }
    }
}
