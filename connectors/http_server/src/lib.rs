//! `http_server`: serves HTTP/1.1 on `url` (hyper, on the plugin's tokio
//! runtime). Each request becomes one event on a stream of its own:
//!
//! ```json
//! {"method": "POST", "path": "/orders", "query": "dry=1", "headers": {"content-type": "application/json"}, "body": {"id": 7}}
//! ```
//!
//! with the body decoded by the flow's codec (`null` when empty). The
//! sink side answers the request whose stream an event carries (see
//! [`message::response_for`] for how an event becomes a response): link
//! the connector to itself for an echo server, or through other
//! connectors for a request/response service. A request whose event
//! fails is answered `500`; one that gets no answer within `timeout_ms`
//! is answered `504`; a body larger than `max_body_bytes` gets `413`, and
//! one the codec cannot decode gets `400`.
//!
//! No client can harm the others (see [`serve`] and [`Config`]): at most
//! `max_connections` connections, a new one closing the connection that
//! has waited longest without sending a whole request; a request head
//! must arrive within `header_timeout_ms` and be at most
//! `max_header_bytes`, its body within `body_timeout_ms` (else `408`); an
//! idle connection is closed after `idle_timeout_ms`; and the bodies all
//! connections are receiving hold at most `max_buffered_bytes` beyond
//! [`serve::FREE_BODY_BYTES`] each (a request beyond that gets `503`).
//! With the defaults, the memory all connections hold is bounded by
//! `max_connections * (max_header_bytes + FREE_BODY_BYTES) +
//! max_buffered_bytes`: 104 MiB.

mod message;
mod serve;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::StatusCode;
use pdk::prelude::*;
use rustc_hash::FxHashMap;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use message::{plain, request_event, response_for, HttpResponse};
use pdk::net::{ByteBudget, Connections, Tally};
use serve::{serve, Limits, Request, Shared};

/// Requests that may wait for the source side.
const REQUESTS_CAPACITY: usize = 256;

/// The `config` table of an `http_server` connector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The address to listen on, `IP:PORT` or `HOST:PORT`, e.g.
    /// `"127.0.0.1:8080"`.
    pub url: String,
    /// The largest request body accepted, in bytes; a larger one is
    /// answered `413`. Default: 1 MiB.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// How long a request waits for its answer, in milliseconds, before
    /// it is answered `504`. Default: 30 000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The most connections open at once. A new one beyond it closes the
    /// connection that has waited longest without sending a whole request;
    /// if every connection has a request in the flow, the new one is
    /// answered `503` and closed. Default: 512.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// The largest request head (request line and headers), in bytes; at
    /// least 8192. Default: 65 536.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// How long a request head may take to arrive from its first byte, in
    /// milliseconds; a slower client is closed. Default: 10 000.
    #[serde(default = "default_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// How long a body may take to arrive after its head, in
    /// milliseconds; a slower one is answered `408` and its connection
    /// closed. Default: 30 000.
    #[serde(default = "default_body_timeout_ms")]
    pub body_timeout_ms: u64,
    /// How long a connection may stay open without a request, in
    /// milliseconds. Default: 60 000.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// The body bytes all connections may hold together while they are
    /// received (beyond 16 KiB each, which small requests always get); a
    /// request that does not fit is answered `503`. Default: 64 MiB.
    #[serde(default = "default_max_buffered_bytes")]
    pub max_buffered_bytes: usize,
}

fn default_max_body_bytes() -> usize {
    1024 * 1024
}

fn default_timeout_ms() -> u64 {
    30_000
}

fn default_max_connections() -> usize {
    512
}

fn default_max_header_bytes() -> usize {
    64 * 1024
}

fn default_header_timeout_ms() -> u64 {
    10_000
}

fn default_body_timeout_ms() -> u64 {
    30_000
}

fn default_idle_timeout_ms() -> u64 {
    60_000
}

fn default_max_buffered_bytes() -> usize {
    64 * 1024 * 1024
}

/// The smallest request head hyper can be limited to.
const MIN_HEADER_BYTES: usize = 8192;

/// `url` as the address to listen on.
fn listen_address(url: &str) -> Result<SocketAddr> {
    let invalid = |problem: String| {
        Error::config(format!(
            "field `url`: `{url}` is not an address to listen on ({problem}); \
             write IP:PORT or HOST:PORT, e.g. \"127.0.0.1:8080\""
        ))
    };
    url.to_socket_addrs()
        .map_err(|e| invalid(e.to_string()))?
        .next()
        .ok_or_else(|| invalid(String::from("it resolves to no address")))
}

/// The server while it runs.
struct Serving {
    requests: mpsc::Receiver<Request>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// An HTTP server whose requests are events.
#[connector(name = "http_server")]
pub struct HttpServer {
    address: SocketAddr,
    limits: Limits,
    max_connections: usize,
    max_buffered_bytes: usize,
    serving: Option<Serving>,
    /// Requests waiting for their answer, by stream (numbered by this
    /// connector: a fast hasher is safe).
    waiting: FxHashMap<u64, oneshot::Sender<HttpResponse>>,
    /// `waiting` is swept of requests nobody waits for any more (they
    /// timed out) when it grows beyond this.
    sweep_at: usize,
}

impl HttpServer {
    /// Answers the request of `stream`, if it still waits; `false` if it
    /// does not.
    fn answer(&mut self, stream: u64, response: HttpResponse) -> bool {
        self.waiting
            .remove(&stream)
            .is_some_and(|respond| respond.send(response).is_ok())
    }

    /// Keeps a request's responder until its event is answered.
    fn wait_for_answer(&mut self, stream: u64, respond: oneshot::Sender<HttpResponse>) {
        if self.waiting.len() >= self.sweep_at {
            self.waiting.retain(|_, respond| !respond.is_closed());
            self.sweep_at = (self.waiting.len() * 2).max(64);
        }
        self.waiting.insert(stream, respond);
    }
}

impl Connector for HttpServer {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        if config.max_header_bytes < MIN_HEADER_BYTES {
            return Err(Error::config(format!(
                "field `max_header_bytes`: {} is below the least a request head may be limited \
                 to, {MIN_HEADER_BYTES}",
                config.max_header_bytes
            )));
        }
        if config.max_connections == 0 {
            return Err(Error::config("field `max_connections`: must be at least 1"));
        }
        Ok(Self {
            address: listen_address(&config.url)?,
            limits: Limits {
                max_body_bytes: config.max_body_bytes,
                max_header_bytes: config.max_header_bytes,
                header_timeout: Duration::from_millis(config.header_timeout_ms),
                body_timeout: Duration::from_millis(config.body_timeout_ms),
                idle_timeout: Duration::from_millis(config.idle_timeout_ms),
                response_timeout: Duration::from_millis(config.timeout_ms),
            },
            max_connections: config.max_connections,
            max_buffered_bytes: config.max_buffered_bytes,
            serving: None,
            waiting: FxHashMap::default(),
            sweep_at: 64,
        })
    }

    async fn connect(&mut self, _ctx: &ConnectorContext, _attempt: &Attempt) -> Result<bool> {
        if self.serving.is_some() {
            return Ok(true);
        }
        let listener = TcpListener::bind(self.address)
            .await
            .map_err(|e| Error::cannot_listen(self.address, &e))?;
        pdk::log::info!("listening on http://{}", listener.local_addr()?);
        let (requests, receiver) = mpsc::channel(REQUESTS_CAPACITY);
        let shared = Arc::new(Shared {
            requests,
            next_stream: AtomicU64::new(1),
            limits: self.limits,
            connections: Connections::new(self.max_connections),
            budget: ByteBudget::new(self.max_buffered_bytes),
            over_budget: Mutex::new(Tally::every(Duration::from_secs(10))),
        });
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, shared, stop.clone()));
        self.serving = Some(Serving {
            requests: receiver,
            stop,
            task,
        });
        Ok(true)
    }

    async fn on_stop(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        let Some(mut serving) = self.serving.take() else {
            return Ok(());
        };
        serving.stop.cancel();
        // Requests not answered now get `503` from their connection.
        serving.requests.close();
        self.waiting.clear();
        let _ = serving.task.await;
        Ok(())
    }
}

impl Source for HttpServer {
    /// Failed events are answered `500` at once.
    const TRANSACTIONAL: bool = true;

    async fn pull_data(&mut self, _pull_id: u64, ctx: &ConnectorContext) -> Result<SourceReply> {
        loop {
            let Some(serving) = &mut self.serving else {
                return Ok(SourceReply::Finished);
            };
            // Cancel-safe: a request is either received and handled below
            // without awaiting, or left in the channel.
            let Some(request) = serving.requests.recv().await else {
                return Ok(SourceReply::Finished);
            };
            let body = if request.body.is_empty() {
                Ok(pdk::payload::NULL)
            } else {
                ctx.decode_payload(request.body.to_vec())
            };
            // The body is the event's now: the budget has it back.
            drop(request.held);
            let body = match body {
                Ok(body) => body,
                Err(error) => {
                    let answer = plain(
                        StatusCode::BAD_REQUEST,
                        format!("the body cannot be decoded: {}", error.message()),
                    );
                    let _ = request.respond.send(answer);
                    continue;
                }
            };
            let event = request_event(
                &request.method,
                &request.path,
                request.query.as_deref(),
                request.headers,
                body,
            );
            self.wait_for_answer(request.stream, request.respond);
            return Ok(SourceReply::Payload {
                data: event,
                stream: request.stream,
            });
        }
    }

    async fn fail(&mut self, stream: u64, _pull_id: u64, _ctx: &ConnectorContext) -> Result<()> {
        self.answer(
            stream,
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request's event failed in the flow",
            ),
        );
        Ok(())
    }
}

impl Sink for HttpServer {
    async fn on_event(&mut self, event: Event, _ctx: &ConnectorContext) -> Result<SinkReply> {
        let stream = event.id.stream;
        if !self.waiting.contains_key(&stream) {
            pdk::log::debug!("no request waits on stream {stream}; the event is failed");
            return Ok(SinkReply::Fail);
        }
        let response = response_for(event.payload());
        Ok(if self.answer(stream, response) {
            SinkReply::Ack
        } else {
            // The request timed out or its client went away meanwhile.
            SinkReply::Fail
        })
    }
}

#[pdk_export]
mod plugin {
    pub use super::HttpServer;
}

#[cfg(test)]
mod harness_tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use pdk::testing::{block_on, Harness};
    use pdk::{Event, EventId, SinkReply, SourceReply, Value};

    use super::HttpServer;

    #[test]
    fn a_request_becomes_an_event_and_the_event_of_its_stream_its_response() {
        block_on(async {
            let mut server = Harness::<HttpServer>::from_json(r#"{"url": "127.0.0.1:0"}"#).unwrap();
            assert_eq!(server.connect().await, Ok(true));
            let address = server
                .logged_after("listening on http://")
                .expect("the listening address is logged");

            let mut client = TcpStream::connect(&address).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let body = r#"{"id":7}"#;
            write!(
                client,
                "POST /orders?dry=1 HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();

            let SourceReply::Data { data, stream } = server.pull().await.unwrap() else {
                panic!("expected the request's event");
            };
            assert_eq!(data.get("method").and_then(Value::as_str), Some("POST"));
            assert_eq!(data.get("path").and_then(Value::as_str), Some("/orders"));
            assert_eq!(data.get("query").and_then(Value::as_str), Some("dry=1"));
            assert_eq!(
                data.get("body").and_then(|body| body.get("id")),
                Some(&Value::from(7_u64))
            );

            let mut answer = Value::object();
            answer.insert("status", 201_u64);
            answer.insert("body", "created");
            let reply = Event::new(
                EventId {
                    source: 0,
                    stream,
                    pull_id: 0,
                },
                0,
                answer,
            );
            assert_eq!(server.send_event(reply).await, Ok(SinkReply::Ack));
            let mut response = String::new();
            client.read_to_string(&mut response).unwrap();
            assert!(
                response.starts_with("HTTP/1.1 201 Created\r\n"),
                "{response}"
            );
            assert!(response.ends_with("\r\n\r\ncreated"), "{response}");
            server.stop().await.unwrap();
        });
    }
}
