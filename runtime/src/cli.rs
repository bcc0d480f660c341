//! The command line of `pdk-runtime`: list plugins, run flows, create
//! plugin crates.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::discovery::SearchPath;
use crate::flow::{self, Flow, Watch};
use crate::observe::{self, Observer};
use crate::registry::Registry;
use crate::scaffold::{self, PdkSource};
use crate::trust::TrustPolicy;
use crate::vetting::{self, Vetting};
use crate::{builtin, executor, logging, report, signals};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

/// Discovers, checks, loads and runs PDK connector plugins.
#[derive(Debug, Parser)]
#[command(name = "pdk-runtime", version, long_version = long_version())]
struct Cli {
    #[command(flatten)]
    search: SearchArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect the plugins of the search path and the built-in connectors.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Run a flow file until its sources finish.
    Run {
        /// The flow file (TOML).
        flow: PathBuf,
        /// Reload a plugin file replaced while the flow runs (by `cargo
        /// build`, say) and restart its connectors on the new build; a
        /// build that fails the checks is refused.
        #[arg(long)]
        watch: bool,
        /// Serve /metrics (Prometheus), /health and /status on ADDR: a
        /// port (on 127.0.0.1), or HOST:PORT to listen elsewhere.
        #[arg(long, value_name = "ADDR", value_parser = observe::parse_address)]
        api: Option<SocketAddr>,
    },
    /// Show the connectors of a runtime started with `--api`: a live
    /// table, or one snapshot with `--once`.
    Top {
        /// Where the runtime's endpoint listens (its `--api`).
        #[arg(long, value_name = "ADDR", default_value = "9898", value_parser = observe::parse_address)]
        api: SocketAddr,
        /// Print one snapshot and exit.
        #[arg(long)]
        once: bool,
        /// Output format of `--once`.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Milliseconds between two refreshes of the live table.
        #[arg(long, value_name = "MS", default_value_t = 1000)]
        interval_ms: u64,
    },
    /// Create a new plugin crate NAME that builds and loads as it is.
    New {
        /// The plugin's package name; with `-` as `_`, its crate and its
        /// connector type.
        name: String,
        /// The directory to create it in.
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
        /// Depend on the SDK crate in this directory instead of the
        /// published one (for working on PDK itself).
        #[arg(long, value_name = "DIR")]
        pdk_path: Option<PathBuf>,
    },
    /// Print a completion script for SHELL on standard output.
    Completions {
        /// The shell.
        shell: Shell,
    },
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// Show every candidate file, loaded (with its metadata) or rejected
    /// (with the reason), then the built-in connectors.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// Where plugins are looked for: before or after the subcommand.
#[derive(Debug, Args)]
struct SearchArgs {
    /// A directory to search for plugins, before PDK_PLUGIN_PATH and the
    /// executable's directories. May be repeated.
    #[arg(long = "plugin-path", value_name = "DIR", global = true)]
    plugin_paths: Vec<PathBuf>,
    /// Search only the --plugin-path directories.
    #[arg(long, global = true)]
    isolated: bool,
    /// Load only libraries whose SHA-256 digest is listed in FILE (one per
    /// line, as `sha256sum` prints them); others are never opened.
    #[arg(long, value_name = "FILE", global = true)]
    trust: Option<PathBuf>,
}

impl SearchArgs {
    /// The registry of this search: every plugin directory checked, the
    /// trust policy read, every candidate loaded and checked.
    ///
    /// # Errors
    /// A missing `--plugin-path` directory, or a bad trust file.
    fn registry(&self) -> Result<(Registry, Option<TrustPolicy>), String> {
        let search = SearchPath::from_environment(&self.plugin_paths, self.isolated);
        search.check_flags().map_err(|e| e.to_string())?;
        let trust = self
            .trust
            .as_deref()
            .map(TrustPolicy::load)
            .transpose()
            .map_err(|e| e.to_string())?;
        let registry = Registry::discover(&search, trust.as_ref(), &Vetting::by_this_executable());
        Ok((registry, trust))
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// What `--version` prints after the name, as `cargo -vV` does: the
/// version, the PDK interface plugins must be built for, the compiler, and
/// the built-in connectors.
fn long_version() -> String {
    let builtins: Vec<&str> = builtin::entries().iter().map(|entry| entry.name).collect();
    format!(
        "{}\ninterface: {}\nrustc: {}\nbuilt-in connectors: {}",
        env!("CARGO_PKG_VERSION"),
        pdk::abi::INTERFACE_VERSION,
        pdk::abi::RUSTC_VERSION.trim_start_matches("rustc "),
        if builtins.is_empty() {
            String::from("none")
        } else {
            builtins.join(", ")
        }
    )
}

/// Exit status 2 with one line: what was asked cannot be done as asked.
fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// `pdk-runtime top`: one snapshot of the runtime at `api`, or a table
/// refreshed every `interval` until the runtime stops answering or the
/// user quits.
fn top(api: SocketAddr, once: bool, format: Format, interval: Duration) -> ExitCode {
    let mut rates = observe::Rates::default();
    loop {
        let status = match observe::fetch(api) {
            Ok(status) => status,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        let shown = match (once, format) {
            (true, Format::Json) => serde_json::to_string_pretty(&status)
                .map(|json| json + "\n")
                .unwrap_or_default(),
            (true, Format::Text) => rates.table(&status),
            (false, _) => format!(
                "\x1b[H\x1b[2Jpdk-runtime top: http://{api} (every {} ms; Ctrl-C quits)\n\n{}",
                interval.as_millis(),
                rates.table(&status)
            ),
        };
        if std::io::stdout().write_all(shown.as_bytes()).is_err() {
            return ExitCode::FAILURE;
        }
        if once {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(interval);
    }
}

/// Runs the command line `pdk-runtime` was started with; its exit status.
#[must_use]
pub fn main() -> ExitCode {
    // Before the vetting child's branch too: a plugin runs its logging
    // code only when a level is on, so the child must log as this process
    // does (its records go to a file the parent reads).
    logging::init();
    let mut args = std::env::args_os().skip(1);
    if args
        .next()
        .is_some_and(|first| first == vetting::CHILD_COMMAND)
    {
        return vetting::child_main(&PathBuf::from(args.next().unwrap_or_default()));
    }
    let Cli { search, command } = Cli::parse();
    match command {
        Command::New {
            name,
            dir,
            pdk_path,
        } => {
            let pdk = pdk_path.map_or_else(PdkSource::this_runtimes_version, PdkSource::Path);
            match scaffold::create(&name, &dir, &pdk) {
                Ok(created) => {
                    println!(
                        "created {dir}\nnext: cd {dir} && cargo build && \
                         pdk-runtime run flow.toml --plugin-path target/debug",
                        dir = created.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => usage_error(error),
            }
        }
        Command::Top {
            api,
            once,
            format,
            interval_ms,
        } => top(api, once, format, Duration::from_millis(interval_ms)),
        Command::Completions { shell } => {
            // Written whole, so that a closed pipe (`| head`) is an exit
            // status, not a panic inside the generator.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "pdk-runtime", &mut script);
            match std::io::stdout().write_all(&script) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Command::Plugins {
            command: PluginsCommand::List { format },
        } => {
            let (registry, _) = match search.registry() {
                Ok(found) => found,
                Err(error) => return usage_error(error),
            };
            match format {
                Format::Text => print!("{}", report::text(&registry)),
                Format::Json => println!("{}", report::json(&registry)),
            }
            ExitCode::SUCCESS
        }
        Command::Run { flow, watch, api } => {
            let (registry, trust) = match search.registry() {
                Ok(found) => found,
                Err(error) => return usage_error(error),
            };
            let checked = match Flow::load(&flow, &registry) {
                Ok(checked) => checked,
                Err(error) => return usage_error(error),
            };
            let shutdown = match signals::drain_on_signals() {
                Ok(shutdown) => shutdown,
                Err(error) => {
                    eprintln!("error: cannot watch for SIGINT/SIGTERM: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let observer = Observer::default();
            if let Some(address) = api.or(checked.api) {
                match observe::serve(address, observer.clone()) {
                    Ok(bound) => {
                        log::info!("serving /metrics, /health and /status on http://{bound}")
                    }
                    Err(error) => return usage_error(error),
                }
            }
            let watch = watch.then(|| Watch {
                trust,
                vetting: Vetting::by_this_executable(),
            });
            let result = executor::block_on(flow::run(
                checked, &registry, &flow, &shutdown, watch, &observer,
            ));
            if let Some(failure) = signals::internal_failure() {
                eprintln!("error: internal failure: {failure}");
                return ExitCode::from(signals::INTERNAL_FAILURE_STATUS);
            }
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(flow::RunError::Flow(error)) => usage_error(error),
                // A connector's configuration (or what it names, such as a
                // port in use) must change: as for a rejected config.
                Err(error @ flow::RunError::Connectors(_)) if error.is_permanent() => {
                    usage_error(error)
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
