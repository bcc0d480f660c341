//! Every candidate of the search path, loaded and checked, and what
//! provides which connector type. As with `PATH`, the first plugin in
//! search order that provides a type wins; a later one providing the same
//! type is rejected, naming what shadows it. Connectors built into the
//! runtime provide the types no plugin provides: a plugin file replaces a
//! built-in connector of the same type.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::discovery::SearchPath;
use pdk::linked::LinkedEntry;

use crate::builtin;
use crate::executor::Host;
use crate::loader::{ConnectorKind, LoadedPlugin, PluginInfo};
use crate::printable::{printable, printable_path};
use crate::trust::TrustPolicy;
use crate::vetting::Vetting;

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

/// One connector type built into the runtime.
#[derive(Debug, Clone)]
pub struct BuiltIn {
    /// What it can do.
    pub kind: ConnectorKind,
    /// How to create one.
    pub entry: LinkedEntry,
    /// The plugin file that provides the same type instead, if any.
    pub replaced_by: Option<PathBuf>,
}

/// What provides a connector type.
#[derive(Debug, Clone, Copy)]
pub enum Provider<'a> {
    /// A plugin.
    Plugin(&'a LoadedPlugin),
    /// A connector built into the runtime.
    BuiltIn(&'a LinkedEntry),
}

impl Provider<'_> {
    /// Where the connector type comes from, for people: the plugin file,
    /// or the built-in crate, with its version.
    #[must_use]
    pub fn origin(&self) -> String {
        match self {
            Self::Plugin(plugin) => format!(
                "the plugin {} ({} {})",
                printable_path(&plugin.path),
                printable(&plugin.info.name),
                printable(&plugin.info.version)
            ),
            Self::BuiltIn(entry) => format!("the built-in {} {}", entry.package, entry.version),
        }
    }

    /// The package name of the plugin or of the built-in connector's
    /// crate: the first half of its connectors' log targets, the same
    /// either way.
    #[must_use]
    pub fn plugin_name(&self) -> &str {
        match self {
            Self::Plugin(plugin) => &plugin.info.name,
            Self::BuiltIn(entry) => entry.package,
        }
    }
}

/// What provides a connector type, kept by a running connector for as
/// long as it may be created again (a restart), whatever the registry
/// becomes meanwhile.
#[derive(Debug, Clone)]
pub enum OwnedProvider {
    /// A plugin.
    Plugin(LoadedPlugin),
    /// A connector built into the runtime.
    BuiltIn(LinkedEntry),
}

impl OwnedProvider {
    /// The provider, to create a connector with.
    #[must_use]
    pub fn provider(&self) -> Provider<'_> {
        match self {
            Self::Plugin(plugin) => Provider::Plugin(plugin),
            Self::BuiltIn(entry) => Provider::BuiltIn(entry),
        }
    }
}

impl Provider<'_> {
    /// What runs a pipeline on the thread of this provider's own tokio
    /// runtime, if it has one (see [`crate::executor::Host`]); `None` for a
    /// plugin built on an interface older than 0.3.2.
    #[must_use]
    pub fn pipeline_host(&self) -> Option<Host> {
        match self {
            Self::Plugin(plugin) => plugin
                .module
                .host_pipeline()
                .map(|host| Box::new(move |driver| host(driver).into_option()) as Host),
            Self::BuiltIn(_) => Some(Box::new(pdk::linked::host_pipeline)),
        }
    }

    /// The provider, owned.
    #[must_use]
    pub fn to_owned_provider(self) -> OwnedProvider {
        match self {
            Self::Plugin(plugin) => OwnedProvider::Plugin(plugin.clone()),
            Self::BuiltIn(entry) => OwnedProvider::BuiltIn(*entry),
        }
    }
}

/// Where a provider is kept.
#[derive(Debug, Clone, Copy)]
enum ProviderIndex {
    Candidate(usize),
    BuiltIn(usize),
}

/// The plugins of a search path, the built-in connectors, and the
/// connector types they provide.
#[derive(Default, Clone)]
pub struct Registry {
    searched: Vec<PathBuf>,
    /// The trust policy's file, which isolated connectors' processes read.
    trust_file: Option<PathBuf>,
    candidates: Vec<Candidate>,
    builtins: Vec<BuiltIn>,
    providers: HashMap<String, ProviderIndex>,
}

impl Registry {
    /// Loads and checks every candidate of `search`; the connectors built
    /// into this runtime provide the types no plugin provides. With a
    /// `trust` policy, a candidate not on it is never opened; `vetting`
    /// says whether each is loaded in a child process first. A bad
    /// candidate never stops the others.
    #[must_use]
    pub fn discover(search: &SearchPath, trust: Option<&TrustPolicy>, vetting: &Vetting) -> Self {
        Self::discover_with(search, builtin::entries(), trust, vetting)
    }

    /// Like [`Registry::discover`], with `builtins` as the connectors built
    /// into the runtime: for programs that embed the runtime with their own
    /// connector crates linked in (see [`pdk::linked::LinkedEntry::of`]). The host
    /// services are installed for them.
    #[must_use]
    pub fn discover_with(
        search: &SearchPath,
        builtins: Vec<LinkedEntry>,
        trust: Option<&TrustPolicy>,
        vetting: &Vetting,
    ) -> Self {
        if !builtins.is_empty() {
            pdk::linked::install_host(crate::host::services());
        }
        let mut registry = Self {
            searched: search.dirs().map(Path::to_path_buf).collect(),
            trust_file: trust.and_then(TrustPolicy::file).map(Path::to_path_buf),
            ..Self::default()
        };
        registry.consider(&search.candidates(), trust, vetting);
        for entry in builtins {
            let kind = ConnectorKind {
                name: entry.name.to_owned(),
                source: entry.source,
                transactional: entry.transactional,
                sink: entry.sink,
                uses_tokio: entry.uses_tokio,
            };
            let replaced_by = match registry.providers.get(&kind.name) {
                Some(ProviderIndex::Candidate(index)) => {
                    Some(registry.candidates[*index].path.clone())
                }
                Some(ProviderIndex::BuiltIn(_)) | None => None,
            };
            if replaced_by.is_none() {
                registry.providers.insert(
                    kind.name.clone(),
                    ProviderIndex::BuiltIn(registry.builtins.len()),
                );
            }
            registry.builtins.push(BuiltIn {
                kind,
                entry,
                replaced_by,
            });
        }
        registry
    }

    /// This registry with the plugin files that appeared on `search`
    /// since it was made (and those it rejected, which may have been
    /// caught half-written), checked as at start-up; `None` when no new
    /// plugin loads. Plugins loaded already stay as they are.
    #[must_use]
    pub fn with_new_plugins(
        &self,
        search: &SearchPath,
        trust: Option<&TrustPolicy>,
        vetting: &Vetting,
    ) -> Option<Self> {
        let fresh: Vec<PathBuf> = search
            .candidates()
            .into_iter()
            .filter(|path| {
                !self
                    .candidates
                    .iter()
                    .any(|c| &c.path == path && matches!(c.status, Status::Loaded(_)))
            })
            .collect();
        let mut registry = self.clone();
        let admitted = registry.consider(&fresh, trust, vetting);
        if admitted.is_empty() {
            return None;
        }
        for builtin in &mut registry.builtins {
            if let Some(ProviderIndex::Candidate(index)) =
                registry.providers.get(&builtin.kind.name)
            {
                builtin.replaced_by = Some(registry.candidates[*index].path.clone());
            }
        }
        for path in &admitted {
            log::info!(
                "new plugin {} is usable by flows started from now on",
                printable_path(path)
            );
        }
        Some(registry)
    }

    /// Vets every file of `paths` and admits those that pass (a candidate
    /// seen before is replaced); the paths of those admitted.
    fn consider(
        &mut self,
        paths: &[PathBuf],
        trust: Option<&TrustPolicy>,
        vetting: &Vetting,
    ) -> Vec<PathBuf> {
        let mut admitted = Vec::new();
        for (path, vetted) in vetting.vet(paths, trust) {
            let index = self
                .candidates
                .iter()
                .position(|c| c.path == path)
                .unwrap_or(self.candidates.len());
            // A plugin is loaded here only once it is known to be admitted:
            // a second copy of one is rejected without being loaded.
            let status = match vetted {
                Ok(vetted) => match vetted.report().and_then(|report| {
                    self.conflict(&report.info, &report.connectors, vetted.modified())
                }) {
                    Some(reason) => Status::Rejected(reason),
                    None => match vetted.load() {
                        Ok(plugin) => self.admit(plugin, index),
                        Err(reason) => Status::Rejected(reason.to_string()),
                    },
                },
                Err(reason) => Status::Rejected(reason.to_string()),
            };
            match &status {
                Status::Rejected(reason) => {
                    log::debug!("rejected {}: {reason}", printable_path(path));
                }
                Status::Loaded(_) => admitted.push(path.to_path_buf()),
            }
            let candidate = Candidate {
                path: path.to_path_buf(),
                status,
            };
            match self.candidates.get_mut(index) {
                Some(seen) => *seen = candidate,
                None => self.candidates.push(candidate),
            }
        }
        admitted
    }

    /// Admits `plugin`, candidate `index`, unless it
    /// [conflicts](Self::conflict) with an earlier one.
    fn admit(&mut self, plugin: LoadedPlugin, index: usize) -> Status {
        if let Some(reason) = self.conflict(&plugin.info, &plugin.connectors, plugin.modified) {
            return Status::Rejected(reason);
        }
        for kind in &plugin.connectors {
            self.providers
                .insert(kind.name.clone(), ProviderIndex::Candidate(index));
        }
        Status::Loaded(plugin)
    }

    /// Why a plugin (`info`, exporting `connectors`, its file modified at
    /// `modified`) cannot be admitted: one of its connector types is
    /// already provided by an earlier plugin, or it exports none.
    fn conflict(
        &self,
        info: &PluginInfo,
        connectors: &[ConnectorKind],
        modified: Option<SystemTime>,
    ) -> Option<String> {
        for kind in connectors {
            if let Some(ProviderIndex::Candidate(earlier)) = self.providers.get(&kind.name) {
                let earlier = &self.candidates[*earlier];
                if let Status::Loaded(first) = &earlier.status {
                    if first.info.name == info.name && first.info.version == info.version {
                        return Some(same_plugin_twice(first, info, modified));
                    }
                }
                return Some(format!(
                    "connector type `{}` is already provided by {}, which comes first in the \
                     plugin path; remove one of the two files",
                    printable(&kind.name),
                    printable_path(&earlier.path)
                ));
            }
        }
        connectors.is_empty().then(|| {
            String::from(
                "exports no connector type; list at least one in its `#[pdk_export]` module",
            )
        })
    }

    /// The file of the trust policy the plugins were checked against, if
    /// any.
    #[must_use]
    pub fn trust_file(&self) -> Option<&Path> {
        self.trust_file.as_deref()
    }

    /// The directories of the search path that exist, in search order.
    #[must_use]
    pub fn searched(&self) -> &[PathBuf] {
        &self.searched
    }

    /// Every candidate, in search order.
    #[must_use]
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// The connector types built into the runtime, replaced or not.
    #[must_use]
    pub fn builtins(&self) -> &[BuiltIn] {
        &self.builtins
    }

    /// What provides connector type `name`.
    #[must_use]
    pub fn provider(&self, name: &str) -> Option<Provider<'_>> {
        match *self.providers.get(name)? {
            ProviderIndex::BuiltIn(index) => Some(Provider::BuiltIn(&self.builtins[index].entry)),
            ProviderIndex::Candidate(index) => match &self.candidates[index].status {
                Status::Loaded(plugin) => Some(Provider::Plugin(plugin)),
                Status::Rejected(_) => None,
            },
        }
    }

    /// What connector type `name` can do.
    #[must_use]
    pub fn kind(&self, name: &str) -> Option<&ConnectorKind> {
        match *self.providers.get(name)? {
            ProviderIndex::BuiltIn(index) => Some(&self.builtins[index].kind),
            ProviderIndex::Candidate(index) => match &self.candidates[index].status {
                Status::Loaded(plugin) => plugin.connectors.iter().find(|k| k.name == name),
                Status::Rejected(_) => None,
            },
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

/// The reason a second plugin (`second`, its file modified at
/// `modified`) is not used: `first`, earlier in the search path, is the
/// same plugin (name and version), perhaps another build of it.
fn same_plugin_twice(
    first: &LoadedPlugin,
    second: &PluginInfo,
    modified: Option<SystemTime>,
) -> String {
    format!(
        "the same plugin ({} {}) as {}, which comes first in the plugin path and is used; \
         this file is a {} modified {}, that one a {} modified {}; remove the one you do not \
         want, or put its directory later in the plugin path",
        printable(&second.name),
        printable(&second.version),
        printable_path(&first.path),
        second.build(),
        file_time(modified),
        first.info.build(),
        file_time(first.modified)
    )
}

/// A file's modification time, to the second, in UTC.
fn file_time(modified: Option<SystemTime>) -> String {
    modified
        .and_then(|time| jiff::Timestamp::try_from(time).ok())
        .and_then(|time| time.round(jiff::Unit::Second).ok())
        .map_or_else(
            || String::from("at an unknown time"),
            |time| time.to_string(),
        )
}
