//! Transport one: the frontend's stdin and stdout, which BuildKit joins to an
//! HTTP/2 connection (prior knowledge, no TLS). Nothing else may touch stdout.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::unix::pipe;
use tonic::transport::{Channel, Endpoint, Uri};
use tower::service_fn;

/// Stdin (engine → us) and stdout (us → engine) as one byte stream.
pub struct StdioStream {
    incoming: pipe::Receiver,
    outgoing: pipe::Sender,
}

impl StdioStream {
    /// Takes over fds 0 and 1. They must be pipes, as BuildKit gives them.
    pub fn from_process() -> io::Result<StdioStream> {
        let stdin: OwnedFd = io::stdin().as_fd().try_clone_to_owned()?;
        let stdout: OwnedFd = io::stdout().as_fd().try_clone_to_owned()?;
        Ok(StdioStream {
            incoming: pipe::Receiver::from_owned_fd(stdin)?,
            outgoing: pipe::Sender::from_owned_fd(stdout)?,
        })
    }
}

impl AsyncRead for StdioStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.incoming).poll_read(cx, buf)
    }
}

impl AsyncWrite for StdioStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.outgoing).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.outgoing).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.outgoing).poll_shutdown(cx)
    }
}

/// A channel over one already-open byte stream. The stream can carry only one
/// connection, so a second connect attempt fails instead of reusing it.
pub async fn channel_over<S>(stream: S) -> Result<Channel, tonic::transport::Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let slot = Arc::new(Mutex::new(Some(stream)));
    Endpoint::from_static("http://buildkit.invalid")
        .connect_with_connector(service_fn(move |_: Uri| {
            let stream = slot.lock().map(|mut s| s.take()).ok().flatten();
            async move {
                stream
                    .map(TokioIo::new)
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the stdio connection was already used"))
            }
        }))
        .await
}
