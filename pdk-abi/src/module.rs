//! The root module every plugin exports, and the metadata it carries.
//!
//! abi_stable checks the layout of [`PluginModule`] (and of every type it
//! reaches) and the interface version (this crate's version,
//! [`crate::INTERFACE_VERSION`]) before the runtime calls a single
//! function of a plugin.

use abi_stable::library::RootModule;
use abi_stable::package_version_strings;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{ROption, RResult, RStr, RVec};
use abi_stable::StableAbi;
use async_ffi::FfiFuture;

use crate::connector::{BoxedPdkConnector, ConnectorTypeInfo, PdkConnectorContext};
use crate::error::PdkError;
use crate::host::HostServicesRef;
use crate::value::PdkValue;

/// The prefix of the symbol under which every plugin exports its root
/// module: `#[pdk_export]` appends the crate's name and version, so that
/// several plugin crates linked into one program never clash. The
/// runtime's loader finds the one symbol with this prefix in a library's
/// export table.
pub const ROOT_MODULE_SYMBOL_PREFIX: &str = "pdk_plugin_root_module__";

/// Who built a plugin, and with what.
///
/// A prefix type, read through [`PluginMetadataRef`]: a field added after
/// the one marked `last_prefix_field` is read as an `Option`, so that the
/// record can grow without breaking built plugins. Its text fields, not
/// enums, name what may gain values later (a panic strategy, an allocator).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginMetadataRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMetadata {
    /// The plugin crate's package name.
    pub name: RStr<'static>,
    /// The plugin crate's package version.
    pub version: RStr<'static>,
    /// The version of the SDK (`pdk-sdk`) the plugin was built with.
    pub sdk_version: RStr<'static>,
    /// The version of the plugin interface (`pdk-abi`) it was built for.
    pub interface_version: RStr<'static>,
    /// The `rustc --version` line of the compiler that built it.
    pub rustc_version: RStr<'static>,
    /// Whether it was built with debug assertions (a debug build).
    pub debug_assertions: bool,
    /// The panic strategy it was built with: [`PANIC_UNWIND`] or
    /// [`PANIC_ABORT`]. Containment needs `unwind`.
    pub panic_strategy: RStr<'static>,
    /// The global allocator every buffer it hands over comes from:
    /// [`SYSTEM_ALLOCATOR`].
    #[sabi(last_prefix_field)]
    pub allocator: RStr<'static>,
}

/// [`PluginMetadata::panic_strategy`] of a build with `panic = "unwind"`.
pub const PANIC_UNWIND: &str = "unwind";

/// [`PluginMetadata::panic_strategy`] of a build with `panic = "abort"`.
pub const PANIC_ABORT: &str = "abort";

/// The panic strategy this library is built with (cargo builds every
/// crate of a program or plugin with the same one).
pub const PANIC_STRATEGY: &str = if cfg!(panic = "unwind") {
    PANIC_UNWIND
} else {
    PANIC_ABORT
};

/// [`PluginMetadata::allocator`] of a library whose global allocator is
/// `std::alloc::System` (every library that links `pdk`; see
/// [`super::allocator`]).
pub const SYSTEM_ALLOCATOR: &str = "system";

/// The root module of a plugin library.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// Who built the plugin, and with what.
    pub metadata: PluginMetadataRef,
    /// Installs the runtime's services; called once, right after loading.
    pub install_host: extern "C" fn(host: HostServicesRef),
    /// The connector types the plugin exports (an error if listing them
    /// panicked).
    pub connector_types: extern "C" fn() -> RResult<RVec<ConnectorTypeInfo>, PdkError>,
    /// Creates a connector of the named type from its configuration.
    #[sabi(last_prefix_field)]
    pub create_connector: extern "C" fn(
        type_name: RStr<'_>,
        ctx: PdkConnectorContext,
        config: PdkValue,
    ) -> RResult<BoxedPdkConnector, PdkError>,
    /// Runs `driver`, which runs the connectors of one pipeline, on the
    /// thread that drives the plugin's own tokio runtime, so that those
    /// connectors and their sockets share one thread (interface 0.3.2).
    /// Hands `driver` back when the plugin runs no tokio runtime or hosts
    /// a pipeline already. `None` for a plugin built on an older
    /// interface.
    #[sabi(missing_field(option))]
    pub host_pipeline: extern "C" fn(driver: FfiFuture<()>) -> ROption<FfiFuture<()>>,
}

impl RootModule for PluginModuleRef {
    abi_stable::declare_root_module_statics! {PluginModuleRef}

    const BASE_NAME: &'static str = "pdk_plugin";
    const NAME: &'static str = "pdk plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
