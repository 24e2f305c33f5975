//! TLS over a dialed stream, with rustls: the server's certificate must chain to
//! the given CA and no other, and carry the configured server name.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::endpoint::{Endpoint, Engine, TlsSettings};
use super::error::{reason, TransportError};
use super::BoxedStream;

/// Runs the TLS handshake on `stream` for `endpoint`, whose `tls` is `settings`.
pub(crate) async fn handshake(
    stream: BoxedStream,
    settings: &TlsSettings,
    endpoint: &Endpoint,
) -> Result<BoxedStream, TransportError> {
    let config = client_config(settings, endpoint.engine)?;
    let server_name = ServerName::try_from(settings.server_name.clone()).map_err(|_| TransportError::Tls {
        endpoint: endpoint.to_string(),
        reason: format!(
            "{:?} is neither a DNS name nor an IP address, so it cannot be a TLS server name",
            settings.server_name
        ),
    })?;
    let failed = |err: io::Error| TransportError::Tls { endpoint: endpoint.to_string(), reason: reason(&err) };
    let mut stream = TlsConnector::from(Arc::new(config)).connect(server_name, stream).await.map_err(failed)?;
    if endpoint.engine != Engine::Buildkitd {
        return Ok(Box::new(stream));
    }
    // With TLS 1.3 the server judges our certificate only after our side of the
    // handshake is done, so a refusal arrives as an alert on the first read; for
    // HTTP/2 that read would happen inside the gRPC client, which reports it as a
    // bare "transport error". buildkitd, like any HTTP/2 server, sends its SETTINGS
    // as soon as the connection is up: read those here, where a refusal can be
    // reported with its reason, and replay them. A server that waits for us first
    // costs one wait and is then used as it is.
    let mut head = vec![0u8; FIRST_BYTES_MAX];
    match tokio::time::timeout(FIRST_BYTES_WAIT, stream.read(&mut head)).await {
        Ok(Ok(0)) => Err(failed(io::Error::new(io::ErrorKind::UnexpectedEof, "the engine closed the connection"))),
        Ok(Ok(n)) => {
            head.truncate(n);
            Ok(Box::new(Replay { head: Bytes::from(head), stream }))
        }
        Ok(Err(err)) => Err(failed(err)),
        Err(_) => Ok(Box::new(stream)),
    }
}

/// How long a buildkitd connection may stay silent after the handshake before it is used anyway.
const FIRST_BYTES_WAIT: Duration = Duration::from_secs(3);
/// The most read of what the server says first: its SETTINGS frame is well below this.
const FIRST_BYTES_MAX: usize = 16 << 10;

/// A stream whose first bytes were read ahead; reads get them first.
struct Replay<S> {
    head: Bytes,
    stream: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.head.is_empty() {
            return Pin::new(&mut self.stream).poll_read(cx, buf);
        }
        let n = self.head.len().min(buf.remaining());
        let head = self.head.split_to(n);
        buf.put_slice(&head);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The rustls client configuration for `settings`. buildkitd gets ALPN `h2` (it
/// offers that and nothing else); dockerd gets no ALPN, as its first bytes are
/// HTTP/1.1 even when gRPC follows an upgrade.
fn client_config(settings: &TlsSettings, engine: Engine) -> Result<ClientConfig, TransportError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(&settings.ca)? {
        roots.add(cert).map_err(|err| TransportError::TlsFile {
            path: settings.ca.clone(),
            problem: format!("not a usable CA certificate: {err}"),
        })?;
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|err| TransportError::TlsFile { path: settings.ca.clone(), problem: err.to_string() })?
        .with_root_certificates(roots);
    let mut config = match &settings.client {
        Some(client) => {
            let chain = read_certificates(&client.cert)?;
            let key = PrivateKeyDer::from_pem_file(&client.key).map_err(|err| TransportError::TlsFile {
                path: client.key.clone(),
                problem: format!("no PEM private key could be read: {err}"),
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|err| TransportError::TlsFile {
                path: client.key.clone(),
                problem: format!("does not fit the certificate {}: {err}", client.cert.display()),
            })?
        }
        None => builder.with_no_client_auth(),
    };
    if engine == Engine::Buildkitd {
        config.alpn_protocols = vec![b"h2".to_vec()];
    }
    Ok(config)
}

/// Every certificate of a PEM file; a file without one is an error.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let problem = |problem: String| TransportError::TlsFile { path: path.to_path_buf(), problem };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| problem(err.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| problem(format!("not a valid PEM file: {err}")))?;
    if certs.is_empty() {
        return Err(problem("holds no PEM certificate".to_string()));
    }
    Ok(certs)
}
