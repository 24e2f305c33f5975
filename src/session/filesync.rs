//! `moby.filesync.v1.FileSync`: the daemon pulls a local directory (the build
//! context, the Dockerfile's directory, a named context) by its local name.
//! The request metadata says which directory and how to filter it.

use std::collections::BTreeMap;

use tonic::codegen::BoxStream;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use super::fsutil::{self, Filter};
use super::SyncedDir;
use crate::proto::filesync::file_sync_server::{FileSync, FileSyncServer};
use crate::proto::fstypes::Packet;

/// `TarStream` is not advertised: the daemon only negotiates `diffcopy`.
pub const METHODS: [&str; 1] = ["/moby.filesync.v1.FileSync/DiffCopy"];

struct Dirs {
    dirs: BTreeMap<String, SyncedDir>,
}

/// Every value of a repeated metadata key, decoded when the daemon marked the
/// key as URL-escaped (it does so when any value is not ASCII).
fn patterns(metadata: &MetadataMap, key: &str) -> Vec<String> {
    let values: Vec<String> =
        metadata.get_all(key).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect();
    let encoded = metadata.get(format!("{key}-encoded").as_str()).is_some_and(|v| v.to_str().ok() == Some("1"));
    fsutil::decode_patterns(values, encoded)
}

#[tonic::async_trait]
impl FileSync for Dirs {
    async fn diff_copy(&self, request: Request<Streaming<Packet>>) -> Result<Response<BoxStream<Packet>>, Status> {
        let metadata = request.metadata();
        let name = metadata.get("dir-name").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let dir = self.dirs.get(&name).ok_or_else(|| Status::not_found(format!("no access allowed to dir \"{name}\"")))?;
        let filter = Filter {
            include: patterns(metadata, "include-patterns"),
            exclude: patterns(metadata, "exclude-patterns"),
            follow_paths: patterns(metadata, "followpaths"),
        };
        let root = dir.root.clone();
        let incoming = request.into_inner();
        let replies = super::reply_stream(move |tx| async move {
            if let Err(e) = fsutil::send(root, filter, incoming, tx.clone()).await {
                let _ = tx.send(Err(Status::internal(e.to_string()))).await;
            }
        });
        Ok(Response::new(replies))
    }
}

pub fn server(dirs: BTreeMap<String, SyncedDir>) -> FileSyncServer<impl FileSync> {
    FileSyncServer::new(Dirs { dirs }).max_decoding_message_size(super::MAX_MESSAGE).max_encoding_message_size(super::MAX_MESSAGE)
}
