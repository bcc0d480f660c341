//! Loading one candidate file and checking it before any use: is it a
//! shared library, does it export a PDK root module, is its interface
//! version compatible, does every layout match. Each file is loaded on its
//! own (abi_stable's `RootModule::load_from_file` would cache the first
//! plugin for the whole process).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use abi_stable::library::{AbiHeaderRef, LibHeader, LibraryError, RawLibrary, RootModuleError};
use object::Object;
use pdk::abi::connector::ConnectorTypeInfo;
use pdk::abi::module::{PluginModuleRef, ROOT_MODULE_SYMBOL_PREFIX};
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
    /// Whether it was built with debug assertions (a debug build).
    pub debug_assertions: bool,
}

impl PluginInfo {
    /// `debug build` or `release build`, for people.
    #[must_use]
    pub fn build(&self) -> &'static str {
        if self.debug_assertions {
            "debug build"
        } else {
            "release build"
        }
    }
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
    /// When the file was last modified, if the file system says.
    pub modified: Option<SystemTime>,
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
    let kind_metadata = std::fs::symlink_metadata(path)
        .map_err(|e| format!("cannot be read ({e}); check the file's permissions"))?;
    let kind = kind_metadata.file_type();
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
    let root = precheck(&bytes)?;
    let library = RawLibrary::load_at(path).map_err(|e| reason(&e))?;
    // SAFETY: the header is read from a library we keep loaded for the
    // whole process (it is leaked below on success), so its `'static`
    // references never dangle. The symbol's type is checked by abi_stable
    // through the header's magic string and version before it is used.
    let header = unsafe { plugin_header(&library, &root) }.map_err(|e| reason(&e))?;
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
        debug_assertions: metadata.debug_assertions,
    };
    let connectors = (module.connector_types())()
        .into_iter()
        .map(ConnectorKind::from)
        .collect();
    Ok(LoadedPlugin {
        path: path.to_path_buf(),
        modified: kind_metadata.modified().ok(),
        info,
        connectors,
        module,
    })
}

/// Reads the file as an object file and looks for the PDK root-module
/// symbol among its exports, so that a file that is not a plugin is
/// rejected without being handed to the dynamic loader (which would run
/// its constructors); returns the symbol's name.
fn precheck(bytes: &[u8]) -> Result<String, String> {
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
    let mut roots: Vec<String> = exports
        .filter_map(Result::ok)
        .filter_map(|export| match export.name() {
            object::NameOrOrdinal::Name(name) => std::str::from_utf8(name).ok().map(str::to_owned),
            object::NameOrOrdinal::Ordinal(_) => None,
        })
        .filter(|name| name.starts_with(ROOT_MODULE_SYMBOL_PREFIX))
        .collect();
    roots.sort_unstable();
    match roots.len() {
        0 => Err(String::from(NOT_A_PLUGIN)),
        1 => Ok(roots.remove(0)),
        _ => Err(format!(
            "exports several PDK root modules (`{}`): one crate per plugin library has \
             `#[pdk_export]`; keep it in one",
            roots.join("`, `")
        )),
    }
}

/// The header of `library`, exported as `symbol`, checked by abi_stable
/// (its abi_stable version and C-ABI tests) and its globals initialized.
///
/// # Safety
/// `symbol` must be the name of a static of type `LibHeader` in
/// `library`, as `#[pdk_export]` exports it (its name starts with
/// [`ROOT_MODULE_SYMBOL_PREFIX`], checked by [`precheck`]), and `library`
/// must stay loaded for the rest of the process.
unsafe fn plugin_header(
    library: &RawLibrary,
    symbol: &str,
) -> Result<&'static LibHeader, LibraryError> {
    let mut name = symbol.as_bytes().to_vec();
    name.push(0);
    // SAFETY: the symbol is the address of a `LibHeader`, which starts with
    // the `AbiHeader` that `AbiHeaderRef` points to (the caller's promise);
    // `upgrade` checks that header before anything else is read.
    let header: AbiHeaderRef = unsafe { *library.get::<AbiHeaderRef>(&name)? };
    header.upgrade()
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
