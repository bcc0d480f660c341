//! Where plugins are looked for, and which files are candidates.
//!
//! The search path is every `--plugin-path` directory, then the
//! `PDK_PLUGIN_PATH` directories (`:`-separated, like `PATH`), then the
//! directory of the `pdk-runtime` executable. The first two kinds are
//! searched recursively to [`MAX_DEPTH`]; the executable's directory only
//! at its top level (cargo keeps build intermediates, proc-macro libraries
//! among them, in its subdirectories). Symlinks are not followed; only
//! files with the platform's library extension are candidates (symlinks
//! and directories with that extension are listed, and rejected). A file reached twice (through two
//! directories, or a hard link) is one candidate, at its first place.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

/// How many directory levels below a search-path entry are searched.
pub const MAX_DEPTH: usize = 4;

/// The environment variable holding extra plugin directories.
pub const PLUGIN_PATH_VAR: &str = "PDK_PLUGIN_PATH";

/// The ordered list of directories plugins are looked for in, each with
/// how deep it is searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPath {
    dirs: Vec<(PathBuf, usize)>,
}

impl SearchPath {
    /// The search path from the flags, the environment and the executable's
    /// location. With `isolated`, only the flags count.
    #[must_use]
    pub fn from_environment(flags: &[PathBuf], isolated: bool) -> Self {
        if isolated {
            return Self::new(flags, None, None);
        }
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf));
        Self::new(flags, std::env::var_os(PLUGIN_PATH_VAR), exe_dir)
    }

    /// The search path from its three sources, in order.
    #[must_use]
    pub fn new(flags: &[PathBuf], env: Option<OsString>, exe_dir: Option<PathBuf>) -> Self {
        let mut dirs: Vec<(PathBuf, usize)> =
            flags.iter().map(|d| (d.clone(), MAX_DEPTH)).collect();
        if let Some(env) = env {
            dirs.extend(
                std::env::split_paths(&env)
                    .filter(|p| !p.as_os_str().is_empty())
                    .map(|d| (d, MAX_DEPTH)),
            );
        }
        dirs.extend(exe_dir.map(|d| (d, 1)));
        Self { dirs }
    }

    /// The directories, in search order.
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|(dir, _)| dir.as_path())
    }

    /// Every candidate file, in search order, each file once.
    #[must_use]
    pub fn candidates(&self) -> Vec<PathBuf> {
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        for (dir, depth) in &self.dirs {
            if !dir.is_dir() {
                log::warn!(
                    "plugin path entry {} is not a directory; it is skipped",
                    dir.display()
                );
                continue;
            }
            let walk = WalkDir::new(dir)
                .max_depth(*depth)
                .follow_links(false)
                .sort_by_file_name();
            for entry in walk {
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(error) => {
                        log::warn!("while searching for plugins: {error}");
                        continue;
                    }
                };
                if !is_library_name(entry.path()) {
                    continue;
                }
                let identity = entry.metadata().ok().map(|m| (m.dev(), m.ino()));
                if identity.is_some_and(|id| !seen.insert(id)) {
                    continue;
                }
                // Directories, symlinks and special files named like a
                // library are listed too, so that the user learns why they
                // are not loaded.
                found.push(entry.into_path());
            }
        }
        found
    }
}

/// `true` if the file name ends in the platform's library extension.
fn is_library_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext == std::env::consts::DLL_EXTENSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pdk-discovery-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn order_is_flags_then_env_then_exe_dir() {
        let env = std::env::join_paths(["/e1", "/e2"]).unwrap();
        let path = SearchPath::new(&[PathBuf::from("/f")], Some(env), Some(PathBuf::from("/x")));
        let dirs: Vec<&Path> = path.dirs().collect();
        let expected: Vec<&Path> = ["/f", "/e1", "/e2", "/x"].iter().map(Path::new).collect();
        assert_eq!(dirs, expected);
    }

    #[test]
    fn finds_libraries_once_with_symlinks_listed_and_other_files_skipped() {
        let dir = temp_dir("walk");
        let ext = std::env::consts::DLL_EXTENSION;
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join(format!("one.{ext}")), b"x").unwrap();
        std::fs::write(dir.join(format!("a/b/two.{ext}")), b"x").unwrap();
        std::fs::write(dir.join("notes.txt"), b"x").unwrap();
        std::fs::hard_link(
            dir.join(format!("one.{ext}")),
            dir.join(format!("a/hard.{ext}")),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            dir.join(format!("one.{ext}")),
            dir.join(format!("link.{ext}")),
        )
        .unwrap();
        let path = SearchPath::new(&[dir.clone(), dir.clone()], None, None);
        let found = path.candidates();
        let expected = vec![
            dir.join(format!("a/b/two.{ext}")),
            dir.join(format!("a/hard.{ext}")),
            dir.join(format!("link.{ext}")),
        ];
        assert_eq!(found, expected, "hard.{ext} and one.{ext} are one file");
        let exe_dir_only = SearchPath::new(&[], None, Some(dir.clone()));
        assert_eq!(
            exe_dir_only.candidates(),
            vec![
                dir.join(format!("link.{ext}")),
                dir.join(format!("one.{ext}"))
            ],
            "the executable's directory is not descended"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
