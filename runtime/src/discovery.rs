//! Where plugins are looked for, and which files are candidates.
//!
//! The search path is every `--plugin-path` directory, then the
//! `PDK_PLUGIN_PATH` directories (`:`-separated, like `PATH`), then the
//! release layout's plugin directory (`lib/pdk-runtime/plugins` beside the
//! `bin/` of the executable), then the directory of the `pdk-runtime`
//! executable itself. All but the last are searched recursively to
//! [`MAX_DEPTH`]; the executable's directory only at its top level. Cargo's
//! build intermediates (`deps/`, `build/`, `incremental/`, `examples/`,
//! `.fingerprint/` of a profile directory such as `target/debug`) are never
//! descended into: they hold proc-macro libraries and copies of the
//! plugins. Symlinks are not followed; only files with the platform's
//! library extension are candidates (symlinks and directories with that
//! extension are listed, and rejected). A file reached twice (through two
//! directories, or a hard link) is one candidate, at its first place.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use pdk::abi::module::ROOT_MODULE_SYMBOL_PREFIX;
use walkdir::{DirEntry, WalkDir};

/// How many directory levels below a search-path entry are searched.
pub const MAX_DEPTH: usize = 4;

/// The environment variable holding extra plugin directories.
pub const PLUGIN_PATH_VAR: &str = "PDK_PLUGIN_PATH";

/// The plugin directory of the release layout, relative to the parent of
/// the directory of the `pdk-runtime` executable (`bin/..`).
pub const RELEASE_PLUGIN_DIR: &str = "lib/pdk-runtime/plugins";

/// The subdirectories of a cargo profile directory that hold build
/// intermediates, never plugins a user put there.
const CARGO_INTERMEDIATES: &[&str] = &["deps", "build", "incremental", "examples", ".fingerprint"];

/// Where a directory of the search path comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// `--plugin-path`: it must exist.
    Flag,
    /// `PDK_PLUGIN_PATH`, the release layout or the executable's
    /// directory: searched if it exists.
    Default,
}

/// A `--plugin-path` that is not a directory.
#[derive(Debug, thiserror::Error)]
#[error(
    "--plugin-path {}: {}; give a directory that holds plugin files",
    .dir.display(),
    if *.exists { "is not a directory" } else { "does not exist" }
)]
pub struct NotADirectory {
    /// The path given.
    pub dir: PathBuf,
    /// Whether something else is there.
    pub exists: bool,
}

/// The ordered list of directories plugins are looked for in, each with
/// how deep it is searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPath {
    dirs: Vec<(PathBuf, usize, Origin)>,
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

    /// The search path from its sources, in order: the flags, the
    /// environment variable, the release layout beside `exe_dir`, and
    /// `exe_dir` itself.
    #[must_use]
    pub fn new(flags: &[PathBuf], env: Option<OsString>, exe_dir: Option<PathBuf>) -> Self {
        let mut dirs: Vec<(PathBuf, usize, Origin)> = flags
            .iter()
            .map(|d| (d.clone(), MAX_DEPTH, Origin::Flag))
            .collect();
        if let Some(env) = env {
            dirs.extend(
                std::env::split_paths(&env)
                    .filter(|p| !p.as_os_str().is_empty())
                    .map(|d| (d, MAX_DEPTH, Origin::Default)),
            );
        }
        if let Some(exe_dir) = exe_dir {
            if let Some(prefix) = exe_dir.parent() {
                dirs.push((prefix.join(RELEASE_PLUGIN_DIR), MAX_DEPTH, Origin::Default));
            }
            dirs.push((exe_dir, 1, Origin::Default));
        }
        Self { dirs }
    }

    /// Checks that every `--plugin-path` directory exists.
    ///
    /// # Errors
    /// The first one that is not a directory.
    pub fn check_flags(&self) -> Result<(), NotADirectory> {
        for (dir, _, origin) in &self.dirs {
            if *origin == Origin::Flag && !dir.is_dir() {
                return Err(NotADirectory {
                    dir: dir.clone(),
                    exists: dir.exists(),
                });
            }
        }
        Ok(())
    }

    /// The directories that exist, in search order: the ones searched.
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs
            .iter()
            .map(|(dir, _, _)| dir.as_path())
            .filter(|dir| dir.is_dir())
    }

    /// Every candidate file, in search order, each file once.
    #[must_use]
    pub fn candidates(&self) -> Vec<PathBuf> {
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        for (dir, depth, _) in &self.dirs {
            if !dir.is_dir() {
                continue;
            }
            let walk = WalkDir::new(dir)
                .max_depth(*depth)
                .follow_links(false)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|entry| !is_cargo_intermediate(entry));
            for entry in walk {
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(error) => {
                        log::warn!("while searching for plugins: {error}");
                        continue;
                    }
                };
                if !is_library_name(entry.path()) && !is_plugin_without_library(entry.path()) {
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

/// `true` for a Rust library (`.rlib`) that exports a PDK plugin but has no
/// plugin file beside it: a connector crate built without
/// `crate-type = ["cdylib"]`. It is listed, so that the loader's reason
/// says what to add.
fn is_plugin_without_library(path: &Path) -> bool {
    let Some(crate_name) = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .and_then(|stem| stem.strip_prefix("lib"))
    else {
        return false;
    };
    // The symbol `#[pdk_export]` gives this very crate's root module (the
    // prefix alone is in every library that merely links `pdk`).
    let symbol = format!("{ROOT_MODULE_SYMBOL_PREFIX}{crate_name}__");
    path.extension()
        .is_some_and(|ext| ext == RUST_LIBRARY_EXTENSION)
        && !path
            .with_extension(std::env::consts::DLL_EXTENSION)
            .exists()
        && std::fs::read(path)
            .is_ok_and(|bytes| memchr::memmem::find(&bytes, symbol.as_bytes()).is_some())
}

/// The extension of the libraries cargo builds for other Rust crates.
pub const RUST_LIBRARY_EXTENSION: &str = "rlib";

/// `true` for a directory of build intermediates inside a cargo profile
/// directory (one that holds cargo's `.fingerprint`).
fn is_cargo_intermediate(entry: &DirEntry) -> bool {
    entry.file_type().is_dir()
        && CARGO_INTERMEDIATES
            .iter()
            .any(|name| entry.file_name() == *name)
        && entry
            .path()
            .parent()
            .is_some_and(|profile| profile.join(".fingerprint").is_dir())
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
        let dirs: Vec<&Path> = path.dirs.iter().map(|(dir, _, _)| dir.as_path()).collect();
        let release = Path::new("/").join(RELEASE_PLUGIN_DIR);
        let expected: Vec<&Path> = vec![
            Path::new("/f"),
            Path::new("/e1"),
            Path::new("/e2"),
            &release,
            Path::new("/x"),
        ];
        assert_eq!(dirs, expected);
    }

    #[test]
    fn a_rust_library_holding_a_plugin_without_its_plugin_file_is_listed() {
        let dir = temp_dir("rlib");
        let ext = std::env::consts::DLL_EXTENSION;
        let plugin_of = |name: &str| format!("...{ROOT_MODULE_SYMBOL_PREFIX}{name}__0_1_0...");
        // A connector crate built as an rlib only: listed.
        std::fs::write(dir.join("libmy_conn.rlib"), plugin_of("my_conn")).unwrap();
        // One built as both: its plugin file is the candidate.
        std::fs::write(dir.join("libboth.rlib"), plugin_of("both")).unwrap();
        std::fs::write(dir.join(format!("libboth.{ext}")), b"x").unwrap();
        // Any other Rust library, even one that links `pdk` (and so holds
        // the symbol prefix) or links a plugin crate: not a candidate.
        std::fs::write(dir.join("libserde.rlib"), b"no plugin here").unwrap();
        std::fs::write(dir.join("libpdk.rlib"), ROOT_MODULE_SYMBOL_PREFIX).unwrap();
        std::fs::write(dir.join("libapp.rlib"), plugin_of("my_conn")).unwrap();
        let found = SearchPath::new(std::slice::from_ref(&dir), None, None).candidates();
        assert_eq!(
            found,
            [
                dir.join(format!("libboth.{ext}")),
                dir.join("libmy_conn.rlib")
            ]
        );
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

    #[test]
    fn cargo_intermediates_are_not_descended_into() {
        let dir = temp_dir("cargo");
        let ext = std::env::consts::DLL_EXTENSION;
        for sub in [".fingerprint", "deps", "build/x", "incremental", "examples"] {
            std::fs::create_dir_all(dir.join("debug").join(sub)).unwrap();
        }
        std::fs::write(dir.join(format!("debug/libplugin.{ext}")), b"x").unwrap();
        std::fs::write(dir.join(format!("debug/deps/libplugin-1234.{ext}")), b"y").unwrap();
        std::fs::write(
            dir.join(format!("debug/deps/libsome_macros-5678.{ext}")),
            b"z",
        )
        .unwrap();
        std::fs::write(dir.join(format!("debug/build/x/libbuilt.{ext}")), b"w").unwrap();
        // Without `.fingerprint` beside it, `deps` is an ordinary directory.
        std::fs::create_dir_all(dir.join("mine/deps")).unwrap();
        std::fs::write(dir.join(format!("mine/deps/libmine.{ext}")), b"v").unwrap();
        let found = SearchPath::new(std::slice::from_ref(&dir), None, None).candidates();
        assert_eq!(
            found,
            vec![
                dir.join(format!("debug/libplugin.{ext}")),
                dir.join(format!("mine/deps/libmine.{ext}")),
            ]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_plugin_path_flag_is_an_error_and_a_missing_default_is_not() {
        let missing = PathBuf::from("/nonexistent/plugins");
        let flagged = SearchPath::new(std::slice::from_ref(&missing), None, None);
        assert_eq!(
            flagged.check_flags().map_err(|e| e.to_string()),
            Err(String::from(
                "--plugin-path /nonexistent/plugins: does not exist; give a directory that holds plugin files"
            ))
        );
        let from_env = SearchPath::new(&[], Some(missing.into_os_string()), None);
        assert!(from_env.check_flags().is_ok());
        assert_eq!(from_env.dirs().count(), 0);
    }
}
