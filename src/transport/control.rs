//! The gRPC channel to BuildKit's Control API (and the LLBBridge behind it).

use std::io;
use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Uri};
use tower::service_fn;

use super::dial::dial;
use super::endpoint::{Endpoint, Engine};
use super::error::{reason, TransportError};
use super::upgrade::upgrade;
use super::{BoxedStream, MAX_MESSAGE_SIZE};
use crate::proto::control::control_client::ControlClient;

/// A gRPC channel to the Control API of `endpoint`. On dockerd every connection
/// is a fresh dial plus `POST /grpc` upgrade, after which we speak HTTP/2 as
/// the client; on buildkitd it is HTTP/2 on the dialed (TLS) stream. When the
/// channel reconnects, it dials again. The first connection is made here, so
/// that an unreachable engine is reported with the address and how it was chosen.
pub async fn control_channel(endpoint: &Endpoint) -> Result<Channel, TransportError> {
    let first = connect(endpoint).await?;
    let first = Arc::new(Mutex::new(Some(first)));
    let grpc_failed = |reason: String| TransportError::Grpc { endpoint: endpoint.to_string(), reason };
    // The URI only supplies :authority (the TLS server name or host:port); the connector decides where bytes go.
    let uri = format!("http://{}", endpoint.authority());
    let target = endpoint.clone();
    tonic::transport::Endpoint::from_shared(uri.clone())
        .map_err(|err| grpc_failed(format!("{uri} is not a usable URI: {err}")))?
        .connect_with_connector(service_fn(move |_: Uri| {
            let ready = first.lock().ok().and_then(|mut slot| slot.take());
            let target = target.clone();
            async move {
                let stream = match ready {
                    Some(stream) => stream,
                    None => connect(&target).await.map_err(io::Error::other)?,
                };
                Ok::<_, io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .map_err(|err| grpc_failed(reason(&err)))
}

/// A Control client on `channel` that sends and accepts messages up to
/// [`MAX_MESSAGE_SIZE`], as BuildKit's own clients do (tonic would stop at 4 MiB).
pub fn control_client(channel: Channel) -> ControlClient<Channel> {
    ControlClient::new(channel).max_decoding_message_size(MAX_MESSAGE_SIZE).max_encoding_message_size(MAX_MESSAGE_SIZE)
}

/// One new connection that is ready for HTTP/2 from our side.
async fn connect(endpoint: &Endpoint) -> Result<BoxedStream, TransportError> {
    match endpoint.engine {
        Engine::Docker => upgrade(endpoint, "/grpc", &[]).await,
        Engine::Buildkitd => dial(endpoint).await,
    }
}
