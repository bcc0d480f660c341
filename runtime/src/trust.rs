//! The trust policy: an optional list of the SHA-256 digests a runtime
//! may open, and an optional list of those whose connectors may run in
//! the runtime's own process. A candidate not on the first is rejected
//! before the dynamic loader ever opens it (opening runs the library's
//! constructors); the connectors of a plugin not on the second run in a
//! process of their own, whatever their flow file says.
//!
//! Each file holds one digest per line, as `sha256sum` prints them
//! (`DIGEST  NAME`; the name is ignored); blank lines and `#` comments are
//! skipped, so `sha256sum plugins/*.so > trusted.txt` makes one.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A bad trust-policy file: which, where, and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {location}: {problem}; fix: {fix}")]
pub struct TrustError {
    file: String,
    location: String,
    problem: String,
    fix: String,
}

/// The digests a runtime may load, and those it may run in its process.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// Only these may be opened (`--trust`); any, without it.
    allowed: Option<DigestList>,
    /// Only these run in the runtime's process (`--in-process`); all,
    /// without it.
    in_process: Option<DigestList>,
}

/// Digests read from a file.
#[derive(Debug, Clone)]
struct DigestList {
    file: PathBuf,
    digests: HashSet<String>,
}

/// Where the connectors of an allowed plugin run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In the runtime's process, unless their flow file says otherwise.
    InProcess,
    /// In a process of their own: the plugin is not on the in-process list.
    Isolated,
}

impl TrustPolicy {
    /// The policy of the allow-list in `file` (`--trust`).
    ///
    /// # Errors
    /// If it cannot be read or a line is not a SHA-256 digest.
    pub fn load(file: &Path) -> Result<Self, TrustError> {
        Ok(Self {
            allowed: Some(DigestList::load(file, "--trust")?),
            in_process: None,
        })
    }

    /// This policy, with the in-process list in `file` (`--in-process`).
    ///
    /// # Errors
    /// If it cannot be read or a line is not a SHA-256 digest.
    pub fn in_process_only(self, file: &Path) -> Result<Self, TrustError> {
        Ok(Self {
            in_process: Some(DigestList::load(file, "--in-process")?),
            ..self
        })
    }

    /// The file of the allow-list, if there is one.
    #[must_use]
    pub fn file(&self) -> Option<&Path> {
        self.allowed.as_ref().map(|list| list.file.as_path())
    }

    /// Where the library open as `file` runs, if it may be opened at all;
    /// otherwise the reason to reject it. The file is hashed (as a stream,
    /// from its start) only when a list asks for its digest.
    ///
    /// # Errors
    /// Why it is rejected.
    pub fn check(&self, mut file: &File) -> Result<Placement, Untrusted> {
        if self.allowed.is_none() && self.in_process.is_none() {
            return Ok(Placement::InProcess);
        }
        let mut hasher = Sha256::new();
        file.seek(SeekFrom::Start(0))
            .and_then(|_| std::io::copy(&mut file, &mut hasher))
            .map_err(Untrusted::Unreadable)?;
        let digest = hex(&hasher.finalize());
        if let Some(allowed) = &self.allowed {
            if !allowed.digests.contains(&digest) {
                return Err(Untrusted::NotListed {
                    policy: allowed.file.clone(),
                    digest,
                });
            }
        }
        Ok(match &self.in_process {
            Some(list) if !list.digests.contains(&digest) => Placement::Isolated,
            _ => Placement::InProcess,
        })
    }
}

impl DigestList {
    /// Reads the digests of `file`, given with `option`.
    fn load(file: &Path, option: &str) -> Result<Self, TrustError> {
        let error = |location: String, problem: String, fix: String| TrustError {
            file: file.display().to_string(),
            location,
            problem,
            fix,
        };
        let text = std::fs::read_to_string(file).map_err(|e| {
            error(
                String::from("file"),
                format!("cannot be read: {e}"),
                format!("check the path given to {option}"),
            )
        })?;
        let mut digests = HashSet::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let digest = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(error(
                    format!("line {}", number + 1),
                    format!("`{digest}` is not a SHA-256 digest (64 hexadecimal digits)"),
                    String::from("write one digest per line, as `sha256sum FILE` prints it"),
                ));
            }
            digests.insert(digest);
        }
        Ok(Self {
            file: file.to_path_buf(),
            digests,
        })
    }
}

/// Why the trust policy rejects a file.
#[derive(Debug, thiserror::Error)]
pub enum Untrusted {
    /// It could not be read to be hashed.
    #[error("cannot be read ({0}); check the file's permissions")]
    Unreadable(std::io::Error),
    /// Its digest is not in the policy.
    #[error(
        "not in the trust policy {} (sha256 {digest}); it was not opened; add its digest to \
         the policy to trust it",
        .policy.display()
    )]
    NotListed {
        /// The policy file.
        policy: PathBuf,
        /// The file's SHA-256 digest, in hex.
        digest: String,
    },
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256sum_output_is_a_policy() {
        let dir = std::env::temp_dir().join(format!("pdk-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("trusted.txt");
        // sha256("abc")
        let digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        std::fs::write(
            &file,
            format!("# plugins we trust\n\n{digest}  libabc.so\n"),
        )
        .unwrap();
        let policy = TrustPolicy::load(&file).unwrap();
        let library = |bytes: &[u8]| {
            let path = dir.join("lib.so");
            std::fs::write(&path, bytes).unwrap();
            File::open(path).unwrap()
        };
        assert!(policy.check(&library(b"abc")).is_ok());
        let reason = policy.check(&library(b"abd")).unwrap_err();
        assert!(matches!(reason, Untrusted::NotListed { .. }), "{reason}");
        assert!(
            reason
                .to_string()
                .starts_with(&format!("not in the trust policy {}", file.display())),
            "{reason}"
        );
        std::fs::write(&file, "not-a-digest\n").unwrap();
        let error = TrustPolicy::load(&file).unwrap_err().to_string();
        assert!(
            error.contains(": line 1: `not-a-digest` is not a SHA-256 digest"),
            "{error}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_plugin_off_the_in_process_list_is_placed_in_a_process_of_its_own() {
        let dir = std::env::temp_dir().join(format!("pdk-in-process-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let list = dir.join("in-process.txt");
        // sha256("abc")
        let digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        std::fs::write(&list, format!("{digest}  libabc.so\n")).unwrap();
        let library = |bytes: &[u8]| {
            let path = dir.join("lib.so");
            std::fs::write(&path, bytes).unwrap();
            File::open(path).unwrap()
        };
        let everything = TrustPolicy::default();
        assert_eq!(
            everything.check(&library(b"abd")).unwrap(),
            Placement::InProcess
        );
        let policy = TrustPolicy::default().in_process_only(&list).unwrap();
        assert_eq!(policy.file(), None);
        assert_eq!(
            policy.check(&library(b"abc")).unwrap(),
            Placement::InProcess
        );
        assert_eq!(policy.check(&library(b"abd")).unwrap(), Placement::Isolated);
        let missing = TrustPolicy::default()
            .in_process_only(&dir.join("missing.txt"))
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("check the path given to --in-process"),
            "{missing}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
