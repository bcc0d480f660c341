//! Serving HTTP/1.1 with hyper on the plugin's tokio runtime: one task
//! accepts connections, one task per connection serves its requests, and
//! every request waits for its response from the connector.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming as IncomingBody;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::message::{headers_value, plain, HttpResponse};
use pdk::Value;

/// How long stopping lets open connections finish their requests.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// How long to wait before accepting again after accepting failed (out
/// of file descriptors, say).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

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
    /// Its headers, as a value.
    pub headers: Value,
    /// Its body, whole.
    pub body: Bytes,
    /// Where its response goes.
    pub respond: oneshot::Sender<HttpResponse>,
}

/// What every connection's requests share.
pub struct Shared {
    /// Where requests go.
    pub requests: mpsc::Sender<Request>,
    /// The next request's stream.
    pub next_stream: AtomicU64,
    /// The largest body accepted.
    pub max_body_bytes: usize,
    /// How long a request waits for its response.
    pub timeout: Duration,
}

/// Accepts and serves connections until `stop` is cancelled, then lets
/// them finish their requests for a bounded time.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let socket = match accepted {
            Ok((socket, _peer)) => socket,
            Err(error) => {
                pdk::log::warn!("cannot accept a connection: {error}");
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_RETRY) => continue,
                }
            }
        };
        let shared = Arc::clone(&shared);
        let service = service_fn(move |request| handle(request, Arc::clone(&shared)));
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(socket), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that breaks its connection only ends its own task.
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(STOP_GRACE, graceful.shutdown()).await;
}

/// Reads one request whole, hands it to the connector, and answers with
/// the response the connector gives it.
async fn handle(
    request: hyper::Request<IncomingBody>,
    shared: Arc<Shared>,
) -> Result<HttpResponse, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, shared.max_body_bytes).collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => {
            return Ok(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the body is larger than max_body_bytes = {}",
                    shared.max_body_bytes
                ),
            ))
        }
        Err(error) => {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {error}"),
            ))
        }
    };
    let (respond, response) = oneshot::channel();
    let request = Request {
        stream: shared.next_stream.fetch_add(1, Ordering::Relaxed),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: headers_value(&parts.headers),
        body,
        respond,
    };
    if shared.requests.send(request).await.is_err() {
        return Ok(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping",
        ));
    }
    Ok(match tokio::time::timeout(shared.timeout, response).await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server stopped before answering",
        ),
        Err(_) => plain(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "no response within timeout_ms = {}",
                shared.timeout.as_millis()
            ),
        ),
    })
}
