//! Limits for server connectors that no client can exceed: a bounded set
//! of connections that makes room for a new client by closing the one
//! that has waited longest without sending a whole request
//! ([`Connections`]), a budget for the bytes all connections buffer
//! together ([`ByteBudget`]), and a count that keeps a flood of one kind
//! of trouble to one log line per interval ([`Tally`]). Executor-neutral:
//! plain state, a `futures` channel and `std` time.
//!
//! The bundled `tcp_server` and `http_server` connectors are built on
//! them; the book's chapter on network I/O shows how.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_channel::oneshot;

/// The connections of a server, at most a fixed number of them.
///
/// Each connection holds a [`Slot`] and says what it is doing: waiting
/// for its client (idle, or receiving a request, until a deadline), or
/// busy (its request is in the flow). A new connection beyond the limit
/// closes the waiting connection that has waited longest, so that clients
/// that never finish their request cannot keep others out; if every
/// connection is busy, the new one is refused. [`Connections::expire`]
/// closes the connections whose deadline has passed.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// use pdk::net::{Admitted, Connections, Full};
///
/// let connections = Connections::new(2);
/// let soon = Instant::now() + Duration::from_secs(10);
/// let (first, first_closing, _) = connections.admit(soon).unwrap();
/// let (second, _, _) = connections.admit(soon).unwrap();
/// second.busy(); // its request is in the flow
///
/// // A third client: the first, still waiting for its request, makes room.
/// let (third, _, admitted) = connections.admit(soon).unwrap();
/// assert_eq!(admitted, Admitted::Evicted);
/// pdk::testing::block_on(first_closing); // done: the first must close now
/// drop(first);
///
/// // Every connection busy: the next client is refused.
/// third.busy();
/// assert_eq!(connections.admit(soon).map(|_| ()), Err(Full));
/// ```
#[derive(Debug, Clone)]
pub struct Connections {
    shared: Arc<Mutex<Registry>>,
    max: usize,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    slots: HashMap<u64, SlotState>,
}

#[derive(Debug)]
struct SlotState {
    /// Since when it waits for its client, and until when; `None` while
    /// busy.
    waiting: Option<(Instant, Instant)>,
    /// Dropped to close the connection.
    close: Option<oneshot::Sender<()>>,
}

/// Why a new connection was refused: every connection is busy.
///
/// # Examples
///
/// ```
/// use std::time::Instant;
///
/// use pdk::net::{Connections, Full};
///
/// let connections = Connections::new(1);
/// let (only, _closing, _) = connections.admit(Instant::now()).unwrap();
/// only.busy();
/// assert_eq!(connections.admit(Instant::now()).map(|_| ()), Err(Full));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// What [`Connections::admit`] did to make room, if anything.
///
/// # Examples
///
/// ```
/// use std::time::Instant;
///
/// use pdk::net::{Admitted, Connections};
///
/// let connections = Connections::new(1);
/// let (_idle, _, admitted) = connections.admit(Instant::now()).unwrap();
/// assert_eq!(admitted, Admitted::Room);
/// let (_next, _, admitted) = connections.admit(Instant::now()).unwrap();
/// assert_eq!(admitted, Admitted::Evicted); // the idle one made room
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// There was room.
    Room,
    /// The connection that had waited longest was closed.
    Evicted,
}

impl Connections {
    /// At most `max` connections (at least one).
    #[must_use]
    pub fn new(max: usize) -> Self {
        Self {
            shared: Arc::default(),
            max: max.max(1),
        }
    }

    /// The most connections it holds.
    #[must_use]
    pub fn max(&self) -> usize {
        self.max
    }

    /// How many connections it holds now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.registry().slots.len()
    }

    /// Whether it holds no connection.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a new connection, which waits for its client until
    /// `deadline`, and the [`Closing`] that completes when the connection
    /// must close; at the limit, the waiting connection that has waited
    /// longest is closed to make room.
    ///
    /// # Errors
    /// [`Full`] when the limit is reached and every connection is busy.
    pub fn admit(&self, deadline: Instant) -> Result<(Slot, Closing, Admitted), Full> {
        let mut registry = self.registry();
        let mut admitted = Admitted::Room;
        if registry.slots.len() >= self.max {
            let oldest = registry
                .slots
                .iter()
                .filter_map(|(id, slot)| slot.waiting.map(|(since, _)| (since, *id)))
                .min();
            let (_, id) = oldest.ok_or(Full)?;
            registry.slots.remove(&id);
            admitted = Admitted::Evicted;
        }
        let id = registry.next_id;
        registry.next_id += 1;
        let (close, closed) = oneshot::channel();
        registry.slots.insert(
            id,
            SlotState {
                waiting: Some((Instant::now(), deadline)),
                close: Some(close),
            },
        );
        drop(registry);
        Ok((
            Slot {
                connections: self.clone(),
                id,
            },
            Closing(closed),
            admitted,
        ))
    }

    /// Closes the connections past their deadline every `every`, for as
    /// long as the future is polled (on the runtime's timer); `expired`
    /// is told how many each time there were some.
    pub async fn expire_every(&self, every: Duration, mut expired: impl FnMut(u64)) {
        loop {
            crate::time::sleep(every).await;
            let closed = self.expire(Instant::now());
            if closed > 0 {
                expired(closed as u64);
            }
        }
    }

    /// Closes every connection whose deadline is before `now`; returns
    /// how many.
    pub fn expire(&self, now: Instant) -> usize {
        let mut registry = self.registry();
        let mut expired = 0;
        for slot in registry.slots.values_mut() {
            if slot.waiting.is_some_and(|(_, deadline)| deadline <= now) && slot.close.is_some() {
                slot.close = None;
                expired += 1;
            }
        }
        expired
    }
}

/// One connection's place in [`Connections`]; dropping it frees the place.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// use pdk::net::Connections;
///
/// let connections = Connections::new(8);
/// let (slot, _closing, _) = connections.admit(Instant::now() + Duration::from_secs(5)).unwrap();
/// assert!(slot.is_waiting()); // for the client's request
/// slot.busy(); // the request is in the flow
/// assert!(!slot.is_waiting());
/// slot.wait_until(Instant::now() + Duration::from_secs(60)); // idle again, until the keep-alive ends
/// drop(slot);
/// assert!(connections.is_empty());
/// ```
#[derive(Debug)]
pub struct Slot {
    connections: Connections,
    id: u64,
}

impl Slot {
    /// The connection waits for its client (idle, or receiving a request)
    /// until `deadline`; the waiting time counts from now.
    pub fn wait_until(&self, deadline: Instant) {
        self.set(Some((Instant::now(), deadline)));
    }

    /// The connection waits for its client until `deadline`, still since
    /// it started waiting (a request that goes on being received).
    pub fn extend_until(&self, deadline: Instant) {
        let mut registry = self.connections.registry();
        if let Some(slot) = registry.slots.get_mut(&self.id) {
            if let Some((since, _)) = slot.waiting {
                slot.waiting = Some((since, deadline));
            }
        }
    }

    /// The connection is busy: its request is in the flow. It is neither
    /// closed to make room nor expired meanwhile.
    pub fn busy(&self) {
        self.set(None);
    }

    /// Whether the connection waits for its client.
    #[must_use]
    pub fn is_waiting(&self) -> bool {
        self.connections
            .registry()
            .slots
            .get(&self.id)
            .is_some_and(|slot| slot.waiting.is_some())
    }

    fn set(&self, waiting: Option<(Instant, Instant)>) {
        let mut registry = self.connections.registry();
        if let Some(slot) = registry.slots.get_mut(&self.id) {
            slot.waiting = waiting;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.registry().slots.remove(&self.id);
    }
}

/// Completes once a connection must close: it was closed to make room
/// for a new one, or its deadline passed.
///
/// # Examples
///
/// ```
/// use std::time::Instant;
///
/// use pdk::net::Connections;
///
/// let connections = Connections::new(8);
/// let (_slot, closing, _) = connections.admit(Instant::now()).unwrap();
/// // Its deadline has passed: `expire` closes it, and `closing` completes.
/// assert_eq!(connections.expire(Instant::now()), 1);
/// pdk::testing::block_on(closing);
/// ```
#[derive(Debug)]
pub struct Closing(oneshot::Receiver<()>);

impl Future for Closing {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Nothing is ever sent: the sender is dropped to close.
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// A number of bytes that all connections of a server may hold together
/// (partial requests, bodies being received); each holds its part in a
/// [`Reservation`].
///
/// # Examples
///
/// ```
/// use pdk::net::ByteBudget;
///
/// let budget = ByteBudget::new(1024);
/// let mut first = budget.reservation();
/// let mut second = budget.reservation();
/// assert!(first.grow(1000));
/// assert!(!second.grow(100)); // the budget has 24 bytes left
/// first.shrink_to(0);
/// assert!(second.grow(100));
/// ```
#[derive(Debug, Clone)]
pub struct ByteBudget {
    left: Arc<AtomicUsize>,
    total: usize,
}

impl ByteBudget {
    /// A budget of `total` bytes.
    #[must_use]
    pub fn new(total: usize) -> Self {
        Self {
            left: Arc::new(AtomicUsize::new(total)),
            total,
        }
    }

    /// The whole budget.
    #[must_use]
    pub fn total(&self) -> usize {
        self.total
    }

    /// An empty reservation, which [`Reservation::grow`] enlarges.
    #[must_use]
    pub fn reservation(&self) -> Reservation {
        Reservation {
            budget: self.clone(),
            held: 0,
        }
    }

    fn take(&self, bytes: usize) -> bool {
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(bytes)
            })
            .is_ok()
    }
}

/// Bytes taken from a [`ByteBudget`], given back when it is dropped or
/// shrunk.
///
/// # Examples
///
/// ```
/// use pdk::net::ByteBudget;
///
/// let budget = ByteBudget::new(100);
/// let mut request = budget.reservation();
/// assert!(request.grow(60));
/// assert_eq!(request.held(), 60);
/// request.shrink_to(10); // the body was handed on
/// assert!(budget.reservation().grow(90));
/// ```
#[derive(Debug)]
pub struct Reservation {
    budget: ByteBudget,
    held: usize,
}

impl Reservation {
    /// Takes `bytes` more from the budget; `false` (and nothing taken) if
    /// the budget does not have them.
    #[must_use]
    pub fn grow(&mut self, bytes: usize) -> bool {
        let taken = self.budget.take(bytes);
        if taken {
            self.held += bytes;
        }
        taken
    }

    /// Gives back what it holds beyond `bytes`.
    pub fn shrink_to(&mut self, bytes: usize) {
        if self.held > bytes {
            self.budget
                .left
                .fetch_add(self.held - bytes, Ordering::AcqRel);
            self.held = bytes;
        }
    }

    /// The bytes it holds.
    #[must_use]
    pub fn held(&self) -> usize {
        self.held
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.shrink_to(0);
    }
}

/// Counts occurrences of one kind of trouble (a refused client, a dropped
/// line) and says when to report them: the first at once, then at most
/// once per interval, with how many there were.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// use pdk::net::Tally;
///
/// let mut refused = Tally::every(Duration::from_secs(10));
/// let now = Instant::now();
/// assert_eq!(refused.occurred(now), Some(1)); // the first: log it at once
/// assert_eq!(refused.occurred(now), None);
/// assert_eq!(refused.occurred(now), None);
/// // Ten seconds on: one line for the three since the last.
/// assert_eq!(refused.occurred(now + Duration::from_secs(10)), Some(3));
/// ```
#[derive(Debug)]
pub struct Tally {
    every: Duration,
    count: u64,
    reported_at: Option<Instant>,
}

impl Tally {
    /// A tally reported at most once per `every`.
    #[must_use]
    pub fn every(every: Duration) -> Self {
        Self {
            every,
            count: 0,
            reported_at: None,
        }
    }

    /// Counts one occurrence at `now`; `Some(n)` when it is time to
    /// report the `n` occurrences since the last report.
    pub fn occurred(&mut self, now: Instant) -> Option<u64> {
        self.add(1, now)
    }

    /// Counts `occurrences` at `now`, as [`Self::occurred`] counts one.
    pub fn add(&mut self, occurrences: u64, now: Instant) -> Option<u64> {
        self.count += occurrences;
        if self
            .reported_at
            .is_some_and(|at| now.duration_since(at) < self.every)
        {
            return None;
        }
        self.reported_at = Some(now);
        Some(std::mem::take(&mut self.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn later(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[test]
    fn a_new_connection_at_the_limit_closes_the_one_that_waited_longest() {
        let connections = Connections::new(2);
        let (_first, mut first, _) = connections.admit(later(60_000)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        let (_second, mut second, _) = connections.admit(later(60_000)).unwrap();
        let (_third, _, admitted) = connections.admit(later(60_000)).unwrap();
        assert_eq!(admitted, Admitted::Evicted);
        assert_eq!(connections.len(), 2);
        let is_closing = |closing: &mut Closing| {
            futures_executor::block_on(futures_util::future::poll_fn(|cx| {
                Poll::Ready(Pin::new(&mut *closing).poll(cx).is_ready())
            }))
        };
        assert!(is_closing(&mut first));
        assert!(!is_closing(&mut second));
    }

    #[test]
    fn busy_connections_are_never_closed_to_make_room() {
        let connections = Connections::new(1);
        let (slot, _, _) = connections.admit(later(60_000)).unwrap();
        slot.busy();
        assert_eq!(connections.admit(later(60_000)).unwrap_err(), Full);
        slot.wait_until(later(60_000));
        assert!(connections.admit(later(60_000)).is_ok());
        drop(slot);
    }

    #[test]
    fn connections_past_their_deadline_expire() {
        let connections = Connections::new(3);
        let (soon, closing, _) = connections.admit(later(0)).unwrap();
        let (busy, _, _) = connections.admit(later(0)).unwrap();
        busy.busy();
        let (_late, _, _) = connections.admit(later(60_000)).unwrap();
        assert_eq!(connections.expire(later(1)), 1);
        futures_executor::block_on(closing);
        drop(soon);
        assert_eq!(connections.len(), 2, "a dropped slot frees its place");
    }

    #[test]
    fn the_budget_is_shared_and_given_back() {
        let budget = ByteBudget::new(100);
        let mut a = budget.reservation();
        let mut b = budget.reservation();
        assert!(a.grow(60));
        assert!(!b.grow(50), "only 40 left");
        assert!(b.grow(40));
        a.shrink_to(10);
        assert!(b.grow(50));
        drop(b);
        assert!(budget.reservation().grow(90));
    }

    #[test]
    fn a_tally_reports_the_first_at_once_then_once_per_interval() {
        let mut tally = Tally::every(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(tally.occurred(start), Some(1));
        for i in 1..100 {
            assert_eq!(tally.occurred(start + Duration::from_millis(i)), None);
        }
        assert_eq!(tally.occurred(start + Duration::from_secs(10)), Some(100));
    }
}
