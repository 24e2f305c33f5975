//! `moby.filesync.v1.Auth`: registry credentials from the docker CLI's config,
//! as the docker CLI finds them: a host's `credHelpers` entry, else the
//! `credsStore`, else the `auths` map. Only `Credentials` is served; the daemon
//! falls back to it (and fetches tokens itself) when the token RPCs are absent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tonic::{Request, Response, Status};

use crate::proto::filesync::auth_server::{Auth, AuthServer};
use crate::proto::filesync::{CredentialsRequest, CredentialsResponse};

pub const METHODS: [&str; 1] = ["/moby.filesync.v1.Auth/Credentials"];

/// The docker CLI's `config.json`, the parts that say where credentials are.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct DockerAuth {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// What the daemon gets for a host: a user and password, or an identity token
/// (`username` empty), or nothing (anonymous).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
}

/// Where a host's credentials are to be found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lookup {
    Helper(String),
    Stored(Credentials),
    Anonymous,
}

/// Docker Hub's registry host answers for the CLI's historical key.
const HUB_HOST: &str = "registry-1.docker.io";
const HUB_KEY: &str = "https://index.docker.io/v1/";

/// Why credentials could not be had: the docker config, or its credential helper.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{}: cannot read: {error}", .path.display())]
    Unreadable { path: PathBuf, error: std::io::Error },
    #[error("{}: not a docker config file: {error}", .path.display())]
    NotAConfig { path: PathBuf, error: serde_json::Error },
    #[error("credential helper {program}: cannot run: {error}")]
    HelperNotRun { program: String, error: std::io::Error },
    #[error("credential helper {program}: {error}")]
    HelperIo { program: String, error: std::io::Error },
    #[error("credential helper {program} failed for {server}: {said}")]
    HelperFailed { program: String, server: String, said: String },
    #[error("credential helper {program} answered something that is not JSON credentials: {error}")]
    HelperReply { program: String, error: serde_json::Error },
}

impl DockerAuth {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; none is no credentials.
    pub fn load(docker_config: Option<&Path>, home: &Path) -> Result<DockerAuth, AuthError> {
        let path: PathBuf = match docker_config {
            Some(dir) => dir.join("config.json"),
            None => home.join(".docker/config.json"),
        };
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| AuthError::NotAConfig { path, error }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerAuth::default()),
            Err(error) => Err(AuthError::Unreadable { path, error }),
        }
    }

    fn lookup(&self, host: &str) -> Lookup {
        let key = if host == HUB_HOST { HUB_KEY } else { host };
        if let Some(helper) = self.cred_helpers.get(key).or_else(|| self.cred_helpers.get(host)) {
            return Lookup::Helper(helper.clone());
        }
        if let Some(store) = &self.creds_store {
            return Lookup::Helper(store.clone());
        }
        // `auths` keys may be written as URLs (`https://host/v1/`): compare hostnames.
        let entry = self.auths.get(key).or_else(|| self.auths.iter().find(|(k, _)| hostname_of(k) == hostname_of(key)).map(|(_, e)| e));
        match entry.and_then(AuthEntry::credentials) {
            Some(c) => Lookup::Stored(c),
            None => Lookup::Anonymous,
        }
    }

    /// The credentials for a registry host, running a credential helper if the config names one.
    pub async fn credentials(&self, host: &str) -> Result<Credentials, AuthError> {
        match self.lookup(host) {
            Lookup::Anonymous => Ok(Credentials::default()),
            Lookup::Stored(c) => Ok(c),
            Lookup::Helper(name) => run_helper(&format!("docker-credential-{name}"), if host == HUB_HOST { HUB_KEY } else { host }).await,
        }
    }
}

impl AuthEntry {
    fn credentials(&self) -> Option<Credentials> {
        if let Some(token) = self.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Some(Credentials { username: String::new(), secret: token.clone() });
        }
        if let Some(encoded) = self.auth.as_ref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (user, password) = text.split_once(':')?;
            return Some(Credentials { username: user.to_string(), secret: password.to_string() });
        }
        match (&self.username, &self.password) {
            (Some(u), Some(p)) if !u.is_empty() => Some(Credentials { username: u.clone(), secret: p.clone() }),
            _ => None,
        }
    }
}

fn hostname_of(key: &str) -> &str {
    let without_scheme = key.split_once("://").map(|(_, rest)| rest).unwrap_or(key);
    without_scheme.split('/').next().unwrap_or(without_scheme)
}

/// `docker-credential-<name> get` (found on PATH), the server URL on stdin, JSON on stdout.
async fn run_helper(program: &str, server: &str) -> Result<Credentials, AuthError> {
    #[derive(Deserialize)]
    struct Reply {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let mut child = tokio::process::Command::new(program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| AuthError::HelperNotRun { program: program.to_string(), error })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper may answer without reading its input ("credentials not found"
        // and exit): what it printed decides, not the closed pipe.
        if let Err(error) = stdin.write_all(server.as_bytes()).await {
            if error.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(AuthError::HelperIo { program: program.to_string(), error });
            }
        }
    }
    let output = child.wait_with_output().await.map_err(|error| AuthError::HelperIo { program: program.to_string(), error })?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout);
        // The helpers' own wording for "nothing stored for this host": anonymous.
        if said.contains("credentials not found") {
            return Ok(Credentials::default());
        }
        return Err(AuthError::HelperFailed { program: program.to_string(), server: server.to_string(), said: said.trim().to_string() });
    }
    let reply: Reply = serde_json::from_slice(&output.stdout)
        .map_err(|error| AuthError::HelperReply { program: program.to_string(), error })?;
    // Helpers mark an identity token with the user name `<token>`.
    if reply.username == "<token>" {
        return Ok(Credentials { username: String::new(), secret: reply.secret });
    }
    Ok(Credentials { username: reply.username, secret: reply.secret })
}

struct Provider {
    config: std::sync::Arc<DockerAuth>,
}

#[tonic::async_trait]
impl Auth for Provider {
    async fn credentials(&self, request: Request<CredentialsRequest>) -> Result<Response<CredentialsResponse>, Status> {
        let host = request.into_inner().host;
        let c = self.config.credentials(&host).await.map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(CredentialsResponse { username: c.username, secret: c.secret }))
    }
}

pub fn server(config: std::sync::Arc<DockerAuth>) -> AuthServer<impl Auth> {
    AuthServer::new(Provider { config }).max_decoding_message_size(super::MAX_MESSAGE).max_encoding_message_size(super::MAX_MESSAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> DockerAuth {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn auths_entries_decode_user_and_password_or_a_token() {
        let c = config(r#"{"auths": {"r.example:5000": {"auth": "dTpwOnE="}, "https://index.docker.io/v1/": {"identitytoken": "tok"}}}"#);
        assert_eq!(c.lookup("r.example:5000"), Lookup::Stored(Credentials { username: "u".into(), secret: "p:q".into() }));
        assert_eq!(c.lookup(HUB_HOST), Lookup::Stored(Credentials { username: String::new(), secret: "tok".into() }));
        assert_eq!(c.lookup("other.example"), Lookup::Anonymous);
    }

    #[test]
    fn url_keys_match_by_hostname() {
        let c = config(r#"{"auths": {"https://r.example/v1/": {"auth": "dTpw"}}}"#);
        assert_eq!(c.lookup("r.example"), Lookup::Stored(Credentials { username: "u".into(), secret: "p".into() }));
    }

    #[test]
    fn helpers_come_before_the_store_and_the_store_before_auths() {
        let c = config(r#"{"credsStore": "desktop", "credHelpers": {"gcr.io": "gcloud"}, "auths": {"gcr.io": {"auth": "dTpw"}}}"#);
        assert_eq!(c.lookup("gcr.io"), Lookup::Helper("gcloud".into()));
        assert_eq!(c.lookup("r.example"), Lookup::Helper("desktop".into()));
    }

    #[tokio::test]
    async fn helper_programs_get_the_server_on_stdin_and_may_answer_a_token() {
        let dir = std::env::temp_dir().join(format!("leaven-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Written by a child process, so that no descriptor of ours for writing
        // the script can be inherited by another test thread's fork (which would
        // make executing it fail with "Text file busy").
        let write = |name: &str, script: &str| {
            let path = dir.join(name);
            let mut child = std::process::Command::new("sh")
                .args(["-c", "cat > \"$0\" && chmod 755 \"$0\""])
                .arg(&path)
                .stdin(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), script.as_bytes()).unwrap();
            assert!(child.wait().unwrap().success());
            path.display().to_string()
        };
        let user = write("user", "#!/bin/sh\nread host\necho \"{\\\"Username\\\":\\\"u-$host\\\",\\\"Secret\\\":\\\"s\\\"}\"\n");
        let token = write("token", "#!/bin/sh\necho '{\"Username\":\"<token>\",\"Secret\":\"t\"}'\n");
        let missing = write("missing", "#!/bin/sh\necho 'credentials not found in native keychain'; exit 1\n");
        assert_eq!(run_helper(&user, "r.example").await.unwrap(), Credentials { username: "u-r.example".into(), secret: "s".into() });
        assert_eq!(run_helper(&token, "r.example").await.unwrap(), Credentials { username: String::new(), secret: "t".into() });
        assert_eq!(run_helper(&missing, "r.example").await.unwrap(), Credentials::default());
        assert!(run_helper(&dir.join("absent").display().to_string(), "r.example").await.unwrap_err().to_string().contains("cannot run"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
