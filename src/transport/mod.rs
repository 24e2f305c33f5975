//! How bytes reach BuildKit: the one place that knows about sockets, TLS and
//! HTTP upgrades. The gateway client, the control client and the session server
//! are handed a channel or a byte stream and never learn which transport made it.
//!
//! - [`stdio`]: the frontend's stdin/stdout, joined by BuildKit into one HTTP/2 connection.
//! - [`endpoint`]: which engine, resolved as the docker CLI and buildctl do.

pub mod endpoint;
pub mod stdio;

pub use endpoint::{
    buildkit_endpoint, docker_endpoint, Address, BuildkitTlsOptions, ClientCertificate, ContextChoice, Endpoint,
    EndpointError, Engine, Origin, TlsSettings,
};
