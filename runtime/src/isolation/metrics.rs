//! The metrics a plugin defines (`ctx.metrics()`), across the process
//! boundary: the isolated process asks the runtime to register each one
//! (and waits for the answer, as `register_metric` returns it), then sends
//! every change of it; the runtime keeps them with the connector's labels,
//! exactly as for a connector in its own process.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use abi_stable::std_types::{RResult, RSlice, RStr};
use abi_stable::type_level::downcasting::TD_Opaque;
use pdk::abi::connector::BoxedRuntimeHandle;
use pdk::abi::error::{PdkError, PdkErrorKind};
use pdk::abi::metric::{BoxedMetric, MetricDefinition, MetricKind, PdkMetric, PdkMetric_TO};

use super::child::{send, Writer};
use super::protocol::{MetricChange, ToChild, ToParent, WireError};

/// How long the isolated process waits for the runtime to register a
/// metric.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// The isolated process's side: registers through the runtime, one at a
/// time.
pub struct Registrar {
    answers: Mutex<Receiver<Result<u64, WireError>>>,
}

impl Registrar {
    /// A registrar, and where the reader of the socket hands it the
    /// runtime's answers.
    #[must_use]
    pub fn new() -> (Arc<Self>, Sender<Result<u64, WireError>>) {
        let (tell, answers) = std::sync::mpsc::channel();
        (
            Arc::new(Self {
                answers: Mutex::new(answers),
            }),
            tell,
        )
    }

    /// Registers `definition` with the runtime through `writer`.
    pub fn register(
        &self,
        writer: &Writer,
        definition: &MetricDefinition<'_>,
    ) -> RResult<BoxedMetric, PdkError> {
        // One registration at a time: the answers come in order.
        let answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        send(
            writer,
            &ToParent::RegisterMetric {
                kind: definition.kind.0,
                name: definition.name.as_str().to_owned(),
                help: definition.help.as_str().to_owned(),
                buckets: definition.buckets.as_slice().to_vec(),
            },
        );
        match answers.recv_timeout(ANSWER_WITHIN) {
            Ok(Ok(id)) => RResult::ROk(PdkMetric_TO::from_value(
                ChildMetric {
                    id,
                    writer: writer.clone(),
                },
                TD_Opaque,
            )),
            Ok(Err(error)) => RResult::RErr(PdkError::new(PdkErrorKind(error.kind), error.message)),
            Err(_) => RResult::RErr(PdkError::new(
                PdkErrorKind::OTHER,
                "the runtime did not answer the metric's registration",
            )),
        }
    }
}

/// A metric in the isolated process: each change goes to the runtime.
#[derive(Clone)]
struct ChildMetric {
    id: u64,
    writer: Writer,
}

impl ChildMetric {
    fn change(&self, change: MetricChange) {
        send(
            &self.writer,
            &ToParent::Metric {
                id: self.id,
                change,
            },
        );
    }
}

impl PdkMetric for ChildMetric {
    fn increment(&self, by: u64) {
        self.change(MetricChange::Increment(by));
    }

    fn set(&self, value: f64) {
        self.change(MetricChange::Set(value));
    }

    fn add(&self, delta: f64) {
        self.change(MetricChange::Add(delta));
    }

    fn observe(&self, value: f64) {
        self.change(MetricChange::Observe(value));
    }
}

/// The runtime's side: the metrics one isolated process registered, by
/// number.
#[derive(Default)]
pub struct Kept(Vec<BoxedMetric>);

impl Kept {
    /// Registers a metric the process asks for with the connector's
    /// `handle`; the answer to send back.
    pub fn register(
        &mut self,
        handle: &BoxedRuntimeHandle,
        kind: u8,
        name: &str,
        help: &str,
        buckets: &[f64],
    ) -> ToChild {
        let definition = MetricDefinition {
            kind: MetricKind(kind),
            name: RStr::from_str(name),
            help: RStr::from_str(help),
            buckets: RSlice::from_slice(buckets),
            extensions: pdk::abi::Extensions::new(),
        };
        let refused = |message: String| WireError {
            kind: PdkErrorKind::OTHER.0,
            message,
        };
        let answer = match handle.register_metric(&definition).into_option() {
            Some(RResult::ROk(metric)) => {
                self.0.push(metric);
                Ok(self.0.len() as u64 - 1)
            }
            Some(RResult::RErr(error)) => Err(WireError {
                kind: error.kind.0,
                message: error.message.to_string(),
            }),
            None => Err(refused(String::from(
                "this runtime keeps no plugin metrics",
            ))),
        };
        ToChild::MetricRegistered(answer)
    }

    /// Applies `change` to metric number `id`; `false` for a number it
    /// never gave (a process that breaks the protocol).
    #[must_use]
    pub fn apply(&self, id: u64, change: MetricChange) -> bool {
        let Some(metric) = usize::try_from(id).ok().and_then(|id| self.0.get(id)) else {
            return false;
        };
        match change {
            MetricChange::Increment(by) => metric.increment(by),
            MetricChange::Set(value) => metric.set(value),
            MetricChange::Add(delta) => metric.add(delta),
            MetricChange::Observe(value) => metric.observe(value),
        }
        true
    }
}
