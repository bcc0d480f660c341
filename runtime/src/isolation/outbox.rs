//! Frames on their way to the socket. Any thread encodes its message in
//! place, after those posted before; the one writer takes every frame
//! waiting in one go and is woken only when the first of them arrives, so
//! that a burst of events costs one wake-up and one write, not one each.

use std::sync::{Arc, Mutex, PoisonError};

use async_channel::{Receiver, Sender, TrySendError};
use serde::Serialize;

use super::protocol;

/// Where messages are posted; cheap to clone, one per thread that sends.
#[derive(Clone)]
pub struct Outbox {
    pending: Arc<Mutex<Vec<u8>>>,
    /// Rung when `pending` stops being empty.
    bell: Sender<()>,
}

/// What the writer takes the posted frames from.
pub struct Pickup {
    pending: Arc<Mutex<Vec<u8>>>,
    bell: Receiver<()>,
}

/// A new outbox and the pickup of its writer.
#[must_use]
pub fn new() -> (Outbox, Pickup) {
    let pending = Arc::new(Mutex::new(Vec::new()));
    let (bell, rung) = async_channel::bounded(1);
    (
        Outbox {
            pending: Arc::clone(&pending),
            bell,
        },
        Pickup {
            pending,
            bell: rung,
        },
    )
}

impl Outbox {
    /// Posts `message` after those posted before; `false` when its writer
    /// is gone (the message will never be written).
    pub fn post<T: Serialize>(&self, message: &T) -> bool {
        let first = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let first = pending.is_empty();
            protocol::encode_into(&mut pending, message);
            first && !pending.is_empty()
        };
        if first {
            return !matches!(self.bell.try_send(()), Err(TrySendError::Closed(())));
        }
        !self.bell.is_closed()
    }
}

impl Pickup {
    /// Waits for posted frames and swaps them into `batch` (whose old
    /// content is dropped); `false` once every outbox is gone and nothing
    /// is left to write.
    pub async fn take(&self, batch: &mut Vec<u8>) -> bool {
        let rung = self.bell.recv().await.is_ok();
        self.swap(batch) || rung
    }

    /// [`take`](Self::take), blocking the thread.
    pub fn take_blocking(&self, batch: &mut Vec<u8>) -> bool {
        let rung = self.bell.recv_blocking().is_ok();
        self.swap(batch) || rung
    }

    /// Swaps what is pending into `batch`; whether there was any.
    fn swap(&self, batch: &mut Vec<u8>) -> bool {
        batch.clear();
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *pending, batch);
        !batch.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isolation::protocol::{read_blocking, Call, ToChild};

    #[test]
    fn frames_posted_before_a_take_come_out_in_order_in_one_batch() {
        let (outbox, pickup) = new();
        for seq in 0..3 {
            assert!(outbox.post(&ToChild::Call {
                seq,
                call: Call::PullData(seq)
            }));
        }
        let mut batch = Vec::new();
        assert!(pickup.take_blocking(&mut batch));
        let mut reader = batch.as_slice();
        for seq in 0..3 {
            let message: ToChild = read_blocking(&mut reader).unwrap();
            assert_eq!(
                message,
                ToChild::Call {
                    seq,
                    call: Call::PullData(seq)
                }
            );
        }
        assert!(reader.is_empty());
    }

    #[test]
    fn a_post_after_a_take_rings_again_and_the_end_is_seen_after_the_last_frame() {
        let (outbox, pickup) = new();
        let mut batch = Vec::new();
        assert!(outbox.post(&ToChild::Pull { credit: 1 }));
        assert!(pickup.take_blocking(&mut batch));
        assert!(outbox.post(&ToChild::Pull { credit: 2 }));
        drop(outbox);
        assert!(pickup.take_blocking(&mut batch));
        let message: ToChild = read_blocking(&mut batch.as_slice()).unwrap();
        assert_eq!(message, ToChild::Pull { credit: 2 });
        assert!(!pickup.take_blocking(&mut batch));
    }

    #[test]
    fn posting_without_a_writer_says_so() {
        let (outbox, pickup) = new();
        drop(pickup);
        assert!(!outbox.post(&ToChild::Pull { credit: 1 }));
    }
}
