//! What can go wrong between us and an engine. Every message names the endpoint
//! (address and how it was chosen) and what the engine said, if it said anything.

use std::error::Error as StdError;
use std::io;
use std::path::PathBuf;

use tokio_rustls::rustls;

/// A failure to reach an engine or to speak to it.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect to {endpoint}: {source}; is the engine running there?")]
    Connect { endpoint: String, source: io::Error },
    #[error("cannot use the TLS file {path}: {problem}")]
    TlsFile { path: PathBuf, problem: String },
    #[error("TLS with {endpoint} failed: {reason}")]
    Tls { endpoint: String, reason: String },
    #[error("{request} to {endpoint} failed: {reason}")]
    Http { endpoint: String, request: String, reason: String },
    #[error("{request} to {endpoint} was answered {status} instead of 101 Switching Protocols: {message}")]
    UpgradeRefused { endpoint: String, request: String, status: http::StatusCode, message: String },
    #[error("{request} to {endpoint} was answered {status}: {message}")]
    Status { endpoint: String, request: String, status: http::StatusCode, message: String },
    #[error("{request} to {endpoint}: {problem}")]
    Unexpected { endpoint: String, request: String, problem: String },
    #[error("{request} cannot be sent: {problem}")]
    InvalidRequest { request: String, problem: String },
    #[error("the gRPC connection to {endpoint} failed: {reason}")]
    Grpc { endpoint: String, reason: String },
    #[error("header {name:?} cannot be sent: {problem}")]
    Header { name: String, problem: String },
    #[error("the engine refused the Control.Session stream: {}: {}", .status.code(), .status.message())]
    SessionRefused { status: tonic::Status },
    #[error("{endpoint} is a buildkitd, which has no {what}: {instead}")]
    NotDocker { endpoint: String, what: &'static str, instead: &'static str },
}

/// An error and its causes in one line, plus a hint where TLS alerts have a
/// well-known meaning. hyper and tonic keep the interesting part (the io or TLS
/// error) in the source chain, behind generic messages like "connection error".
pub(crate) fn reason(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut hint = None;
    let mut next = Some(err);
    while let Some(current) = next {
        let text = current.to_string();
        // Wrappers often repeat their cause's message; say it once.
        if !parts.iter().any(|seen| seen.contains(&text)) {
            parts.push(text);
        }
        hint = hint.or_else(|| tls_hint(current));
        next = current.source();
    }
    let mut text = parts.join(": ");
    if let Some(hint) = hint {
        text.push_str(" (");
        text.push_str(hint);
        text.push(')');
    }
    text
}

/// The meaning of the TLS alerts an engine sends when it does not like our client certificate.
fn tls_hint(err: &(dyn StdError + 'static)) -> Option<&'static str> {
    // tokio-rustls hands TLS errors over inside an io::Error, whose source() skips them.
    let tls = err.downcast_ref::<rustls::Error>().or_else(|| {
        let inner = err.downcast_ref::<io::Error>()?.get_ref()?;
        inner.downcast_ref::<rustls::Error>()
    })?;
    match tls {
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired) => {
            Some("the engine requires a client certificate: give cert.pem and key.pem")
        }
        rustls::Error::AlertReceived(
            rustls::AlertDescription::BadCertificate | rustls::AlertDescription::UnknownCA,
        ) => Some("the engine rejected the client certificate: it must be signed by a CA the engine trusts"),
        _ => None,
    }
}
