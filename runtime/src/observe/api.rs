//! The runtime's HTTP endpoint (`--api ADDR`): `/metrics` in Prometheus's
//! text format, `/health` and `/status`, and under `serve` the control
//! API (`/flows`, `/reload`). Beyond loopback it needs a token. It runs on a thread of its own
//! (`pdk-api`), so that no pipeline waits for a scrape, and bounds what a
//! client can hold: a few connections at once, and a deadline for a
//! request's head.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_executor::Executor;
use async_io::Async;
use async_lock::Semaphore;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use smol_hyper::rt::{FuturesIo, SmolTimer};

use super::{Health, Metrics, Observer};
use crate::serve::{is_flow_name, Action, Control, Request as ControlRequest};

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
    /// The token file cannot be used.
    #[error("--api-token-file {}: {problem}; fix: write the token on the file's first line", crate::printable::printable_path(.file))]
    Token {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A non-loopback address without a token.
    #[error("--api {address} listens beyond this machine, so the endpoint needs a token; fix: pass --api-token-file FILE (the token on its first line), or listen on 127.0.0.1")]
    NoToken {
        /// The address.
        address: SocketAddr,
    },
    /// The endpoint's thread could not start.
    #[error("cannot start the thread of the --api endpoint: {0}; fix: raise the limit on threads (ulimit -u)")]
    Thread(std::io::Error),
}

/// Where the endpoint listens and who may ask it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The address.
    pub address: SocketAddr,
    /// The token every request must carry (`Authorization: Bearer
    /// TOKEN`), if any.
    pub token: Option<String>,
}

impl Endpoint {
    /// The endpoint on `address`, with the token kept in `token_file`
    /// (its first line), if any. Listening on an address other than
    /// loopback needs a token.
    ///
    /// # Errors
    /// A token file that cannot be read or is empty; a non-loopback
    /// address without one.
    pub fn new(address: SocketAddr, token_file: Option<&Path>) -> Result<Self, ApiError> {
        let token = token_file
            .map(|file| {
                let unreadable = |problem: String| ApiError::Token {
                    file: file.to_path_buf(),
                    problem,
                };
                let text = std::fs::read_to_string(file).map_err(|e| unreadable(e.to_string()))?;
                let token = text.lines().next().unwrap_or_default().trim().to_owned();
                if token.is_empty() {
                    return Err(unreadable(String::from("it is empty")));
                }
                Ok(token)
            })
            .transpose()?;
        if token.is_none() && !address.ip().is_loopback() {
            return Err(ApiError::NoToken { address });
        }
        Ok(Self { address, token })
    }

    /// Whether `request` carries the token, when one is needed.
    fn admits<B>(&self, request: &Request<B>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|given| same_secret(given.trim().as_bytes(), token.as_bytes()))
    }
}

/// Whether two secrets are equal, in a time that does not depend on where
/// they first differ.
fn same_secret(given: &[u8], token: &[u8]) -> bool {
    given.len() == token.len()
        && given
            .iter()
            .zip(token)
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
}

/// Listens on `endpoint` and serves `observer`'s metrics, health and
/// status there, and with `control` the control API, on a thread of its
/// own, for as long as the process runs; returns the address it listens
/// on (with the port chosen, for port 0).
///
/// # Errors
/// When it cannot listen on the address, or start its thread.
pub fn serve(
    endpoint: Endpoint,
    observer: Observer,
    control: Option<Control>,
) -> Result<SocketAddr, ApiError> {
    let address = endpoint.address;
    let bind = |error| ApiError::Bind { address, error };
    let listener = TcpListener::bind(address).map_err(bind)?;
    let bound = listener.local_addr().map_err(bind)?;
    let listener = Async::new(listener).map_err(bind)?;
    let served = Arc::new(Served {
        endpoint,
        observer,
        control,
    });
    std::thread::Builder::new()
        .name(String::from("pdk-api"))
        .spawn(move || {
            let executor = Arc::new(Executor::new());
            async_io::block_on(executor.run(accept(listener, served, Arc::clone(&executor))));
        })
        .map_err(ApiError::Thread)?;
    Ok(bound)
}

/// What the endpoint serves, and to whom.
struct Served {
    endpoint: Endpoint,
    observer: Observer,
    control: Option<Control>,
}

/// Accepts connections and serves each, at most [`MAX_CONNECTIONS`] at
/// once.
async fn accept(listener: Async<TcpListener>, served: Arc<Served>, executor: Arc<Executor<'_>>) {
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
        let served = Arc::clone(&served);
        executor
            .spawn(async move {
                let service = service_fn(move |request| {
                    let served = Arc::clone(&served);
                    async move { Ok::<_, std::convert::Infallible>(served.answer(request).await) }
                });
                let result = http1::Builder::new()
                    .timer(SmolTimer::new())
                    .header_read_timeout(HEAD_TIMEOUT)
                    .serve_connection(FuturesIo::new(stream), service)
                    .await;
                if let Err(error) = result {
                    log::debug!("--api endpoint: a connection ended: {error}");
                }
                drop(permit);
            })
            .detach();
    }
}

/// The largest flow file a `PUT` may carry.
const MAX_BODY: usize = 1 << 20;

/// How long a client may take to send a request's body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

impl Served {
    /// The answer to `request`.
    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        if !self.endpoint.admits(&request) {
            let mut response = text(
                StatusCode::UNAUTHORIZED,
                "this endpoint needs its token: send `Authorization: Bearer TOKEN` (the \
                 first line of the runtime's --api-token-file)\n"
                    .to_owned(),
            );
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
        let path = request.uri().path().to_owned();
        if path == "/flows" || path.starts_with("/flows/") || path == "/reload" {
            return self.control(request, &path).await;
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET and HEAD are served here\n".to_owned(),
            );
        }
        let observer = &self.observer;
        match path.as_str() {
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
            "/status" => json(StatusCode::OK, &observer.status()),
            other => text(
                StatusCode::NOT_FOUND,
                format!(
                    "no `{other}` here; this endpoint serves {}\n",
                    if self.control.is_some() {
                        "/metrics, /health, /status, /flows and /reload"
                    } else {
                        "/metrics, /health and /status"
                    }
                ),
            ),
        }
    }

    /// The control API: `/flows`, `/flows/NAME`, its actions, `/reload`.
    async fn control(&self, request: Request<Incoming>, path: &str) -> Response<Full<Bytes>> {
        let Some(control) = &self.control else {
            return text(
                StatusCode::NOT_FOUND,
                format!("no `{path}` here: the control API is served by `pdk-runtime serve`\n"),
            );
        };
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let method = request.method().clone();
        let steer = |flow: &str, connector: Option<&str>, action: &str| {
            Action::named(action).map(|action| ControlRequest::Steer {
                flow: flow.to_owned(),
                connector: connector.map(str::to_owned),
                action,
            })
        };
        let asked = match (&method, parts.as_slice()) {
            (&Method::GET, ["flows"]) => {
                return json(StatusCode::OK, &self.observer.status().flows)
            }
            (&Method::GET, ["flows", name]) => {
                return match self
                    .observer
                    .status()
                    .flows
                    .into_iter()
                    .find(|f| f.name == *name)
                {
                    Some(flow) => json(StatusCode::OK, &flow),
                    None => text(StatusCode::NOT_FOUND, format!("no flow `{name}`\n")),
                };
            }
            (&Method::PUT, ["flows", name]) => {
                if !is_flow_name(name) {
                    return text(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "`{name}` cannot name a flow: use letters, digits, `-`, `_` and `.`\n"
                        ),
                    );
                }
                let name = (*name).to_owned();
                match read_body(request).await {
                    Ok(text) => Some(ControlRequest::Put { name, text }),
                    Err(answer) => return answer,
                }
            }
            (&Method::DELETE, ["flows", name]) => Some(ControlRequest::Delete {
                name: (*name).to_owned(),
            }),
            (&Method::POST, ["flows", name, action]) => steer(name, None, action),
            (&Method::POST, ["flows", name, "connectors", id, action]) => {
                steer(name, Some(id), action)
            }
            (&Method::POST, ["reload"]) => Some(ControlRequest::Reload),
            _ => None,
        };
        let Some(asked) = asked else {
            return text(
                StatusCode::NOT_FOUND,
                format!(
                    "no `{method} {path}` here; the control API has GET /flows, GET|PUT|DELETE \
                     /flows/NAME, POST /flows/NAME/(pause|resume|restart), POST \
                     /flows/NAME/connectors/ID/(pause|resume|restart) and POST /reload\n"
                ),
            );
        };
        let answer = control.ask(asked).await;
        let response = text(answer.status, answer.body);
        if answer.json {
            with_type(response, "application/json")
        } else {
            response
        }
    }
}

/// The body of `request`, as UTF-8 text of at most [`MAX_BODY`] bytes,
/// read within [`BODY_TIMEOUT`]; or the answer that says why not.
async fn read_body(request: Request<Incoming>) -> Result<String, Response<Full<Bytes>>> {
    let read = Limited::new(request.into_body(), MAX_BODY).collect();
    let timeout = async {
        async_io::Timer::after(BODY_TIMEOUT).await;
    };
    let collected =
        match futures::future::select(std::pin::pin!(read), std::pin::pin!(timeout)).await {
            futures::future::Either::Left((collected, _)) => collected,
            futures::future::Either::Right(_) => {
                return Err(text(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the body did not arrive within {} s\n",
                        BODY_TIMEOUT.as_secs()
                    ),
                ))
            }
        };
    let bytes = collected
        .map_err(|error| {
            text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the body cannot be read ({error}); a flow file is at most {MAX_BODY} bytes\n"
                ),
            )
        })?
        .to_bytes();
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        text(
            StatusCode::BAD_REQUEST,
            "the body is not UTF-8 text; send the flow file as TOML\n".to_owned(),
        )
    })
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_string_pretty(value) {
        Ok(json) => with_type(text(status, json + "\n"), "application/json"),
        Err(error) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot serialize the answer: {error}\n"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_loopback_address_needs_a_token() {
        let error = Endpoint::new(SocketAddr::from(([0, 0, 0, 0], 9898)), None).unwrap_err();
        assert!(error.to_string().contains("--api-token-file"), "{error}");
        assert!(Endpoint::new(SocketAddr::from(([127, 0, 0, 1], 9898)), None).is_ok());
    }

    #[test]
    fn only_the_same_secret_is_the_same() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cres", b"s3cret"));
        assert!(!same_secret(b"s3cre", b"s3cret"));
    }
}
