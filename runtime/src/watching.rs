//! Changes to files on disk as the runtime notices them: flow directories
//! (`serve`) and plugin directories (`serve`, `run --watch`), watched
//! through the operating system (inotify, through `notify`) and debounced,
//! so that a file still being written is reported once it has settled.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_channel::{Receiver, Sender};
use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{new_debouncer, DebounceEventResult, Debouncer};

/// How long a file must stay unchanged before its change is reported: a
/// `cargo build` or a `cp` of a plugin writes it in many steps.
pub const SETTLE: Duration = Duration::from_millis(300);

/// Why a directory cannot be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {}: {error}; fix: check that it exists and is readable, or raise the inotify limits (fs.inotify.max_user_watches)", crate::printable::printable_path(.dir))]
pub struct WatchError {
    /// The directory.
    pub dir: PathBuf,
    /// Why.
    pub error: notify_debouncer_mini::notify::Error,
}

/// Directories watched for changes. Dropping it stops the watching.
pub struct DirWatch {
    debouncer: Debouncer<RecommendedWatcher>,
    changes: Receiver<Vec<PathBuf>>,
}

impl DirWatch {
    /// Watches nothing yet; changes are reported once they have settled
    /// for `settle`.
    ///
    /// # Errors
    /// When the operating system's watcher cannot be created.
    pub fn new(settle: Duration) -> Result<Self, WatchError> {
        let (tell, changes): (Sender<Vec<PathBuf>>, _) = async_channel::unbounded();
        let debouncer = new_debouncer(settle, move |result: DebounceEventResult| match result {
            Ok(events) => {
                // Nobody listens any more once the watch is dropped.
                let _ = tell.try_send(events.into_iter().map(|event| event.path).collect());
            }
            Err(error) => log::warn!("watching files: {error}"),
        })
        .map_err(|error| WatchError {
            dir: PathBuf::new(),
            error,
        })?;
        Ok(Self { debouncer, changes })
    }

    /// Watches `dir`, and with `recursive` every directory below it.
    ///
    /// # Errors
    /// When `dir` cannot be watched.
    pub fn add(&mut self, dir: &Path, recursive: bool) -> Result<(), WatchError> {
        let mode = if recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        self.debouncer
            .watcher()
            .watch(dir, mode)
            .map_err(|error| WatchError {
                dir: dir.to_path_buf(),
                error,
            })
    }

    /// The paths that changed, a batch at a time, once they settled.
    #[must_use]
    pub fn changes(&self) -> &Receiver<Vec<PathBuf>> {
        &self.changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_written_into_a_watched_directory_is_reported_once_settled() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = DirWatch::new(Duration::from_millis(50)).unwrap();
        watch.add(dir.path(), false).unwrap();
        let file = dir.path().join("flow.toml");
        std::fs::write(&file, "x").unwrap();
        let changed = futures::executor::block_on(watch.changes().recv()).unwrap();
        assert!(changed.contains(&file), "{changed:?}");
    }

    #[test]
    fn a_missing_directory_is_named() {
        let mut watch = DirWatch::new(SETTLE).unwrap();
        let error = watch.add(Path::new("/no/such/dir"), true).unwrap_err();
        assert!(
            error.to_string().starts_with("cannot watch /no/such/dir: "),
            "{error}"
        );
    }
}
