//! Deliberately broken shared libraries, one per feature, that
//! `pdk-runtime` must reject with a reason (or, under a trust policy, never
//! open). Built by the runtime's tests with one feature at a time.

/// Exports the root module that `$root` builds, of type `$module`, under
/// the PDK root-module symbol `$symbol`, the way `#[pdk_export]` does.
#[cfg(any(
    feature = "panicking-init",
    feature = "other-version",
    feature = "other-layout"
))]
macro_rules! export_root_module {
    ($symbol:ident, $module:ty, $root:path) => {
        #[unsafe(no_mangle)]
        pub static $symbol: abi_stable::library::LibHeader = {
            extern "C" fn load() -> abi_stable::library::RootModuleResult {
                abi_stable::library::__call_root_module_loader($root)
            }
            // SAFETY: `load` returns, erased, the module that `$root`
            // builds, which is a `$module`: the type named here.
            unsafe {
                abi_stable::library::LibHeader::from_constructor::<$module>(
                    load,
                    abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

/// What the first release did: the root module under abi_stable's own
/// symbol (`abi_stable::library::ROOT_MODULE_LOADER_NAME`), which the
/// runtime finds in the symbol table without loading the library.
#[cfg(feature = "first-release")]
mod first_release {
    use pdk::abi::module::PluginModuleRef;

    #[abi_stable::export_root_module]
    fn root_module() -> PluginModuleRef {
        panic!("never called: the runtime rejects this library unloaded")
    }
}

#[cfg(feature = "panicking-init")]
mod panicking_init {
    use pdk::abi::module::PluginModuleRef;

    fn root_module() -> PluginModuleRef {
        panic!("this fixture fails to initialize, on purpose")
    }

    export_root_module!(
        pdk_plugin_root_module__broken__0_1_0,
        PluginModuleRef,
        root_module
    );

    // A second crate's root module in the same library.
    #[cfg(feature = "two-roots")]
    export_root_module!(
        pdk_plugin_root_module__other__0_1_0,
        PluginModuleRef,
        root_module
    );
}

// Only the layout of `Skewed` matters (the runtime rejects it before any
// call), so the accessors its derive generates are never used.
#[allow(dead_code)]
#[cfg(any(feature = "other-version", feature = "other-layout"))]
mod skewed {
    use abi_stable::library::RootModule;
    use abi_stable::prefix_type::PrefixTypeTrait;
    use abi_stable::sabi_types::VersionStrings;
    use abi_stable::StableAbi;

    /// Not the layout of `pdk::abi::module::PluginModule`.
    #[repr(C)]
    #[derive(StableAbi)]
    #[sabi(kind(Prefix(prefix_ref = SkewedRef)))]
    #[sabi(missing_field(panic))]
    pub struct Skewed {
        #[sabi(last_prefix_field)]
        pub answer: extern "C" fn() -> u64,
    }

    impl RootModule for SkewedRef {
        abi_stable::declare_root_module_statics! {SkewedRef}

        const BASE_NAME: &'static str = "pdk_plugin";
        const NAME: &'static str = "pdk plugin";
        const VERSION_STRINGS: VersionStrings = if cfg!(feature = "other-version") {
            VersionStrings::new("9.4.0")
        } else {
            // A later patch of this interface, which the runtime accepts
            // by version and then finds another layout in.
            VersionStrings::new(concat!(
                env!("CARGO_PKG_VERSION_MAJOR"),
                ".",
                env!("CARGO_PKG_VERSION_MINOR"),
                ".77"
            ))
        };
    }

    extern "C" fn answer() -> u64 {
        42
    }

    fn root_module() -> SkewedRef {
        Skewed { answer }.leak_into_prefix()
    }

    export_root_module!(
        pdk_plugin_root_module__broken__0_1_0,
        SkewedRef,
        root_module
    );
}

/// Another plugin's connector type named `stdout`, which the bundled
/// `stdout` plugin also provides.
#[cfg(feature = "impostor")]
mod impostor {
    use pdk::prelude::*;

    #[connector(name = "stdout")]
    pub struct Impostor;

    impl Connector for Impostor {
        type Config = NoConfig;

        fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
            Ok(Self)
        }
    }

    impl Sink for Impostor {
        async fn on_event(&mut self, _event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
            Ok(SinkReply::Fail)
        }
    }

    #[pdk_export]
    mod plugin {
        pub use super::Impostor;
    }
}

#[cfg(feature = "load-marker")]
mod load_marker {
    /// Runs when the dynamic loader opens the library.
    #[ctor::ctor]
    fn leave_marker() {
        if let Some(path) = std::env::var_os("PDK_TEST_MARKER") {
            let _ = std::fs::write(path, b"opened");
        }
    }
}

#[cfg(feature = "aborts")]
mod aborts {
    use pdk::prelude::*;

    /// Panics as soon as it starts: built with `panic = "abort"`, that
    /// panic would end the process that runs it.
    #[connector(name = "aborts")]
    pub struct Aborts;

    impl Connector for Aborts {
        type Config = NoConfig;

        fn new(_config: NoConfig, _ctx: &ConnectorContext) -> Result<Self> {
            Ok(Self)
        }

        async fn on_start(&mut self, _ctx: &ConnectorContext) -> Result<()> {
            panic!("a panic that containment cannot catch in a `panic = \"abort\"` build")
        }
    }

    impl Source for Aborts {
        async fn pull_data(
            &mut self,
            _pull_id: u64,
            _ctx: &ConnectorContext,
        ) -> Result<SourceReply> {
            Ok(SourceReply::Finished)
        }
    }

    #[pdk_export]
    mod plugin {
        pub use super::Aborts;
    }
}
