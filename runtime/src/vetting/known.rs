//! Contents a vetting child has loaded before: a file whose bytes were
//! vetted once is not vetted again, by this process (a copy of a plugin, a
//! plugin path scanned again by `serve`) and, with [`CACHE_ENV`] set, by
//! later runs of the same runtime version.
//!
//! Only loads are remembered: a file that crashed or hung its child, or
//! was rejected, is vetted again every time (what went wrong may not
//! happen again, and a rejection costs nothing to repeat). The key is the
//! BLAKE3 digest of the bytes: a cryptographic hash several times faster
//! than SHA-256, so that hashing a file costs less than a vetting child.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::loader::PluginReport;

/// The environment variable naming a directory where vetting verdicts are
/// kept across runs (created if missing).
pub const CACHE_ENV: &str = "PDK_VETTING_CACHE";

/// The BLAKE3 digest of a file's contents.
pub type ContentDigest = [u8; 32];

/// What children reported of the contents they loaded, in this process.
static LOADED: Mutex<Option<HashMap<ContentDigest, PluginReport>>> = Mutex::new(None);

/// The digest of `file`'s contents, read from its start at positions of
/// their own (the file's offset, which a vetting child shares, is left
/// where it is).
///
/// # Errors
/// If the file cannot be read.
pub fn digest(file: &File) -> std::io::Result<ContentDigest> {
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0; 1 << 16];
    let mut offset = 0;
    loop {
        match file.read_at(&mut buffer, offset)? {
            0 => break,
            n => {
                hasher.update(&buffer[..n]);
                offset += n as u64;
            }
        }
    }
    Ok(hasher.finalize().into())
}

/// Where verdicts are remembered: this process, and the directory of
/// [`CACHE_ENV`] if it is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownContents {
    dir: Option<PathBuf>,
}

impl KnownContents {
    /// This process's memory, and the directory [`CACHE_ENV`] names, if
    /// any, under this runtime's version.
    #[must_use]
    pub fn from_environment() -> Self {
        let dir = std::env::var_os(CACHE_ENV)
            .filter(|dir| !dir.is_empty())
            .map(|dir| PathBuf::from(dir).join(concat!("pdk-runtime-", env!("CARGO_PKG_VERSION"))));
        Self { dir }
    }

    /// What a child reported when it loaded these contents, if one did.
    #[must_use]
    pub fn get(&self, digest: &ContentDigest) -> Option<PluginReport> {
        let remembered = LOADED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(|loaded| loaded.get(digest).cloned());
        remembered.or_else(|| {
            let report = self.read(digest)?;
            remember(*digest, report.clone());
            Some(report)
        })
    }

    /// Remembers that a child loaded these contents and reported `report`.
    pub fn insert(&self, digest: ContentDigest, report: &PluginReport) {
        remember(digest, report.clone());
        if let Some(file) = self.file(&digest) {
            if let Err(error) = write_atomically(&file, report) {
                log::warn!(
                    "cannot keep the vetting verdict in {}: {error}; check {CACHE_ENV} \
                     (the plugin is vetted again next time)",
                    file.display()
                );
            }
        }
    }

    fn file(&self, digest: &ContentDigest) -> Option<PathBuf> {
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        Some(self.dir.as_ref()?.join(format!("{hex}.json")))
    }

    /// The verdict kept on disk, if there is a readable one.
    fn read(&self, digest: &ContentDigest) -> Option<PluginReport> {
        let text = std::fs::read_to_string(self.file(digest)?).ok()?;
        serde_json::from_str(&text).ok()
    }
}

fn remember(digest: ContentDigest, report: PluginReport) {
    LOADED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .insert(digest, report);
}

/// Writes `report` to `file` through a temporary file beside it, so that a
/// reader never sees half a verdict.
fn write_atomically(file: &Path, report: &PluginReport) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temporary = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&mut temporary, report)?;
    temporary.persist(file).map_err(|error| error.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::PluginInfo;

    fn report(name: &str) -> PluginReport {
        PluginReport {
            info: PluginInfo {
                name: name.to_owned(),
                version: String::from("1.0.0"),
                pdk_version: String::from("0.3.0"),
                interface_version: String::from("0.3.1"),
                rustc_version: String::from("1.95.0"),
                debug_assertions: true,
            },
            connectors: Vec::new(),
        }
    }

    #[test]
    fn a_verdict_is_kept_in_the_process_and_in_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let on_disk = KnownContents {
            dir: Some(dir.path().join("v")),
        };
        let digest = [7; 32];
        assert_eq!(on_disk.get(&digest), None);
        on_disk.insert(digest, &report("kept"));
        assert_eq!(on_disk.get(&digest), Some(report("kept")));
        // Another process: nothing in memory, the file is read.
        LOADED.lock().unwrap().as_mut().unwrap().remove(&digest);
        assert_eq!(on_disk.get(&digest), Some(report("kept")));
        let memory_only = KnownContents::default();
        assert_eq!(memory_only.get(&[8; 32]), None);
    }

    #[test]
    fn a_damaged_verdict_file_is_no_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let known = KnownContents {
            dir: Some(dir.path().to_path_buf()),
        };
        let digest = [9; 32];
        std::fs::write(known.file(&digest).unwrap(), "{ not json").unwrap();
        assert_eq!(known.get(&digest), None);
    }

    #[test]
    fn the_digest_is_of_the_whole_file_from_its_start() {
        use std::io::Write;
        let mut file = tempfile::tempfile().unwrap();
        let contents: Vec<u8> = (0..200_000u32).map(|n| n.to_le_bytes()[0]).collect();
        file.write_all(&contents).unwrap();
        assert_eq!(digest(&file).unwrap(), *blake3::hash(&contents).as_bytes());
    }
}
