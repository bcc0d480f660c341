//! The events a sink deferred, each with where its outcome goes, and what
//! an answer or a failure of the sink means for them: plain synchronous
//! state, so that it can be tested without a runtime.

use pdk::EventId;
use rustc_hash::FxHashMap;

/// One event's outcome, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report<R> {
    /// The source's reply channel (any handle, in tests).
    pub reply_to: R,
    /// The event.
    pub id: EventId,
    /// Handled (`true`) or failed.
    pub ok: bool,
}

/// A sink's deferred events, by id. The runtime numbers events itself,
/// so a fast hasher is safe here: no input chooses the keys stored, and
/// this map is touched twice per deferred event.
#[derive(Debug)]
pub struct Deferred<R> {
    waiting: FxHashMap<EventId, R>,
}

impl<R> Default for Deferred<R> {
    fn default() -> Self {
        Self {
            waiting: FxHashMap::default(),
        }
    }
}

impl<R> Deferred<R> {
    /// The sink deferred event `id`, whose outcome goes to `reply_to`.
    pub fn defer(&mut self, id: EventId, reply_to: R) {
        self.waiting.insert(id, reply_to);
    }

    /// The sink answered event `id`: the report to send, or `None` if it
    /// did not defer that event (or answered it already).
    pub fn answer(&mut self, id: EventId, ok: bool) -> Option<Report<R>> {
        self.waiting
            .remove(&id)
            .map(|reply_to| Report { reply_to, id, ok })
    }

    /// The sink failed, so its answers may never come: every event still
    /// deferred fails. Answers it sent before failing must be applied
    /// first (with [`Deferred::answer`]), so that an event it handled is
    /// not failed back and delivered twice.
    pub fn fail_all(&mut self) -> impl Iterator<Item = Report<R>> + '_ {
        self.waiting.drain().map(|(id, reply_to)| Report {
            reply_to,
            id,
            ok: false,
        })
    }

    /// How many events wait for an answer.
    #[must_use]
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether no event waits for an answer.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::{Deferred, Report};
    use pdk::EventId;

    fn id(pull_id: u64) -> EventId {
        EventId {
            source: 0,
            stream: 0,
            pull_id,
        }
    }

    #[test]
    fn an_answer_goes_to_the_events_source_once() {
        let mut deferred = Deferred::default();
        deferred.defer(id(1), "source a");
        deferred.defer(id(2), "source b");
        assert_eq!(
            deferred.answer(id(2), true),
            Some(Report {
                reply_to: "source b",
                id: id(2),
                ok: true
            })
        );
        assert_eq!(deferred.answer(id(2), false), None, "answered already");
        assert_eq!(deferred.answer(id(9), true), None, "never deferred");
        assert_eq!(deferred.len(), 1);
    }

    #[test]
    fn a_failure_fails_only_what_is_still_unanswered() {
        let mut deferred = Deferred::default();
        for pull_id in 1..=4 {
            deferred.defer(id(pull_id), pull_id);
        }
        // Answers the sink sent before it failed count.
        assert!(deferred.answer(id(1), true).is_some());
        assert!(deferred.answer(id(3), false).is_some());
        let mut failed: Vec<Report<u64>> = deferred.fail_all().collect();
        failed.sort_by_key(|report| report.reply_to);
        assert_eq!(
            failed,
            [2, 4].map(|pull_id| Report {
                reply_to: pull_id,
                id: id(pull_id),
                ok: false
            })
        );
        assert!(deferred.is_empty());
        assert_eq!(deferred.answer(id(2), true), None, "a late answer is stray");
    }
}
