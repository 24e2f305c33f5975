//! Placeholder until the fsutil branch lands (replaced by the real sender and receiver).
use std::path::PathBuf;

use crate::proto::fstypes::Packet;

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub follow_paths: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FsError(String);

pub fn decode_patterns(values: Vec<String>, _encoded: bool) -> Vec<String> {
    values
}

pub async fn send<S>(_root: PathBuf, _filter: Filter, _incoming: S, _outgoing: tokio::sync::mpsc::Sender<Result<Packet, tonic::Status>>) -> Result<(), FsError>
where
    S: futures_util::Stream<Item = Result<Packet, tonic::Status>> + Send + Unpin + 'static,
{
    Err(FsError("not yet".into()))
}

pub async fn receive<S>(_dest: PathBuf, _incoming: S, _outgoing: tokio::sync::mpsc::Sender<Result<Packet, tonic::Status>>) -> Result<(), FsError>
where
    S: futures_util::Stream<Item = Result<Packet, tonic::Status>> + Send + Unpin + 'static,
{
    Err(FsError("not yet".into()))
}
