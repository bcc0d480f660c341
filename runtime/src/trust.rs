//! The trust policy: an optional list of allowed SHA-256 digests. A
//! candidate whose digest is not on it is rejected before the dynamic
//! loader ever opens it (opening runs the library's constructors).
//!
//! The file holds one digest per line, as `sha256sum` prints them
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

/// The digests a runtime may load.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    file: PathBuf,
    allowed: HashSet<String>,
}

impl TrustPolicy {
    /// The file the policy was read from.
    #[must_use]
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Reads the policy file at `file`.
    ///
    /// # Errors
    /// If it cannot be read or a line is not a SHA-256 digest.
    pub fn load(file: &Path) -> Result<Self, TrustError> {
        let error = |location: String, problem: String, fix: &str| TrustError {
            file: file.display().to_string(),
            location,
            problem,
            fix: fix.to_owned(),
        };
        let text = std::fs::read_to_string(file).map_err(|e| {
            error(
                String::from("file"),
                format!("cannot be read: {e}"),
                "check the path given to --trust",
            )
        })?;
        let mut allowed = HashSet::new();
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
                    "write one digest per line, as `sha256sum FILE` prints it",
                ));
            }
            allowed.insert(digest);
        }
        Ok(Self {
            file: file.to_path_buf(),
            allowed,
        })
    }

    /// `Ok` if the library open as `file` is allowed; otherwise the reason
    /// to reject it. The file is hashed as a stream, from its start.
    ///
    /// # Errors
    /// Why it is rejected.
    pub fn check(&self, mut file: &File) -> Result<(), Untrusted> {
        let mut hasher = Sha256::new();
        file.seek(SeekFrom::Start(0))
            .and_then(|_| std::io::copy(&mut file, &mut hasher))
            .map_err(Untrusted::Unreadable)?;
        let digest = hex(&hasher.finalize());
        if self.allowed.contains(&digest) {
            Ok(())
        } else {
            Err(Untrusted::NotListed {
                policy: self.file.clone(),
                digest,
            })
        }
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
}
