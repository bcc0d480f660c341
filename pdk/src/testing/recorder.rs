//! The runtime handle a connector under test gets: it records what the
//! connector tells the runtime, in order.

use abi_stable::std_types::{ROption, RResult, RVec};

use crate::abi::connector::PdkRuntimeHandle;
use crate::abi::error::PdkError;
use crate::abi::metric::{BoxedMetric, MetricDefinition};
use crate::abi::value::PdkValue;
use crate::metrics::{check, LocalMetrics};
use crate::{Error, EventId};

/// Something a connector told the runtime through its context, outside
/// the results of its methods.
///
/// # Examples
///
/// See [`crate::SinkReply`] (a deferred answer, [`Report::Ack`]) and
/// [`crate::SinkReplies`] (the circuit, [`Report::SourcesPaused`]); the
/// harness gives them in order:
///
/// ```
/// use pdk::testing::Report;
/// use pdk::EventId;
///
/// let id = EventId { source: 0, stream: 0, pull_id: 3 };
/// let reports = [Report::Ack(id), Report::ConnectionLost];
/// assert!(matches!(reports[0], Report::Ack(acked) if acked.pull_id == 3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// It acknowledged an event it had deferred
    /// ([`crate::SinkReplies::ack`]).
    Ack(EventId),
    /// It failed an event it had deferred ([`crate::SinkReplies::fail`]).
    Fail(EventId),
    /// It asked the runtime to pause the sources that feed it
    /// ([`crate::SinkReplies::pause_sources`]).
    SourcesPaused,
    /// It asked the runtime to resume them
    /// ([`crate::SinkReplies::resume_sources`]).
    SourcesResumed,
    /// It reported a lost connection
    /// ([`crate::ConnectionLostNotifier::connection_lost`]).
    ConnectionLost,
}

/// Sends every report to the harness, from any task or thread, and keeps
/// the metrics the connector registers for the harness to read.
#[derive(Clone)]
pub(crate) struct Recorder {
    pub(crate) reports: async_channel::Sender<Report>,
    pub(crate) metrics: LocalMetrics,
}

impl Recorder {
    fn record(&self, report: Report) {
        // The harness was dropped: nobody will read the report.
        let _ = self.reports.try_send(report);
    }
}

impl PdkRuntimeHandle for Recorder {
    fn connection_lost(&self) {
        self.record(Report::ConnectionLost);
    }

    fn reply(&self, id: EventId, ok: bool) {
        self.record(if ok {
            Report::Ack(id)
        } else {
            Report::Fail(id)
        });
    }

    fn set_circuit(&self, open: bool) {
        self.record(if open {
            Report::SourcesResumed
        } else {
            Report::SourcesPaused
        });
    }

    fn decode(&self, data: RVec<u8>) -> RResult<PdkValue, PdkError> {
        serde_json::from_slice::<PdkValue>(&data)
            .map_err(|e| PdkError::from(Error::msg(format!("not valid JSON: {e}"))))
            .into()
    }

    fn register_metric(
        &self,
        definition: &MetricDefinition<'_>,
    ) -> ROption<RResult<BoxedMetric, PdkError>> {
        // Checked as the runtime checks it, whichever SDK made it.
        let registered = check(definition).and_then(|()| self.metrics.register(definition));
        ROption::RSome(registered.map_err(PdkError::from).into())
    }
}
