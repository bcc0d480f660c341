//! A source's events that its sinks have not all answered yet, and the
//! decision of when and how each is settled: plain synchronous state, so
//! that it can be tested without a runtime.

use rustc_hash::FxHashMap;

/// One event some sinks have not answered yet.
#[derive(Debug)]
struct Unanswered {
    stream: u64,
    remaining: usize,
    failed: bool,
}

/// An event every sink has answered: what to tell its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// The event's stream.
    pub stream: u64,
    /// The event's pull id.
    pub pull_id: u64,
    /// Every sink handled it (`true`), or one at least failed it.
    pub ok: bool,
}

/// A source's events in flight, by pull id. The runtime numbers pulls
/// itself, so a fast hasher is safe here: no input chooses the keys, and
/// this map is touched twice per event.
#[derive(Debug, Default)]
pub struct InFlight {
    events: FxHashMap<u64, Unanswered>,
}

impl InFlight {
    /// Records event `pull_id` of `stream`, sent to `sinks` sinks.
    pub fn sent(&mut self, pull_id: u64, stream: u64, sinks: usize) {
        self.events.insert(
            pull_id,
            Unanswered {
                stream,
                remaining: sinks,
                failed: false,
            },
        );
    }

    /// Counts one sink's answer to event `pull_id`; once every sink has
    /// answered, the event leaves and is settled: ok if no sink failed it.
    /// An answer for an event not in flight (settled already, or given
    /// up) is ignored.
    pub fn answered(&mut self, pull_id: u64, ok: bool) -> Option<Settled> {
        let entry = self.events.get_mut(&pull_id)?;
        entry.remaining = entry.remaining.saturating_sub(1);
        entry.failed |= !ok;
        if entry.remaining > 0 {
            return None;
        }
        let settled = Settled {
            stream: entry.stream,
            pull_id,
            ok: !entry.failed,
        };
        self.events.remove(&pull_id);
        Some(settled)
    }

    /// Gives up on every event in flight: each is settled as failed, in
    /// the order it was pulled.
    pub fn abandon(&mut self) -> Vec<Settled> {
        let mut abandoned: Vec<Settled> = self
            .events
            .drain()
            .map(|(pull_id, entry)| Settled {
                stream: entry.stream,
                pull_id,
                ok: false,
            })
            .collect();
        abandoned.sort_unstable_by_key(|settled| settled.pull_id);
        abandoned
    }

    /// How many events are in flight.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event is in flight.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_settled_once_every_sink_has_answered() {
        let mut in_flight = InFlight::default();
        in_flight.sent(7, 1, 2);
        assert_eq!(
            in_flight.answered(7, true),
            None,
            "one sink still to answer"
        );
        assert_eq!(
            in_flight.answered(7, true),
            Some(Settled {
                stream: 1,
                pull_id: 7,
                ok: true
            })
        );
        assert!(in_flight.is_empty());
    }

    #[test]
    fn one_failing_sink_fails_the_event_whatever_the_others_say() {
        let mut in_flight = InFlight::default();
        in_flight.sent(3, 2, 3);
        assert_eq!(in_flight.answered(3, true), None);
        assert_eq!(in_flight.answered(3, false), None);
        let settled = in_flight.answered(3, true).expect("all three answered");
        assert!(!settled.ok);
    }

    #[test]
    fn an_answer_for_an_event_not_in_flight_is_ignored() {
        let mut in_flight = InFlight::default();
        assert_eq!(in_flight.answered(1, true), None);
        in_flight.sent(1, 1, 1);
        assert!(in_flight.answered(1, true).is_some());
        assert_eq!(in_flight.answered(1, false), None, "settled already");
    }

    #[test]
    fn abandoning_fails_every_event_in_pull_order_and_leaves_none() {
        let mut in_flight = InFlight::default();
        for pull_id in [5, 2, 9] {
            in_flight.sent(pull_id, 1, 1);
        }
        let abandoned = in_flight.abandon();
        assert_eq!(
            abandoned.iter().map(|s| s.pull_id).collect::<Vec<_>>(),
            [2, 5, 9]
        );
        assert!(abandoned.iter().all(|s| !s.ok));
        assert!(in_flight.is_empty());
        assert_eq!(in_flight.answered(5, true), None, "given up");
    }
}
