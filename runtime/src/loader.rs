//! Loading one candidate file and checking it before any use: is it a
//! shared library, does it export a PDK root module, is its interface
//! version compatible, does every layout match. Each file is loaded on its
//! own (abi_stable's `RootModule::load_from_file` would cache the first
//! plugin for the whole process).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
use abi_stable::library::{AbiHeaderRef, LibHeader, LibraryError, RawLibrary, RootModuleError};
use abi_stable::StableAbi;
use object::read::ReadCache;
use object::Object;
use pdk::abi::connector::{ConnectorTypeInfo, USES_TOKIO};
use pdk::abi::module::{
    PluginMetadataRef, PluginModuleRef, PANIC_UNWIND, ROOT_MODULE_SYMBOL_PREFIX, SYSTEM_ALLOCATOR,
};
use pdk::abi::value::{PdkScalar, PdkValue};
use pdk::abi::INTERFACE_VERSION;
use pdk::SDK_VERSION;
use serde::{Deserialize, Serialize};

use crate::discovery::RUST_LIBRARY_EXTENSION;
use crate::host;
use crate::printable::printable;
use crate::trust::{Placement, TrustPolicy, Untrusted};

/// Who built a plugin, and with what (owned copy of its metadata).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// The plugin crate's package name.
    pub name: String,
    /// The plugin crate's package version.
    pub version: String,
    /// The SDK (`pdk-sdk`) version it was built with.
    pub pdk_version: String,
    /// The plugin interface version it was built for.
    pub interface_version: String,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorKind {
    /// The name used in flow files.
    pub name: String,
    /// Whether it has a source side.
    pub source: bool,
    /// Whether its source side wants acks and fails.
    pub transactional: bool,
    /// Whether it has a sink side.
    pub sink: bool,
    /// Whether its crate runs on tokio (interface 0.3.2; `false` from an
    /// older plugin): its pipeline may then run on the plugin's tokio
    /// thread.
    #[serde(default)]
    pub uses_tokio: bool,
}

impl From<ConnectorTypeInfo> for ConnectorKind {
    fn from(info: ConnectorTypeInfo) -> Self {
        Self {
            uses_tokio: matches!(
                info.extensions.get(USES_TOKIO),
                Some(PdkValue::Static(PdkScalar::Bool(true)))
            ),
            name: info.name.into_string(),
            source: info.source,
            transactional: info.transactional,
            sink: info.sink,
        }
    }
}

/// What a plugin says of itself, as a vetting child reports it: enough to
/// decide whether to load it here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginReport {
    /// Its metadata.
    pub info: PluginInfo,
    /// The connector types it exports.
    pub connectors: Vec<ConnectorKind>,
}

impl PluginReport {
    /// The report of a loaded plugin.
    #[must_use]
    pub fn of(plugin: &LoadedPlugin) -> Self {
        Self {
            info: plugin.info.clone(),
            connectors: plugin.connectors.clone(),
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
    /// Where its connectors run, by the trust policy.
    pub placement: Placement,
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

/// The largest candidate file the loader reads: a release plugin is a few
/// MiB, a debug build with every dependency some hundreds.
pub const MAX_PLUGIN_BYTES: u64 = 1 << 30;

/// Why a candidate file is not loaded, by the check that found it; each
/// shows as the one line a user reads in `plugins list` and the log.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    /// The file itself: its kind, size or permissions, before it is read.
    #[error("{0}")]
    File(String),
    /// The trust policy does not allow it.
    #[error(transparent)]
    Untrusted(#[from] Untrusted),
    /// Its structure, read without loading it: not a PDK plugin, or one
    /// of another interface or machine.
    #[error("{0}")]
    Structure(String),
    /// Loading it: the dynamic loader, the abi_stable header, the
    /// interface version and layout, the root module.
    #[error("{0}")]
    Interface(String),
    /// How it was built: its panic strategy or allocator.
    #[error("{0}")]
    Build(String),
    /// The plugin's own code failed (listing its connector types).
    #[error("{0}")]
    Plugin(String),
    /// Vetting it in a child process: the child crashed, hung or could
    /// not be started.
    #[error("{0}")]
    Vetting(String),
    /// The reason a vetting child found, as it reported it.
    #[error("{0}")]
    Reported(String),
}

/// Loads and checks the library at `path` in this process; the error is a
/// one-line reason a user can act on. Without vetting: the runtime itself
/// loads each file in a child process first (see [`crate::Vetting`]).
///
/// # Errors
/// When the file is not a loadable, compatible PDK plugin.
pub fn load(path: &Path, trust: Option<&TrustPolicy>) -> Result<LoadedPlugin, Rejected> {
    Opened::open(path, trust)?.load()
}

/// A candidate file, copied into memory of the runtime's own, that passed
/// every check made without loading it: a regular file within
/// [`MAX_PLUGIN_BYTES`], on the trust policy if there is one, a shared
/// library exporting one PDK root module.
///
/// The file at the path is read once, into a sealed `memfd` (an anonymous
/// file no other process can open and nobody can change, see
/// [`private_copy`]); everything after goes through that copy: what is
/// hashed, checked, vetted and, in the end, handed to the dynamic loader
/// (as `/proc/self/fd/N`) is the one copy, whatever happens to the file on
/// the plugin path meanwhile or later. So a plugin file overwritten in
/// place while it is loaded (`cp`, or a build writing into the plugin
/// directory) cannot touch the code that runs.
#[derive(Debug)]
pub struct Opened {
    path: PathBuf,
    file: File,
    modified: Option<SystemTime>,
    root: String,
    placement: Placement,
}

impl Opened {
    /// Opens `path` and checks it without loading it.
    ///
    /// # Errors
    /// The one-line reason to reject the file.
    pub fn open(path: &Path, trust: Option<&TrustPolicy>) -> Result<Self, Rejected> {
        if path
            .extension()
            .is_some_and(|ext| ext == RUST_LIBRARY_EXTENSION)
        {
            return Err(Rejected::File(String::from(
                "a Rust library with a PDK plugin in it, but no plugin file was built from it; \
                 add `crate-type = [\"cdylib\"]` to the `[lib]` section of its Cargo.toml and \
                 rebuild",
            )));
        }
        let kind = std::fs::symlink_metadata(path)
            .map_err(unreadable)?
            .file_type();
        if kind.is_symlink() {
            return Err(Rejected::File(String::from(
                "is a symbolic link, and the plugin path does not follow symlinks; \
                 put the file itself (or its directory) in the plugin path",
            )));
        }
        if kind.is_dir() {
            return Err(Rejected::File(String::from(
                "is a directory named like a library; rename it or move it out of the plugin path",
            )));
        }
        // `O_NOFOLLOW`: a symlink swapped in since the check above is
        // refused; `O_NONBLOCK`: a FIFO swapped in does not block the open.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(unreadable)?;
        let metadata = check_metadata(&file)?;
        let copy = private_copy(&file, path).map_err(|e| match e {
            CopyError::TooLarge => Rejected::File(too_large(MAX_PLUGIN_BYTES + 1)),
            CopyError::Io(e) => Rejected::File(copy_failed(&e)),
        })?;
        Self::checked(path.to_path_buf(), copy, metadata.modified().ok(), trust)
    }

    /// Checks the private copy already open as `file` (shown as `path`),
    /// as a vetting child gets it.
    ///
    /// # Errors
    /// The one-line reason to reject the file.
    pub fn from_file(path: PathBuf, file: File) -> Result<Self, Rejected> {
        let modified = check_metadata(&file)?.modified().ok();
        Self::checked(path, file, modified, None)
    }

    fn checked(
        path: PathBuf,
        file: File,
        modified: Option<SystemTime>,
        trust: Option<&TrustPolicy>,
    ) -> Result<Self, Rejected> {
        let placement = match trust {
            Some(trust) => trust.check(&file)?,
            None => Placement::InProcess,
        };
        let root = precheck(&file).map_err(Rejected::Structure)?;
        Ok(Self {
            path,
            file,
            modified,
            root,
            placement,
        })
    }

    /// The path the file was opened at.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// When the file on the plugin path was last modified, if known.
    #[must_use]
    pub fn modified(&self) -> Option<SystemTime> {
        self.modified
    }

    /// The private copy, for reading it in place.
    #[must_use]
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The open file, for a vetting process to load the same file.
    ///
    /// # Errors
    /// If the descriptor cannot be duplicated.
    pub fn duplicate(&self) -> std::io::Result<File> {
        self.file.try_clone()
    }

    /// Loads the file in this process and checks its interface.
    ///
    /// # Errors
    /// The one-line reason to reject the file.
    pub fn load(self) -> Result<LoadedPlugin, Rejected> {
        let Self {
            path,
            file,
            modified,
            root,
            placement,
        } = self;
        let descriptor = file.into_raw_fd();
        // The descriptor stays open for the rest of the process: the
        // dynamic loader knows the library by this name, and would take a
        // later file at the same descriptor number for it.
        let library = RawLibrary::load_at(Path::new(&format!("/proc/self/fd/{descriptor}")))
            .map_err(|e| Rejected::Interface(reason(&e)))?;
        // SAFETY: the header is read from a library we keep loaded for the
        // whole process (it is leaked below on success), so its `'static`
        // references never dangle; `root` is the one PDK root-module
        // symbol `precheck` found in this very file.
        let header = unsafe { plugin_header(&library, &root) }
            .map_err(|e| Rejected::Interface(reason(&e)))?;
        let module = root_module(header).map_err(|e| {
            Rejected::Interface(match e {
                LibraryError::AbiInstability(report) => {
                    log::debug!("layout mismatch report: {report}");
                    layout_mismatch(&header.version_strings().to_string())
                }
                other => reason(&other),
            })
        })?;
        std::mem::forget(library);
        let metadata = module.metadata();
        // Before any of the plugin's own code runs.
        check_build(metadata).map_err(Rejected::Build)?;
        (module.install_host())(host::services());
        let info = PluginInfo {
            name: metadata.name().to_string(),
            version: metadata.version().to_string(),
            pdk_version: metadata.sdk_version().to_string(),
            interface_version: metadata.interface_version().to_string(),
            rustc_version: metadata.rustc_version().to_string(),
            debug_assertions: metadata.debug_assertions(),
        };
        let connectors = (module.connector_types())()
            .into_result()
            .map_err(|error| {
                Rejected::Plugin(format!(
                    "listing its connector types failed: {}; fix the plugin",
                    error.message
                ))
            })?
            .into_iter()
            .map(ConnectorKind::from)
            .collect();
        Ok(LoadedPlugin {
            path,
            modified,
            info,
            connectors,
            module,
            placement,
        })
    }
}

/// The metadata of the candidate open as `file`, if it is a regular file
/// within [`MAX_PLUGIN_BYTES`].
fn check_metadata(file: &File) -> Result<std::fs::Metadata, Rejected> {
    let metadata = file.metadata().map_err(unreadable)?;
    if !metadata.is_file() {
        return Err(Rejected::File(String::from(
            "is not a regular file (a FIFO, socket or device named like a library); \
             remove it from the plugin path",
        )));
    }
    if metadata.len() > MAX_PLUGIN_BYTES {
        return Err(Rejected::File(too_large(metadata.len())));
    }
    Ok(metadata)
}

fn unreadable(error: std::io::Error) -> Rejected {
    Rejected::File(format!(
        "cannot be read ({error}); check the file's permissions"
    ))
}

fn too_large(len: u64) -> String {
    format!(
        "is {len} bytes, more than the {MAX_PLUGIN_BYTES} a plugin file may have; remove it \
         from the plugin path"
    )
}

/// Why a candidate could not be copied.
#[derive(Debug)]
enum CopyError {
    /// It grew beyond [`MAX_PLUGIN_BYTES`] while it was copied.
    TooLarge,
    /// Creating, writing or sealing the copy failed.
    Io(std::io::Error),
}

fn copy_failed(error: &std::io::Error) -> String {
    if resources_exhausted(error) {
        format!(
            "could not be copied into memory ({error}): the runtime is out of file descriptors \
             or memory; raise `ulimit -n`, or load fewer plugins"
        )
    } else {
        format!("could not be copied into memory ({error}); check the file's permissions")
    }
}

/// Whether `error` says that the process ran out of descriptors,
/// processes or memory (not that anything is wrong with a file).
pub(crate) fn resources_exhausted(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::EAGAIN | libc::ENOMEM)
    )
}

/// Copies the candidate open as `file` (at `path`) into a new `memfd`
/// sealed against any change (no write, no resize, no new seal), at most
/// [`MAX_PLUGIN_BYTES`] of it.
fn private_copy(file: &File, path: &Path) -> Result<File, CopyError> {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = std::ffi::CString::new(format!("pdk-plugin:{name}").replace('\0', "?"))
        .map_err(|e| CopyError::Io(std::io::Error::other(e)))?;
    // SAFETY: `name` is a valid NUL-terminated string; the flags are
    // valid for memfd_create(2).
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(CopyError::Io(std::io::Error::last_os_error()));
    }
    // SAFETY: memfd_create returned a new descriptor that nothing else owns.
    let mut copy = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let copied =
        copy_through_buffer(file, &mut copy, MAX_PLUGIN_BYTES + 1).map_err(CopyError::Io)?;
    if copied > MAX_PLUGIN_BYTES {
        return Err(CopyError::TooLarge);
    }
    // F_SEAL_FUTURE_WRITE, not F_SEAL_WRITE: both refuse every write from
    // now on (nothing has mapped the copy), but F_SEAL_WRITE also waits for
    // every extra reference to the copy's pages to go, and a page written
    // a moment ago can still be referenced from another CPU's batch of
    // pages to put on the LRU list: under load it failed with EBUSY.
    let seals =
        libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_FUTURE_WRITE;
    // SAFETY: `copy` is an open memfd created with MFD_ALLOW_SEALING, so
    // adding these seals is valid.
    if unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(CopyError::Io(std::io::Error::last_os_error()));
    }
    Ok(copy)
}

/// Copies at most `limit` bytes of `file` into `copy` through a buffer of
/// this process, and returns how many. Not `std::io::copy`: its zero-copy
/// paths (`copy_file_range`, splice) can leave the memfd's pages pinned
/// while the pipe or the copy is in flight.
fn copy_through_buffer(mut file: &File, copy: &mut File, limit: u64) -> std::io::Result<u64> {
    let mut buffer = vec![0; 1 << 16];
    let mut copied = 0;
    while copied < limit {
        let wanted =
            usize::try_from(limit - copied).map_or(buffer.len(), |left| left.min(buffer.len()));
        match file.read(&mut buffer[..wanted]) {
            Ok(0) => break,
            Ok(n) => {
                copy.write_all(&buffer[..n])?;
                copied += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(copied)
}

/// Checks what the plugin's metadata says about its build: containment
/// needs its panics to unwind, and buffers change hands only between
/// libraries on the same allocator.
fn check_build(metadata: PluginMetadataRef) -> Result<(), String> {
    let panic_strategy = metadata.panic_strategy();
    if panic_strategy.as_str() != PANIC_UNWIND {
        return Err(format!(
            "built with `panic = \"{}\"`: any panic in it would end the runtime instead of \
             failing one call; remove `panic = \"abort\"` from the `[profile]` sections of its \
             Cargo.toml (or its workspace's) and rebuild it",
            printable(panic_strategy.as_str())
        ));
    }
    let allocator = metadata.allocator();
    if allocator.as_str() != SYSTEM_ALLOCATOR {
        return Err(format!(
            "hands over buffers from the `{}` allocator, this runtime needs `{SYSTEM_ALLOCATOR}`; \
             rebuild it against pdk {SDK_VERSION}",
            printable(allocator.as_str())
        ));
    }
    Ok(())
}

/// Reads the file as an object file and looks for the PDK root-module
/// symbol among its exports, so that a file that is not a plugin is
/// rejected without being handed to the dynamic loader (which would run
/// its constructors); returns the symbol's name.
fn precheck(file: &File) -> Result<String, String> {
    let mut magic = [0u8; 4];
    let is_elf = file.read_exact_at(&mut magic, 0).is_ok() && magic == *b"\x7fELF";
    let cache = ReadCache::new(file);
    let file = object::File::parse(&cache).map_err(|_| {
        if is_elf {
            return String::from(
                "a damaged or truncated shared library (its ELF structure cannot be read); \
                 rebuild it or copy it again",
            );
        }
        String::from("not a shared library (unknown file format); remove it from the plugin path")
    })?;
    let host = host_architecture();
    if host != object::Architecture::Unknown && file.architecture() != host {
        return Err(format!(
            "built for another machine ({:?}; this one is {host:?}); build it for this \
             machine, or remove it from the plugin path",
            file.architecture()
        ));
    }
    if file.kind() != object::ObjectKind::Dynamic {
        return Err(String::from(
            "an object file but not a shared library; build the plugin crate with `crate-type = [\"cdylib\"]` or remove the file from the plugin path",
        ));
    }
    let exports = file.exports().map_err(|e| {
        format!("a damaged shared library ({e}); rebuild it or remove it from the plugin path")
    })?;
    let names: Vec<String> = exports
        .filter_map(Result::ok)
        .filter_map(|export| match export.name() {
            object::NameOrOrdinal::Name(name) => std::str::from_utf8(name).ok().map(str::to_owned),
            object::NameOrOrdinal::Ordinal(_) => None,
        })
        .collect();
    let mut roots: Vec<String> = names
        .iter()
        .filter(|name| name.starts_with(ROOT_MODULE_SYMBOL_PREFIX))
        .cloned()
        .collect();
    roots.sort_unstable();
    match roots.len() {
        // The first release (interface 0.1.0) exported its root module
        // under abi_stable's own symbol.
        0 if names
            .iter()
            .any(|name| name == abi_stable::library::ROOT_MODULE_LOADER_NAME) =>
        {
            Err(format!(
                "built for PDK interface 0.1.0 (the first release, whose root module has \
                 abi_stable's own symbol), this runtime needs {INTERFACE_VERSION}; rebuild the \
                 plugin against pdk {SDK_VERSION} (if it is not a PDK plugin but another \
                 abi_stable library, remove it from the plugin path)"
            ))
        }
        0 => Err(String::from(NOT_A_PLUGIN)),
        1 => Ok(roots.remove(0)),
        _ => Err(format!(
            "exports several PDK root modules (`{}`): one crate per plugin library has \
             `#[pdk_export]`; keep it in one",
            roots.join("`, `")
        )),
    }
}

/// The architecture this runtime was built for, as `object` names it.
fn host_architecture() -> object::Architecture {
    match std::env::consts::ARCH {
        "x86_64" => object::Architecture::X86_64,
        "aarch64" => object::Architecture::Aarch64,
        "x86" => object::Architecture::I386,
        "arm" => object::Architecture::Arm,
        "riscv64" => object::Architecture::Riscv64,
        "powerpc64" => object::Architecture::PowerPc64,
        "s390x" => object::Architecture::S390x,
        _ => object::Architecture::Unknown,
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

/// The plugin's root module, its version and layout checked against this
/// runtime's.
///
/// abi_stable accepts a library whose prefix types (the root module, the
/// host services, the connector and runtime-handle vtables) have at
/// least the fields of the runtime's: a library as new as the runtime or
/// newer. A plugin built on an earlier patch version of the interface has
/// fewer, which is as safe: a side reads a field or method after the
/// prefix only through an accessor that finds it missing in an object of
/// the older side (an `Option`, or the method's default). Such a plugin
/// is accepted when the check passes the other way round, the plugin's
/// layout as the expected one.
fn root_module(header: &LibHeader) -> Result<PluginModuleRef, LibraryError> {
    match header.init_root_module::<PluginModuleRef>() {
        Err(LibraryError::AbiInstability(report)) => {
            let older = header.layout().is_some_and(|plugin| {
                check_layout_compatibility(plugin, PluginModuleRef::LAYOUT).is_ok()
            });
            if !older {
                return Err(LibraryError::AbiInstability(report));
            }
            // SAFETY: the plugin's layout is a prefix of this runtime's
            // (checked just above, with the plugin's as the expected one):
            // every type matches but for fields and methods this runtime
            // adds after a prefix, which it reads only through accessors
            // that find them missing in the plugin's objects.
            unsafe { header.init_root_module_with_unchecked_layout::<PluginModuleRef>() }
        }
        checked => checked,
    }
}

/// The reason for a shared library without the PDK root module.
const NOT_A_PLUGIN: &str = "not a PDK plugin: it exports no PDK root module; build it with `#[pdk_export]` or remove it from the plugin path";

/// The reason for a plugin whose interface layout differs from this
/// runtime's although abi_stable found their versions compatible; it
/// names both versions (`plugin` is the plugin's).
fn layout_mismatch(plugin: &str) -> String {
    let plugin = printable(plugin);
    if plugin == INTERFACE_VERSION {
        format!(
            "its interface layout does not match this runtime's, although both are PDK interface \
             {INTERFACE_VERSION} (one of them was built from a modified pdk); rebuild it against \
             the released pdk {SDK_VERSION}"
        )
    } else {
        format!(
            "built for PDK interface {plugin}, whose layout this runtime (PDK interface \
             {INTERFACE_VERSION}) cannot load; rebuild the plugin against pdk {SDK_VERSION}"
        )
    }
}

/// A one-line, actionable reason for a library that failed to load.
fn reason(error: &LibraryError) -> String {
    match error {
        LibraryError::OpenError { err, .. } => format!(
            "not a loadable shared library ({}); remove it from the plugin path",
            one_line(&without_descriptor_paths(&err.to_string()))
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
             rebuild the plugin against pdk {SDK_VERSION}"
        ),
        LibraryError::ParseVersionError(e) => format!(
            "its PDK interface version is unreadable ({e}); rebuild it against pdk {SDK_VERSION}"
        ),
        LibraryError::AbiInstability(report) => {
            log::debug!("layout mismatch report: {report}");
            layout_mismatch("an unknown version")
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

/// `text` on one line, with control characters escaped: messages of the
/// dynamic loader quote bytes of a damaged file as they are.
fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&printable(word));
    }
    line
}

/// `text` without the `/proc/self/fd/N: ` the dynamic loader puts before
/// its messages (a path elsewhere becomes "the file"): the file is loaded through its descriptor, and the
/// listing names it by its path already.
fn without_descriptor_paths(text: &str) -> String {
    const PREFIX: &str = "/proc/self/fd/";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        out.push_str(&rest[..at]);
        let after = &rest[at + PREFIX.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        rest = &after[digits..];
        match rest.strip_prefix(": ") {
            Some(message) => rest = message,
            None => out.push_str("the file"),
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_messages_become_one_printable_line_without_descriptor_paths() {
        let message = "/proc/self/fd/12: undefined symbol: pthread\u{1}attr,\n version GLIBC";
        assert_eq!(
            one_line(&without_descriptor_paths(message)),
            "undefined symbol: pthread\\u{1}attr, version GLIBC"
        );
        assert_eq!(
            without_descriptor_paths("cannot open /proc/self/fd/7"),
            "cannot open the file"
        );
    }

    #[test]
    fn the_private_copy_holds_the_file_and_refuses_every_write() {
        use std::io::Seek;

        let dir = std::env::temp_dir().join(format!("pdk-loader-copy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("libplugin.so");
        let content: Vec<u8> = (0..200_000_u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        for _ in 0..50 {
            let mut copy = private_copy(&File::open(&path).unwrap(), &path).unwrap();
            let mut read = Vec::new();
            copy.seek(std::io::SeekFrom::Start(0)).unwrap();
            copy.read_to_end(&mut read).unwrap();
            assert!(read == content, "the copy differs from the file");
            assert!(
                copy.write_all(b"changed").is_err(),
                "a write through the copy"
            );
            assert!(copy.set_len(10).is_err(), "a shrink");
            let mut reopened = std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/self/fd/{}", copy.as_raw_fd()))
                .unwrap();
            assert!(
                reopened.write_all(b"changed").is_err(),
                "a write through /proc"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
