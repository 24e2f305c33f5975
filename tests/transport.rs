//! The transport module against the real engines of tests/engines/provision.sh:
//! Docker 20.10 and 28 on their unix sockets, and Docker 28's mutual-TLS TCP
//! listener. A missing engine is a failure, never a skip: `make test` provisions them.

use std::path::{Path, PathBuf};

use leaven::proto::control::{InfoRequest, ListWorkersRequest};
use leaven::transport::{
    control_channel, control_client, docker_endpoint, open_session_tunnel, open_session_upgrade, ping, BoxedStream,
    Endpoint, TransportError,
};
use tokio::io::AsyncReadExt;

/// What an HTTP/2 client sends first; the engine is that client on a session.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn engines_root() -> PathBuf {
    std::env::var_os("LEAVEN_ENGINES").map_or_else(|| "/var/lib/leaven-engines".into(), PathBuf::from)
}

/// The endpoint the docker CLI would use with exactly these variables set.
fn endpoint_with(vars: &[(&str, String)]) -> Endpoint {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    // A HOME without a .docker, so the machine's own docker config cannot interfere.
    let home = Path::new("/nonexistent/leaven-transport-home");
    docker_endpoint(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()), home).expect("endpoint")
}

fn docker(version: &str) -> Endpoint {
    endpoint_with(&[("DOCKER_HOST", format!("unix:///run/leaven-test/docker-{version}.sock"))])
}

fn tls_host() -> String {
    std::env::var("LEAVEN_TLS_HOST").unwrap_or_else(|_| "tcp://127.0.0.1:23760".into())
}

fn tls_certs() -> PathBuf {
    std::env::var_os("LEAVEN_TLS_CERTS").map_or_else(|| engines_root().join("tls/client"), PathBuf::from)
}

/// Docker 28 over TCP with TLS, its certificates from `cert_path` as DOCKER_CERT_PATH.
fn docker_28_tls(cert_path: &Path) -> Endpoint {
    endpoint_with(&[
        ("DOCKER_HOST", tls_host()),
        ("DOCKER_TLS_VERIFY", "1".into()),
        ("DOCKER_CERT_PATH", cert_path.display().to_string()),
    ])
}

/// Session identity headers for a fresh session that serves only health.
fn session_headers() -> Vec<(String, String)> {
    vec![
        ("X-Docker-Expose-Session-Uuid".into(), uuid::Uuid::new_v4().simple().to_string()),
        ("X-Docker-Expose-Session-Sharedkey".into(), "leaven-transport-test".into()),
        ("X-Docker-Expose-Session-Grpc-Method".into(), "/grpc.health.v1.Health/Check".into()),
        ("X-Docker-Expose-Session-Grpc-Method".into(), "/grpc.health.v1.Health/Watch".into()),
    ]
}

async fn read_preface(stream: &mut BoxedStream) -> Vec<u8> {
    let mut preface = vec![0u8; PREFACE.len()];
    tokio::time::timeout(std::time::Duration::from_secs(20), stream.read_exact(&mut preface))
        .await
        .expect("the engine sent nothing within 20 s")
        .expect("reading the engine's first bytes");
    preface
}

async fn check_ping(endpoint: &Endpoint, want_prefix: &str) {
    let ping = ping(endpoint).await.unwrap_or_else(|err| panic!("{err}"));
    assert!(ping.api_version.starts_with(want_prefix), "{endpoint}: API version {:?}", ping.api_version);
}

async fn check_list_workers(endpoint: &Endpoint) {
    let channel = control_channel(endpoint).await.unwrap_or_else(|err| panic!("{err}"));
    let workers = control_client(channel)
        .list_workers(ListWorkersRequest::default())
        .await
        .unwrap_or_else(|status| panic!("ListWorkers on {endpoint}: {status}"))
        .into_inner()
        .record;
    assert!(!workers.is_empty(), "{endpoint}: no workers");
    assert!(workers.iter().all(|w| !w.platforms.is_empty()), "{endpoint}: a worker without platforms: {workers:?}");
}

async fn check_session_upgrade(endpoint: &Endpoint) {
    let mut stream = open_session_upgrade(endpoint, &session_headers()).await.unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(read_preface(&mut stream).await, PREFACE, "{endpoint}: /session");
}

async fn check_session_tunnel(endpoint: &Endpoint) {
    let channel = control_channel(endpoint).await.unwrap_or_else(|err| panic!("{err}"));
    let headers = session_headers();
    let mut stream = open_session_tunnel(control_client(channel), &headers).await.unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(read_preface(&mut stream).await, PREFACE, "{endpoint}: Control.Session");
    // The metadata arrived: the engine knows the session by its id. It registers
    // the id under the lock its /session handler checks, before it dials back,
    // so after the preface a second session with that id is refused.
    let err = open_session_upgrade(endpoint, &headers).await.err().expect("a second session with the same id");
    let id = &headers[0].1;
    match &err {
        TransportError::UpgradeRefused { status, message, .. } => {
            assert_eq!(status.as_u16(), 400, "{err}");
            assert!(message.contains(&format!("session {id} already exists")), "{err}");
        }
        _ => panic!("{err}"),
    }
    // Only now may the tunnel, and with it the first session, end.
    drop(stream);
}

/// Runs an HTTP/2 server on a session stream and returns the path of the first
/// call the engine makes: its health check, about 5 s after the session starts.
/// That takes our SETTINGS reaching the engine and its request reaching us.
async fn first_call_on(stream: BoxedStream) -> String {
    let (called, first_call) = tokio::sync::oneshot::channel::<String>();
    let called = std::sync::Mutex::new(Some(called));
    let service = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
        if let Some(called) = called.lock().ok().and_then(|mut slot| slot.take()) {
            let _ = called.send(request.uri().path().to_string());
        }
        // Trailers-only "unimplemented": this test serves no service.
        let response = http::Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", "12")
            .body(http_body_util::Empty::<bytes::Bytes>::new());
        async move { response }
    });
    let server = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    let server = tokio::spawn(server);
    let path = tokio::time::timeout(std::time::Duration::from_secs(30), first_call)
        .await
        .expect("no call from the engine within 30 s")
        .expect("the session server ended before the first call");
    server.abort();
    path
}

const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";

#[tokio::test]
async fn docker_20_ping() {
    check_ping(&docker("20"), "1.").await;
}

#[tokio::test]
async fn docker_28_ping() {
    check_ping(&docker("28"), "1.").await;
}

#[tokio::test]
async fn docker_20_list_workers() {
    check_list_workers(&docker("20")).await;
}

#[tokio::test]
async fn docker_28_list_workers_and_info() {
    let endpoint = docker("28");
    check_list_workers(&endpoint).await;
    let channel = control_channel(&endpoint).await.unwrap_or_else(|err| panic!("{err}"));
    let info = control_client(channel).info(InfoRequest::default()).await.expect("Info").into_inner();
    let version = info.buildkit_version.expect("a BuildKit version");
    assert!(version.version.starts_with('v'), "{version:?}");
}

#[tokio::test]
async fn docker_20_session_upgrade() {
    check_session_upgrade(&docker("20")).await;
}

#[tokio::test]
async fn docker_28_session_upgrade() {
    check_session_upgrade(&docker("28")).await;
}

#[tokio::test]
async fn docker_20_session_tunnel() {
    check_session_tunnel(&docker("20")).await;
}

#[tokio::test]
async fn docker_28_session_tunnel() {
    check_session_tunnel(&docker("28")).await;
}

#[tokio::test]
async fn docker_28_mutual_tls() {
    let endpoint = docker_28_tls(&tls_certs());
    assert!(endpoint.tls.as_ref().is_some_and(|tls| tls.client.is_some()), "{endpoint:?}");
    check_ping(&endpoint, "1.").await;
    check_list_workers(&endpoint).await;
    check_session_upgrade(&endpoint).await;
}

#[tokio::test]
async fn docker_28_tls_without_client_certificate_is_refused() {
    // Only the CA: the engine verifies us too, so it must refuse.
    let dir = std::env::temp_dir().join(format!("leaven-transport-ca-only-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::copy(tls_certs().join("ca.pem"), dir.join("ca.pem")).expect("copy ca.pem");
    let endpoint = docker_28_tls(&dir);
    assert!(endpoint.tls.as_ref().is_some_and(|tls| tls.client.is_none()), "{endpoint:?}");
    let ping_err = ping(&endpoint).await.expect_err("ping without a client certificate").to_string();
    let grpc_err = control_channel(&endpoint).await.expect_err("control without a client certificate").to_string();
    let _ = std::fs::remove_dir_all(&dir);
    for err in [ping_err, grpc_err] {
        assert!(err.contains(&format!("{}, TLS (set by DOCKER_HOST)", tls_host())), "{err}");
        assert!(err.contains("requires a client certificate"), "{err}");
    }
}

#[tokio::test]
async fn session_upgrade_serves_the_engine_calls() {
    for endpoint in [docker("20"), docker("28")] {
        let stream = open_session_upgrade(&endpoint, &session_headers()).await.unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(first_call_on(stream).await, HEALTH_CHECK, "{endpoint}");
    }
}

#[tokio::test]
async fn session_tunnel_serves_the_engine_calls() {
    for endpoint in [docker("20"), docker("28")] {
        let channel = control_channel(&endpoint).await.unwrap_or_else(|err| panic!("{err}"));
        let stream = open_session_tunnel(control_client(channel), &session_headers())
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(first_call_on(stream).await, HEALTH_CHECK, "{endpoint}");
    }
}

/// A stand-in for a buildkitd behind mutual TLS (none runs on the test machine):
/// a Control server answering ListWorkers, with buildkitd's TLS setup (ALPN h2,
/// client certificates required and verified against the CA) and the
/// provisioned server certificate. It records each connection's ALPN protocol
/// and each call's `:authority`.
mod fake_buildkitd {
    use std::net::SocketAddr;
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use leaven::proto::control::control_server::{Control, ControlServer};
    use leaven::proto::control::{ListWorkersRequest, ListWorkersResponse};
    use leaven::proto::worker::WorkerRecord;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls::server::WebPkiClientVerifier;
    use tokio_rustls::rustls::{crypto::ring, RootCertStore, ServerConfig};
    use tower::Service;

    struct Workers;

    #[tonic::async_trait]
    impl Control for Workers {
        async fn list_workers(
            &self,
            _: tonic::Request<ListWorkersRequest>,
        ) -> Result<tonic::Response<ListWorkersResponse>, tonic::Status> {
            let record = vec![WorkerRecord { id: "fake-worker".into(), ..Default::default() }];
            Ok(tonic::Response::new(ListWorkersResponse { record }))
        }
    }

    #[derive(Default)]
    pub struct Seen {
        pub alpn: Vec<Option<Vec<u8>>>,
        pub authorities: Vec<String>,
    }

    pub async fn start(server_certs: &Path) -> (SocketAddr, Arc<Mutex<Seen>>) {
        let provider = Arc::new(ring::default_provider());
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(server_certs.join("ca.pem")).expect("ca.pem") {
            roots.add(ca.expect("CA certificate")).expect("CA");
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .expect("client verifier");
        let chain = CertificateDer::pem_file_iter(server_certs.join("cert.pem"))
            .expect("cert.pem")
            .collect::<Result<Vec<_>, _>>()
            .expect("server certificate");
        let key = PrivateKeyDer::from_pem_file(server_certs.join("key.pem")).expect("key.pem");
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .expect("server config");
        config.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let recorder = seen.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, seen) = (acceptor.clone(), recorder.clone());
                tokio::spawn(async move {
                    // A client without a certificate fails here; the client sees the alert.
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    seen.lock().unwrap().alpn.push(tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec));
                    let control = ControlServer::new(Workers);
                    let service = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                        let authority = request.uri().authority().map(|a| a.to_string()).unwrap_or_default();
                        seen.lock().unwrap().authorities.push(authority);
                        let mut control = control.clone();
                        async move { control.call(request).await }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        (address, seen)
    }
}

#[tokio::test]
async fn buildkitd_over_mutual_tls() {
    use leaven::transport::{buildkit_endpoint, BuildkitTlsOptions, Origin};

    let (address, seen) = fake_buildkitd::start(&engines_root().join("tls/server")).await;
    let certs = tls_certs();
    let addr = format!("tcp://{address}");
    for server_name in [None, Some("localhost")] {
        let options = BuildkitTlsOptions {
            ca: Some(certs.join("ca.pem")),
            cert: Some(certs.join("cert.pem")),
            key: Some(certs.join("key.pem")),
            server_name: server_name.map(String::from),
        };
        let endpoint = buildkit_endpoint(&addr, options, Origin::BuilderFlag).expect("endpoint");
        let channel = control_channel(&endpoint).await.unwrap_or_else(|err| panic!("{err}"));
        let workers = control_client(channel).list_workers(ListWorkersRequest::default()).await.expect("ListWorkers");
        assert_eq!(workers.into_inner().record[0].id, "fake-worker");
        // :authority is the TLS server name, which defaults to the address's host.
        let authority = seen.lock().unwrap().authorities.pop();
        assert_eq!(authority.as_deref(), Some(server_name.unwrap_or("127.0.0.1")));
    }
    assert!(seen.lock().unwrap().alpn.iter().all(|alpn| alpn.as_deref() == Some(b"h2")), "ALPN h2 on every connection");

    // Without a client certificate the handshake is refused, and the error says why.
    let options = BuildkitTlsOptions { ca: Some(certs.join("ca.pem")), ..Default::default() };
    let endpoint = buildkit_endpoint(&addr, options, Origin::BuilderFlag).expect("endpoint");
    let err = control_channel(&endpoint).await.expect_err("no client certificate").to_string();
    assert!(
        err.contains(&format!("{addr}, TLS (given by --builder)")) && err.contains("requires a client certificate"),
        "{err}"
    );
}
