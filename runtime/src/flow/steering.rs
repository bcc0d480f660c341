//! What an operator can do to the connectors of a running flow (the
//! control API): pause and resume their sources, restart them on a new
//! instance.

use std::sync::Arc;

use super::restartable::Restartable;
use super::task::Control;

/// Why a connector could not be steered as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SteerError {
    /// The flow has no connector with that id.
    #[error("the flow has no connector `{id}` (its connectors: {known})")]
    Unknown {
        /// The id asked for.
        id: String,
        /// The flow's connector ids.
        known: String,
    },
    /// The connector has no source side to pause or resume.
    #[error(
        "connector `{0}` has no source side in this flow; only a source can be paused or resumed"
    )]
    NoSource(String),
    /// The connector could not be created again, or has ended.
    #[error("{0}")]
    Failed(String),
}

/// A running flow's connectors, as an operator steers them. Cloning it is
/// one reference count.
#[derive(Clone)]
pub struct Steering {
    connectors: Arc<[Steered]>,
}

/// One connector.
struct Steered {
    restartable: Restartable,
    /// Whether its source side is linked in the flow.
    source: bool,
}

impl Steering {
    /// Steers `connectors`, each with whether its source side is linked.
    pub(super) fn new(connectors: Vec<(Restartable, bool)>) -> Self {
        Self {
            connectors: connectors
                .into_iter()
                .map(|(restartable, source)| Steered {
                    restartable,
                    source,
                })
                .collect(),
        }
    }

    /// Pauses (`held`) or resumes the source of connector `id`, or with
    /// `None` every source of the flow; the ids of those told.
    ///
    /// # Errors
    /// An unknown id, or a connector without a source side.
    pub fn hold(&self, id: Option<&str>, held: bool) -> Result<Vec<String>, SteerError> {
        let chosen = self.choose(id)?;
        if let [only] = chosen.as_slice() {
            if !only.source {
                return Err(SteerError::NoSource(only.restartable.id.clone()));
            }
        }
        Ok(chosen
            .into_iter()
            .filter(|connector| connector.source)
            // A task that has ended has nothing to pause.
            .filter(|connector| {
                connector
                    .restartable
                    .control
                    .try_send(Control::Hold { held })
                    .is_ok()
            })
            .map(|connector| connector.restartable.id.clone())
            .collect())
    }

    /// Restarts connector `id` on a new instance from its own provider,
    /// once the old one has no event in flight.
    ///
    /// # Errors
    /// An unknown id, a connector that cannot be created again (its
    /// plugin now rejects its config), or one that has ended.
    pub fn restart(&self, id: &str) -> Result<(), SteerError> {
        let chosen = self.choose(Some(id))?;
        chosen[0].restartable.restart().map_err(SteerError::Failed)
    }

    /// Connector `id`, or every connector with `None`.
    fn choose(&self, id: Option<&str>) -> Result<Vec<&Steered>, SteerError> {
        let Some(id) = id else {
            return Ok(self.connectors.iter().collect());
        };
        match self.connectors.iter().find(|c| c.restartable.id == id) {
            Some(connector) => Ok(vec![connector]),
            None => Err(SteerError::Unknown {
                id: id.to_owned(),
                known: self
                    .connectors
                    .iter()
                    .map(|c| c.restartable.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}
