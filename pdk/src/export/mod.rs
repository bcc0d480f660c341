//! What the `#[connector]` and `#[pdk_export]` expansions call. Everything
//! generic lives here, so the generated code stays a few lines per type.
//!
//! Not a public API: reached through `pdk::__private`, may change in any
//! release.

mod adapter;
mod config;
mod probe;

use abi_stable::library::{CheckTypeLayout, LibHeader, RootModuleResult};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{ROption, RResult, RStr, RVec};
use abi_stable::type_level::downcasting::TD_Opaque;
use async_ffi::FfiFuture;

pub use abi_stable::library::LibHeader as PluginHeader;
pub use adapter::{SinkFns, SourceFns};
pub use probe::{same_name, side_present, HasSink, HasSource, NoSink, NoSource, Probe};

use crate::abi::connector::{
    BoxedPdkConnector, ConnectorTypeInfo, LifecycleHook, PdkConnectorContext, PdkConnector_TO,
    USES_TOKIO,
};
use crate::abi::error::PdkError;
use crate::abi::host::HostServicesRef;
use crate::abi::module::{
    PluginMetadata, PluginMetadataRef, PluginModule, PluginModuleRef, PANIC_STRATEGY,
    SYSTEM_ALLOCATOR,
};
use crate::abi::value::{PdkScalar, PdkValue};
use crate::abi::Extensions;
use crate::abi::{INTERFACE_VERSION, RUSTC_VERSION};
use crate::ambient::{self, DropsInContext};
use crate::contain::contain_sync;
use crate::linked::LinkedEntry;
use crate::{Connector, ConnectorContext, Error, ErrorKind, Result, Value};
use adapter::Adapter;

/// Calls the author's lifecycle hook `hook`.
async fn run_hook<T: Connector>(
    inner: &mut T,
    ctx: &ConnectorContext,
    hook: LifecycleHook,
) -> Result<()> {
    match hook {
        LifecycleHook::START => inner.on_start(ctx).await,
        LifecycleHook::PAUSE => inner.on_pause(ctx).await,
        LifecycleHook::RESUME => inner.on_resume(ctx).await,
        LifecycleHook::DRAIN => inner.on_drain(ctx).await,
        LifecycleHook::STOP => inner.on_stop(ctx).await,
        // A hook of a newer runtime that this SDK does not know.
        _ => Ok(()),
    }
}

/// Every field of a connector must be `Send`: `#[connector]` checks each
/// one with this bound, so that a field that is not names itself.
#[diagnostic::on_unimplemented(
    message = "connector fields must be `Send`: `{Self}` cannot move between the runtime's threads",
    label = "this field is not `Send`",
    note = "the runtime moves connectors between its threads; use `Arc` instead of `Rc`, and `Mutex` or atomics instead of `RefCell` or `Cell`"
)]
pub trait SendField {}

impl<T: ?Sized + Send> SendField for T {}

/// Checks, at compile time, that `T` is [`SendField`].
pub const fn send_field<T: ?Sized + SendField>() {}

/// Implemented by `#[connector]`: the type's name and its sides.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a connector type",
    label = "only `#[connector]` types can be exported",
    note = "put `#[connector(name = \"...\")]` on the struct `{Self}`"
)]
pub trait ConnectorType: Connector {
    /// The connector type name used in flow files.
    const NAME: &'static str;

    /// The package name of the crate that defines the type.
    const PACKAGE: &'static str;

    /// The version of that package.
    const PACKAGE_VERSION: &'static str;

    /// Whether the type's crate asked for `pdk`'s `tokio` feature (read
    /// from its own manifest by `#[connector]`): its code then runs in the
    /// plugin's tokio runtime.
    const USES_TOKIO: bool;

    /// The source side, if the type implements [`crate::Source`].
    fn source_fns() -> Option<SourceFns<Self>>;

    /// The sink side, if the type implements [`crate::Sink`].
    fn sink_fns() -> Option<SinkFns<Self>>;
}

/// One exported connector type, as the root module sees it.
#[derive(Clone, Copy)]
pub struct ConnectorEntry {
    name: &'static str,
    info: fn() -> ConnectorTypeInfo,
    create: fn(PdkConnectorContext, PdkValue) -> Result<BoxedPdkConnector>,
}

impl ConnectorEntry {
    /// The entry for `T`.
    #[must_use]
    pub const fn of<T: ConnectorType>() -> Self {
        Self {
            name: T::NAME,
            info: info::<T>,
            create: create::<T>,
        }
    }
}

fn info<T: ConnectorType>() -> ConnectorTypeInfo {
    let source = T::source_fns();
    let mut extensions = Extensions::new();
    if T::USES_TOKIO {
        extensions.insert(USES_TOKIO, PdkValue::Static(PdkScalar::Bool(true)));
    }
    ConnectorTypeInfo {
        name: T::NAME.into(),
        source: source.is_some(),
        transactional: source.is_some_and(|fns| fns.transactional),
        sink: T::sink_fns().is_some(),
        extensions,
    }
}

/// Decodes the config and calls the author's `new`, containing a panic.
fn construct<T: ConnectorType>(
    ctx: PdkConnectorContext,
    config: &Value,
) -> Result<(DropsInContext<T>, ConnectorContext)> {
    let config = config::decode::<T::Config>(config)?;
    let ctx = ConnectorContext::from_ffi(ctx, T::PACKAGE);
    let inner = contain_sync("new", || {
        ambient::enter(T::USES_TOKIO, || T::new(config, &ctx))
    })?;
    Ok((DropsInContext::new(inner), ctx))
}

fn create<T: ConnectorType>(
    ctx: PdkConnectorContext,
    config: PdkValue,
) -> Result<BoxedPdkConnector> {
    let (inner, ctx) = construct::<T>(ctx, &Value::from(config))?;
    let adapter = Adapter {
        inner,
        ctx,
        source: T::source_fns(),
        sink: T::sink_fns(),
    };
    Ok(PdkConnector_TO::from_value(adapter, TD_Opaque))
}

/// Creates a connector of type `T` as a plugin's root module does, a
/// panic contained: for in-process use ([`LinkedEntry`]) and for the
/// test harness.
pub(crate) extern "C" fn create_contained<T: ConnectorType>(
    ctx: PdkConnectorContext,
    config: PdkValue,
) -> RResult<BoxedPdkConnector, PdkError> {
    contain_sync("create_connector", || create::<T>(ctx, config))
        .map_err(PdkError::from)
        .into()
}

impl LinkedEntry {
    /// The in-process entry of connector type `T` (any `#[connector]`
    /// type).
    #[must_use]
    pub fn of<T: ConnectorType>() -> Self {
        let source = T::source_fns();
        Self {
            name: T::NAME,
            package: T::PACKAGE,
            version: T::PACKAGE_VERSION,
            source: source.is_some(),
            transactional: source.is_some_and(|fns| fns.transactional),
            sink: T::sink_fns().is_some(),
            uses_tokio: T::USES_TOKIO,
            create: create_contained::<T>,
        }
    }
}

/// Implemented by `#[pdk_export]`: the plugin's package and its connectors.
pub trait Plugin: 'static {
    /// The plugin crate's package name.
    const NAME: &'static str;
    /// The plugin crate's package version.
    const VERSION: &'static str;
    /// Every exported connector type.
    const CONNECTORS: &'static [ConnectorEntry];
    /// Whether the plugin crate is built with debug assertions.
    const DEBUG_ASSERTIONS: bool;
}

/// Builds the root module of plugin `P`; called once, when the runtime
/// first asks the library for it.
#[must_use]
pub fn root_module<P: Plugin>() -> PluginModuleRef {
    PluginModule {
        metadata: metadata::<P>(),
        install_host: install_host::<P>,
        connector_types: connector_types::<P>,
        create_connector: create_connector::<P>,
        host_pipeline,
    }
    .leak_into_prefix()
}

fn metadata<P: Plugin>() -> PluginMetadataRef {
    PluginMetadata {
        name: RStr::from_str(P::NAME),
        version: RStr::from_str(P::VERSION),
        sdk_version: RStr::from_str(crate::SDK_VERSION),
        interface_version: RStr::from_str(INTERFACE_VERSION),
        rustc_version: RStr::from_str(RUSTC_VERSION),
        debug_assertions: P::DEBUG_ASSERTIONS,
        panic_strategy: RStr::from_str(PANIC_STRATEGY),
        allocator: RStr::from_str(SYSTEM_ALLOCATOR),
    }
    .leak_into_prefix()
}

extern "C" fn host_pipeline(driver: FfiFuture<()>) -> ROption<FfiFuture<()>> {
    ambient::host_pipeline(driver).into()
}

extern "C" fn install_host<P: Plugin>(host: HostServicesRef) {
    // Installing cannot fail in a way the runtime could act on; a panic
    // here must still not unwind into the runtime.
    let _ = contain_sync("install_host", || {
        crate::host::install(host, P::NAME);
        Ok(())
    });
}

extern "C" fn connector_types<P: Plugin>() -> RResult<RVec<ConnectorTypeInfo>, PdkError> {
    contain_sync("connector_types", || {
        Ok(P::CONNECTORS.iter().map(|entry| (entry.info)()).collect())
    })
    .map_err(PdkError::from)
    .into()
}

extern "C" fn create_connector<P: Plugin>(
    type_name: RStr<'_>,
    ctx: PdkConnectorContext,
    config: PdkValue,
) -> RResult<BoxedPdkConnector, PdkError> {
    let created = contain_sync("create_connector", || {
        match P::CONNECTORS
            .iter()
            .find(|entry| entry.name == type_name.as_str())
        {
            Some(entry) => (entry.create)(ctx, config),
            None => Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "plugin `{}` exports no connector type `{type_name}`",
                    P::NAME
                ),
            )),
        }
    });
    created.map_err(PdkError::from).into()
}

/// The exported header of plugin `P`'s library, read by the runtime's
/// loader. `#[pdk_export]` puts it in a `#[no_mangle]` static.
#[must_use]
pub const fn lib_header<P: Plugin>() -> PluginHeader {
    // SAFETY: `root_module_loader::<P>` returns, erased, the module that
    // `root_module::<P>` builds, which is a `PluginModuleRef`: the type
    // named here. The layout of that type is checked by the loader.
    unsafe {
        LibHeader::from_constructor::<PluginModuleRef>(
            root_module_loader::<P>,
            CheckTypeLayout::Yes,
        )
    }
}

extern "C" fn root_module_loader<P: Plugin>() -> RootModuleResult {
    abi_stable::library::__call_root_module_loader(root_module::<P>)
}
