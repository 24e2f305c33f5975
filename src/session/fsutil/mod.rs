//! fsutil's DiffCopy: how BuildKit moves directory trees over a session, in
//! both directions, over streams of `fsutil.types.Packet`.
//!
//! - [`send`]: the daemon pulls a local directory (build context, Dockerfile,
//!   named contexts) through `FileSync.DiffCopy`; we list it and answer
//!   requests for file contents.
//! - [`receive`]: the daemon pushes the `local` exporter's output through
//!   `FileSend.DiffCopy`; we write it into a directory.
//!
//! The protocol: the sender lists every entry as a STAT (in fsutil's walk
//! order, the root itself left out) and ends the listing with an empty STAT;
//! an entry's ID is its position in the listing. The receiver asks for
//! regular files with REQ, the sender answers with DATA chunks and an empty
//! DATA, and when the receiver has everything it sends FIN, which the sender
//! echoes. Either side reports a failure with ERR. Modes are Go's
//! `FileMode` ([`mode`]), not POSIX ones.
//!
//! Both functions only see packet streams; the gRPC handlers wrap them.

mod filter;
pub mod mode;
mod packet;
mod receive;
mod send;
mod validate;
mod walk;

#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;

use tonic::Status;

use crate::patterns::PatternError;
use crate::proto::fstypes::Packet;

pub use receive::receive;
pub use send::send;

/// Where a transfer's packets go; the gRPC handler turns this into the
/// response stream.
pub type Outgoing = tokio::sync::mpsc::Sender<Result<Packet, Status>>;

/// The daemon's filters for one `FileSync.DiffCopy` call (request metadata
/// `include-patterns`, `exclude-patterns` and `followpaths`, decoded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// When not empty, a path must match one of these (Docker patterns).
    pub include: Vec<String>,
    /// A path matching these is left out, unless an exception re-includes it.
    pub exclude: Vec<String>,
    /// Paths whose symlinks are resolved, link and target both included.
    pub follow_paths: Vec<String>,
}

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("invalid {which} patterns: {source}")]
    Pattern { which: &'static str, source: PatternError },
    #[error("cannot send {path}: {source}")]
    Root { path: PathBuf, source: io::Error },
    #[error("resolving follow path {path}: {source}")]
    FollowPath { path: String, source: io::Error },
    #[error("walking {path}: {source}")]
    Walk { path: PathBuf, source: io::Error },
    #[error("{path}: the name is not UTF-8, which the file sync protocol cannot carry")]
    NotUtf8 { path: PathBuf },
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("invalid file id {0}")]
    InvalidFileId(u32),
    #[error("invalid file request {0}")]
    UnexpectedData(u32),
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("changes out of order: {path:?} {previous:?}")]
    OutOfOrder { path: String, previous: String },
    #[error("invalid link {path} to unknown path: {target:?}")]
    UnknownLinkTarget { path: String, target: String },
    #[error("error from receiver: {0}")]
    ReceiverFailed(String),
    #[error("error from sender: {0}")]
    SenderFailed(String),
    #[error("the sender finished before the transfer was complete")]
    SenderFinishedEarly,
    #[error("the stream ended before the transfer was complete")]
    StreamEnded,
    #[error("the outgoing stream is closed")]
    OutgoingClosed,
    #[error("the transfer was stopped")]
    Cancelled,
    #[error("stream failed: {0}")]
    Stream(#[from] Status),
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The daemon's filter metadata values as sent. When any value of a key has
/// a non-ASCII character, BuildKit query-escapes all of them and adds
/// `<key>-encoded: 1`; then `encoded` is true and each value is unescaped.
/// A value that does not unescape becomes empty, as in BuildKit's decoder.
pub fn decode_patterns(values: Vec<String>, encoded: bool) -> Vec<String> {
    if !encoded {
        return values;
    }
    values.iter().map(|value| query_unescape(value).unwrap_or_default()).collect()
}

/// Whether the values of a `<key>-encoded` metadata key turn decoding on:
/// the first one must be true in Go's `strconv.ParseBool` sense.
pub fn encoded_flag(values: &[String]) -> bool {
    values.first().is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "TRUE" | "true" | "True"))
}

/// Go's `url.QueryUnescape`: `%XX` is a byte, `+` a space. Bytes that are
/// not UTF-8 are replaced, as a pattern must be text here.
fn query_unescape(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let text = std::str::from_utf8(hex).ok()?;
                if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                decoded.push(u8::from_str_radix(text, 16).ok()?);
                i += 3;
            }
            b'+' => {
                decoded.push(b' ');
                i += 1;
            }
            byte => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&decoded).into_owned())
}
