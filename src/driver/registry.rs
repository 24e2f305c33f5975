//! The registry's HTTP API, for the one thing leaven does there itself: the
//! parts of a target built on several nodes, each pushed by digest by its node,
//! are joined into one image index pushed under the target's tags (what buildx
//! does with `imagetools` after a multi-node build).
//!
//! Plain HTTP for a registry on the loopback (as BuildKit and buildx treat
//! localhost) or with `registry.insecure=true`, else HTTPS verified against the
//! system's CA bundle; anonymous, Basic or Bearer-token auth with the docker
//! config's credentials.

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::plan::Join;
use crate::session::DockerAuth;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// A manifest or index larger than this is not one (the registry's own limit is 4 MiB).
const MANIFEST_LIMIT: usize = 4 << 20;

/// What one node pushed: its part's platforms and the descriptor its exporter answered.
#[derive(Debug, Clone)]
pub struct PushedPart {
    pub platforms: Vec<String>,
    pub descriptor: Value,
}

/// The index pushed under every tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub digest: String,
    pub media_type: String,
    pub size: usize,
}

/// `host/path:tag` → (host, path, tag) as Docker reads a name.
fn locate(name: &str) -> (String, String, String) {
    let repository = super::plan::repository_of(name);
    let tag = name.split('@').next().unwrap_or(name)[repository.len()..].trim_start_matches(':').to_string();
    let tag = if tag.is_empty() { "latest".to_string() } else { tag };
    let named = super::push::registry_host(&repository);
    let path = repository.strip_prefix(named).and_then(|p| p.strip_prefix('/')).unwrap_or(&repository);
    let host = if matches!(named, "docker.io" | "index.docker.io") { "registry-1.docker.io" } else { named };
    let path = if host == "registry-1.docker.io" && !path.contains('/') { format!("library/{path}") } else { path.to_string() };
    (host.to_string(), path, tag)
}

/// The loopback, where registries speak plain HTTP.
fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None if host.matches(':').count() == 1 => host.split(':').next().unwrap_or(host),
        None => host,
    };
    name == "localhost" || name.starts_with("127.") || name == "::1"
}

/// The parameters of a `WWW-Authenticate` challenge: its scheme and `key="value"` pairs.
fn parse_challenge(header: &str) -> (String, Vec<(String, String)>) {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (quoted[..end].to_string(), quoted.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.push((key, value));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_ascii_lowercase(), params)
}

/// One registry host, with the authorization its last challenge asked for.
struct Registry {
    host: String,
    plain_http: bool,
    auth: Arc<DockerAuth>,
    authorization: tokio::sync::Mutex<Option<String>>,
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Registry {
    async fn exchange(&self, method: Method, url: &str, headers: &[(&str, String)], body: Bytes) -> Result<Answer, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let host = uri.host().ok_or_else(|| format!("{url}: no host"))?.trim_start_matches('[').trim_end_matches(']').to_string();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let stream: crate::transport::BoxedStream = if https { Box::new(tls(tcp, &host).await?) } else { Box::new(tcp) };
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("{method} {url}: {e}"))?;
        tokio::spawn(connection);
        let mut request = Request::builder().method(method.clone()).uri(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
        request = request.header(http::header::HOST, uri.authority().map(|a| a.as_str()).unwrap_or(&host));
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request.body(Full::new(body)).map_err(|e| format!("{method} {url}: {e}"))?;
        let response = sender.send_request(request).await.map_err(|e| format!("{method} {url}: {e}"))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = Limited::new(response.into_body(), MANIFEST_LIMIT)
            .collect()
            .await
            .map_err(|e| format!("{method} {url}: the answer broke off: {e}"))?
            .to_bytes();
        Ok(Answer { status, headers, body })
    }

    /// A request to the registry's API, answering one auth challenge.
    async fn send(&self, method: Method, path: &str, headers: &[(&str, String)], body: Bytes) -> Result<Answer, String> {
        let scheme = if self.plain_http { "http" } else { "https" };
        let url = format!("{scheme}://{}{path}", self.host);
        let with_auth = |authorization: &Option<String>| {
            let mut all: Vec<(&str, String)> = headers.to_vec();
            if let Some(a) = authorization {
                all.push(("authorization", a.clone()));
            }
            all
        };
        let current = self.authorization.lock().await.clone();
        let answer = self.exchange(method.clone(), &url, &with_auth(&current), body.clone()).await?;
        if answer.status != StatusCode::UNAUTHORIZED {
            return Ok(answer);
        }
        let challenge = answer.headers.get(http::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let authorization = self.answer_challenge(&challenge).await?;
        *self.authorization.lock().await = Some(authorization.clone());
        self.exchange(method, &url, &with_auth(&Some(authorization)), body).await
    }

    async fn answer_challenge(&self, challenge: &str) -> Result<String, String> {
        let credentials = self.auth.credentials(&self.host).await.map_err(|e| e.to_string())?;
        let basic = (!credentials.username.is_empty())
            .then(|| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", credentials.username, credentials.secret))));
        let (scheme, params) = parse_challenge(challenge);
        match scheme.as_str() {
            "basic" => basic.ok_or_else(|| format!("{} asks for a login, and the docker config has none for it", self.host)),
            "bearer" => {
                let param = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
                let realm = param("realm").ok_or_else(|| format!("{}: a Bearer challenge without a realm: {challenge}", self.host))?;
                let mut query: Vec<String> = Vec::new();
                for key in ["service", "scope"] {
                    if let Some(value) = param(key) {
                        query.push(format!("{key}={}", query_escape(&value)));
                    }
                }
                let url = if query.is_empty() { realm.clone() } else { format!("{realm}{}{}", if realm.contains('?') { '&' } else { '?' }, query.join("&")) };
                let headers: Vec<(&str, String)> = basic.into_iter().map(|b| ("authorization", b)).collect();
                let answer = self.exchange(Method::GET, &url, &headers, Bytes::new()).await?;
                if !answer.status.is_success() {
                    return Err(format!("{realm} refused a token: {} {}", answer.status, String::from_utf8_lossy(&answer.body).trim()));
                }
                let token: Value = serde_json::from_slice(&answer.body).map_err(|e| format!("{realm}: not a token answer: {e}"))?;
                let token = token["token"].as_str().or(token["access_token"].as_str()).ok_or_else(|| format!("{realm}: the answer has no token"))?;
                Ok(format!("Bearer {token}"))
            }
            _ => Err(format!("{} answered 401 with a challenge leaven does not know: {challenge:?}", self.host)),
        }
    }
}

fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

async fn tls(tcp: tokio::net::TcpStream, host: &str) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    let mut roots = RootCertStore::empty();
    for bundle in ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"] {
        if let Ok(certs) = CertificateDer::pem_file_iter(bundle) {
            for cert in certs.flatten() {
                let _ = roots.add(cert);
            }
            break;
        }
    }
    let config = ClientConfig::builder_with_provider(Arc::new(tokio_rustls::rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string()).map_err(|e| format!("{host}: {e}"))?;
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(|e| format!("TLS with {host}: {e}"))
}

/// The index of every part's manifests (attestation manifests included), in
/// the media type buildx picks: a Docker manifest list when every entry is a
/// Docker type, else an OCI index (which alone carries annotations).
fn index_of(entries: Vec<Value>, annotations: &std::collections::BTreeMap<String, String>) -> (String, Vec<u8>) {
    let docker = entries.iter().all(|e| e["mediaType"].as_str().is_some_and(|m| m.starts_with("application/vnd.docker.")));
    let media_type = if docker { DOCKER_LIST } else { OCI_INDEX };
    let mut index = Map::new();
    index.insert("schemaVersion".into(), json!(2));
    index.insert("mediaType".into(), json!(media_type));
    index.insert("manifests".into(), Value::Array(entries));
    if !docker && !annotations.is_empty() {
        index.insert("annotations".into(), json!(annotations));
    }
    (media_type.to_string(), serde_json::to_vec_pretty(&Value::Object(index)).expect("JSON values serialize"))
}

/// Joins the parts into one index and pushes it under every tag of `join`.
pub async fn join(parts: &[PushedPart], join: &Join, auth: Arc<DockerAuth>) -> Result<Joined, String> {
    let first = join.tags.first().ok_or("no tag to push the joined image to")?;
    let (host, path, _) = locate(first);
    let registry = |host: String| Registry {
        plain_http: join.insecure || is_loopback(&host),
        host,
        auth: auth.clone(),
        authorization: tokio::sync::Mutex::new(None),
    };
    let source = registry(host.clone());
    let accept = [DOCKER_LIST, OCI_INDEX, DOCKER_MANIFEST, OCI_MANIFEST].join(", ");
    let mut entries: Vec<Value> = Vec::new();
    for part in parts {
        let digest = part.descriptor["digest"].as_str().ok_or("a part's descriptor has no digest")?;
        let answer = source.send(Method::GET, &format!("/v2/{path}/manifests/{digest}"), &[("accept", accept.clone())], Bytes::new()).await?;
        if !answer.status.is_success() {
            return Err(format!("GET {host}/{path}@{digest}: {} {}", answer.status, String::from_utf8_lossy(&answer.body).trim()));
        }
        let manifest: Value = serde_json::from_slice(&answer.body).map_err(|e| format!("{host}/{path}@{digest} is not JSON: {e}"))?;
        let media_type = part.descriptor["mediaType"].as_str().or(manifest["mediaType"].as_str()).unwrap_or_default().to_string();
        let mut add = |entry: Value| {
            if !entries.iter().any(|e| e["digest"] == entry["digest"]) {
                entries.push(entry);
            }
        };
        if media_type == DOCKER_LIST || media_type == OCI_INDEX {
            for entry in manifest["manifests"].as_array().into_iter().flatten() {
                add(entry.clone());
            }
        } else {
            // A part exported as a single manifest: its platform is the part's.
            let [platform] = part.platforms.as_slice() else {
                return Err(format!("{host}/{path}@{digest} is one manifest for several platforms"));
            };
            let mut fields = platform.splitn(3, '/');
            let mut p = Map::new();
            p.insert("architecture".into(), json!(fields.nth(1).unwrap_or_default()));
            p.insert("os".into(), json!(platform.split('/').next().unwrap_or_default()));
            if let Some(variant) = fields.next() {
                p.insert("variant".into(), json!(variant));
            }
            add(json!({ "mediaType": media_type, "digest": digest, "size": answer.body.len(), "platform": Value::Object(p) }));
        }
    }
    let (media_type, bytes) = index_of(entries, &join.index_annotations);
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
    for tag in &join.tags {
        let (tag_host, tag_path, reference) = locate(tag);
        let target = if tag_host == host { None } else { Some(registry(tag_host.clone())) };
        let registry = target.as_ref().unwrap_or(&source);
        let answer = registry
            .send(Method::PUT, &format!("/v2/{tag_path}/manifests/{reference}"), &[("content-type", media_type.clone())], Bytes::from(bytes.clone()))
            .await?;
        if !answer.status.is_success() {
            return Err(format!("pushing the joined index to {tag}: {} {}", answer.status, String::from_utf8_lossy(&answer.body).trim()));
        }
        if let Some(pushed) = answer.headers.get("docker-content-digest").and_then(|v| v.to_str().ok()) {
            if pushed != digest {
                return Err(format!("pushing the joined index to {tag}: the registry stored {pushed}, not {digest}"));
            }
        }
    }
    Ok(Joined { digest, media_type, size: bytes.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_locate_a_host_repository_and_tag() {
        let s = |t: (String, String, String)| (t.0, t.1, t.2);
        assert_eq!(s(locate("127.0.0.1:25000/leaven-test/app:1")), ("127.0.0.1:25000".into(), "leaven-test/app".into(), "1".into()));
        assert_eq!(s(locate("app")), ("registry-1.docker.io".into(), "library/app".into(), "latest".into()));
        assert_eq!(s(locate("docker.io/org/app:2")), ("registry-1.docker.io".into(), "org/app".into(), "2".into()));
        assert!(is_loopback("127.0.0.1:25000") && is_loopback("localhost") && is_loopback("[::1]:5000"));
        assert!(!is_loopback("ghcr.io") && !is_loopback("10.0.0.1:5000"));
    }

    #[test]
    fn challenges_parse_as_registries_send_them() {
        let (scheme, params) = parse_challenge(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:org/app:pull,push""#);
        assert_eq!(scheme, "bearer");
        assert_eq!(
            params,
            vec![
                ("realm".to_string(), "https://auth.docker.io/token".to_string()),
                ("service".to_string(), "registry.docker.io".to_string()),
                ("scope".to_string(), "repository:org/app:pull,push".to_string()),
            ]
        );
        assert_eq!(parse_challenge(r#"Basic realm="r""#).0, "basic");
        assert_eq!(query_escape("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
    }

    #[test]
    fn the_index_is_a_docker_list_only_of_docker_manifests() {
        let entry = |m: &str, d: &str| json!({ "mediaType": m, "digest": d, "size": 1 });
        let annotations = std::collections::BTreeMap::from([("k".to_string(), "v".to_string())]);
        let (media_type, bytes) = index_of(vec![entry(DOCKER_MANIFEST, "sha256:a"), entry(DOCKER_MANIFEST, "sha256:b")], &annotations);
        assert_eq!(media_type, DOCKER_LIST);
        let index: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(index.get("annotations").is_none(), "a Docker list carries no annotations");
        let (media_type, bytes) = index_of(vec![entry(OCI_MANIFEST, "sha256:a"), entry(DOCKER_MANIFEST, "sha256:b")], &annotations);
        assert_eq!(media_type, OCI_INDEX);
        let index: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(index["annotations"]["k"], "v");
        assert_eq!(index["manifests"][1]["digest"], "sha256:b");
    }
}
