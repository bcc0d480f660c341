//! `probe_sink`: a sink that can fail events, answer them later, and work
//! the circuit breaker.

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pdk::metrics::Counter;
use pdk::prelude::*;

use crate::trace::{before_future, maybe_panic, record};

/// The `config` of `probe_sink`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The trace file.
    pub trace: String,
    /// Fail every event whose arrival number is a multiple of this.
    #[serde(default)]
    pub fail_every: Option<u64>,
    /// Answer every event later, from a background task.
    #[serde(default)]
    pub defer: bool,
    /// Pause the sources after this many events, and resume them 50 ms later.
    #[serde(default)]
    pub pause_sources_after: Option<u64>,
    /// A method to panic in, once.
    #[serde(default)]
    pub panic_in: Option<String>,
    /// Defer the first this many events and never answer them, like a sink
    /// whose acknowledgements are lost with its connection.
    #[serde(default)]
    pub hold_first: u64,
    /// The arrival numbers (from 1) at which `on_event` returns an error.
    #[serde(default)]
    pub error_at: Vec<u64>,
    /// `on_event` returns an error from the first event on for this many
    /// milliseconds, like a sink whose disk is full for a while.
    #[serde(default)]
    pub error_for_ms: Option<u64>,
    /// At this arrival number, `on_event` returns an error and a task of
    /// the connection reports it lost 20 ms later (a stale report, once
    /// the runtime has reconnected); every connect is traced.
    #[serde(default)]
    pub lose_connection_at: Option<u64>,
    /// In `on_start`, close every socket of the process beyond the
    /// standard streams, as a plugin that closes descriptors it does not
    /// own does.
    #[serde(default)]
    pub close_sockets: bool,
    /// Panic in `on_event` (once) with a payload whose own `Drop` panics.
    #[serde(default)]
    pub panic_with_bad_payload: bool,
    /// Append every acknowledged event to this file, one JSON line each.
    #[serde(default)]
    pub output: Option<String>,
    /// Defer every event to one worker task, started at each connect,
    /// which acks it; with `panic_in = "worker"`, the first worker panics
    /// at its tenth event, holding the events queued to it.
    #[serde(default)]
    pub defer_to_worker: bool,
    /// Defer every event and answer them this many at a time, in the
    /// `on_event` that completes a batch (a partial batch 5 ms after it
    /// started, from a task); with `panic_in = "reply"`, the first full
    /// batch panics half way through its answers.
    #[serde(default)]
    pub batch: Option<usize>,
    /// Defer every event and answer them all in `on_drain` only, like a
    /// sink whose batch timer is far off.
    #[serde(default)]
    pub answer_on_drain: bool,
    /// Count every event it gets in a plugin counter of this name.
    #[serde(default)]
    pub counter: Option<String>,
    /// End the process natively in `on_event` at arrival number `at`, as
    /// `how` says (see [`crate::crash`]), once: the file `marker` records
    /// that it has.
    #[serde(default)]
    pub crash: Option<CrashAt>,
}

/// Where and how `probe_sink` (or `probe_source`) crashes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrashAt {
    /// How: `null_write`, `abort`, `exit`, `stack_overflow`, `allocate`,
    /// `block` (its thread, for an hour), `garbage` (on its sockets) or
    /// `close` (its sockets).
    pub how: String,
    /// The arrival (or pull) number.
    pub at: u64,
    /// A file that exists once it has crashed.
    pub marker: String,
}

/// Deferred events waiting to be answered together.
type Batch = Arc<Mutex<Vec<(EventId, String)>>>;

/// Empties `batch`, returning what it held.
fn take_batch(batch: &Batch) -> Vec<(EventId, String)> {
    std::mem::take(&mut *batch.lock().unwrap_or_else(PoisonError::into_inner))
}

/// After how many events the first worker panics.
const WORKER_PANICS_AT: u64 = 10;

/// Appends `value` to the file at `path` as one JSON line.
fn record_json_line(path: &str, value: &Value) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format!("{value}\n").as_bytes())?;
    Ok(())
}

/// Closes every socket descriptor of the process above 2.
pub(crate) fn close_sockets() {
    use std::os::fd::{FromRawFd, OwnedFd};
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let sockets: Vec<i32> = entries
        .flatten()
        .filter_map(|entry| {
            let fd: i32 = entry.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            (fd > 2 && target.to_string_lossy().starts_with("socket:")).then_some(fd)
        })
        .collect();
    for fd in sockets {
        // SAFETY: none; this is the misbehaviour under test: the runtime's
        // descriptors are closed behind its back. The descriptor is open
        // (just listed), so dropping the `OwnedFd` closes it once.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}

/// A panic payload that panics again when it is dropped.
struct PanicsWhenDropped;

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("the panic payload panics when dropped");
    }
}

/// Records every event it gets.
#[connector(name = "probe_sink")]
pub struct ProbeSink {
    config: Config,
    received: u64,
    /// When the first event arrived.
    first_event: Option<std::time::Instant>,
    /// Where deferred events go, with `defer_to_worker`.
    worker: Option<pdk::channel::Sender<(EventId, String)>>,
    /// Deferred events not answered yet, with `batch`.
    batched: Batch,
    /// The counter of `counter`.
    counter: Option<Counter>,
}

impl ProbeSink {
    fn hook(&mut self, ctx: &ConnectorContext, method: &str) {
        record(&self.config.trace, ctx.alias(), method);
        maybe_panic(&mut self.config.panic_in, method);
    }

    /// Starts the worker task that acks the events deferred to it.
    fn start_worker(&mut self, ctx: &ConnectorContext) {
        let panics_at = (self.config.panic_in.as_deref() == Some("worker")).then(|| {
            self.config.panic_in = None;
            WORKER_PANICS_AT
        });
        let (send, receive) = pdk::channel::unbounded::<(EventId, String)>();
        let (replies, trace, alias) = (
            ctx.replies(),
            self.config.trace.clone(),
            ctx.alias().to_owned(),
        );
        pdk::task::spawn(async move {
            let mut handled = 0;
            while let Ok((id, n)) = receive.recv().await {
                handled += 1;
                if panics_at == Some(handled) {
                    panic!("the worker gives up at event {n}");
                }
                record(&trace, &alias, &format!("event {n} ack"));
                replies.ack(id);
            }
        });
        self.worker = Some(send);
    }

    /// Answers every batched event (acks them), panicking half way if
    /// `panic_in = "reply"`.
    fn answer_batch(&mut self, ctx: &ConnectorContext) {
        let batch = take_batch(&self.batched);
        let half = batch.len() / 2;
        for (i, (id, n)) in batch.into_iter().enumerate() {
            if i == half {
                maybe_panic(&mut self.config.panic_in, "reply");
            }
            record(&self.config.trace, ctx.alias(), &format!("event {n} ack"));
            ctx.replies().ack(id);
        }
    }

    /// Defers `n` to the batch, answering the batch once it has `size`
    /// events, or 5 ms after its first one.
    fn add_to_batch(&mut self, id: EventId, n: String, size: usize, ctx: &ConnectorContext) {
        let len = {
            let mut batch = self.batched.lock().unwrap_or_else(PoisonError::into_inner);
            batch.push((id, n));
            batch.len()
        };
        if len >= size {
            self.answer_batch(ctx);
        } else if len == 1 {
            let (batch, replies) = (Arc::clone(&self.batched), ctx.replies());
            let (trace, alias) = (self.config.trace.clone(), ctx.alias().to_owned());
            pdk::task::spawn(async move {
                pdk::time::sleep(Duration::from_millis(5)).await;
                for (id, n) in take_batch(&batch) {
                    record(&trace, &alias, &format!("event {n} ack"));
                    replies.ack(id);
                }
            });
        }
    }
}

impl Connector for ProbeSink {
    type Config = Config;

    fn new(config: Config, ctx: &ConnectorContext) -> Result<Self> {
        let counter = config
            .counter
            .as_deref()
            .map(|name| {
                ctx.metrics()
                    .counter(name, "Events the probe sink received")
            })
            .transpose()?;
        Ok(Self {
            config,
            received: 0,
            first_event: None,
            worker: None,
            batched: Batch::default(),
            counter,
        })
    }

    fn connect(
        &mut self,
        ctx: &ConnectorContext,
        _attempt: &Attempt,
    ) -> impl Future<Output = Result<bool>> + Send {
        before_future(&mut self.config.panic_in, "connect");
        if self.config.lose_connection_at.is_some() {
            record(&self.config.trace, ctx.alias(), "connect");
        }
        // The runtime failed back whatever was deferred before.
        take_batch(&self.batched);
        if self.config.defer_to_worker {
            self.start_worker(ctx);
        }
        async { Ok(true) }
    }

    fn on_start(&mut self, ctx: &ConnectorContext) -> impl Future<Output = Result<()>> + Send {
        before_future(&mut self.config.panic_in, "on_start");
        async move {
            self.hook(ctx, "on_start");
            if self.config.close_sockets {
                close_sockets();
            }
            pdk::task::spawn(async {
                pdk::log::info!("a background task says hello");
            });
            Ok(())
        }
    }

    fn on_drain(&mut self, ctx: &ConnectorContext) -> impl Future<Output = Result<()>> + Send {
        before_future(&mut self.config.panic_in, "on_drain");
        async move {
            self.hook(ctx, "on_drain");
            self.answer_batch(ctx);
            Ok(())
        }
    }

    fn on_stop(&mut self, ctx: &ConnectorContext) -> impl Future<Output = Result<()>> + Send {
        before_future(&mut self.config.panic_in, "on_stop");
        async move {
            self.hook(ctx, "on_stop");
            Ok(())
        }
    }
}

impl Sink for ProbeSink {
    fn on_event(
        &mut self,
        event: Event,
        ctx: &ConnectorContext,
    ) -> impl Future<Output = Result<SinkReply>> + Send {
        before_future(&mut self.config.panic_in, "on_event");
        self.receive(event, ctx)
    }

    fn on_upstream_finished(
        &mut self,
        ctx: &ConnectorContext,
    ) -> impl Future<Output = Result<()>> + Send {
        before_future(&mut self.config.panic_in, "on_upstream_finished");
        async move {
            self.hook(ctx, "on_upstream_finished");
            Ok(())
        }
    }
}

impl ProbeSink {
    /// The body of `on_event`.
    async fn receive(&mut self, event: Event, ctx: &ConnectorContext) -> Result<SinkReply> {
        maybe_panic(&mut self.config.panic_in, "on_event");
        if std::mem::take(&mut self.config.panic_with_bad_payload) {
            std::panic::panic_any(PanicsWhenDropped);
        }
        self.received += 1;
        if let Some(crash) = &self.config.crash {
            crate::crash::maybe(crash, self.received);
        }
        if let Some(counter) = &self.counter {
            counter.inc();
        }
        let n = match event.data().get("n").and_then(Value::as_u64) {
            Some(n) => n.to_string(),
            None => event.data().to_string(),
        };
        if let Some(worker) = &self.worker {
            // A worker that panicked has dropped its receiver: the runtime
            // fails this event back when it learns of the panic.
            let _ = worker.send((event.id, n)).await;
            return Ok(SinkReply::Deferred);
        }
        if let Some(size) = self.config.batch {
            self.add_to_batch(event.id, n, size, ctx);
            return Ok(SinkReply::Deferred);
        }
        if self.config.answer_on_drain {
            record(&self.config.trace, ctx.alias(), &format!("event {n} held"));
            self.batched
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((event.id, n));
            return Ok(SinkReply::Deferred);
        }
        if self.received <= self.config.hold_first {
            record(&self.config.trace, ctx.alias(), &format!("event {n} held"));
            return Ok(SinkReply::Deferred);
        }
        let first_event = *self.first_event.get_or_insert_with(std::time::Instant::now);
        let erring = self
            .config
            .error_for_ms
            .is_some_and(|ms| first_event.elapsed() < Duration::from_millis(ms));
        if self.config.lose_connection_at == Some(self.received) {
            let notifier = ctx.notifier();
            pdk::task::spawn(async move {
                pdk::time::sleep(Duration::from_millis(20)).await;
                notifier.connection_lost();
            });
        }
        if erring
            || self.config.error_at.contains(&self.received)
            || self.config.lose_connection_at == Some(self.received)
        {
            record(&self.config.trace, ctx.alias(), &format!("event {n} error"));
            return Err(Error::new(pdk::ErrorKind::Other, "injected error"));
        }
        let fail = self
            .config
            .fail_every
            .is_some_and(|k| self.received % k == 0);
        let verdict = if fail { "fail" } else { "ack" };
        if let (Some(output), false) = (&self.config.output, fail) {
            record_json_line(output, event.data())?;
        }
        record(
            &self.config.trace,
            ctx.alias(),
            &format!("event {n} {verdict}"),
        );
        if self.config.pause_sources_after == Some(self.received) {
            let replies = ctx.replies();
            replies.pause_sources();
            pdk::task::spawn(async move {
                pdk::time::sleep(Duration::from_millis(50)).await;
                replies.resume_sources();
            });
        }
        if self.config.defer {
            let replies = ctx.replies();
            let id = event.id;
            pdk::task::spawn(async move {
                pdk::time::sleep(Duration::from_millis(1)).await;
                if fail {
                    replies.fail(id);
                } else {
                    replies.ack(id);
                }
            });
            return Ok(SinkReply::Deferred);
        }
        Ok(if fail {
            SinkReply::Fail
        } else {
            SinkReply::Ack
        })
    }
}

#[cfg(test)]
mod tests {
    use pdk::testing::{block_on, Harness};

    use super::ProbeSink;

    /// Where a test's sink traces its calls.
    fn trace(test: &str) -> String {
        let name = format!("probe-sink-{test}-{}.trace", std::process::id());
        std::env::temp_dir().join(name).display().to_string()
    }

    fn harness(trace: &str, counter: &str) -> pdk::Result<Harness<ProbeSink>> {
        Harness::from_json(&format!(
            r#"{{"trace": {trace:?}, "counter": {counter:?}}}"#
        ))
    }

    #[test]
    fn the_counter_counts_every_event_exactly() {
        let trace = trace("counter");
        let mut sink = harness(&trace, "probe_events").unwrap();
        assert_eq!(sink.counter("probe_events"), Some(0));
        for n in 0..250 {
            block_on(sink.send(pdk::Value::from(n))).unwrap();
        }
        assert_eq!(sink.counter("probe_events"), Some(250));
        assert_eq!(sink.gauge("probe_events"), None, "a counter is no gauge");
        std::fs::remove_file(trace).unwrap();
    }

    #[test]
    fn a_bad_counter_name_is_a_config_error_of_new() {
        let error = harness(&trace("bad-name"), "probe-events").unwrap_err();
        assert_eq!(error.kind(), pdk::ErrorKind::Config);
        assert!(
            error
                .message()
                .starts_with("metric `probe-events`: the name has `-` in it"),
            "{}",
            error.message()
        );
    }
}
