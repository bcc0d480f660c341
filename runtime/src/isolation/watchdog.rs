//! The isolated process's own watchdog: a thread that sees how long the
//! current poll of the connector has been running. Past a second it tells
//! the runtime (which names the connector and the method in its log);
//! past `limits.unresponsive_ms` the process ends itself, which the
//! runtime takes as a crash of the connector: a blocked or deadlocked
//! connector is restarted instead of holding its events for ever.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::child::{send, Writer};
use super::protocol::ToParent;

/// The exit status of a process that ended itself because its connector
/// blocked past its bound (`EX_TEMPFAIL`).
pub const UNRESPONSIVE_STATUS: i32 = 75;

/// How long a poll runs before the runtime is told.
const REPORT_AFTER: Duration = Duration::from_secs(1);

/// How often the watchdog looks.
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// What the connector's thread is doing: since when (milliseconds since
/// the process started, plus one; zero between polls) and in which method.
#[derive(Default)]
pub struct Busy {
    since: AtomicU64,
    method: Mutex<&'static str>,
}

/// Milliseconds since the first call, plus one (never zero).
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

/// Runs `future` (a call of `method`), marking each of its polls in
/// `busy`.
pub async fn watched<F: Future>(busy: &Busy, method: &'static str, future: F) -> F::Output {
    let mut future = pin!(future);
    poll_fn(|cx| {
        *busy.method.lock().unwrap_or_else(PoisonError::into_inner) = method;
        busy.since.store(now_ms(), Ordering::Release);
        let polled = future.as_mut().poll(cx);
        busy.since.store(0, Ordering::Release);
        polled
    })
    .await
}

/// Starts the watchdog thread over `busy`, reporting through `writer`;
/// past `limit` in one poll the process ends.
pub fn start(busy: Arc<Busy>, writer: Writer, limit: Duration) {
    std::thread::spawn(move || {
        let mut reported = 0;
        loop {
            std::thread::sleep(LOOK_EVERY);
            let since = busy.since.load(Ordering::Acquire);
            if since == 0 {
                continue;
            }
            let blocked = Duration::from_millis(now_ms().saturating_sub(since));
            let method = *busy.method.lock().unwrap_or_else(PoisonError::into_inner);
            let ms = u64::try_from(blocked.as_millis()).unwrap_or(u64::MAX);
            if blocked >= limit {
                send(
                    &writer,
                    &ToParent::Blocked {
                        method: method.to_owned(),
                        ms,
                        ending: true,
                    },
                );
                // Time for the writer to send it.
                std::thread::sleep(Duration::from_millis(200));
                std::process::exit(UNRESPONSIVE_STATUS);
            }
            if blocked >= REPORT_AFTER && reported != since {
                reported = since;
                send(
                    &writer,
                    &ToParent::Blocked {
                        method: method.to_owned(),
                        ms,
                        ending: false,
                    },
                );
            }
        }
    });
}
