//! The client side of a BuildKit session: the gRPC services the daemon calls
//! back into while it builds (file sync, secrets, SSH, auth, file send, health).
//!
//! A session is a gRPC *server* run by us on one connection the daemon dials
//! through (a `/session` upgrade or a `Control.Session` tunnel, see
//! `crate::transport`). The daemon only calls methods we advertise, so the
//! identity headers list every method served.

pub mod auth;
mod filesend;
pub mod fsutil;
mod filesync;
mod health;
mod secrets;
mod ssh;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use std::convert::Infallible;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::server::NamedService;
use tower::util::BoxCloneSyncService;
use tower::ServiceExt;

pub use auth::{AuthError, DockerAuth};
pub use filesend::{FileOutput, FileOutputs, OutputError};
pub use secrets::SecretSource;

/// The HTTP/2 flow-control window of a session connection.
const SESSION_WINDOW: u32 = 64 << 20;

/// BuildKit's message limit on both sides of a session (tonic's default is 4 MiB).
pub const MAX_MESSAGE: usize = 16 << 20;

/// A local directory the daemon may pull (`context`, `dockerfile`, a named context).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedDir {
    pub root: PathBuf,
}

/// Everything one session serves.
#[derive(Default)]
pub struct Services {
    /// Local name → directory, for FileSync.
    pub dirs: BTreeMap<String, SyncedDir>,
    pub secrets: BTreeMap<String, SecretSource>,
    /// SSH agent id → agent socket path.
    pub ssh_agents: BTreeMap<String, PathBuf>,
    /// Where exporters that write to the client put their output, by exporter index.
    pub outputs: Option<Arc<FileOutputs>>,
    pub auth: Option<Arc<DockerAuth>>,
}

/// One session: its identity and the services behind it.
pub struct Session {
    pub id: String,
    pub shared_key: String,
    services: Services,
}

impl Session {
    pub fn new(shared_key: impl Into<String>, services: Services) -> Session {
        Session { id: new_id(), shared_key: shared_key.into(), services }
    }

    /// The identity headers (HTTP header names; the tunnel lower-cases them):
    /// one `Grpc-Method` field per method, as the daemon never splits a list.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![
            ("X-Docker-Expose-Session-Uuid".to_string(), self.id.clone()),
            ("X-Docker-Expose-Session-Sharedkey".to_string(), self.shared_key.clone()),
        ];
        headers.extend(self.methods().into_iter().map(|m| ("X-Docker-Expose-Session-Grpc-Method".to_string(), m.to_string())));
        headers
    }

    fn methods(&self) -> Vec<&'static str> {
        let s = &self.services;
        let mut methods = vec![health::METHOD];
        if !s.dirs.is_empty() {
            methods.extend(filesync::METHODS);
        }
        if s.outputs.is_some() {
            methods.push(filesend::METHOD);
        }
        if !s.secrets.is_empty() {
            methods.push(secrets::METHOD);
        }
        if !s.ssh_agents.is_empty() {
            methods.extend(ssh::METHODS);
        }
        if s.auth.is_some() {
            methods.extend(auth::METHODS);
        }
        methods
    }

    /// Serves the session on `io` until the daemon closes the connection. The
    /// daemon is the HTTP/2 client here: it sends the preface, we answer.
    pub async fn serve<IO>(self, io: IO) -> Result<(), SessionError>
    where
        IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let Services { dirs, secrets, ssh_agents, outputs, auth } = self.services;
        let mut routes = Router::default();
        routes.add(health::server());
        if !dirs.is_empty() {
            routes.add(filesync::server(dirs));
        }
        if let Some(outputs) = outputs {
            routes.add(filesend::FileSendService::new(outputs));
        }
        if !secrets.is_empty() {
            routes.add(secrets::server(secrets));
        }
        if !ssh_agents.is_empty() {
            routes.add(ssh::server(ssh_agents));
        }
        if let Some(auth) = auth {
            routes.add(auth::server(auth));
        }
        let service = TowerToHyperService::new(tower::service_fn(move |request| routes.clone().call(request)));
        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .max_frame_size(1 << 20)
            // h2 refuses a peer whose small DATA frames pile up beyond half the
            // connection window; an export of many small files (fsutil packets)
            // is such a burst, so the window (and with it the allowance) is large.
            .initial_connection_window_size(SESSION_WINDOW)
            .initial_stream_window_size(SESSION_WINDOW / 2)
            .serve_connection(TokioIo::new(io), service)
            .await
            .map_err(|e| SessionError(e.to_string()))
    }
}

type GrpcRequest = http::Request<Incoming>;
type GrpcResponse = http::Response<tonic::body::Body>;
type BoxedService = BoxCloneSyncService<GrpcRequest, GrpcResponse, Infallible>;

/// Dispatches a call to the service named in its path (`/<package.Service>/<Method>`).
/// A map of a handful of services; tonic's own router would bring in axum.
#[derive(Clone, Default)]
struct Router {
    services: BTreeMap<&'static str, BoxedService>,
}

impl Router {
    fn add<S>(&mut self, service: S)
    where
        S: tower::Service<GrpcRequest, Response = GrpcResponse, Error = Infallible> + NamedService + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
    {
        self.services.insert(S::NAME, BoxCloneSyncService::new(service));
    }

    async fn call(self, request: GrpcRequest) -> Result<GrpcResponse, Infallible> {
        let name = request.uri().path().split('/').nth(1).unwrap_or_default();
        match self.services.get(name).cloned() {
            Some(service) => service.oneshot(request).await,
            None => Ok(tonic::Status::unimplemented(format!("{} is not served by this session", request.uri().path())).into_http()),
        }
    }
}

/// A response stream fed by a task that sends into a channel: how a session
/// service streams replies while it keeps reading the daemon's requests.
pub(crate) fn reply_stream<T, F, Fut>(produce: F) -> tonic::codegen::BoxStream<T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<Result<T, tonic::Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(produce(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// The session connection failed (not a build error: the build fails on its own).
#[derive(Debug, thiserror::Error)]
#[error("the session connection failed: {0}")]
pub struct SessionError(String);

/// A random session id as BuildKit makes them: 25 lowercase base-36 characters.
fn new_id() -> String {
    let mut n = uuid::Uuid::new_v4().as_u128();
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut id = Vec::with_capacity(25);
    for _ in 0..25 {
        id.push(digits[(n % 36) as usize]);
        n /= 36;
    }
    String::from_utf8(id).expect("ASCII digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_25_base36_characters_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 25);
        assert!(a.bytes().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn headers_advertise_only_what_is_served_one_field_per_method() {
        let mut services = Services::default();
        services.dirs.insert("context".into(), SyncedDir { root: ".".into() });
        let session = Session::new("ctx:node", services);
        let methods: Vec<String> =
            session.headers().into_iter().filter(|(k, _)| k.ends_with("Grpc-Method")).map(|(_, v)| v).collect();
        assert!(methods.contains(&"/grpc.health.v1.Health/Check".to_string()));
        assert!(methods.contains(&"/moby.filesync.v1.FileSync/DiffCopy".to_string()));
        assert!(!methods.iter().any(|m| m.contains("Secrets") || m.contains("FileSend")));
    }
}
