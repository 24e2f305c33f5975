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
pub mod registry;
pub mod solve;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::{oneshot, watch};

use crate::bake::resolve::Selection;
use crate::bake::BakeError;
use crate::session::{AuthError, DockerAuth, OutputError};
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
    #[error(transparent)]
    Bake(#[from] BakeError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Pool(#[from] pool::PoolError),
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
    /// Where it was built (or failed): a node's name, or for a split target
    /// each part's (`a (linux/amd64), b (linux/arm64)`).
    pub node: Option<String>,
    /// A split target: each platform and the node that built it.
    pub platform_nodes: Vec<(String, String)>,
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
            platform_nodes: Vec::new(),
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

/// A target to build: one part (its platforms) built on one node, or, when
/// no node builds all its platforms, a part per group of platforms, each on a
/// node that builds them, joined into one image after.
#[derive(Debug, Clone)]
pub struct Planned {
    pub name: String,
    pub parts: Vec<Part>,
    /// How the parts are joined (a split target).
    pub join: Option<plan::Join>,
}

/// What one node builds of a target.
#[derive(Debug, Clone)]
pub struct Part {
    pub platforms: Vec<String>,
    /// By node index; `None` where that node cannot build it.
    pub plans: Vec<Option<TargetPlan>>,
}

impl Part {
    fn candidates(&self) -> Vec<usize> {
        self.plans.iter().enumerate().filter(|(_, p)| p.is_some()).map(|(i, _)| i).collect()
    }
}

impl Planned {
    fn any_plan(&self) -> &TargetPlan {
        self.parts.iter().flat_map(|p| p.plans.iter().flatten()).next().expect("a planned target has a plan on some node")
    }

    /// Every plan of every part, on every node.
    pub fn plans(&self) -> impl Iterator<Item = &TargetPlan> {
        self.parts.iter().flat_map(|p| p.plans.iter().flatten())
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
/// some node (or, split by platform, each part on some node); every problem of
/// every target at once, before anything runs.
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
    let linked: std::collections::HashSet<&str> =
        selection.targets.values().flat_map(|t| t.contexts.values()).filter_map(|v| v.strip_prefix("target:")).collect();
    let node_platforms: Vec<Vec<String>> = nodes.iter().map(|n| n.engine.offer.platforms.clone()).collect();
    for target in selection.targets.values() {
        let probe = plan::probe(target, cwd, env);
        let plan_on = |target: &crate::bake::model::Target, node: &Node| {
            let shared;
            let target = match share_cache {
                Some(reference) => {
                    shared = with_shared_cache(target, reference, &node.engine.offer);
                    &shared
                }
                None => target,
            };
            plan::plan_target(target, cwd, &probe, &node.engine.offer, node_id)
        };
        let whole: Vec<Result<TargetPlan, PlanError>> = nodes.iter().map(|node| plan_on(target, node)).collect();
        let Some(first) = whole.iter().flatten().next() else {
            let refusals: Vec<(&str, &PlanError)> = nodes.iter().map(|n| n.name.as_str()).zip(whole.iter().filter_map(|r| r.as_ref().err())).collect();
            errors.push(no_node_error(&refusals));
            continue;
        };
        let platforms: Vec<String> = first.attrs.get("platform").map(|p| p.split(',').map(str::to_string).collect()).unwrap_or_default();
        let groups = placement::platform_groups(&platforms, &node_platforms);
        let fail = |message: String| PlanError { target: target.name.clone(), position: target.position.clone(), message };
        if let [group] = groups.as_slice() {
            let mut refusals: Vec<(&str, PlanError)> = Vec::new();
            let mut plans = Vec::new();
            for (i, result) in whole.into_iter().enumerate() {
                let name = nodes[i].name.as_str();
                match result {
                    Ok(plan) if group.candidates.contains(&i) => plans.push(Some(plan)),
                    Ok(_) => {
                        plans.push(None);
                        let missing: Vec<&str> = platforms.iter().filter(|p| !node_platforms[i].contains(p)).map(String::as_str).collect();
                        refusals.push((name, fail(format!("it does not build {} (it builds {})", missing.join(", "), node_platforms[i].join(", ")))));
                    }
                    Err(e) => {
                        plans.push(None);
                        refusals.push((name, e));
                    }
                }
            }
            if plans.iter().any(Option::is_some) {
                planned.push(Planned { name: target.name.clone(), parts: vec![Part { platforms, plans }], join: None });
            } else {
                errors.push(no_node_error(&refusals.iter().map(|(n, e)| (*n, e)).collect::<Vec<_>>()));
            }
            continue;
        }
        // No node builds every platform: a part per group, joined after, as buildx does.
        let span: Vec<String> = groups
            .iter()
            .map(|g| format!("{} on {}", g.platforms.join(", "), g.candidates.iter().map(|&i| nodes[i].name.as_str()).collect::<Vec<_>>().join(" or ")))
            .collect();
        let span = format!("its platforms span nodes ({})", span.join("; "));
        let linking = target.contexts.values().any(|v| v.starts_with("target:"));
        if linking || linked.contains(target.name.as_str()) {
            let how = if linking { "links to another target" } else { "is linked by another target" };
            errors.push(fail(format!("{span}, and it {how}, whose result lives on one node: give it platforms one node builds")));
            continue;
        }
        let mut parts = Vec::new();
        let mut join = None;
        let mut failed = false;
        for group in &groups {
            let (part_target, part_join) = match plan::split_part(target, &group.platforms) {
                Ok(split) => split,
                Err(why) => {
                    errors.push(fail(format!("{span}, which only a registry push (type=image,push=true, type=registry, --push) can join into one image; {why}")));
                    failed = true;
                    break;
                }
            };
            let mut plans = vec![None; nodes.len()];
            let mut refusals = Vec::new();
            for &i in &group.candidates {
                match plan_on(&part_target, &nodes[i]) {
                    Ok(mut plan) => {
                        // Each node's part is an index, which the join merges (buildx forces the same).
                        plan.attrs.insert("multi-platform".into(), "true".into());
                        plans[i] = Some(plan);
                    }
                    Err(e) => refusals.push(format!("node {}: {}", nodes[i].name, e.message)),
                }
            }
            if plans.iter().all(Option::is_none) {
                errors.push(fail(format!("{span}, and no node can build its {} part ({})", group.platforms.join(", "), refusals.join("; "))));
                failed = true;
                break;
            }
            parts.push(Part { platforms: group.platforms.clone(), plans });
            join = Some(part_join);
        }
        if !failed {
            planned.push(Planned { name: target.name.clone(), parts, join });
        }
    }
    if errors.is_empty() {
        Ok(planned)
    } else {
        Err(DriverError::Plan(errors))
    }
}

/// A target no node can build: the one refusal, or each node's reason.
fn no_node_error(refusals: &[(&str, &PlanError)]) -> PlanError {
    match refusals {
        [(_, only)] => (*only).clone(),
        _ => {
            let why: Vec<String> = refusals.iter().map(|(node, e)| format!("node {node}: {}", e.message)).collect();
            let first = refusals.first().map(|(_, e)| (*e).clone()).unwrap_or(PlanError { target: String::new(), position: None, message: String::new() });
            PlanError { message: format!("no node can build it ({})", why.join("; ")), ..first }
        }
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
    /// A node for a target of link `group` (`None`: a part of a split target,
    /// pinned nowhere), waiting while every candidate is full; `None` when no
    /// candidate is up.
    async fn acquire(&self, candidates: &[usize], group: Option<usize>) -> Option<usize> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.state.lock().ok()?;
                let pinned = group.and_then(|g| state.pinned.get(&g).copied());
                match placement::choose(candidates, pinned, &state.loads) {
                    placement::Choice::Node(node) => {
                        state.loads[node].in_flight += 1;
                        if let Some(g) = group {
                            state.pinned.entry(g).or_insert(node);
                        }
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
    fn unpin(&self, group: Option<usize>) {
        if let (Ok(mut state), Some(g)) = (self.state.lock(), group) {
            state.pinned.remove(&g);
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
            let anonymous: Vec<(&[String], Vec<Option<TargetPlan>>)> = t
                .parts
                .iter()
                .map(|part| {
                    let plans = part.plans.iter().map(|p| p.clone().map(|p| TargetPlan { name: String::new(), position: None, ..p })).collect();
                    (part.platforms.as_slice(), plans)
                })
                .collect();
            let key = format!("{anonymous:?} {:?}", t.join);
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
        if let Some(join) = &self.target.join {
            return self.run_split(join, started).await;
        }
        let Some(part) = self.target.parts.first() else {
            return TargetReport::ended(name, TargetEnd::Failed("nothing to build".into()), started);
        };
        let publish = self.wanted.then_some(self.publish_to.as_ref()).flatten();
        match self.solve_on_pool(part, Some(self.group), &links, publish).await {
            Ok(built) => {
                let mut report = TargetReport::ended(name, TargetEnd::Built(built.solved.steps), built.started);
                report.exporter_response = built.solved.exporter_response;
                report.build_ref = built.solved.build_ref;
                report.node = Some(self.nodes[built.node].name.clone());
                self.keep(built.solved.session);
                report
            }
            Err(failed) => {
                fail_link(failed.why.clone());
                let mut report = TargetReport::ended(name, failed.end, failed.started);
                report.node = failed.node.map(|n| self.nodes[n].name.clone());
                report
            }
        }
    }

    fn keep(&self, session: solve::SessionHandle) {
        if let Ok(mut kept) = self.sessions.lock() {
            kept.push(session);
        }
    }

    /// A target split over nodes: every part at once, each on a node that
    /// builds its platforms, pushed by digest; then the join under its tags.
    async fn run_split(&self, join: &plan::Join, started: Instant) -> TargetReport {
        let name = &self.target.name;
        let no_links = &BTreeMap::new();
        // The first part that fails ends the others: the image cannot be joined without it.
        let solves = self.target.parts.iter().map(|part| async move { self.solve_on_pool(part, None, no_links, None).await.map_err(|f| (part, f)) });
        let built = match futures_util::future::try_join_all(solves).await {
            Ok(built) => built,
            Err((part, failed)) => {
                let node = failed.node.map(|n| self.nodes[n].name.clone());
                let why = match &node {
                    Some(node) => format!("its {} part on node {node}: {}", part.platforms.join(", "), failed.why),
                    None => format!("its {} part: {}", part.platforms.join(", "), failed.why),
                };
                let end = if matches!(failed.end, TargetEnd::Cancelled) { TargetEnd::Cancelled } else { TargetEnd::Failed(why) };
                let mut report = TargetReport::ended(name, end, failed.started);
                report.node = node;
                return report;
            }
        };
        let building = built.iter().map(|b| b.started).min().unwrap_or(started);
        let mut steps = StepCount::default();
        let mut platform_nodes = Vec::new();
        let mut pushed = Vec::new();
        let mut missing = None;
        // buildx's build over several nodes has one reference; leaven's parts each their own: the first's.
        let build_ref = built.first().map(|b| b.solved.build_ref.clone()).unwrap_or_default();
        for (part, built) in self.target.parts.iter().zip(built) {
            let node = self.nodes[built.node].name.clone();
            steps.done += built.solved.steps.done;
            steps.cached += built.solved.steps.cached;
            platform_nodes.extend(part.platforms.iter().map(|p| (p.clone(), node.clone())));
            match part_descriptor(&built.solved.exporter_response) {
                Some(descriptor) => pushed.push(registry::PushedPart { platforms: part.platforms.clone(), descriptor }),
                None => missing = Some(format!("node {node} pushed its {} part but answered no image descriptor", part.platforms.join(", "))),
            }
            self.keep(built.solved.session);
        }
        let end = match missing {
            Some(why) => Err(why),
            None => registry::join(&pushed, join, self.auth.clone()).await.map_err(|why| format!("joining the parts under {}: {why}", join.tags.join(", "))),
        };
        let mut report = match end {
            Ok(joined) => {
                let mut report = TargetReport::ended(name, TargetEnd::Built(steps), building);
                report.exporter_response.insert("containerimage.digest".into(), joined.digest);
                report
            }
            Err(why) => TargetReport::ended(name, TargetEnd::Failed(why), building),
        };
        report.node = Some(where_built(&platform_nodes));
        report.platform_nodes = platform_nodes;
        report.build_ref = build_ref;
        report
    }

    /// Builds one part on a node of the pool that can build it (again on
    /// another node when its node went away, with `--retry-on-other-node`).
    async fn solve_on_pool(
        &self,
        part: &Part,
        group: Option<usize>,
        links: &BTreeMap<String, (String, Arc<Linked>)>,
        publish_to: Option<&watch::Sender<LinkState>>,
    ) -> Result<BuiltPart, FailedPart> {
        let name = &self.target.name;
        let mut candidates = part.candidates();
        loop {
            let waiting = Instant::now();
            let Some(node) = self.pool.acquire(&candidates, group).await else {
                let why = "no node that can build it is up".to_string();
                return Err(FailedPart { end: TargetEnd::Failed(why.clone()), why, node: None, started: waiting });
            };
            // The time a target reports is its build's: from getting a node, not
            // from waiting for linked targets or for room.
            let building = Instant::now();
            let Some(plan) = part.plans[node].as_ref() else {
                self.pool.release(node, false);
                let why = "placed on a node that cannot build it".to_string();
                return Err(FailedPart { end: TargetEnd::Failed(why.clone()), why, node: Some(node), started: building });
            };
            let (publish_tx, publish_rx) = oneshot::channel();
            let job = Job {
                engine: &self.nodes[node].engine,
                plan,
                auth: self.auth.clone(),
                links: links.clone(),
                status: self.status.clone(),
                publish: publish_to.is_some().then_some(publish_tx),
            };
            let forward = async {
                if let (Ok(result), Some(tx)) = (publish_rx.await, publish_to) {
                    let _ = tx.send(Some(Ok(result)));
                }
            };
            let (outcome, ()) = tokio::join!(solve::run(job), forward);
            let node_name = self.nodes[node].name.clone();
            let went_away = matches!(&outcome, Err(f) if f.is_node_failure());
            self.pool.release(node, went_away);
            let failure = match outcome {
                Ok(solved) => return Ok(BuiltPart { solved, node, started: building }),
                Err(failure) => failure,
            };
            if went_away && self.may_move {
                candidates.retain(|&c| c != node);
                self.pool.unpin(group);
                if !candidates.is_empty() {
                    eprintln!("WARNING: target {name}: node {node_name} went away ({failure}); building it on another node");
                    continue;
                }
            }
            let why = if went_away {
                format!("node {node_name} went away (the engine at {}): {failure}", self.nodes[node].engine.endpoint.address)
            } else {
                failure.to_string()
            };
            let end = match failure {
                TargetFailure::Cancelled => TargetEnd::Cancelled,
                _ => TargetEnd::Failed(why.clone()),
            };
            return Err(FailedPart { end, why, node: Some(node), started: building });
        }
    }
}

/// A part solved on a node.
struct BuiltPart {
    solved: solve::Solved,
    node: usize,
    /// When it got its node.
    started: Instant,
}

/// A part that did not build: how it ended, why, and where.
struct FailedPart {
    end: TargetEnd,
    why: String,
    node: Option<usize>,
    started: Instant,
}

/// Each node and the platforms it built, as the summary shows them: `a (linux/amd64), b (linux/arm64)`.
fn where_built(platform_nodes: &[(String, String)]) -> String {
    let mut by_node: Vec<(&str, Vec<&str>)> = Vec::new();
    for (platform, node) in platform_nodes {
        match by_node.iter_mut().find(|(n, _)| n == node) {
            Some((_, platforms)) => platforms.push(platform),
            None => by_node.push((node, vec![platform])),
        }
    }
    by_node.iter().map(|(node, platforms)| format!("{node} ({})", platforms.join(", "))).collect::<Vec<_>>().join(", ")
}

/// The descriptor of what a part's image exporter pushed (`containerimage.descriptor`,
/// base64 JSON), else one made of `containerimage.digest` as buildx does for old engines.
fn part_descriptor(response: &BTreeMap<String, String>) -> Option<serde_json::Value> {
    use base64::Engine as _;
    if let Some(encoded) = response.get("containerimage.descriptor") {
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
        return serde_json::from_slice(&bytes).ok();
    }
    response.get("containerimage.digest").map(|digest| serde_json::json!({ "digest": digest }))
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn a_split_target_says_where_each_platform_ran() {
        let pairs = |list: &[(&str, &str)]| list.iter().map(|(p, n)| (p.to_string(), n.to_string())).collect::<Vec<_>>();
        assert_eq!(where_built(&pairs(&[("linux/amd64", "a"), ("linux/arm64", "b")])), "a (linux/amd64), b (linux/arm64)");
        assert_eq!(where_built(&pairs(&[("linux/amd64", "a"), ("linux/arm64", "b"), ("linux/386", "a")])), "a (linux/amd64, linux/386), b (linux/arm64)");
    }

    #[test]
    fn a_part_descriptor_comes_from_the_exporter_response() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(r#"{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:ab","size":3}"#);
        let response = BTreeMap::from([("containerimage.descriptor".to_string(), encoded)]);
        assert_eq!(part_descriptor(&response).unwrap()["digest"], "sha256:ab");
        let old = BTreeMap::from([("containerimage.digest".to_string(), "sha256:cd".to_string())]);
        assert_eq!(part_descriptor(&old).unwrap(), serde_json::json!({ "digest": "sha256:cd" }));
        assert!(part_descriptor(&BTreeMap::new()).is_none());
    }
}
