//! Vetting: every candidate that passed the checks made without loading it
//! is first loaded in a short-lived child process (`pdk-runtime` itself,
//! run as [`CHILD_COMMAND`]), which does all that loading does here: the
//! dynamic loader, the layout and version checks, the root module's
//! initialization, the metadata. A damaged library that crashes the
//! dynamic loader (a segfault, an `ld.so` assertion, a bus error) or hangs
//! in its initialization takes only that child down; the runtime rejects
//! the file with what happened and goes on with the others.
//!
//! The child reads the runtime's private copy of the file (its standard
//! input is that copy's descriptor, see [`Opened`]), so what it vets is
//! what the runtime would load, and reports the plugin's metadata, so
//! that the runtime loads only the plugins it admits (a second copy of a
//! plugin is rejected without being loaded). At most [`POOL`] children
//! run at once, each holding three descriptors of the runtime's, and one
//! for each distinct content: copies of one file, and files loaded before
//! ([`known`]), are not vetted again.

pub mod known;

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus};
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

use crate::loader::{resources_exhausted, LoadedPlugin, Opened, PluginReport, Rejected};
use crate::trust::TrustPolicy;
use known::{ContentDigest, KnownContents};

/// The hidden first argument that makes `pdk-runtime` a vetting child.
pub const CHILD_COMMAND: &str = "__vet-plugin";

/// How long a child may take to load one library.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// How many candidates are vetted at once, at most.
pub const POOL: usize = 4;

/// What the child prints, as its last line, when the library loaded,
/// before the plugin's metadata as JSON.
const LOADED: &str = "pdk-vet: loaded ";

/// What the child prints before the reason when the library was rejected.
const REJECTED: &str = "pdk-vet: rejected: ";

/// How candidates are loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vetting {
    /// Each candidate is loaded by `program CHILD_COMMAND` first, and here
    /// only if that child loaded it (or one loaded the same contents
    /// before).
    Subprocess {
        /// The `pdk-runtime` executable.
        program: PathBuf,
        /// The contents vetted before.
        known: KnownContents,
    },
    /// Candidates are loaded here directly: a damaged library can crash
    /// this process. For programs that embed the runtime library and have
    /// no `pdk-runtime` executable to run.
    InProcess,
}

/// A candidate that passed vetting: loaded by a child, which reported its
/// metadata (or not vetted, in process); ready to be loaded here.
#[derive(Debug)]
pub struct Vetted {
    opened: Opened,
    report: Option<PluginReport>,
}

impl Vetted {
    /// What the vetting child reported of the plugin, if a child vetted it.
    #[must_use]
    pub fn report(&self) -> Option<&PluginReport> {
        self.report.as_ref()
    }

    /// When the file on the plugin path was last modified, if known.
    #[must_use]
    pub fn modified(&self) -> Option<std::time::SystemTime> {
        self.opened.modified()
    }

    /// Loads the plugin in this process.
    ///
    /// # Errors
    /// The one-line reason to reject the file.
    pub fn load(self) -> Result<LoadedPlugin, Rejected> {
        self.opened.load()
    }
}

impl Vetting {
    /// Vetting by this executable, which must be `pdk-runtime` (its `main`
    /// answers the vetting command); in process if its path is unknown.
    #[must_use]
    pub fn by_this_executable() -> Self {
        std::env::current_exe().map_or(Self::InProcess, Self::subprocess)
    }

    /// Vetting by `program`, which must be `pdk-runtime`, remembering the
    /// contents vetted before as [`KnownContents::from_environment`] says.
    #[must_use]
    pub fn subprocess(program: PathBuf) -> Self {
        Self::Subprocess {
            program,
            known: KnownContents::from_environment(),
        }
    }

    /// Opens and vets every file of `paths`, a few at a time, yielding
    /// each in order with the one-line reason it was rejected, if it was.
    pub fn vet<'a>(
        &'a self,
        paths: &'a [PathBuf],
        trust: Option<&'a TrustPolicy>,
    ) -> impl Iterator<Item = (&'a Path, Result<Vetted, Rejected>)> + 'a {
        let mut ready = VecDeque::new();
        let mut chunks = paths.chunks(POOL);
        std::iter::from_fn(move || {
            if ready.is_empty() {
                let chunk = chunks.next()?;
                ready.extend(
                    chunk
                        .iter()
                        .map(PathBuf::as_path)
                        .zip(self.vet_chunk(chunk, trust)),
                );
            }
            ready.pop_front()
        })
    }

    /// Opens, vets and loads every file of `paths`, in order; each result
    /// is the plugin or the one-line reason it was rejected.
    #[must_use]
    pub fn load_all(
        &self,
        paths: &[PathBuf],
        trust: Option<&TrustPolicy>,
    ) -> Vec<Result<LoadedPlugin, Rejected>> {
        self.vet(paths, trust)
            .map(|(_, vetted)| vetted.and_then(Vetted::load))
            .collect()
    }

    /// Opens and vets the files of `chunk`, their children at once.
    fn vet_chunk(
        &self,
        chunk: &[PathBuf],
        trust: Option<&TrustPolicy>,
    ) -> Vec<Result<Vetted, Rejected>> {
        let opened = chunk.iter().map(|path| Opened::open(path, trust));
        match self {
            Self::InProcess => opened
                .map(|opened| {
                    opened.map(|opened| Vetted {
                        opened,
                        report: None,
                    })
                })
                .collect(),
            Self::Subprocess { program, known } => {
                let opened: Vec<Result<(Opened, ContentDigest), Rejected>> = opened
                    .map(|opened| {
                        let opened = opened?;
                        let digest = known::digest(opened.file()).map_err(|e| {
                            Rejected::Vetting(format!(
                                "could not be vetted: reading it failed ({e})"
                            ))
                        })?;
                        Ok((opened, digest))
                    })
                    .collect();
                // The verdict of every content: known, or from the one child
                // started for it; a rejection by its line, for every copy.
                let mut verdicts: HashMap<ContentDigest, Result<PluginReport, String>> =
                    HashMap::new();
                let mut children = Vec::new();
                for (opened, digest) in opened.iter().flatten() {
                    if verdicts.contains_key(digest) || children.iter().any(|(d, _)| d == digest) {
                        continue;
                    }
                    match known.get(digest) {
                        Some(report) => {
                            verdicts.insert(*digest, Ok(report));
                        }
                        None => {
                            log::debug!("vetting {} in a child process", opened.path().display());
                            children.push((*digest, VettingChild::start(program, opened)));
                        }
                    }
                }
                let deadline = Instant::now() + TIMEOUT;
                for (digest, child) in children {
                    let verdict = child.and_then(|child| child.verdict(deadline));
                    if let Ok(report) = &verdict {
                        known.insert(digest, report);
                    }
                    verdicts.insert(digest, verdict.map_err(|rejected| rejected.to_string()));
                }
                opened
                    .into_iter()
                    .map(|vetted| {
                        let (opened, digest) = vetted?;
                        // Every content got its verdict above.
                        let report = verdicts[&digest].clone().map_err(Rejected::Vetting)?;
                        Ok(Vetted {
                            opened,
                            report: Some(report),
                        })
                    })
                    .collect()
            }
        }
    }
}

/// A child process loading one library.
struct VettingChild {
    child: Child,
    stdout: File,
    stderr: File,
}

impl VettingChild {
    /// Starts the child for `opened`. Its output goes to anonymous files,
    /// never pipes, so that a child printing a lot never blocks.
    fn start(program: &Path, opened: &Opened) -> Result<Self, Rejected> {
        let failed = |e: std::io::Error| {
            Rejected::Vetting(if resources_exhausted(&e) {
                format!(
                    "could not be vetted: the runtime ran out of descriptors or processes while \
                     vetting ({e}); raise `ulimit -n` (descriptors) or `ulimit -u` (processes)"
                )
            } else {
                format!(
                    "could not be vetted: starting {} failed ({e}); check that the runtime's \
                     executable is still in place",
                    program.display()
                )
            })
        };
        let stdout = tempfile::tempfile().map_err(failed)?;
        let stderr = tempfile::tempfile().map_err(failed)?;
        let child = Command::new(program)
            .arg(CHILD_COMMAND)
            .arg(opened.path())
            .stdin(opened.duplicate().map_err(failed)?)
            .stdout(stdout.try_clone().map_err(failed)?)
            .stderr(stderr.try_clone().map_err(failed)?)
            // The child keeps the runtime's log level (`PDK_LOG`): a
            // plugin's code that logs runs only when its level is on, and
            // a damaged copy of that code must crash the child, not this
            // process.
            .spawn()
            .map_err(failed)?;
        Ok(Self {
            child,
            stdout,
            stderr,
        })
    }

    /// Waits for the child until `deadline`; what it reported of the
    /// plugin if it loaded the library, else the reason to reject the file.
    fn verdict(mut self, deadline: Instant) -> Result<PluginReport, Rejected> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let status = match self.child.wait_timeout(remaining) {
            Ok(Some(status)) => status,
            Ok(None) => {
                // Killing a child that has just exited fails harmlessly.
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(Rejected::Vetting(format!(
                    "loading it did not finish within {} s (in a vetting process, which was \
                     killed); fix what the plugin does while it loads",
                    TIMEOUT.as_secs()
                )));
            }
            Err(e) => {
                return Err(Rejected::Vetting(format!(
                    "could not be vetted: waiting for the child failed ({e})"
                )))
            }
        };
        let stdout = contents(&mut self.stdout);
        let stderr = contents(&mut self.stderr);
        interpret(status, &stdout, &stderr)
    }
}

/// The verdict from a finished child's status and output.
fn interpret(status: ExitStatus, stdout: &str, stderr: &str) -> Result<PluginReport, Rejected> {
    let last = stdout.lines().last().unwrap_or_default();
    if status.success() {
        if let Some(report) = last
            .strip_prefix(LOADED)
            .and_then(|json| serde_json::from_str(json).ok())
        {
            return Ok(report);
        }
        if let Some(reason) = last.strip_prefix(REJECTED) {
            return Err(Rejected::Reported(reason.to_owned()));
        }
    }
    let how = match status.signal() {
        Some(signal) => format!(
            "signal {signal}{}",
            signal_hook::low_level::signal_name(signal)
                .map(|name| format!(", {name}"))
                .unwrap_or_default()
        ),
        None => status.code().map_or_else(
            || String::from("an unknown status"),
            |code| format!("exit status {code}"),
        ),
    };
    // The first line that is not one of the child's log records.
    let said = stderr
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('['))
        .map(|line| format!(": {}", line.chars().take(200).collect::<String>()))
        .unwrap_or_default();
    Err(Rejected::Vetting(format!(
        "crashed the process that loaded it ({how}{said}); a damaged shared library, or one \
         whose loading crashes: rebuild it or copy it again"
    )))
}

/// What a child wrote into `file`, lossily decoded.
fn contents(file: &mut File) -> String {
    let mut bytes = Vec::new();
    // An unreadable output reads as empty: the status still decides.
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The child's side: loads the library open as standard input (shown as
/// `shown_as`) and prints the verdict as its last line.
#[must_use]
pub fn child_main(shown_as: &Path) -> ExitCode {
    let verdict = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Rejected::File(format!("cannot be read ({e})")))
        .and_then(|fd| Opened::from_file(shown_as.to_path_buf(), File::from(fd)))
        .and_then(Opened::load);
    let line = match verdict {
        Ok(plugin) => format!(
            "{LOADED}{}",
            serde_json::to_string(&PluginReport::of(&plugin)).unwrap_or_default()
        ),
        Err(reason) => format!("{REJECTED}{reason}"),
    };
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "\n{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(raw: i32) -> ExitStatus {
        ExitStatus::from_raw(raw)
    }

    #[test]
    fn the_last_line_of_a_successful_child_is_the_verdict() {
        let exited = status_of(0);
        let report = r#"{"info":{"name":"probe","version":"0.2.0","pdk_version":"0.3.0","interface_version":"0.3.0","rustc_version":"rustc 1.95.0","debug_assertions":true},"connectors":[{"name":"probe_sink","source":false,"transactional":false,"sink":true}]}"#;
        let loaded = interpret(
            exited,
            &format!("plugin chatter\npdk-vet: loaded {report}\n"),
            "",
        )
        .unwrap();
        assert_eq!(loaded.info.name, "probe");
        assert_eq!(loaded.connectors[0].name, "probe_sink");
        let rejected = interpret(
            exited,
            "pdk-vet: rejected: built for PDK interface 0.2.0",
            "",
        )
        .unwrap_err();
        assert!(
            matches!(&rejected, Rejected::Reported(reason) if reason == "built for PDK interface 0.2.0"),
            "{rejected}"
        );
    }

    #[test]
    fn a_crash_names_the_signal_and_what_the_loader_said() {
        // A wait status of "killed by signal 11".
        let reason = interpret(
            status_of(11),
            "",
            "\nInconsistency detected by ld.so: dl-version.c: 205: Assertion failed\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            reason.starts_with(
                "crashed the process that loaded it (signal 11, SIGSEGV: Inconsistency detected by ld.so"
            ),
            "{reason}"
        );
        // Log records before the crash are not what the loader said.
        let reason = interpret(
            status_of(11),
            "",
            "[2026-11-22T20:33:55Z INFO  probe] loading\nsegfault in init\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            reason.contains("(signal 11, SIGSEGV: segfault in init)"),
            "{reason}"
        );
        // Exit status 127 (`_exit(127)` of ld.so), no output.
        let reason = interpret(status_of(127 << 8), "", "")
            .unwrap_err()
            .to_string();
        assert!(reason.contains("(exit status 127)"), "{reason}");
    }

    #[test]
    fn a_child_that_prints_no_verdict_is_a_crash() {
        let reason = interpret(status_of(0), "something else\n", "")
            .unwrap_err()
            .to_string();
        assert!(
            reason.starts_with("crashed the process that loaded it (exit status 0)"),
            "{reason}"
        );
    }
}
