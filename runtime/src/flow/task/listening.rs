//! A channel receiver a task waits on again and again.

use std::ops::Deref;
use std::pin::Pin;

use async_channel::Receiver;
use futures::stream::{Next, StreamExt};

/// A receiver polled as a stream, which keeps its registration with the
/// channel from one wait to the next: waiting on a channel that stays
/// quiet (control, shutdown, new builds) registers once, instead of
/// allocating and freeing a listener on every wake-up of the task.
#[derive(Debug)]
pub struct Listening<T>(Pin<Box<Receiver<T>>>);

impl<T> Listening<T> {
    /// The next message; `None` once the channel is closed and empty.
    pub fn next(&mut self) -> Next<'_, Pin<Box<Receiver<T>>>> {
        self.0.next()
    }
}

impl<T> From<Receiver<T>> for Listening<T> {
    fn from(receiver: Receiver<T>) -> Self {
        Self(Box::pin(receiver))
    }
}

impl<T> Deref for Listening<T> {
    type Target = Receiver<T>;

    fn deref(&self) -> &Receiver<T> {
        &self.0
    }
}
