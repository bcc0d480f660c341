//! The runtime's HTTP endpoint (`--api ADDR`): `/metrics` in Prometheus's
//! text format, `/health` and `/status`. It runs on a thread of its own
//! (`pdk-api`), so that no pipeline waits for a scrape, and bounds what a
//! client can hold: a few connections at once, and a deadline for a
//! request's head.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use async_executor::Executor;
use async_io::Async;
use async_lock::Semaphore;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use smol_hyper::rt::{FuturesIo, SmolTimer};

use super::{Health, Metrics, Observer};

/// Reads `--api`'s value: a port (on 127.0.0.1, loopback), or
/// `HOST:PORT`.
///
/// # Errors
/// A message saying what it takes.
pub fn parse_address(value: &str) -> Result<SocketAddr, String> {
    let resolved = if let Ok(port) = value.parse::<u16>() {
        Some(SocketAddr::from(([127, 0, 0, 1], port)))
    } else {
        value
            .to_socket_addrs()
            .ok()
            .and_then(|mut found| found.next())
    };
    resolved.ok_or_else(|| {
        format!("`{value}` is not a port or HOST:PORT (for example 9898, or 0.0.0.0:9898)")
    })
}

/// How many connections the endpoint serves at once; more wait in the
/// listen queue.
const MAX_CONNECTIONS: usize = 16;

/// How long a client may take to send a request's head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The address cannot be listened on.
    #[error("cannot listen on {address} for --api: {error}; fix: choose a free port, or stop what listens there")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// The endpoint's thread could not start.
    #[error("cannot start the thread of the --api endpoint: {0}; fix: raise the limit on threads (ulimit -u)")]
    Thread(std::io::Error),
}

/// Listens on `address` and serves `observer`'s metrics, health and status
/// there, on a thread of its own, for as long as the process runs;
/// returns the address it listens on (with the port chosen, for port 0).
///
/// # Errors
/// When it cannot listen on `address`, or start its thread.
pub fn serve(address: SocketAddr, observer: Observer) -> Result<SocketAddr, ApiError> {
    let bind = |error| ApiError::Bind { address, error };
    let listener = TcpListener::bind(address).map_err(bind)?;
    let bound = listener.local_addr().map_err(bind)?;
    let listener = Async::new(listener).map_err(bind)?;
    std::thread::Builder::new()
        .name(String::from("pdk-api"))
        .spawn(move || {
            let executor = Arc::new(Executor::new());
            async_io::block_on(executor.run(accept(listener, observer, Arc::clone(&executor))));
        })
        .map_err(ApiError::Thread)?;
    Ok(bound)
}

/// Accepts connections and serves each, at most [`MAX_CONNECTIONS`] at
/// once.
async fn accept(listener: Async<TcpListener>, observer: Observer, executor: Arc<Executor<'_>>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = slots.acquire_arc().await;
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                log::warn!("--api endpoint: cannot accept a connection: {error}");
                async_io::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        let observer = observer.clone();
        executor
            .spawn(async move {
                let service = service_fn(move |request| {
                    let response = answer(&observer, &request);
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let served = http1::Builder::new()
                    .timer(SmolTimer::new())
                    .header_read_timeout(HEAD_TIMEOUT)
                    .serve_connection(FuturesIo::new(stream), service)
                    .await;
                if let Err(error) = served {
                    log::debug!("--api endpoint: a connection ended: {error}");
                }
                drop(permit);
            })
            .detach();
    }
}

/// The answer to `request`.
fn answer(observer: &Observer, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served here\n".to_owned(),
        );
    }
    match request.uri().path() {
        "/metrics" => with_type(
            text(StatusCode::OK, observer.exposition()),
            Metrics::CONTENT_TYPE,
        ),
        "/health" => match observer.status().health() {
            Health::Well => text(
                StatusCode::OK,
                "ok: every connector is running or has finished\n".to_owned(),
            ),
            Health::Unwell(why) => text(StatusCode::SERVICE_UNAVAILABLE, why.join("\n") + "\n"),
        },
        "/status" => match serde_json::to_string_pretty(&observer.status()) {
            Ok(json) => with_type(text(StatusCode::OK, json + "\n"), "application/json"),
            Err(error) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot serialize the status: {error}\n"),
            ),
        },
        other => text(
            StatusCode::NOT_FOUND,
            format!("no `{other}` here; this endpoint serves /metrics, /health and /status\n"),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    with_type(response, "text/plain; charset=utf-8")
}

fn with_type(
    mut response: Response<Full<Bytes>>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
