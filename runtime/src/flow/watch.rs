//! Live reload (`run --watch`): notices a plugin file replaced or
//! rewritten on disk (through the operating system, see
//! [`crate::watching`]), loads the new build (from a private copy, as
//! every plugin is loaded: see [`crate::loader::Opened`]), and hands each
//! connector of that plugin a new instance; a build that fails a check is
//! refused and the running one kept. Old builds stay loaded until the
//! process exits: code of theirs may still run.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::instance::Instance;
use super::restartable::{Replacement, Restartable};
use crate::loader::LoadedPlugin;
use crate::printable::{printable, printable_path};
use crate::registry::Provider;
use crate::trust::TrustPolicy;
use crate::vetting::Vetting;
use crate::watching::{DirWatch, SETTLE};

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

/// One plugin file the flow uses, and its connectors.
struct WatchedFile {
    path: PathBuf,
    /// The version running (or last refused).
    current: Option<FileVersion>,
    connectors: Vec<Restartable>,
}

/// The plugin files of a running flow and the builds loaded from them.
pub struct Watcher {
    files: Vec<WatchedFile>,
    /// The plugin files' directories, watched.
    dirs: DirWatch,
    trust: Option<TrustPolicy>,
    vetting: Vetting,
    builds: Vec<LoadedPlugin>,
}

impl Watcher {
    /// A watcher for no file yet.
    ///
    /// # Errors
    /// When the operating system's watcher cannot be created.
    pub fn new(watch: Watch) -> Result<Self, crate::watching::WatchError> {
        Ok(Self {
            files: Vec::new(),
            dirs: DirWatch::new(SETTLE)?,
            trust: watch.trust,
            vetting: watch.vetting,
            builds: Vec::new(),
        })
    }

    /// Watches `plugin`'s file for connector `connector`.
    pub fn add(&mut self, plugin: &LoadedPlugin, connector: Restartable) {
        if let Some(file) = self.files.iter_mut().find(|f| f.path == plugin.path) {
            file.connectors.push(connector);
            return;
        }
        let dir = plugin.path.parent().unwrap_or_else(|| Path::new("/"));
        if let Err(error) = self.dirs.add(dir, false) {
            log::warn!(
                "a new build of {} will not be noticed: {error}",
                printable_path(&plugin.path)
            );
        }
        self.files.push(WatchedFile {
            path: plugin.path.clone(),
            current: FileVersion::of(&plugin.path),
            connectors: vec![connector],
        });
    }

    /// Waits until a watched file has changed on disk, and reloads it.
    pub async fn reload_changed(&mut self) {
        // Which files changed is read from the files themselves: a path
        // reported may be spelled otherwise than the one loaded.
        if self.dirs.changes().recv().await.is_err() {
            return std::future::pending().await;
        }
        for i in 0..self.files.len() {
            let file = &mut self.files[i];
            let seen = FileVersion::of(&file.path);
            if seen.is_none() || seen == file.current {
                continue;
            }
            file.current = seen;
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
                    let _ = connector.replace(Replacement {
                        instance,
                        reason: "the new build",
                    });
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
            instances.push(connector.create_on(Provider::Plugin(&plugin))?);
        }
        Ok((plugin, instances))
    }
}
