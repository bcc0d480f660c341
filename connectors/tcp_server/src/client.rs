//! The server's tasks on the plugin's tokio runtime: one that accepts
//! clients, and for each client one that reads its lines and one that
//! writes what the sink side queued for it (see [`crate::outbound`]). No
//! thread per client.
//!
//! No client can take more than its share: at most `max_connections`
//! clients, a new one closing the client that has gone longest without
//! sending a whole line; a line must arrive within `line_timeout_ms` of
//! its first byte, a client may stay silent `idle_timeout_ms`; and the
//! partial lines of all clients hold at most `max_buffered_bytes` beyond
//! [`FREE_LINE_BYTES`] each (a client whose line does not fit is
//! disconnected).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pdk::net::{Admitted, ByteBudget, Closing, Connections, Reservation, Slot, Tally};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::lines::Lines;
use crate::outbound::{self, Arrivals, Outbound};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 * 1024;

/// How long to wait before accepting again after accepting failed (out
/// of file descriptors, say).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// How often clients past their deadline are disconnected.
const EXPIRE_EVERY: Duration = Duration::from_millis(250);

/// How often each kind of trouble is logged, at most.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// The bytes of a partial line each client may hold outside the shared
/// budget, so that short lines are read however the budget is used.
pub const FREE_LINE_BYTES: usize = 16 * 1024;

/// What the server's tasks tell the connector, in the order it happened.
pub enum Incoming {
    /// A client connected; the sink side queues its replies in `outbound`.
    Opened {
        /// The client's stream.
        stream: u64,
        /// Its address.
        peer: SocketAddr,
        /// Where its replies go.
        outbound: Outbound,
        /// Stops its tasks and closes its connection.
        cancel: CancellationToken,
    },
    /// A line a client sent, without its newline.
    Line {
        /// The client's stream.
        stream: u64,
        /// The line.
        line: Vec<u8>,
    },
    /// A client sent a line longer than the limit; it was dropped.
    Oversized {
        /// The client's stream.
        stream: u64,
    },
    /// A client closed its sending side (or the connection broke): no
    /// more lines will come from it.
    ReadClosed {
        /// The client's stream.
        stream: u64,
    },
}

/// What no client may exceed (the connector's config).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The longest line accepted, in bytes.
    pub max_line_bytes: usize,
    /// Lines that may wait to be written to one client.
    pub max_queued_lines: usize,
    /// How long a line may take to arrive, from its first byte.
    pub line_timeout: Duration,
    /// How long a client may send nothing.
    pub idle_timeout: Duration,
}

/// What the server's tasks share.
#[derive(Clone)]
pub struct Tasks {
    /// Where the tasks report.
    pub incoming: mpsc::Sender<Incoming>,
    /// Cancelled when the server stops accepting and reading.
    pub accepting: CancellationToken,
    /// Cancelled when every connection must close at once; each client's
    /// token is a child of it.
    pub shutdown: CancellationToken,
    /// The writers, so that stopping can wait for them to flush.
    pub writers: TaskTracker,
    /// The limits.
    pub limits: Limits,
    /// The connected clients.
    pub connections: Connections,
    /// The bytes of partial lines all clients may hold together.
    pub budget: ByteBudget,
    /// Clients disconnected because the budget was spent, for the log.
    pub over_budget: Arc<Mutex<Tally>>,
}

/// Accepts clients until `tasks.accepting` is cancelled; each gets the
/// next stream number, starting at 1.
pub async fn accept_loop(listener: TcpListener, tasks: Tasks) {
    tokio::spawn(expire(tasks.connections.clone(), tasks.accepting.clone()));
    let mut accept_failed = Tally::every(REPORT_EVERY);
    let mut refused = Tally::every(REPORT_EVERY);
    let mut evicted = Tally::every(REPORT_EVERY);
    let mut next_stream = 1;
    loop {
        let accepted = tokio::select! {
            () = tasks.accepting.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                if let Some(times) = accept_failed.occurred(Instant::now()) {
                    pdk::log::warn!(
                        "cannot accept clients: {error} ({times} time(s) in {REPORT_EVERY:?}); \
                         fix: raise the runtime's `ulimit -n`, or lower `max_connections`"
                    );
                }
                tokio::select! {
                    () = tasks.accepting.cancelled() => return,
                    () = tokio::time::sleep(ACCEPT_RETRY) => continue,
                }
            }
        };
        let deadline = Instant::now() + tasks.limits.idle_timeout;
        let (slot, closing, admitted) = match tasks.connections.admit(deadline) {
            Ok(admission) => admission,
            Err(_full) => {
                if let Some(times) = refused.occurred(Instant::now()) {
                    pdk::log::warn!(
                        "refused {times} client(s) in {REPORT_EVERY:?}: max_connections = {} \
                         are connected",
                        tasks.connections.max()
                    );
                }
                continue;
            }
        };
        if admitted == Admitted::Evicted {
            if let Some(times) = evicted.occurred(Instant::now()) {
                pdk::log::info!(
                    "disconnected {times} client(s) in {REPORT_EVERY:?} that had gone longest \
                     without a whole line, to make room (max_connections = {})",
                    tasks.connections.max()
                );
            }
        }
        let stream = next_stream;
        next_stream += 1;
        // Replies are small and latency matters more than packet count.
        let _ = socket.set_nodelay(true);
        let (read, write) = socket.into_split();
        let client = Client {
            stream,
            peer,
            slot,
            closing,
            cancel: tasks.shutdown.child_token(),
            write: Some(write),
            arrivals: None,
        };
        tokio::spawn(read_loop(client, read, tasks.clone()));
    }
}

/// Disconnects the clients past their deadline, until `stop`.
async fn expire(connections: Connections, stop: CancellationToken) {
    let mut expired = Tally::every(REPORT_EVERY);
    let expiring = connections.expire_every(EXPIRE_EVERY, |closed| {
        if let Some(times) = expired.add(closed, Instant::now()) {
            pdk::log::info!(
                "disconnected {times} client(s) in {REPORT_EVERY:?} that were silent or sent a \
                 line too slowly (idle_timeout_ms, line_timeout_ms)"
            );
        }
    });
    tokio::select! {
        () = stop.cancelled() => {}
        () = expiring => {}
    }
}

/// One client, as its reader sees it.
struct Client {
    stream: u64,
    peer: SocketAddr,
    slot: Slot,
    closing: Closing,
    cancel: CancellationToken,
    /// Its socket's sending side, until the connector learns of it.
    write: Option<OwnedWriteHalf>,
    /// Counts its lines on their way to the connector, once it knows.
    arrivals: Option<Arrivals>,
}

impl Client {
    /// Tells the connector of `message`, and first of the client itself
    /// (with its queue of replies, whose writer starts now) if this is
    /// its first line: a client that never sends one never reaches the
    /// flow. `false` once the connector takes no more.
    async fn tell(&mut self, tasks: &Tasks, message: Incoming) -> bool {
        if let Some(write) = self.write.take() {
            let (outbound, arrivals, writer) =
                outbound::channel(write, tasks.limits.max_queued_lines, self.cancel.clone());
            tasks.writers.spawn(writer.run());
            self.arrivals = Some(arrivals);
            let opened = Incoming::Opened {
                stream: self.stream,
                peer: self.peer,
                outbound,
                cancel: self.cancel.clone(),
            };
            if tasks.incoming.send(opened).await.is_err() {
                return false;
            }
        }
        if let (Incoming::Line { .. }, Some(arrivals)) = (&message, &self.arrivals) {
            arrivals.told();
        }
        tasks.incoming.send(message).await.is_ok()
    }
}

/// How a client's reading ended.
enum Ended {
    /// It closed its sending side (or the connection broke).
    ByClient,
    /// The runtime closed it: to make room, past its deadline, or over
    /// the budget.
    ByServer,
    /// The server stops, or the connector disconnected it: nothing more
    /// to tell.
    Quietly,
}

/// Reads one client's lines until it closes its side, the server stops
/// reading, or the client is disconnected.
async fn read_loop(mut client: Client, mut read: OwnedReadHalf, tasks: Tasks) {
    let stream = client.stream;
    let limits = tasks.limits;
    let mut lines = Lines::new(limits.max_line_bytes);
    let mut buffer = BytesMut::with_capacity(READ_CHUNK.min(FREE_LINE_BYTES));
    let mut held = tasks.budget.reservation();
    let mut partial = false;
    // Kept across reads, as `closing` is: made anew for every read, each
    // would register with its token again.
    let cancelled = client.cancel.clone().cancelled_owned();
    let stopping = tasks.accepting.clone().cancelled_owned();
    tokio::pin!(cancelled, stopping);
    let ended = loop {
        let mut whole_line = false;
        loop {
            let message = match lines.next(&mut buffer) {
                Some(Ok(line)) => Incoming::Line {
                    stream,
                    line: without_cr(line),
                },
                None => break,
                Some(Err(_)) => Incoming::Oversized { stream },
            };
            whole_line = true;
            if !client.tell(&tasks, message).await {
                return;
            }
        }
        if whole_line {
            client.slot.wait_until(Instant::now() + limits.idle_timeout);
        }
        if !buffer.is_empty() && (whole_line || !partial) {
            // A line has started: it has `line_timeout` to arrive whole,
            // still counted from the last whole line for who waits longest.
            client
                .slot
                .extend_until(Instant::now() + limits.line_timeout);
        }
        partial = !buffer.is_empty();
        if !hold(&mut held, &buffer) {
            report_over_budget(&tasks, client.peer, stream, buffer.len());
            break Ended::ByServer;
        }
        buffer.reserve(READ_CHUNK.min(FREE_LINE_BYTES));
        let read = tokio::select! {
            () = &mut cancelled => break Ended::Quietly,
            () = &mut stopping => break Ended::Quietly,
            () = &mut client.closing => break Ended::ByServer,
            read = read.read_buf(&mut buffer) => read,
        };
        if !matches!(read, Ok(n) if n > 0) {
            break Ended::ByClient;
        }
    };
    drop(held);
    let last = match ended {
        Ended::Quietly => return,
        Ended::ByServer => {
            client.cancel.cancel();
            None
        }
        // The client closed its side: its last line may lack the newline.
        Ended::ByClient => match lines.last(&mut buffer) {
            Some(Ok(line)) if !line.is_empty() => Some(Incoming::Line {
                stream,
                line: without_cr(line),
            }),
            Some(Ok(_)) | None => None,
            Some(Err(_)) => Some(Incoming::Oversized { stream }),
        },
    };
    if let Some(last) = last {
        if !client.tell(&tasks, last).await {
            return;
        }
    }
    // A client the connector never learnt of has nothing to end.
    if client.write.is_none() {
        let _ = tasks.incoming.send(Incoming::ReadClosed { stream }).await;
    }
}

/// Makes `held` cover what `buffer` holds beyond [`FREE_LINE_BYTES`];
/// `false` if the budget does not have it.
fn hold(held: &mut Reservation, buffer: &BytesMut) -> bool {
    let needed = buffer.len().saturating_sub(FREE_LINE_BYTES);
    if needed > held.held() {
        return held.grow(needed - held.held());
    }
    held.shrink_to(needed);
    true
}

/// Logs, at most once per interval, a client disconnected because the
/// budget was spent.
fn report_over_budget(tasks: &Tasks, peer: SocketAddr, stream: u64, line_bytes: usize) {
    let now = Instant::now();
    let due = tasks
        .over_budget
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .occurred(now);
    if let Some(times) = due {
        pdk::log::warn!(
            "disconnected {times} client(s) in {REPORT_EVERY:?}, the last {peer} (stream \
             {stream}) with a partial line of {line_bytes} bytes: the partial lines of all \
             clients hold max_buffered_bytes = {} already",
            tasks.budget.total()
        );
    }
}

/// A line as an event's payload: without a trailing `\r`.
fn without_cr(line: Bytes) -> Vec<u8> {
    match line.strip_suffix(b"\r") {
        Some(line) => line.to_vec(),
        None => Vec::from(line),
    }
}
