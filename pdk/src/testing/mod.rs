//! Unit tests for connectors, with `cargo test` and no runtime.
//!
//! [`Harness`] creates a `#[connector]` type from a configuration, calls
//! its methods the way the runtime does (panics contained, the plugin's
//! tokio runtime entered for a crate that uses tokio), feeds it events,
//! and records what the connector tells the runtime on the side: deferred
//! replies, circuit changes, lost connections ([`Report`]), log records
//! ([`LogLine`]) and the metrics it registers ([`Harness::counter`],
//! [`Harness::gauge`], [`Harness::histogram`]).
//!
//! Its methods are `async`; [`block_on`] runs them from a plain `#[test]`.
//! Timers ([`crate::time::sleep`]) and tasks ([`crate::task::spawn`]) work
//! without a runtime: each runs on a helper thread.

mod recorder;

use std::marker::PhantomData;
use std::time::{SystemTime, UNIX_EPOCH};

use abi_stable::type_level::downcasting::TD_Opaque;

pub use crate::capture::LogLine;
pub use crate::metrics::Observations;
pub use futures_executor::block_on;
pub use recorder::Report;

use abi_stable::std_types::RResult;

use crate::abi::allocator::take_vec;
use crate::abi::connector::{
    BoxedPdkConnector, LifecycleHook, PdkConnectorContext, PdkEvent, PdkResultFuture,
    PdkRuntimeHandle_TO,
};
use crate::abi::value::PdkValue;
use crate::abi::Extensions;
use crate::capture::{self as logs, Capture, Caught};
use crate::export::{create_contained, ConnectorType};
use crate::metrics::LocalMetrics;
use crate::{Error, Event, EventId, Result, SinkReply, SourceReply, SourceReplyOf, Value};
use recorder::Recorder;

/// How the runtime would see the connector, besides its configuration.
///
/// # Examples
///
/// ```
/// use pdk::prelude::*;
/// use pdk::testing::{Harness, Setup};
///
/// #[connector(name = "replier")]
/// pub struct Replier {
///     answers: bool,
/// }
///
/// impl Connector for Replier {
///     type Config = NoConfig;
///
///     fn new(_config: NoConfig, ctx: &ConnectorContext) -> Result<Self> {
///         // Nobody reads the answers: do not make them.
///         Ok(Self { answers: ctx.source_linked() })
///     }
/// }
/// # impl Sink for Replier {
/// #     async fn on_event(&mut self, _: Event, _: &ConnectorContext) -> Result<SinkReply> {
/// #         Ok(SinkReply::Ack)
/// #     }
/// # }
///
/// let alone = Setup { source_linked: false, ..Setup::default() };
/// let harness = Harness::<Replier>::with_setup(Value::object(), alone)?;
/// # let _ = harness;
/// # Ok::<(), pdk::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// Its id in the flow ([`crate::ConnectorContext::alias`]); `"test"`
    /// by default.
    pub alias: String,
    /// Whether its source side feeds a sink
    /// ([`crate::ConnectorContext::source_linked`]); `true` by default.
    pub source_linked: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            alias: "test".to_owned(),
            source_linked: true,
        }
    }
}

/// One connector of type `T` under test.
///
/// Pull ids count from 0, as in the runtime: the first [`Harness::pull`]
/// is pull 0. The `n`-th event [`Harness::send`] delivers (from 0) has the
/// id `EventId { source: 0, stream: 0, pull_id: n }`.
///
/// # Examples
///
/// A source under test, from its configuration to its end, in a plain
/// `#[test]`:
///
/// ```
/// use pdk::prelude::*;
/// use pdk::testing::{block_on, Harness};
///
/// #[derive(Deserialize)]
/// pub struct Config {
///     names: Vec<String>,
/// }
///
/// #[connector(name = "greeter")]
/// pub struct Greeter {
///     names: Vec<String>,
/// }
///
/// impl Connector for Greeter {
///     type Config = Config;
///
///     fn new(config: Config, ctx: &ConnectorContext) -> Result<Self> {
///         pdk::log::info!("`{}` will greet {} names", ctx.alias(), config.names.len());
///         Ok(Self { names: config.names })
///     }
/// }
///
/// impl Source for Greeter {
///     async fn pull_data(&mut self, _pull_id: u64, _ctx: &ConnectorContext) -> Result<SourceReply> {
///         Ok(match self.names.pop() {
///             Some(name) => SourceReply::data(format!("Hello, {name}!")),
///             None => SourceReply::Finished,
///         })
///     }
/// }
///
/// # fn main() -> pdk::Result<()> {
/// let mut greeter = Harness::<Greeter>::from_json(r#"{"names": ["Ada"]}"#)?;
/// assert_eq!(greeter.logged_after("`test` will greet "), Some(String::from("1 names")));
/// block_on(async {
///     assert!(greeter.connect().await?);
///     greeter.start().await?;
///     assert_eq!(greeter.pull().await?, SourceReply::data("Hello, Ada!"));
///     assert_eq!(greeter.pull().await?, SourceReply::Finished);
///     greeter.stop().await
/// })?;
///
/// // A config that does not deserialize is the error the runtime shows:
/// let error = Harness::<Greeter>::from_json("{}").unwrap_err();
/// assert!(error.message().contains("missing field `names`"), "{error}");
/// # Ok(()) }
/// ```
pub struct Harness<T> {
    connector: BoxedPdkConnector,
    reports: async_channel::Receiver<Report>,
    logs: Capture,
    metrics: LocalMetrics,
    attempts: u64,
    attempts_since_success: u64,
    next_pull_id: u64,
    events_sent: u64,
    connector_type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Harness<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("connector_type", &std::any::type_name::<T>())
            .field("attempts", &self.attempts)
            .field("next_pull_id", &self.next_pull_id)
            .field("events_sent", &self.events_sent)
            .finish_non_exhaustive()
    }
}

impl<T: ConnectorType> Harness<T> {
    /// Creates the connector from `config`, the value of its flow file's
    /// `config` table, as the runtime does.
    ///
    /// # Errors
    /// The connector's own error from `new` (a config error when `config`
    /// does not deserialize into `T::Config`), or a contained panic.
    pub fn new(config: impl Into<Value>) -> Result<Self> {
        Self::with_setup(config, Setup::default())
    }

    /// Creates the connector from a configuration written as JSON.
    ///
    /// # Errors
    /// As [`Harness::new`], and a config error when `json` is not JSON.
    pub fn from_json(json: &str) -> Result<Self> {
        let config = Value::from_json_str(json)
            .map_err(|e| crate::Error::config(format!("the test's config is not JSON: {e}")))?;
        Self::new(config)
    }

    /// Creates the connector from `config`, seen by the runtime as `setup`
    /// says.
    ///
    /// # Errors
    /// As [`Harness::new`].
    pub fn with_setup(config: impl Into<Value>, setup: Setup) -> Result<Self> {
        logs::install();
        let (reports, received) = async_channel::unbounded();
        let metrics = LocalMetrics::default();
        let recorder = Recorder {
            reports,
            metrics: metrics.clone(),
        };
        let ctx = PdkConnectorContext {
            alias: setup.alias.into(),
            handle: PdkRuntimeHandle_TO::from_value(recorder, TD_Opaque),
            source_linked: setup.source_linked,
            extensions: Extensions::new(),
        };
        let capture = Capture::default();
        let config = PdkValue::from(config.into());
        let connector = logs::within(Some(&capture), || create_contained::<T>(ctx, config))
            .into_result()
            .map_err(Error::from_ffi)?;
        Ok(Self {
            connector,
            reports: received,
            logs: capture,
            metrics,
            attempts: 0,
            attempts_since_success: 0,
            next_pull_id: 0,
            events_sent: 0,
            connector_type: PhantomData,
        })
    }

    /// Calls [`crate::Connector::connect`], counting the attempts as the
    /// runtime does.
    ///
    /// # Errors
    /// The connector's error, or a contained panic.
    pub async fn connect(&mut self) -> Result<bool> {
        self.attempts += 1;
        self.attempts_since_success += 1;
        let (overall, since_success) = (self.attempts, self.attempts_since_success);
        let connected = self.caught(|c| c.connect(overall, since_success)).await;
        if matches!(connected, Ok(true)) {
            self.attempts_since_success = 0;
        }
        connected
    }

    /// Calls [`crate::Connector::on_start`].
    ///
    /// # Errors
    /// The connector's error, or a contained panic.
    pub async fn start(&mut self) -> Result<()> {
        self.lifecycle(LifecycleHook::START).await
    }

    /// Calls [`crate::Connector::on_pause`].
    ///
    /// # Errors
    /// The connector's error, or a contained panic.
    pub async fn pause(&mut self) -> Result<()> {
        self.lifecycle(LifecycleHook::PAUSE).await
    }

    /// Calls [`crate::Connector::on_resume`].
    ///
    /// # Errors
    /// The connector's error, or a contained panic.
    pub async fn resume(&mut self) -> Result<()> {
        self.lifecycle(LifecycleHook::RESUME).await
    }

    /// Calls [`crate::Connector::on_drain`].
    ///
    /// # Errors
    /// The connector's error, or a contained panic.
    pub async fn drain(&mut self) -> Result<()> {
        self.lifecycle(LifecycleHook::DRAIN).await
    }

    /// Calls [`crate::Connector::on_stop`].
    ///
    /// # Errors
    /// The connector's error, or a contained panic.
    pub async fn stop(&mut self) -> Result<()> {
        self.lifecycle(LifecycleHook::STOP).await
    }

    /// Calls [`crate::Source::pull_data`] with the next pull id.
    ///
    /// # Errors
    /// The connector's error, a contained panic, or an unsupported error
    /// when `T` has no source side.
    pub async fn pull(&mut self) -> Result<SourceReply> {
        let pull_id = self.next_pull_id;
        self.next_pull_id += 1;
        let reply = self.caught(|c| c.pull_data(pull_id)).await?;
        Ok(match reply.map(Value::from, take_vec) {
            SourceReplyOf::Data { data, stream } => SourceReply::Data { data, stream },
            SourceReplyOf::Bytes { data, stream } => SourceReply::Bytes { data, stream },
            SourceReplyOf::StreamStarted(stream) => SourceReply::StreamStarted(stream),
            SourceReplyOf::StreamEnded(stream) => SourceReply::StreamEnded(stream),
            SourceReplyOf::Empty(wait_ms) => SourceReply::Empty(wait_ms),
            SourceReplyOf::Finished => SourceReply::Finished,
            // This SDK makes no other kind of reply.
            SourceReplyOf::Other { kind, .. } => {
                return Err(Error::msg(format!("a reply of unknown kind {kind}")))
            }
        })
    }

    /// Calls [`crate::Source::ack`] for the event of `stream` pulled as
    /// `pull_id`.
    ///
    /// # Errors
    /// The connector's error, or a contained panic.
    pub async fn ack(&mut self, stream: u64, pull_id: u64) -> Result<()> {
        self.caught(|c| c.ack(stream, pull_id)).await
    }

    /// Calls [`crate::Source::fail`] for the event of `stream` pulled as
    /// `pull_id`.
    ///
    /// # Errors
    /// The connector's error, or a contained panic.
    pub async fn fail(&mut self, stream: u64, pull_id: u64) -> Result<()> {
        self.caught(|c| c.fail(stream, pull_id)).await
    }

    /// Delivers one event with payload `data` to [`crate::Sink::on_event`]
    /// and returns the sink's reply; see [`Harness::last_event_id`].
    ///
    /// # Errors
    /// The connector's error, a contained panic, or an unsupported error
    /// when `T` has no sink side.
    pub async fn send(&mut self, data: impl Into<Value>) -> Result<SinkReply> {
        let id = EventId {
            source: 0,
            stream: 0,
            pull_id: self.events_sent,
        };
        self.events_sent += 1;
        self.send_event(Event::new(id, now_ns(), data.into())).await
    }

    /// Delivers `event`, with the id and ingest time it carries.
    ///
    /// # Errors
    /// As [`Harness::send`].
    ///
    /// ```
    /// # use pdk::prelude::*;
    /// # #[connector(name = "late")]
    /// # pub struct Late;
    /// # impl Connector for Late {
    /// #     type Config = NoConfig;
    /// #     fn new(_: NoConfig, _: &ConnectorContext) -> Result<Self> { Ok(Self) }
    /// # }
    /// # impl Sink for Late {
    /// #     async fn on_event(&mut self, event: Event, _: &ConnectorContext) -> Result<SinkReply> {
    /// #         Ok(if event.ingest_ns == 0 { SinkReply::Fail } else { SinkReply::Ack })
    /// #     }
    /// # }
    /// # fn main() -> pdk::Result<()> {
    /// let mut sink = pdk::testing::Harness::<Late>::new(Value::object())?;
    /// let id = EventId { source: 1, stream: 4, pull_id: 9 };
    /// let event = Event::new(id, 1_700_000_000_000_000_000, Value::from("hello"));
    /// assert_eq!(pdk::testing::block_on(sink.send_event(event))?, SinkReply::Ack);
    /// # Ok(()) }
    /// ```
    pub async fn send_event(&mut self, event: Event) -> Result<SinkReply> {
        let event = PdkEvent {
            id: event.id,
            ingest_ns: event.ingest_ns,
            data: event.into_payload(),
            extensions: Extensions::new(),
        };
        self.caught(|c| c.on_event(event))
            .await
            .map(SinkReply::from)
    }

    /// The id of the last event [`Harness::send`] delivered.
    #[must_use]
    pub fn last_event_id(&self) -> Option<EventId> {
        self.events_sent.checked_sub(1).map(|pull_id| EventId {
            source: 0,
            stream: 0,
            pull_id,
        })
    }

    /// Calls [`crate::Sink::on_upstream_finished`].
    ///
    /// # Errors
    /// The connector's error, or a contained panic.
    pub async fn upstream_finished(&mut self) -> Result<()> {
        self.caught(|c| c.upstream_finished()).await
    }

    /// The reports the connector made since the last call, in order,
    /// without waiting.
    #[must_use]
    pub fn reports(&self) -> Vec<Report> {
        std::iter::from_fn(|| self.reports.try_recv().ok()).collect()
    }

    /// Waits for the connector's next report (a task of its own may make
    /// it later). `None` once the connector and every handle it cloned are
    /// gone.
    pub async fn next_report(&self) -> Option<Report> {
        self.reports.recv().await.ok()
    }

    /// The log records the connector emitted since the last call.
    #[must_use]
    pub fn logs(&self) -> Vec<LogLine> {
        self.logs.take()
    }

    /// What follows `prefix` in the first log message since the last call
    /// that starts with it (the address a server bound to, say); like
    /// [`Harness::logs`], it takes every record caught so far.
    #[must_use]
    pub fn logged_after(&self, prefix: &str) -> Option<String> {
        self.logs()
            .into_iter()
            .find_map(|line| line.message.strip_prefix(prefix).map(str::to_owned))
    }

    /// The count of the counter the connector registered as `name`
    /// ([`crate::metrics::Metrics::counter`]); `None` if it registered no
    /// counter of that name.
    #[must_use]
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.metrics.counter(name)
    }

    /// The value of the gauge the connector registered as `name`.
    #[must_use]
    pub fn gauge(&self, name: &str) -> Option<f64> {
        self.metrics.gauge(name)
    }

    /// What the histogram the connector registered as `name` observed.
    #[must_use]
    pub fn histogram(&self, name: &str) -> Option<Observations> {
        self.metrics.histogram(name)
    }

    async fn lifecycle(&mut self, hook: LifecycleHook) -> Result<()> {
        self.caught(|c| c.lifecycle(hook)).await
    }

    /// Runs one call of the connector with its log records caught.
    /// Makes one call into the connector through its C-ABI, as the
    /// runtime does, capturing what it logs meanwhile.
    async fn caught<'a, R>(
        &'a mut self,
        call: impl FnOnce(&'a mut BoxedPdkConnector) -> PdkResultFuture<'a, R>,
    ) -> Result<R> {
        let capture = self.logs.clone();
        let future = logs::within(Some(&capture), || call(&mut self.connector));
        match Caught::new(capture, future).await {
            RResult::ROk(value) => Ok(value),
            RResult::RErr(error) => Err(Error::from_ffi(error)),
        }
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
        })
}
