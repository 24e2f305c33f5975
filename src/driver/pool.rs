//! The engines one bake run spreads over: `--node NAME=ADDRESS[,key=value…]`
//! flags or a pool file, each a dockerd or a buildkitd endpoint.
//!
//! A pool file is JSON with the same keys a flag takes:
//!
//! ```json
//! { "nodes": [
//!     { "name": "local", "address": "unix:///var/run/docker.sock" },
//!     { "name": "big", "address": "tcp://10.0.0.2:2376", "certs": "/etc/leaven/big" },
//!     { "name": "bk", "address": "tcp://10.0.0.3:1234", "engine": "buildkitd",
//!       "ca": "/etc/bk/ca.pem", "cert": "/etc/bk/cert.pem", "key": "/etc/bk/key.pem" },
//!     { "name": "arm", "address": "unix:///run/arm.sock", "platforms": ["linux/arm64"] }
//! ] }
//! ```
//!
//! `platforms` (in a flag `platforms=linux/amd64,linux/arm64`: the fields after
//! it without `=` are more platforms) says which platforms a node builds, as
//! `docker buildx create --platform` does; without it, the platforms its
//! workers report.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::transport::{self, BuildkitTlsOptions, Endpoint, EndpointError, Origin};

/// One node as written: a name, an address, and how to reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub name: String,
    pub address: String,
    /// `docker` (default) or `buildkitd`.
    #[serde(default)]
    pub engine: Option<String>,
    /// A dockerd's TLS directory (`ca.pem`, `cert.pem`, `key.pem`), as `DOCKER_CERT_PATH`.
    #[serde(default)]
    pub certs: Option<PathBuf>,
    /// A buildkitd's TLS files and server name, as buildctl's `--tlscacert` etc.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    #[serde(default)]
    pub servername: Option<String>,
    /// The platforms the node builds (`os/arch[/variant]`); else its workers'.
    #[serde(default)]
    pub platforms: Option<Vec<String>>,
}

/// A node ready to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub endpoint: Endpoint,
    /// Declared platforms, normalized; empty: the workers' platforms.
    pub platforms: Vec<String>,
}

/// A `--node` flag, a pool file or a node in them that does not name an engine.
/// `given_by` is where the node was given (`--node`, the pool file).
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("--node {0:?}: want NAME=ADDRESS[,key=value…]")]
    NotAFlag(String),
    #[error("--node {name}: {field:?} is not key=value")]
    NotKeyValue { name: String, field: String },
    #[error("--node {name}: unknown key {key:?}; the keys are engine, certs, ca, cert, key, servername, platforms")]
    UnknownKey { name: String, key: String },
    #[error("{}: cannot read: {error}", .path.display())]
    Unreadable { path: PathBuf, error: std::io::Error },
    #[error("{}: not a pool file: {error}", .path.display())]
    NotAPoolFile { path: PathBuf, error: serde_json::Error },
    #[error("{given_by}: node name {name:?} is not letters, digits, '-', '_' or '.'")]
    BadName { given_by: String, name: String },
    #[error("{given_by}: two nodes are named {name:?}")]
    TwoNamed { given_by: String, name: String },
    #[error("{given_by}: node {name}: {problem}")]
    Node { given_by: String, name: String, problem: NodeProblem },
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
}

/// What is wrong with one node's settings.
#[derive(Debug, thiserror::Error)]
pub enum NodeProblem {
    #[error("a docker node takes its TLS files from certs=DIR")]
    DockerTls,
    #[error("a buildkitd node takes ca=, cert=, key= (certs= is for docker)")]
    BuildkitdCerts,
    #[error("engine {0:?} is not docker or buildkitd")]
    UnknownEngine(String),
    #[error("platform {0:?} is not os/arch[/variant]")]
    BadPlatform(String),
}

/// `NAME=ADDRESS[,key=value…]`, the keys of [`NodeConfig`].
pub fn parse_node_flag(text: &str) -> Result<NodeConfig, PoolError> {
    let (name, rest) = text.split_once('=').ok_or_else(|| PoolError::NotAFlag(text.to_string()))?;
    let mut fields = rest.split(',');
    let address = fields.next().unwrap_or_default().to_string();
    let mut node = NodeConfig { name: name.to_string(), address, ..NodeConfig::default() };
    for field in fields {
        let Some((key, value)) = field.split_once('=') else {
            // `platforms=a,b`: a field without `=` after it is one more platform.
            match node.platforms.as_mut() {
                Some(platforms) => platforms.push(field.to_string()),
                None => return Err(PoolError::NotKeyValue { name: name.to_string(), field: field.to_string() }),
            }
            continue;
        };
        match key {
            "engine" => node.engine = Some(value.to_string()),
            "certs" => node.certs = Some(value.into()),
            "ca" => node.ca = Some(value.into()),
            "cert" => node.cert = Some(value.into()),
            "key" => node.key = Some(value.into()),
            "servername" => node.servername = Some(value.to_string()),
            "platforms" => node.platforms = Some(vec![value.to_string()]),
            other => return Err(PoolError::UnknownKey { name: name.to_string(), key: other.to_string() }),
        }
    }
    Ok(node)
}

/// The nodes of a pool file.
pub fn read_pool_file(path: &Path) -> Result<Vec<NodeConfig>, PoolError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PoolFile {
        nodes: Vec<NodeConfig>,
    }
    let text = std::fs::read_to_string(path).map_err(|error| PoolError::Unreadable { path: path.to_path_buf(), error })?;
    let file: PoolFile = serde_json::from_str(&text).map_err(|error| PoolError::NotAPoolFile { path: path.to_path_buf(), error })?;
    Ok(file.nodes)
}

/// Checks names (present, unique) and resolves each node's endpoint.
pub fn resolve(nodes: Vec<NodeConfig>, given_by: &str) -> Result<Vec<NodeSpec>, PoolError> {
    let mut specs: Vec<NodeSpec> = Vec::new();
    for node in nodes {
        let refused = |problem| PoolError::Node { given_by: given_by.to_string(), name: node.name.clone(), problem };
        let valid_name = !node.name.is_empty() && node.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid_name {
            return Err(PoolError::BadName { given_by: given_by.to_string(), name: node.name.clone() });
        }
        if specs.iter().any(|s| s.name == node.name) {
            return Err(PoolError::TwoNamed { given_by: given_by.to_string(), name: node.name.clone() });
        }
        let origin = Origin::Node { name: node.name.clone(), given_by: given_by.to_string() };
        let endpoint = match node.engine.as_deref().unwrap_or("docker") {
            "docker" => {
                if node.ca.is_some() || node.cert.is_some() || node.key.is_some() || node.servername.is_some() {
                    return Err(refused(NodeProblem::DockerTls));
                }
                transport::docker_host_endpoint(&node.address, node.certs.as_deref(), origin)
            }
            "buildkitd" => {
                if node.certs.is_some() {
                    return Err(refused(NodeProblem::BuildkitdCerts));
                }
                let tls = BuildkitTlsOptions { ca: node.ca, cert: node.cert, key: node.key, server_name: node.servername };
                transport::buildkit_endpoint(&node.address, tls, origin)
            }
            other => return Err(refused(NodeProblem::UnknownEngine(other.to_string()))),
        }?;
        let mut platforms = Vec::new();
        for text in node.platforms.iter().flatten().filter(|p| !p.trim().is_empty()) {
            let platform = crate::llb::Platform::parse(text)
                .ok_or_else(|| refused(NodeProblem::BadPlatform(text.to_string())))?;
            platforms.push(super::plan::normalize_platform(&platform.to_string()));
        }
        specs.push(NodeSpec { name: node.name, endpoint, platforms });
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_an_address_and_options() {
        let node = parse_node_flag("b=tcp://10.0.0.3:1234,engine=buildkitd,ca=/c.pem,servername=bk").unwrap();
        assert_eq!(node.name, "b");
        assert_eq!(node.address, "tcp://10.0.0.3:1234");
        assert_eq!(node.engine.as_deref(), Some("buildkitd"));
        assert_eq!(node.ca, Some(PathBuf::from("/c.pem")));
        assert!(parse_node_flag("noequals").unwrap_err().to_string().contains("NAME=ADDRESS"));
        assert!(parse_node_flag("a=unix:///s,colour=red").unwrap_err().to_string().contains("unknown key \"colour\""));
        let node = parse_node_flag("a=unix:///s,platforms=linux/amd64,linux/arm64,certs=/d").unwrap();
        assert_eq!(node.platforms, Some(vec!["linux/amd64".to_string(), "linux/arm64".to_string()]));
        assert_eq!(node.certs, Some(PathBuf::from("/d")));
        assert!(parse_node_flag("a=unix:///s,linux/arm64").unwrap_err().to_string().contains("is not key=value"));
    }

    #[test]
    fn declared_platforms_are_checked_and_normalized() {
        let node = |platforms: &[&str]| NodeConfig {
            name: "a".into(),
            address: "unix:///a.sock".into(),
            platforms: Some(platforms.iter().map(|p| p.to_string()).collect()),
            ..NodeConfig::default()
        };
        let specs = resolve(vec![node(&["linux/arm64/v8", "linux/amd64"])], "--node").unwrap();
        assert_eq!(specs[0].platforms, ["linux/arm64", "linux/amd64"]);
        assert_eq!(resolve(vec![node(&["arm64"])], "--node").unwrap_err().to_string(), "--node: node a: platform \"arm64\" is not os/arch[/variant]");
    }

    #[test]
    fn nodes_resolve_to_endpoints_named_in_errors() {
        let nodes = vec![
            NodeConfig { name: "a".into(), address: "unix:///run/a.sock".into(), ..NodeConfig::default() },
            NodeConfig { name: "b".into(), address: "tcp://10.0.0.3:1234".into(), engine: Some("buildkitd".into()), ..NodeConfig::default() },
        ];
        let specs = resolve(nodes, "--node").unwrap();
        assert_eq!(specs[0].endpoint.engine, transport::Engine::Docker);
        assert_eq!(specs[1].endpoint.engine, transport::Engine::Buildkitd);
        assert_eq!(specs[1].endpoint.origin.to_string(), "node \"b\" of --node");
        let twice = vec![NodeConfig { name: "a".into(), address: "unix:///x".into(), ..NodeConfig::default() }; 2];
        assert_eq!(resolve(twice, "pool.json").unwrap_err().to_string(), "pool.json: two nodes are named \"a\"");
        let bad = vec![NodeConfig { name: "a".into(), address: "unix:///x".into(), engine: Some("podman".into()), ..NodeConfig::default() }];
        assert!(resolve(bad, "--node").unwrap_err().to_string().contains("engine \"podman\""));
    }

    #[test]
    fn pool_files_are_json_with_the_flag_keys() {
        let dir = std::env::temp_dir().join(format!("leaven-pool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pool.json");
        std::fs::write(&path, r#"{"nodes": [{"name": "a", "address": "unix:///a.sock"}, {"name": "b", "address": "tcp://h:2376", "certs": "/etc/b"}]}"#).unwrap();
        let nodes = read_pool_file(&path).unwrap();
        assert_eq!(nodes[1].certs, Some(PathBuf::from("/etc/b")));
        std::fs::write(&path, r#"{"nodes": [{"name": "a", "adress": "x"}]}"#).unwrap();
        assert!(read_pool_file(&path).unwrap_err().to_string().contains("unknown field `adress`"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
