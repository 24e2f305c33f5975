//! How bytes reach BuildKit: the one place that knows about sockets, TLS and
//! HTTP upgrades. The gateway client, the control client and the session server
//! are handed a channel or a byte stream and never learn which transport made it.
//!
//! - [`stdio`]: the frontend's stdin/stdout, joined by BuildKit into one HTTP/2 connection.
//! - [`endpoint`]: which engine, resolved as the docker CLI and buildctl do.
//! - [`dial`], [`upgrade`]: a fresh (TLS) connection, and dockerd's `/grpc` and `/session` upgrades on it.
//! - [`control_channel`]: the Control API as a tonic channel, on dockerd and buildkitd alike.
//! - [`open_session_upgrade`], [`open_session_tunnel`]: the two session transports.
//! - [`request`], [`ping`]: the few plain Docker REST calls.

mod control;
mod dial;
pub mod endpoint;
mod error;
mod http1;
mod session;
pub mod stdio;
mod tls;
mod upgrade;

use tokio::io::{AsyncRead, AsyncWrite};

pub use control::{control_channel, control_client};
pub use dial::dial;
pub use endpoint::{
    buildkit_endpoint, docker_endpoint, docker_host_endpoint, Address, BuildkitTlsOptions, ClientCertificate, ContextChoice, Endpoint,
    EndpointError, Engine, Origin, TlsSettings,
};
pub use error::TransportError;
pub use http1::{ping, request, Ping};
pub use session::{open_session_tunnel, open_session_upgrade};
pub use upgrade::upgrade;

/// The largest gRPC message sent or accepted, both ways, on every client and
/// server we build: BuildKit's (containerd's) default of 16 MiB.
pub const MAX_MESSAGE_SIZE: usize = 16 << 20;

/// A connection's bytes, whatever carries them.
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + ?Sized> ByteStream for T {}

/// What dialing, upgrading and tunnelling hand out.
pub type BoxedStream = Box<dyn ByteStream>;
