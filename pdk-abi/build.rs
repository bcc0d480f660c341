//! Records the compiler version, which every plugin reports in its metadata.

fn main() {
    let version = rustc_version::version_meta()
        .map(|meta| meta.short_version_string)
        .unwrap_or_else(|_| String::from("unknown rustc"));
    println!("cargo:rustc-env=PDK_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-env-changed=RUSTC");
}
