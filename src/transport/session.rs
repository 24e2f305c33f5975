//! The two ways a session's connection reaches the engine. Either way the
//! engine is the HTTP/2 client on the returned stream and the caller runs the
//! session's HTTP/2 server on it; this module only carries the identity
//! headers (`X-Docker-Expose-Session-*`) it is given.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc::{self, error::SendError, OwnedPermit};
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::Channel;
use tonic::Streaming;

use super::endpoint::Endpoint;
use super::error::TransportError;
use super::http1::require_docker;
use super::upgrade::upgrade;
use super::BoxedStream;
use crate::proto::control::control_client::ControlClient;
use crate::proto::control::BytesMessage;

/// Largest chunk one outgoing message carries; the Go side reads 32 KiB at a time.
const TUNNEL_CHUNK: usize = 32 << 10;
/// Outgoing messages queued before writes wait for gRPC to take them.
const TUNNEL_QUEUE: usize = 16;

/// Transport A, dockerd only: `POST /session` upgrade with the session's
/// identity `headers` (one header field per pair).
pub async fn open_session_upgrade(
    endpoint: &Endpoint,
    headers: &[(String, String)],
) -> Result<BoxedStream, TransportError> {
    require_docker(
        endpoint,
        "/session endpoint",
        "open the session with open_session_tunnel over the Control channel",
    )?;
    upgrade(endpoint, "/session", headers).await
}

/// Transport B, any engine: a `Control.Session` stream presented as a byte
/// stream. `headers` become request metadata, names lower-cased, one value per
/// pair. Writes become messages, messages are read in order; shutting the write
/// side down half-closes the stream. Returns once the engine accepted the stream
/// (it sends first, the HTTP/2 preface of its client).
pub async fn open_session_tunnel(
    mut control: ControlClient<Channel>,
    headers: &[(String, String)],
) -> Result<BoxedStream, TransportError> {
    let (outgoing, queue) = mpsc::channel(TUNNEL_QUEUE);
    let mut request = tonic::Request::new(ReceiverStream::new(queue));
    for (name, value) in headers {
        let problem = |problem: String| TransportError::Header { name: name.clone(), problem };
        let key =
            MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|err| problem(err.to_string()))?;
        let value = MetadataValue::try_from(value.as_str()).map_err(|err| problem(err.to_string()))?;
        request.metadata_mut().append(key, value);
    }
    let incoming =
        control.session(request).await.map_err(|status| TransportError::SessionRefused { status })?.into_inner();
    Ok(Box::new(Tunnel { outgoing: Some(outgoing), reserving: None, incoming, unread: Bytes::new() }))
}

type Reservation = Pin<Box<dyn Future<Output = Result<OwnedPermit<BytesMessage>, SendError<()>>> + Send>>;

/// The byte-stream face of a `Control.Session` call.
struct Tunnel {
    /// Feeds the request stream; `None` once the write side is shut down.
    outgoing: Option<mpsc::Sender<BytesMessage>>,
    /// A queue slot being waited for by a write that could not go at once.
    reserving: Option<Reservation>,
    incoming: Streaming<BytesMessage>,
    /// What is left of the last message after a short read.
    unread: Bytes,
}

impl AsyncRead for Tunnel {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.unread.is_empty() {
            match ready!(Pin::new(&mut this.incoming).poll_next(cx)) {
                Some(Ok(message)) => this.unread = Bytes::from(message.data),
                Some(Err(status)) => {
                    let text = format!("the engine ended the session stream: {}: {}", status.code(), status.message());
                    return Poll::Ready(Err(io::Error::other(text)));
                }
                // End of stream: a read of zero bytes.
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = this.unread.len().min(buf.remaining());
        buf.put_slice(&this.unread.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Tunnel {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let Some(outgoing) = &this.outgoing else {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the session tunnel's write side is shut down",
            )));
        };
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let reserving = this.reserving.get_or_insert_with(|| Box::pin(outgoing.clone().reserve_owned()));
        let reserved = ready!(reserving.as_mut().poll(cx));
        this.reserving = None;
        match reserved {
            Ok(permit) => {
                let n = buf.len().min(TUNNEL_CHUNK);
                permit.send(BytesMessage { data: buf[..n].to_vec() });
                Poll::Ready(Ok(n))
            }
            Err(_) => {
                Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "the engine closed the session stream")))
            }
        }
    }

    /// Every write is already a queued message; gRPC sends them without being asked.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Dropping the last sender ends the request stream: the call's half-close.
    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.reserving = None;
        self.outgoing = None;
        Poll::Ready(Ok(()))
    }
}
