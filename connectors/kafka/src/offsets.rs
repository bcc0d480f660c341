//! Which offsets of each assigned partition are settled, and what may be
//! committed: the offset of a partition's first unsettled message (or the
//! next one to read when none is), so that a commit never goes past an
//! event that was not acknowledged.

use std::collections::{BTreeSet, HashMap};

/// A message read, as the consumer settles it later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// The assignment of the partition it was read in.
    generation: u64,
}

/// The offsets of the partitions assigned to this consumer.
#[derive(Debug, Default)]
pub struct Offsets {
    partitions: HashMap<i32, Partition>,
    generations: u64,
}

/// One assigned partition.
#[derive(Debug)]
struct Partition {
    generation: u64,
    /// Read and not settled.
    unsettled: BTreeSet<i64>,
    /// One past the highest offset read.
    next: Option<i64>,
    /// The last offset committed (or handed out to be).
    committed: Option<i64>,
}

impl Offsets {
    /// `partition` is assigned: its offsets start afresh.
    pub fn assign(&mut self, partition: i32) {
        self.generations += 1;
        self.partitions
            .insert(partition, Partition::new(self.generations));
    }

    /// `partition` is revoked: what may still be committed for it, if
    /// anything; its unsettled messages are never committed by this
    /// consumer (their new owner reads them again).
    pub fn revoke(&mut self, partition: i32) -> Option<i64> {
        let mut revoked = self.partitions.remove(&partition)?;
        revoked.advance()
    }

    /// Records `offset` of `partition` read; assigns the partition if no
    /// assignment was seen for it.
    pub fn read(&mut self, partition: i32, offset: i64) -> Read {
        let generations = &mut self.generations;
        let state = self.partitions.entry(partition).or_insert_with(|| {
            *generations += 1;
            Partition::new(*generations)
        });
        state.unsettled.insert(offset);
        state.next = Some(state.next.map_or(offset + 1, |next| next.max(offset + 1)));
        Read {
            partition,
            offset,
            generation: state.generation,
        }
    }

    /// Settles `read` (acknowledged, or given up for good); `false` when
    /// its partition was revoked since it was read.
    pub fn settle(&mut self, read: Read) -> bool {
        match self.partitions.get_mut(&read.partition) {
            Some(state) if state.generation == read.generation => {
                state.unsettled.remove(&read.offset);
                true
            }
            _ => false,
        }
    }

    /// Whether `read`'s partition is still assigned as it was.
    pub fn is_current(&self, read: Read) -> bool {
        self.partitions
            .get(&read.partition)
            .is_some_and(|state| state.generation == read.generation)
    }

    /// The offsets to commit now, by partition: those that moved since the
    /// last call.
    pub fn committable(&mut self) -> Vec<(i32, i64)> {
        let mut moved: Vec<(i32, i64)> = self
            .partitions
            .iter_mut()
            .filter_map(|(&partition, state)| Some((partition, state.advance()?)))
            .collect();
        moved.sort_unstable();
        moved
    }
}

impl Partition {
    fn new(generation: u64) -> Self {
        Self {
            generation,
            unsettled: BTreeSet::new(),
            next: None,
            committed: None,
        }
    }

    /// The commit point if it moved since the last one handed out.
    fn advance(&mut self) -> Option<i64> {
        let point = self.unsettled.first().copied().or(self.next)?;
        if self.committed.is_some_and(|committed| committed >= point) {
            return None;
        }
        self.committed = Some(point);
        Some(point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_never_passes_an_unsettled_offset() {
        let mut offsets = Offsets::default();
        offsets.assign(0);
        let reads: Vec<Read> = (10..15).map(|offset| offsets.read(0, offset)).collect();
        assert_eq!(offsets.committable(), vec![(0, 10)]);
        assert!(offsets.settle(reads[1]));
        assert!(offsets.settle(reads[2]));
        assert_eq!(offsets.committable(), vec![], "10 is not settled");
        assert!(offsets.settle(reads[0]));
        assert_eq!(offsets.committable(), vec![(0, 13)]);
        assert!(offsets.settle(reads[4]));
        assert!(offsets.settle(reads[3]));
        assert_eq!(offsets.committable(), vec![(0, 15)]);
        assert_eq!(offsets.committable(), vec![], "nothing moved");
    }

    #[test]
    fn a_revoked_partitions_late_settlements_commit_nothing() {
        let mut offsets = Offsets::default();
        offsets.assign(3);
        let first = offsets.read(3, 0);
        let second = offsets.read(3, 1);
        assert!(offsets.settle(first));
        assert_eq!(offsets.revoke(3), Some(1), "what was acknowledged");
        assert!(!offsets.settle(second), "revoked since it was read");
        offsets.assign(3);
        assert!(!offsets.is_current(second));
        let again = offsets.read(3, 1);
        assert!(offsets.is_current(again));
        assert_eq!(offsets.committable(), vec![(3, 1)]);
    }
}
