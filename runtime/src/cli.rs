//! The command line of `pdk-runtime`: list plugins, run flows, create
//! plugin crates.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::discovery::SearchPath;
use crate::flow::{self, Flow, FlowErrors, Watch};
use crate::observe::{self, ApiError, Endpoint, FlowState, Observer};
use crate::printable::printable_path;
use crate::registry::Registry;
use crate::scaffold::{self, PdkSource};
use crate::trust::TrustPolicy;
use crate::vetting::{self, Vetting};
use crate::{builtin, executor, isolation, logging, report, serve, signals};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

/// Discovers, checks, loads and runs PDK connector plugins.
#[derive(Debug, Parser)]
#[command(name = "pdk-runtime", version, long_version = long_version())]
struct Cli {
    /// The search options, given before the subcommand (hidden: they are
    /// shown on the subcommands they apply to).
    #[command(flatten)]
    early: EarlySearchArgs,
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
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        search: SearchArgs,
    },
    /// Run every flow file of the flow directories, each on its own;
    /// files added, changed or removed meanwhile (or through the control
    /// API) take effect, and so does SIGHUP. SIGINT/SIGTERM drains all.
    Serve {
        /// A directory of flow files (`NAME.toml`, flow NAME). May be
        /// repeated; the control API writes into the first.
        #[arg(long = "flows", value_name = "DIR", required = true)]
        flows: Vec<PathBuf>,
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        search: SearchArgs,
    },
    /// Check flow files completely (syntax, types, links, ids, every
    /// connector's config) without connecting anything; every mistake is
    /// reported.
    Validate {
        /// The flow files.
        #[arg(required = true)]
        flows: Vec<PathBuf>,
        #[command(flatten)]
        search: SearchArgs,
    },
    /// Show the connectors of a runtime started with `--api`: a live
    /// table, or one snapshot with `--once`.
    Top {
        /// Where the runtime's endpoint listens (its `--api`).
        #[arg(long, value_name = "ADDR", default_value = "9898", value_parser = observe::parse_address)]
        api: SocketAddr,
        /// The file holding the endpoint's token (its `--api-token-file`).
        #[arg(long, value_name = "FILE")]
        api_token_file: Option<PathBuf>,
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
        /// Depend on the SDK crate in this directory. Without it: the SDK
        /// this runtime was built with (the clone's, for a runtime
        /// installed from a clone; crates.io's at this version otherwise).
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
        #[command(flatten)]
        search: SearchArgs,
    },
}

/// The runtime's HTTP endpoint.
#[derive(Debug, Args)]
struct ApiArgs {
    /// Serve /metrics (Prometheus), /health and /status (and under
    /// `serve` the control API) on ADDR: a port (on 127.0.0.1), or
    /// HOST:PORT to listen elsewhere (which needs --api-token-file).
    #[arg(long, value_name = "ADDR", value_parser = observe::parse_address)]
    api: Option<SocketAddr>,
    /// A file whose first line is the token every request to the
    /// endpoint must carry (`Authorization: Bearer TOKEN`).
    #[arg(long, value_name = "FILE", requires = "api")]
    api_token_file: Option<PathBuf>,
}

impl ApiArgs {
    /// The endpoint asked for, at `address` (or the flow file's `api`).
    fn endpoint(&self, fallback: Option<SocketAddr>) -> Result<Option<Endpoint>, ApiError> {
        self.api
            .or(fallback)
            .map(|address| Endpoint::new(address, self.api_token_file.as_deref()))
            .transpose()
    }
}

/// Where plugins are looked for.
#[derive(Debug, Args, Default)]
struct SearchArgs {
    /// A directory to search for plugins, before PDK_PLUGIN_PATH and the
    /// executable's directories. May be repeated.
    #[arg(long = "plugin-path", value_name = "DIR")]
    plugin_paths: Vec<PathBuf>,
    /// Search only the --plugin-path directories.
    #[arg(long)]
    isolated: bool,
    /// Load only libraries whose SHA-256 digest is listed in FILE (one per
    /// line, as `sha256sum` prints them); others are never opened.
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,
    /// Run in the runtime's process only the connectors of plugins whose
    /// SHA-256 digest is listed in FILE (as for --trust); every other
    /// plugin's connectors run in a process of their own.
    #[arg(long = "in-process", value_name = "FILE")]
    in_process: Option<PathBuf>,
}

/// The search options given before the subcommand, as earlier versions
/// took them.
#[derive(Debug, Args)]
struct EarlySearchArgs {
    #[arg(long = "plugin-path", value_name = "DIR", hide = true)]
    early_plugin_paths: Vec<PathBuf>,
    #[arg(long = "isolated", hide = true)]
    early_isolated: bool,
    #[arg(long = "trust", value_name = "FILE", hide = true)]
    early_trust: Option<PathBuf>,
}

impl EarlySearchArgs {
    fn given(&self) -> bool {
        !self.early_plugin_paths.is_empty() || self.early_isolated || self.early_trust.is_some()
    }

    /// `search` with these options in front of its own.
    fn before(&self, mut search: SearchArgs) -> SearchArgs {
        let mut paths = self.early_plugin_paths.clone();
        paths.append(&mut search.plugin_paths);
        SearchArgs {
            plugin_paths: paths,
            isolated: self.early_isolated || search.isolated,
            trust: search.trust.or_else(|| self.early_trust.clone()),
            in_process: search.in_process,
        }
    }
}

/// A registry and what it was made from: the search path and the trust
/// policy.
struct Discovered {
    registry: Registry,
    search: SearchPath,
    trust: Option<TrustPolicy>,
}

impl SearchArgs {
    /// The registry of this search: every plugin directory checked, the
    /// trust policy read, every candidate loaded and checked.
    ///
    /// # Errors
    /// A missing `--plugin-path` directory, or a bad trust file.
    fn discover(&self) -> Result<Discovered, String> {
        let search = SearchPath::from_environment(&self.plugin_paths, self.isolated);
        search.check_flags().map_err(|e| e.to_string())?;
        let mut trust = self
            .trust
            .as_deref()
            .map(TrustPolicy::load)
            .transpose()
            .map_err(|e| e.to_string())?;
        if let Some(list) = &self.in_process {
            trust = Some(
                trust
                    .unwrap_or_default()
                    .in_process_only(list)
                    .map_err(|e| e.to_string())?,
            );
        }
        let registry = Registry::discover(&search, trust.as_ref(), &Vetting::by_this_executable());
        Ok(Discovered {
            registry,
            search,
            trust,
        })
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

/// Exit status 2 with every mistake of a flow file, one a line.
fn flow_errors(errors: &FlowErrors) -> ExitCode {
    eprint!("{}", errors.report());
    ExitCode::from(2)
}

/// `pdk-runtime top`: one snapshot of the runtime at `api`, or a table
/// refreshed every `interval` until the runtime stops answering or the
/// user quits.
fn top(
    api: SocketAddr,
    token_file: Option<&Path>,
    once: bool,
    format: Format,
    interval: Duration,
) -> ExitCode {
    let token = match token_file
        .map(|file| Endpoint::new(api, Some(file)))
        .transpose()
    {
        Ok(endpoint) => endpoint.and_then(|endpoint| endpoint.token),
        Err(error) => return usage_error(error),
    };
    let mut rates = observe::Rates::default();
    loop {
        let status = match observe::fetch(api, token.as_deref()) {
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

/// `pdk-runtime validate`: every flow file checked completely, every
/// mistake printed; exit status 2 if any.
fn validate(files: &[PathBuf], registry: &Registry) -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    for file in files {
        match Flow::load(file, registry) {
            Ok(flow) => println!(
                "ok: {}: {} connectors, {} links",
                printable_path(file),
                flow.nodes.len(),
                flow.nodes
                    .iter()
                    .map(|node| node.targets.len())
                    .sum::<usize>()
            ),
            Err(errors) => status = flow_errors(&errors),
        }
    }
    status
}

/// `pdk-runtime run`: one flow until its sources finish.
fn run(file: &Path, watch: bool, api: &ApiArgs, found: Discovered) -> ExitCode {
    let Discovered {
        registry, trust, ..
    } = found;
    let checked = match Flow::load(file, &registry) {
        Ok(checked) => checked,
        Err(errors) => return flow_errors(&errors),
    };
    let (endpoint, shutdown) = match prepare_to_run(api, checked.api) {
        Ok(prepared) => prepared,
        Err(status) => return status,
    };
    let observer = Observer::default();
    if let Some(endpoint) = endpoint {
        match observe::serve(endpoint, observer.clone(), None) {
            Ok(bound) => log::info!("serving /metrics, /health and /status on http://{bound}"),
            Err(error) => return usage_error(error),
        }
    }
    let watch = watch.then(|| Watch {
        trust,
        vetting: Vetting::by_this_executable(),
    });
    let name = flow::flow_name(file);
    let shown = printable_path(file);
    observer.flow_state(&name, &shown, FlowState::Starting, None);
    let result = executor::block_on(async {
        let running = flow::start(checked, &registry, file, &name, &shutdown, watch, &observer)?;
        observer.flow_state(&name, &shown, FlowState::Running, None);
        running.finish().await
    });
    match &result {
        Ok(()) => observer.flow_state(&name, &shown, FlowState::Stopped, None),
        Err(error) => {
            observer.flow_state(&name, &shown, FlowState::Failed, Some(error.to_string()));
        }
    }
    unless_internal_failure(|| match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(flow::RunError::Flow(error)) => usage_error(error),
        // A connector's configuration (or what it names, such as a
        // port in use) must change: as for a rejected config.
        Err(error @ flow::RunError::Connectors(_)) if error.is_permanent() => usage_error(error),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    })
}

/// `pdk-runtime serve`: every flow of the flow directories.
fn serve(flows: Vec<PathBuf>, api: &ApiArgs, found: Discovered) -> ExitCode {
    let (endpoint, shutdown) = match prepare_to_run(api, None) {
        Ok(prepared) => prepared,
        Err(status) => return status,
    };
    let settings = serve::Settings {
        flow_dirs: flows,
        search: found.search,
        trust: found.trust,
        vetting: Vetting::by_this_executable(),
    };
    match serve::serve(settings, found.registry, endpoint, &shutdown) {
        Ok(()) => unless_internal_failure(|| ExitCode::SUCCESS),
        Err(error) => usage_error(error),
    }
}

/// What a command that runs flows needs first: its endpoint, if asked
/// (`--api`, or `fallback` from the flow file), and the channel that
/// SIGINT/SIGTERM closes; or the exit status saying why not.
fn prepare_to_run(
    api: &ApiArgs,
    fallback: Option<SocketAddr>,
) -> Result<(Option<Endpoint>, async_channel::Receiver<()>), ExitCode> {
    let endpoint = api.endpoint(fallback).map_err(usage_error)?;
    let shutdown = signals::drain_on_signals().map_err(|error| {
        eprintln!("error: cannot watch for SIGINT/SIGTERM: {error}");
        ExitCode::FAILURE
    })?;
    Ok((endpoint, shutdown))
}

/// The exit status `status` reports (and prints), unless one of the
/// runtime's own threads failed meanwhile: then that alone.
fn unless_internal_failure(status: impl FnOnce() -> ExitCode) -> ExitCode {
    match signals::internal_failure() {
        Some(failure) => {
            eprintln!("error: internal failure: {failure}");
            ExitCode::from(signals::INTERNAL_FAILURE_STATUS)
        }
        None => status(),
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
    let mut args = std::env::args_os().skip(1);
    if args
        .next()
        .is_some_and(|first| first == isolation::CHILD_COMMAND)
    {
        let spec = args.next().unwrap_or_default();
        return isolation::child_main(&spec.to_string_lossy());
    }
    let Cli { early, command } = Cli::parse();
    let discover = |search: SearchArgs| early.before(search).discover();
    match command {
        Command::Plugins {
            command: PluginsCommand::List { format, search },
        } => {
            let registry = match discover(search) {
                Ok(found) => found.registry,
                Err(error) => return usage_error(error),
            };
            match format {
                Format::Text => print!("{}", report::text(&registry)),
                Format::Json => println!("{}", report::json(&registry)),
            }
            ExitCode::SUCCESS
        }
        Command::Run {
            flow,
            watch,
            api,
            search,
        } => match discover(search) {
            Ok(found) => run(&flow, watch, &api, found),
            Err(error) => usage_error(error),
        },
        Command::Serve { flows, api, search } => match discover(search) {
            Ok(found) => serve(flows, &api, found),
            Err(error) => usage_error(error),
        },
        Command::Validate { flows, search } => match discover(search) {
            Ok(found) => validate(&flows, &found.registry),
            Err(error) => usage_error(error),
        },
        _ if early.given() => usage_error(
            "--plugin-path, --isolated and --trust apply to `plugins list`, `run`, `serve` and \
             `validate` only; fix: leave them out",
        ),
        Command::New {
            name,
            dir,
            pdk_path,
        } => {
            let pdk = pdk_path.map_or_else(PdkSource::this_runtimes, PdkSource::Path);
            match scaffold::create(&name, &dir, &pdk) {
                Ok(created) => {
                    println!(
                        "created {dir}\n{sdk}\nnext: cd {dir} && cargo build && \
                         pdk-runtime run flow.toml --plugin-path target/debug",
                        dir = created.display(),
                        sdk = pdk.describe()
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => usage_error(error),
            }
        }
        Command::Top {
            api,
            api_token_file,
            once,
            format,
            interval_ms,
        } => top(
            api,
            api_token_file.as_deref(),
            once,
            format,
            Duration::from_millis(interval_ms),
        ),
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
    }
}
