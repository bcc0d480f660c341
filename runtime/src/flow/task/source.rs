//! The source side of a connector task: pulling, decoding, sending each
//! event to the linked sinks, and settling it with the source once every
//! sink has answered.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_channel::{Sender, TrySendError};
use futures::stream::FuturesUnordered;
use pdk::{Error, EventId};

use super::{ConnectorTask, Delivery, Halt, Outcome, OutcomeSender};
use crate::codec::{Codec, DecodeError, Decoder};
use crate::flow::in_flight::{InFlight, Settled};
use pdk::abi::connector::PdkEvent;
use pdk::abi::value::PdkValue;
use pdk::abi::Extensions;

use crate::flow::instance::{from_ffi, Pulled};
use crate::flow::throttle::{Report, Throttle};

/// The source side's state.
pub struct SourceSide {
    /// Where events go (one sender per linked sink).
    pub outputs: Vec<Sender<Delivery>>,
    /// Whether one of `outputs` is this task's own inbox (a connector
    /// linked to itself).
    feeds_itself: bool,
    /// The sender half of `outcomes`, cloned into every delivery.
    pub outcomes_tx: OutcomeSender,
    /// Outcomes of this source's events.
    pub outcomes: flume::Receiver<Outcome>,
    /// How raw bytes become values.
    pub decoder: Decoder,
    pub(super) in_flight: InFlight,
    /// When a source that had nothing to give (`Empty`) is asked again;
    /// meanwhile the task does everything else.
    pub(super) pull_again_at: Option<Instant>,
    pub(super) finished: bool,
    pub(super) next_pull_id: u64,
    /// Events its codec could not decode, reported at a bounded rate.
    pub(super) codec_errors: Throttle,
    pub(super) transactional: bool,
    pub(super) closed_sinks: HashSet<u64>,
    pub(super) pending_sends: FuturesUnordered<PendingSend>,
    /// Outcomes that wait for the pull under way to end, and since when.
    pub(super) unsettled: Vec<Settled>,
    pub(super) unsettled_since: Option<Instant>,
}

/// How long an outcome waits for a transactional source's pull under way
/// before the pull is given up to tell the source.
const SETTLE_WITHIN: Duration = Duration::from_millis(20);

impl SourceSide {
    /// How many senders of this task's own inbox this side holds: one
    /// while it feeds itself and has not let its outputs go.
    pub(super) fn own_inbox_senders(&self) -> usize {
        usize::from(self.feeds_itself && !self.outputs.is_empty())
    }

    /// Whether no outcome can arrive while the task waits: none is
    /// waiting, and no event is out with another task (only the side's
    /// own sender is left; a connector linked to itself counts its own
    /// outcomes at once).
    pub(super) fn no_outcome_can_come(&self) -> bool {
        self.outcomes.is_empty() && self.outcomes.sender_count() == 1
    }

    /// Decodes raw bytes with the codec, into the C-ABI form every sink
    /// reads (plugin or linked).
    fn decode(&mut self, data: Vec<u8>) -> Result<PdkValue, DecodeError> {
        self.decoder.decode(data)
    }

    /// A source side sending to `outputs`, one of which is this task's
    /// own inbox if `feeds_itself`.
    #[must_use]
    pub fn new(
        outputs: Vec<Sender<Delivery>>,
        feeds_itself: bool,
        codec: Codec,
        transactional: bool,
    ) -> Self {
        let (outcomes_tx, outcomes) = flume::unbounded();
        Self {
            outputs,
            feeds_itself,
            outcomes_tx,
            outcomes,
            decoder: codec.decoder(),
            in_flight: InFlight::default(),
            pull_again_at: None,
            finished: false,
            next_pull_id: 0,
            codec_errors: Throttle::default(),
            transactional,
            closed_sinks: HashSet::new(),
            pending_sends: FuturesUnordered::new(),
            unsettled: Vec::new(),
            unsettled_since: None,
        }
    }
}

/// A send to a full inbox, driven by the event loop until it completes;
/// fails with the event's id if the sink is gone.
pub(super) type PendingSend = Pin<Box<dyn Future<Output = Result<(), EventId>> + Send>>;

pub(super) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl ConnectorTask {
    /// Reports the undecodable events not reported yet, at the end.
    pub(super) fn report_left_out_codec_errors(&mut self) {
        let left_out = self
            .source
            .as_mut()
            .map_or(0, |source| source.codec_errors.take_left_out());
        if left_out > 0 {
            log::error!(
                "connector `{}`: {left_out} more events dropped by its codec since the last report",
                self.id
            );
        }
    }

    pub(super) async fn on_pulled(&mut self, reply: Result<Pulled, Error>) -> Result<(), Halt> {
        let Some(source) = &mut self.source else {
            return Ok(());
        };
        let pull_id = source.next_pull_id;
        source.next_pull_id += 1;
        if matches!(reply, Ok(Pulled::Data { .. } | Pulled::Bytes { .. })) {
            self.supervision.restarts.worked();
        }
        match reply {
            Ok(Pulled::Data { data, stream }) => self.emit(data, None, stream, pull_id).await,
            Ok(Pulled::Bytes { data, stream }) => {
                let bytes = data.len();
                match source.decode(data) {
                    Ok(payload) => self.emit(payload, Some(bytes), stream, pull_id).await,
                    Err(problem) => {
                        self.metrics.failed("codec");
                        if let Report::Now { left_out } =
                            source.codec_errors.occurred(Instant::now())
                        {
                            let also = if left_out > 0 {
                                format!(" ({left_out} more dropped since the last report)")
                            } else {
                                String::new()
                            };
                            log::error!(
                            "connector `{}`: event {pull_id} on stream {stream} dropped by its codec: {problem}{also}",
                            self.id
                        );
                        }
                        self.settle(stream, pull_id, false).await
                    }
                }
            }
            Ok(Pulled::StreamStarted(stream)) => {
                log::debug!("connector `{}`: stream {stream} started", self.id);
                Ok(())
            }
            Ok(Pulled::StreamEnded(stream)) => {
                log::debug!("connector `{}`: stream {stream} ended", self.id);
                Ok(())
            }
            Ok(Pulled::Empty(wait_ms)) => {
                source.pull_again_at = Some(Instant::now() + Duration::from_millis(wait_ms));
                Ok(())
            }
            Ok(Pulled::Finished) => {
                source.finished = true;
                log::debug!("connector `{}`: source finished", self.id);
                Ok(())
            }
            Ok(Pulled::Other { kind, .. }) => {
                // A reply of a newer interface version than this runtime's.
                let unknown = Error::msg(format!(
                    "replied with a kind of reply ({kind}) this runtime does not know; run it on \
                     a runtime of the interface version the plugin was built for, or later"
                ));
                self.failed("pull_data", &unknown).await
            }
            Err(error) => self.failed("pull_data", &error).await,
        }
    }

    /// Sends one event to every linked sink; `bytes` is the length of the
    /// raw payload it was decoded from, if any.
    pub(super) async fn emit(
        &mut self,
        data: PdkValue,
        bytes: Option<usize>,
        stream: u64,
        pull_id: u64,
    ) -> Result<(), Halt> {
        let Some(source) = &mut self.source else {
            return Ok(());
        };
        let id = EventId {
            source: self.index,
            stream,
            pull_id,
        };
        let event = PdkEvent {
            extensions: Extensions::new(),
            id,
            ingest_ns: now_ns(),
            data,
        };
        source.in_flight.sent(pull_id, stream, source.outputs.len());
        self.metrics.sent(bytes);
        self.metrics.in_flight(source.in_flight.len());
        let mut unreachable = Vec::new();
        let mut event = Some(event);
        let last = source.outputs.len().saturating_sub(1);
        for (i, output) in source.outputs.iter().enumerate() {
            let event = if i == last {
                event.take()
            } else {
                event.clone()
            };
            let Some(event) = event else { break };
            let delivery = Delivery {
                event,
                reply_to: source.outcomes_tx.clone(),
            };
            // Never wait here: the sink may be this very task (a connector
            // linked to itself). A full inbox gets a send that is driven
            // by the event loop, which stops pulling meanwhile.
            match output.try_send(delivery) {
                Ok(()) => {}
                Err(TrySendError::Full(delivery)) => {
                    let output = output.clone();
                    source.pending_sends.push(Box::pin(async move {
                        output.send(delivery).await.map_err(|_| id)
                    }));
                }
                Err(TrySendError::Closed(_)) => unreachable.push(i),
            }
        }
        // A sink that stopped gets no more events; a source with no sink
        // left stops pulling.
        for &i in unreachable.iter().rev() {
            source.outputs.remove(i);
        }
        if source.outputs.is_empty() && !source.finished {
            log::warn!(
                "connector `{}`: every connector it sends to has stopped; its source stops",
                self.id
            );
            source.finished = true;
        }
        for _ in unreachable {
            self.on_outcome(Outcome { id, ok: false }).await?;
        }
        Ok(())
    }

    /// Counts `first` and every other answer already waiting, in one go:
    /// a sink answers many events between two wake-ups of the source.
    pub(super) async fn on_outcomes(&mut self, first: Outcome) -> Result<(), Halt> {
        self.on_outcome(first).await?;
        while let Some(outcome) = self
            .source
            .as_ref()
            .and_then(|source| source.outcomes.try_recv().ok())
        {
            self.on_outcome(outcome).await?;
        }
        Ok(())
    }

    /// Counts one sink's answer; acks or fails the event at the source once
    /// every sink has answered.
    pub(super) async fn on_outcome(&mut self, outcome: Outcome) -> Result<(), Halt> {
        let Some(source) = &mut self.source else {
            return Ok(());
        };
        match source.in_flight.answered(outcome.id.pull_id, outcome.ok) {
            Some(Settled {
                stream,
                pull_id,
                ok,
            }) => {
                self.metrics.in_flight(source.in_flight.len());
                self.settle(stream, pull_id, ok).await
            }
            None => Ok(()),
        }
    }

    /// Tells a transactional source that an event is done; while its
    /// pull is under way, the outcome waits (see [`Self::settle_waiting`])
    /// rather than give the pull up.
    pub(super) async fn settle(&mut self, stream: u64, pull_id: u64, ok: bool) -> Result<(), Halt> {
        self.metrics.settled(ok);
        let settled = Settled {
            stream,
            pull_id,
            ok,
        };
        let Some(source) = self.source.as_mut().filter(|s| s.transactional) else {
            return Ok(());
        };
        if self.held.is_pulling() {
            if source.unsettled.is_empty() {
                source.unsettled_since = Some(Instant::now());
            }
            source.unsettled.push(settled);
            return Ok(());
        }
        self.settle_now(settled).await
    }

    /// Whether outcomes wait to be told to the source.
    pub(super) fn has_unsettled(&self) -> bool {
        self.source
            .as_ref()
            .is_some_and(|s| !s.unsettled.is_empty())
    }

    /// When the outcomes waiting for a pull under way are due, at the
    /// latest: [`SETTLE_WITHIN`] after the first of them.
    pub(super) fn settle_due_in(&self) -> Option<Duration> {
        let since = self.source.as_ref()?.unsettled_since?;
        Some(SETTLE_WITHIN.saturating_sub(since.elapsed()))
    }

    /// Tells the source every outcome that waited (giving its pull up if
    /// one is under way).
    pub(super) async fn settle_waiting(&mut self) -> Result<(), Halt> {
        let waiting = match &mut self.source {
            Some(source) => {
                source.unsettled_since = None;
                std::mem::take(&mut source.unsettled)
            }
            None => return Ok(()),
        };
        for settled in waiting {
            self.settle_now(settled).await?;
        }
        Ok(())
    }

    /// Calls `ack` or `fail` on a transactional source now. One that
    /// errors is retried after reconnecting, so that the source learns the
    /// outcome at least once.
    pub(super) async fn settle_now(&mut self, settled: Settled) -> Result<(), Halt> {
        let Settled {
            stream,
            pull_id,
            ok,
        } = settled;
        if !self.source.as_ref().is_some_and(|s| s.transactional) {
            return Ok(());
        }
        let method = if ok { "ack" } else { "fail" };
        loop {
            let raw = self.held.get().await.raw();
            let settling = if ok {
                raw.ack(stream, pull_id)
            } else {
                raw.fail(stream, pull_id)
            };
            let result = from_ffi(self.caller.call(method, settling).await);
            match result {
                Ok(()) => {
                    self.supervision.restarts.worked();
                    return Ok(());
                }
                Err(error) => self.failed(method, &error).await?,
            }
        }
    }
}
