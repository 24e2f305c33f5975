//! Pushing an image from dockerd's store through the Docker API: with the
//! classic image store BuildKit cannot push itself, so buildx (and leaven) ask
//! the engine to push the tagged image once it has it.

use base64::Engine as _;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty};

use super::DriverError;
use crate::session::DockerAuth;
use crate::transport::{self, Endpoint};

/// `repo[:tag]` → (repository, tag), the tag defaulting to `latest`.
fn split_name(name: &str) -> Result<(&str, &str), String> {
    if name.contains('@') {
        return Err("a name with a digest cannot be pushed by tag".into());
    }
    let repository = super::plan::repository_of(name);
    let (repository, tag) = name.split_at(repository.len());
    Ok((repository, tag.strip_prefix(':').filter(|t| !t.is_empty()).unwrap_or("latest")))
}

/// The registry host a repository lives on, as Docker decides it.
pub(super) fn registry_host(repository: &str) -> &str {
    match repository.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "registry-1.docker.io",
    }
}

/// One line of the push's JSON progress stream that matters: an error.
#[derive(serde::Deserialize)]
struct PushLine {
    #[serde(default)]
    error: Option<String>,
}

pub async fn push(endpoint: &Endpoint, auth: &DockerAuth, name: &str) -> Result<(), DriverError> {
    let fail = |message: String| DriverError::Push { name: name.to_string(), message };
    let (repository, tag) = split_name(name).map_err(fail)?;
    let host = registry_host(repository);
    let credentials = auth.credentials(host).await.map_err(|e| fail(e.to_string()))?;
    let auth_json = if credentials.username.is_empty() && credentials.secret.is_empty() {
        "{}".to_string()
    } else if credentials.username.is_empty() {
        serde_json::json!({ "identitytoken": credentials.secret, "serveraddress": host }).to_string()
    } else {
        serde_json::json!({ "username": credentials.username, "password": credentials.secret, "serveraddress": host }).to_string()
    };
    let header = base64::engine::general_purpose::URL_SAFE.encode(auth_json);
    let path = format!("/images/{repository}/push?tag={tag}");
    let response = transport::request(endpoint, http::Method::POST, &path, &[("X-Registry-Auth".to_string(), header)], Empty::<bytes::Bytes>::new())
        .await
        .map_err(DriverError::Transport)?;
    let status = response.status();
    let mut body = response.into_body().into_data_stream();
    let mut text = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| fail(format!("the engine's answer broke off: {e}")))?;
        text.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&text);
    if !status.is_success() {
        return Err(fail(format!("the engine answered {status}: {}", text.trim())));
    }
    // The engine answers 200 and reports a failed push inside the stream.
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Ok(PushLine { error: Some(error) }) = serde_json::from_str::<PushLine>(line) {
            return Err(fail(error));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_repository_and_tag() {
        assert_eq!(split_name("127.0.0.1:5000/web:1").unwrap(), ("127.0.0.1:5000/web", "1"));
        assert_eq!(split_name("127.0.0.1:5000/web").unwrap(), ("127.0.0.1:5000/web", "latest"));
        assert_eq!(split_name("web").unwrap(), ("web", "latest"));
        assert!(split_name("web@sha256:ab").is_err());
        assert_eq!(registry_host("127.0.0.1:5000/web"), "127.0.0.1:5000");
        assert_eq!(registry_host("localhost/web"), "localhost");
        assert_eq!(registry_host("org/web"), "registry-1.docker.io");
        assert_eq!(registry_host("ghcr.io/org/web"), "ghcr.io");
    }
}
