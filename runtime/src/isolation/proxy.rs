//! The runtime's side of an isolated connector: a connector object like
//! any other (the flow's task drives it through the same C-ABI methods),
//! whose every call goes over a socket to the connector's own process.
//! When that process ends unasked (a crash, `abort`, `exit`, a limit) or
//! says something that is not the protocol, the call under way and every
//! later one fail as a lost connection, once reported with how it ended
//! and what the connector was doing; the task then reconnects with its
//! backoff, and `connect` starts a new process, with a new connector.

use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use abi_stable::std_types::RResult;
use abi_stable::type_level::downcasting::TD_Opaque;
use async_channel::{Receiver, Sender};
use async_ffi::FutureExt as _;
use async_io::Async;
use futures::{AsyncReadExt, AsyncWriteExt};
use pdk::abi::connector::{
    BoxedPdkConnector, BoxedRuntimeHandle, EventId, LifecycleHook, PdkConnector,
    PdkConnectorContext, PdkConnector_TO, PdkEvent, PdkResultFuture, PdkSinkReply, PdkSourceReply,
};
use pdk::abi::error::{PdkError, PdkErrorKind};
use pdk::abi::value::PdkValue;
use pdk::{Error, SourceReplyOf, Value};
use rustc_hash::FxHashMap;
use wait_timeout::ChildExt;

use super::child::{ChildSpec, CHILD_COMMAND};
use super::limits::Limits;
use super::metrics::Kept;
use super::outbox::{self, Outbox, Pickup};
use super::protocol::{self, Answer, Call, FrameError, Pulled, ToChild, ToParent, Wire, WireError};
use crate::codec::Codec;
use crate::executor;
use crate::registry::Provider;

/// How many events an isolated sink may have been sent and not answered
/// yet: `on_event` does not wait for the process, so events flow to it
/// without a round trip each, up to this many.
const WINDOW: usize = 1024;

/// The size of the buffer the socket is read with.
const BUFFER: usize = 64 << 10;

/// What `Shared::doing` says between calls.
const IDLE: &str = "";

/// How long a new process may take to load its plugin and create the
/// connector.
const CREATE_WITHIN: Duration = Duration::from_secs(60);

/// How long a process that closed its socket may take to exit before it
/// is killed.
const EXIT_WITHIN: Duration = Duration::from_secs(2);

/// The process id of an isolated connector's current process, shared
/// with what shows it (`/status`); cloning it is one reference count.
#[derive(Debug, Clone, Default)]
pub struct ChildPid(Arc<AtomicU32>);

impl ChildPid {
    /// The current process's id, if one runs.
    #[must_use]
    pub fn get(&self) -> Option<u32> {
        Some(self.0.load(Ordering::Relaxed)).filter(|&pid| pid != 0)
    }

    fn set(&self, pid: u32) {
        self.0.store(pid, Ordering::Relaxed);
    }
}

/// How an isolated connector's process is started.
#[derive(Debug, Clone)]
pub struct Isolation {
    /// The program: this runtime's own executable.
    pub program: PathBuf,
    /// What the process is told.
    pub spec: ChildSpec,
    /// The flow's codec for the connector.
    pub codec: Codec,
    /// Its current process.
    pub pid: ChildPid,
}

impl Isolation {
    /// How a connector of `provider` runs isolated within `limits`, its
    /// plugin checked against the trust policy in `trust` (a file), with
    /// `codec`.
    ///
    /// # Errors
    /// When this runtime's executable cannot be found.
    pub fn of(
        provider: Provider<'_>,
        limits: Limits,
        trust: Option<PathBuf>,
        codec: Codec,
    ) -> Result<Self, Error> {
        let program = std::env::current_exe().map_err(cannot_start)?;
        let plugin = match provider {
            Provider::Plugin(plugin) => Some(plugin.path.clone()),
            Provider::BuiltIn(_) => None,
        };
        Ok(Self {
            program,
            spec: ChildSpec {
                plugin,
                trust,
                limits,
            },
            codec,
            pid: ChildPid::default(),
        })
    }
}

/// Creates connector `alias` of type `kind` from `config` in a process of
/// its own, as `isolation` says, reporting through `ctx`'s handle.
///
/// # Errors
/// The connector's own error (a rejected config), or why its process
/// could not be started.
pub fn create(
    isolation: &Isolation,
    kind: &str,
    ctx: PdkConnectorContext,
    config: &Value,
) -> Result<BoxedPdkConnector, Error> {
    let alias = ctx.alias.to_string();
    let mut proxy = Proxy {
        isolation: isolation.clone(),
        create: ToChild::Create {
            kind: kind.to_owned(),
            alias: alias.clone(),
            config: Wire(PdkValue::from(config.clone())),
            codec: isolation.codec,
            source_linked: ctx.source_linked,
        },
        alias,
        handle: ctx.handle,
        process: None,
        next_seq: 0,
        unanswered: None,
        pulled_as: FxHashMap::default(),
    };
    proxy.process = Some(proxy.start()?);
    Ok(PdkConnector_TO::from_value(proxy, TD_Opaque))
}

/// An isolated connector, as its task sees it.
struct Proxy {
    isolation: Isolation,
    /// The first message of every process: what to create.
    create: ToChild,
    alias: String,
    /// The task's handle, which the process's reports go to.
    handle: BoxedRuntimeHandle,
    process: Option<Process>,
    next_seq: u64,
    /// A call whose future was dropped before its answer came: the
    /// process is told to give it up before the next call.
    unanswered: Option<u64>,
    /// The process's pull id of each event the runtime pulled, by the
    /// runtime's pull id.
    pulled_as: FxHashMap<u64, u64>,
}

/// One process of an isolated connector.
struct Process {
    socket: Arc<Async<UnixStream>>,
    answers: Receiver<(u64, Option<Result<Answer, WireError>>)>,
    shared: Arc<Shared>,
    /// Holds one token for each event sent and not answered yet.
    window: Sender<()>,
    /// Frames for the writer task.
    outbox: Outbox,
    /// The replies of the pulls made ahead, with the process's pull ids.
    pulls: Receiver<(u64, Result<Pulled, WireError>)>,
    /// Whether the process has been told to pull ahead.
    pulling: bool,
}

/// Marks a process's connector as in `pull_data` for as long as it
/// lives: a crash meanwhile is reported by the pull.
struct Doing<'a>(&'a Shared);

impl<'a> Doing<'a> {
    fn pull(shared: &'a Shared) -> Self {
        *shared.doing.lock().unwrap_or_else(PoisonError::into_inner) = "pull_data";
        Self(shared)
    }
}

impl Drop for Doing<'_> {
    fn drop(&mut self) {
        *self.0.doing.lock().unwrap_or_else(PoisonError::into_inner) = IDLE;
    }
}

/// A call sent without waiting for its answer.
#[derive(Debug, Clone, Copy)]
enum Sent {
    /// An event to `on_event`: its answer is the event's reply.
    Event(EventId),
    /// An `ack` or a `fail`: only an error matters.
    Settle(&'static str),
}

/// What the reader of a process's socket and its connector share.
struct Shared {
    pid: u32,
    /// The method under way, for the report of a crash.
    doing: Mutex<&'static str>,
    /// How the process ended, once it has.
    ended: OnceLock<String>,
    /// Set when the runtime itself stops the process.
    stopping: AtomicBool,
    /// The calls sent without waiting for their answers (events to
    /// `on_event`, acks and fails), by call number.
    sent: Mutex<FxHashMap<u64, Sent>>,
    /// Takes a token back for each answered event.
    window: Receiver<()>,
}

impl Proxy {
    /// Starts a process and creates the connector in it, blocking.
    fn start(&self) -> Result<Process, Error> {
        let (socket, child_end) = UnixStream::pair().map_err(cannot_start)?;
        let spec = serde_json::to_string(&self.isolation.spec).map_err(cannot_start)?;
        let child = Command::new(&self.isolation.program)
            .arg(CHILD_COMMAND)
            .arg(spec)
            .stdin(Stdio::from(OwnedFd::from(child_end)))
            .spawn()
            .map_err(cannot_start)?;
        let pid = child.id();
        self.isolation.pid.set(pid);
        let mut handshake = socket.try_clone().map_err(cannot_start)?;
        handshake
            .set_read_timeout(Some(CREATE_WITHIN))
            .map_err(cannot_start)?;
        let mut metrics = Kept::default();
        let created = protocol::write_blocking(&mut handshake, &self.create)
            .map_err(FrameError::Io)
            .and_then(|()| self.await_created(&mut handshake, &mut metrics));
        let why = match created {
            Ok(ToParent::Created(Ok(()))) => None,
            Ok(ToParent::Created(Err(error))) => {
                let _ = reap(child, true);
                return Err(Error::from_ffi(from_wire(error)));
            }
            Ok(other) => Some(format!("answered {other:?} instead of creating it")),
            Err(error) => Some(format!("could not create it: {error}")),
        };
        if let Some(why) = why {
            let status = reap(child, true);
            return Err(Error::msg(format!(
                "its isolated process (pid {pid}) {why}{}",
                status.map_or(String::new(), |status| format!(
                    ", and {}",
                    describe(status)
                ))
            )));
        }
        handshake.set_read_timeout(None).map_err(cannot_start)?;
        let socket = Arc::new(Async::new(socket).map_err(cannot_start)?);
        let (window, tokens) = async_channel::bounded(WINDOW);
        let shared = Arc::new(Shared {
            pid,
            doing: Mutex::new(IDLE),
            ended: OnceLock::new(),
            stopping: AtomicBool::new(false),
            sent: Mutex::new(FxHashMap::default()),
            window: tokens,
        });
        let (answered, answers) = async_channel::unbounded();
        let (pulled, pulls) = async_channel::unbounded();
        let (outbox, pickup) = outbox::new();
        let routes = Routes {
            answered,
            pulled,
            outbox: outbox.clone(),
            metrics,
        };
        executor::pool()
            .runner()
            .spawn(read(
                Arc::clone(&socket),
                child,
                self.handle.clone(),
                Arc::clone(&shared),
                self.alias.clone(),
                routes,
            ))
            .detach();
        executor::pool()
            .runner()
            .spawn(write(Arc::clone(&socket), pickup))
            .detach();
        Ok(Process {
            socket,
            answers,
            shared,
            window,
            outbox,
            pulls,
            pulling: false,
        })
    }

    /// Reads the process's answer to `Create`, blocking; the metrics its
    /// connector registers meanwhile (in `new`) are registered into
    /// `metrics`.
    fn await_created(
        &self,
        handshake: &mut UnixStream,
        metrics: &mut Kept,
    ) -> Result<ToParent, FrameError> {
        loop {
            match protocol::read_blocking::<ToParent>(handshake)? {
                ToParent::RegisterMetric {
                    kind,
                    name,
                    help,
                    buckets,
                } => {
                    let answer = metrics.register(&self.handle, kind, &name, &help, &buckets);
                    protocol::write_blocking(handshake, &answer)?;
                }
                ToParent::Metric { id, change } => {
                    if !metrics.apply(id, change) {
                        return Err(FrameError::Malformed(format!(
                            "a change of metric {id}, never registered"
                        )));
                    }
                }
                other => return Ok(other),
            }
        }
    }

    /// Makes `call` in the process and waits for its answer.
    async fn call(&mut self, call: Call) -> Result<Answer, PdkError> {
        let method = call.method();
        let dead = self
            .process
            .as_ref()
            .is_none_or(|process| process.shared.ended.get().is_some());
        if dead && matches!(call, Call::Connect { .. }) {
            self.process = None;
            let again = Proxy {
                isolation: self.isolation.clone(),
                create: self.create.clone(),
                alias: self.alias.clone(),
                handle: self.handle.clone(),
                process: None,
                next_seq: 0,
                unanswered: None,
                pulled_as: FxHashMap::default(),
            };
            let started = executor::spawn_blocking(move || again.start()).await;
            self.process = Some(started.map_err(PdkError::from)?);
            self.unanswered = None;
            self.pulled_as.clear();
            log::info!("connector `{}`: a new isolated process runs it", self.alias);
        }
        let Some(process) = &self.process else {
            return Err(lost("has no process"));
        };
        if let Some(ended) = process.shared.ended.get() {
            return Err(lost(ended));
        }
        if let Some(seq) = self.unanswered.take() {
            self.give_up(seq).await;
        }
        let Some(process) = &self.process else {
            return Err(lost("has no process"));
        };
        self.next_seq += 1;
        let seq = self.next_seq;
        *process
            .shared
            .doing
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = method;
        self.unanswered = Some(seq);
        // A failed write shows as the end of the process, below.
        process.send(&ToChild::Call { seq, call });
        loop {
            match process.answers.recv().await {
                Ok((answered, Some(result))) if answered == seq => {
                    self.unanswered = None;
                    *process
                        .shared
                        .doing
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = IDLE;
                    return result.map_err(from_wire);
                }
                Ok(_) => {}
                Err(_) => {
                    self.unanswered = None;
                    let why = process.shared.ended.get().map_or("ended", String::as_str);
                    return Err(lost(&format!("{why} during {method}")));
                }
            }
        }
    }
}

/// How many pulls a process may make ahead of the runtime.
const PULL_AHEAD: u64 = 256;

impl Proxy {
    /// The next reply of the pulls made ahead, as the reply to the
    /// runtime's pull `pull_id`. Dropping the future loses nothing: the
    /// reply waits for the next pull.
    async fn pull(&mut self, pull_id: u64) -> Result<PdkSourceReply, PdkError> {
        let Some(process) = &mut self.process else {
            return Err(lost("has no process"));
        };
        if !process.pulling {
            process.pulling = true;
            process.send(&ToChild::Pull { credit: PULL_AHEAD });
        }
        let waiting = Doing::pull(&process.shared);
        let next = process.pulls.recv().await;
        drop(waiting);
        let Ok((theirs, result)) = next else {
            let why = process.shared.ended.get().map_or("ended", String::as_str);
            return Err(lost(&format!("{why} during pull_data")));
        };
        process.send(&ToChild::Pull { credit: 1 });
        let pulled = result.map_err(from_wire)?;
        if matches!(
            pulled,
            Pulled::Data { .. } | Pulled::Bytes { .. } | Pulled::Other { .. }
        ) {
            self.pulled_as.insert(pull_id, theirs);
        }
        Ok(source_reply(pulled))
    }

    /// Sends `ack` (`ok`) or `fail` of the runtime's pull `pull_id`
    /// without waiting: only an error comes back, as a lost connection.
    fn settle(&mut self, stream: u64, pull_id: u64, ok: bool) -> Result<(), PdkError> {
        let theirs = self.pulled_as.remove(&pull_id).unwrap_or(pull_id);
        self.settle_theirs(stream, theirs, ok)
    }

    /// Sends `ack` (`ok`) or `fail` of the process's own pull `theirs`.
    fn settle_theirs(&mut self, stream: u64, theirs: u64, ok: bool) -> Result<(), PdkError> {
        let Some(process) = &self.process else {
            return Err(lost("has no process"));
        };
        if let Some(ended) = process.shared.ended.get() {
            return Err(lost(ended));
        }
        let (call, method) = if ok {
            (
                Call::Ack {
                    stream,
                    pull_id: theirs,
                },
                "ack",
            )
        } else {
            (
                Call::Fail {
                    stream,
                    pull_id: theirs,
                },
                "fail",
            )
        };
        self.send_unanswered(Sent::Settle(method), call);
        Ok(())
    }

    /// Sends `call` without waiting for its answer, which the reader
    /// handles as `sent` says.
    fn send_unanswered(&mut self, sent: Sent, call: Call) {
        let Some(process) = &self.process else {
            return;
        };
        self.next_seq += 1;
        let seq = self.next_seq;
        process
            .shared
            .sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(seq, sent);
        process.send(&ToChild::Call { seq, call });
    }

    /// Fails back to the source every event pulled ahead that the runtime
    /// has not taken (it drains, and will take no more).
    fn fail_back_pulled_ahead(&mut self) -> Result<(), PdkError> {
        let Some(process) = &mut self.process else {
            return Ok(());
        };
        process.pulling = false;
        let mut ahead = Vec::new();
        while let Ok((theirs, result)) = process.pulls.try_recv() {
            if let Ok(
                Pulled::Data { stream, .. }
                | Pulled::Bytes { stream, .. }
                | Pulled::Other { stream, .. },
            ) = result
            {
                ahead.push((stream, theirs));
            }
        }
        for (stream, theirs) in ahead {
            self.settle_theirs(stream, theirs, false)?;
        }
        Ok(())
    }

    /// Sends event `id` (as `call`) to the process without waiting for
    /// its answer, which reaches the task as a reply: the event is
    /// deferred. Waits while [`WINDOW`] events are unanswered.
    async fn send_event(&mut self, id: EventId, call: Call) -> Result<(), PdkError> {
        if let Some(seq) = self.unanswered.take() {
            self.give_up(seq).await;
        }
        let Some(process) = &self.process else {
            return Err(lost("has no process"));
        };
        if let Some(ended) = process.shared.ended.get() {
            return Err(lost(&format!("{ended} before on_event")));
        }
        if process.window.send(()).await.is_err() {
            return Err(lost("has no process"));
        }
        // A failed write shows as the end of the process: the task fails
        // the deferred event back then.
        self.send_unanswered(Sent::Event(id), call);
        Ok(())
    }

    /// Tells the process to give up call `seq`, whose future the runtime
    /// dropped, and waits until it has (or had answered it).
    async fn give_up(&self, seq: u64) {
        let Some(process) = &self.process else {
            return;
        };
        process.send(&ToChild::Cancel { seq });
        while let Ok((answered, _)) = process.answers.recv().await {
            if answered == seq {
                return;
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(process) = &self.process {
            process.shared.stopping.store(true, Ordering::Release);
            // The process sees its socket close and exits; the reader
            // reaps it.
            let _ = process.socket.get_ref().shutdown(Shutdown::Both);
        }
    }
}

impl Process {
    /// Sends `message` to the process, after those sent before. A failed
    /// write shows as the end of the process.
    fn send(&self, message: &ToChild) {
        self.outbox.post(message);
    }
}

/// Writes the frames posted to `pickup`'s outbox to `socket`, every frame
/// waiting in one write, until the process is dropped or a write fails.
async fn write(socket: Arc<Async<UnixStream>>, pickup: Pickup) {
    let mut batch = Vec::with_capacity(BUFFER);
    while pickup.take(&mut batch).await {
        let mut writer = &*socket;
        if writer.write_all(&batch).await.is_err() {
            return;
        }
    }
}

/// Where the reader of a process's socket hands what it reads, beside the
/// task's handle.
struct Routes {
    /// Answers to calls, by call number (`None`: given up).
    answered: Sender<(u64, Option<Result<Answer, WireError>>)>,
    /// Replies of the pulls made ahead.
    pulled: Sender<(u64, Result<Pulled, WireError>)>,
    /// Frames to the process (answers to metric registrations).
    outbox: Outbox,
    /// The metrics its connector registered so far.
    metrics: Kept,
}

/// Reads the process's messages until it ends: answers to the calls,
/// reports to the task's `handle`; then records how it ended, reports it
/// once (unless the runtime stopped it) and tells the task the connection
/// is lost.
async fn read(
    socket: Arc<Async<UnixStream>>,
    child: Child,
    handle: BoxedRuntimeHandle,
    shared: Arc<Shared>,
    alias: String,
    routes: Routes,
) {
    let Routes {
        answered,
        pulled,
        outbox,
        mut metrics,
    } = routes;
    // Buffered: many small frames arrive in one read.
    let mut reader = futures::io::BufReader::with_capacity(BUFFER, &*socket);
    let problem = loop {
        match read_frame(&mut reader).await {
            Ok(ToParent::Answer { seq, result }) => {
                let sent = shared
                    .sent
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&seq);
                match sent {
                    Some(Sent::Event(id)) => answer_event(&handle, &shared, id, result),
                    Some(Sent::Settle(method)) => {
                        if let Err(error) = result {
                            log::error!("{method} failed: {}", error.message);
                            handle.connection_lost();
                        }
                    }
                    None => {
                        let _ = answered.send((seq, Some(result))).await;
                    }
                }
            }
            Ok(ToParent::Pulled { pull_id, result }) => {
                let _ = pulled.send((pull_id, result)).await;
            }
            Ok(ToParent::Cancelled { seq }) => {
                let _ = answered.send((seq, None)).await;
            }
            Ok(ToParent::ConnectionLost) => handle.connection_lost(),
            Ok(ToParent::RegisterMetric {
                kind,
                name,
                help,
                buckets,
            }) => {
                let answer = metrics.register(&handle, kind, &name, &help, &buckets);
                outbox.post(&answer);
            }
            Ok(ToParent::Metric { id, change }) => {
                if !metrics.apply(id, change) {
                    break FrameError::Malformed(format!(
                        "a change of metric {id}, never registered"
                    ));
                }
            }
            Ok(ToParent::Blocked { method, ms, ending }) => {
                let then = if ending {
                    "past its bound (`limits.unresponsive_ms`): the process ends, and the \
                     connector restarts"
                } else {
                    "it is restarted if it stays so past `limits.unresponsive_ms`"
                };
                log::warn!(
                    "connector `{alias}`: blocks its isolated process's thread in {method} \
                     for {:.1} s; {then}",
                    Duration::from_millis(ms).as_secs_f64()
                );
            }
            Ok(ToParent::Reply { id, ok }) => handle.reply(id.into(), ok),
            Ok(ToParent::Circuit { open }) => handle.set_circuit(open),
            Ok(ToParent::Created(_)) => {
                break FrameError::Malformed(String::from("a second `Created`"));
            }
            Err(error) => break error,
        }
    };
    let garbled = !matches!(problem, FrameError::Closed | FrameError::Io(_));
    let _ = socket.get_ref().shutdown(Shutdown::Both);
    let status = executor::spawn_blocking(move || reap(child, garbled)).await;
    let stopping = shared.stopping.load(Ordering::Acquire);
    let how = status.map_or_else(|| String::from("ended"), describe);
    let ended = if garbled {
        format!(
            "(pid {}) broke the protocol ({problem}) and was killed",
            shared.pid
        )
    } else {
        format!("(pid {}) {how}", shared.pid)
    };
    let _ = shared.ended.set(format!("its isolated process {ended}"));
    drop(answered);
    drop(pulled);
    // A call under way fails with the report, naming its method; between
    // calls, the report is logged here and the task told.
    let idle = *shared.doing.lock().unwrap_or_else(PoisonError::into_inner) == IDLE;
    if !stopping && idle {
        let unanswered = shared
            .sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        let doing = if unanswered > 0 {
            format!("while in on_event ({unanswered} events unanswered)")
        } else {
            String::from("between calls")
        };
        log::error!(
            "connector `{alias}`: its isolated process {ended} {doing}; its events in flight \
             are failed back, and it is restarted with its backoff"
        );
        handle.connection_lost();
    }
}

/// Tells the task what the process answered to event `id`: handled or
/// failed now, or later (deferred: the connector replies itself); an
/// error fails the event and the connection, as in the runtime's process.
fn answer_event(
    handle: &BoxedRuntimeHandle,
    shared: &Shared,
    id: EventId,
    result: Result<Answer, WireError>,
) {
    let _ = shared.window.try_recv();
    match result {
        Ok(Answer::Sink(code)) if PdkSinkReply(code) == PdkSinkReply::DEFERRED => {}
        Ok(Answer::Sink(code)) => handle.reply(id, PdkSinkReply(code) == PdkSinkReply::ACK),
        Ok(other) => {
            log::error!("an isolated sink answered {other:?} to an event; failing it");
            handle.reply(id, false);
        }
        Err(error) => {
            log::error!("on_event failed: {}", error.message);
            handle.reply(id, false);
            handle.connection_lost();
        }
    }
}

/// Reads one message from `reader`: from its buffer when the whole frame
/// is there.
async fn read_frame<R: futures::AsyncRead + Unpin>(
    reader: &mut futures::io::BufReader<R>,
) -> Result<ToParent, FrameError> {
    match protocol::decode_buffered(reader.buffer()) {
        Some(Ok((message, used))) => {
            futures::AsyncBufReadExt::consume_unpin(reader, used);
            return Ok(message);
        }
        Some(Err(error)) => return Err(error),
        None => {}
    }
    let mut head = [0; 4];
    match reader.read_exact(&mut head).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let mut body = vec![0; protocol::body_length(head)?];
    reader.read_exact(&mut body).await?;
    protocol::decode(&body)
}

/// Waits for `child` to exit (killing it at once with `kill`, or after
/// [`EXIT_WITHIN`]); its status, if it could be had.
fn reap(mut child: Child, kill: bool) -> Option<ExitStatus> {
    if !kill {
        if let Ok(Some(status)) = child.wait_timeout(EXIT_WITHIN) {
            return Some(status);
        }
    }
    let _ = child.kill();
    child.wait().ok()
}

/// How a process ended, for people: `was killed by signal 11 (SIGSEGV)`,
/// `exited with status 3`.
fn describe(status: ExitStatus) -> String {
    match status.signal() {
        Some(signal) => format!(
            "was killed by signal {signal}{}",
            signal_hook::low_level::signal_name(signal)
                .map(|name| format!(" ({name})"))
                .unwrap_or_default()
        ),
        None => match status.code() {
            Some(super::watchdog::UNRESPONSIVE_STATUS) => {
                String::from("ended itself: its connector blocked it past `limits.unresponsive_ms`")
            }
            Some(code) => format!("exited with status {code}"),
            None => String::from("ended"),
        },
    }
}

fn cannot_start(error: impl std::fmt::Display) -> Error {
    Error::msg(format!(
        "cannot start its isolated process: {error}; fix: check that the runtime's executable \
         can be run, and the limit on processes (ulimit -u)"
    ))
}

fn lost(why: &str) -> PdkError {
    PdkError::new(PdkErrorKind::CONNECTION_LOST, why.to_owned())
}

fn from_wire(error: WireError) -> PdkError {
    PdkError::new(PdkErrorKind(error.kind), error.message)
}

/// The result of `call` as method `T` returns it.
fn expect<T>(
    result: Result<Answer, PdkError>,
    take: impl FnOnce(Answer) -> Option<T>,
) -> RResult<T, PdkError> {
    result
        .and_then(|answer| {
            let shown = format!("{answer:?}");
            take(answer).ok_or_else(|| {
                PdkError::new(
                    PdkErrorKind::OTHER,
                    format!(
                        "its isolated process answered {shown}, which that method does not return"
                    ),
                )
            })
        })
        .into()
}

impl PdkConnector for Proxy {
    fn connect(&mut self, overall: u64, since_success: u64) -> PdkResultFuture<'_, bool> {
        async move {
            let call = Call::Connect {
                overall,
                since_success,
            };
            expect(self.call(call).await, |answer| match answer {
                Answer::Connected(connected) => Some(connected),
                _ => None,
            })
        }
        .into_ffi()
    }

    fn lifecycle(&mut self, hook: LifecycleHook) -> PdkResultFuture<'_, ()> {
        async move {
            if matches!(hook, LifecycleHook::DRAIN | LifecycleHook::STOP) {
                if let Err(error) = self.fail_back_pulled_ahead() {
                    return RResult::RErr(error);
                }
            }
            expect(self.call(Call::Lifecycle(hook.0)).await, done)
        }
        .into_ffi()
    }

    fn pull_data(&mut self, pull_id: u64) -> PdkResultFuture<'_, PdkSourceReply> {
        async move { self.pull(pull_id).await.into() }.into_ffi()
    }

    fn ack(&mut self, stream: u64, pull_id: u64) -> PdkResultFuture<'_, ()> {
        async move { self.settle(stream, pull_id, true).into() }.into_ffi()
    }

    fn fail(&mut self, stream: u64, pull_id: u64) -> PdkResultFuture<'_, ()> {
        async move { self.settle(stream, pull_id, false).into() }.into_ffi()
    }

    fn on_event(&mut self, event: PdkEvent) -> PdkResultFuture<'_, PdkSinkReply> {
        let id = event.id;
        let call = Call::OnEvent {
            id: id.into(),
            ingest_ns: event.ingest_ns,
            data: Wire(event.data),
        };
        async move {
            self.send_event(id, call)
                .await
                .map(|()| PdkSinkReply::DEFERRED)
                .into()
        }
        .into_ffi()
    }

    fn upstream_finished(&mut self) -> PdkResultFuture<'_, ()> {
        async move { expect(self.call(Call::UpstreamFinished).await, done) }.into_ffi()
    }
}

/// The answer of a method that returns nothing.
fn done(answer: Answer) -> Option<()> {
    matches!(answer, Answer::Done).then_some(())
}

/// `pull_data`'s reply in the C-ABI form.
fn source_reply(pulled: Pulled) -> PdkSourceReply {
    match pulled {
        Pulled::Data { data, stream } => SourceReplyOf::Data {
            data: data.0,
            stream,
        },
        Pulled::Bytes { data, stream } => SourceReplyOf::Bytes {
            data: data.into(),
            stream,
        },
        Pulled::StreamStarted(stream) => SourceReplyOf::StreamStarted(stream),
        Pulled::StreamEnded(stream) => SourceReplyOf::StreamEnded(stream),
        Pulled::Empty(wait) => SourceReplyOf::Empty(wait),
        Pulled::Finished => SourceReplyOf::Finished,
        Pulled::Other { kind, stream, data } => SourceReplyOf::Other {
            kind,
            stream,
            data: data.0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pdk::abi::allocator::take_vec;

    #[test]
    fn a_crash_is_described_with_its_signal() {
        assert_eq!(
            describe(ExitStatus::from_raw(11)),
            "was killed by signal 11 (SIGSEGV)"
        );
        assert_eq!(
            describe(ExitStatus::from_raw(3 << 8)),
            "exited with status 3"
        );
    }

    #[test]
    fn bytes_pulled_keep_their_allocation_free_path() {
        let reply = source_reply(Pulled::Bytes {
            data: b"x".to_vec(),
            stream: 2,
        });
        assert!(
            matches!(reply, SourceReplyOf::Bytes { ref data, stream: 2 } if take_vec(data.clone()) == b"x")
        );
    }
}
