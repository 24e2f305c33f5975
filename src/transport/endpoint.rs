//! Which engine to talk to and how: the address, TLS material and engine kind,
//! resolved the way the docker CLI (for dockerd) and buildctl / buildx's remote
//! driver (for buildkitd) resolve them. Resolution only looks at an environment
//! lookup and at files under the given directories; nothing is dialed here.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Where an engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP host (name or IP literal, without brackets) and port.
    Tcp { host: String, port: u16 },
}

/// TLS towards a TCP endpoint. Only `ca` is trusted: no system roots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file of the certificate authorities the server's certificate must chain to.
    pub ca: PathBuf,
    /// The client certificate for mutual TLS, if the engine asks for one.
    pub client: Option<ClientCertificate>,
    /// The name the server's certificate must carry (a DNS name or an IP address).
    pub server_name: String,
}

/// A client certificate and its private key (PEM files); one is useless without the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What answers at the address; decides how the Control API and sessions are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// dockerd: HTTP/1.1 first, BuildKit behind the `/grpc` and `/session` upgrades.
    Docker,
    /// Standalone buildkitd: gRPC (HTTP/2) from the first byte.
    Buildkitd,
}

/// How an endpoint was chosen, so that a failure can say why that address was tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `DOCKER_HOST` was set.
    DockerHost,
    /// A docker context, named by `DOCKER_CONTEXT` or by a config file's `currentContext`.
    DockerContext { name: String, named_by: ContextChoice },
    /// Nothing was configured: Docker's default socket (or its default TLS host under `DOCKER_TLS_VERIFY`).
    DockerDefault,
    /// `--builder` on the command line.
    BuilderFlag,
    /// `BUILDKIT_HOST` was set.
    BuildkitHost,
    /// A node of a pool: `--node NAME=…` or an entry of a pool file.
    Node { name: String, given_by: String },
}

/// What named the docker context in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextChoice {
    /// The `DOCKER_CONTEXT` environment variable.
    Env,
    /// The `currentContext` field of this docker config file.
    ConfigFile(PathBuf),
}

/// One engine to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub address: Address,
    pub tls: Option<TlsSettings>,
    pub engine: Engine,
    pub origin: Origin,
}

/// The TLS options buildctl takes as `--tlscacert --tlscert --tlskey --tlsservername`
/// (buildx's remote driver: `cacert`, `cert`, `key`, `servername`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildkitTlsOptions {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub server_name: Option<String>,
}

/// Why no endpoint could be resolved.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("engine address {value:?} ({origin}) {problem}; expected {expected}")]
    Address { value: String, origin: Origin, problem: String, expected: &'static str },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{origin} does not exist: there is no {path}; `docker context ls` lists the contexts there are")]
    ContextNotFound { origin: Origin, path: PathBuf },
    #[error("{origin} in {path} has no docker endpoint (Endpoints.docker)")]
    ContextWithoutDocker { origin: Origin, path: PathBuf },
    #[error("{origin} asks for TLS without verifying the engine's certificate ({how}); leaven always verifies it against a CA: use DOCKER_TLS_VERIFY=1 with ca.pem in DOCKER_CERT_PATH, or a context with a CA")]
    UnverifiedTls { origin: Origin, how: &'static str },
    #[error("{origin} uses TLS but there is no CA certificate {path}; leaven trusts only a CA it is given")]
    MissingCa { origin: Origin, path: PathBuf },
    #[error("{origin}: client certificate {present} is given but its pair {missing} is not; give both or neither")]
    HalfKeyPair { origin: Origin, present: PathBuf, missing: PathBuf },
    #[error("{origin}: TLS options are given but no CA certificate; --tlscacert is required whenever TLS is used")]
    BuildkitCaRequired { origin: Origin },
    #[error("{origin}: {what} is given without {missing}; a client certificate needs both --tlscert and --tlskey")]
    BuildkitHalfKeyPair { origin: Origin, what: &'static str, missing: &'static str },
    #[error(
        "{origin}: TLS options are given for the unix socket {path}; buildkitd serves TLS only on tcp:// addresses"
    )]
    TlsOverUnix { origin: Origin, path: PathBuf },
}

/// Docker's socket when nothing else is configured (`opts/hosts.go` defaultUnixSocket).
const DOCKER_DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// The host for `tcp://` addresses that name none, and for TLS with no host at all.
const DOCKER_DEFAULT_HOST: &str = "localhost";
/// Port of a `tcp://host` address without one.
const DOCKER_DEFAULT_PORT: u16 = 2375;
/// Port of the TLS default host (`DOCKER_TLS_VERIFY` set, no host given).
const DOCKER_DEFAULT_TLS_PORT: u16 = 2376;
/// The context name that means "no stored context": host and TLS from the environment.
const DEFAULT_CONTEXT: &str = "default";

const DOCKER_ADDRESS_FORMS: &str = "unix:///path/to/docker.sock or tcp://host:port";
const BUILDKIT_ADDRESS_FORMS: &str = "unix:///path/to/buildkitd.sock or tcp://host:port";

/// The file names the docker CLI uses in a cert directory and in a context's TLS store.
const CA_FILE: &str = "ca.pem";
const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";

/// The dockerd endpoint the docker CLI would use, from environment `env` (unset
/// and empty count alike, as in the CLI) and the user's `home` directory:
/// `DOCKER_HOST`, else the context named by `DOCKER_CONTEXT`, else the
/// `currentContext` of `$DOCKER_CONFIG/config.json` (default `~/.docker`), else
/// Docker's default socket. Without a stored context, TLS comes from
/// `DOCKER_TLS_VERIFY` and the `ca.pem`/`cert.pem`/`key.pem` of `DOCKER_CERT_PATH`
/// (default: the config directory).
pub fn docker_endpoint(env: impl Fn(&str) -> Option<String>, home: &Path) -> Result<Endpoint, EndpointError> {
    let env = |name: &str| env(name).filter(|value| !value.is_empty());
    let config_dir = env("DOCKER_CONFIG").map_or_else(|| home.join(".docker"), PathBuf::from);
    let tls_env = TlsEnv {
        verify: env("DOCKER_TLS_VERIFY").is_some(),
        tls: env("DOCKER_TLS").is_some(),
        cert_path: env("DOCKER_CERT_PATH").map_or_else(|| config_dir.clone(), PathBuf::from),
    };
    if let Some(host) = env("DOCKER_HOST") {
        return environment_endpoint(Some(&host), Origin::DockerHost, &tls_env);
    }
    let config_file = config_dir.join("config.json");
    let (name, named_by) = match env("DOCKER_CONTEXT") {
        Some(name) => (name, ContextChoice::Env),
        None => match current_context(&config_file)? {
            Some(name) => (name, ContextChoice::ConfigFile(config_file)),
            None => return environment_endpoint(None, Origin::DockerDefault, &tls_env),
        },
    };
    let id = context_id(&name);
    let is_default = name == DEFAULT_CONTEXT;
    let origin = Origin::DockerContext { name, named_by };
    if is_default {
        return environment_endpoint(None, origin, &tls_env);
    }
    let store = config_dir.join("contexts");
    stored_context_endpoint(&store.join("meta").join(&id), &store.join("tls").join(&id).join("docker"), origin)
}

/// A Docker engine named by its host (`unix://…`, `tcp://host:port`), with TLS
/// from a directory laid out as `DOCKER_CERT_PATH` is (`ca.pem`, `cert.pem`,
/// `key.pem`) when one is given: how a pool names its dockerd nodes.
pub fn docker_host_endpoint(host: &str, certs: Option<&Path>, origin: Origin) -> Result<Endpoint, EndpointError> {
    let tls_env = TlsEnv { verify: certs.is_some(), tls: false, cert_path: certs.map(Path::to_path_buf).unwrap_or_default() };
    environment_endpoint(Some(host), origin, &tls_env)
}

/// The buildkitd endpoint for `addr` (`unix://…` or `tcp://host:port`, from
/// `--builder` or `BUILDKIT_HOST` as `origin` says) and buildctl's TLS options:
/// any of them turns TLS on, the CA is then required, certificate and key come
/// together, and the server name defaults to the address's host.
pub fn buildkit_endpoint(addr: &str, tls: BuildkitTlsOptions, origin: Origin) -> Result<Endpoint, EndpointError> {
    let address = parse_buildkit_address(addr, &origin)?;
    let wants_tls = tls.ca.is_some() || tls.cert.is_some() || tls.key.is_some() || tls.server_name.is_some();
    let tls = if wants_tls {
        let host = match &address {
            Address::Tcp { host, .. } => host.clone(),
            Address::Unix(path) => return Err(EndpointError::TlsOverUnix { origin, path: path.clone() }),
        };
        let Some(ca) = tls.ca else { return Err(EndpointError::BuildkitCaRequired { origin }) };
        let client = match (tls.cert, tls.key) {
            (Some(cert), Some(key)) => Some(ClientCertificate { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(EndpointError::BuildkitHalfKeyPair { origin, what: "--tlscert", missing: "--tlskey" })
            }
            (None, Some(_)) => {
                return Err(EndpointError::BuildkitHalfKeyPair { origin, what: "--tlskey", missing: "--tlscert" })
            }
        };
        Some(TlsSettings { ca, client, server_name: tls.server_name.unwrap_or(host) })
    } else {
        None
    };
    Ok(Endpoint { address, tls, engine: Engine::Buildkitd, origin })
}

impl Endpoint {
    /// The HTTP `Host` / gRPC `:authority` for this endpoint: the TLS server name
    /// (it must match the certificate), else `host:port`; a unix socket has no
    /// authority of its own, so any name does and `localhost` is what grpc-go uses.
    pub fn authority(&self) -> String {
        match (&self.tls, &self.address) {
            (Some(tls), _) => bracket_ipv6(&tls.server_name),
            (None, Address::Tcp { host, port }) => format!("{}:{port}", bracket_ipv6(host)),
            (None, Address::Unix(_)) => "localhost".to_string(),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "unix://{}", path.display()),
            Address::Tcp { host, port } => write!(f, "tcp://{}:{port}", bracket_ipv6(host)),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::DockerHost => f.write_str("set by DOCKER_HOST"),
            Origin::DockerContext { name, named_by: ContextChoice::Env } => {
                write!(f, "docker context {name:?} named by DOCKER_CONTEXT")
            }
            Origin::DockerContext { name, named_by: ContextChoice::ConfigFile(path) } => {
                write!(f, "docker context {name:?}, the currentContext of {}", path.display())
            }
            Origin::DockerDefault => {
                f.write_str("Docker's default: none of DOCKER_HOST, DOCKER_CONTEXT or a currentContext is set")
            }
            Origin::BuilderFlag => f.write_str("given by --builder"),
            Origin::Node { name, given_by } => write!(f, "node {name:?} of {given_by}"),
            Origin::BuildkitHost => f.write_str("set by BUILDKIT_HOST"),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tls = if self.tls.is_some() { ", TLS" } else { "" };
        write!(f, "{}{tls} ({})", self.address, self.origin)
    }
}

/// What the environment says about TLS when no stored context is used.
struct TlsEnv {
    verify: bool,
    /// `DOCKER_TLS`: TLS without verification.
    tls: bool,
    cert_path: PathBuf,
}

/// The endpoint of the "default" context: `host` (or Docker's default) with TLS
/// from the environment. As in the CLI, TLS applies only to TCP, and asking for
/// TLS without a host means Docker's TLS port on localhost.
fn environment_endpoint(host: Option<&str>, origin: Origin, tls_env: &TlsEnv) -> Result<Endpoint, EndpointError> {
    let wants_tls = tls_env.verify || tls_env.tls;
    let address = match host {
        Some(host) => parse_docker_address(host, &origin)?,
        None if wants_tls => Address::Tcp { host: DOCKER_DEFAULT_HOST.into(), port: DOCKER_DEFAULT_TLS_PORT },
        None => Address::Unix(DOCKER_DEFAULT_SOCKET.into()),
    };
    let tls = match &address {
        Address::Tcp { host, .. } if wants_tls => {
            if !tls_env.verify {
                return Err(EndpointError::UnverifiedTls { origin, how: "DOCKER_TLS without DOCKER_TLS_VERIFY" });
            }
            match tls_from_dir(&tls_env.cert_path, host, &origin)? {
                Some(tls) => Some(tls),
                None => return Err(EndpointError::MissingCa { path: tls_env.cert_path.join(CA_FILE), origin }),
            }
        }
        _ => None,
    };
    Ok(Endpoint { address, tls, engine: Engine::Docker, origin })
}

/// A stored context: `meta_dir/meta.json` names the host, `tls_dir` may hold its TLS files.
fn stored_context_endpoint(meta_dir: &Path, tls_dir: &Path, origin: Origin) -> Result<Endpoint, EndpointError> {
    #[derive(Deserialize)]
    struct Meta {
        #[serde(rename = "Endpoints", default)]
        endpoints: std::collections::BTreeMap<String, serde_json::Value>,
    }
    #[derive(Deserialize)]
    struct DockerMeta {
        #[serde(rename = "Host", default)]
        host: String,
        #[serde(rename = "SkipTLSVerify", default)]
        skip_tls_verify: bool,
    }

    let path = meta_dir.join("meta.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(EndpointError::ContextNotFound { origin, path });
        }
        Err(source) => return Err(EndpointError::Read { path, source }),
    };
    let meta: Meta =
        serde_json::from_str(&text).map_err(|source| EndpointError::Json { path: path.clone(), source })?;
    let Some(docker) = meta.endpoints.get("docker") else {
        return Err(EndpointError::ContextWithoutDocker { origin, path });
    };
    let docker = DockerMeta::deserialize(docker).map_err(|source| EndpointError::Json { path, source })?;
    // An empty host means the client's default, as the CLI does when it sets no host.
    let host = if docker.host.is_empty() { format!("unix://{DOCKER_DEFAULT_SOCKET}") } else { docker.host };
    let address = parse_docker_address(&host, &origin)?;
    let tls = match &address {
        Address::Tcp { host, .. } => {
            if docker.skip_tls_verify {
                return Err(EndpointError::UnverifiedTls { origin, how: "SkipTLSVerify in the context" });
            }
            tls_from_dir(tls_dir, host, &origin)?
        }
        Address::Unix(_) => None,
    };
    Ok(Endpoint { address, tls, engine: Engine::Docker, origin })
}

/// TLS from a directory of `ca.pem`, `cert.pem`, `key.pem`: `None` when none of
/// them exists, an error when there is a client certificate without a CA or only
/// half of the key pair.
fn tls_from_dir(dir: &Path, host: &str, origin: &Origin) -> Result<Option<TlsSettings>, EndpointError> {
    let existing = |name: &str| Some(dir.join(name)).filter(|path| path.exists());
    let (ca, cert, key) = (existing(CA_FILE), existing(CERT_FILE), existing(KEY_FILE));
    let client = match (cert, key) {
        (Some(cert), Some(key)) => Some(ClientCertificate { cert, key }),
        (None, None) => None,
        (Some(present), None) => {
            return Err(EndpointError::HalfKeyPair { origin: origin.clone(), present, missing: dir.join(KEY_FILE) })
        }
        (None, Some(present)) => {
            return Err(EndpointError::HalfKeyPair { origin: origin.clone(), present, missing: dir.join(CERT_FILE) })
        }
    };
    match (ca, client) {
        (Some(ca), client) => Ok(Some(TlsSettings { ca, client, server_name: host.to_string() })),
        (None, None) => Ok(None),
        (None, Some(_)) => Err(EndpointError::MissingCa { origin: origin.clone(), path: dir.join(CA_FILE) }),
    }
}

/// The `currentContext` of a docker config file; a missing file means none.
fn current_context(config_file: &Path) -> Result<Option<String>, EndpointError> {
    #[derive(Deserialize)]
    struct Config {
        #[serde(rename = "currentContext", default)]
        current_context: String,
    }
    let text = match std::fs::read_to_string(config_file) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(EndpointError::Read { path: config_file.to_path_buf(), source }),
    };
    let config: Config = serde_json::from_str(&text)
        .map_err(|source| EndpointError::Json { path: config_file.to_path_buf(), source })?;
    Ok(Some(config.current_context).filter(|name| !name.is_empty()))
}

/// The directory name of a context in the store: the hex SHA-256 of its name.
fn context_id(name: &str) -> String {
    hex::encode(Sha256::digest(name.as_bytes()))
}

/// A docker host as the CLI parses it (`opts.ParseHost`): surrounding blanks
/// ignored, no scheme means `tcp`, `unix://` alone is the default socket, a TCP
/// address may leave out the host (`localhost`) or the port (2375).
fn parse_docker_address(value: &str, origin: &Origin) -> Result<Address, EndpointError> {
    let fail = |problem: &str| EndpointError::Address {
        value: value.to_string(),
        origin: origin.clone(),
        problem: problem.to_string(),
        expected: DOCKER_ADDRESS_FORMS,
    };
    let trimmed = value.trim();
    let (scheme, rest) = trimmed.split_once("://").unwrap_or(("tcp", trimmed));
    match scheme {
        "unix" if rest.contains("://") => Err(fail("has a second scheme")),
        "unix" if rest.is_empty() => Ok(Address::Unix(DOCKER_DEFAULT_SOCKET.into())),
        "unix" => Ok(Address::Unix(rest.into())),
        "tcp" => {
            let (host, port) = split_host_port(rest).map_err(|problem| fail(&problem))?;
            let host = host.unwrap_or(DOCKER_DEFAULT_HOST).to_string();
            Ok(Address::Tcp { host, port: port.unwrap_or(DOCKER_DEFAULT_PORT) })
        }
        "ssh" | "npipe" | "fd" => Err(fail(&format!("uses {scheme}://, which leaven does not support"))),
        _ => Err(fail(&format!("has the unknown scheme {scheme}://"))),
    }
}

/// A buildkitd address as buildctl takes it: a scheme is required, and a TCP address names both host and port.
fn parse_buildkit_address(value: &str, origin: &Origin) -> Result<Address, EndpointError> {
    let fail = |problem: &str| EndpointError::Address {
        value: value.to_string(),
        origin: origin.clone(),
        problem: problem.to_string(),
        expected: BUILDKIT_ADDRESS_FORMS,
    };
    let Some((scheme, rest)) = value.split_once("://") else { return Err(fail("has no scheme")) };
    match scheme {
        "unix" if rest.is_empty() => Err(fail("names no socket path")),
        "unix" => Ok(Address::Unix(rest.into())),
        "tcp" => match split_host_port(rest).map_err(|problem| fail(&problem))? {
            (Some(host), Some(port)) => Ok(Address::Tcp { host: host.to_string(), port }),
            (None, _) => Err(fail("names no host")),
            (_, None) => Err(fail("names no port")),
        },
        "docker-container" | "kube-pod" | "podman-container" | "nerdctl-container" | "ssh" | "npipe" => {
            Err(fail(&format!("uses {scheme}://, a connection helper leaven does not support")))
        }
        _ => Err(fail(&format!("has the unknown scheme {scheme}://"))),
    }
}

/// `host:port`, `[v6]:port`, `host`, `:port` (a trailing `/` is allowed, a longer path is not).
/// Each part may be absent; what is present must be well formed.
fn split_host_port(text: &str) -> Result<(Option<&str>, Option<u16>), String> {
    let text = text.strip_suffix('/').unwrap_or(text);
    if text.contains('/') {
        return Err("has a path, which leaven does not support".to_string());
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("has an unclosed [ in its host")?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or("has text after the ] of its host")?)),
        }
    } else {
        match text.split_once(':') {
            Some((_, after)) if after.contains(':') => return Err("has an IPv6 host without [brackets]".to_string()),
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(port) => {
            Some(port.parse::<u16>().map_err(|_| format!("has the port {port:?}, not a number from 0 to 65535"))?)
        }
    };
    Ok((Some(host).filter(|h| !h.is_empty()), port))
}

/// IPv6 literals need brackets wherever a port may follow.
fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A scratch HOME that is removed when the test ends.
    struct TempHome(PathBuf);

    impl TempHome {
        fn new(name: &str) -> TempHome {
            let dir = std::env::temp_dir().join(format!("leaven-endpoint-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            TempHome(dir)
        }

        fn write(&self, relative: &str, contents: &str) -> PathBuf {
            let path = self.0.join(relative);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, contents).expect("write");
            path
        }
    }

    impl Drop for TempHome {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    fn tcp(host: &str, port: u16) -> Address {
        Address::Tcp { host: host.into(), port }
    }

    #[test]
    fn nothing_set_is_the_default_socket() {
        let home = TempHome::new("default");
        let ep = docker_endpoint(env(&[]), &home.0).expect("endpoint");
        assert_eq!(ep.address, Address::Unix("/var/run/docker.sock".into()));
        assert_eq!((ep.tls, ep.engine, ep.origin), (None, Engine::Docker, Origin::DockerDefault));
    }

    #[test]
    fn docker_host_forms() {
        let home = TempHome::new("host-forms");
        let cases = [
            ("unix:///run/x.sock", Address::Unix("/run/x.sock".into())),
            ("unix://", Address::Unix("/var/run/docker.sock".into())),
            ("  tcp://10.0.0.1:2376 ", tcp("10.0.0.1", 2376)),
            ("tcp://example.com", tcp("example.com", 2375)),
            ("tcp://:1234", tcp("localhost", 1234)),
            ("tcp://", tcp("localhost", 2375)),
            ("example.com:99", tcp("example.com", 99)),
            ("tcp://[::1]:2376/", tcp("::1", 2376)),
        ];
        for (value, want) in cases {
            let ep = docker_endpoint(env(&[("DOCKER_HOST", value)]), &home.0).expect(value);
            assert_eq!(ep.address, want, "{value}");
            assert_eq!(ep.origin, Origin::DockerHost);
        }
        assert_eq!(
            docker_endpoint(env(&[("DOCKER_HOST", "tcp://[::1]:2376")]), &home.0).unwrap().to_string(),
            "tcp://[::1]:2376 (set by DOCKER_HOST)"
        );
    }

    #[test]
    fn docker_host_errors_say_what_was_wrong() {
        let home = TempHome::new("host-errors");
        let cases = [
            ("ssh://me@box", "uses ssh://, which leaven does not support"),
            ("http://x:1", "unknown scheme http://"),
            ("tcp://x:port", "not a number"),
            ("tcp://x:1/base", "has a path"),
            ("tcp://::1:2375", "IPv6 host without [brackets]"),
        ];
        for (value, want) in cases {
            let err = docker_endpoint(env(&[("DOCKER_HOST", value)]), &home.0).expect_err(value).to_string();
            assert!(
                err.contains(want) && err.contains("set by DOCKER_HOST") && err.contains("tcp://host:port"),
                "{err}"
            );
        }
    }

    #[test]
    fn docker_host_wins_over_context() {
        let home = TempHome::new("host-wins");
        home.write(".docker/config.json", r#"{"currentContext": "remote"}"#);
        let ep = docker_endpoint(env(&[("DOCKER_HOST", "unix:///a.sock"), ("DOCKER_CONTEXT", "other")]), &home.0)
            .expect("endpoint");
        assert_eq!((ep.address, ep.origin), (Address::Unix("/a.sock".into()), Origin::DockerHost));
    }

    #[test]
    fn tls_verify_reads_the_cert_path() {
        let home = TempHome::new("tls-env");
        let certs = home.0.join("certs");
        home.write("certs/ca.pem", "x");
        home.write("certs/cert.pem", "x");
        home.write("certs/key.pem", "x");
        let vars = [
            ("DOCKER_HOST", "tcp://127.0.0.1:23760"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", certs.to_str().expect("utf-8")),
        ];
        let ep = docker_endpoint(env(&vars), &home.0).expect("endpoint");
        assert_eq!(
            ep.tls,
            Some(TlsSettings {
                ca: certs.join("ca.pem"),
                client: Some(ClientCertificate { cert: certs.join("cert.pem"), key: certs.join("key.pem") }),
                server_name: "127.0.0.1".into(),
            })
        );
        assert_eq!(ep.authority(), "127.0.0.1");
        assert!(ep.to_string().contains(", TLS"));

        // Sockets never get TLS, as in the CLI.
        let ep = docker_endpoint(env(&[vars[1], vars[2], ("DOCKER_HOST", "unix:///x.sock")]), &home.0).unwrap();
        assert_eq!(ep.tls, None);
    }

    #[test]
    fn tls_verify_defaults_to_the_config_dir_and_the_tls_port() {
        let home = TempHome::new("tls-default");
        home.write(".docker/ca.pem", "x");
        let ep = docker_endpoint(env(&[("DOCKER_TLS_VERIFY", "1")]), &home.0).expect("endpoint");
        assert_eq!(ep.address, tcp("localhost", 2376));
        let tls = ep.tls.expect("tls");
        assert_eq!((tls.ca, tls.client, tls.server_name), (home.0.join(".docker/ca.pem"), None, "localhost".into()));

        // DOCKER_CONFIG moves the default cert path with it.
        let ep = docker_endpoint(
            env(&[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CONFIG", home.0.join("cfg").to_str().unwrap())]),
            &home.0,
        );
        assert!(matches!(ep, Err(EndpointError::MissingCa { path, .. }) if path == home.0.join("cfg/ca.pem")));
    }

    #[test]
    fn tls_env_errors() {
        let home = TempHome::new("tls-errors");
        home.write("certs/ca.pem", "x");
        home.write("certs/cert.pem", "x");
        let certs = home.0.join("certs");
        let host = ("DOCKER_HOST", "tcp://h:1");
        let err = docker_endpoint(
            env(&[host, ("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", certs.to_str().unwrap())]),
            &home.0,
        )
        .expect_err("half pair")
        .to_string();
        assert!(err.contains("cert.pem is given but its pair") && err.contains("key.pem"), "{err}");
        let err = docker_endpoint(env(&[host, ("DOCKER_TLS", "1")]), &home.0).expect_err("unverified").to_string();
        assert!(err.contains("without verifying") && err.contains("DOCKER_TLS_VERIFY=1"), "{err}");
    }

    #[test]
    fn current_context_from_the_meta_store() {
        let home = TempHome::new("context");
        home.write(".docker/config.json", r#"{"auths": {}, "currentContext": "remote"}"#);
        let id = context_id("remote");
        home.write(
            &format!(".docker/contexts/meta/{id}/meta.json"),
            r#"{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://build.example:2376","SkipTLSVerify":false}}}"#,
        );
        let ep = docker_endpoint(env(&[]), &home.0).expect("plain endpoint");
        assert_eq!((ep.address.clone(), ep.tls.clone()), (tcp("build.example", 2376), None));
        let config = home.0.join(".docker/config.json");
        assert_eq!(
            ep.origin,
            Origin::DockerContext { name: "remote".into(), named_by: ContextChoice::ConfigFile(config.clone()) }
        );
        assert_eq!(
            ep.to_string(),
            format!("tcp://build.example:2376 (docker context \"remote\", the currentContext of {})", config.display())
        );

        // With a TLS store, its files are used; environment TLS is ignored for a stored context.
        let tls = format!(".docker/contexts/tls/{id}/docker");
        let ca = home.write(&format!("{tls}/ca.pem"), "x");
        let cert = home.write(&format!("{tls}/cert.pem"), "x");
        let key = home.write(&format!("{tls}/key.pem"), "x");
        let ep = docker_endpoint(env(&[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", "/nowhere")]), &home.0)
            .expect("tls endpoint");
        assert_eq!(
            ep.tls,
            Some(TlsSettings {
                ca,
                client: Some(ClientCertificate { cert, key }),
                server_name: "build.example".into()
            })
        );
    }

    #[test]
    fn docker_context_env_and_default_context() {
        let home = TempHome::new("context-env");
        home.write(".docker/config.json", r#"{"currentContext": "remote"}"#);
        let ep = docker_endpoint(env(&[("DOCKER_CONTEXT", "default")]), &home.0).expect("default context");
        assert_eq!(ep.address, Address::Unix("/var/run/docker.sock".into()));
        assert_eq!(ep.origin, Origin::DockerContext { name: "default".into(), named_by: ContextChoice::Env });

        let id = context_id("sock");
        home.write(
            &format!(".docker/contexts/meta/{id}/meta.json"),
            r#"{"Endpoints":{"docker":{"Host":"unix:///run/d.sock"}}}"#,
        );
        let ep = docker_endpoint(env(&[("DOCKER_CONTEXT", "sock")]), &home.0).expect("named context");
        assert_eq!(ep.address, Address::Unix("/run/d.sock".into()));

        // DOCKER_CONFIG moves config.json and the store together.
        let cfg = home.0.join("elsewhere");
        home.write("elsewhere/config.json", r#"{"currentContext": "sock"}"#);
        home.write(
            &format!("elsewhere/contexts/meta/{id}/meta.json"),
            r#"{"Endpoints":{"docker":{"Host":"unix:///run/e.sock"}}}"#,
        );
        let ep = docker_endpoint(env(&[("DOCKER_CONFIG", cfg.to_str().unwrap())]), &home.0).expect("moved config");
        assert_eq!(ep.address, Address::Unix("/run/e.sock".into()));
    }

    #[test]
    fn context_errors() {
        let home = TempHome::new("context-errors");
        let err = docker_endpoint(env(&[("DOCKER_CONTEXT", "gone")]), &home.0).expect_err("missing").to_string();
        assert!(
            err.contains("docker context \"gone\" named by DOCKER_CONTEXT does not exist") && err.contains("meta.json"),
            "{err}"
        );

        let id = context_id("k8s");
        home.write(&format!(".docker/contexts/meta/{id}/meta.json"), r#"{"Endpoints":{"kubernetes":{}}}"#);
        let err = docker_endpoint(env(&[("DOCKER_CONTEXT", "k8s")]), &home.0).expect_err("no docker").to_string();
        assert!(err.contains("has no docker endpoint"), "{err}");

        let id = context_id("insecure");
        home.write(
            &format!(".docker/contexts/meta/{id}/meta.json"),
            r#"{"Endpoints":{"docker":{"Host":"tcp://h:1","SkipTLSVerify":true}}}"#,
        );
        let err =
            docker_endpoint(env(&[("DOCKER_CONTEXT", "insecure")]), &home.0).expect_err("skip verify").to_string();
        assert!(err.contains("SkipTLSVerify in the context"), "{err}");

        let id = context_id("noca");
        home.write(
            &format!(".docker/contexts/meta/{id}/meta.json"),
            r#"{"Endpoints":{"docker":{"Host":"tcp://h:1"}}}"#,
        );
        home.write(&format!(".docker/contexts/tls/{id}/docker/cert.pem"), "x");
        home.write(&format!(".docker/contexts/tls/{id}/docker/key.pem"), "x");
        let err = docker_endpoint(env(&[("DOCKER_CONTEXT", "noca")]), &home.0).expect_err("no ca").to_string();
        assert!(err.contains("no CA certificate") && err.contains("ca.pem"), "{err}");

        home.write(".docker/config.json", "{not json");
        let err = docker_endpoint(env(&[]), &home.0).expect_err("bad config").to_string();
        assert!(err.contains("config.json is not valid JSON"), "{err}");
    }

    #[test]
    fn buildkit_addresses() {
        let none = BuildkitTlsOptions::default();
        let ep = buildkit_endpoint("unix:///run/buildkit/buildkitd.sock", none.clone(), Origin::BuildkitHost).unwrap();
        assert_eq!(
            (ep.address, ep.engine, ep.tls),
            (Address::Unix("/run/buildkit/buildkitd.sock".into()), Engine::Buildkitd, None)
        );
        let ep = buildkit_endpoint("tcp://10.1.2.3:1234", none.clone(), Origin::BuilderFlag).unwrap();
        assert_eq!(ep.address, tcp("10.1.2.3", 1234));
        assert_eq!(ep.authority(), "10.1.2.3:1234");
        for (value, want) in [
            ("localhost:1234", "has no scheme"),
            ("tcp://h", "names no port"),
            ("tcp://:1", "names no host"),
            ("unix://", "names no socket path"),
            ("docker-container://bk", "connection helper leaven does not support"),
        ] {
            let err = buildkit_endpoint(value, none.clone(), Origin::BuilderFlag).expect_err(value).to_string();
            assert!(
                err.contains(want) && err.contains("given by --builder") && err.contains("buildkitd.sock"),
                "{err}"
            );
        }
    }

    #[test]
    fn buildkit_tls_options() {
        let opts = |ca: Option<&str>, cert: Option<&str>, key: Option<&str>, name: Option<&str>| BuildkitTlsOptions {
            ca: ca.map(PathBuf::from),
            cert: cert.map(PathBuf::from),
            key: key.map(PathBuf::from),
            server_name: name.map(String::from),
        };
        let ep =
            buildkit_endpoint("tcp://bk.example:1234", opts(Some("/c/ca.pem"), None, None, None), Origin::BuilderFlag)
                .unwrap();
        assert_eq!(
            ep.tls,
            Some(TlsSettings { ca: "/c/ca.pem".into(), client: None, server_name: "bk.example".into() })
        );
        assert_eq!(ep.authority(), "bk.example");

        let ep = buildkit_endpoint(
            "tcp://10.0.0.2:1234",
            opts(Some("/c/ca.pem"), Some("/c/cert.pem"), Some("/c/key.pem"), Some("buildkitd")),
            Origin::BuilderFlag,
        )
        .unwrap();
        let tls = ep.tls.clone().unwrap();
        assert_eq!(tls.client, Some(ClientCertificate { cert: "/c/cert.pem".into(), key: "/c/key.pem".into() }));
        assert_eq!((tls.server_name.as_str(), ep.authority()), ("buildkitd", "buildkitd".to_string()));

        // A server name alone already turns TLS on, and then the CA is required.
        let err = buildkit_endpoint("tcp://h:1", opts(None, None, None, Some("h")), Origin::BuildkitHost).unwrap_err();
        assert!(err.to_string().contains("--tlscacert is required"), "{err}");
        let err = buildkit_endpoint("tcp://h:1", opts(Some("/ca"), Some("/cert"), None, None), Origin::BuildkitHost)
            .unwrap_err();
        assert!(err.to_string().contains("--tlscert is given without --tlskey"), "{err}");
        let err = buildkit_endpoint("tcp://h:1", opts(Some("/ca"), None, Some("/key"), None), Origin::BuildkitHost)
            .unwrap_err();
        assert!(err.to_string().contains("--tlskey is given without --tlscert"), "{err}");
        let err =
            buildkit_endpoint("unix:///s", opts(Some("/ca"), None, None, None), Origin::BuildkitHost).unwrap_err();
        assert!(err.to_string().contains("only on tcp://"), "{err}");
    }
}
