//! `pdk-runtime`: list plugins, run flows.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pdk_runtime::discovery::SearchPath;
use pdk_runtime::flow::{self, Flow, Watch};
use pdk_runtime::registry::Registry;
use pdk_runtime::scaffold::{self, PdkSource};
use pdk_runtime::trust::{TrustError, TrustPolicy};
use pdk_runtime::{executor, logging, report, signals};

/// Discovers, checks, loads and runs PDK connector plugins.
#[derive(Debug, Parser)]
#[command(name = "pdk-runtime", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect the plugins of the search path.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Run a flow file until its sources finish.
    Run {
        /// The flow file (TOML).
        flow: PathBuf,
        #[command(flatten)]
        search: SearchArgs,
        /// Reload a plugin file replaced while the flow runs (by `cargo
        /// build`, say) and restart its connectors on the new build; a
        /// build that fails the checks is refused.
        #[arg(long)]
        watch: bool,
    },
    /// Create a new plugin crate NAME that builds and loads as it is.
    New {
        /// The plugin's name: its crate and its connector type.
        name: String,
        /// The directory to create it in.
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
        /// Depend on the `pdk` crate in this directory (by default: the
        /// source tree this runtime was built from, if present, else the
        /// registry).
        #[arg(long, value_name = "DIR")]
        pdk_path: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// Show every candidate file: loaded (with its metadata) or rejected
    /// (with the reason).
    List {
        #[command(flatten)]
        search: SearchArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// Where plugins are looked for.
#[derive(Debug, Args)]
struct SearchArgs {
    /// A directory to search for plugins, before PDK_PLUGIN_PATH and the
    /// executable's directory. May be repeated.
    #[arg(long = "plugin-path", value_name = "DIR")]
    plugin_paths: Vec<PathBuf>,
    /// Search only the --plugin-path directories.
    #[arg(long)]
    isolated: bool,
    /// Load only libraries whose SHA-256 digest is listed in FILE (one per
    /// line, as `sha256sum` prints them); others are never opened.
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,
}

impl SearchArgs {
    /// The trust policy given, if any; a bad trust file is an error.
    fn trust(&self) -> Result<Option<TrustPolicy>, TrustError> {
        self.trust.as_deref().map(TrustPolicy::load).transpose()
    }

    /// The registry of this search, under `trust`.
    fn registry(&self, trust: Option<&TrustPolicy>) -> Registry {
        let search = SearchPath::from_environment(&self.plugin_paths, self.isolated);
        Registry::discover(&search, trust)
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Pinned, like every plugin's, so that buffers can change hands between
/// the runtime and its plugins without being copied.
#[global_allocator]
static ALLOCATOR: std::alloc::System = std::alloc::System;

fn main() -> ExitCode {
    // SAFETY: the global allocator of this program is `System` (above).
    unsafe { pdk::abi::allocator::declare_system_allocator() };
    logging::init();
    let cli = Cli::parse();
    match cli.command {
        Command::New {
            name,
            dir,
            pdk_path,
        } => {
            let pdk = pdk_path.map_or_else(PdkSource::default_for_this_runtime, PdkSource::Path);
            match scaffold::create(&name, &dir, &pdk) {
                Ok(created) => {
                    println!(
                        "created {dir}\nnext: cd {dir} && cargo build && \
                         pdk-runtime run flow.toml --plugin-path target/debug",
                        dir = created.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Plugins {
            command: PluginsCommand::List { search, format },
        } => {
            let registry = match search.trust() {
                Ok(trust) => search.registry(trust.as_ref()),
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::from(2);
                }
            };
            match format {
                Format::Text => print!("{}", report::text(&registry)),
                Format::Json => println!("{}", report::json(&registry)),
            }
            ExitCode::SUCCESS
        }
        Command::Run {
            flow,
            search,
            watch,
        } => {
            let trust = match search.trust() {
                Ok(trust) => trust,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::from(2);
                }
            };
            let registry = search.registry(trust.as_ref());
            let checked = match Flow::load(&flow, &registry) {
                Ok(checked) => checked,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::from(2);
                }
            };
            let shutdown = match signals::drain_on_signals() {
                Ok(shutdown) => shutdown,
                Err(error) => {
                    eprintln!("error: cannot watch for SIGINT/SIGTERM: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let watch = watch.then_some(Watch { trust });
            match executor::block_on(flow::run(checked, &registry, &flow, &shutdown, watch)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(flow::RunError::Flow(error)) => {
                    eprintln!("error: {error}");
                    ExitCode::from(2)
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
