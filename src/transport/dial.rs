//! Opening a byte stream to an endpoint: a unix socket or TCP, then TLS when the
//! endpoint has it.

use std::future::Future;
use std::io;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::{TcpStream, UnixStream};

use super::endpoint::{Address, Endpoint};
use super::error::TransportError;
use super::{tls, BoxedStream};

/// How long a connect may take; as long as the docker CLI's dialer waits.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// TCP keepalive idle time and probe interval. Engines set no HTTP/2 keepalive
/// policy and punish frequent PINGs, so liveness of idle TCP connections is left
/// to the kernel, with the period the moby client uses on hijacked connections.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// A fresh connection to `endpoint`, TLS included; one per call.
pub async fn dial(endpoint: &Endpoint) -> Result<BoxedStream, TransportError> {
    let failed = |source| TransportError::Connect { endpoint: endpoint.to_string(), source };
    let stream: BoxedStream = match &endpoint.address {
        Address::Unix(path) => Box::new(within_timeout(UnixStream::connect(path)).await.map_err(failed)?),
        Address::Tcp { host, port } => {
            let tcp = within_timeout(TcpStream::connect((host.as_str(), *port))).await.map_err(failed)?;
            // Small gRPC frames must not wait for Nagle's algorithm.
            tcp.set_nodelay(true).map_err(failed)?;
            let keepalive = TcpKeepalive::new().with_time(TCP_KEEPALIVE).with_interval(TCP_KEEPALIVE);
            SockRef::from(&tcp).set_tcp_keepalive(&keepalive).map_err(failed)?;
            Box::new(tcp)
        }
    };
    match &endpoint.tls {
        Some(settings) => tls::handshake(stream, settings, endpoint).await,
        None => Ok(stream),
    }
}

async fn within_timeout<T>(connect: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect).await.unwrap_or_else(|_| {
        Err(io::Error::new(io::ErrorKind::TimedOut, format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())))
    })
}
