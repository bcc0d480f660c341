//! Every candidate of the search path, loaded and checked, and what
//! provides which connector type. Connectors linked into the runtime come
//! first; then, as with `PATH`, the first plugin in search order that
//! provides a type wins; a later one providing the same type is rejected,
//! naming what shadows it.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::discovery::SearchPath;
use pdk::native::NativeEntry;

use crate::linked;
use crate::loader::{self, ConnectorKind, LoadedPlugin};
use crate::trust::TrustPolicy;

/// What became of one candidate file.
#[derive(Debug, Clone)]
pub enum Status {
    /// It passed every check and provides connector types.
    Loaded(LoadedPlugin),
    /// It is not used, for this reason.
    Rejected(String),
}

/// One candidate file and what became of it.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The file.
    pub path: PathBuf,
    /// Loaded or rejected.
    pub status: Status,
}

/// What provides a connector type.
#[derive(Debug, Clone, Copy)]
pub enum Provider<'a> {
    /// A plugin.
    Plugin(&'a LoadedPlugin),
    /// A connector crate linked into the runtime.
    Linked(&'a NativeEntry),
}

impl Provider<'_> {
    /// The plugin's package name, or `linked` for a linked connector: the
    /// first half of its connectors' log targets.
    #[must_use]
    pub fn plugin_name(&self) -> &str {
        match self {
            Self::Plugin(plugin) => &plugin.info.name,
            Self::Linked(_) => "linked",
        }
    }
}

/// Where a provider is kept.
#[derive(Debug, Clone, Copy)]
enum Source {
    Candidate(usize),
    Linked(usize),
}

/// The plugins of a search path, the linked connectors, and the connector
/// types they provide.
#[derive(Default)]
pub struct Registry {
    candidates: Vec<Candidate>,
    linked: Vec<(ConnectorKind, NativeEntry)>,
    providers: HashMap<String, Source>,
}

impl Registry {
    /// Loads and checks every candidate of `search`, after the connectors
    /// linked into this runtime; with a `trust` policy, a candidate not on
    /// it is never opened. A bad candidate never stops the others.
    #[must_use]
    pub fn discover(search: &SearchPath, trust: Option<&TrustPolicy>) -> Self {
        Self::discover_with(search, linked::entries(), trust)
    }

    /// Like [`Registry::discover`], with `linked` as the connectors linked
    /// into the runtime: for programs that embed the runtime with their own
    /// statically linked connector crates (see [`pdk::native::entry`]).
    #[must_use]
    pub fn discover_with(
        search: &SearchPath,
        linked: Vec<NativeEntry>,
        trust: Option<&TrustPolicy>,
    ) -> Self {
        let mut registry = Self::default();
        for entry in linked {
            let kind = ConnectorKind {
                name: entry.name.to_owned(),
                source: entry.source,
                transactional: entry.transactional,
                sink: entry.sink,
            };
            registry
                .providers
                .insert(kind.name.clone(), Source::Linked(registry.linked.len()));
            registry.linked.push((kind, entry));
        }
        for path in search.candidates() {
            let status = match loader::load(&path, trust) {
                Ok(plugin) => registry.admit(plugin),
                Err(reason) => Status::Rejected(reason),
            };
            if let Status::Rejected(reason) = &status {
                log::debug!("rejected {}: {reason}", path.display());
            }
            registry.candidates.push(Candidate { path, status });
        }
        registry
    }

    /// Admits `plugin` unless one of its connector types is already
    /// provided by an earlier plugin.
    fn admit(&mut self, plugin: LoadedPlugin) -> Status {
        for kind in &plugin.connectors {
            match self.providers.get(&kind.name) {
                Some(Source::Candidate(earlier)) => {
                    return Status::Rejected(format!(
                        "connector type `{}` is already provided by {}, which comes first in the \
                         plugin path; remove one of the two files",
                        kind.name,
                        self.candidates[*earlier].path.display()
                    ));
                }
                Some(Source::Linked(_)) => {
                    return Status::Rejected(format!(
                        "connector type `{}` is linked into this runtime (feature \
                         `static-connectors`); use a runtime built without it to load the plugin",
                        kind.name
                    ));
                }
                None => {}
            }
        }
        if plugin.connectors.is_empty() {
            return Status::Rejected(String::from(
                "exports no connector type; list at least one in its `#[pdk_export]` module",
            ));
        }
        let index = self.candidates.len();
        for kind in &plugin.connectors {
            self.providers
                .insert(kind.name.clone(), Source::Candidate(index));
        }
        Status::Loaded(plugin)
    }

    /// Every candidate, in search order.
    #[must_use]
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// What provides connector type `name`.
    #[must_use]
    pub fn provider(&self, name: &str) -> Option<Provider<'_>> {
        match *self.providers.get(name)? {
            Source::Linked(index) => Some(Provider::Linked(&self.linked[index].1)),
            Source::Candidate(index) => match &self.candidates[index].status {
                Status::Loaded(plugin) => Some(Provider::Plugin(plugin)),
                Status::Rejected(_) => None,
            },
        }
    }

    /// What connector type `name` can do.
    #[must_use]
    pub fn kind(&self, name: &str) -> Option<&ConnectorKind> {
        match *self.providers.get(name)? {
            Source::Linked(index) => Some(&self.linked[index].0),
            Source::Candidate(index) => match &self.candidates[index].status {
                Status::Loaded(plugin) => plugin.connectors.iter().find(|k| k.name == name),
                Status::Rejected(_) => None,
            },
        }
    }

    /// The connector types linked into the runtime.
    pub fn linked(&self) -> impl Iterator<Item = &ConnectorKind> {
        self.linked.iter().map(|(kind, _)| kind)
    }

    /// Every connector type provided, sorted by name.
    #[must_use]
    pub fn connector_types(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.providers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}
