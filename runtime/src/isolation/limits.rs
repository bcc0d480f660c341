//! What an isolated connector's process may use (`limits` in the flow
//! file), set with `setrlimit` by the process itself before it loads the
//! plugin: a connector that goes past one fails alone.

use serde::{Deserialize, Serialize};

/// The limits of one isolated connector; each is unlimited when absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Address space, in MiB (`RLIMIT_AS`): an allocation past it fails,
    /// which ends the process.
    #[serde(default)]
    pub memory_mb: Option<u64>,
    /// Open file descriptors (`RLIMIT_NOFILE`).
    #[serde(default)]
    pub open_files: Option<u64>,
    /// CPU time, in seconds (`RLIMIT_CPU`): past it the process gets
    /// SIGXCPU, then SIGKILL.
    #[serde(default)]
    pub cpu_seconds: Option<u64>,
    /// How long one poll of the connector may block the process's thread
    /// before the process ends itself (a crash of the connector, which is
    /// restarted): a blocked or deadlocked connector does not hold its
    /// events for ever. 30 000 when absent.
    #[serde(default)]
    pub unresponsive_ms: Option<u64>,
}

/// How long a poll may block by default before the process ends itself.
pub const DEFAULT_UNRESPONSIVE_MS: u64 = 30_000;

impl Limits {
    /// Sets these limits on the calling process.
    ///
    /// # Errors
    /// When the operating system refuses one (above the hard limit, say).
    pub fn apply(&self) -> std::io::Result<()> {
        let chosen = [
            (
                libc::RLIMIT_AS,
                self.memory_mb.map(|mb| mb.saturating_mul(1 << 20)),
            ),
            (libc::RLIMIT_NOFILE, self.open_files),
            (libc::RLIMIT_CPU, self.cpu_seconds),
        ];
        for (resource, limit) in chosen {
            let Some(limit) = limit else {
                continue;
            };
            let limit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // SAFETY: `limit` is a valid, initialized rlimit that lives
            // across the call; setrlimit only reads it.
            if unsafe { libc::setrlimit(resource, &limit) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}
