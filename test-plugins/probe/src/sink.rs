//! `probe_sink`: a sink that can fail events, answer them later, and work
//! the circuit breaker.

use std::io::Write;
use std::time::Duration;

use pdk::prelude::*;

use crate::trace::{maybe_panic, record};

/// The `config` of `probe_sink`.
#[derive(Debug, Deserialize)]
#[serde(crate = "pdk::serde", deny_unknown_fields)]
pub struct Config {
    /// The trace file.
    pub trace: String,
    /// Fail every event whose arrival number is a multiple of this.
    #[serde(default)]
    pub fail_every: Option<u64>,
    /// Answer every event later, from a background task.
    #[serde(default)]
    pub defer: bool,
    /// Close the circuit after this many events, and open it 50 ms later.
    #[serde(default)]
    pub close_circuit_after: Option<u64>,
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
    /// Panic in `on_event` (once) with a payload whose own `Drop` panics.
    #[serde(default)]
    pub panic_with_bad_payload: bool,
    /// Append every acknowledged event to this file, one JSON line each.
    #[serde(default)]
    pub output: Option<String>,
}

/// Appends `value` to the file at `path` as one JSON line.
fn record_json_line(path: &str, value: &Value) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format!("{value}\n").as_bytes())?;
    Ok(())
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
}

impl ProbeSink {
    fn hook(&mut self, ctx: &ConnectorContext, method: &str) {
        record(&self.config.trace, ctx.alias(), method);
        maybe_panic(&mut self.config.panic_in, method);
    }
}

impl Connector for ProbeSink {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        Ok(Self {
            config,
            received: 0,
        })
    }

    async fn on_start(&mut self, ctx: &ConnectorContext) -> Result<()> {
        self.hook(ctx, "on_start");
        pdk::task::spawn(async {
            pdk::log::info!("a background task says hello");
        });
        Ok(())
    }

    async fn on_drain(&mut self, ctx: &ConnectorContext) -> Result<()> {
        self.hook(ctx, "on_drain");
        Ok(())
    }

    async fn on_stop(&mut self, ctx: &ConnectorContext) -> Result<()> {
        self.hook(ctx, "on_stop");
        Ok(())
    }
}

impl Sink for ProbeSink {
    async fn on_event(&mut self, event: Event, ctx: &ConnectorContext) -> Result<SinkReply> {
        maybe_panic(&mut self.config.panic_in, "on_event");
        if std::mem::take(&mut self.config.panic_with_bad_payload) {
            std::panic::panic_any(PanicsWhenDropped);
        }
        self.received += 1;
        let n = match event.data().get("n").and_then(Value::as_u64) {
            Some(n) => n.to_string(),
            None => event.data().to_string(),
        };
        if self.received <= self.config.hold_first {
            record(&self.config.trace, ctx.alias(), &format!("event {n} held"));
            return Ok(SinkReply::Deferred);
        }
        if self.config.error_at.contains(&self.received) {
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
        if self.config.close_circuit_after == Some(self.received) {
            let replies = ctx.replies();
            replies.close_circuit();
            pdk::task::spawn(async move {
                pdk::time::sleep(Duration::from_millis(50)).await;
                replies.open_circuit();
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

    async fn on_upstream_finished(&mut self, ctx: &ConnectorContext) -> Result<()> {
        self.hook(ctx, "on_upstream_finished");
        Ok(())
    }
}
