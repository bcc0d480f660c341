//! A client's replies on their way to it. A reply after which nothing of
//! its client's is on the way (no line read and not pulled yet, no other
//! event of its stream unanswered, no reply queued before it) is written
//! by the sink side itself, with one `write` and no task woken: a
//! request/response client gets its answer at once. The others are
//! queued for the client's writer task, which writes them in batches (one
//! `write` for many replies) once the sink side has gone on to other work.

use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Replies written to a client per batch, at most.
const WRITE_BATCH: usize = 64;

/// Why a reply was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// As many replies as the client may have queued wait already: it does
    /// not read them.
    Full,
    /// The connection broke or was closed.
    Closed,
}

/// What the sink side, the client's reader and its writer share.
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer: a reply was queued, or no more will be.
    queued: Notify,
    /// Lines the reader has told the connector of that it has not pulled.
    unpulled: AtomicUsize,
    /// Replies that may wait in the queue.
    max_queued: usize,
}

struct State {
    /// The socket's sending side; `None` once the writer has ended.
    socket: Option<Arc<OwnedWriteHalf>>,
    /// Replies waiting, oldest first; the writer removes them once written.
    queue: VecDeque<Vec<u8>>,
    /// Bytes of the oldest reply already written.
    written: usize,
    /// The sink side queues no more: the writer ends after the queue.
    closed: bool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sink side's end: sends replies. Dropped, the writer writes what is
/// queued and then closes the client's sending side.
pub struct Outbound(Arc<Shared>);

/// The reader's end: counts the lines it tells the connector of.
pub struct Arrivals(Arc<Shared>);

/// The writer task's end, see [`Writer::run`].
pub struct Writer {
    shared: Arc<Shared>,
    cancel: CancellationToken,
}

/// The three ends of a client's replies, writing to `socket`; at most
/// `max_queued` replies wait, and `cancel` stops the writer at once.
pub fn channel(
    socket: OwnedWriteHalf,
    max_queued: usize,
    cancel: CancellationToken,
) -> (Outbound, Arrivals, Writer) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            socket: Some(Arc::new(socket)),
            queue: VecDeque::new(),
            written: 0,
            closed: false,
        }),
        queued: Notify::new(),
        unpulled: AtomicUsize::new(0),
        max_queued,
    });
    (
        Outbound(Arc::clone(&shared)),
        Arrivals(Arc::clone(&shared)),
        Writer { shared, cancel },
    )
}

impl Arrivals {
    /// A line of the client is on its way to the connector.
    pub fn told(&self) {
        self.0.unpulled.fetch_add(1, Ordering::Relaxed);
    }
}

impl Outbound {
    /// The connector pulled one of the client's lines.
    pub fn pulled(&self) {
        let _ = self
            .0
            .unpulled
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Sends `line`. With `last` (no other event of the client's stream
    /// is unanswered), a reply that no line of the client follows and no
    /// reply precedes is written now; the others, and what the socket
    /// does not take at once, are queued for the writer.
    pub fn send(&self, line: Vec<u8>, last: bool) -> Result<(), Refused> {
        let mut state = self.0.state();
        let Some(socket) = state.socket.clone() else {
            return Err(Refused::Closed);
        };
        if state.queue.is_empty() {
            if last && self.0.unpulled.load(Ordering::Relaxed) == 0 {
                match stream(&socket).try_write(&line) {
                    Ok(n) if n == line.len() => return Ok(()),
                    Ok(n) => state.written = n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => state.written = 0,
                    Err(_) => {
                        state.socket = None;
                        drop(state);
                        self.0.queued.notify_one();
                        return Err(Refused::Closed);
                    }
                }
            }
            state.queue.push_back(line);
            drop(state);
            // The writer drains the queue before it waits again: only the
            // first reply queued needs to wake it.
            self.0.queued.notify_one();
            return Ok(());
        }
        if state.queue.len() >= self.0.max_queued {
            return Err(Refused::Full);
        }
        state.queue.push_back(line);
        Ok(())
    }
}

impl Drop for Outbound {
    fn drop(&mut self) {
        self.0.state().closed = true;
        self.0.queued.notify_one();
    }
}

/// What the writer does next.
enum Next {
    /// Write the batch it copied, then remove this many replies.
    Write(Arc<OwnedWriteHalf>, usize),
    /// Wait for a reply.
    Wait,
    /// End: no more replies, or no socket.
    End,
}

impl Writer {
    /// Writes the queued replies in batches until the sink side's end is
    /// dropped and the queue is empty (then the client's sending side is
    /// closed), writing fails, or the client is disconnected (`cancel`).
    pub async fn run(self) {
        let Self { shared, cancel } = self;
        let mut batch = Vec::new();
        // One registration with the token for the writer's whole life.
        let cancelled = cancel.cancelled();
        tokio::pin!(cancelled);
        loop {
            match next(&shared, &mut batch) {
                Next::Write(socket, replies) => {
                    let written = tokio::select! {
                        biased;
                        () = &mut cancelled => break,
                        written = write_all(&socket, &batch) => written,
                    };
                    if written.is_err() {
                        break;
                    }
                    let mut state = shared.state();
                    state.queue.drain(..replies);
                    state.written = 0;
                }
                Next::Wait => tokio::select! {
                    biased;
                    () = &mut cancelled => break,
                    () = shared.queued.notified() => {}
                },
                Next::End => break,
            }
        }
        // Dropping the last handle of the socket closes the sending side.
        let mut state = shared.state();
        state.socket = None;
        state.queue.clear();
    }
}

/// Copies the next batch of queued replies into `batch`, or says why
/// there is none.
fn next(shared: &Shared, batch: &mut Vec<u8>) -> Next {
    let state = shared.state();
    let Some(socket) = state.socket.clone() else {
        return Next::End;
    };
    if state.queue.is_empty() {
        return if state.closed { Next::End } else { Next::Wait };
    }
    batch.clear();
    let mut skip = state.written;
    let mut replies = 0;
    for reply in state.queue.iter().take(WRITE_BATCH) {
        batch.extend_from_slice(&reply[skip..]);
        skip = 0;
        replies += 1;
    }
    Next::Write(socket, replies)
}

/// The stream `socket` is the sending side of.
fn stream(socket: &OwnedWriteHalf) -> &TcpStream {
    socket.as_ref()
}

/// Writes all of `bytes` to `socket`, waiting for room as needed.
async fn write_all(socket: &OwnedWriteHalf, mut bytes: &[u8]) -> io::Result<()> {
    let stream = stream(socket);
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read};
    use std::time::Duration;

    use tokio::net::TcpListener;

    use super::{channel, Outbound, Refused, Writer};

    /// A connected pair: the server's ends of the replies, and the client's
    /// blocking socket (reads time out after 10 s).
    async fn connected(
        max_queued: usize,
    ) -> (Outbound, super::Arrivals, Writer, std::net::TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let client = tokio::task::spawn_blocking(move || std::net::TcpStream::connect(address));
        let (server, _) = listener.accept().await.unwrap();
        let client = client.await.unwrap().unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (read, write) = server.into_split();
        // The reading side stays open for the test's life.
        std::mem::forget(read);
        let (outbound, arrivals, writer) = channel(
            write,
            max_queued,
            tokio_util::sync::CancellationToken::new(),
        );
        (outbound, arrivals, writer, client)
    }

    /// Everything the client receives until the server closes its side.
    async fn read_to_end(client: std::net::TcpStream) -> String {
        tokio::task::spawn_blocking(move || {
            let mut text = String::new();
            BufReader::new(client).read_to_string(&mut text).unwrap();
            text
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_last_reply_is_written_without_the_writer() {
        let (outbound, _arrivals, writer, client) = connected(4).await;
        outbound.send(b"now\n".to_vec(), true).unwrap();
        // The writer has not run: the line is on the wire already.
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(client).read_line(&mut line).unwrap();
            line
        })
        .await
        .unwrap();
        assert_eq!(line, "now\n");
        drop((outbound, writer));
    }

    #[tokio::test]
    async fn replies_keep_their_order_whichever_end_writes_them() {
        let (outbound, arrivals, writer, client) = connected(8).await;
        // A line of the client is still to be pulled: its reply waits.
        arrivals.told();
        outbound.send(b"1\n".to_vec(), true).unwrap();
        outbound.pulled();
        // Could be written now, but a reply is queued before it.
        outbound.send(b"2\n".to_vec(), true).unwrap();
        outbound.send(b"3\n".to_vec(), false).unwrap();
        drop(outbound);
        writer.run().await;
        // Written at once again only once the queue is empty.
        assert_eq!(read_to_end(client).await, "1\n2\n3\n");
    }

    #[tokio::test]
    async fn a_client_that_does_not_read_fills_its_queue_and_is_refused() {
        let (outbound, _arrivals, writer, client) = connected(2).await;
        // Larger than the socket's buffers: most of it waits in the queue.
        let big = vec![b'x'; 16 << 20];
        outbound.send(big.clone(), true).unwrap();
        outbound.send(b"a\n".to_vec(), true).unwrap();
        assert_eq!(outbound.send(b"b\n".to_vec(), true), Err(Refused::Full));
        // Once the client reads, everything queued arrives, in order.
        let reading = tokio::spawn(read_to_end(client));
        drop(outbound);
        writer.run().await;
        let text = reading.await.unwrap();
        assert_eq!(text.len(), big.len() + 2);
        assert!(text.ends_with("xa\n"));
    }

    #[tokio::test]
    async fn a_disconnected_client_refuses_replies() {
        let (outbound, _arrivals, writer, client) = connected(4).await;
        let cancel = writer.cancel.clone();
        outbound.send(b"queued\n".to_vec(), false).unwrap();
        cancel.cancel();
        writer.run().await;
        assert_eq!(
            outbound.send(b"late\n".to_vec(), true),
            Err(Refused::Closed)
        );
        drop(client);
    }
}
