//! A running connector that can be given a new instance: on a new build
//! of its plugin (`run --watch`), or when an operator restarts it (the
//! control API). Its task swaps the instance once the old one has no
//! event in flight, on the same links.

use async_channel::Sender;
use pdk::Value;

use super::handle::{self, Connection, Wiring};
use super::instance::Instance;
use super::task::Control;
use crate::isolation::Isolation;
use crate::loader::ConnectorKind;
use crate::logging::Tag;
use crate::observe::ConnectorFamilies;
use crate::registry::{OwnedProvider, Provider};

/// A new instance for a running connector, and why it comes.
pub struct Replacement {
    /// The instance.
    pub instance: Instance,
    /// Why, for the log: "the new build", "an operator's request".
    pub reason: &'static str,
}

/// A connector of a running flow, with what it takes to create it again.
#[derive(Clone)]
pub struct Restartable {
    /// Its id in the flow.
    pub id: String,
    /// Its connector type.
    pub kind: ConnectorKind,
    /// What provides its type.
    pub provider: OwnedProvider,
    /// Its configuration.
    pub config: Value,
    /// How the flow uses it, for the new instance's context.
    pub wiring: Wiring,
    /// Its log tag.
    pub tag: Tag,
    /// Its task's control channel, for the new instance's handle.
    pub control: Sender<Control>,
    /// Its current connection, for the new instance's handle.
    pub connection: Connection,
    /// Where the new instance registers its plugin's metrics.
    pub metrics: ConnectorFamilies,
    /// Where its task takes new instances.
    pub reload: Sender<Replacement>,
    /// How it runs in a process of its own, if it does.
    pub isolation: Option<Isolation>,
}

impl Restartable {
    /// A new instance of this connector, created by `provider` (its own,
    /// or a new build of its plugin) from its config.
    ///
    /// # Errors
    /// Why the provider could not create it, in one line.
    pub fn create_on(&self, provider: Provider<'_>) -> Result<Instance, String> {
        let ctx = handle::context(
            &self.id,
            self.control.clone(),
            self.connection.clone(),
            self.wiring,
            self.metrics.clone(),
        );
        self.tag
            .scope(|| {
                Instance::create(
                    provider,
                    &self.kind.name,
                    ctx,
                    &self.config,
                    self.isolation.as_ref(),
                )
            })
            .map_err(|e| {
                format!(
                    "connector `{}` could not be created: {}",
                    self.id,
                    e.message()
                )
            })
    }

    /// Restarts the connector on a new instance from its own provider.
    ///
    /// # Errors
    /// Why it could not be created, or that its task has ended.
    pub fn restart(&self) -> Result<(), String> {
        let instance = self.create_on(self.provider.provider())?;
        self.replace(Replacement {
            instance,
            reason: "an operator's request",
        })
    }

    /// Hands `replacement` to the connector's task.
    ///
    /// # Errors
    /// When its task has ended (it takes no new instance).
    pub fn replace(&self, replacement: Replacement) -> Result<(), String> {
        self.reload
            .try_send(replacement)
            .map_err(|_| format!("connector `{}` has ended", self.id))
    }
}
