//! Live reload (`run --watch`): notices a plugin file replaced or
//! rewritten on disk, loads the new build (from a private copy, as every
//! plugin is loaded: see [`crate::loader::Opened`]), and hands each
//! connector of that plugin a new instance; a build that fails a check is
//! refused and the running one kept. Old builds stay loaded until the
//! process exits: code of theirs may still run.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_channel::Sender;
use pdk::Value;

use super::handle::{self, Connection, Wiring};
use super::instance::Instance;
use super::task::Control;
use crate::loader::{ConnectorKind, LoadedPlugin};
use crate::logging::Tag;
use crate::observe::ConnectorFamilies;
use crate::printable::{printable, printable_path};
use crate::registry::Provider;
use crate::trust::TrustPolicy;
use crate::vetting::Vetting;

/// How often the plugin files are looked at.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// What `run --watch` needs beyond the flow: the trust policy every new
/// build must pass, and how it is vetted, like the first.
#[derive(Debug)]
pub struct Watch {
    /// The policy the runtime was started with, if any.
    pub trust: Option<TrustPolicy>,
    /// How a new build is vetted before it is loaded.
    pub vetting: Vetting,
}

/// What identifies one version of a file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileVersion {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl FileVersion {
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(path).ok()?;
        Some(Self {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            inode: metadata.ino(),
        })
    }
}

/// A connector of the flow that can be restarted on a new build.
pub struct Restartable {
    /// Its id in the flow.
    pub id: String,
    /// Its connector type.
    pub kind: ConnectorKind,
    /// Its configuration.
    pub config: Value,
    /// How the flow uses it, for the new instance's context.
    pub wiring: Wiring,
    /// Its log tag.
    pub tag: Tag,
    /// Its task's control channel, for the new instance's handle.
    pub control: Sender<Control>,
    /// Its current connection, for the new instance's handle.
    pub connection: Connection,
    /// Where the new instance registers its plugin's metrics.
    pub metrics: ConnectorFamilies,
    /// Where its task takes new instances.
    pub reload: Sender<Instance>,
}

/// One plugin file the flow uses, and its connectors.
struct WatchedFile {
    path: PathBuf,
    /// The version running (or last refused).
    current: Option<FileVersion>,
    /// A new version seen at the last look; acted on once it stays the
    /// same for a whole interval (a build may still be writing it).
    settling: Option<FileVersion>,
    connectors: Vec<Restartable>,
}

/// The plugin files of a running flow and the builds loaded from them.
pub struct Watcher {
    files: Vec<WatchedFile>,
    trust: Option<TrustPolicy>,
    vetting: Vetting,
    builds: Vec<LoadedPlugin>,
}

impl Watcher {
    /// A watcher for no file yet.
    #[must_use]
    pub fn new(watch: Watch) -> Self {
        Self {
            files: Vec::new(),
            trust: watch.trust,
            vetting: watch.vetting,
            builds: Vec::new(),
        }
    }

    /// Watches `plugin`'s file for connector `connector`.
    pub fn add(&mut self, plugin: &LoadedPlugin, connector: Restartable) {
        if let Some(file) = self.files.iter_mut().find(|f| f.path == plugin.path) {
            file.connectors.push(connector);
        } else {
            self.files.push(WatchedFile {
                path: plugin.path.clone(),
                current: FileVersion::of(&plugin.path),
                settling: None,
                connectors: vec![connector],
            });
        }
    }

    /// Looks at every file once, and reloads those replaced since.
    pub fn check(&mut self) {
        for i in 0..self.files.len() {
            let file = &mut self.files[i];
            let seen = FileVersion::of(&file.path);
            if seen.is_none() || seen == file.current {
                file.settling = None;
                continue;
            }
            if file.settling != seen {
                file.settling = seen;
                continue;
            }
            file.current = file.settling.take();
            self.reload(i);
        }
    }

    /// Loads the new build of file `i` and restarts its connectors on it,
    /// or logs why it was refused.
    fn reload(&mut self, i: usize) {
        let path = self.files[i].path.clone();
        match self.load_build(i) {
            Ok((plugin, instances)) => {
                let connectors = &self.files[i].connectors;
                let ids: Vec<&str> = connectors.iter().map(|c| c.id.as_str()).collect();
                log::info!(
                    "{}: new build {} {} loaded; restarting {}",
                    printable_path(&path),
                    printable(&plugin.info.name),
                    printable(&plugin.info.version),
                    ids.join(", ")
                );
                for (connector, instance) in connectors.iter().zip(instances) {
                    // A task that has ended takes no new instance.
                    let _ = connector.reload.try_send(instance);
                }
                self.builds.push(plugin);
            }
            Err(reason) => log::error!(
                "{}: new build refused, the running one is kept: {reason}",
                printable_path(&path)
            ),
        }
    }

    /// Loads and checks file `i`, and creates a new instance of every
    /// connector of the file on it.
    fn load_build(&mut self, i: usize) -> Result<(LoadedPlugin, Vec<Instance>), String> {
        let file = &self.files[i];
        let plugin = self
            .vetting
            .load_all(std::slice::from_ref(&file.path), self.trust.as_ref())
            .pop()
            .ok_or_else(|| String::from("was not loaded"))?
            .map_err(|reason| reason.to_string())?;
        let mut instances = Vec::with_capacity(file.connectors.len());
        for connector in &file.connectors {
            let kind = &connector.kind;
            match plugin.connectors.iter().find(|k| k.name == kind.name) {
                Some(new) if new == kind => {}
                Some(_) => {
                    return Err(format!(
                        "connector type `{}` changed its sides (source, sink, transactional); \
                         restart the flow to use it",
                        kind.name
                    ))
                }
                None => {
                    return Err(format!(
                        "it no longer provides connector type `{}`, which connector `{}` uses",
                        kind.name, connector.id
                    ))
                }
            }
            let ctx = handle::context(
                &connector.id,
                connector.control.clone(),
                connector.connection.clone(),
                connector.wiring,
                connector.metrics.clone(),
            );
            let instance = connector
                .tag
                .scope(|| {
                    Instance::create(
                        Provider::Plugin(&plugin),
                        &kind.name,
                        ctx,
                        &connector.config,
                    )
                })
                .map_err(|e| {
                    format!(
                        "connector `{}` could not be created on it: {}",
                        connector.id,
                        e.message()
                    )
                })?;
            instances.push(instance);
        }
        Ok((plugin, instances))
    }
}
