//! The workspace: where it is, its bundled connectors, and running cargo
//! in it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's root directory.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `cargo`, as the one running this task, in the workspace.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

/// Runs `command`; an error says which command failed.
pub fn run(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed ({status})"))
    }
}

/// A bundled connector: its directory in `connectors/` is its library's
/// name; its package is `pdk-` and the name with dashes.
pub struct Bundled {
    /// The library name (`tcp_server`).
    pub name: String,
}

impl Bundled {
    /// The package name (`pdk-tcp-server`).
    pub fn package(&self) -> String {
        format!("pdk-{}", self.name.replace('_', "-"))
    }

    /// The plugin file's name on this platform (`libtcp_server.so`).
    pub fn library_file(&self) -> String {
        format!(
            "{}{}.{}",
            std::env::consts::DLL_PREFIX,
            self.name,
            std::env::consts::DLL_EXTENSION
        )
    }
}

/// Every bundled connector, by name.
pub fn bundled() -> Result<Vec<Bundled>, String> {
    let dir = root().join("connectors");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut bundled: Vec<Bundled> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| Bundled {
            name: entry.file_name().to_string_lossy().into_owned(),
        })
        .collect();
    bundled.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(bundled)
}
