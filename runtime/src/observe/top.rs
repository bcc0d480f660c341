//! `pdk-runtime top`: reads a running runtime's `/status` and shows its
//! connectors, refreshing in place, or one snapshot for scripts.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use futures::future::{select, Either};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::{Request, StatusCode};
use smol_hyper::rt::FuturesIo;

use super::status::Status;

/// How long a status may take to arrive.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Why the status could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read the status from http://{address}/status: {problem}; fix: start the runtime \
     with `--api {address}`, or pass `--api` where it listens (its log says where)"
)]
pub struct Unreachable {
    /// Where it was asked.
    pub address: SocketAddr,
    /// What went wrong.
    pub problem: String,
}

/// Reads the status of the runtime whose endpoint listens on `address`.
///
/// # Errors
/// When nothing answers there within 5 s, or the answer is not a status.
pub fn fetch(address: SocketAddr, token: Option<&str>) -> Result<Status, Unreachable> {
    let unreachable = |problem: String| Unreachable { address, problem };
    let body = async_io::block_on(async {
        match select(
            pin!(get_status(address, token)),
            Timer::after(ANSWER_WITHIN),
        )
        .await
        {
            Either::Left((body, _)) => body,
            Either::Right(_) => Err(format!("no answer within {} s", ANSWER_WITHIN.as_secs())),
        }
    })
    .map_err(unreachable)?;
    serde_json::from_slice(&body).map_err(|e| unreachable(format!("not a status ({e})")))
}

/// `GET /status` from `address`: the body of a `200` answer.
async fn get_status(address: SocketAddr, token: Option<&str>) -> Result<Bytes, String> {
    let stream = Async::<std::net::TcpStream>::connect(address)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = http1::handshake(FuturesIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let mut request = Request::get("/status").header(hyper::header::HOST, address.to_string());
    if let Some(token) = token {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let answer = async move {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != StatusCode::OK {
            return Err(format!("answered {}", response.status()));
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(body.to_bytes())
    };
    match select(pin!(answer), connection).await {
        Either::Left((body, _)) => body,
        Either::Right((ended, _)) => Err(match ended {
            Ok(()) => String::from("the connection closed before the answer"),
            Err(error) => error.to_string(),
        }),
    }
}

/// What one connector had counted when it was last shown.
#[derive(Debug, Clone, Copy)]
struct Seen {
    events_in: u64,
    events_out: u64,
    at: Instant,
}

/// Rates between two looks at the same runtime.
#[derive(Debug, Default)]
pub struct Rates {
    seen: HashMap<(String, String), Seen>,
}

impl Rates {
    /// The table of `status`'s connectors, with events per second since
    /// the previous table (none for the first).
    pub fn table(&mut self, status: &Status) -> String {
        let now = Instant::now();
        let mut table = format!(
            "{:<16} {:<16} {:<14} {:<13} {:>10} {:>10} {:>9} {:>9} {:>6} {:>8} {:>8}\n",
            "FLOW",
            "CONNECTOR",
            "TYPE",
            "STATE",
            "IN/S",
            "OUT/S",
            "FAILS",
            "IN FLIGHT",
            "QUEUE",
            "RESTARTS",
            "PID"
        );
        for flow in &status.flows {
            for connector in &flow.connectors {
                let key = (flow.name.clone(), connector.id.clone());
                let counts = connector.counts;
                let rate = |now_count: u64, then: Option<(u64, Instant)>| {
                    then.map_or_else(
                        || String::from("-"),
                        |(then_count, at)| {
                            let seconds = now.duration_since(at).as_secs_f64().max(1e-3);
                            #[allow(clippy::cast_precision_loss)] // A rate shown to one decimal.
                            let per_second = now_count.saturating_sub(then_count) as f64 / seconds;
                            format!("{per_second:.1}")
                        },
                    )
                };
                let seen = self.seen.get(&key).copied();
                let _ = writeln!(
                    table,
                    "{:<16} {:<16} {:<14} {:<13} {:>10} {:>10} {:>9} {:>9} {:>6} {:>8} {:>8}",
                    flow.name,
                    connector.id,
                    connector.kind,
                    connector.state.name(),
                    rate(counts.events_in, seen.map(|s| (s.events_in, s.at))),
                    rate(counts.events_out, seen.map(|s| (s.events_out, s.at))),
                    counts.fails,
                    counts.in_flight,
                    connector.queue_depth,
                    counts.reconnects,
                    // An isolated connector's process; `-` in the runtime's.
                    connector
                        .pid
                        .map_or_else(|| String::from("-"), |pid| pid.to_string()),
                );
                self.seen.insert(
                    key,
                    Seen {
                        events_in: counts.events_in,
                        events_out: counts.events_out,
                        at: now,
                    },
                );
            }
        }
        table
    }
}
