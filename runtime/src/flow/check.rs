//! Checking a flow's connector configs without running anything: each
//! connector is created by its own plugin (which reads its config with the
//! author's own `Config` type) and dropped at once. Creating a connector
//! connects nothing: `connect` is a later call the check never makes.

use std::path::Path;

use pdk::{Error, ErrorKind};

use super::handle::{self, Connection, Wiring};
use super::instance::Instance;
use super::{FlowError, Node};
use crate::isolation::{Isolation, Limits};
use crate::logging::Tag;
use crate::observe::Observer;
use crate::registry::{Provider, Registry};
use crate::trust::Placement;

/// Why connector `node` (of a flow read from `file`) cannot be created
/// with its config, if it cannot; nothing when its type is unknown (that
/// is reported on its own).
#[must_use]
pub fn check_config(file: &Path, node: &Node, registry: &Registry) -> Option<FlowError> {
    let provider = registry.provider(&node.kind)?;
    // The plugin metrics a connector registers in `new` go nowhere.
    let observer = Observer::default();
    let control = async_channel::unbounded();
    let wiring = Wiring {
        codec: node.codec,
        source_linked: !node.targets.is_empty(),
    };
    let metrics = observer.plugin_metrics_for("", &node.id, &node.kind, provider.plugin_name());
    let ctx = handle::context(&node.id, control.0, Connection::default(), wiring, metrics);
    let isolation = match isolation_of(node, provider, registry) {
        Ok(isolation) => isolation,
        Err(error) => return Some(creation_error(file, node, &error)),
    };
    Tag::supervised(provider.plugin_name(), &node.id, |_| {})
        .scope(|| Instance::create(provider, &node.kind, ctx, &node.config, isolation.as_ref()))
        .err()
        .map(|error| creation_error(file, node, &error))
}

/// How connector `node` runs in a process of its own, if it does: when
/// its flow file says so, or when its plugin is not on the trust policy's
/// in-process list (then with the default limits).
///
/// # Errors
/// When the runtime's executable, which that process runs, is not found.
pub fn isolation_of(
    node: &Node,
    provider: Provider<'_>,
    registry: &Registry,
) -> Result<Option<Isolation>, Error> {
    let placed = match provider {
        Provider::Plugin(plugin) if plugin.placement == Placement::Isolated => {
            Some(Limits::default())
        }
        _ => None,
    };
    node.isolated
        .or(placed)
        .map(|limits| {
            Isolation::of(
                provider,
                limits,
                registry.trust_file().map(Path::to_path_buf),
                node.codec,
            )
        })
        .transpose()
}

/// Connector `node`'s type is no longer provided (the registry changed
/// since the flow was checked).
pub fn not_provided(file: &Path, node: &Node) -> FlowError {
    FlowError::new(
        file,
        format!("connector `{}`.type", node.id),
        format!("connector type `{}` is not provided any more", node.kind),
        "check the plugin path (`pdk-runtime plugins list` shows what is found)",
    )
}

/// Why connector `node` could not be created: its config (the author's
/// `Config` or `new` rejected it) or a failure in the plugin.
pub fn creation_error(file: &Path, node: &Node, error: &Error) -> FlowError {
    let connector = format!("connector `{}` (type `{}`)", node.id, node.kind);
    if error.kind() == ErrorKind::Config {
        FlowError::new(
            file,
            format!("{connector} config"),
            error.message(),
            format!("correct the `config` table of connector `{}`", node.id),
        )
    } else {
        FlowError::new(
            file,
            connector,
            format!("could not be created: {}", error.message()),
            format!("fix the plugin providing `{}`", node.kind),
        )
    }
}
