//! Serving HTTP/1.1 with hyper on the plugin's tokio runtime: one task
//! accepts connections, one task per connection serves its requests, and
//! every request waits for its response from the connector.
//!
//! No client can take more than its share: at most `max_connections`
//! connections, a new one closing the connection that has waited longest
//! for its client (idle, or sending a request it never finishes); a time
//! limit on the request head, the body and an idle connection; a bound on
//! the head's size and on the body bytes all connections hold together
//! (see [`Limits`]).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming as IncomingBody;
use hyper::header::{HeaderValue, CONNECTION, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use pdk::abi::value::PdkValue;
use pdk::net::{Admitted, ByteBudget, Connections, Reservation, Slot, Tally};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::message::{headers_value, plain, HttpResponse};

/// How long stopping lets open connections finish their requests.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// How long to wait before accepting again after accepting failed (out
/// of file descriptors, say).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// How often connections past their deadline are closed.
const EXPIRE_EVERY: Duration = Duration::from_millis(250);

/// How often each kind of trouble is logged, at most.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// The body bytes each request may hold outside the shared budget, so
/// that small requests are served however the budget is used.
pub const FREE_BODY_BYTES: usize = 16 * 1024;

/// The answer to a connection refused because every connection is busy.
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\
    connection: close\r\nretry-after: 1\r\n\r\n";

/// A request on its way to the connector's source side.
pub struct Request {
    /// Its stream: the sink side answers the event of this stream.
    pub stream: u64,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query, without the `?`.
    pub query: Option<String>,
    /// Its headers, as a value in the C-ABI form.
    pub headers: PdkValue,
    /// Its body, whole.
    pub body: Bytes,
    /// The part of the shared budget its body holds, given back when the
    /// request has become an event.
    pub held: Reservation,
    /// Where its response goes.
    pub respond: oneshot::Sender<HttpResponse>,
}

/// What no client may exceed (the connector's config).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest body accepted.
    pub max_body_bytes: usize,
    /// The largest request head (request line and headers).
    pub max_header_bytes: usize,
    /// How long a request's head may take to arrive, from its first byte.
    pub header_timeout: Duration,
    /// How long its body may take to arrive, after its head.
    pub body_timeout: Duration,
    /// How long a connection may stay open without a request.
    pub idle_timeout: Duration,
    /// How long a request waits for its response.
    pub response_timeout: Duration,
}

/// What every connection's requests share.
pub struct Shared {
    /// Where requests go.
    pub requests: mpsc::Sender<Request>,
    /// The next request's stream.
    pub next_stream: AtomicU64,
    /// The limits.
    pub limits: Limits,
    /// The open connections.
    pub connections: Connections,
    /// The body bytes all connections may hold together.
    pub budget: ByteBudget,
    /// Requests refused because the budget was spent, for the log.
    pub over_budget: Mutex<Tally>,
}

/// Accepts and serves connections until `stop` is cancelled, then lets
/// them finish their requests for a bounded time.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    let graceful = GracefulShutdown::new();
    tokio::spawn(expire(shared.connections.clone(), stop.clone()));
    let mut accept_failed = Tally::every(REPORT_EVERY);
    let mut refused = Tally::every(REPORT_EVERY);
    let mut evicted = Tally::every(REPORT_EVERY);
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let socket = match accepted {
            Ok((socket, _peer)) => socket,
            Err(error) => {
                if let Some(times) = accept_failed.occurred(Instant::now()) {
                    pdk::log::warn!(
                        "cannot accept connections: {error} ({times} time(s) in {REPORT_EVERY:?}); \
                         fix: raise the runtime's `ulimit -n`, or lower `max_connections`"
                    );
                }
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_RETRY) => continue,
                }
            }
        };
        let limits = shared.limits;
        let (slot, closing, admitted) = match shared
            .connections
            .admit(Instant::now() + limits.idle_timeout)
        {
            Ok(admission) => admission,
            Err(_full) => {
                if let Some(times) = refused.occurred(Instant::now()) {
                    pdk::log::warn!(
                        "refused {times} connection(s) in {REPORT_EVERY:?}: all \
                             max_connections = {} are busy with requests in the flow",
                        shared.connections.max()
                    );
                }
                tokio::spawn(refuse(socket));
                continue;
            }
        };
        if admitted == Admitted::Evicted {
            if let Some(times) = evicted.occurred(Instant::now()) {
                pdk::log::info!(
                    "closed {times} connection(s) in {REPORT_EVERY:?} that had waited longest \
                     without a whole request, to make room (max_connections = {})",
                    shared.connections.max()
                );
            }
        }
        let connection = Arc::new(Connection {
            slot,
            receiving: AtomicBool::new(false),
            limits,
        });
        let service = {
            let (shared, connection) = (Arc::clone(&shared), Arc::clone(&connection));
            service_fn(move |request| handle(request, Arc::clone(&shared), Arc::clone(&connection)))
        };
        let io = TokioIo::new(Tracked {
            socket,
            connection: Arc::clone(&connection),
        });
        let served = http1::Builder::new()
            .timer(TokioTimer::new())
            // The connector's own deadlines (see `Connection`) cover the
            // head, an idle connection and the body.
            .header_read_timeout(None)
            .max_buf_size(limits.max_header_bytes)
            .serve_connection(io, service);
        let served = graceful.watch(served);
        tokio::spawn(async move {
            // A client that breaks its connection only ends its own task;
            // one past its deadline, or closed to make room, is dropped.
            tokio::select! {
                _ = served => {}
                () = closing => {}
            }
            drop(connection);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(STOP_GRACE, graceful.shutdown()).await;
}

/// Closes the connections past their deadline, until `stop`.
///
/// The sweep runs on tokio's clock rather than the runtime's: tokio's
/// driver then always waits for a timer at most [`EXPIRE_EVERY`] away, and
/// a request's response deadline (later than that) is filed without
/// waking the driver. With no timer of its own, the driver was woken for
/// every request (an eventfd write and one more turn of its loop).
async fn expire(connections: Connections, stop: CancellationToken) {
    let mut expired = Tally::every(REPORT_EVERY);
    let mut sweeps = tokio::time::interval(EXPIRE_EVERY);
    sweeps.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = sweeps.tick() => {}
        }
        let now = Instant::now();
        let closed = connections.expire(now);
        if closed == 0 {
            continue;
        }
        if let Some(times) = expired.add(u64::try_from(closed).unwrap_or(u64::MAX), now) {
            pdk::log::info!(
                "closed {times} connection(s) in {REPORT_EVERY:?} that were idle or sent a \
                 request head too slowly (idle_timeout_ms, header_timeout_ms)"
            );
        }
    }
}

/// Answers a connection that finds every place busy, then closes it.
async fn refuse(mut socket: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.write_all(REFUSED)).await;
}

/// One connection's place and what it is doing.
struct Connection {
    slot: Slot,
    /// Whether a request has started arriving since the last response.
    receiving: AtomicBool,
    limits: Limits,
}

impl Connection {
    /// The first bytes of a request arrived: its head has
    /// `header_timeout` to arrive whole.
    fn request_started(&self) {
        if !self.receiving.swap(true, Ordering::AcqRel) && self.slot.is_waiting() {
            self.slot
                .wait_until(Instant::now() + self.limits.header_timeout);
        }
    }

    /// The head arrived: the body has `body_timeout` (the handler answers
    /// `408` then; the deadline is a second later, in case it cannot).
    fn head_arrived(&self) {
        self.slot
            .extend_until(Instant::now() + self.limits.body_timeout + Duration::from_secs(1));
    }

    /// The request is whole and in the flow: nothing closes the
    /// connection meanwhile.
    fn in_flow(&self) {
        self.slot.busy();
    }

    /// The response is given: the connection is idle again.
    fn answered(&self) {
        self.receiving.store(false, Ordering::Release);
        self.slot
            .wait_until(Instant::now() + self.limits.idle_timeout);
    }
}

/// The connection's socket, telling the connection when a request starts
/// arriving.
struct Tracked {
    socket: TcpStream,
    connection: Arc<Connection>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.socket).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.connection.request_started();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }
}

/// Why a body could not be read.
enum BodyError {
    /// Larger than `max_body_bytes`.
    TooLarge,
    /// The shared budget cannot hold it now.
    OverBudget,
    /// The connection broke, or the body was malformed.
    Broken(hyper::Error),
}

/// Reads a body whole, within `max` bytes; what it holds beyond
/// [`FREE_BODY_BYTES`] is taken from `budget`.
async fn read_body(
    mut body: IncomingBody,
    max: usize,
    budget: &ByteBudget,
) -> Result<(Bytes, Reservation), BodyError> {
    let mut bytes = BytesMut::new();
    let mut held = budget.reservation();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Broken)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if bytes.len() + data.len() > max {
            return Err(BodyError::TooLarge);
        }
        let beyond_free = (bytes.len() + data.len()).saturating_sub(FREE_BODY_BYTES);
        if beyond_free > held.held() && !held.grow(beyond_free - held.held()) {
            return Err(BodyError::OverBudget);
        }
        bytes.extend_from_slice(&data);
    }
    Ok((bytes.freeze(), held))
}

/// `future` polled once.
async fn poll_once<F: Future>(mut future: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await
}

/// `response`, closing the connection after it.
fn closing(mut response: HttpResponse) -> HttpResponse {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Reads one request whole, hands it to the connector, and answers with
/// the response the connector gives it.
async fn handle(
    request: hyper::Request<IncomingBody>,
    shared: Arc<Shared>,
    connection: Arc<Connection>,
) -> Result<HttpResponse, Infallible> {
    connection.head_arrived();
    let response = respond(request, &shared, &connection).await;
    connection.answered();
    Ok(response)
}

/// The response to `request`.
async fn respond(
    request: hyper::Request<IncomingBody>,
    shared: &Shared,
    connection: &Connection,
) -> HttpResponse {
    let limits = shared.limits;
    let (parts, body) = request.into_parts();
    let read = read_body(body, limits.max_body_bytes, &shared.budget);
    tokio::pin!(read);
    // A small body mostly arrives with the head: read so, it needs no
    // timer (a timer filed and cancelled for every request).
    let read = match poll_once(read.as_mut()).await {
        Poll::Ready(read) => Ok(read),
        Poll::Pending => tokio::time::timeout(limits.body_timeout, read).await,
    };
    let (body, held) = match read {
        Ok(Ok(read)) => read,
        Err(_) => {
            return closing(plain(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within body_timeout_ms = {}",
                    limits.body_timeout.as_millis()
                ),
            ))
        }
        Ok(Err(BodyError::TooLarge)) => {
            return closing(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the body is larger than max_body_bytes = {}",
                    limits.max_body_bytes
                ),
            ))
        }
        Ok(Err(BodyError::OverBudget)) => {
            if let Some(times) = shared
                .over_budget
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .occurred(Instant::now())
            {
                pdk::log::warn!(
                    "answered {times} request(s) in {REPORT_EVERY:?} with 503: the bodies \
                     being received hold max_buffered_bytes = {} already",
                    shared.budget.total()
                );
            }
            let mut response = closing(plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server holds as many request bodies as it may; retry later",
            ));
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
        Ok(Err(BodyError::Broken(error))) => {
            return closing(plain(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {error}"),
            ))
        }
    };
    connection.in_flow();
    let (respond, response) = oneshot::channel();
    let request = Request {
        stream: shared.next_stream.fetch_add(1, Ordering::Relaxed),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: headers_value(&parts.headers),
        body,
        held,
        respond,
    };
    if shared.requests.send(request).await.is_err() {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping");
    }
    match tokio::time::timeout(limits.response_timeout, response).await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server stopped before answering",
        ),
        Err(_) => plain(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "no response within timeout_ms = {}",
                limits.response_timeout.as_millis()
            ),
        ),
    }
}
