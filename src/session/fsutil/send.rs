//! The sending side of DiffCopy, as `fsutil.Send` runs it: the listing goes
//! out while requests for file contents are answered by a few readers.
//!
//! The walk and the reads are blocking and run on tokio's blocking pool; the
//! async part only routes packets, so the runtime stays free for the session's
//! health checks.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tonic::Status;

use super::walk::Tree;
use super::{mode, packet, Filter, FsError, Outgoing};
use crate::proto::fstypes::packet::PacketType;
use crate::proto::fstypes::Packet;

/// fsutil answers requests with this many concurrent readers.
const READERS: usize = 4;
/// Size of the DATA chunks (fsutil's copy buffer).
const CHUNK: usize = 32 * 1024;
/// Requests queued for the readers before the request loop waits.
const QUEUED_REQUESTS: usize = 128;

/// A regular file the receiver asked for.
struct FileRequest {
    id: u32,
    path: String,
}

/// State shared by the listing, the readers and the request loop.
struct Shared {
    tree: Tree,
    outgoing: Outgoing,
    /// IDs of listed regular files not requested yet, with their paths.
    requestable: Mutex<HashMap<u32, String>>,
    /// Set when the transfer is over, so blocking tasks stop early.
    stopped: AtomicBool,
}

/// Sends the directory `root` to a receiver, filtered by `filter`: one STAT
/// per entry (the root itself is not listed), an empty STAT to end the
/// listing, DATA for each requested file, and FIN in answer to the receiver's
/// FIN, after which it returns. A failed walk is reported to the receiver as
/// ERR. `incoming` carries the receiver's packets, `outgoing` takes ours.
pub async fn send<S>(root: PathBuf, filter: Filter, mut incoming: S, outgoing: Outgoing) -> Result<(), FsError>
where
    S: Stream<Item = Result<Packet, Status>> + Send + Unpin,
{
    let tree = tokio::task::spawn_blocking(move || Tree::open(&root, &filter)).await??;
    let shared =
        Arc::new(Shared { tree, outgoing, requestable: Mutex::new(HashMap::new()), stopped: AtomicBool::new(false) });
    let (requests, queued) = mpsc::channel(QUEUED_REQUESTS);
    let queued = Arc::new(Mutex::new(queued));
    let mut tasks = JoinSet::new();
    let lister = Arc::clone(&shared);
    tasks.spawn_blocking(move || list(&lister));
    for _ in 0..READERS {
        let (reader, queued) = (Arc::clone(&shared), Arc::clone(&queued));
        tasks.spawn_blocking(move || answer_requests(&reader, &queued));
    }
    let outcome = route(&shared, &mut incoming, &requests, &mut tasks).await;
    shared.stopped.store(true, Ordering::Relaxed);
    drop(requests);
    // Blocking tasks cannot be aborted; waiting for them keeps anything from
    // being sent after we return.
    while tasks.join_next().await.is_some() {}
    outcome
}

/// Handles the receiver's packets until its FIN, or until something fails.
async fn route<S>(
    shared: &Shared,
    incoming: &mut S,
    requests: &mpsc::Sender<FileRequest>,
    tasks: &mut JoinSet<Result<(), FsError>>,
) -> Result<(), FsError>
where
    S: Stream<Item = Result<Packet, Status>> + Unpin,
{
    loop {
        tokio::select! {
            received = incoming.next() => {
                let packet = received.ok_or(FsError::StreamEnded)??;
                match PacketType::try_from(packet.r#type) {
                    Ok(PacketType::PacketReq) => {
                        let path = shared.requestable.lock().unwrap_or_else(PoisonError::into_inner).remove(&packet.id);
                        let path = path.ok_or(FsError::InvalidFileId(packet.id))?;
                        requests.send(FileRequest { id: packet.id, path }).await.map_err(|_| FsError::Cancelled)?;
                    }
                    Ok(PacketType::PacketFin) => return packet::send(&shared.outgoing, packet::fin()).await,
                    Ok(PacketType::PacketErr) => {
                        return Err(FsError::ReceiverFailed(String::from_utf8_lossy(&packet.data).into_owned()));
                    }
                    // fsutil's sender ignores everything else.
                    _ => {}
                }
            }
            Some(finished) = tasks.join_next() => finished??,
        }
    }
}

/// Streams the listing; entries that are regular files become requestable
/// under their position in it.
fn list(shared: &Shared) -> Result<(), FsError> {
    let mut next_id: u32 = 0;
    let walked = shared.tree.walk(&mut |stat| {
        if shared.stopped.load(Ordering::Relaxed) {
            return Err(FsError::Cancelled);
        }
        if mode::is_regular(stat.mode) {
            shared.requestable.lock().unwrap_or_else(PoisonError::into_inner).insert(next_id, stat.path.clone());
        }
        next_id = next_id.wrapping_add(1);
        packet::send_blocking(&shared.outgoing, packet::stat(Some(stat)))
    });
    match walked {
        Ok(()) => packet::send_blocking(&shared.outgoing, packet::stat(None)),
        Err(error) => {
            if !matches!(error, FsError::Cancelled | FsError::OutgoingClosed) {
                // Best effort: the receiver learns why the listing stopped.
                let _ = packet::send_blocking(&shared.outgoing, packet::error(&error.to_string()));
            }
            Err(error)
        }
    }
}

/// One reader: takes queued requests until the queue closes.
fn answer_requests(shared: &Shared, queued: &Mutex<mpsc::Receiver<FileRequest>>) -> Result<(), FsError> {
    loop {
        let request = queued.lock().unwrap_or_else(PoisonError::into_inner).blocking_recv();
        let Some(request) = request else { return Ok(()) };
        if shared.stopped.load(Ordering::Relaxed) {
            return Ok(());
        }
        send_file(shared, &request)?;
    }
}

/// The file's content in chunks, then an empty DATA. A file that cannot be
/// opened (or that fsutil's filter refuses to open) is sent as just the empty
/// DATA; a read that fails midway fails the transfer.
fn send_file(shared: &Shared, request: &FileRequest) -> Result<(), FsError> {
    let full = shared.tree.root.join(&request.path);
    let opened = if shared.tree.filter.allows_open(&request.path) { File::open(&full).ok() } else { None };
    if let Some(mut file) = opened {
        loop {
            if shared.stopped.load(Ordering::Relaxed) {
                return Err(FsError::Cancelled);
            }
            let mut chunk = vec![0; CHUNK];
            let read = match file.read(&mut chunk) {
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(FsError::Read { path: full, source }),
            };
            if read == 0 {
                break;
            }
            chunk.truncate(read);
            packet::send_blocking(&shared.outgoing, packet::data(request.id, chunk))?;
        }
    }
    packet::send_blocking(&shared.outgoing, packet::data(request.id, Vec::new()))
}
