//! The control API's requests, as the endpoint's thread hands them to the
//! thread that runs the flows, and their answers.

use async_channel::{Receiver, Sender};
use hyper::StatusCode;

/// What the control API asks of the flows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Start flow `name` from the flow file `text`, or replace it.
    Put {
        /// The flow's name (its file's stem).
        name: String,
        /// The flow file.
        text: String,
    },
    /// Stop flow `name` and remove its file.
    Delete {
        /// The flow's name.
        name: String,
    },
    /// Pause, resume or restart flow `flow`, or one connector of it.
    Steer {
        /// The flow's name.
        flow: String,
        /// The connector's id, or `None` for the whole flow.
        connector: Option<String>,
        /// What to do.
        action: Action,
    },
    /// Read the flow directories again and load new plugin files, as
    /// SIGHUP does.
    Reload,
}

/// What an operator does to a flow or a connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop its sources pulling.
    Pause,
    /// Let its sources pull again.
    Resume,
    /// Start it again.
    Restart,
}

impl Action {
    /// The action named `name` in a path (`pause`, `resume`, `restart`).
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "pause" => Some(Self::Pause),
            "resume" => Some(Self::Resume),
            "restart" => Some(Self::Restart),
            _ => None,
        }
    }
}

/// The answer to a request: an HTTP status and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The body: JSON when `json`, otherwise text ending in a newline.
    pub body: String,
    /// Whether the body is JSON.
    pub json: bool,
}

impl Answer {
    /// A text answer.
    #[must_use]
    pub fn text(status: StatusCode, body: impl Into<String>) -> Self {
        let mut body = body.into();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        Self {
            status,
            body,
            json: false,
        }
    }

    /// A JSON answer.
    #[must_use]
    pub fn json(status: StatusCode, body: &serde_json::Value) -> Self {
        Self {
            status,
            body: format!("{body:#}\n"),
            json: true,
        }
    }
}

/// One request and where its answer goes.
pub struct Command {
    /// The request.
    pub request: Request,
    /// Where the answer goes.
    pub reply: Sender<Answer>,
}

/// The control API's side of the channel to the flows. Cloning it is one
/// reference count.
#[derive(Clone)]
pub struct Control(Sender<Command>);

impl Control {
    /// A channel from the control API to the flows: the API's side, and
    /// the side the flows' thread reads.
    #[must_use]
    pub fn channel() -> (Self, Receiver<Command>) {
        let (tell, commands) = async_channel::unbounded();
        (Self(tell), commands)
    }

    /// Asks `request` and waits for the answer.
    pub async fn ask(&self, request: Request) -> Answer {
        let (reply, answer) = async_channel::bounded(1);
        if self.0.send(Command { request, reply }).await.is_err() {
            return Answer::text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the runtime is shutting down",
            );
        }
        answer.recv().await.unwrap_or_else(|_| {
            Answer::text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the runtime is shutting down",
            )
        })
    }
}
