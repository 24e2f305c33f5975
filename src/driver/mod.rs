//! `leaven bake` building: bake targets solved over BuildKit's control API.
//!
//! The pipeline: [`plan`] turns each resolved target into what its solve needs
//! (and refuses what the engine cannot do, before anything runs); [`engine`]
//! connects and says what the engine offers; [`solve`] runs one target's solve
//! with its session; this module runs many targets at once (links first,
//! `--max-parallel`, fail-fast or `--keep-going`, Ctrl-C) and reports.

pub mod engine;
pub mod metadata;
pub mod plan;
pub mod progress;
mod push;
pub mod solve;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::{oneshot, watch, Semaphore};

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

/// Plans every selected target against the engine; every problem of every target at once.
pub fn plan_all(
    selection: &Selection,
    cwd: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    engine: &Engine,
    node_id: &str,
) -> Result<Vec<TargetPlan>, DriverError> {
    let mut plans = Vec::new();
    let mut errors = Vec::new();
    for target in selection.targets.values() {
        let probe = plan::probe(target, cwd, env);
        match plan::plan_target(target, cwd, &probe, &engine.offer, node_id) {
            Ok(p) => plans.push(p),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(plans)
    } else {
        Err(DriverError::Plan(errors))
    }
}

/// What a dependent waits on: its linked target's result, or why there is none.
type LinkState = Option<Result<Arc<Linked>, String>>;

/// Builds every plan: all at once, each after the targets it links to, at
/// most `max_parallel` solves in flight; the first failure cancels the rest
/// unless `keep_going`; `interrupt` (Ctrl-C) cancels everything.
pub async fn run(
    engine: &Engine,
    plans: Vec<TargetPlan>,
    auth: Arc<DockerAuth>,
    status: StatusSink,
    options: &RunOptions,
    interrupt: impl Future<Output = ()>,
) -> Report {
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let limit = if options.max_parallel == 0 { Semaphore::MAX_PERMITS } else { options.max_parallel };
    let permits = Arc::new(Semaphore::new(limit));
    let mut results: HashMap<String, watch::Sender<LinkState>> = HashMap::new();
    let mut waits: HashMap<String, watch::Receiver<LinkState>> = HashMap::new();
    for p in &plans {
        let (tx, rx) = watch::channel(None);
        results.insert(p.name.clone(), tx);
        waits.insert(p.name.clone(), rx);
    }
    let linked_by_others: std::collections::HashSet<&str> = plans.iter().flat_map(|p| p.links.values().map(String::as_str)).collect();
    // Targets that differ only in name are one build: the first builds, the others share its end.
    let mut first_of_kind: HashMap<String, &str> = HashMap::new();
    let mut same_as: Vec<(&str, &str)> = Vec::new();
    for p in &plans {
        if !p.links.is_empty() || linked_by_others.contains(p.name.as_str()) {
            continue;
        }
        let key = format!("{:?}", TargetPlan { name: String::new(), position: None, ..p.clone() });
        match first_of_kind.get(&key) {
            Some(first) => same_as.push((p.name.as_str(), first)),
            None => {
                first_of_kind.insert(key, p.name.as_str());
            }
        }
    }
    // Sessions stay open until the whole run ends: a linked target's result is
    // built from its session's local sources while dependents still solve.
    let sessions = std::sync::Mutex::new(Vec::new());

    let duplicates: std::collections::HashSet<&str> = same_as.iter().map(|(name, _)| *name).collect();
    let tasks = plans.iter().filter(|p| !duplicates.contains(p.name.as_str())).map(|plan| {
        let publish_to = results.get(&plan.name).cloned();
        let parents: Vec<(String, String, Option<watch::Receiver<LinkState>>)> = plan
            .links
            .iter()
            .map(|(context, target)| (context.clone(), target.clone(), waits.get(target).cloned()))
            .collect();
        let mut cancelled = cancel_rx.clone();
        let cancel_tx = cancel_tx.clone();
        let permits = permits.clone();
        let auth = auth.clone();
        let status = status.clone();
        let sessions = &sessions;
        let wanted = linked_by_others.contains(plan.name.as_str());
        async move {
            let started = Instant::now();
            let report = |end: TargetEnd| TargetReport {
                name: plan.name.clone(),
                end,
                duration: started.elapsed(),
                exporter_response: BTreeMap::new(),
                build_ref: String::new(),
            };
            let fail_link = |why: String| {
                if let Some(tx) = &publish_to {
                    let _ = tx.send(Some(Err(why)));
                }
            };
            let body = async {
                let mut links = BTreeMap::new();
                for (context, target, wait) in parents {
                    let state = match wait {
                        Some(mut wait) => match wait.wait_for(Option::is_some).await {
                            Ok(state) => state.clone().unwrap_or_else(|| Err(format!("{target} did not run"))),
                            Err(_) => Err(format!("{target} did not run")),
                        },
                        None => Err(format!("{target} is not among the targets built")),
                    };
                    match state {
                        Ok(linked) => {
                            links.insert(context, (target, linked));
                        }
                        Err(why) => {
                            let why = format!("linked target {target} failed: {why}");
                            fail_link(why.clone());
                            return report(TargetEnd::Skipped(why));
                        }
                    }
                }
                let _permit = permits.acquire().await;
                let (publish_tx, publish_rx) = oneshot::channel();
                let job = Job { engine, plan, auth, links, status, publish: wanted.then_some(publish_tx) };
                let forward = async {
                    if let (Ok(linked), Some(tx)) = (publish_rx.await, &publish_to) {
                        let _ = tx.send(Some(Ok(linked)));
                    }
                };
                let (outcome, ()) = tokio::join!(solve::run(job), forward);
                match outcome {
                    Ok(solved) => {
                        let mut r = report(TargetEnd::Built(solved.steps));
                        r.exporter_response = solved.exporter_response;
                        r.build_ref = solved.build_ref;
                        if let Ok(mut kept) = sessions.lock() {
                            kept.push(solved.session);
                        }
                        r
                    }
                    Err(failure) => {
                        fail_link(failure.to_string());
                        match failure {
                            TargetFailure::Cancelled => report(TargetEnd::Cancelled),
                            other => report(TargetEnd::Failed(other.to_string())),
                        }
                    }
                }
            };
            let result = tokio::select! {
                r = body => r,
                _ = cancelled.wait_for(|c| *c) => report(TargetEnd::Cancelled),
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
    let mut targets = tokio::select! {
        done = &mut all => done,
        () = interrupt => {
            interrupted = true;
            let _ = cancel_tx.send(true);
            all.await
        }
    };
    for (name, first) in &same_as {
        if let Some(built) = targets.iter().find(|t| t.name == *first).cloned() {
            targets.push(TargetReport { name: name.to_string(), ..built });
        }
    }
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    Report { targets, interrupted }
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
