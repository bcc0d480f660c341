//! Loading one candidate file and checking it before any use: is it a
//! shared library, does it export a PDK root module, is its interface
//! version compatible, does every layout match. Each file is loaded on its
//! own (abi_stable's `RootModule::load_from_file` would cache the first
//! plugin for the whole process).

use std::path::{Path, PathBuf};

use abi_stable::library::{
    lib_header_from_raw_library, LibraryError, RawLibrary, RootModuleError, ROOT_MODULE_LOADER_NAME,
};
use object::Object;
use pdk::abi::connector::ConnectorTypeInfo;
use pdk::abi::module::PluginModuleRef;
use pdk::abi::INTERFACE_VERSION;
use serde::Serialize;

use crate::host;
use crate::trust::TrustPolicy;

/// Who built a plugin, and with what (owned copy of its metadata).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginInfo {
    /// The plugin crate's package name.
    pub name: String,
    /// The plugin crate's package version.
    pub version: String,
    /// The `pdk` version it was built with.
    pub pdk_version: String,
    /// The compiler that built it.
    pub rustc_version: String,
}

/// A connector type a plugin exports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectorKind {
    /// The name used in flow files.
    pub name: String,
    /// Whether it has a source side.
    pub source: bool,
    /// Whether its source side wants acks and fails.
    pub transactional: bool,
    /// Whether it has a sink side.
    pub sink: bool,
}

impl From<ConnectorTypeInfo> for ConnectorKind {
    fn from(info: ConnectorTypeInfo) -> Self {
        Self {
            name: info.name.into_string(),
            source: info.source,
            transactional: info.transactional,
            sink: info.sink,
        }
    }
}

/// A plugin that passed every check. Its library stays loaded for the
/// life of the process: its code may run until the end.
#[derive(Clone)]
pub struct LoadedPlugin {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// Its metadata.
    pub info: PluginInfo,
    /// The connector types it exports.
    pub connectors: Vec<ConnectorKind>,
    /// Its root module.
    pub module: PluginModuleRef,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("path", &self.path)
            .field("info", &self.info)
            .field("connectors", &self.connectors)
            .finish_non_exhaustive()
    }
}

/// Loads and checks the library at `path`; the error is a one-line reason
/// a user can act on.
///
/// # Errors
/// When the file is not a loadable, compatible PDK plugin.
pub fn load(path: &Path, trust: Option<&TrustPolicy>) -> Result<LoadedPlugin, String> {
    let kind = std::fs::symlink_metadata(path)
        .map_err(|e| format!("cannot be read ({e}); check the file's permissions"))?
        .file_type();
    if kind.is_symlink() {
        return Err(String::from(
            "is a symbolic link, and the plugin path does not follow symlinks; \
             put the file itself (or its directory) in the plugin path",
        ));
    }
    if kind.is_dir() {
        return Err(String::from(
            "is a directory named like a library; rename it or move it out of the plugin path",
        ));
    }
    if !kind.is_file() {
        return Err(String::from(
            "is not a regular file (a FIFO, socket or device named like a library); \
             remove it from the plugin path",
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot be read ({e}); check the file's permissions"))?;
    if let Some(trust) = trust {
        trust.check(&bytes)?;
    }
    precheck(&bytes)?;
    let library = RawLibrary::load_at(path).map_err(|e| reason(&e))?;
    // SAFETY: the header is read from a library we keep loaded for the
    // whole process (it is leaked below on success), so its `'static`
    // references never dangle. The symbol's type is checked by abi_stable
    // through the header's magic string and version before it is used.
    let header = unsafe { lib_header_from_raw_library(&library) }.map_err(|e| reason(&e))?;
    let module = header
        .init_root_module::<PluginModuleRef>()
        .map_err(|e| reason(&e))?;
    std::mem::forget(library);
    (module.install_host())(host::services());
    let metadata = (module.metadata())();
    let info = PluginInfo {
        name: metadata.name.to_string(),
        version: metadata.version.to_string(),
        pdk_version: metadata.pdk_version.to_string(),
        rustc_version: metadata.rustc_version.to_string(),
    };
    let connectors = (module.connector_types())()
        .into_iter()
        .map(ConnectorKind::from)
        .collect();
    Ok(LoadedPlugin {
        path: path.to_path_buf(),
        info,
        connectors,
        module,
    })
}

/// Reads the file as an object file and looks for the PDK root-module
/// symbol among its exports, so that a file that is not a plugin is
/// rejected without being handed to the dynamic loader (which would run
/// its constructors).
fn precheck(bytes: &[u8]) -> Result<(), String> {
    let file = object::File::parse(bytes).map_err(|_| {
        if bytes.starts_with(b"\x7fELF") {
            return String::from(
                "a damaged or truncated shared library (its ELF structure cannot be read); \
                 rebuild it or copy it again",
            );
        }
        String::from("not a shared library (unknown file format); remove it from the plugin path")
    })?;
    if file.kind() != object::ObjectKind::Dynamic {
        return Err(String::from(
            "an object file but not a shared library; build the plugin crate with `crate-type = [\"cdylib\"]` or remove the file from the plugin path",
        ));
    }
    let exports = file.exports().map_err(|e| {
        format!("a damaged shared library ({e}); rebuild it or remove it from the plugin path")
    })?;
    let root = object::NameOrOrdinal::Name(ROOT_MODULE_LOADER_NAME.as_bytes());
    if exports
        .filter_map(Result::ok)
        .any(|export| export.name() == root)
    {
        Ok(())
    } else {
        Err(String::from(NOT_A_PLUGIN))
    }
}

/// The reason for a shared library without the PDK root module.
const NOT_A_PLUGIN: &str = "not a PDK plugin: it exports no PDK root module; build it with `#[pdk_export]` or remove it from the plugin path";

/// A one-line, actionable reason for a library that failed to load.
fn reason(error: &LibraryError) -> String {
    match error {
        LibraryError::OpenError { err, .. } => format!(
            "not a loadable shared library ({}); remove it from the plugin path",
            one_line(&err.to_string())
        ),
        LibraryError::GetSymbolError { .. } => String::from(NOT_A_PLUGIN),
        LibraryError::InvalidAbiHeader(_) => String::from(
            "built with an incompatible abi_stable version; rebuild it against this runtime's pdk",
        ),
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => format!(
            "built for PDK interface {actual_version}, this runtime needs {expected_version}; \
             rebuild the plugin against pdk {INTERFACE_VERSION}"
        ),
        LibraryError::ParseVersionError(e) => format!(
            "its PDK interface version is unreadable ({e}); rebuild it against pdk {INTERFACE_VERSION}"
        ),
        LibraryError::AbiInstability(report) => {
            log::debug!("layout mismatch report: {report}");
            format!(
                "its interface layout does not match this runtime's (built against another pdk); \
                 rebuild it against pdk {INTERFACE_VERSION}"
            )
        }
        LibraryError::RootModule { err, .. } => match err {
            RootModuleError::Unwound => String::from(
                "its root module panicked while initializing; fix the plugin's initialization",
            ),
            other => format!(
                "its root module failed to initialize ({}); fix the plugin",
                one_line(&other.to_string())
            ),
        },
        other => one_line(&other.to_string()),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
