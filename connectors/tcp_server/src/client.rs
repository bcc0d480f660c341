//! The server's tasks on the plugin's tokio runtime: one that accepts
//! clients, and for each client one that reads its lines and one that
//! writes what the sink side queued for it. No thread per client.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::codec::{AnyDelimiterCodec, Decoder};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 * 1024;

/// Lines written to a client per flush, at most.
const WRITE_BATCH: usize = 64;

/// How long to wait before accepting again after accepting failed (out
/// of file descriptors, say).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// What the server's tasks tell the connector, in the order it happened.
pub enum Incoming {
    /// A client connected; the sink side queues its replies in `outbound`.
    Opened {
        /// The client's stream.
        stream: u64,
        /// Its address.
        peer: SocketAddr,
        /// Its queue of lines to write.
        outbound: mpsc::Sender<Vec<u8>>,
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
    /// Accepting a client failed.
    AcceptFailed(String),
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
    /// The longest line accepted, in bytes.
    pub max_line_bytes: usize,
    /// Lines that may wait to be written to one client.
    pub max_queued_lines: usize,
}

/// Accepts clients until `tasks.accepting` is cancelled; each gets the
/// next stream number, starting at 1.
pub async fn accept_loop(listener: TcpListener, tasks: Tasks) {
    let mut next_stream = 1;
    loop {
        let accepted = tokio::select! {
            () = tasks.accepting.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                if tasks
                    .incoming
                    .send(Incoming::AcceptFailed(error.to_string()))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::select! {
                    () = tasks.accepting.cancelled() => return,
                    () = tokio::time::sleep(ACCEPT_RETRY) => continue,
                }
            }
        };
        let stream = next_stream;
        next_stream += 1;
        // Replies are small and latency matters more than packet count.
        let _ = socket.set_nodelay(true);
        let (read, write) = socket.into_split();
        let cancel = tasks.shutdown.child_token();
        let (outbound, queue) = mpsc::channel(tasks.max_queued_lines);
        // The connector learns of the client before any of its lines.
        let opened = Incoming::Opened {
            stream,
            peer,
            outbound,
            cancel: cancel.clone(),
        };
        if tasks.incoming.send(opened).await.is_err() {
            return;
        }
        tasks
            .writers
            .spawn(write_loop(write, queue, cancel.clone()));
        tokio::spawn(read_loop(stream, read, tasks.clone(), cancel));
    }
}

/// Reads one client's lines until it closes its side, the server stops
/// reading, or the client is disconnected.
async fn read_loop(stream: u64, mut read: OwnedReadHalf, tasks: Tasks, cancel: CancellationToken) {
    let mut lines =
        AnyDelimiterCodec::new_with_max_length(vec![b'\n'], vec![b'\n'], tasks.max_line_bytes);
    let mut buffer = BytesMut::with_capacity(READ_CHUNK);
    loop {
        loop {
            let message = match lines.decode(&mut buffer) {
                Ok(Some(line)) => Incoming::Line {
                    stream,
                    line: without_cr(line),
                },
                Ok(None) => break,
                Err(_) => Incoming::Oversized { stream },
            };
            if tasks.incoming.send(message).await.is_err() {
                return;
            }
        }
        buffer.reserve(READ_CHUNK);
        let read = tokio::select! {
            () = cancel.cancelled() => return,
            () = tasks.accepting.cancelled() => return,
            read = read.read_buf(&mut buffer) => read,
        };
        if !matches!(read, Ok(n) if n > 0) {
            break;
        }
    }
    // The client closed its side: its last line may lack the newline.
    let last = match lines.decode_eof(&mut buffer) {
        Ok(Some(line)) if !line.is_empty() => Some(Incoming::Line {
            stream,
            line: without_cr(line),
        }),
        Ok(_) => None,
        Err(_) => Some(Incoming::Oversized { stream }),
    };
    for message in last.into_iter().chain([Incoming::ReadClosed { stream }]) {
        if tasks.incoming.send(message).await.is_err() {
            return;
        }
    }
}

/// A line as an event's payload: without a trailing `\r`.
fn without_cr(line: Bytes) -> Vec<u8> {
    match line.strip_suffix(b"\r") {
        Some(line) => line.to_vec(),
        None => Vec::from(line),
    }
}

/// Writes what is queued for one client, in batches, until the queue's
/// senders are all gone (then it closes its side of the connection after
/// the last line), writing fails, or the client is disconnected.
async fn write_loop(
    write: OwnedWriteHalf,
    mut queue: mpsc::Receiver<Vec<u8>>,
    cancel: CancellationToken,
) {
    let mut writer = BufWriter::new(write);
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    loop {
        let received = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            received = queue.recv_many(&mut batch, WRITE_BATCH) => received,
        };
        if received == 0 {
            break;
        }
        let written = tokio::select! {
            () = cancel.cancelled() => return,
            written = write_batch(&mut writer, &mut batch) => written,
        };
        if written.is_err() {
            return;
        }
    }
    tokio::select! {
        () = cancel.cancelled() => {}
        _ = writer.shutdown() => {}
    }
}

async fn write_batch(
    writer: &mut BufWriter<OwnedWriteHalf>,
    batch: &mut Vec<Vec<u8>>,
) -> std::io::Result<()> {
    for line in batch.drain(..) {
        writer.write_all(&line).await?;
    }
    writer.flush().await
}
