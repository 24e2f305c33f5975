//! One target's solve over the control API, as BuildKit's own client runs it:
//! the session, `Control.Solve`, its `Status` stream and the client-side gateway
//! build (the Dockerfile frontend, or a leaven spec compiled here) together.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt;
use tokio::sync::oneshot;

use super::engine::Engine;
use super::plan::{Frontend, TargetPlan};
use super::DriverError;
use crate::frontend::{self, FrontendError};
use crate::gateway::opts::FrontendOpts;
use crate::gateway::GatewayClient;
use crate::proto::control::{CacheOptions, CacheOptionsEntry, Exporter, SolveRequest, StatusRequest};
use crate::proto::gateway::{self as gw, result};
use crate::proto::pb;
use crate::task::Scoped;
use crate::session::{DockerAuth, FileOutputs, Services, Session, SyncedDir};

/// A finished target's result, as a target linked to it (`target:NAME`) builds on it.
#[derive(Debug, Clone)]
pub struct Linked {
    pub definition: pb::Definition,
    /// The image config the result carries (`containerimage.config`), if any.
    pub config: Option<Vec<u8>>,
}

/// Progress updates of every target go to one printer.
pub type StatusSink = super::progress::ProgressHandle;

/// What one target's solve needs besides its plan.
pub struct Job<'a> {
    pub engine: &'a Engine,
    pub plan: &'a TargetPlan,
    pub auth: Arc<DockerAuth>,
    /// Named context → (linked target, its result).
    pub links: BTreeMap<String, (String, Arc<Linked>)>,
    pub status: StatusSink,
    /// Told the result as soon as the gateway build has it, before exporting.
    pub publish: Option<oneshot::Sender<Arc<Linked>>>,
}

/// A solved target.
pub struct Solved {
    pub build_ref: String,
    pub exporter_response: BTreeMap<String, String>,
    /// Steps that ran and steps the engine had cached.
    pub steps: StepCount,
    /// The target's session, kept open while linked targets still build on its result.
    pub session: SessionHandle,
}

/// How many steps of a solve completed, and how many of those came from the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepCount {
    pub done: usize,
    pub cached: usize,
}

/// A running session; dropping it closes the connection.
pub type SessionHandle = Scoped<()>;

/// How long Status may stay silent after the solve returned before it is dropped
/// (BuildKit's client waits the same).
const STATUS_DRAIN: Duration = Duration::from_secs(5);
/// How long a solve may run on after the gateway side failed without returning.
const GATEWAY_GRACE: Duration = Duration::from_secs(5);

/// A random build reference, as BuildKit's client makes them.
fn new_ref() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The key a linked target's result is passed under, as buildx names it (node 0).
fn input_key(linked: &str) -> String {
    format!("0-{linked}")
}

/// Frontend attrs for the solve: the plan's, plus one input per linked context.
fn attrs_with_links(plan: &TargetPlan, links: &BTreeMap<String, (String, Arc<Linked>)>) -> BTreeMap<String, String> {
    let mut attrs = plan.attrs.clone();
    for (context, (target, linked)) in links {
        let key = input_key(target);
        attrs.insert(format!("context:{context}"), format!("input:{key}"));
        if let Some(config) = &linked.config {
            let metadata = serde_json::json!({ "containerimage.config": base64::engine::general_purpose::STANDARD.encode(config) });
            attrs.insert(format!("input-metadata:{key}"), metadata.to_string());
        }
    }
    attrs
}

fn inputs(links: &BTreeMap<String, (String, Arc<Linked>)>) -> BTreeMap<String, pb::Definition> {
    links.values().map(|(target, linked)| (input_key(target), linked.definition.clone())).collect()
}

/// The session a target's solve uses: its directories, secrets, agents, outputs and auth.
fn session_for(plan: &TargetPlan, outputs: &Arc<FileOutputs>, auth: &Arc<DockerAuth>) -> Session {
    let services = Services {
        dirs: plan.dirs.iter().map(|(name, root)| (name.clone(), SyncedDir { root: root.clone() })).collect(),
        secrets: plan.secrets.clone(),
        ssh_agents: plan.ssh_agents.clone(),
        outputs: (!outputs.is_empty()).then(|| outputs.clone()),
        auth: Some(auth.clone()),
    };
    Session::new(plan.shared_key.clone(), services)
}

fn solve_request(plan: &TargetPlan, build_ref: &str, session_id: &str, attrs: BTreeMap<String, String>, inputs: BTreeMap<String, pb::Definition>) -> SolveRequest {
    let exporters: Vec<Exporter> =
        plan.exporters.iter().map(|e| Exporter { r#type: e.kind.clone(), attrs: e.attrs.clone() }).collect();
    let entry = |c: &super::plan::CacheEntry| CacheOptionsEntry { r#type: c.kind.clone(), attrs: c.attrs.clone() };
    SolveRequest {
        r#ref: build_ref.to_string(),
        definition: None,
        // Daemons before BuildKit v0.13 read only the single-exporter fields.
        exporter_deprecated: exporters.first().map(|e| e.r#type.clone()).unwrap_or_default(),
        exporter_attrs_deprecated: exporters.first().map(|e| e.attrs.clone()).unwrap_or_default(),
        session: session_id.to_string(),
        frontend: String::new(),
        frontend_attrs: attrs,
        cache: Some(CacheOptions {
            exports: plan.cache_exports.iter().map(entry).collect(),
            imports: plan.cache_imports.iter().map(entry).collect(),
        }),
        entitlements: plan.entitlements.clone(),
        frontend_inputs: inputs,
        internal: false,
        exporters,
    }
}

/// Why a target failed.
#[derive(Debug)]
pub enum TargetFailure {
    /// The spec is wrong (located, with a code frame).
    Spec(crate::hcl::Diagnostic),
    /// The engine failed the build (a step, a missing file, an export).
    Build(BuildError),
    /// Our side failed: the session, a file output, a push.
    Driver(DriverError),
    Cancelled,
}

impl TargetFailure {
    /// The engine stopped answering (its connection broke, or it is gone), as
    /// opposed to failing the build: another node could build the target.
    pub fn is_node_failure(&self) -> bool {
        match self {
            TargetFailure::Driver(DriverError::Transport(_)) => true,
            // tonic says "transport error" (code Unknown) when the connection
            // under a running call breaks, Unavailable when it cannot connect.
            TargetFailure::Build(e) => {
                e.status.code() == tonic::Code::Unavailable || (e.status.code() == tonic::Code::Unknown && e.status.message() == "transport error")
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for TargetFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetFailure::Spec(d) => write!(f, "{d}"),
            TargetFailure::Build(e) => match e.located() {
                Some(located) => write!(f, "{located}"),
                None => f.write_str(e.status.message()),
            },
            TargetFailure::Driver(e) => write!(f, "{e}"),
            TargetFailure::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// A build the engine failed, with what locates the failed step in a spec.
#[derive(Debug)]
pub struct BuildError {
    pub status: tonic::Status,
    /// The source map of the spec's definition, when we compiled one.
    pub source_map: Option<pb::Source>,
    /// The vertex progress reported as failed (engines that attach no error details).
    pub failed_vertex: Option<String>,
}

impl BuildError {
    /// The failed step's spec line: from the engine's source detail, else from our
    /// own source map by the failed vertex (named in the error or in progress).
    fn located(&self) -> Option<crate::hcl::Diagnostic> {
        source_of(&self.status).or_else(|| {
            let map = self.source_map.as_ref()?;
            let digest = vertex_of(&self.status).or_else(|| self.failed_vertex.clone())?;
            located_in(map, &digest, self.status.message())
        })
    }
}

/// Where the engine says a failed step comes from (the `errdefs.Source` detail of
/// its error, which the definition's source map put there), as a located message
/// with the source line: `app.hcl:12:3: process … did not complete successfully`.
fn source_of(status: &tonic::Status) -> Option<crate::hcl::Diagnostic> {
    use prost::Message;
    let full = crate::proto::rpc::Status::decode(status.details()).ok()?;
    let (filename, data, line, character) = full.details.iter().find_map(|d| {
        if d.type_url.ends_with("errdefs.Source") {
            let source = crate::proto::errdefs::Source::decode(d.value.as_slice()).ok()?;
            let info = source.info?;
            let start = source.ranges.first()?.start?;
            Some((info.filename, info.data, i64::from(start.line), i64::from(start.character)))
        } else if d.type_url.ends_with("errdefs.Source+json") {
            source_from_json(&d.value)
        } else {
            None
        }
    })?;
    diagnostic_at(filename, &data, line, character, status.message())
}

/// The failed vertex an error names (`errdefs.Vertex`), if it carries details.
fn vertex_of(status: &tonic::Status) -> Option<String> {
    use prost::Message;
    let full = crate::proto::rpc::Status::decode(status.details()).ok()?;
    full.details.iter().find_map(|d| {
        if d.type_url.ends_with("errdefs.Vertex") {
            crate::proto::errdefs::Vertex::decode(d.value.as_slice()).ok().map(|v| v.digest)
        } else if d.type_url.ends_with("errdefs.Vertex+json") {
            let value: serde_json::Value = serde_json::from_slice(&d.value).ok()?;
            value["digest"].as_str().map(str::to_string)
        } else {
            None
        }
    })
}

/// A vertex's location in a source map, as a located message.
fn located_in(map: &pb::Source, digest: &str, message: &str) -> Option<crate::hcl::Diagnostic> {
    let locations = map.locations.get(digest)?.fields().locations;
    let location = locations.first()?;
    let info = map.infos.get(usize::try_from(location.source_index).ok()?)?;
    let start = location.ranges.first()?.start?;
    diagnostic_at(info.filename.clone(), &info.data, i64::from(start.line), i64::from(start.character), message)
}

/// A message at a 1-based line and 0-based character of a source file's text.
fn diagnostic_at(filename: String, data: &[u8], line: i64, character: i64, message: &str) -> Option<crate::hcl::Diagnostic> {
    let file = crate::hcl::SourceFile::new(filename, String::from_utf8_lossy(data).into_owned());
    let line = usize::try_from(line).ok().filter(|l| *l > 0)?;
    let column = usize::try_from(character).unwrap_or(0) + 1;
    Some(crate::hcl::Diagnostic::at_line(&file, line, column, message))
}

/// The JSON form BuildKit also uses for the detail (Go's encoding of the struct:
/// `info.filename`, base64 `info.data`, `ranges[].start.{line,character}`).
fn source_from_json(json: &[u8]) -> Option<(String, Vec<u8>, i64, i64)> {
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    let info = &value["info"];
    let filename = info["filename"].as_str()?.to_string();
    let data = base64::engine::general_purpose::STANDARD.decode(info["data"].as_str().unwrap_or_default()).ok()?;
    let start = &value["ranges"][0]["start"];
    Some((filename, data, start["line"].as_i64()?, start["character"].as_i64().unwrap_or(0)))
}

/// What the gateway side of a solve ended with.
enum GatewayEnd {
    /// With the source map of the definition returned, when it was a spec's.
    Returned(Option<pb::Source>),
    /// A spec error was returned to the engine; we show it ourselves, with its code frame.
    ReturnedSpecError(crate::hcl::Diagnostic),
    /// The bridge failed before `Return`: the solve would wait forever.
    Broken(tonic::Status),
}

/// Runs one target's solve to the end (exported, file outputs in place).
pub async fn run(job: Job<'_>) -> Result<Solved, TargetFailure> {
    let Job { engine, plan, auth, links, status, publish } = job;
    let outputs = Arc::new(FileOutputs::new(plan.file_outputs.clone()));
    let session = session_for(plan, &outputs, &auth);
    let session_id = session.id.clone();
    let build_ref = new_ref();
    let attrs = attrs_with_links(plan, &links);
    let inputs = inputs(&links);

    // The daemon waits only seconds for a session a local source names: connect it first.
    let connection = engine.open_session(&session.headers()).await.map_err(TargetFailure::Driver)?;
    let session = SessionHandle::spawn(async move {
        let _ = session.serve(connection).await;
    });

    let request = solve_request(plan, &build_ref, &session_id, attrs.clone(), inputs.clone());
    let mut control = engine.control();
    let (gateway_failed_tx, gateway_failed_rx) = oneshot::channel::<()>();
    let solve = async move {
        let call = control.solve(request);
        tokio::pin!(call);
        tokio::select! {
            answer = &mut call => answer.map(|r| r.into_inner().exporter_response),
            // Only a failure counts: the sender is also dropped when the gateway side returned fine.
            Ok(()) = gateway_failed_rx => match tokio::time::timeout(GATEWAY_GRACE, &mut call).await {
                Ok(answer) => answer.map(|r| r.into_inner().exporter_response),
                Err(_) => Err(tonic::Status::cancelled("the gateway build ended without a result")),
            },
        }
    };
    let gateway = async {
        let end = gateway_build(engine, plan, &build_ref, &session_id, attrs, inputs, publish).await;
        if matches!(end, GatewayEnd::Broken(_)) {
            let _ = gateway_failed_tx.send(());
        }
        end
    };
    let (solve_done_tx, solve_done_rx) = oneshot::channel::<()>();
    let progress = forward_status(engine, &build_ref, &plan.name, status, solve_done_rx);
    let work = async {
        let (answer, end) = tokio::join!(solve, gateway);
        let _ = solve_done_tx.send(());
        (answer, end)
    };
    let ((answer, end), progress) = tokio::join!(work, progress);

    let exporter_response = match (answer, end) {
        (_, GatewayEnd::ReturnedSpecError(d)) => Err(TargetFailure::Spec(d)),
        (_, GatewayEnd::Broken(status)) => Err(TargetFailure::Build(BuildError { status, source_map: None, failed_vertex: None })),
        (Err(status), GatewayEnd::Returned(_)) if status.code() == tonic::Code::Cancelled => Err(TargetFailure::Cancelled),
        (Err(status), GatewayEnd::Returned(source_map)) => {
            Err(TargetFailure::Build(BuildError { status, source_map, failed_vertex: progress.failed_vertex.clone() }))
        }
        (Ok(response), GatewayEnd::Returned(_)) => Ok(response),
    };
    let exporter_response = match exporter_response {
        Ok(response) => response,
        Err(failure) => {
            outputs.discard();
            return Err(failure);
        }
    };
    outputs.commit().map_err(|e| TargetFailure::Driver(DriverError::Output(e)))?;
    for name in &plan.push {
        super::push::push(&engine.endpoint, &auth, name).await.map_err(TargetFailure::Driver)?;
    }
    Ok(Solved { build_ref, exporter_response, steps: progress.steps, session })
}

/// The client side of the gateway: what `# syntax=` would run in a container,
/// run here. Always ends in `Return` unless the bridge itself broke.
async fn gateway_build(
    engine: &Engine,
    plan: &TargetPlan,
    build_ref: &str,
    session_id: &str,
    attrs: BTreeMap<String, String>,
    inputs: BTreeMap<String, pb::Definition>,
    publish: Option<oneshot::Sender<Arc<Linked>>>,
) -> GatewayEnd {
    let client = match GatewayClient::new(engine.channel.clone(), Some(build_ref)) {
        Ok(client) => client,
        Err(status) => return GatewayEnd::Broken(status),
    };
    let returned = match plan.frontend {
        Frontend::Spec => {
            let opts = FrontendOpts { values: attrs, session_id: Some(session_id.to_string()), ..FrontendOpts::default() };
            match frontend::build(&client, &opts).await {
                Ok(built) => {
                    let map = built.platforms.first().and_then(|p| p.definition.source.clone());
                    if let Some(publish) = publish {
                        match built.single() {
                            Some(one) => {
                                let config = built.metadata.get("containerimage.config").cloned();
                                let _ = publish.send(Arc::new(Linked { definition: one.definition.clone(), config }));
                            }
                            None => {
                                let status = crate::gateway::error_status(
                                    tonic::Code::Unimplemented,
                                    format!("target {} is linked by another target, which needs a single-platform result", plan.name),
                                );
                                return match client.return_error(status).await {
                                    Ok(()) => GatewayEnd::Returned(None),
                                    Err(status) => GatewayEnd::Broken(status),
                                };
                            }
                        }
                    }
                    (built.return_to(&client).await, map)
                }
                Err(FrontendError::Spec { diagnostic, text }) => {
                    let status = FrontendError::Spec { diagnostic: diagnostic.clone(), text }.to_status();
                    return match client.return_error(status).await {
                        Ok(()) => GatewayEnd::ReturnedSpecError(diagnostic),
                        Err(status) => GatewayEnd::Broken(status),
                    };
                }
                Err(other) => (client.return_error(other.to_status()).await, None),
            }
        }
        Frontend::Dockerfile => {
            let cache_imports = plan
                .cache_imports
                .iter()
                .map(|c| gw::CacheOptionsEntry { r#type: c.kind.clone(), attrs: c.attrs.clone() })
                .collect();
            match client.solve_frontend("dockerfile.v0", attrs, inputs, cache_imports).await {
                Ok(result) => {
                    if let Some(publish) = publish {
                        match linked_of(&result) {
                            Some(linked) => {
                                let _ = publish.send(Arc::new(linked));
                            }
                            None => {
                                let status = crate::gateway::error_status(
                                    tonic::Code::Unimplemented,
                                    format!("target {} is linked by another target, which needs a single-platform result with its definition", plan.name),
                                );
                                return match client.return_error(status).await {
                                    Ok(()) => GatewayEnd::Returned(None),
                                    Err(status) => GatewayEnd::Broken(status),
                                };
                            }
                        }
                    }
                    (client.return_frontend_result(result).await, None)
                }
                Err(status) => (client.return_error(crate::gateway::forwarded_status(&status)).await, None),
            }
        }
    };
    match returned {
        (Ok(()), map) => GatewayEnd::Returned(map),
        (Err(status), _) => GatewayEnd::Broken(status),
    }
}

/// What a dependent builds on: the result's definition and its image config.
fn linked_of(result: &gw::Result) -> Option<Linked> {
    let definition = match &result.result {
        Some(result::Result::Ref(r)) => r.def.clone()?,
        _ => return None,
    };
    Some(Linked { definition, config: result.metadata.get("containerimage.config").cloned() })
}

/// What a solve's progress said, besides what was printed.
#[derive(Debug, Default)]
struct Watched {
    steps: StepCount,
    /// The first vertex reported failed (not cancelled).
    failed_vertex: Option<String>,
}

/// Forwards the solve's progress to the printer until the stream ends, or until
/// it has been silent for a while after the solve returned. Counts the steps.
async fn forward_status(engine: &Engine, build_ref: &str, target: &str, sink: StatusSink, solve_done: oneshot::Receiver<()>) -> Watched {
    let mut counted: BTreeMap<String, bool> = BTreeMap::new();
    let mut failed_vertex = None;
    let mut stream = match engine.control().status(StatusRequest { r#ref: build_ref.to_string() }).await {
        Ok(response) => response.into_inner(),
        Err(_) => return Watched::default(),
    };
    let mut solve_done = Some(solve_done);
    loop {
        let next = match solve_done.as_mut() {
            Some(done) => tokio::select! {
                message = stream.next() => message,
                _ = done => {
                    solve_done = None;
                    continue;
                }
            },
            None => match tokio::time::timeout(STATUS_DRAIN, stream.next()).await {
                Ok(message) => message,
                Err(_) => break,
            },
        };
        match next {
            Some(Ok(update)) => {
                for v in &update.vertexes {
                    if v.completed.is_some() && v.error.is_empty() {
                        counted.insert(v.digest.clone(), v.cached);
                    }
                    if !v.error.is_empty() && !v.error.ends_with("context canceled") && failed_vertex.is_none() {
                        failed_vertex = Some(v.digest.clone());
                    }
                }
                sink.send(target, update).await;
            }
            Some(Err(_)) | None => break,
        }
    }
    Watched { steps: StepCount { done: counted.len(), cached: counted.values().filter(|c| **c).count() }, failed_vertex }
}
