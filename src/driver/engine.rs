//! One connected engine: its Control channel, what it offers, and how sessions reach it.

use std::collections::BTreeMap;

use http_body_util::{BodyExt, Empty};
use tonic::transport::Channel;

use super::plan::EngineOffer;
use super::DriverError;
use crate::proto::control::control_client::ControlClient;
use crate::proto::control::{InfoRequest, ListWorkersRequest};
use crate::transport::{self, BoxedStream, Endpoint};

/// How a session's connection reaches the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionTransport {
    /// dockerd's `POST /session` upgrade (what buildx uses with the docker driver).
    Upgrade,
    /// A `Control.Session` stream on the control channel (buildkitd; dockerd serves it too).
    Control,
}

impl SessionTransport {
    pub fn parse(text: &str) -> Result<Option<SessionTransport>, String> {
        match text {
            "auto" => Ok(None),
            "upgrade" => Ok(Some(SessionTransport::Upgrade)),
            "control" => Ok(Some(SessionTransport::Control)),
            other => Err(format!("unknown session transport {other:?}: use auto, upgrade or control")),
        }
    }
}

/// The worker label that marks dockerd's containerd image store (buildx reads the same).
const SNAPSHOTTER_LABEL: &str = "org.mobyproject.buildkit.worker.snapshotter";

pub struct Engine {
    pub endpoint: Endpoint,
    pub offer: EngineOffer,
    pub channel: Channel,
    pub session_transport: SessionTransport,
}

impl Engine {
    /// Connects and asks what the engine is and offers (workers, BuildKit version).
    pub async fn connect(endpoint: Endpoint, session: Option<SessionTransport>) -> Result<Engine, DriverError> {
        let docker = endpoint.engine == transport::Engine::Docker;
        let docker_release = if docker { Some(docker_version(&endpoint).await?) } else { None };
        let channel = transport::control_channel(&endpoint).await.map_err(DriverError::Transport)?;
        let mut control = transport::control_client(channel.clone());
        let workers = control
            .list_workers(ListWorkersRequest::default())
            .await
            .map_err(|s| DriverError::Engine(format!("{endpoint}: ListWorkers failed: {}", s.message())))?
            .into_inner()
            .record;
        // Info exists from BuildKit v0.11; older daemons (Docker 20.10) answer Unimplemented.
        let buildkit = match control.info(InfoRequest {}).await {
            Ok(info) => info.into_inner().buildkit_version.map(|v| v.version).unwrap_or_default(),
            Err(_) => String::new(),
        };
        let labels: BTreeMap<&String, &String> = workers.iter().flat_map(|w| w.labels.iter()).collect();
        let containerd_store = docker && labels.keys().any(|k| k.as_str() == SNAPSHOTTER_LABEL);
        let format = |p: &crate::proto::pb::Platform| {
            let mut s = format!("{}/{}", p.os, p.architecture);
            if !p.variant.is_empty() {
                s.push('/');
                s.push_str(&p.variant);
            }
            s
        };
        let local_platform = workers.first().and_then(|w| w.platforms.first()).map(format).unwrap_or_else(crate::bake::local_platform);
        let mut platforms: Vec<String> = Vec::new();
        for p in workers.iter().flat_map(|w| &w.platforms) {
            let p = super::plan::normalize_platform(&format(p));
            if !platforms.contains(&p) {
                platforms.push(p);
            }
        }
        let name = match (&docker_release, buildkit.is_empty()) {
            (Some(release), _) => format!("Docker Engine {release} at {}", endpoint.address),
            (None, false) => format!("buildkitd {buildkit} at {}", endpoint.address),
            (None, true) => format!("buildkitd at {}", endpoint.address),
        };
        // dockerd's BuildKit often reports no usable version (distributions build
        // it as v0.0.0): the engine release says it instead, BuildKit v0.13 came
        // with Docker 26. A buildkitd built from source says v0.0.0 too: current.
        let multiple_exporters = match &docker_release {
            Some(release) => at_least(release, 26, 0),
            None => at_least(&buildkit, 0, 13) || buildkit.trim_start_matches('v').starts_with("0.0.0") || buildkit.is_empty(),
        };
        let offer = EngineOffer { name, docker, containerd_store, multiple_exporters, local_platform, platforms };
        let session_transport = session.unwrap_or(if docker { SessionTransport::Upgrade } else { SessionTransport::Control });
        if session_transport == SessionTransport::Upgrade && !docker {
            return Err(DriverError::Engine(format!("{endpoint} is a buildkitd: sessions go over Control.Session there")));
        }
        Ok(Engine { endpoint, offer, channel, session_transport })
    }

    pub fn control(&self) -> ControlClient<Channel> {
        transport::control_client(self.channel.clone())
    }

    /// Opens the connection a session is served on, carrying its identity headers.
    pub async fn open_session(&self, headers: &[(String, String)]) -> Result<BoxedStream, DriverError> {
        match self.session_transport {
            SessionTransport::Upgrade => transport::open_session_upgrade(&self.endpoint, headers).await,
            SessionTransport::Control => transport::open_session_tunnel(self.control(), headers).await,
        }
        .map_err(DriverError::Transport)
    }
}

/// The engine's release (`28.5.2`), from `GET /version`.
async fn docker_version(endpoint: &Endpoint) -> Result<String, DriverError> {
    let response = transport::request(endpoint, http::Method::GET, "/version", &[], Empty::<bytes::Bytes>::new())
        .await
        .map_err(DriverError::Transport)?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| DriverError::Engine(format!("{endpoint}: GET /version: {e}")))?
        .to_bytes();
    let version: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| DriverError::Engine(format!("{endpoint} did not answer GET /version as a Docker engine does: {e}")))?;
    Ok(version["Version"].as_str().unwrap_or("(unknown version)").to_string())
}

/// Whether a version (`v0.25.1`, `0.13.0-rc1`, `28.5.2+dfsg4`) is at least `major.minor`.
fn at_least(version: &str, major: u64, minor: u64) -> bool {
    let mut parts = version.trim_start_matches('v').split(['.', '-', '+']).map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildkit_versions_compare_by_major_and_minor() {
        assert!(at_least("v0.25.1", 0, 13));
        assert!(at_least("0.13.0-rc1", 0, 13));
        assert!(!at_least("v0.12.5", 0, 13));
        assert!(!at_least("", 0, 13));
        assert!(at_least("v1.0.0", 0, 13));
        assert!(at_least("28.5.2+dfsg4", 26, 0));
        assert!(!at_least("20.10.24+dfsg1", 26, 0));
    }
}
