//! `moby.filesync.v1.FileSend`: the daemon pushes an exporter's output to us.
//!
//! The proto declares `BytesMessage` both ways, but what travels depends on the
//! exporter: fsutil packets for `local` (a directory), raw tar bytes for `tar`,
//! `oci` and `docker` written to a file. So this service is written by hand
//! with a codec that passes message bytes through, and decodes them per exporter
//! (the index in metadata `buildkit-attachable-exporter-id`).
//!
//! Output is written to a staging path beside the destination and only moved
//! into place by [`FileOutputs::commit`] once the whole build succeeded, so a
//! failed build leaves no partial directory or file.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use futures_util::StreamExt;
use prost::Message;
use tokio::io::AsyncWriteExt;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, StreamingService};
use tonic::{Request, Response, Status, Streaming};

use super::fsutil;
use crate::proto::filesync::BytesMessage;
use crate::proto::fstypes::Packet;

pub const METHOD: &str = "/moby.filesync.v1.FileSend/DiffCopy";
const EXPORTER_ID_KEY: &str = "buildkit-attachable-exporter-id";

/// Where one exporter's output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutput {
    /// A directory (`type=local,dest=`), received as fsutil packets.
    Dir(PathBuf),
    /// A file (`type=tar|oci|docker,dest=`), received as raw bytes; `-` is stdout.
    File(PathBuf),
}

impl FileOutput {
    fn dest(&self) -> &Path {
        match self {
            FileOutput::Dir(p) | FileOutput::File(p) => p,
        }
    }

    /// `<dest>.leaven-<pid>.partial`, beside the destination so the final move is a rename.
    fn staging(&self) -> PathBuf {
        let dest = self.dest();
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into());
        dest.with_file_name(format!(".{name}.leaven-{}.partial", std::process::id()))
    }
}

/// The file outputs of one build, by exporter index.
#[derive(Debug, Default)]
pub struct FileOutputs {
    by_exporter: BTreeMap<usize, FileOutput>,
}

/// A file output could not be written or moved into place.
#[derive(Debug, thiserror::Error)]
#[error("output {path}: {message}")]
pub struct OutputError {
    pub path: String,
    pub message: String,
}

impl FileOutputs {
    pub fn new(by_exporter: BTreeMap<usize, FileOutput>) -> FileOutputs {
        FileOutputs { by_exporter }
    }

    pub fn is_empty(&self) -> bool {
        self.by_exporter.is_empty()
    }

    /// Moves every received output into place. A directory destination is
    /// replaced as a whole: the old one is moved aside first and removed after.
    pub fn commit(&self) -> Result<(), OutputError> {
        for output in self.by_exporter.values() {
            let (dest, staging) = (output.dest(), output.staging());
            if dest == Path::new("-") {
                continue;
            }
            let fail = |what: &str, e: std::io::Error| OutputError { path: dest.display().to_string(), message: format!("{what}: {e}") };
            if !staging.exists() {
                // Nothing was sent (an empty result): an empty directory or file.
                match output {
                    FileOutput::Dir(_) => std::fs::create_dir_all(&staging).map_err(|e| fail("cannot create", e))?,
                    FileOutput::File(_) => std::fs::write(&staging, b"").map_err(|e| fail("cannot create", e))?,
                }
            }
            let aside = dest.with_file_name(format!(
                ".{}.leaven-{}.old",
                dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                std::process::id()
            ));
            let had_dir = dest.is_dir();
            if had_dir {
                std::fs::rename(dest, &aside).map_err(|e| fail("cannot move the old directory aside", e))?;
            }
            std::fs::rename(&staging, dest).map_err(|e| fail("cannot move the output into place", e))?;
            if had_dir {
                let _ = std::fs::remove_dir_all(&aside);
            }
        }
        Ok(())
    }

    /// Removes whatever a failed or cancelled build left in the staging paths.
    pub fn discard(&self) {
        for output in self.by_exporter.values() {
            let staging = output.staging();
            let _ = std::fs::remove_dir_all(&staging);
            let _ = std::fs::remove_file(&staging);
        }
    }
}

/// Message bytes passed through undecoded.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

struct RawEncoder;
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n)))
    }
}

/// The hand-written `FileSend` service.
#[derive(Clone)]
pub struct FileSendService {
    outputs: Arc<FileOutputs>,
}

impl FileSendService {
    pub fn new(outputs: Arc<FileOutputs>) -> FileSendService {
        FileSendService { outputs }
    }
}

impl NamedService for FileSendService {
    const NAME: &'static str = "moby.filesync.v1.FileSend";
}

type Replies = tonic::codegen::BoxStream<Bytes>;

struct DiffCopy(Arc<FileOutputs>);

impl StreamingService<Bytes> for DiffCopy {
    type Response = Bytes;
    type ResponseStream = Replies;
    type Future = tonic::codegen::BoxFuture<Response<Replies>, Status>;

    fn call(&mut self, request: Request<Streaming<Bytes>>) -> Self::Future {
        let outputs = self.0.clone();
        Box::pin(async move { receive(&outputs, request).await })
    }
}

async fn receive(outputs: &FileOutputs, request: Request<Streaming<Bytes>>) -> Result<Response<Replies>, Status> {
    let index: usize = request
        .metadata()
        .get(EXPORTER_ID_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let output = outputs
        .by_exporter
        .get(&index)
        .cloned()
        .ok_or_else(|| Status::not_found(format!("no file output for exporter {index}")))?;
    let staging = output.staging();
    // As buildx does, a destination's missing parent directories are made.
    if let Some(parent) = staging.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| Status::internal(format!("cannot create {}: {e}", parent.display())))?;
    }
    let mut incoming = request.into_inner();
    match output {
        FileOutput::Dir(_) => {
            // fsutil's receiver: it asks for files (REQ) and ends with FIN.
            let packets = incoming.map(|frame| frame.and_then(|b| Packet::decode(b).map_err(|e| Status::invalid_argument(e.to_string()))));
            let replies = super::reply_stream(move |tx| async move {
                let (packet_tx, mut packet_rx) = tokio::sync::mpsc::channel::<Result<Packet, Status>>(16);
                let forward = async {
                    while let Some(packet) = packet_rx.recv().await {
                        let frame = packet.map(|p| Bytes::from(p.encode_to_vec()));
                        if tx.send(frame).await.is_err() {
                            break;
                        }
                    }
                };
                let (received, ()) = tokio::join!(fsutil::receive(staging, Box::pin(packets), packet_tx), forward);
                if let Err(e) = received {
                    let _ = tx.send(Err(Status::internal(e.to_string()))).await;
                }
            });
            Ok(Response::new(replies))
        }
        FileOutput::File(dest) => {
            let to_stdout = dest == Path::new("-");
            let mut sink: Box<dyn tokio::io::AsyncWrite + Send + Unpin> = if to_stdout {
                Box::new(tokio::fs::File::from_std(std::fs::File::from(
                    std::io::stdout().as_fd().try_clone_to_owned().map_err(|e| Status::internal(format!("stdout: {e}")))?,
                )))
            } else {
                Box::new(
                    tokio::fs::File::create(&staging)
                        .await
                        .map_err(|e| Status::internal(format!("cannot create {}: {e}", staging.display())))?,
                )
            };
            while let Some(frame) = incoming.next().await {
                let message = BytesMessage::decode(frame?).map_err(|e| Status::invalid_argument(e.to_string()))?;
                sink.write_all(&message.data).await.map_err(|e| Status::internal(format!("writing {}: {e}", dest.display())))?;
            }
            sink.flush().await.map_err(|e| Status::internal(format!("writing {}: {e}", dest.display())))?;
            // The daemon half-closed and waits for our end of the stream.
            Ok(Response::new(Box::pin(futures_util::stream::empty()) as Replies))
        }
    }
}

impl<B> tower::Service<http::Request<B>> for FileSendService
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = tonic::codegen::BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let outputs = self.outputs.clone();
        Box::pin(async move {
            if request.uri().path() != METHOD {
                return Ok(Status::unimplemented(format!("{} is not served", request.uri().path())).into_http());
            }
            let mut grpc = Grpc::new(RawCodec).apply_max_message_size_config(Some(super::MAX_MESSAGE), Some(super::MAX_MESSAGE));
            Ok(grpc.streaming(DiffCopy(outputs), request).await)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("leaven-filesend-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn commit_replaces_the_destination_and_discard_leaves_nothing() {
        let dir = temp("commit");
        let dest = dir.join("out");
        std::fs::create_dir_all(dest.join("old")).unwrap();
        let output = FileOutput::Dir(dest.clone());
        std::fs::create_dir_all(output.staging().join("new")).unwrap();
        let outputs = FileOutputs::new(BTreeMap::from([(0, output)]));
        outputs.commit().unwrap();
        assert!(dest.join("new").exists() && !dest.join("old").exists());
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out")], "no staging or old copy left");

        let file = FileOutput::File(dir.join("image.tar"));
        std::fs::write(file.staging(), b"partial").unwrap();
        let outputs = FileOutputs::new(BTreeMap::from([(0, file)]));
        outputs.discard();
        assert!(!dir.join("image.tar").exists());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
