//! `pdk-runtime`: list plugins, run flows, create plugin crates (see
//! `pdk_runtime::cli`).

fn main() -> std::process::ExitCode {
    pdk_runtime::cli::main()
}
