//! Running a checked flow: create every connector (which checks its
//! config) before starting any, wire the links, run one task per
//! connector, and end when every task has ended.

use std::future::Future;
use std::path::Path;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;

use async_channel::{Receiver, Sender};
use futures::future::{join_all, FutureExt};

use super::check;
use super::handle::{self, Connection, Wiring};
use super::instance::Instance;
use super::pipelines::pipelines;
use super::restartable::Restartable;
use super::steering::Steering;
use super::task::{ConnectorTask, Control, Delivery, GaveUp, SourceSide};
use super::watch::{Watch, Watcher};
use super::watchdog::Activity;
use super::{Flow, FlowError, Node};
use crate::executor::{self, Host, Pipeline};
use crate::isolation::ChildPid;
use crate::logging::Tag;
use crate::observe::Observer;
use crate::registry::{Provider, Registry};

/// How many events may wait at a sink before its sources wait too.
const INBOX_CAPACITY: usize = 64;

/// Why a flow did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The flow could not start (for example a rejected config).
    #[error("{0}")]
    Flow(#[from] FlowError),
    /// Connectors were given up while it ran.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Connectors(Vec<GaveUp>),
    /// The drain after SIGINT or SIGTERM ran out of time.
    #[error(
        "the drain did not finish within {:.1} s: {}; the events in flight were failed back \
         to their sources; fix: {}",
        .bound.as_secs_f64(),
        .unfinished.join(", "),
        if *.blocked {
            "make the blocked connectors await instead of blocking their thread, or raise \
             `drain_timeout_ms` in the flow file"
        } else {
            "raise `drain_timeout_ms` in the flow file if those connectors need longer"
        }
    )]
    DrainTimedOut {
        /// The flow's drain bound.
        bound: Duration,
        /// The connectors that had not finished, with what they were doing.
        unfinished: Vec<String>,
        /// Whether one of them was blocked in a call.
        blocked: bool,
    },
    /// The plugin files cannot be watched (`run --watch`).
    #[error("{0}")]
    Watch(String),
    /// No worker thread could be started for a pipeline.
    #[error(
        "cannot start a thread for connectors {}: {error}; fix: raise the limit on threads \
         (ulimit -u)",
        .connectors.join(", ")
    )]
    NoThread {
        /// The pipeline's connectors.
        connectors: Vec<String>,
        /// Why.
        error: std::io::Error,
    },
    /// A task running a pipeline's connectors panicked.
    #[error(
        "the task running connectors {} ended unexpectedly; this is a bug in pdk-runtime, \
         please report it with the log",
        .connectors.join(", ")
    )]
    PipelineDied {
        /// The pipeline's connectors.
        connectors: Vec<String>,
    },
}

impl RunError {
    /// Whether retrying the run as it is cannot help: a connector failed
    /// in a way that only a change of its configuration mends.
    #[must_use]
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Flow(_) => true,
            Self::Connectors(gave_up) => gave_up.iter().any(|g| g.permanent),
            _ => false,
        }
    }
}

/// How one pipeline ended: its connectors' ids, and each one's outcome
/// (`None` if one of its tasks panicked).
type PipelineEnd = (Vec<String>, Option<Vec<Result<(), GaveUp>>>);

/// Starts the tasks of each pipeline of `flow` on a worker thread;
/// the futures complete when each pipeline ends.
fn run_pipelines(
    flow: &Flow,
    tasks: Vec<ConnectorTask>,
    hosts: Vec<Option<Host>>,
) -> Result<Vec<impl Future<Output = PipelineEnd>>, RunError> {
    let targets: Vec<Vec<usize>> = flow.nodes.iter().map(|node| node.targets.clone()).collect();
    let mut tasks: Vec<Option<ConnectorTask>> = tasks.into_iter().map(Some).collect();
    let mut hosts = hosts;
    let mut runs = Vec::new();
    for members in pipelines(&targets) {
        let pipeline_hosts = members.iter().filter_map(|&i| hosts[i].take()).collect();
        let members: Vec<ConnectorTask> = members.iter().filter_map(|&i| tasks[i].take()).collect();
        let connectors: Vec<String> = members.iter().map(|task| task.id.clone()).collect();
        let pipeline = Pipeline::place(pipeline_hosts).map_err(|error| RunError::NoThread {
            connectors: connectors.clone(),
            error,
        })?;
        for task in &members {
            task.activity().runs_on(pipeline.runner());
        }
        let outputs = pipeline.run(members.into_iter().map(ConnectorTask::run).collect());
        runs.push(outputs.map(move |outputs| (connectors, outputs)));
    }
    Ok(runs)
}

/// How long before the drain bound the events still in flight are failed
/// back, so that the runtime exits at the bound (at most half the bound).
const ABANDON_GRACE: Duration = Duration::from_millis(500);

/// Bounds the drain: once `shutdown` closes, waits `bound` for the flow
/// to end; before the bound runs out, tells every connector (through
/// `controls`) to fail back what it has in flight, and at the bound
/// returns the error naming the connectors that had not finished.
async fn bound_drain(
    shutdown: Receiver<()>,
    bound: Duration,
    controls: Vec<Sender<Control>>,
    activities: Vec<Arc<Activity>>,
) -> RunError {
    // Closed at the first signal; nothing is ever sent.
    let _ = shutdown.recv().await;
    let grace = ABANDON_GRACE.min(bound / 2);
    executor::sleep(bound - grace).await;
    for control in &controls {
        let _ = control.try_send(Control::Abandon);
    }
    executor::sleep(grace).await;
    let unfinished: Vec<&Arc<Activity>> = activities
        .iter()
        .filter(|activity| !activity.is_finished())
        .collect();
    RunError::DrainTimedOut {
        bound,
        blocked: unfinished.iter().any(|activity| activity.is_blocked()),
        unfinished: unfinished
            .iter()
            .map(|activity| activity.describe())
            .collect(),
    }
}

/// Runs `flow` (read from `file`) with the plugins of `registry`, until
/// every source has finished and every event is answered, or until
/// `shutdown` closes (then the sources stop and the flow drains). With
/// `watch`, a plugin file replaced meanwhile is reloaded and its
/// connectors restarted on the new build. Its connectors' states and
/// metrics are shown through `observer`, as flow `name`.
///
/// # Errors
/// A [`RunError`] when a connector rejects its config or is given up.
pub async fn run(
    flow: Flow,
    registry: &Registry,
    file: &Path,
    shutdown: &Receiver<()>,
    watch: Option<Watch>,
    observer: &Observer,
) -> Result<(), RunError> {
    let name = flow_name(file);
    start(flow, registry, file, &name, shutdown, watch, observer)?
        .finish()
        .await
}

/// A flow whose connectors are created and wired, and run on their
/// pipelines' worker threads.
pub struct Running {
    flow: Flow,
    /// Ends each pipeline's run.
    pipelines: Vec<Pin<Box<dyn Future<Output = PipelineEnd>>>>,
    shutdown: Receiver<()>,
    controls: Vec<Sender<Control>>,
    activities: Vec<Arc<Activity>>,
    watcher: Option<Watcher>,
    steering: Steering,
}

/// Starts `flow` (read from `file`) as flow `name`, with the plugins of
/// `registry`: creates every connector (which checks its config) before
/// starting any, wires the links, and starts each pipeline on a worker thread.
/// The flow drains when `shutdown` closes. With `watch`, a plugin file
/// replaced meanwhile is reloaded and its connectors restarted on the new
/// build. Its connectors' states and metrics are shown through
/// `observer`.
///
/// # Errors
/// A [`RunError`] when a connector rejects its config, or a pipeline's
/// thread cannot start.
pub fn start(
    flow: Flow,
    registry: &Registry,
    file: &Path,
    name: &str,
    shutdown: &Receiver<()>,
    watch: Option<Watch>,
    observer: &Observer,
) -> Result<Running, RunError> {
    let mut watcher = watch
        .map(Watcher::new)
        .transpose()
        .map_err(|error| RunError::Watch(error.to_string()))?;
    let mut created = Vec::with_capacity(flow.nodes.len());
    for (index, node) in flow.nodes.iter().enumerate() {
        let at = At {
            file,
            index,
            node,
            flow: name,
        };
        created.push(create(registry, shutdown, &mut watcher, at, observer)?);
    }
    // Logged once every connector is created, so that a flow that cannot
    // start says only why.
    for connector in &created {
        log::info!("flow `{name}`: {}", connector.origin);
    }
    let plugins: Vec<(String, Option<ChildPid>)> = created
        .iter()
        .map(|c| {
            let pid = c.restartable.isolation.as_ref().map(|i| i.pid.clone());
            (c.plugin.clone(), pid)
        })
        .collect();
    let steering = Steering::new(
        created
            .iter()
            .zip(&flow.nodes)
            .map(|(c, node)| (c.restartable.clone(), !node.targets.is_empty()))
            .collect(),
    );
    // A pipeline with a connector on tokio may run on its plugin's tokio
    // thread; one run in a process of its own has no thread here to share.
    let hosts = created
        .iter()
        .map(|c| {
            let restartable = &c.restartable;
            if restartable.kind.uses_tokio && restartable.isolation.is_none() {
                restartable.provider.provider().pipeline_host()
            } else {
                None
            }
        })
        .collect();
    let tasks = wire(&flow, created);
    for ((task, node), (plugin, pid)) in tasks.iter().zip(&flow.nodes).zip(plugins) {
        observer.add(task.observed(name, &node.kind, &plugin, pid));
    }
    let controls = tasks.iter().map(ConnectorTask::control_sender).collect();
    let activities = tasks.iter().map(ConnectorTask::activity).collect();
    let pipelines = run_pipelines(&flow, tasks, hosts)?
        .into_iter()
        .map(|run| Box::pin(run) as Pin<Box<dyn Future<Output = PipelineEnd>>>)
        .collect();
    Ok(Running {
        flow,
        pipelines,
        shutdown: shutdown.clone(),
        controls,
        activities,
        watcher,
        steering,
    })
}

impl Running {
    /// What an operator can do to its connectors.
    #[must_use]
    pub fn steering(&self) -> Steering {
        self.steering.clone()
    }

    /// Waits until every connector has ended, bounding the drain once
    /// the shutdown closes; with `watch`, reloads new plugin builds
    /// meanwhile.
    ///
    /// # Errors
    /// A [`RunError`] when a connector was given up or the drain ran out
    /// of time.
    pub async fn finish(self) -> Result<(), RunError> {
        let Self {
            flow,
            pipelines,
            shutdown,
            controls,
            activities,
            mut watcher,
            steering: _,
        } = self;
        let mut drain =
            pin!(bound_drain(shutdown, flow.drain_timeout, controls, activities).fuse());
        let mut done = pin!(join_all(pipelines).fuse());
        let results = loop {
            let mut reloaded = pin!(async {
                match &mut watcher {
                    Some(watcher) => watcher.reload_changed().await,
                    None => std::future::pending::<()>().await,
                }
            }
            .fuse());
            futures::select_biased! {
                results = done => break results,
                error = drain => return Err(error),
                () = reloaded => {},
            }
        };
        let mut gave_up = Vec::new();
        for (connectors, outputs) in results {
            let outputs = outputs.ok_or_else(|| RunError::PipelineDied {
                connectors: connectors.clone(),
            })?;
            gave_up.extend(outputs.into_iter().filter_map(Result::err));
        }
        if gave_up.is_empty() {
            Ok(())
        } else {
            Err(RunError::Connectors(gave_up))
        }
    }
}

/// A flow's name: its file's stem.
#[must_use]
pub fn flow_name(file: &Path) -> String {
    file.file_stem().map_or_else(
        || file.display().to_string(),
        |stem| stem.to_string_lossy().into_owned(),
    )
}

/// Where a connector is: connector `index` of the flow named `flow`,
/// read from `file`, `node`.
#[derive(Clone, Copy)]
struct At<'a> {
    file: &'a Path,
    index: usize,
    node: &'a Node,
    flow: &'a str,
}

/// A connector's task, created but not linked to the others yet.
struct Created {
    task: ConnectorTask,
    /// Whether its source side wants acks and fails.
    transactional: bool,
    /// Where its type comes from, for the log.
    origin: String,
    /// The package that provides its type.
    plugin: String,
    /// What it takes to create it again.
    restartable: Restartable,
}

/// Creates the connector `at` names (which checks its config), and its
/// task, counting into `observer`'s metrics; with a `watcher`, the task
/// restarts on a new build of its plugin.
fn create(
    registry: &Registry,
    shutdown: &Receiver<()>,
    watcher: &mut Option<Watcher>,
    at: At<'_>,
    observer: &Observer,
) -> Result<Created, RunError> {
    let At {
        file, index, node, ..
    } = at;
    let provider = registry
        .provider(&node.kind)
        .ok_or_else(|| check::not_provided(file, node))?;
    let control = async_channel::unbounded();
    let wiring = Wiring {
        codec: node.codec,
        source_linked: !node.targets.is_empty(),
    };
    let connection = Connection::default();
    let plugin_metrics =
        observer.plugin_metrics_for(at.flow, &node.id, &node.kind, provider.plugin_name());
    let ctx = handle::context(
        &node.id,
        control.0.clone(),
        connection.clone(),
        wiring,
        plugin_metrics.clone(),
    );
    let supervisor = control.0.clone();
    let tag = Tag::supervised(provider.plugin_name(), &node.id, move |error| {
        // Closed only once the connector's task has ended.
        let _ = supervisor.try_send(Control::TaskFailed(error));
    });
    let isolation = check::isolation_of(node, provider, registry)
        .map_err(|error| check::creation_error(file, node, &error))?;
    let instance = tag
        .scope(|| Instance::create(provider, &node.kind, ctx, &node.config, isolation.as_ref()))
        .map_err(|error| check::creation_error(file, node, &error))?;
    let origin = format!(
        "connector `{}`: type `{}` from {}{}",
        node.id,
        node.kind,
        provider.origin(),
        if isolation.is_some() {
            ", in a process of its own"
        } else {
            ""
        }
    );
    let transactional = registry.kind(&node.kind).is_some_and(|k| k.transactional);
    let mut task = ConnectorTask::new(
        node.id.clone(),
        index as u64,
        instance,
        tag.clone(),
        node.restart,
        control,
        connection.clone(),
        observer.metrics_for(at.flow, &node.id, &node.kind, provider.plugin_name()),
    );
    task.stop_on(shutdown.clone());
    let reload = async_channel::unbounded();
    task.reload_on(reload.1);
    let restartable = Restartable {
        id: node.id.clone(),
        kind: registry
            .kind(&node.kind)
            .cloned()
            .ok_or_else(|| check::not_provided(file, node))?,
        provider: provider.to_owned_provider(),
        config: node.config.clone(),
        wiring,
        tag,
        control: task.control_sender(),
        connection,
        metrics: plugin_metrics,
        reload: reload.0,
        isolation,
    };
    if let (Some(watcher), Provider::Plugin(plugin)) = (watcher, provider) {
        watcher.add(plugin, restartable.clone());
    }
    Ok(Created {
        task,
        transactional,
        origin,
        plugin: provider.plugin_name().to_owned(),
        restartable,
    })
}

/// Links the tasks as the flow's links say: each target gets one inbox
/// and learns its upstream connectors, each linked source a side that
/// sends to its targets' inboxes.
fn wire(flow: &Flow, created: Vec<Created>) -> Vec<ConnectorTask> {
    let (mut tasks, transactional): (Vec<ConnectorTask>, Vec<bool>) = created
        .into_iter()
        .map(|created| (created.task, created.transactional))
        .unzip();
    let mut inbox_senders: Vec<Option<Sender<Delivery>>> = vec![None; tasks.len()];
    for (source, node) in flow.nodes.iter().enumerate() {
        for &target in &node.targets {
            if inbox_senders[target].is_none() {
                let (tx, rx) = async_channel::bounded(INBOX_CAPACITY);
                inbox_senders[target] = Some(tx);
                tasks[target].sink.inbox = Some(rx);
            }
            let source_control = tasks[source].control_sender();
            tasks[target].sink.upstream.push(source_control);
        }
    }
    for (index, ((task, node), transactional)) in tasks
        .iter_mut()
        .zip(&flow.nodes)
        .zip(transactional)
        .enumerate()
    {
        if !node.targets.is_empty() {
            let outputs = node
                .targets
                .iter()
                .filter_map(|&t| inbox_senders[t].clone())
                .collect();
            let feeds_itself = node.targets.contains(&index);
            task.source = Some(SourceSide::new(
                outputs,
                feeds_itself,
                node.codec,
                transactional,
            ));
        }
    }
    // Only the sources hold the inboxes open from now on.
    tasks
}
