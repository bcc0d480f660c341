//! Every candidate of the search path, loaded and checked, and which plugin
//! provides which connector type. As with `PATH`, the first plugin in
//! search order that provides a type wins; a later one providing the same
//! type is rejected, naming the file that shadows it.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::discovery::SearchPath;
use crate::loader::{self, LoadedPlugin};

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

/// The plugins of a search path, and the connector types they provide.
#[derive(Debug, Default)]
pub struct Registry {
    candidates: Vec<Candidate>,
    providers: HashMap<String, usize>,
}

impl Registry {
    /// Loads and checks every candidate of `search`. A bad candidate never
    /// stops the others.
    #[must_use]
    pub fn discover(search: &SearchPath) -> Self {
        let mut registry = Self::default();
        for path in search.candidates() {
            let status = match loader::load(&path) {
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
            if let Some(&earlier) = self.providers.get(&kind.name) {
                return Status::Rejected(format!(
                    "connector type `{}` is already provided by {}, which comes first in the \
                     plugin path; remove one of the two files",
                    kind.name,
                    self.candidates[earlier].path.display()
                ));
            }
        }
        if plugin.connectors.is_empty() {
            return Status::Rejected(String::from(
                "exports no connector type; list at least one in its `#[pdk_export]` module",
            ));
        }
        let index = self.candidates.len();
        for kind in &plugin.connectors {
            self.providers.insert(kind.name.clone(), index);
        }
        Status::Loaded(plugin)
    }

    /// Every candidate, in search order.
    #[must_use]
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// The plugin providing connector type `name`.
    #[must_use]
    pub fn provider(&self, name: &str) -> Option<&LoadedPlugin> {
        let index = *self.providers.get(name)?;
        match &self.candidates[index].status {
            Status::Loaded(plugin) => Some(plugin),
            Status::Rejected(_) => None,
        }
    }

    /// Every connector type provided, sorted by name.
    #[must_use]
    pub fn connector_types(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.providers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}
