//! The isolated connector's own process: `pdk-runtime` started with
//! [`CHILD_COMMAND`] and its [`ChildSpec`]. It loads the plugin file with
//! the same checks and trust policy as the runtime (or takes a connector
//! built into the runtime), creates the one connector it hosts, and runs
//! the calls the runtime sends over the socket on its standard input,
//! one at a time. It ends when the runtime closes the socket, so it never
//! outlives the runtime, however that ends.

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use abi_stable::std_types::{ROption, RResult, RVec};
use abi_stable::type_level::downcasting::TD_Opaque;
use async_channel::Receiver;
use futures::future::{select, Either};
use futures::FutureExt;
use pdk::abi::allocator::take_vec;
use pdk::abi::connector::{
    EventId, LifecycleHook, PdkConnectorContext, PdkEvent, PdkRuntimeHandle, PdkRuntimeHandle_TO,
};
use pdk::abi::error::PdkError;
use pdk::abi::metric::{BoxedMetric, MetricDefinition};
use pdk::abi::value::PdkValue;
use pdk::{Error, Value};
use serde::{Deserialize, Serialize};

use super::limits::{Limits, DEFAULT_UNRESPONSIVE_MS};
use super::metrics::Registrar;
use super::outbox::{self, Outbox};
use super::protocol::{self, Answer, Call, FrameError, Pulled, ToChild, ToParent, Wire, WireError};
use super::watchdog::{self, Busy};
use crate::codec::Codec;
use crate::flow::Instance;
use crate::logging::{self, Tag};
use crate::registry::Provider;
use crate::trust::TrustPolicy;
use crate::{builtin, executor, loader};

/// The first argument that makes `pdk-runtime` an isolated connector's
/// process (never typed by people; hidden from `--help`).
pub const CHILD_COMMAND: &str = "__pdk-isolated";

/// Exit status of a child whose runtime sent something it cannot read.
const PROTOCOL_STATUS: u8 = 3;

/// The size of the buffers each side reads and writes the socket with.
const BUFFER: usize = 64 << 10;

/// What the runtime tells a child on its command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildSpec {
    /// The plugin file, or `None` for a connector built into the runtime.
    pub plugin: Option<PathBuf>,
    /// The trust policy's file, if the runtime has one.
    pub trust: Option<PathBuf>,
    /// What the child may use.
    pub limits: Limits,
}

/// Where the calls and the handle send their messages: a thread writes
/// every frame waiting in one go.
pub(super) type Writer = Outbox;

/// Sends `message` to the runtime; a runtime that is gone ends the child.
pub(super) fn send(writer: &Writer, message: &ToParent) {
    if !writer.post(message) {
        std::process::exit(0);
    }
}

/// Starts the thread that writes to `socket` what [`send`] is given.
fn write_messages(mut socket: UnixStream) -> Writer {
    let (outbox, pickup) = outbox::new();
    std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(BUFFER);
        while pickup.take_blocking(&mut batch) {
            if std::io::Write::write_all(&mut socket, &batch).is_err() {
                std::process::exit(0);
            }
        }
    });
    outbox
}

/// The handle the hosted connector reports through: to the runtime, over
/// the socket.
#[derive(Clone)]
struct ChildHandle {
    writer: Writer,
    registrar: Arc<Registrar>,
    codec: Codec,
}

impl PdkRuntimeHandle for ChildHandle {
    fn connection_lost(&self) {
        send(&self.writer, &ToParent::ConnectionLost);
    }

    fn reply(&self, id: EventId, ok: bool) {
        send(&self.writer, &ToParent::Reply { id: id.into(), ok });
    }

    fn set_circuit(&self, open: bool) {
        send(&self.writer, &ToParent::Circuit { open });
    }

    fn decode(&self, data: RVec<u8>) -> RResult<PdkValue, PdkError> {
        self.codec.decode_for_plugin(data)
    }

    fn register_metric(
        &self,
        definition: &MetricDefinition<'_>,
    ) -> ROption<RResult<BoxedMetric, PdkError>> {
        ROption::RSome(self.registrar.register(&self.writer, definition))
    }
}

/// Runs the child; `spec` is its one argument after [`CHILD_COMMAND`].
#[must_use]
pub fn child_main(spec: &str) -> ExitCode {
    let spec: ChildSpec = match serde_json::from_str(spec) {
        Ok(spec) => spec,
        Err(error) => {
            eprintln!("error: {CHILD_COMMAND} is for the runtime's own use ({error})");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = spec.limits.apply() {
        eprintln!("error: cannot set the isolated connector's limits: {error}");
        return ExitCode::FAILURE;
    }
    let socket = match take_socket() {
        Ok(socket) => socket,
        Err(error) => {
            eprintln!(
                "error: {CHILD_COMMAND}: standard input is not the runtime's socket: {error}"
            );
            return ExitCode::from(2);
        }
    };
    let Ok(reading) = socket.try_clone() else {
        return ExitCode::FAILURE;
    };
    let writer = write_messages(socket);
    let (registrar, registered) = Registrar::new();
    let messages = read_messages(reading, registered);
    let busy = Arc::new(Busy::default());
    let limit = spec
        .limits
        .unresponsive_ms
        .unwrap_or(DEFAULT_UNRESPONSIVE_MS);
    watchdog::start(
        Arc::clone(&busy),
        writer.clone(),
        Duration::from_millis(limit),
    );
    // The connector runs on a thread of its own with a stack of a known
    // size under a guard page, so that a stack overflow in it is
    // reported as one (and ends the process with SIGABRT) wherever the
    // libraries of the process have put their mappings.
    let hosting = std::thread::Builder::new()
        .name(String::from("pdk-connector"))
        .stack_size(CONNECTOR_STACK)
        .spawn(move || executor::block_on(host(&spec, &messages, &writer, busy, registrar)));
    match hosting.map(std::thread::JoinHandle::join) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        // The panic hook has printed it.
        Ok(Err(_)) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {CHILD_COMMAND}: cannot start the connector's thread: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The stack of the thread that runs the connector: what a main thread
/// gets by default on Linux.
const CONNECTOR_STACK: usize = 8 << 20;

/// The socket on standard input, which is then replaced by `/dev/null`:
/// a plugin that reads standard input must not read the protocol.
fn take_socket() -> std::io::Result<UnixStream> {
    let socket = UnixStream::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let null = std::fs::File::open("/dev/null")?;
    // SAFETY: both are descriptors this process owns and keeps open for
    // the call; dup2 replaces descriptor 0, which nothing else holds a
    // Rust handle to beyond `stdin()`, whose reads now see /dev/null.
    if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(socket)
}

/// Messages of the runtime, in the order it sent them: each batch is what
/// one read of the socket brought, handed over with one wake-up.
type Messages = Receiver<Vec<ToChild>>;

/// The most messages handed over at once.
const READ_BATCH: usize = 256;

/// Reads the runtime's messages on a thread of their own, so that the
/// child notices the runtime is gone even while its connector blocks:
/// then it exits at once.
fn read_messages(
    socket: UnixStream,
    registered: std::sync::mpsc::Sender<Result<u64, WireError>>,
) -> Messages {
    let (tell, messages) = async_channel::unbounded();
    // Buffered: many small frames arrive in one read.
    let mut socket = std::io::BufReader::with_capacity(BUFFER, socket);
    std::thread::spawn(move || loop {
        let mut batch = Vec::new();
        loop {
            match protocol::read_buffered::<ToChild>(&mut socket) {
                // The registration waiting for it is on the connector's thread.
                Ok(ToChild::MetricRegistered(answer)) => {
                    let _ = registered.send(answer);
                }
                Ok(message) => batch.push(message),
                Err(FrameError::Closed) => std::process::exit(0),
                Err(error) => {
                    eprintln!("error: {CHILD_COMMAND}: the runtime sent {error}");
                    std::process::exit(i32::from(PROTOCOL_STATUS));
                }
            }
            if socket.buffer().is_empty() || batch.len() >= READ_BATCH {
                break;
            }
        }
        if !batch.is_empty() && tell.send_blocking(batch).is_err() {
            std::process::exit(0);
        }
    });
    messages
}

/// Creates the connector the first message asks for and runs the calls
/// that follow, until the runtime is gone.
async fn host(
    spec: &ChildSpec,
    messages: &Messages,
    writer: &Writer,
    busy: Arc<Busy>,
    registrar: Arc<Registrar>,
) {
    let Ok(first) = messages.recv().await else {
        return;
    };
    let mut waiting = VecDeque::from(first);
    let Some(ToChild::Create {
        kind,
        alias,
        config,
        codec,
        source_linked,
    }) = waiting.pop_front()
    else {
        return;
    };
    let handle = ChildHandle {
        writer: writer.clone(),
        registrar,
        codec,
    };
    let created = create(
        spec,
        &kind,
        &alias,
        Value::from(config.0),
        source_linked,
        handle,
    );
    let (instance, tag) = match created {
        Ok(created) => {
            send(writer, &ToParent::Created(Ok(())));
            created
        }
        Err(error) => {
            send(
                writer,
                &ToParent::Created(Err(wire_error(&PdkError::from(error)))),
            );
            return;
        }
    };
    let mut hosted = Hosted {
        instance,
        tag,
        busy,
        writer: writer.clone(),
        credit: 0,
        next_pull: 0,
        stopped: false,
        resume_at: None,
        waiting,
    };
    hosted.serve(messages).await;
}

/// The hosted connector, and how far ahead its source pulls.
struct Hosted {
    instance: Instance,
    tag: Tag,
    /// What its watchdog sees.
    busy: Arc<Busy>,
    writer: Writer,
    /// Pulls the runtime allows before it takes their replies.
    credit: u64,
    /// The pull id of the next pull.
    next_pull: u64,
    /// Whether pulling ahead has stopped: the source finished, failed,
    /// paused or drains (until the next `connect` or `on_resume`).
    stopped: bool,
    /// After an `Empty` reply: when to pull again.
    resume_at: Option<Instant>,
    /// Messages received and not handled yet.
    waiting: VecDeque<ToChild>,
}

/// How long acks and fails may wait for a pull under way, as in the
/// runtime's process.
const SETTLE_WITHIN: Duration = Duration::from_millis(20);

impl Hosted {
    /// Runs the runtime's calls and pulls ahead between them, until the
    /// runtime is gone.
    async fn serve(&mut self, messages: &Messages) {
        loop {
            let message = match self.waiting.pop_front() {
                Some(message) => message,
                None if self.may_pull() => {
                    if !self.pull(messages).await {
                        return;
                    }
                    continue;
                }
                None => {
                    if !self.receive(messages).await {
                        return;
                    }
                    continue;
                }
            };
            match message {
                ToChild::Pull { credit } => self.credit += credit,
                ToChild::Call { seq, call } => {
                    if !self.call(seq, call, messages).await {
                        return;
                    }
                }
                // A cancel for a call that had returned (the runtime has
                // its answer), a second create, or an answer the reader
                // hands elsewhere.
                ToChild::Cancel { .. } | ToChild::Create { .. } | ToChild::MetricRegistered(_) => {}
            }
        }
    }

    /// Whether a pull ahead may be made now.
    fn may_pull(&self) -> bool {
        self.credit > 0 && !self.stopped && self.resume_at.is_none_or(|at| Instant::now() >= at)
    }

    /// Waits for the next messages and queues them, or for the end of
    /// the wait after an `Empty` reply; `false` when the runtime is gone.
    async fn receive(&mut self, messages: &Messages) -> bool {
        let resume = match self.resume_at {
            Some(at) if self.credit > 0 && !self.stopped => async_io::Timer::at(at),
            _ => async_io::Timer::never(),
        };
        match select(pin!(messages.recv()), resume).await {
            Either::Left((Ok(batch), _)) => {
                queue(&mut self.waiting, &self.writer, batch);
                true
            }
            Either::Left((Err(_), _)) => false,
            Either::Right(_) => {
                self.resume_at = None;
                true
            }
        }
    }

    /// Takes a cancel of call `seq` out of the waiting messages; whether
    /// there was one.
    fn take_cancel(&mut self, seq: u64) -> bool {
        let before = self.waiting.len();
        self.waiting.retain(
            |message| !matches!(message, ToChild::Cancel { seq: given_up } if *given_up == seq),
        );
        self.waiting.len() < before
    }

    /// Makes call `seq`; `false` when the runtime is gone.
    async fn call(&mut self, seq: u64, call: Call, messages: &Messages) -> bool {
        match &call {
            Call::Connect { .. } => self.stopped = false,
            Call::Lifecycle(hook) => match LifecycleHook(*hook) {
                LifecycleHook::PAUSE | LifecycleHook::DRAIN | LifecycleHook::STOP => {
                    self.stopped = true;
                }
                LifecycleHook::RESUME | LifecycleHook::START => self.stopped = false,
                _ => {}
            },
            _ => {}
        }
        let method = call.method();
        let returned = {
            let running = logging::tagged(&self.tag, perform(&mut self.instance, call));
            let mut running = pin!(watchdog::watched(&self.busy, method, running));
            loop {
                match select(running.as_mut(), pin!(messages.recv())).await {
                    Either::Left((result, _)) => break Some(result),
                    // The runtime calls one method at a time: anything but
                    // a cancel of this call waits until it has returned.
                    Either::Right((Ok(batch), _)) => {
                        let given_up = batch.iter().any(
                            |message| matches!(message, ToChild::Cancel { seq: given_up } if *given_up == seq),
                        );
                        queue(&mut self.waiting, &self.writer, batch);
                        if given_up {
                            break None;
                        }
                    }
                    Either::Right((Err(_), _)) => return false,
                }
            }
        };
        match returned {
            Some(result) => send(&self.writer, &ToParent::Answer { seq, result }),
            None => {
                self.take_cancel(seq);
                send(&self.writer, &ToParent::Cancelled { seq });
            }
        }
        true
    }

    /// Pulls once ahead and sends the reply; a call that arrives
    /// meanwhile gives the pull up (an ack or a fail after waiting
    /// [`SETTLE_WITHIN`] for it), as the runtime gives up a pull in its
    /// own process. `false` when the runtime is gone.
    async fn pull(&mut self, messages: &Messages) -> bool {
        let pull_id = self.next_pull;
        let mut settle_by = async_io::Timer::never();
        let result = {
            let pulling = watchdog::watched(
                &self.busy,
                "pull_data",
                logging::tagged(
                    &self.tag,
                    perform(&mut self.instance, Call::PullData(pull_id)),
                ),
            );
            let mut pulling = pin!(pulling.fuse());
            loop {
                futures::select_biased! {
                    result = pulling => break Some(result),
                    batch = messages.recv().fuse() => match batch {
                        Ok(batch) => {
                            let settles = batch.iter().all(|message| matches!(
                                message,
                                ToChild::Call { call: Call::Ack { .. } | Call::Fail { .. }, .. }
                                    | ToChild::Pull { .. }
                            ));
                            let first = self.waiting.is_empty();
                            queue(&mut self.waiting, &self.writer, batch);
                            if !settles {
                                break None;
                            }
                            if first {
                                settle_by.set_after(SETTLE_WITHIN);
                            }
                        }
                        Err(_) => return false,
                    },
                    _ = (&mut settle_by).fuse() => break None,
                }
            }
        };
        let Some(result) = result else {
            return true;
        };
        self.next_pull += 1;
        let result = match result {
            Ok(Answer::Pulled(Pulled::Empty(wait_ms))) => {
                self.resume_at = Some(Instant::now() + Duration::from_millis(wait_ms));
                return true;
            }
            Ok(Answer::Pulled(pulled)) => {
                self.stopped |= pulled == Pulled::Finished;
                Ok(pulled)
            }
            Ok(other) => Err(WireError {
                kind: pdk::abi::error::PdkErrorKind::OTHER.0,
                message: format!("pull_data returned {other:?}"),
            }),
            Err(error) => {
                self.stopped = true;
                Err(error)
            }
        };
        self.credit -= 1;
        send(&self.writer, &ToParent::Pulled { pull_id, result });
        true
    }
}

/// Queues `batch` after the `waiting` messages; a call given up before it
/// began (its cancel in the same read) is answered as cancelled at once
/// and never made.
fn queue(waiting: &mut VecDeque<ToChild>, writer: &Writer, batch: Vec<ToChild>) {
    for message in batch {
        if let ToChild::Cancel { seq } = message {
            let not_begun = waiting.iter().position(
                |waits| matches!(waits, ToChild::Call { seq: called, .. } if *called == seq),
            );
            if let Some(at) = not_begun {
                waiting.remove(at);
                send(writer, &ToParent::Cancelled { seq });
                continue;
            }
        }
        waiting.push_back(message);
    }
}

/// Loads the provider of `kind` as `spec` says and creates connector
/// `alias` from `config`; with its log tag.
fn create(
    spec: &ChildSpec,
    kind: &str,
    alias: &str,
    config: Value,
    source_linked: bool,
    handle: ChildHandle,
) -> Result<(Instance, Tag), Error> {
    let writer = handle.writer.clone();
    let ctx = PdkConnectorContext {
        alias: alias.into(),
        handle: PdkRuntimeHandle_TO::from_value(handle, TD_Opaque),
        source_linked,
        extensions: pdk::abi::Extensions::new(),
    };
    let lost = writer.clone();
    let tag_for = |plugin: &str| {
        let tag = Tag::supervised(plugin, alias, move |error: Error| {
            log::error!("a task of the connector failed: {}", error.message());
            send(&lost, &ToParent::ConnectionLost);
        });
        tag.runs_on(executor::pool().runner());
        tag
    };
    match &spec.plugin {
        Some(path) => {
            let trust = spec
                .trust
                .as_deref()
                .map(TrustPolicy::load)
                .transpose()
                .map_err(|e| Error::msg(e.to_string()))?;
            let plugin =
                loader::load(path, trust.as_ref()).map_err(|e| Error::msg(e.to_string()))?;
            let tag = tag_for(&plugin.info.name);
            let instance = tag
                .scope(|| Instance::create(Provider::Plugin(&plugin), kind, ctx, &config, None))?;
            // The library stays loaded for the life of the process.
            std::mem::forget(plugin);
            Ok((instance, tag))
        }
        None => {
            let entries = builtin::entries();
            let entry = entries
                .iter()
                .find(|entry| entry.name == kind)
                .ok_or_else(|| Error::msg(format!("no built-in connector type `{kind}`")))?;
            pdk::linked::install_host(crate::host::services());
            let tag = tag_for(entry.package);
            let instance =
                tag.scope(|| Instance::create(Provider::BuiltIn(entry), kind, ctx, &config, None))?;
            Ok((instance, tag))
        }
    }
}

/// Makes `call` on `instance`.
async fn perform(instance: &mut Instance, call: Call) -> Result<Answer, WireError> {
    let raw = instance.raw();
    let result = match call {
        Call::Connect {
            overall,
            since_success,
        } => raw
            .connect(overall, since_success)
            .await
            .into_result()
            .map(Answer::Connected),
        Call::Lifecycle(hook) => raw
            .lifecycle(LifecycleHook(hook))
            .await
            .into_result()
            .map(|()| Answer::Done),
        Call::PullData(pull_id) => raw.pull_data(pull_id).await.into_result().map(|reply| {
            Answer::Pulled(match reply {
                pdk::SourceReplyOf::Data { data, stream } => Pulled::Data {
                    data: Wire(data),
                    stream,
                },
                pdk::SourceReplyOf::Bytes { data, stream } => Pulled::Bytes {
                    data: take_vec(data),
                    stream,
                },
                pdk::SourceReplyOf::StreamStarted(stream) => Pulled::StreamStarted(stream),
                pdk::SourceReplyOf::StreamEnded(stream) => Pulled::StreamEnded(stream),
                pdk::SourceReplyOf::Empty(wait) => Pulled::Empty(wait),
                pdk::SourceReplyOf::Finished => Pulled::Finished,
                pdk::SourceReplyOf::Other { kind, stream, data } => Pulled::Other {
                    kind,
                    stream,
                    data: Wire(data),
                },
            })
        }),
        Call::Ack { stream, pull_id } => raw
            .ack(stream, pull_id)
            .await
            .into_result()
            .map(|()| Answer::Done),
        Call::Fail { stream, pull_id } => raw
            .fail(stream, pull_id)
            .await
            .into_result()
            .map(|()| Answer::Done),
        Call::OnEvent {
            id,
            ingest_ns,
            data,
        } => raw
            .on_event(PdkEvent {
                id: id.into(),
                ingest_ns,
                data: data.0,
                extensions: pdk::abi::Extensions::new(),
            })
            .await
            .into_result()
            .map(|reply| Answer::Sink(reply.0)),
        Call::UpstreamFinished => raw
            .upstream_finished()
            .await
            .into_result()
            .map(|()| Answer::Done),
    };
    result.map_err(|error| wire_error(&error))
}

/// `error` on the wire.
fn wire_error(error: &PdkError) -> WireError {
    WireError {
        kind: error.kind.0,
        message: error.message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(seq: u64) -> ToChild {
        ToChild::Call {
            seq,
            call: Call::PullData(seq),
        }
    }

    #[test]
    fn a_call_cancelled_in_the_same_read_is_answered_cancelled_and_never_made() {
        let (writer, pickup) = outbox::new();
        let mut waiting = VecDeque::from([call(1)]);
        queue(
            &mut waiting,
            &writer,
            vec![call(2), ToChild::Cancel { seq: 2 }, call(3)],
        );
        assert_eq!(waiting, VecDeque::from([call(1), call(3)]));
        let mut written = Vec::new();
        assert!(pickup.take_blocking(&mut written));
        let answer: ToParent = protocol::read_blocking(&mut written.as_slice()).unwrap();
        assert_eq!(answer, ToParent::Cancelled { seq: 2 });
    }

    #[test]
    fn a_cancel_of_a_call_under_way_waits_for_it() {
        let (writer, _pickup) = outbox::new();
        let mut waiting = VecDeque::new();
        queue(&mut waiting, &writer, vec![ToChild::Cancel { seq: 7 }]);
        assert_eq!(waiting, VecDeque::from([ToChild::Cancel { seq: 7 }]));
    }
}
