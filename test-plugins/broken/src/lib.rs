//! Deliberately broken shared libraries, one per feature, that
//! `pdk-runtime` must reject with a reason (or, under a trust policy, never
//! open). Built by the runtime's tests with one feature at a time.

#[cfg(feature = "panicking-init")]
mod panicking_init {
    use pdk::abi::module::PluginModuleRef;

    #[abi_stable::export_root_module]
    fn root_module() -> PluginModuleRef {
        panic!("this fixture fails to initialize, on purpose")
    }
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
            VersionStrings::new(pdk::abi::INTERFACE_VERSION)
        };
    }

    extern "C" fn answer() -> u64 {
        42
    }

    #[abi_stable::export_root_module]
    fn root_module() -> SkewedRef {
        Skewed { answer }.leak_into_prefix()
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
