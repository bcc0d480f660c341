//! Sinks that write in batches: one request, one transaction or one flush
//! for many events, and every event acknowledged only once its batch is
//! written.
//!
//! A [`Batch`] takes each event's item in `on_event` (which answers
//! [`SinkReply::Deferred`]) and hands the items to a task of the
//! connector, which calls the connector's [`BatchWriter`] once per batch:
//! when [`Bounds::max_events`] items are queued, or [`Bounds::linger`]
//! after the first of them, whichever comes first. When the write
//! succeeds, every event of the batch is acknowledged; when it fails, every
//! one is failed back to its source (a transactional source sends it
//! again), the error is logged, and the connection is reported lost (the
//! runtime reconnects the connector with its backoff; the writer
//! reconnects on its next write). Events queued before the runtime
//! reconnects the connector are failed back by the runtime; the batch
//! drops them unwritten, so that the source's resend is their only copy.
//! Call [`Batch::flush`] from `on_drain` and `on_stop`: it returns once
//! every event queued before it is answered.
//!
//! ```
//! use pdk::batch::{Batch, BatchWriter, Bounds};
//! use pdk::prelude::*;
//!
//! /// Appends lines to a file, one `write` and one flush per batch.
//! struct Lines(std::path::PathBuf);
//!
//! impl BatchWriter<String> for Lines {
//!     async fn write(&mut self, lines: &mut Vec<String>) -> Result<()> {
//!         use std::io::Write;
//!         let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.0)?;
//!         file.write_all(lines.concat().as_bytes())?;
//!         Ok(file.sync_data()?)
//!     }
//! }
//!
//! #[derive(Deserialize)]
//! struct Config { path: String }
//!
//! #[connector(name = "lines")]
//! struct LinesSink { batch: Batch<String> }
//!
//! impl Connector for LinesSink {
//!     type Config = Config;
//!
//!     fn new(config: Config, ctx: &ConnectorContext) -> Result<Self> {
//!         let writer = Lines(config.path.into());
//!         Ok(Self { batch: Batch::start(Bounds::default(), writer, ctx) })
//!     }
//!
//!     async fn on_drain(&mut self, _ctx: &ConnectorContext) -> Result<()> {
//!         self.batch.flush().await
//!     }
//!
//!     async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
//!         self.batch.flush().await
//!     }
//! }
//!
//! impl Sink for LinesSink {
//!     async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
//!         let line = format!("{}\n", event.to_json_string());
//!         self.batch.push(event.id, line).await
//!     }
//! }
//! ```

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_channel::{Receiver, Sender, TrySendError};
use futures_channel::oneshot;
use futures_util::future::{select, Either};

use crate::{
    ConnectionLostNotifier, ConnectorContext, Error, EventId, Result, SinkReplies, SinkReply,
};

/// How large a batch grows, and how long its first event waits for more.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// // Up to 1 000 events per request; the first waits at most 5 ms for more.
/// let bounds = pdk::batch::Bounds { max_events: 1_000, linger: Duration::from_millis(5) };
/// assert!(bounds.max_events > pdk::batch::Bounds::default().max_events);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The most events in one batch (at least 1); also how many events
    /// may wait while a batch is written before `push` waits.
    pub max_events: usize,
    /// How long the first event of a batch waits for more before the
    /// batch is written.
    pub linger: Duration,
}

impl Default for Bounds {
    /// 256 events, 2 ms.
    fn default() -> Self {
        Self {
            max_events: 256,
            linger: Duration::from_millis(2),
        }
    }
}

/// Writes one batch: one request, one transaction, one flush.
///
/// # Examples
///
/// A writer that sends each batch as one request body of JSON lines; see
/// [`Batch`] for one at work:
///
/// ```
/// use pdk::batch::BatchWriter;
/// use pdk::Result;
///
/// struct Uploader {
///     sent: Vec<String>,
/// }
///
/// impl BatchWriter<String> for Uploader {
///     async fn write(&mut self, lines: &mut Vec<String>) -> Result<()> {
///         // One request for the whole batch (here kept in memory).
///         self.sent.push(lines.concat());
///         Ok(())
///     }
/// }
/// ```
pub trait BatchWriter<T>: Send + 'static {
    /// Writes `items`, in the order their events came, all or nothing as
    /// far as the writer can tell: on `Ok`, every event of the batch is
    /// acknowledged; on `Err`, every one is failed back and the connection
    /// is reported lost. The writer may take the items out of `items`.
    fn write(&mut self, items: &mut Vec<T>) -> impl Future<Output = Result<()>> + Send;
}

/// The queue of a batching sink; see the [module](self) documentation.
///
/// The sink's thread and the batch task share the batch being gathered;
/// the task is woken only when a batch begins, fills up or is flushed, not
/// for every event.
///
/// # Examples
///
/// Three events in batches of at most two: each acknowledged once its batch
/// is written.
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// use pdk::batch::{Batch, BatchWriter, Bounds};
/// use pdk::prelude::*;
/// use pdk::testing::{block_on, Harness, Report};
///
/// /// Records the size of every batch it writes.
/// struct Sizes(Arc<Mutex<Vec<usize>>>);
///
/// impl BatchWriter<u64> for Sizes {
///     async fn write(&mut self, items: &mut Vec<u64>) -> Result<()> {
///         self.0.lock().unwrap().push(items.len());
///         Ok(())
///     }
/// }
///
/// static WRITTEN: Mutex<Option<Arc<Mutex<Vec<usize>>>>> = Mutex::new(None);
///
/// #[connector(name = "batched")]
/// pub struct Batched {
///     batch: Batch<u64>,
/// }
///
/// impl Connector for Batched {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, ctx: &ConnectorContext) -> Result<Self> {
///         let sizes = Arc::new(Mutex::new(Vec::new()));
///         *WRITTEN.lock().unwrap() = Some(Arc::clone(&sizes));
///         let bounds = Bounds { max_events: 2, ..Bounds::default() };
///         Ok(Self { batch: Batch::start(bounds, Sizes(sizes), ctx) })
///     }
///
///     async fn on_drain(&mut self, _ctx: &ConnectorContext) -> Result<()> {
///         self.batch.flush().await
///     }
/// }
///
/// impl Sink for Batched {
///     async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
///         let n = event.data().as_u64().unwrap_or_default();
///         self.batch.push(event.id, n).await
///     }
/// }
///
/// # fn main() -> pdk::Result<()> {
/// let mut sink = Harness::<Batched>::new(Value::object())?;
/// block_on(async {
///     for n in 0..3u64 {
///         assert_eq!(sink.send(n).await?, SinkReply::Deferred);
///     }
///     sink.drain().await
/// })?;
/// let acked = sink.reports().iter().filter(|r| matches!(r, Report::Ack(_))).count();
/// assert_eq!(acked, 3);
/// let sizes = WRITTEN.lock().unwrap().clone().unwrap();
/// assert_eq!(sizes.lock().unwrap().iter().sum::<usize>(), 3);
/// assert!(sizes.lock().unwrap().iter().all(|&size| size <= 2));
/// # Ok(()) }
/// ```
pub struct Batch<T> {
    shared: Arc<Shared<T>>,
    /// Rung when the task has something to do.
    bell: Sender<()>,
    /// Rung by the task when it has taken a batch (room for more).
    room: Receiver<()>,
}

/// What the sink and its batch task share.
struct Shared<T> {
    max_events: usize,
    gathering: Mutex<Gathered<T>>,
    /// How many times the runtime has called the connector's `connect`.
    connects: Arc<AtomicU64>,
}

impl<T: Send + 'static> Batch<T> {
    /// Starts the task of connector `ctx` that writes its batches with
    /// `writer`, within `bounds`.
    pub fn start(bounds: Bounds, writer: impl BatchWriter<T>, ctx: &ConnectorContext) -> Self {
        let max_events = bounds.max_events.max(1);
        let shared = Arc::new(Shared {
            max_events,
            gathering: Mutex::new(Gathered::with_capacity(max_events)),
            connects: ctx.connects(),
        });
        let (bell, rung) = async_channel::bounded(1);
        let (made_room, room) = async_channel::bounded(1);
        let task = Task {
            shared: Arc::clone(&shared),
            linger: bounds.linger,
            rung,
            made_room,
            replies: ctx.replies(),
            lost: ctx.notifier(),
            failed_in: None,
        };
        crate::task::spawn(task.write_batches(writer));
        Self { shared, bell, room }
    }

    /// Queues `item`, the payload of event `id`, for the next batch;
    /// waits while a full batch is already waiting. Returns
    /// [`SinkReply::Deferred`], the reply for `on_event`: the event is
    /// answered when its batch is written.
    ///
    /// # Errors
    /// When the batch task has ended (it panicked).
    pub async fn push(&self, id: EventId, item: T) -> Result<SinkReply> {
        let mut item = Some(item);
        loop {
            let gathered = {
                let connection = self.shared.connects.load(Ordering::Acquire);
                let mut gathering = self.shared.lock();
                if gathering.ids.len() < self.shared.max_events {
                    gathering.ids.push(id);
                    gathering.connections.push(connection);
                    gathering.items.extend(item.take());
                    Some(gathering.ids.len())
                } else {
                    None
                }
            };
            match gathered {
                Some(count) => {
                    if count == 1 || count == self.shared.max_events {
                        self.ring()?;
                    }
                    return Ok(SinkReply::Deferred);
                }
                None => self.room.recv().await.map_err(|_| ended())?,
            }
        }
    }

    /// Writes every item queued before this call and returns once their
    /// events are answered (acknowledged or failed).
    ///
    /// # Errors
    /// When the batch task has ended (it panicked).
    pub async fn flush(&self) -> Result<()> {
        let (done, answered) = oneshot::channel();
        self.shared.lock().flushes.push(done);
        self.ring()?;
        answered.await.map_err(|_| ended())
    }

    /// Wakes the task.
    fn ring(&self) -> Result<()> {
        match self.bell.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => Ok(()),
            Err(TrySendError::Closed(())) => Err(ended()),
        }
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Gathered<T>> {
        self.gathering
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn ended() -> Error {
    Error::msg("the batch's writer task has ended")
}

/// The task that writes a connector's batches.
struct Task<T> {
    shared: Arc<Shared<T>>,
    linger: Duration,
    rung: Receiver<()>,
    made_room: Sender<()>,
    replies: SinkReplies,
    lost: ConnectionLostNotifier,
    /// The connection in which a write failed last: the runtime fails
    /// back every event of it.
    failed_in: Option<u64>,
}

impl<T: Send> Task<T> {
    /// Takes each batch when it is full, flushed or has lingered, writes
    /// it with `writer` and answers its events; ends when the [`Batch`] is
    /// dropped, failing back what it had not written (the runtime has
    /// given those events up by then).
    async fn write_batches<W: BatchWriter<T>>(mut self, mut writer: W) {
        let mut batch = Gathered::with_capacity(self.shared.max_events);
        while self.rung.recv().await.is_ok() {
            let mut linger = pin!(crate::time::sleep(self.linger));
            while !self.shared.lock().ready(self.shared.max_events) {
                match select(pin!(self.rung.recv()), linger.as_mut()).await {
                    Either::Left((Ok(()), _)) => {}
                    Either::Left((Err(_), _)) | Either::Right(_) => break,
                }
            }
            std::mem::swap(&mut *self.shared.lock(), &mut batch);
            let _ = self.made_room.try_send(());
            if self.rung.is_closed() {
                batch.ids.drain(..).for_each(|id| self.replies.fail(id));
            } else {
                self.write(&mut writer, &mut batch).await;
            }
            batch.items.clear();
            batch.connections.clear();
            for flushed in batch.flushes.drain(..) {
                let _ = flushed.send(());
            }
        }
        let left = std::mem::replace(&mut *self.shared.lock(), Gathered::with_capacity(0));
        left.ids.into_iter().for_each(|id| self.replies.fail(id));
    }

    /// Writes `batch` and answers its events.
    async fn write<W: BatchWriter<T>>(&mut self, writer: &mut W, batch: &mut Gathered<T>) {
        self.drop_given_up(batch);
        if batch.ids.is_empty() {
            return;
        }
        let events = batch.ids.len();
        match writer.write(&mut batch.items).await {
            Ok(()) => batch.ids.drain(..).for_each(|id| self.replies.ack(id)),
            Err(error) => {
                self.failed_in = Some(self.shared.connects.load(Ordering::Acquire));
                log::error!(
                    "writing a batch of {events} event(s) failed: {}; they are failed back",
                    error.message()
                );
                batch.ids.drain(..).for_each(|id| self.replies.fail(id));
                self.lost.connection_lost();
            }
        }
    }
}

impl<T> Task<T> {
    /// Drops from `batch`, unwritten, the events queued before the
    /// connector's latest `connect` or in a connection whose write failed:
    /// the runtime fails them back before it reconnects, and their sources
    /// send them again.
    fn drop_given_up(&self, batch: &mut Gathered<T>) {
        let current = self.shared.connects.load(Ordering::Acquire);
        let live = |connection: u64| connection == current && self.failed_in != Some(current);
        let Gathered {
            ids,
            items,
            connections,
            ..
        } = batch;
        if connections.iter().all(|&connection| live(connection)) {
            connections.clear();
            return;
        }
        let mut fresh = connections.iter().map(|&connection| live(connection));
        ids.retain(|&id| {
            let keep = fresh.next().unwrap_or(false);
            if !keep {
                self.replies.fail(id);
            }
            keep
        });
        let mut fresh = connections.iter().map(|&connection| live(connection));
        items.retain(|_| fresh.next().unwrap_or(false));
        connections.clear();
    }
}

/// A batch: its events, their items, the connection each was queued in,
/// and the flushes waiting for it.
struct Gathered<T> {
    ids: Vec<EventId>,
    items: Vec<T>,
    connections: Vec<u64>,
    flushes: Vec<oneshot::Sender<()>>,
}

impl<T> Gathered<T> {
    fn with_capacity(events: usize) -> Self {
        Self {
            ids: Vec::with_capacity(events),
            items: Vec::with_capacity(events),
            connections: Vec::with_capacity(events),
            flushes: Vec::new(),
        }
    }

    /// Whether to write it now, without lingering.
    fn ready(&self, max_events: usize) -> bool {
        self.ids.len() >= max_events || !self.flushes.is_empty()
    }
}
