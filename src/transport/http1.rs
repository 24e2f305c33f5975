//! Plain HTTP/1.1 to dockerd's REST API: one request per fresh connection, with
//! hyper's client. The upgrades (`/grpc`, `/session`) start the same way.

use std::error::Error as StdError;

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::{Body, Incoming};
use hyper_util::rt::TokioIo;

use super::dial::dial;
use super::endpoint::{Endpoint, Engine};
use super::error::{reason, TransportError};

/// What `GET /_ping` tells about a Docker engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// The daemon's default API version (`Api-Version`), e.g. "1.41".
    pub api_version: String,
}

/// How much of an error body is read to explain a refusal.
const ERROR_BODY_LIMIT: usize = 64 << 10;

/// Sends one request to dockerd's REST API and returns the response as it
/// arrives: status, headers and a body to stream (for pushes and other long
/// answers). `headers` are sent one field per pair, so a name may repeat.
pub async fn request<B>(
    endpoint: &Endpoint,
    method: Method,
    path: &str,
    headers: &[(String, String)],
    body: B,
) -> Result<Response<Incoming>, TransportError>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    require_docker(endpoint, "REST API", "only a Docker engine answers HTTP/1.1")?;
    exchange(endpoint, method, path, headers.iter().map(|(n, v)| (n.as_str(), v.as_str())), body).await
}

/// `GET /_ping`: checks the engine answers and reads its API version.
pub async fn ping(endpoint: &Endpoint) -> Result<Ping, TransportError> {
    let response = request(endpoint, Method::GET, "/_ping", &[], Empty::<Bytes>::new()).await?;
    if !response.status().is_success() {
        let status = response.status();
        return Err(TransportError::Status {
            endpoint: endpoint.to_string(),
            request: "GET /_ping".into(),
            status,
            message: error_message(response).await,
        });
    }
    let Some(api_version) = response.headers().get("api-version").and_then(|value| value.to_str().ok()) else {
        return Err(TransportError::Unexpected {
            endpoint: endpoint.to_string(),
            request: "GET /_ping".into(),
            problem: "the answer has no Api-Version header; is a Docker engine listening there?".into(),
        });
    };
    let api_version = api_version.to_string();
    Ok(Ping { api_version })
}

/// Refuses what only dockerd offers when the endpoint is a buildkitd.
pub(crate) fn require_docker(
    endpoint: &Endpoint,
    what: &'static str,
    instead: &'static str,
) -> Result<(), TransportError> {
    match endpoint.engine {
        Engine::Docker => Ok(()),
        Engine::Buildkitd => Err(TransportError::NotDocker { endpoint: endpoint.to_string(), what, instead }),
    }
}

/// Dials `endpoint` and sends one HTTP/1.1 request on the new connection. The
/// connection is driven by a task of its own that also hands the raw stream
/// (with whatever it read past the response head) to an upgrade after a 101.
pub(crate) async fn exchange<'a, B>(
    endpoint: &Endpoint,
    method: Method,
    path: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: B,
) -> Result<Response<Incoming>, TransportError>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let what = format!("{method} {path}");
    let bad = |problem: String| TransportError::InvalidRequest { request: what.clone(), problem };
    // dockerd ignores Host, but HTTP/1.1 requires one.
    let mut request = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(HOST, endpoint.authority())
        .body(body)
        .map_err(|err| bad(err.to_string()))?;
    for (name, value) in headers {
        let problem = |problem: String| TransportError::Header { name: name.to_string(), problem };
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|err| problem(err.to_string()))?;
        let value = HeaderValue::from_str(value).map_err(|err| problem(err.to_string()))?;
        request.headers_mut().append(header, value);
    }

    let failed = |err: hyper::Error| TransportError::Http {
        endpoint: endpoint.to_string(),
        request: what.clone(),
        reason: reason(&err),
    };
    let stream = dial(endpoint).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(failed)?;
    // Its errors reach us through send_request or the body, so the task's own result says nothing new.
    tokio::spawn(connection.with_upgrades());
    sender.send_request(request).await.map_err(failed)
}

/// The message of an error response: Docker's `{"message": …}`, else the body as text.
pub(crate) async fn error_message(response: Response<Incoming>) -> String {
    let body = match Limited::new(response.into_body(), ERROR_BODY_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => return format!("(the body could not be read: {err})"),
    };
    let json_message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|value| value.get("message").and_then(|m| m.as_str()).map(str::to_string));
    match json_message {
        Some(message) => message,
        None if body.is_empty() => "(no body)".to_string(),
        None => String::from_utf8_lossy(&body).trim().to_string(),
    }
}
