//! The flows of `pdk-runtime serve`: one per flow file of the flow
//! directories, each started, replaced and stopped on its own. A flow
//! file is the one source of truth: the control API writes and removes
//! files, and every change, however it comes (the file system, SIGHUP,
//! the API), goes through [`Fleet::reconcile`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use async_channel::{Receiver, Sender};
use hyper::StatusCode;
use serde_json::json;

use super::control::{Action, Answer, Request};
use crate::discovery::SearchPath;
use crate::executor::{JoinHandle, Local};
use crate::flow::{self, Flow, FlowErrors, RunError, SteerError, Steering};
use crate::observe::{FlowState, Observer};
use crate::printable::printable_path;
use crate::registry::Registry;
use crate::trust::TrustPolicy;
use crate::vetting::Vetting;

/// What the fleet was started with: where flows and plugins are, and how
/// plugins are checked.
pub struct Settings {
    /// The flow directories, in order: a flow name found in two is taken
    /// from the first.
    pub flow_dirs: Vec<PathBuf>,
    /// The plugin search path.
    pub search: SearchPath,
    /// The trust policy every plugin must pass, if any.
    pub trust: Option<TrustPolicy>,
    /// How a plugin is vetted before it is loaded.
    pub vetting: Vetting,
}

/// A flow's run ended: its name and which start of it.
pub type Ended = (String, u64);

/// One flow of the fleet.
struct Entry {
    /// Its flow file.
    file: PathBuf,
    /// The flow file's text last considered (running, or refused).
    seen: String,
    /// The text it runs, if it was ever started.
    running_text: Option<String>,
    /// The flow that text was checked as.
    running_flow: Option<Flow>,
    /// Its run, while it runs.
    run: Option<Run>,
}

/// A running flow.
struct Run {
    /// Dropped to drain the flow.
    stop: Sender<()>,
    /// The flow's run; yields how it ended.
    task: JoinHandle<Result<(), RunError>>,
    steering: Steering,
    /// Which start of the flow this is.
    start: u64,
}

/// Every flow `serve` runs.
pub struct Fleet {
    settings: Settings,
    registry: Arc<Registry>,
    observer: Observer,
    executor: Rc<Local>,
    ended: Sender<Ended>,
    flows: BTreeMap<String, Entry>,
    starts: u64,
}

impl Fleet {
    /// A fleet with no flow yet, its flows run on `executor` and shown
    /// through `observer`; each flow's end is told on the returned
    /// channel (pass it to [`Fleet::on_end`]).
    #[must_use]
    pub fn new(
        settings: Settings,
        registry: Registry,
        observer: Observer,
        executor: Rc<Local>,
    ) -> (Self, Receiver<Ended>) {
        let (ended, ends) = async_channel::unbounded();
        let fleet = Self {
            settings,
            registry: Arc::new(registry),
            observer,
            executor,
            ended,
            flows: BTreeMap::new(),
            starts: 0,
        };
        (fleet, ends)
    }

    /// Loads the plugin files that appeared on the search path since the
    /// last look, with the same checks as at start-up.
    pub fn add_new_plugins(&mut self) {
        let Settings {
            search,
            trust,
            vetting,
            ..
        } = &self.settings;
        if let Some(registry) = self
            .registry
            .with_new_plugins(search, trust.as_ref(), vetting)
        {
            self.registry = Arc::new(registry);
        }
    }

    /// Makes the running flows what the flow directories hold: starts a
    /// new file's flow, restarts a changed one on its new content (only
    /// when that is valid), stops the flow of a removed file.
    pub async fn reconcile(&mut self) {
        let found = self.scan();
        let gone: Vec<String> = self
            .flows
            .keys()
            .filter(|name| !found.contains_key(*name))
            .cloned()
            .collect();
        for name in gone {
            log::info!("flow `{name}`: its file was removed; draining and stopping it");
            self.stop(&name).await;
            self.flows.remove(&name);
            self.observer.remove_flow(&name);
        }
        for (name, (file, text)) in found {
            let unchanged = self
                .flows
                .get(&name)
                .is_some_and(|entry| entry.seen == text && entry.file == file);
            if !unchanged {
                self.change(&name, file, text).await;
            }
        }
    }

    /// Drains and stops every flow.
    pub async fn stop_all(&mut self) {
        let names: Vec<String> = self.flows.keys().cloned().collect();
        for name in &names {
            if let Some(run) = self.flows.get(name).and_then(|entry| entry.run.as_ref()) {
                self.observer
                    .flow_state(name, &self.file_of(name), FlowState::Draining, None);
                // Closing every flow's channel first drains them together.
                run.stop.close();
            }
        }
        for name in &names {
            self.stop(name).await;
        }
    }

    /// Records how flow `name`'s start `start` ended, if it is still
    /// that start's.
    pub async fn on_end(&mut self, (name, start): Ended) {
        let Some(entry) = self.flows.get_mut(&name) else {
            return;
        };
        if entry.run.as_ref().is_none_or(|run| run.start != start) {
            return;
        }
        let Some(run) = entry.run.take() else {
            return;
        };
        let file = printable_path(&entry.file);
        match run.task.await {
            Ok(()) => {
                log::info!("flow `{name}`: finished");
                self.observer
                    .flow_state(&name, &file, FlowState::Stopped, None);
            }
            Err(error) => {
                log::error!("flow `{name}`: {error}");
                self.observer
                    .flow_state(&name, &file, FlowState::Failed, Some(error.to_string()));
            }
        }
    }

    /// Answers a request of the control API.
    pub async fn answer(&mut self, request: Request) -> Answer {
        match request {
            Request::Put { name, text } => self.put(&name, text).await,
            Request::Delete { name } => self.delete(&name).await,
            Request::Steer {
                flow,
                connector,
                action,
            } => self.steer(&flow, connector.as_deref(), action).await,
            Request::Reload => {
                self.add_new_plugins();
                self.reconcile().await;
                Answer::text(
                    StatusCode::OK,
                    "reloaded the flow directories and the plugin path",
                )
            }
        }
    }

    /// The flow files of the flow directories, by flow name: each file's
    /// path and text. A directory or a file that cannot be read is logged,
    /// and the flows read from it before stay as they are: a passing
    /// problem with the disk stops no flow.
    fn scan(&self) -> BTreeMap<String, (PathBuf, String)> {
        let mut found: BTreeMap<String, (PathBuf, String)> = BTreeMap::new();
        for dir in &self.settings.flow_dirs {
            let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
                Ok(entries) => entries
                    .flatten()
                    .map(|entry| entry.path())
                    .filter(|path| is_flow_file(path))
                    .collect(),
                Err(error) => {
                    log::error!(
                        "cannot read flow directory {}: {error}; its flows run on as they are",
                        printable_path(dir)
                    );
                    for (name, entry) in &self.flows {
                        if entry.file.parent() == Some(dir.as_path()) {
                            found.insert(name.clone(), (entry.file.clone(), entry.seen.clone()));
                        }
                    }
                    continue;
                }
            };
            files.sort();
            for file in files {
                let Some(name) = flow_name(&file) else {
                    continue;
                };
                if let Some((first, _)) = found.get(&name) {
                    log::warn!(
                        "{}: flow `{name}` is already read from {}; this file is ignored (rename one of them)",
                        printable_path(&file),
                        printable_path(first)
                    );
                    continue;
                }
                match std::fs::read_to_string(&file) {
                    Ok(text) => {
                        found.insert(name, (file, text));
                    }
                    // Removed meanwhile: the next change reports it.
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => {
                        log::error!(
                            "{}: cannot be read: {error}; its flow runs on as it is",
                            printable_path(&file)
                        );
                        self.observer.flow_rejected(
                            &name,
                            &printable_path(&file),
                            format!("cannot be read: {error}"),
                        );
                        if let Some(entry) = self.flows.get(&name) {
                            found.insert(name, (entry.file.clone(), entry.seen.clone()));
                        }
                    }
                }
            }
        }
        found
    }

    /// Flow `name`'s file is new or changed to `text`: (re)starts it when
    /// `text` is valid, otherwise keeps what runs and records why.
    async fn change(&mut self, name: &str, file: PathBuf, text: String) {
        let checked = self.check(&file, &text);
        let entry = self.flows.entry(name.to_owned()).or_insert_with(|| Entry {
            file: file.clone(),
            seen: String::new(),
            running_text: None,
            running_flow: None,
            run: None,
        });
        entry.seen.clone_from(&text);
        entry.file.clone_from(&file);
        let flow = match checked {
            Ok(flow) => flow,
            Err(errors) => {
                let runs = entry.run.is_some();
                log::error!(
                    "flow `{name}`: {} refused{}:\n{}",
                    printable_path(&file),
                    if runs {
                        "; the running version is kept"
                    } else {
                        ""
                    },
                    errors.report().trim_end()
                );
                self.observer
                    .flow_rejected(name, &printable_path(&file), errors.to_string());
                return;
            }
        };
        if let Some(old) = &entry.running_flow {
            log::info!(
                "flow `{name}`: {} changed ({}); restarting it on the new content",
                printable_path(&file),
                what_changed(old, &flow)
            );
        } else {
            log::info!("flow `{name}`: starting from {}", printable_path(&file));
        }
        self.stop(name).await;
        self.start(name, &file, text, flow);
    }

    /// Flow file `text`, read from `file`, checked completely against
    /// the current plugins: its syntax, types, links and every config.
    fn check(&self, file: &Path, text: &str) -> Result<Flow, FlowErrors> {
        Flow::parse(file, text, &self.registry)
    }

    /// Starts flow `name`, checked as `flow` from `text` in `file`.
    fn start(&mut self, name: &str, file: &Path, text: String, flow: Flow) {
        let shown = printable_path(file);
        self.observer
            .flow_state(name, &shown, FlowState::Starting, None);
        self.starts += 1;
        let start = self.starts;
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let checked = flow.clone();
        let started = flow::start(
            flow,
            &self.registry,
            file,
            name,
            &stopped,
            None,
            &self.observer,
        );
        let Some(entry) = self.flows.get_mut(name) else {
            return;
        };
        entry.running_text = Some(text);
        entry.running_flow = Some(checked);
        match started {
            Ok(running) => {
                let steering = running.steering();
                let ended = self.ended.clone();
                let key = name.to_owned();
                let task = self.executor.spawn(async move {
                    let result = running.finish().await;
                    // The fleet is gone only when the runtime ends.
                    let _ = ended.send((key, start)).await;
                    result
                });
                entry.run = Some(Run {
                    stop,
                    task,
                    steering,
                    start,
                });
                self.observer
                    .flow_state(name, &shown, FlowState::Running, None);
            }
            Err(error) => {
                log::error!("flow `{name}`: cannot start: {error}");
                self.observer
                    .flow_state(name, &shown, FlowState::Failed, Some(error.to_string()));
            }
        }
    }

    /// Drains flow `name`, if it runs, and waits until it has stopped.
    async fn stop(&mut self, name: &str) {
        let Some(run) = self.flows.get_mut(name).and_then(|entry| entry.run.take()) else {
            return;
        };
        let file = self.file_of(name);
        self.observer
            .flow_state(name, &file, FlowState::Draining, None);
        drop(run.stop);
        match run.task.await {
            Ok(()) => log::info!("flow `{name}`: stopped"),
            Err(error) => log::warn!("flow `{name}`: stopped: {error}"),
        }
        self.observer
            .flow_state(name, &file, FlowState::Stopped, None);
    }

    /// Flow `name`'s file, for people.
    fn file_of(&self, name: &str) -> String {
        self.flows
            .get(name)
            .map(|entry| printable_path(&entry.file))
            .unwrap_or_default()
    }

    /// `PUT /flows/NAME`: checks `text` and, when it is valid, writes it
    /// as flow `name`'s file, which starts or replaces the flow.
    async fn put(&mut self, name: &str, text: String) -> Answer {
        let Some(dir) = self.settings.flow_dirs.first() else {
            return Answer::text(
                StatusCode::CONFLICT,
                "serve has no flow directory to write to",
            );
        };
        let file = self.flows.get(name).map_or_else(
            || dir.join(format!("{name}.toml")),
            |entry| entry.file.clone(),
        );
        if let Err(errors) = self.check(&file, &text) {
            return Answer::text(StatusCode::BAD_REQUEST, errors.report());
        }
        let existed = self
            .flows
            .get(name)
            .is_some_and(|entry| entry.run.is_some());
        if let Err(error) = write_atomically(&file, &text) {
            return Answer::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "error: {}: cannot be written: {error}; fix: make the flow directory writable",
                    printable_path(&file)
                ),
            );
        }
        log::info!(
            "control API: flow `{name}` put ({} bytes) into {}",
            text.len(),
            printable_path(&file)
        );
        self.reconcile().await;
        let status = if existed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        Answer::json(status, &self.describe(name))
    }

    /// `DELETE /flows/NAME`: removes flow `name`'s file, which drains and
    /// stops the flow.
    async fn delete(&mut self, name: &str) -> Answer {
        let Some(file) = self.flows.get(name).map(|entry| entry.file.clone()) else {
            return self.unknown(name);
        };
        if let Err(error) = std::fs::remove_file(&file) {
            if error.kind() != std::io::ErrorKind::NotFound {
                return Answer::text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!(
                        "error: {}: cannot be removed: {error}; fix: make the flow directory writable",
                        printable_path(&file)
                    ),
                );
            }
        }
        log::info!(
            "control API: flow `{name}` deleted ({} removed)",
            printable_path(&file)
        );
        self.reconcile().await;
        Answer::json(StatusCode::OK, &json!({ "deleted": name }))
    }

    /// `POST /flows/NAME[/connectors/ID]/ACTION`.
    async fn steer(&mut self, name: &str, connector: Option<&str>, action: Action) -> Answer {
        let Some(entry) = self.flows.get(name) else {
            return self.unknown(name);
        };
        if connector.is_none() && action == Action::Restart {
            let (Some(text), file) = (entry.running_text.clone(), entry.file.clone()) else {
                return Answer::text(
                    StatusCode::CONFLICT,
                    format!("flow `{name}` never started: fix its file first"),
                );
            };
            log::info!("control API: restarting flow `{name}`");
            self.stop(name).await;
            match self.check(&file, &text) {
                Ok(flow) => self.start(name, &file, text, flow),
                Err(errors) => {
                    return Answer::text(StatusCode::CONFLICT, errors.report());
                }
            }
            return Answer::json(StatusCode::OK, &self.describe(name));
        }
        let Some(run) = &entry.run else {
            return Answer::text(
                StatusCode::CONFLICT,
                format!("flow `{name}` is not running; restart it with POST /flows/{name}/restart"),
            );
        };
        let done = match (connector, action) {
            (Some(id), Action::Restart) => run.steering.restart(id).map(|()| vec![id.to_owned()]),
            (id, Action::Pause) => run.steering.hold(id, true),
            (id, Action::Resume) => run.steering.hold(id, false),
            (None, Action::Restart) => Ok(Vec::new()),
        };
        let what = match action {
            Action::Pause => "paused",
            Action::Resume => "resumed",
            Action::Restart => "restarted",
        };
        match done {
            Ok(ids) => {
                log::info!("control API: flow `{name}`: {what} {}", ids.join(", "));
                Answer::json(StatusCode::OK, &json!({ "flow": name, what: ids }))
            }
            Err(error @ SteerError::Unknown { .. }) => {
                Answer::text(StatusCode::NOT_FOUND, error.to_string())
            }
            Err(error) => Answer::text(StatusCode::CONFLICT, error.to_string()),
        }
    }

    /// Flow `name` as `/status` shows it.
    fn describe(&self, name: &str) -> serde_json::Value {
        self.observer
            .status()
            .flows
            .into_iter()
            .find(|flow| flow.name == name)
            .map_or(serde_json::Value::Null, |flow| json!(flow))
    }

    fn unknown(&self, name: &str) -> Answer {
        let known: Vec<&str> = self.flows.keys().map(String::as_str).collect();
        Answer::text(
            StatusCode::NOT_FOUND,
            format!(
                "no flow `{name}` (flows: {})",
                if known.is_empty() {
                    String::from("none")
                } else {
                    known.join(", ")
                }
            ),
        )
    }
}

/// What differs between flow `old` and flow `new`, for the log:
/// connectors added, removed or changed (type, codec, config, restart
/// policy or links), and the flow's own settings.
fn what_changed(old: &Flow, new: &Flow) -> String {
    let ids = |flow: &Flow, targets: &[usize]| -> Vec<String> {
        targets.iter().map(|&t| flow.nodes[t].id.clone()).collect()
    };
    let mut changes = Vec::new();
    for node in &new.nodes {
        match old.nodes.iter().find(|o| o.id == node.id) {
            None => changes.push(format!("connector `{}` added", node.id)),
            Some(was)
                if was.kind != node.kind
                    || was.codec != node.codec
                    || was.config != node.config
                    || was.restart != node.restart
                    || ids(old, &was.targets) != ids(new, &node.targets) =>
            {
                changes.push(format!("connector `{}` changed", node.id));
            }
            Some(_) => {}
        }
    }
    for node in &old.nodes {
        if !new.nodes.iter().any(|n| n.id == node.id) {
            changes.push(format!("connector `{}` removed", node.id));
        }
    }
    if old.drain_timeout != new.drain_timeout || old.api != new.api {
        changes.push(String::from("flow settings changed"));
    }
    if changes.is_empty() {
        String::from("the same flow, written differently")
    } else {
        changes.join(", ")
    }
}

/// Whether `path` is a flow file: `NAME.toml`, not hidden (an editor's or
/// a writer's temporary file is).
fn is_flow_file(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "toml")
        && path
            .file_name()
            .is_some_and(|name| !name.to_string_lossy().starts_with('.'))
        && path.is_file()
}

/// The flow name of `file`: its stem, when it is a valid name.
fn flow_name(file: &Path) -> Option<String> {
    let stem = file.file_stem()?.to_str()?;
    is_flow_name(stem).then(|| stem.to_owned())
}

/// Whether `name` can name a flow (and its file): letters, digits, `-`,
/// `_` and `.`, not starting with `.`.
#[must_use]
pub fn is_flow_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Writes `text` to `file` so that a reader sees the old file or the new
/// one, never a part.
fn write_atomically(file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = file.parent().unwrap_or_else(|| Path::new("."));
    let mut temporary = tempfile::Builder::new().prefix(".pdk-").tempfile_in(dir)?;
    temporary.write_all(text.as_bytes())?;
    temporary.as_file().sync_all()?;
    temporary.persist(file).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, kind: &str, targets: Vec<usize>) -> flow::Node {
        flow::Node {
            id: id.to_owned(),
            kind: kind.to_owned(),
            codec: crate::codec::Codec::default(),
            config: pdk::Value::NULL,
            restart: flow::RestartPolicy::default(),
            targets,
            isolated: None,
        }
    }

    fn flow_of(nodes: Vec<flow::Node>) -> Flow {
        Flow {
            nodes,
            drain_timeout: std::time::Duration::from_secs(10),
            api: None,
        }
    }

    #[test]
    fn what_changed_names_every_connector_added_removed_or_changed() {
        let old = flow_of(vec![
            node("tick", "metronome", vec![1]),
            node("out", "stdout", vec![]),
            node("gone", "stdout", vec![]),
        ]);
        let new = flow_of(vec![
            node("tick", "metronome", vec![1]),
            node("out", "file", vec![]),
            node("new", "stdout", vec![]),
        ]);
        assert_eq!(
            what_changed(&old, &new),
            "connector `out` changed, connector `new` added, connector `gone` removed"
        );
        assert_eq!(
            what_changed(&old, &old),
            "the same flow, written differently"
        );
        // The same links to connectors that moved in the file are no change.
        let moved = flow_of(vec![
            node("out", "stdout", vec![]),
            node("tick", "metronome", vec![0]),
            node("gone", "stdout", vec![]),
        ]);
        assert_eq!(
            what_changed(&old, &moved),
            "the same flow, written differently"
        );
    }

    #[test]
    fn flow_names_are_plain_file_stems() {
        assert!(is_flow_name("orders-2.v1"));
        for bad in ["", ".hidden", "a/b", "..", "a b", "ü"] {
            assert!(!is_flow_name(bad), "{bad}");
        }
    }

    #[test]
    fn an_atomic_write_replaces_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        std::fs::write(&file, "old and longer").unwrap();
        write_atomically(&file, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
