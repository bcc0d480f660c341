//! `http_client`: sends one HTTP request per event to `url` (reqwest, on
//! the plugin's tokio runtime), up to `max_in_flight` at a time. The
//! event is the request's body: a string as text, bytes as they are,
//! anything else as JSON. The event is acknowledged when the server
//! answers with a status below 500, and failed on a `5xx`, a timeout or a
//! connection error, so that a transactional source can send it again.
//!
//! When the flow links its source side, every response becomes an event
//! `{"status": 200, "headers": {...}, "body": ...}` (the body decoded by
//! the flow's codec, kept as a string or bytes if the codec cannot decode
//! it), on the stream of the event it answers: linked back to an
//! `http_server`, it answers that server's request. The source side
//! finishes once every connector sending to the sink side has finished
//! and every request is answered, so that the flow ends.
//!
//! Plain `http://` only: this build includes no TLS.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pdk::payload::{self, PdkValue};
use pdk::prelude::*;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, Url};
use tokio::sync::{mpsc, Notify, Semaphore};

/// Responses that may wait for the source side.
const RESPONSES_CAPACITY: usize = 256;

/// The `config` table of an `http_client` connector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where requests go: `http://HOST:PORT/PATH`, or `HOST:PORT`.
    pub url: String,
    /// The request method. Default: `POST`.
    #[serde(default = "default_method")]
    pub method: String,
    /// How long one request may take, in milliseconds. Default: 30 000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Requests under way at once, at most. Default: 64.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// The largest response body read, in bytes; a larger response fails
    /// its event. Default: 1 MiB.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
}

fn default_method() -> String {
    String::from("POST")
}

fn default_timeout_ms() -> u64 {
    30_000
}

fn default_max_in_flight() -> usize {
    64
}

fn default_max_body_bytes() -> usize {
    1024 * 1024
}

/// `url` as a request URL; `HOST:PORT` means `http://HOST:PORT/`.
fn target_url(url: &str) -> Result<Url> {
    let full = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let invalid = |problem: String| {
        Error::config(format!(
            "field `url`: `{url}` {problem}; write http://HOST:PORT/PATH, e.g. \
             \"http://127.0.0.1:8080/ingest\""
        ))
    };
    let parsed = Url::parse(&full).map_err(|e| invalid(format!("is not a URL ({e})")))?;
    match parsed.scheme() {
        "http" if parsed.host().is_some() => Ok(parsed),
        "http" => Err(invalid(String::from("has no host"))),
        "https" => Err(invalid(String::from(
            "uses https, and this build of `http_client` includes no TLS",
        ))),
        other => Err(invalid(format!("uses `{other}`, not http"))),
    }
}

/// A response on its way to the source side.
struct Answer {
    /// The stream of the event it answers.
    stream: u64,
    status: u16,
    /// In the C-ABI form, as the event is built.
    headers: PdkValue,
    body: Vec<u8>,
}

/// An HTTP client whose responses are events.
#[connector(name = "http_client")]
pub struct HttpClient {
    url: Url,
    method: Method,
    client: reqwest::Client,
    max_body_bytes: usize,
    in_flight: Arc<Semaphore>,
    answers: mpsc::Receiver<Answer>,
    answers_tx: mpsc::Sender<Answer>,
    /// Requests whose answer is not queued for the source side yet.
    unanswered: Arc<Unanswered>,
    /// No more events will reach the sink side.
    upstream_finished: bool,
}

/// Counts requests whose answer is not queued yet, and says when there
/// are none left.
#[derive(Default)]
struct Unanswered {
    count: AtomicUsize,
    none_left: Notify,
}

impl Unanswered {
    fn add(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
    }

    /// One request is answered (its answer queued first, if any).
    fn answered(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.none_left.notify_one();
        }
    }

    fn none(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }
}

impl Connector for HttpClient {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        let method = Method::from_bytes(config.method.as_bytes()).map_err(|_| {
            Error::config(format!(
                "field `method`: `{}` is not an HTTP method; write e.g. \"POST\" or \"PUT\"",
                config.method
            ))
        })?;
        if config.max_in_flight == 0 {
            return Err(Error::config("field `max_in_flight`: must be at least 1"));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))?;
        let (answers_tx, answers) = mpsc::channel(RESPONSES_CAPACITY);
        Ok(Self {
            url: target_url(&config.url)?,
            method,
            client,
            max_body_bytes: config.max_body_bytes,
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            answers,
            answers_tx,
            unanswered: Arc::default(),
            upstream_finished: false,
        })
    }
}

/// The body and content type of a request carrying `data`.
fn request_body(data: &Value) -> (Vec<u8>, Option<&'static str>) {
    let content_type = if data.is_null() {
        None
    } else if data.as_bytes().is_some() {
        Some("application/octet-stream")
    } else if data.as_str().is_some() {
        Some("text/plain; charset=utf-8")
    } else {
        Some("application/json")
    };
    let body = if data.is_null() {
        Vec::new()
    } else {
        data.to_payload()
    };
    (body, content_type)
}

/// `headers` as a value in the C-ABI form: an object from each
/// (lowercase) name to its value, or to the list of its values when the
/// name is repeated.
fn headers_value(headers: &HeaderMap) -> PdkValue {
    payload::headers(
        headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
    )
}

/// Sends `request` and reads the whole response, up to `max_body_bytes`.
async fn exchange(
    client: &reqwest::Client,
    request: reqwest::Request,
    max_body_bytes: usize,
) -> Result<(u16, PdkValue, Vec<u8>)> {
    let mut response = client
        .execute(request)
        .await
        .map_err(|e| Error::msg(without_url(&e)))?;
    let status = response.status().as_u16();
    let headers = headers_value(response.headers());
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Error::msg(without_url(&e)))?
    {
        if body.len() + chunk.len() > max_body_bytes {
            return Err(Error::msg(format!(
                "the response body is larger than max_body_bytes = {max_body_bytes}"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body))
}

/// A reqwest error's message, without the URL (the log line names it).
fn without_url(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    if let Some(url) = error.url() {
        message = message.replace(&format!(" ({url})"), "");
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}

impl Sink for HttpClient {
    async fn on_event(&mut self, event: Event, ctx: &ConnectorContext) -> Result<SinkReply> {
        // Waits while `max_in_flight` requests are under way.
        let permit = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .map_err(|e| Error::msg(format!("no more requests can be sent: {e}")))?;
        let (body, content_type) = request_body(event.data());
        let mut request = reqwest::Request::new(self.method.clone(), self.url.clone());
        if let Some(content_type) = content_type {
            request
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        *request.body_mut() = Some(body.into());
        let client = self.client.clone();
        let replies = ctx.replies();
        let answers = ctx.source_linked().then(|| self.answers_tx.clone());
        let (id, max_body_bytes) = (event.id, self.max_body_bytes);
        let target = format!("{} {}", self.method, self.url);
        let unanswered = Arc::clone(&self.unanswered);
        unanswered.add();
        pdk::task::spawn(async move {
            let exchanged = exchange(&client, request, max_body_bytes).await;
            // The request is no longer under way: its permit goes back
            // before its response waits for room among the responses,
            // which only the source side makes (holding it, a sink side
            // waiting for a permit would wait for the source side).
            drop(permit);
            match exchanged {
                Ok((status, headers, body)) => {
                    if let Some(answers) = answers {
                        let answer = Answer {
                            stream: id.stream,
                            status,
                            headers,
                            body,
                        };
                        // The connector stopped: nobody takes responses.
                        let _ = answers.send(answer).await;
                    }
                    if status < 500 {
                        replies.ack(id);
                    } else {
                        pdk::log::warn!("{target}: the server answered {status}");
                        replies.fail(id);
                    }
                }
                Err(error) => {
                    pdk::log::warn!("{target}: {}", error.message());
                    replies.fail(id);
                }
            }
            unanswered.answered();
        });
        Ok(SinkReply::Deferred)
    }

    async fn on_upstream_finished(&mut self, _ctx: &ConnectorContext) -> Result<()> {
        self.upstream_finished = true;
        Ok(())
    }
}

impl Source for HttpClient {
    async fn pull_data(&mut self, _pull_id: u64, ctx: &ConnectorContext) -> Result<SourceReply> {
        // Cancel-safe: an answer is either received and handled below
        // without awaiting, or left in the channel; a wake-up is kept by
        // `Notify` until it is taken.
        let answer = loop {
            if let Ok(answer) = self.answers.try_recv() {
                break answer;
            }
            if self.upstream_finished && self.unanswered.none() {
                // Every answer is queued before its request counts as
                // answered: one may have arrived since the first look.
                match self.answers.try_recv() {
                    Ok(answer) => break answer,
                    Err(_) => return Ok(SourceReply::Finished),
                }
            }
            tokio::select! {
                answer = self.answers.recv() => match answer {
                    Some(answer) => break answer,
                    None => return Ok(SourceReply::Finished),
                },
                () = self.unanswered.none_left.notified(), if self.upstream_finished => {}
            }
        };
        // Built in the C-ABI form around the body as the runtime decoded
        // it: the event leaves the plugin with no conversion.
        let body = if answer.body.is_empty() {
            payload::NULL
        } else {
            ctx.decode_payload(answer.body.clone())
                .unwrap_or_else(|error| {
                    pdk::log::debug!(
                        "a response body is kept as it is: the codec cannot decode it: {}",
                        error.message()
                    );
                    match String::from_utf8(answer.body) {
                        Ok(text) => PdkValue::String(text.into()),
                        Err(e) => PdkValue::Bytes(e.into_bytes().into()),
                    }
                })
        };
        let event = payload::object([
            ("status", payload::unsigned(u64::from(answer.status))),
            ("headers", answer.headers),
            ("body", body),
        ]);
        Ok(SourceReply::Payload {
            data: event,
            stream: answer.stream,
        })
    }
}

#[pdk_export]
mod plugin {
    pub use super::HttpClient;
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    use pdk::testing::{block_on, Harness, Report};

    use super::*;

    /// A real HTTP server on 127.0.0.1 that answers one request with
    /// `status` and `body`; joins with the request it got (head and body).
    fn serve_once(status: &'static str, body: &'static str) -> (String, JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
                request.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut content = vec![0; length];
            reader.read_exact(&mut content).unwrap();
            request.push_str(&String::from_utf8(content).unwrap());
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            (&stream).write_all(response.as_bytes()).unwrap();
            request
        });
        (address, server)
    }

    fn client_of(address: &str) -> Harness<HttpClient> {
        let mut config = Value::object();
        config.insert("url", format!("http://{address}/in"));
        Harness::new(config).unwrap()
    }

    #[test]
    fn posts_each_event_and_emits_the_response_once_it_is_answered() {
        let (address, server) = serve_once("200 OK", r#"{"ok":true}"#);
        block_on(async {
            let mut client = client_of(&address);
            let mut event = Value::object();
            event.insert("a", 1_u64);
            assert_eq!(client.send(event).await, Ok(SinkReply::Deferred));
            let id = client.last_event_id().unwrap();
            assert_eq!(client.next_report().await, Some(Report::Ack(id)));

            let SourceReply::Data { data, stream } = client.pull().await.unwrap() else {
                panic!("expected the response");
            };
            assert_eq!(stream, id.stream);
            assert_eq!(data.get("status").and_then(Value::as_u64), Some(200));
            assert_eq!(
                data.get("body").and_then(|body| body.get("ok")),
                Some(&Value::from(true))
            );
        });
        let request = server.join().unwrap();
        assert!(request.starts_with("POST /in HTTP/1.1\r\n"), "{request}");
        assert!(request.ends_with("\r\n\r\n{\"a\":1}"), "{request}");
    }

    #[test]
    fn a_server_error_fails_the_event_back() {
        let (address, server) = serve_once("503 Service Unavailable", "{}");
        block_on(async {
            let mut client = client_of(&address);
            assert_eq!(client.send("x").await, Ok(SinkReply::Deferred));
            let id = client.last_event_id().unwrap();
            assert_eq!(client.next_report().await, Some(Report::Fail(id)));
            let warned = client.logs().into_iter().any(|line| {
                line.level == pdk::log::Level::Warn
                    && line.message.ends_with("the server answered 503")
            });
            assert!(warned, "the failure is logged with its status");
        });
        server.join().unwrap();
    }

    #[test]
    fn urls_without_a_scheme_are_http_and_others_are_refused_with_the_fix() {
        assert_eq!(
            target_url("127.0.0.1:8080").unwrap().as_str(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            target_url("http://localhost:1/in").unwrap().as_str(),
            "http://localhost:1/in"
        );
        let https = target_url("https://example.com").unwrap_err();
        assert!(https.message().contains("includes no TLS"), "{https}");
        let garbage = target_url("http://").unwrap_err();
        assert!(
            garbage.message().starts_with("field `url`: `http://`"),
            "{garbage}"
        );
    }

    #[test]
    fn the_body_keeps_strings_and_bytes_and_sends_the_rest_as_json() {
        assert_eq!(
            request_body(&Value::from("hi")),
            (b"hi".to_vec(), Some("text/plain; charset=utf-8"))
        );
        assert_eq!(
            request_body(&Value::from(vec![1u8])),
            (vec![1], Some("application/octet-stream"))
        );
        let mut object = Value::object();
        object.insert("a", 1u64);
        assert_eq!(
            request_body(&object),
            (br#"{"a":1}"#.to_vec(), Some("application/json"))
        );
        assert_eq!(request_body(&Value::NULL), (Vec::new(), None));
    }
}
