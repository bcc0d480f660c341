//! `probe_source`: a transactional source of `count` events `{"n": N}` on
//! stream 1, that resends failed events.

use std::collections::{HashMap, VecDeque};
use std::future::Future;

use pdk::prelude::*;

use crate::trace::{before_future, maybe_panic, record};

/// The `config` of `probe_source`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The trace file.
    pub trace: String,
    /// How many distinct events to produce.
    pub count: u64,
    /// A method to panic in, once.
    #[serde(default)]
    pub panic_in: Option<String>,
    /// Report "connection lost" after this many events.
    #[serde(default)]
    pub lose_connection_after: Option<u64>,
    /// Send each event as raw JSON bytes, for the flow's codec to decode.
    #[serde(default)]
    pub bytes: bool,
    /// Wait this long in every `pull_data` before answering, as a source
    /// waiting on a broker does; `on_stop` traces how many pulls started
    /// and how many completed.
    #[serde(default)]
    pub pull_delay_ms: Option<u64>,
    /// End the process natively in `pull_data` before event number `at`
    /// (from 1), once (see [`crate::crash`]).
    #[serde(default)]
    pub crash: Option<crate::sink::CrashAt>,
}

/// Produces `count` events and makes sure each is acknowledged once.
#[connector(name = "probe_source")]
pub struct ProbeSource {
    trace: String,
    panic_in: Option<String>,
    lose_connection_after: Option<u64>,
    bytes: bool,
    pull_delay: Option<std::time::Duration>,
    crash: Option<crate::sink::CrashAt>,
    /// Pulls started (first polled) and completed.
    pulls: (u64, u64),
    to_send: VecDeque<u64>,
    in_flight: HashMap<u64, u64>,
    started: bool,
    ended: bool,
    sent: u64,
}

impl ProbeSource {
    fn record(&self, ctx: &ConnectorContext, line: &str) {
        record(&self.trace, ctx.alias(), line);
    }

    fn hook(&mut self, ctx: &ConnectorContext, method: &str) {
        self.record(ctx, method);
        maybe_panic(&mut self.panic_in, method);
    }
}

impl Connector for ProbeSource {
    type Config = Config;

    fn new(config: Config, _ctx: &ConnectorContext) -> Result<Self> {
        let mut panic_in = config.panic_in;
        maybe_panic(&mut panic_in, "new");
        Ok(Self {
            trace: config.trace,
            panic_in,
            lose_connection_after: config.lose_connection_after,
            bytes: config.bytes,
            pull_delay: config.pull_delay_ms.map(std::time::Duration::from_millis),
            crash: config.crash,
            pulls: (0, 0),
            to_send: (0..config.count).collect(),
            in_flight: HashMap::new(),
            started: false,
            ended: false,
            sent: 0,
        })
    }

    fn connect(
        &mut self,
        ctx: &ConnectorContext,
        attempt: &Attempt,
    ) -> impl Future<Output = Result<bool>> + Send {
        before_future(&mut self.panic_in, "connect");
        async move {
            self.record(
                ctx,
                &format!("connect {} {}", attempt.overall, attempt.since_success),
            );
            maybe_panic(&mut self.panic_in, "connect");
            Ok(true)
        }
    }

    fn on_start(&mut self, ctx: &ConnectorContext) -> impl Future<Output = Result<()>> + Send {
        before_future(&mut self.panic_in, "on_start");
        async move {
            self.hook(ctx, "on_start");
            pdk::log::info!("starting with {} events to send", self.to_send.len());
            pdk::log::debug!("resending failed events");
            Ok(())
        }
    }

    fn on_pause(&mut self, ctx: &ConnectorContext) -> impl Future<Output = Result<()>> + Send {
        before_future(&mut self.panic_in, "on_pause");
        async move {
            self.hook(ctx, "on_pause");
            Ok(())
        }
    }

    fn on_resume(&mut self, ctx: &ConnectorContext) -> impl Future<Output = Result<()>> + Send {
        before_future(&mut self.panic_in, "on_resume");
        async move {
            self.hook(ctx, "on_resume");
            Ok(())
        }
    }

    fn on_drain(&mut self, ctx: &ConnectorContext) -> impl Future<Output = Result<()>> + Send {
        before_future(&mut self.panic_in, "on_drain");
        async move {
            self.hook(ctx, "on_drain");
            Ok(())
        }
    }

    fn on_stop(&mut self, ctx: &ConnectorContext) -> impl Future<Output = Result<()>> + Send {
        before_future(&mut self.panic_in, "on_stop");
        async move {
            if self.pull_delay.is_some() {
                let (started, completed) = self.pulls;
                self.record(
                    ctx,
                    &format!("pulls started {started} completed {completed}"),
                );
            }
            self.hook(ctx, "on_stop");
            Ok(())
        }
    }
}

impl Source for ProbeSource {
    const TRANSACTIONAL: bool = true;

    fn pull_data(
        &mut self,
        pull_id: u64,
        ctx: &ConnectorContext,
    ) -> impl Future<Output = Result<SourceReply>> + Send {
        before_future(&mut self.panic_in, "pull_data");
        async move {
            maybe_panic(&mut self.panic_in, "pull_data");
            if let Some(delay) = self.pull_delay {
                self.pulls.0 += 1;
                pdk::time::sleep(delay).await;
                self.pulls.1 += 1;
            }
            if !self.started {
                self.started = true;
                self.record(ctx, "stream_started 1");
                return Ok(SourceReply::StreamStarted(1));
            }
            if self.lose_connection_after == Some(self.sent) {
                self.lose_connection_after = None;
                ctx.notifier().connection_lost();
            }
            if let Some(crash) = &self.crash {
                crate::crash::maybe(crash, self.sent + 1);
            }
            if let Some(n) = self.to_send.pop_front() {
                self.in_flight.insert(pull_id, n);
                self.sent += 1;
                if self.bytes {
                    let data = format!(r#"{{"n":{n}}}"#).into_bytes();
                    return Ok(SourceReply::Bytes { data, stream: 1 });
                }
                let mut event = Value::object();
                event.insert("n", n);
                return Ok(SourceReply::Data {
                    data: event,
                    stream: 1,
                });
            }
            if !self.in_flight.is_empty() {
                return Ok(SourceReply::Empty(5));
            }
            if !self.ended {
                self.ended = true;
                self.record(ctx, "stream_ended 1");
                return Ok(SourceReply::StreamEnded(1));
            }
            Ok(SourceReply::Finished)
        }
    }

    fn ack(
        &mut self,
        stream: u64,
        pull_id: u64,
        ctx: &ConnectorContext,
    ) -> impl Future<Output = Result<()>> + Send {
        before_future(&mut self.panic_in, "ack");
        async move {
            maybe_panic(&mut self.panic_in, "ack");
            if let Some(n) = self.in_flight.remove(&pull_id) {
                self.record(ctx, &format!("ack {stream} {n}"));
            }
            Ok(())
        }
    }

    fn fail(
        &mut self,
        stream: u64,
        pull_id: u64,
        ctx: &ConnectorContext,
    ) -> impl Future<Output = Result<()>> + Send {
        before_future(&mut self.panic_in, "fail");
        async move {
            maybe_panic(&mut self.panic_in, "fail");
            if let Some(n) = self.in_flight.remove(&pull_id) {
                self.record(ctx, &format!("fail {stream} {n}"));
                self.to_send.push_back(n);
            }
            Ok(())
        }
    }
}
