//! The LLBBridge client: what a frontend asks of BuildKit, whatever carries it.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use tokio::sync::OnceCell;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use crate::llb::{Caps, Platform};
use crate::proto::gateway::llb_bridge_client::LlbBridgeClient;
use crate::proto::gateway::{self as gw, result};
use crate::proto::{fstypes, pb, rpc};

/// What the engine offers, from `Ping`.
#[derive(Debug, Clone, Default)]
pub struct EngineCaps {
    /// Gateway (frontend API) caps that are present and enabled.
    pub gateway: BTreeSet<String>,
    pub llb: Caps,
    /// Platforms of the first worker; the default target platform.
    pub platforms: Vec<Platform>,
}

impl EngineCaps {
    pub fn has_gateway(&self, id: &str) -> bool {
        self.gateway.contains(id)
    }
}

/// A solved (lazy) result: the ref id the engine gave us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolvedRef {
    pub id: String,
}

/// One request's round trip: what it asked for, and when it went out and when
/// its answer came, from the start of the [`RequestLog`].
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    pub what: String,
    pub sent: Duration,
    pub answered: Duration,
}

/// Every request's round trip, for a frontend's log line: which requests waited
/// on which is the critical path of its start→Return time.
#[derive(Debug)]
struct RequestLog {
    started: Instant,
    requests: Mutex<Vec<Timed>>,
}

/// One connection to an LLBBridge. The transport only decides how `channel` was
/// made; a `build_id` is sent when the bridge is shared by several builds (the
/// control API), and is absent on a frontend's own stdio.
#[derive(Clone)]
pub struct GatewayClient {
    bridge: LlbBridgeClient<Channel>,
    build_id: Option<MetadataValue<tonic::metadata::Ascii>>,
    /// Asked for on first need, once: a build overlaps that round trip with
    /// its first requests (Docker 20.10 re-detects emulators on every Ping).
    caps: Arc<OnceCell<EngineCaps>>,
    /// Kept only where someone reads it (the frontend's own log line).
    log: Option<Arc<RequestLog>>,
}

/// The metadata key that tells a shared bridge (the control API) which build a call is for.
const BUILD_ID_KEY: &str = "buildkit-controlapi-buildid";

/// Requests stay under the 4 MiB Docker 20.10 accepts; answers (file reads) may be larger.
const MAX_ANSWER: usize = 64 << 20;

impl GatewayClient {
    /// A client over `channel`. Nothing is sent until the first request; the
    /// engine's caps are asked for when first needed (see [`caps`](Self::caps)).
    pub fn new(channel: Channel, build_id: Option<&str>) -> Result<GatewayClient, Status> {
        let build_id = match build_id {
            Some(id) => Some(id.parse().map_err(|_| Status::invalid_argument("build id is not ASCII"))?),
            None => None,
        };
        let bridge = LlbBridgeClient::new(channel).max_decoding_message_size(MAX_ANSWER);
        Ok(GatewayClient { bridge, build_id, caps: Arc::new(OnceCell::new()), log: None })
    }

    /// This client, keeping each request's round trip from `started` on (see
    /// [`requests`](Self::requests)).
    pub fn logging_requests(self, started: Instant) -> GatewayClient {
        GatewayClient { log: Some(Arc::new(RequestLog { started, requests: Mutex::new(Vec::new()) })), ..self }
    }

    /// The round trips so far, in the order they were sent; none unless logging.
    pub fn requests(&self) -> Vec<Timed> {
        let Some(log) = &self.log else { return Vec::new() };
        let mut requests = log.requests.lock().map(|r| r.clone()).unwrap_or_default();
        requests.sort_by_key(|r| r.sent);
        requests
    }

    /// `call`, its round trip logged as `what` when logging.
    async fn timed<T>(&self, what: impl FnOnce() -> String, call: impl Future<Output = T>) -> T {
        let Some(log) = &self.log else { return call.await };
        let sent = log.started.elapsed();
        let answer = call.await;
        let timed = Timed { what: what(), sent, answered: log.started.elapsed() };
        if let Ok(mut requests) = log.requests.lock() {
            requests.push(timed);
        }
        answer
    }

    /// What the engine offers, from one `Ping` shared by every caller and clone;
    /// callers that come while it is under way wait for that one answer.
    pub async fn caps(&self) -> Result<&EngineCaps, Status> {
        self.caps.get_or_try_init(|| self.ping()).await
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(id) = &self.build_id {
            request.metadata_mut().insert(BUILD_ID_KEY, id.clone());
        }
        request
    }

    async fn ping(&self) -> Result<EngineCaps, Status> {
        let pong = self.timed(|| "ping".into(), self.bridge.clone().ping(self.request(gw::PingRequest {}))).await?.into_inner();
        let enabled = |caps: &[crate::proto::apicaps::ApiCap]| -> Vec<String> {
            caps.iter().filter(|c| c.enabled).map(|c| c.id.clone()).collect()
        };
        let platforms = pong
            .workers
            .first()
            .map(|w| {
                w.platforms
                    .iter()
                    .map(|p| Platform {
                        os: p.os.clone(),
                        architecture: p.architecture.clone(),
                        variant: Some(p.variant.clone()).filter(|v| !v.is_empty()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(EngineCaps {
            gateway: enabled(&pong.frontend_api_caps).into_iter().collect(),
            llb: Caps::from_ids(enabled(&pong.llb_caps)),
            platforms,
        })
    }

    /// The digest (empty for images dockerd found locally) and raw config JSON of an image.
    pub async fn resolve_image_config(
        &self,
        reference: &str,
        platform: &Platform,
        resolve_mode: &str,
    ) -> Result<(String, Vec<u8>), Status> {
        let request = gw::ResolveImageConfigRequest {
            r#ref: reference.to_string(),
            platform: Some(platform.to_pb()),
            resolve_mode: resolve_mode.to_string(),
            log_name: format!("[internal] load metadata for {reference}"),
            ..Default::default()
        };
        let what = || format!("resolve {reference}");
        let answer = self.timed(what, self.bridge.clone().resolve_image_config(self.request(request))).await?.into_inner();
        Ok((answer.digest, answer.config))
    }

    /// Solves a definition to a lazy ref. `evaluate` asks the engine to build it now
    /// (only honoured with the `gateway.solve.evaluate` cap).
    pub async fn solve(
        &self,
        definition: pb::Definition,
        cache_imports: Vec<gw::CacheOptionsEntry>,
        evaluate: bool,
    ) -> Result<SolvedRef, Status> {
        // Named before the definition moves into the request, and only when logged.
        let what = self.log.as_ref().map(|_| format!("solve {}", described(&definition))).unwrap_or_default();
        let request = gw::SolveRequest {
            definition: Some(definition),
            allow_result_return: true,
            allow_result_array_ref: true,
            cache_imports,
            evaluate: evaluate && self.caps().await?.has_gateway("gateway.solve.evaluate"),
            ..Default::default()
        };
        let answer = self.timed(|| what, self.bridge.clone().solve(self.request(request))).await?.into_inner();
        single_ref(answer)
    }

    /// Runs one of the engine's frontends (`dockerfile.v0`) and gives its whole
    /// result: refs with their definitions, and metadata such as the image config.
    pub async fn solve_frontend(
        &self,
        frontend: &str,
        opts: BTreeMap<String, String>,
        inputs: BTreeMap<String, pb::Definition>,
        cache_imports: Vec<gw::CacheOptionsEntry>,
    ) -> Result<gw::Result, Status> {
        let request = gw::SolveRequest {
            frontend: frontend.to_string(),
            frontend_opt: opts,
            frontend_inputs: inputs,
            allow_result_return: true,
            allow_result_array_ref: true,
            cache_imports,
            ..Default::default()
        };
        let answer = self.bridge.clone().solve(self.request(request)).await?.into_inner();
        #[allow(deprecated)]
        match answer.result {
            Some(result) => Ok(result),
            // Servers from before result returns answer a bare ref id.
            None => Ok(gw::Result { result: Some(result::Result::RefDeprecated(answer.r#ref)), metadata: BTreeMap::new() }),
        }
    }

    pub async fn read_file(&self, solved: &SolvedRef, path: &str) -> Result<Vec<u8>, Status> {
        let request = gw::ReadFileRequest { r#ref: solved.id.clone(), file_path: path.to_string(), range: None };
        let what = || format!("read_file {path}");
        Ok(self.timed(what, self.bridge.clone().read_file(self.request(request))).await?.into_inner().data)
    }

    pub async fn stat_file(&self, solved: &SolvedRef, path: &str) -> Result<Option<fstypes::Stat>, Status> {
        let request = gw::StatFileRequest { r#ref: solved.id.clone(), path: path.to_string() };
        let what = || format!("stat_file {path}");
        Ok(self.timed(what, self.bridge.clone().stat_file(self.request(request))).await?.into_inner().stat)
    }

    /// Definitions another frontend passed us (cap `frontend.inputs`); empty otherwise.
    pub async fn inputs(&self) -> Result<BTreeMap<String, pb::Definition>, Status> {
        if !self.caps().await?.has_gateway("frontend.inputs") {
            return Ok(BTreeMap::new());
        }
        let request = self.request(gw::InputsRequest {});
        Ok(self.timed(|| "inputs".into(), self.bridge.clone().inputs(request)).await?.into_inner().definitions)
    }

    /// A warning shown in the build output, where the engine supports it (v0.10+),
    /// with details and the source lines it is about.
    pub async fn warn(
        &self,
        vertex_digest: &str,
        message: &str,
        detail: Vec<Vec<u8>>,
        info: Option<pb::SourceInfo>,
        ranges: Vec<pb::Range>,
    ) -> Result<(), Status> {
        if !self.caps().await?.has_gateway("gateway.warnings") {
            return Ok(());
        }
        let request = gw::WarnRequest {
            digest: vertex_digest.to_string(),
            level: 1,
            short: message.as_bytes().to_vec(),
            detail,
            info,
            ranges,
            ..Default::default()
        };
        self.timed(|| "warn".into(), self.bridge.clone().warn(self.request(request))).await?;
        Ok(())
    }

    /// Ends the build with a result. Metadata carries the image config.
    pub async fn return_result(&self, solved: &SolvedRef, metadata: BTreeMap<String, Vec<u8>>) -> Result<(), Status> {
        let result = if self.caps().await?.has_gateway("proto.refarray") {
            result::Result::Ref(gw::Ref { id: solved.id.clone(), def: None })
        } else {
            result::Result::RefDeprecated(solved.id.clone())
        };
        let request = gw::ReturnRequest { result: Some(gw::Result { result: Some(result), metadata }), error: None };
        self.send_return(request).await
    }

    /// Ends the build with a ref per platform (`linux/amd64` → ref), for a
    /// multi-platform result; metadata carries `refs.platforms` and the configs.
    pub async fn return_platforms(&self, refs: BTreeMap<String, SolvedRef>, metadata: BTreeMap<String, Vec<u8>>) -> Result<(), Status> {
        let result = if self.caps().await?.has_gateway("proto.refarray") {
            let refs = refs.into_iter().map(|(platform, r)| (platform, gw::Ref { id: r.id, def: None })).collect();
            result::Result::Refs(gw::RefMap { refs })
        } else {
            result::Result::RefsDeprecated(gw::RefMapDeprecated { refs: refs.into_iter().map(|(platform, r)| (platform, r.id)).collect() })
        };
        let request = gw::ReturnRequest { result: Some(gw::Result { result: Some(result), metadata }), error: None };
        self.send_return(request).await
    }

    /// Ends the build with another frontend's result, as it came (in the
    /// deprecated id-only forms where the engine lacks `proto.refarray`).
    pub async fn return_frontend_result(&self, result: gw::Result) -> Result<(), Status> {
        let gw::Result { result: refs, metadata } = result;
        let ref_array = self.caps().await?.has_gateway("proto.refarray");
        let refs = match refs {
            Some(result::Result::Ref(r)) if !ref_array => Some(result::Result::RefDeprecated(r.id)),
            Some(result::Result::Refs(map)) if !ref_array => {
                let refs = map.refs.into_iter().map(|(platform, r)| (platform, r.id)).collect();
                Some(result::Result::RefsDeprecated(gw::RefMapDeprecated { refs }))
            }
            other => other,
        };
        let request = gw::ReturnRequest { result: Some(gw::Result { result: refs, metadata }), error: None };
        self.send_return(request).await
    }

    async fn send_return(&self, request: gw::ReturnRequest) -> Result<(), Status> {
        self.timed(|| "return".into(), self.bridge.clone().r#return(self.request(request))).await?;
        Ok(())
    }

    /// Ends the build with an error the user sees.
    pub async fn return_error(&self, error: rpc::Status) -> Result<(), Status> {
        let request = gw::ReturnRequest { result: None, error: Some(error) };
        self.send_return(request).await
    }
}

/// What a definition builds, for the request log: a lone source (the spec's
/// directory, a base image) by its identifier, anything larger by its size.
fn described(definition: &pb::Definition) -> String {
    let source = |op: &[u8]| match pb::Op::decode(op).ok()?.op? {
        pb::op::Op::Source(source) => Some(source.identifier),
        _ => None,
    };
    // A lone source and the terminal op that points at it; a larger definition
    // (the build's own) is not decoded just to be named.
    match definition.def.as_slice() {
        [a, b] => match (source(a), source(b)) {
            (Some(one), None) | (None, Some(one)) => one,
            _ => "2 ops".into(),
        },
        ops => format!("{} ops", ops.len()),
    }
}

/// The one ref a definition's solve gives, in whichever form the engine sent
/// it: we ask for the current forms (`allowResultArrayRef`), which include a
/// ref map; a map of one platform is that ref, and older engines send bare ids.
#[allow(deprecated)]
fn single_ref(answer: gw::SolveResponse) -> Result<SolvedRef, Status> {
    let several = |platforms: Vec<&String>| {
        let names: Vec<&str> = platforms.into_iter().map(String::as_str).collect();
        Status::internal(format!("the engine answered one definition with a result per platform ({})", names.join(", ")))
    };
    let id = match answer.result.and_then(|r| r.result) {
        Some(result::Result::Ref(r)) => r.id,
        Some(result::Result::RefDeprecated(id)) => id,
        Some(result::Result::Refs(map)) if map.refs.len() == 1 => map.refs.into_values().next().map(|r| r.id).unwrap_or_default(),
        Some(result::Result::RefsDeprecated(map)) if map.refs.len() == 1 => map.refs.into_values().next().unwrap_or_default(),
        Some(result::Result::Refs(map)) => return Err(several(map.refs.keys().collect())),
        Some(result::Result::RefsDeprecated(map)) => return Err(several(map.refs.keys().collect())),
        None => answer.r#ref,
    };
    Ok(SolvedRef { id })
}

/// An engine error as a `google.rpc.Status`, keeping its typed details (source
/// locations, failed vertex) so the CLI can still show them.
pub fn forwarded_status(status: &Status) -> rpc::Status {
    match rpc::Status::decode(status.details()) {
        Ok(full) if !status.details().is_empty() => full,
        _ => rpc::Status { code: status.code() as i32, message: status.message().to_string(), details: Vec::new() },
    }
}

/// An error of our own (bad spec, missing target) as a status.
pub fn error_status(code: Code, message: impl Into<String>) -> rpc::Status {
    rpc::Status { code: code as i32, message: message.into(), details: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(result: result::Result) -> gw::SolveResponse {
        gw::SolveResponse { result: Some(gw::Result { result: Some(result), metadata: BTreeMap::new() }), ..Default::default() }
    }

    #[test]
    #[allow(deprecated)]
    fn every_result_form_we_allow_gives_the_ref() {
        let one = |id: &str| gw::Ref { id: id.into(), def: None };
        let got = |r| single_ref(answer(r)).map(|s| s.id);
        assert_eq!(got(result::Result::Ref(one("a"))).unwrap(), "a");
        assert_eq!(got(result::Result::RefDeprecated("b".into())).unwrap(), "b");
        let map = gw::RefMap { refs: [("linux/amd64".to_string(), one("c"))].into() };
        assert_eq!(got(result::Result::Refs(map)).unwrap(), "c");
        let map = gw::RefMapDeprecated { refs: [("linux/amd64".to_string(), "d".to_string())].into() };
        assert_eq!(got(result::Result::RefsDeprecated(map)).unwrap(), "d");
        let two = gw::RefMap { refs: [("linux/amd64".to_string(), one("e")), ("linux/arm64".to_string(), one("f"))].into() };
        let err = got(result::Result::Refs(two)).unwrap_err();
        assert!(err.message().contains("linux/amd64, linux/arm64"), "{}", err.message());
        let bare = gw::SolveResponse { r#ref: "g".into(), ..Default::default() };
        assert_eq!(single_ref(bare).unwrap().id, "g");
    }
}
