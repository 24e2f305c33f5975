//! `leaven bake` building: bake targets solved over BuildKit's control API.
//!
//! The pipeline: [`plan`] turns each resolved target into what its solve needs
//! (and refuses what the engine cannot do, before anything runs); [`engine`]
//! connects and says what the engine offers; [`pool`] names the engines of a run
//! and [`placement`] picks one for each target; [`solve`] runs one target's
//! solve with its session; this module runs many targets at once over the pool
//! (links first, `--max-parallel` per node, fail-fast or `--keep-going`,
//! `--retry-on-other-node`, Ctrl-C) and reports.

pub mod engine;
pub mod metadata;
pub mod placement;
pub mod plan;
pub mod pool;
pub mod remote;
pub mod progress;
mod push;
pub mod solve;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::{oneshot, watch};

use crate::bake::resolve::Selection;
use crate::session::{DockerAuth, OutputError};
use crate::transport::TransportError;
use engine::Engine;
use plan::{PlanError, TargetPlan};
use solve::{Job, Linked, StatusSink, StepCount, TargetFailure};

/// A failure of the driver itself (not of a build step).
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Transport(TransportError),
    #[error("{0}")]
    Engine(String),
    #[error(transparent)]
    Output(OutputError),
    #[error("pushing {name}: {message}")]
    Push { name: String, message: String },
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Plan(Vec<PlanError>),
    #[error("{0}")]
    Config(String),
}

/// How a bake run is carried out.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Build every target that can be built, even after one failed.
    pub keep_going: bool,
    /// At most this many solves in flight; 0 means no limit (buildx has none).
    pub max_parallel: usize,
    pub metadata_file: Option<PathBuf>,
    /// A target whose node went away is built again on another node.
    pub retry_on_other_node: bool,
}

/// How one target ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetEnd {
    Built(StepCount),
    Failed(String),
    /// Not built: a target it links to failed.
    Skipped(String),
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct TargetReport {
    pub name: String,
    pub end: TargetEnd,
    pub duration: Duration,
    pub exporter_response: BTreeMap<String, String>,
    pub build_ref: String,
    /// Where it was built (or failed).
    pub node: Option<String>,
}

impl TargetReport {
    fn ended(name: &str, end: TargetEnd, started: Instant) -> TargetReport {
        TargetReport {
            name: name.to_string(),
            end,
            duration: started.elapsed(),
            exporter_response: BTreeMap::new(),
            build_ref: String::new(),
            node: None,
        }
    }
}

/// The whole run, one entry per target in name order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub targets: Vec<TargetReport>,
    /// Ctrl-C cancelled the run.
    pub interrupted: bool,
}

impl Report {
    pub fn succeeded(&self) -> bool {
        !self.interrupted && self.targets.iter().all(|t| matches!(t.end, TargetEnd::Built(_)))
    }
}

/// One engine of the run, by the name the summary shows.
pub struct Node {
    pub name: String,
    pub engine: Engine,
}

/// A target to build: its plan on each node that can build it.
#[derive(Debug, Clone)]
pub struct Planned {
    pub name: String,
    /// By node index; `None` where that node cannot build it.
    pub plans: Vec<Option<TargetPlan>>,
}

impl Planned {
    fn any_plan(&self) -> &TargetPlan {
        self.plans.iter().flatten().next().expect("a planned target has a plan on some node")
    }

    fn candidates(&self) -> Vec<usize> {
        self.plans.iter().enumerate().filter(|(_, p)| p.is_some()).map(|(i, _)| i).collect()
    }
}

/// `--share-cache REF`: every target reads its registry cache `REF:<target>`,
/// and writes it (`mode=max`) on nodes that can export a registry cache.
fn with_shared_cache(target: &crate::bake::model::Target, reference: &str, offer: &plan::EngineOffer) -> crate::bake::model::Target {
    let mut t = target.clone();
    let tag: String = t.name.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '-' }).collect();
    let cache = |extra: &[(&str, &str)]| {
        let mut attrs = crate::bake::model::Attrs::from([("type".to_string(), "registry".to_string()), ("ref".to_string(), format!("{reference}:{tag}"))]);
        attrs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        attrs
    };
    if offer.cache_imports().contains(&"registry") {
        t.cache_from.get_or_insert_with(Vec::new).push(cache(&[]));
    }
    if offer.cache_exports().contains(&"registry") {
        t.cache_to.get_or_insert_with(Vec::new).push(cache(&[("mode", "max")]));
    }
    t
}

/// Plans every selected target on every node: each target must be buildable on
/// some node; every problem of every target at once, before anything runs.
pub fn plan_all(
    selection: &Selection,
    cwd: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    nodes: &[Node],
    node_id: &str,
    share_cache: Option<&str>,
) -> Result<Vec<Planned>, DriverError> {
    let mut planned = Vec::new();
    let mut errors = Vec::new();
    for target in selection.targets.values() {
        let probe = plan::probe(target, cwd, env);
        let mut plans = Vec::new();
        let mut refusals = Vec::new();
        for node in nodes {
            let shared;
            let target = match share_cache {
                Some(reference) => {
                    shared = with_shared_cache(target, reference, &node.engine.offer);
                    &shared
                }
                None => target,
            };
            match plan::plan_target(target, cwd, &probe, &node.engine.offer, node_id) {
                Ok(p) => plans.push(Some(p)),
                Err(e) => {
                    plans.push(None);
                    refusals.push((node.name.clone(), e));
                }
            }
        }
        if plans.iter().any(Option::is_some) {
            planned.push(Planned { name: target.name.clone(), plans });
        } else if refusals.len() == 1 {
            errors.extend(refusals.into_iter().map(|(_, e)| e));
        } else if let Some((_, first)) = refusals.first() {
            let why: Vec<String> = refusals.iter().map(|(node, e)| format!("node {node}: {}", e.message)).collect();
            errors.push(PlanError { message: format!("no node can build it ({})", why.join("; ")), ..first.clone() });
        }
    }
    if errors.is_empty() {
        Ok(planned)
    } else {
        Err(DriverError::Plan(errors))
    }
}

/// What a dependent waits on: its linked target's result, or why there is none.
type LinkState = Option<Result<Arc<Linked>, String>>;

/// The nodes' loads and the node each link group was placed on, shared by the
/// target tasks; a task waits on `changed` when no node has room for it.
struct PoolState {
    loads: Vec<placement::NodeLoad>,
    pinned: HashMap<usize, usize>,
}

struct Pool {
    state: std::sync::Mutex<PoolState>,
    changed: tokio::sync::Notify,
}

impl Pool {
    /// A node for a target of `group`, waiting while every candidate is full;
    /// `None` when no candidate is up.
    async fn acquire(&self, candidates: &[usize], group: usize) -> Option<usize> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.state.lock().ok()?;
                let pinned = state.pinned.get(&group).copied();
                match placement::choose(candidates, pinned, &state.loads) {
                    placement::Choice::Node(node) => {
                        state.loads[node].in_flight += 1;
                        state.pinned.entry(group).or_insert(node);
                        return Some(node);
                    }
                    placement::Choice::Nowhere => return None,
                    placement::Choice::Wait => {}
                }
            }
            notified.await;
        }
    }

    /// A target leaving a node that went away may be placed anew.
    fn unpin(&self, group: usize) {
        if let Ok(mut state) = self.state.lock() {
            state.pinned.remove(&group);
        }
    }

    fn release(&self, node: usize, went_away: bool) {
        if let Ok(mut state) = self.state.lock() {
            let load = &mut state.loads[node];
            load.in_flight = load.in_flight.saturating_sub(1);
            if went_away {
                load.up = false;
            }
        }
        self.changed.notify_waiters();
    }
}

/// Builds every target over the pool: all at once, each after the targets it
/// links to, on the least busy node that can build it (a link group on one
/// node), at most `max_parallel` solves per node; the first failure cancels the
/// rest unless `keep_going`; `interrupt` (Ctrl-C) cancels everything.
pub async fn run(
    nodes: &[Node],
    targets: Vec<Planned>,
    auth: Arc<DockerAuth>,
    status: StatusSink,
    options: &RunOptions,
    interrupt: impl Future<Output = ()>,
) -> Report {
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let pool = Pool {
        state: std::sync::Mutex::new(PoolState {
            loads: nodes.iter().map(|_| placement::NodeLoad { in_flight: 0, limit: options.max_parallel, up: true }).collect(),
            pinned: HashMap::new(),
        }),
        changed: tokio::sync::Notify::new(),
    };
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let link_lists: Vec<Vec<String>> = targets.iter().map(|t| t.any_plan().links.values().cloned().collect()).collect();
    let groups = placement::link_groups(&names, &link_lists);
    let grouped: std::collections::HashSet<usize> =
        groups.iter().enumerate().filter(|(i, g)| *i != **g).map(|(_, g)| *g).collect();
    let mut results: HashMap<String, watch::Sender<LinkState>> = HashMap::new();
    let mut waits: HashMap<String, watch::Receiver<LinkState>> = HashMap::new();
    for t in &targets {
        let (tx, rx) = watch::channel(None);
        results.insert(t.name.clone(), tx);
        waits.insert(t.name.clone(), rx);
    }
    let linked_by_others: std::collections::HashSet<&str> = link_lists.iter().flatten().map(String::as_str).collect();
    // Targets that differ only in name are one build: the first builds, the others share its end.
    let mut first_of_kind: HashMap<String, &str> = HashMap::new();
    let mut same_as: Vec<(&str, &str)> = Vec::new();
    for t in &targets {
        if t.any_plan().links.is_empty() && !linked_by_others.contains(t.name.as_str()) {
            let anonymous: Vec<Option<TargetPlan>> =
                t.plans.iter().map(|p| p.clone().map(|p| TargetPlan { name: String::new(), position: None, ..p })).collect();
            let key = format!("{anonymous:?}");
            match first_of_kind.get(&key) {
                Some(first) => same_as.push((t.name.as_str(), first)),
                None => {
                    first_of_kind.insert(key, t.name.as_str());
                }
            }
        }
    }
    let duplicates: std::collections::HashSet<&str> = same_as.iter().map(|(name, _)| *name).collect();
    // Sessions stay open until the whole run ends: a linked target's result is
    // built from its session's local sources while dependents still solve.
    let sessions = std::sync::Mutex::new(Vec::new());

    // Offered to the nodes in this order (linked-to targets first), as the replay in `make bench-pool` places them.
    let order = placement::start_order(&names, &link_lists, &groups);
    let tasks = order.into_iter().map(|index| (index, &targets[index])).filter(|(_, t)| !duplicates.contains(t.name.as_str())).map(|(index, target)| {
        let publish_to = results.get(&target.name).cloned();
        let plan = target.any_plan();
        let parents: Vec<(String, String, Option<watch::Receiver<LinkState>>)> =
            plan.links.iter().map(|(context, linked)| (context.clone(), linked.clone(), waits.get(linked).cloned())).collect();
        let wanted = linked_by_others.contains(target.name.as_str());
        // A target in a link group cannot move: its parent's result lives on one node.
        let may_move = options.retry_on_other_node && !grouped.contains(&groups[index]);
        let task = TargetTask {
            nodes,
            target,
            group: groups[index],
            pool: &pool,
            auth: auth.clone(),
            status: status.clone(),
            sessions: &sessions,
            publish_to,
            wanted,
            may_move,
        };
        let mut cancelled = cancel_rx.clone();
        let cancel_tx = cancel_tx.clone();
        async move {
            let started = Instant::now();
            let result = tokio::select! {
                r = task.run(parents) => r,
                _ = cancelled.wait_for(|c| *c) => TargetReport::ended(&target.name, TargetEnd::Cancelled, started),
            };
            if matches!(result.end, TargetEnd::Failed(_)) && !options.keep_going {
                let _ = cancel_tx.send(true);
            }
            result
        }
    });
    let all = join_all(tasks);
    tokio::pin!(all);
    let mut interrupted = false;
    let mut reports = tokio::select! {
        done = &mut all => done,
        () = interrupt => {
            interrupted = true;
            let _ = cancel_tx.send(true);
            all.await
        }
    };
    for (name, first) in &same_as {
        if let Some(built) = reports.iter().find(|t| t.name == *first).cloned() {
            reports.push(TargetReport { name: name.to_string(), ..built });
        }
    }
    reports.sort_by(|a, b| a.name.cmp(&b.name));
    Report { targets: reports, interrupted }
}

/// One target's part of a run.
struct TargetTask<'a> {
    nodes: &'a [Node],
    target: &'a Planned,
    group: usize,
    pool: &'a Pool,
    auth: Arc<DockerAuth>,
    status: StatusSink,
    sessions: &'a std::sync::Mutex<Vec<solve::SessionHandle>>,
    /// Where dependents learn this target's result (or why there is none).
    publish_to: Option<watch::Sender<LinkState>>,
    /// Another target links to this one.
    wanted: bool,
    /// `--retry-on-other-node`, for a target no link ties to its node.
    may_move: bool,
}

impl TargetTask<'_> {
    async fn run(self, parents: Vec<(String, String, Option<watch::Receiver<LinkState>>)>) -> TargetReport {
        let started = Instant::now();
        let name = &self.target.name;
        let fail_link = |why: String| {
            if let Some(tx) = &self.publish_to {
                let _ = tx.send(Some(Err(why)));
            }
        };
        let mut links = BTreeMap::new();
        for (context, linked, wait) in parents {
            let state = match wait {
                Some(mut wait) => match wait.wait_for(Option::is_some).await {
                    Ok(state) => state.clone().unwrap_or_else(|| Err(format!("{linked} did not run"))),
                    Err(_) => Err(format!("{linked} did not run")),
                },
                None => Err(format!("{linked} is not among the targets built")),
            };
            match state {
                Ok(result) => {
                    links.insert(context, (linked, result));
                }
                Err(why) => {
                    let why = format!("linked target {linked} failed: {why}");
                    fail_link(why.clone());
                    return TargetReport::ended(name, TargetEnd::Skipped(why), started);
                }
            }
        }
        let mut candidates = self.target.candidates();
        loop {
            let Some(node) = self.pool.acquire(&candidates, self.group).await else {
                let why = "no node that can build it is up".to_string();
                fail_link(why.clone());
                return TargetReport::ended(name, TargetEnd::Failed(why), started);
            };
            // The time a target reports is its build's: from getting a node, not
            // from waiting for linked targets or for room.
            let building = Instant::now();
            let Some(plan) = self.target.plans[node].as_ref() else {
                self.pool.release(node, false);
                return TargetReport::ended(name, TargetEnd::Failed("placed on a node that cannot build it".into()), started);
            };
            let (publish_tx, publish_rx) = oneshot::channel();
            let job = Job {
                engine: &self.nodes[node].engine,
                plan,
                auth: self.auth.clone(),
                links: links.clone(),
                status: self.status.clone(),
                publish: self.wanted.then_some(publish_tx),
            };
            let forward = async {
                if let (Ok(result), Some(tx)) = (publish_rx.await, &self.publish_to) {
                    let _ = tx.send(Some(Ok(result)));
                }
            };
            let (outcome, ()) = tokio::join!(solve::run(job), forward);
            let node_name = self.nodes[node].name.clone();
            let went_away = matches!(&outcome, Err(f) if f.is_node_failure());
            self.pool.release(node, went_away);
            let failure = match outcome {
                Ok(solved) => {
                    let mut report = TargetReport::ended(name, TargetEnd::Built(solved.steps), building);
                    report.exporter_response = solved.exporter_response;
                    report.build_ref = solved.build_ref;
                    report.node = Some(node_name);
                    if let Ok(mut kept) = self.sessions.lock() {
                        kept.push(solved.session);
                    }
                    return report;
                }
                Err(failure) => failure,
            };
            if went_away && self.may_move {
                candidates.retain(|&c| c != node);
                self.pool.unpin(self.group);
                if !candidates.is_empty() {
                    eprintln!("WARNING: target {name}: node {node_name} went away ({failure}); building it on another node");
                    continue;
                }
            }
            let why = if went_away { format!("node {node_name} went away: {failure}") } else { failure.to_string() };
            fail_link(why.clone());
            let end = match failure {
                TargetFailure::Cancelled => TargetEnd::Cancelled,
                _ => TargetEnd::Failed(why),
            };
            let mut report = TargetReport::ended(name, end, building);
            report.node = Some(node_name);
            return report;
        }
    }
}

/// buildx's node id (`~/.docker/buildx/.buildNodeID`) when there is one, so both
/// tools' incremental context transfers share the daemon's copy; else our own.
pub fn node_id(home: &Path) -> String {
    let buildx = home.join(".docker/buildx/.buildNodeID");
    if let Ok(id) = std::fs::read_to_string(&buildx) {
        let id = id.trim();
        if !id.is_empty() {
            return id.to_string();
        }
    }
    let ours = home.join(".local/state/leaven/node-id");
    if let Ok(id) = std::fs::read_to_string(&ours) {
        let id = id.trim();
        if !id.is_empty() {
            return id.to_string();
        }
    }
    let id = hex::encode(&uuid::Uuid::new_v4().as_bytes()[..8]);
    if let Some(dir) = ours.parent() {
        let _ = std::fs::create_dir_all(dir);
        let _ = crate::driver::metadata::write_atomically(&ours, id.as_bytes());
    }
    id
}
