//! The flow file format and its checks against the loaded plugins.
//!
//! ```toml
//! [[connector]]
//! id = "tick"
//! type = "metronome"
//! config = { interval_ms = 100, count = 5 }
//!
//! [[connector]]
//! id = "out"
//! type = "stdout"
//!
//! [[link]]
//! from = "tick"
//! to = ["out"]
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use pdk::Value;
use serde::Deserialize;

use super::error::FlowErrors;
use super::{check, variables, FlowError, RestartPolicy};
use crate::codec::Codec;
use crate::isolation::Limits;
use crate::printable::printable_path;
use crate::registry::{Registry, Status};

/// How long a drain (after SIGINT or SIGTERM) may take by default.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowFile {
    /// How long a drain may take, in milliseconds.
    #[serde(default)]
    drain_timeout_ms: Option<u64>,
    /// Where the runtime serves its metrics, health and status, unless
    /// `--api` says.
    #[serde(default)]
    api: Option<String>,
    #[serde(default)]
    connector: Vec<ConnectorSpec>,
    #[serde(default)]
    link: Vec<LinkSpec>,
}

/// One `[[connector]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectorSpec {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    codec: Codec,
    #[serde(default)]
    config: Option<toml::Value>,
    #[serde(default)]
    restart: RestartPolicy,
    #[serde(default)]
    isolation: IsolationMode,
    #[serde(default)]
    limits: Option<Limits>,
}

/// Where a connector runs (`isolation`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum IsolationMode {
    /// In the runtime's process.
    #[default]
    None,
    /// In a process of its own.
    Process,
}

/// One `[[link]]` table as written; `to` is a string or a list of them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkSpec {
    from: String,
    to: toml::Value,
}

/// One connector of a checked flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its unique id.
    pub id: String,
    /// Its connector type.
    pub kind: String,
    /// How raw bytes it produces become values.
    pub codec: Codec,
    /// Its configuration (`null` if absent).
    pub config: Value,
    /// How often it may fail before it is stopped.
    pub restart: RestartPolicy,
    /// The indices of the connectors its source side sends to.
    pub targets: Vec<usize>,
    /// With `isolation = "process"`: the limits of its own process.
    pub isolated: Option<Limits>,
}

/// A flow file that passed every check: every type is provided by a loaded
/// plugin, every link joins a source side to sink sides.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// The connectors, in file order.
    pub nodes: Vec<Node>,
    /// How long the drain after SIGINT or SIGTERM may take before the
    /// events still in flight are failed back (`drain_timeout_ms`).
    pub drain_timeout: Duration,
    /// Where the runtime serves `/metrics`, `/health` and `/status`
    /// (`api`), unless `--api` says.
    pub api: Option<SocketAddr>,
}

impl Flow {
    /// Reads and checks the flow file at `file`.
    ///
    /// # Errors
    /// Every mistake found, each naming the file, the field and the fix.
    pub fn load(file: &Path, registry: &Registry) -> Result<Self, FlowErrors> {
        let bytes = std::fs::read(file).map_err(|e| {
            FlowError::new(
                file,
                "file",
                format!("cannot be read: {e}"),
                "check the path of the flow file",
            )
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            FlowError::new(
                file,
                format!("line {line}"),
                format!("is not UTF-8 text (an invalid byte at offset {at})"),
                "save the flow file as UTF-8, as TOML requires",
            )
        })?;
        Self::parse(file, &text, registry)
    }

    /// Checks the flow file `text`, read from `file`: past a syntax error,
    /// every mistake is found, not only the first; every connector's
    /// config is read by its plugin (see [`check`]), nothing connects.
    ///
    /// # Errors
    /// Every mistake found, each naming the file, the field and the fix.
    pub fn parse(file: &Path, text: &str, registry: &Registry) -> Result<Self, FlowErrors> {
        let spec = read_spec(file, text, &variables::Environment)?;
        if spec.connector.is_empty() {
            return Err(FlowError::new(
                file,
                "connector",
                "the flow has no connector",
                "add a `[[connector]]` table with `id` and `type`",
            )
            .into());
        }
        let mut errors = Vec::new();
        let mut index_of: HashMap<&str, usize> = HashMap::new();
        for (i, connector) in spec.connector.iter().enumerate() {
            errors.extend(check_connector(file, i, connector, registry));
            if index_of.contains_key(connector.id.as_str()) {
                errors.push(FlowError::new(
                    file,
                    format!("connector[{i}].id"),
                    format!("id `{}` is used by two connectors", connector.id),
                    "give every connector a unique `id`",
                ));
            } else {
                index_of.insert(&connector.id, i);
            }
        }
        let targets = link(file, &spec, &index_of, registry, &mut errors);
        for (i, connector) in spec.connector.iter().enumerate() {
            let is_source = registry
                .kind(&connector.kind)
                .is_some_and(|k| k.source && !k.sink);
            if is_source && targets[i].is_empty() {
                errors.push(FlowError::new(
                    file,
                    connector_field(i, connector, ""),
                    format!(
                        "source `{}` is not linked to any sink, its events would be lost",
                        connector.id
                    ),
                    format!(
                        "add a `[[link]]` with `from = \"{}\"`, or remove the connector",
                        connector.id
                    ),
                ));
            }
        }
        let mut nodes = Vec::with_capacity(spec.connector.len());
        for (i, (spec, targets)) in spec.connector.into_iter().zip(targets).enumerate() {
            let config = match &spec.config {
                Some(config) => Value::deserialize(config.clone()).unwrap_or_else(|e| {
                    errors.push(FlowError::new(
                        file,
                        connector_field(i, &spec, ".config"),
                        format!("cannot be read: {e}"),
                        "write the config as a TOML table of strings, numbers, booleans, arrays and tables",
                    ));
                    Value::NULL
                }),
                None => Value::NULL,
            };
            let isolated = match (spec.isolation, spec.limits) {
                (IsolationMode::Process, limits) => Some(limits.unwrap_or_default()),
                (IsolationMode::None, None) => None,
                (IsolationMode::None, Some(_)) => {
                    errors.push(FlowError::new(
                        file,
                        connector_field(i, &spec, ".limits"),
                        "limits apply only to a connector in a process of its own",
                        "add `isolation = \"process\"`, or remove `limits`",
                    ));
                    None
                }
            };
            nodes.push(Node {
                id: spec.id,
                kind: spec.kind,
                codec: spec.codec,
                config,
                restart: spec.restart,
                targets,
                isolated,
            });
        }
        for node in &nodes {
            errors.extend(check::check_config(file, node, registry));
        }
        let api = spec
            .api
            .as_deref()
            .map(crate::observe::parse_address)
            .transpose()
            .unwrap_or_else(|problem| {
                errors.push(FlowError::new(
                    file,
                    "api",
                    problem,
                    "write `api = \"9898\"` (a port on 127.0.0.1) or `api = \"HOST:PORT\"`",
                ));
                None
            });
        if let Some(errors) = FlowErrors::of(errors) {
            return Err(errors);
        }
        Ok(Self {
            nodes,
            api,
            drain_timeout: spec
                .drain_timeout_ms
                .map_or(DEFAULT_DRAIN_TIMEOUT, Duration::from_millis),
        })
    }
}

/// Where `rest` (`.type`, `.config`, or nothing) of connector `i` is, for
/// people: by its id (``connector `tick`.type``) when it has a usable one,
/// by its place in the file otherwise.
fn connector_field(i: usize, connector: &ConnectorSpec, rest: &str) -> String {
    if connector.id.is_empty() || connector.id.chars().any(char::is_control) {
        format!("connector[{i}]{rest}")
    } else {
        format!("connector `{}`{rest}", connector.id)
    }
}

/// The targets of every connector, as the links say; a link that names
/// an unknown connector, or a side it does not have, is added to `errors`.
fn link(
    file: &Path,
    spec: &FlowFile,
    index_of: &HashMap<&str, usize>,
    registry: &Registry,
    errors: &mut Vec<FlowError>,
) -> Vec<Vec<usize>> {
    let mut targets: Vec<Vec<usize>> = vec![Vec::new(); spec.connector.len()];
    for (i, link) in spec.link.iter().enumerate() {
        let from_field = format!("link[{i}].from");
        let from = resolve(file, &from_field, &link.from, index_of)
            .and_then(|from| {
                require_side(
                    file,
                    &from_field,
                    &spec.connector[from],
                    registry,
                    Side::Source,
                )
                .map(|()| from)
            })
            .map_err(|e| errors.push(e))
            .ok();
        let to = match link_targets(file, i, &link.to) {
            Ok(to) => to,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for (j, to) in to.into_iter().enumerate() {
            let field = format!("link[{i}].to[{j}]");
            let to = resolve(file, &field, &to, index_of).and_then(|to| {
                require_side(file, &field, &spec.connector[to], registry, Side::Sink).map(|()| to)
            });
            match (from, to) {
                (Some(from), Ok(to)) if !targets[from].contains(&to) => targets[from].push(to),
                (_, Err(e)) => errors.push(e),
                _ => {}
            }
        }
    }
    targets
}

/// The flow file `text` as written, its variables substituted from
/// `source` (see [`variables`]).
fn read_spec(
    file: &Path,
    text: &str,
    source: &impl variables::Source,
) -> Result<FlowFile, FlowError> {
    let document: toml::Table = toml::from_str(text).map_err(|e| syntax_error(file, text, &e))?;
    let mut document = toml::Value::Table(document);
    let dir = file.parent().unwrap_or_else(|| Path::new(""));
    variables::substitute(&mut document, &mut String::new(), dir, source).map_err(
        |(path, why)| FlowError::new(file, named_by_id(&document, path), why.problem, why.fix),
    )?;
    FlowFile::deserialize(document).map_err(|e| {
        // Located in the text as written, when the mistake is there and
        // not in a variable's value.
        match toml::from_str::<FlowFile>(text) {
            Err(located) => syntax_error(file, text, &located),
            Ok(_) => syntax_error(file, text, &e),
        }
    })
}

/// `path` (`connector[1].config.path`) with the connector named by its id
/// (``connector `copy`.config.path``) when the document gives it one.
fn named_by_id(document: &toml::Value, path: String) -> String {
    let Some((index, rest)) = path
        .strip_prefix("connector[")
        .and_then(|after| after.split_once(']'))
    else {
        return path;
    };
    let id = index
        .parse::<usize>()
        .ok()
        .and_then(|i| document.get("connector")?.get(i)?.get("id")?.as_str());
    match id {
        Some(id) if !id.is_empty() && !id.chars().any(char::is_control) => {
            format!("connector `{id}`{rest}")
        }
        _ => path,
    }
}

/// A TOML or shape error, located by line and column.
fn syntax_error(file: &Path, text: &str, error: &toml::de::Error) -> FlowError {
    let problem = error.message().trim_end_matches('\n').replace('\n', " ");
    let fix = "correct the flow file there (each `[[connector]]` has `id`, `type` and optional \
               `codec`, `config`, `restart`, `isolation` and `limits`; each `[[link]]` has `from` and `to`)";
    let Some(span) = error.span() else {
        return FlowError::new(file, "file", problem, fix);
    };
    let before = &text[..span.start.min(text.len())];
    let number = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or_default();
    FlowError::new(
        file,
        format!("line {number}, column {column}"),
        problem,
        fix,
    )
    .with_excerpt(number, line, column)
}

/// What is wrong with connector `i`'s id or type, if anything.
fn check_connector(
    file: &Path,
    i: usize,
    connector: &ConnectorSpec,
    registry: &Registry,
) -> Option<FlowError> {
    if connector.id.is_empty() {
        return Some(FlowError::new(
            file,
            format!("connector[{i}].id"),
            "the id is empty",
            "give the connector a non-empty `id`",
        ));
    }
    if connector.id.chars().any(char::is_control) {
        return Some(FlowError::new(
            file,
            format!("connector[{i}].id"),
            format!("the id `{}` contains a control character", connector.id),
            "write the id on one line, without control characters (letters, digits, `-` and `_` read best)",
        ));
    }
    if registry.provider(&connector.kind).is_none() {
        let known = registry.connector_types();
        let hint = known
            .iter()
            .find(|k| strsim::levenshtein(k, &connector.kind) <= 2)
            .map(|k| format!("did you mean `{k}`? "))
            .unwrap_or_default();
        return Some(FlowError::new(
            file,
            connector_field(i, connector, ".type"),
            format!(
                "no loaded plugin and no built-in connector provides connector type `{}` (known: {}){}",
                connector.kind,
                if known.is_empty() {
                    String::from("none")
                } else {
                    known.join(", ")
                },
                rejected_candidates(registry)
            ),
            format!(
                "{hint}check the type name, or add the plugin's directory with --plugin-path \
                 (`pdk-runtime plugins list` shows what is found)"
            ),
        ));
    }
    None
}

/// The first few plugin files the registry rejected, with their reasons,
/// for a connector type no plugin provides: the one a user meant may be
/// among them.
fn rejected_candidates(registry: &Registry) -> String {
    const SHOWN: usize = 3;
    let rejected: Vec<String> = registry
        .candidates()
        .iter()
        .filter_map(|candidate| match &candidate.status {
            Status::Rejected(reason) => {
                Some(format!("{}: {reason}", printable_path(&candidate.path)))
            }
            Status::Loaded(_) => None,
        })
        .collect();
    match rejected.len() {
        0 => String::new(),
        n if n <= SHOWN => format!("; rejected plugin files: {}", rejected.join("; ")),
        n => format!(
            "; rejected plugin files: {}; and {} more",
            rejected[..SHOWN].join("; "),
            n - SHOWN
        ),
    }
}

fn resolve(
    file: &Path,
    field: &str,
    id: &str,
    index_of: &HashMap<&str, usize>,
) -> Result<usize, FlowError> {
    index_of.get(id).copied().ok_or_else(|| {
        let mut ids: Vec<&str> = index_of.keys().copied().collect();
        ids.sort_unstable();
        FlowError::new(
            file,
            field,
            format!("no connector has id `{id}`"),
            format!("use one of the connector ids: {}", ids.join(", ")),
        )
    })
}

fn link_targets(file: &Path, i: usize, to: &toml::Value) -> Result<Vec<String>, FlowError> {
    let bad = || {
        FlowError::new(
            file,
            format!("link[{i}].to"),
            "must be a connector id or a list of them",
            "write `to = \"out\"` or `to = [\"out\", \"file\"]`",
        )
    };
    match to {
        toml::Value::String(id) => Ok(vec![id.clone()]),
        toml::Value::Array(ids) if !ids.is_empty() => ids
            .iter()
            .map(|id| id.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

/// A side of a connector.
#[derive(Debug, Clone, Copy)]
enum Side {
    Source,
    Sink,
}

fn require_side(
    file: &Path,
    field: &str,
    connector: &ConnectorSpec,
    registry: &Registry,
    side: Side,
) -> Result<(), FlowError> {
    let Some(kind) = registry.kind(&connector.kind) else {
        // The unknown type is reported on its own.
        return Ok(());
    };
    let has = match side {
        Side::Source => kind.source,
        Side::Sink => kind.sink,
    };
    if has {
        return Ok(());
    }
    let (name, direction) = match side {
        Side::Source => ("source", "from"),
        Side::Sink => ("sink", "to"),
    };
    Err(FlowError::new(
        file,
        field,
        format!(
            "connector `{}` (type `{}`) has no {name} side",
            connector.id, connector.kind
        ),
        format!("link {direction} a connector with a {name} side"),
    ))
}
