//! A channel receiver a task waits on again and again.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Poll, Waker};

use async_channel::{Receiver, TryRecvError};
use futures::stream::Stream;

/// A receiver polled as a stream, which keeps its registration with the
/// channel from one wait to the next: waiting on a channel that stays
/// quiet (control, shutdown, new builds) registers once, instead of
/// allocating and freeing a listener on every wake-up of the task; and
/// while the channel stays empty, a wait after the first does not even
/// look at that registration (a lock each time), which still wakes the
/// same task.
#[derive(Debug)]
pub struct Listening<T> {
    receiver: Pin<Box<Receiver<T>>>,
    /// The waker of the last poll, while that poll left a registration
    /// no message has been taken past since (see [`Self::try_recv`]).
    registered: Option<Waker>,
}

impl<T> Listening<T> {
    /// The next message; `None` once the channel is closed and empty.
    pub fn next(&mut self) -> impl Future<Output = Option<T>> + '_ {
        poll_fn(move |cx| {
            let quiet = self.receiver.is_empty() && !self.receiver.is_closed();
            if quiet
                && self
                    .registered
                    .as_ref()
                    .is_some_and(|waker| waker.will_wake(cx.waker()))
            {
                return Poll::Pending;
            }
            let polled = self.receiver.as_mut().poll_next(cx);
            self.registered = polled.is_pending().then(|| cx.waker().clone());
            polled
        })
    }

    /// A message, if one is waiting. Taking it past the registration
    /// leaves that registration woken and spent: the next wait polls it.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.registered = None;
        self.receiver.try_recv()
    }

    /// The channel itself.
    pub fn receiver(&self) -> &Receiver<T> {
        &self.receiver
    }
}

impl<T> From<Receiver<T>> for Listening<T> {
    fn from(receiver: Receiver<T>) -> Self {
        Self {
            receiver: Box::pin(receiver),
            registered: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    use super::Listening;

    /// A waker that counts its wake-ups.
    struct Counting(AtomicUsize);

    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn every_message_wakes_the_waiting_task_however_the_last_one_was_taken() {
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&counting));
        let mut cx = Context::from_waker(&waker);
        let (sender, receiver) = async_channel::unbounded();
        let mut listening = Listening::from(receiver);
        let mut poll = |listening: &mut Listening<u32>| {
            let mut next = std::pin::pin!(listening.next());
            next.as_mut().poll(&mut cx)
        };
        assert_eq!(poll(&mut listening), Poll::Pending);
        // A quiet wait again: nothing to take, still registered.
        assert_eq!(poll(&mut listening), Poll::Pending);
        sender.try_send(1).unwrap();
        assert_eq!(counting.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll(&mut listening), Poll::Ready(Some(1)));
        assert_eq!(poll(&mut listening), Poll::Pending);
        sender.try_send(2).unwrap();
        assert_eq!(counting.0.load(Ordering::SeqCst), 2);
        // Taken past the registration, which is spent now.
        assert_eq!(listening.try_recv(), Ok(2));
        assert_eq!(poll(&mut listening), Poll::Pending);
        sender.try_send(3).unwrap();
        assert_eq!(counting.0.load(Ordering::SeqCst), 3);
        assert_eq!(poll(&mut listening), Poll::Ready(Some(3)));
        assert_eq!(poll(&mut listening), Poll::Pending);
        drop(sender);
        assert_eq!(counting.0.load(Ordering::SeqCst), 4);
        assert_eq!(poll(&mut listening), Poll::Ready(None));
    }
}
