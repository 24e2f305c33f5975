//! dockerd's connection upgrades: `POST /grpc` and `POST /session` with
//! `Upgrade: h2c`, answered 101, after which the raw connection carries
//! prior-knowledge HTTP/2 (no HTTP2-Settings, no second response).

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;

use super::endpoint::Endpoint;
use super::error::{reason, TransportError};
use super::http1::{error_message, exchange, require_docker};
use super::BoxedStream;

/// Sends `POST path` with `Upgrade: h2c`, `Connection: Upgrade` and `headers`
/// (one header field per pair), requires status 101 and returns the upgraded
/// connection. Bytes the engine sent right behind the 101 head, which often
/// come in the same read, are served first by the returned stream.
pub async fn upgrade(
    endpoint: &Endpoint,
    path: &str,
    headers: &[(String, String)],
) -> Result<BoxedStream, TransportError> {
    require_docker(endpoint, "HTTP upgrade", "buildkitd speaks HTTP/2 from the first byte")?;
    let request = format!("POST {path}");
    let upgrade_headers = [("connection", "Upgrade"), ("upgrade", "h2c")];
    let all_headers = upgrade_headers.into_iter().chain(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let response = exchange(endpoint, Method::POST, path, all_headers, Empty::<Bytes>::new()).await?;
    // The numeric code decides: documents say "101 UPGRADED", engines send "Switching Protocols".
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(TransportError::UpgradeRefused {
            endpoint: endpoint.to_string(),
            request,
            status: response.status(),
            message: error_message(response).await,
        });
    }
    let upgraded = hyper::upgrade::on(response).await.map_err(|err| TransportError::Http {
        endpoint: endpoint.to_string(),
        request,
        reason: reason(&err),
    })?;
    Ok(Box::new(TokioIo::new(upgraded)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::endpoint::{Address, Engine, Origin};
    use std::path::PathBuf;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixListener;

    /// A one-connection fake dockerd on a unix socket: reads the request head,
    /// writes `answer` in a single write, and returns the request head it saw.
    fn fake_engine(name: &str, answer: &'static [u8]) -> (Endpoint, PathBuf, tokio::task::JoinHandle<String>) {
        let dir = std::env::temp_dir().join(format!("leaven-upgrade-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let socket = dir.join("engine.sock");
        let listener = UnixListener::bind(&socket).expect("bind");
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.expect("accept");
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                conn.read_exact(&mut byte).await.expect("request head");
                head.push(byte[0]);
            }
            conn.write_all(answer).await.expect("answer");
            // Keep the connection open until the client is done reading.
            let _ = conn.read(&mut [0u8; 1]).await;
            String::from_utf8(head).expect("ascii head")
        });
        let endpoint =
            Endpoint { address: Address::Unix(socket), tls: None, engine: Engine::Docker, origin: Origin::DockerHost };
        (endpoint, dir, server)
    }

    #[tokio::test]
    async fn bytes_behind_the_101_are_kept() {
        let answer =
            b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        let (endpoint, dir, server) = fake_engine("kept", answer);
        let headers = vec![
            ("X-Docker-Expose-Session-Uuid".to_string(), "abc".to_string()),
            ("X-Docker-Expose-Session-Grpc-Method".to_string(), "/a.A/One".to_string()),
            ("X-Docker-Expose-Session-Grpc-Method".to_string(), "/a.A/Two".to_string()),
        ];
        let mut stream = upgrade(&endpoint, "/session", &headers).await.expect("upgrade");
        let mut preface = [0u8; 24];
        stream.read_exact(&mut preface).await.expect("bytes after the 101");
        assert_eq!(&preface, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        drop(stream);

        let head = server.await.expect("server").to_ascii_lowercase();
        assert!(head.starts_with("post /session http/1.1\r\n"), "{head}");
        for line in ["connection: upgrade", "upgrade: h2c", "x-docker-expose-session-uuid: abc"] {
            assert!(head.contains(&format!("{line}\r\n")), "{line} missing in {head}");
        }
        // One field per method, never a comma-joined value.
        assert!(head.contains("x-docker-expose-session-grpc-method: /a.a/one\r\n"), "{head}");
        assert!(head.contains("x-docker-expose-session-grpc-method: /a.a/two\r\n"), "{head}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_status_other_than_101_is_refused_with_the_engine_message() {
        let answer = b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"message\":\"session abc already exists\"}";
        let (endpoint, dir, _server) = fake_engine("refused", answer);
        let err = upgrade(&endpoint, "/session", &[]).await.err().expect("refused");
        let text = err.to_string();
        assert!(matches!(err, TransportError::UpgradeRefused { status: StatusCode::BAD_REQUEST, .. }), "{text}");
        assert!(text.contains("session abc already exists") && text.contains("POST /session"), "{text}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn an_unreachable_engine_names_the_address_and_its_origin() {
        let endpoint = Endpoint {
            address: Address::Unix("/nonexistent/leaven.sock".into()),
            tls: None,
            engine: Engine::Docker,
            origin: Origin::DockerDefault,
        };
        let err = upgrade(&endpoint, "/grpc", &[]).await.err().expect("no engine").to_string();
        assert!(err.starts_with("cannot connect to unix:///nonexistent/leaven.sock (Docker's default"), "{err}");
    }
}
