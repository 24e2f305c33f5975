//! The receiving side of DiffCopy, as `fsutil.Receive` runs it for the
//! `local` exporter: check each listed entry, create it under the
//! destination, request every regular file, write what arrives, and end with
//! the FIN exchange.
//!
//! Entries are merged into what the destination already holds (nothing is
//! deleted), get the receiving user as owner (no chown), and never land
//! outside it: paths are checked as fsutil checks them, each entry's directory
//! is one this transfer made a real directory (a symlink in its place is
//! replaced), and file data is written without following symlinks.
//!
//! Disk work is blocking and happens on one thread of tokio's blocking pool,
//! fed in listing order, so a file always exists before its data arrives.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{Stream, StreamExt};
use rustix::fs::{AtFlags, FileType, Mode, Timestamps, XattrFlags, CWD};
use tokio::sync::mpsc;
use tonic::Status;

use super::validate::ListingCheck;
use super::{mode, packet, FsError, Outgoing};
use crate::proto::fstypes::packet::PacketType;
use crate::proto::fstypes::{Packet, Stat};

/// Disk commands queued before the packet loop waits for the disk.
const QUEUED_WRITES: usize = 64;

/// Work for the disk thread, in the order it must happen.
enum WriteCommand {
    /// Create a listed entry; `content_id` is set for a regular file whose
    /// data was requested under that ID.
    Create {
        stat: Stat,
        content_id: Option<u32>,
    },
    Append {
        id: u32,
        data: Vec<u8>,
    },
    EndOfFile {
        id: u32,
    },
}

/// A regular file waiting for (more of) its content.
struct OpenFile {
    path: PathBuf,
    handle: Option<File>,
    permissions: u32,
    mod_time: i64,
}

/// A directory whose final mode and mtime are set once everything inside
/// it is written (a read-only directory could not be filled otherwise).
struct FinishedDir {
    path: PathBuf,
    permissions: u32,
    mod_time: i64,
}

struct DiskWriter {
    dest: PathBuf,
    files: HashMap<u32, OpenFile>,
    dirs: Vec<FinishedDir>,
}

/// Names for entries built beside an existing one before replacing it.
static TEMPORARY_NAMES: AtomicU64 = AtomicU64::new(0);

/// Receives a listing from a sender into `dest` (created if missing), then
/// sends FIN and treats the end of the stream after it as success. Any
/// failure is also reported to the sender as ERR.
pub async fn receive<S>(dest: PathBuf, mut incoming: S, outgoing: Outgoing) -> Result<(), FsError>
where
    S: Stream<Item = Result<Packet, Status>> + Send + Unpin,
{
    let (commands, queued) = mpsc::channel(QUEUED_WRITES);
    let writer = tokio::task::spawn_blocking(move || DiskWriter::run(dest, queued));
    let listed = take_listing(&mut incoming, &outgoing, &commands).await;
    drop(commands);
    // The disk thread's own error explains a refused command best.
    let written = writer.await.map_err(FsError::from).and_then(|result| result);
    let outcome = match (listed, written) {
        (Err(FsError::Cancelled), Err(disk)) => Err(disk),
        (Err(listing), _) => Err(listing),
        (Ok(()), written) => written,
    };
    if let Err(error) = outcome {
        if !matches!(error, FsError::OutgoingClosed) {
            // Best effort: the sender learns why we stopped.
            let _ = packet::send(&outgoing, packet::error(&error.to_string())).await;
        }
        return Err(error);
    }
    packet::send(&outgoing, packet::fin()).await?;
    // The sender answers FIN with FIN and may then just drop the stream, so
    // however it ends now, the transfer is done.
    while let Some(Ok(_)) = incoming.next().await {}
    Ok(())
}

/// Reads packets until the listing has ended and every requested file is
/// complete, queueing disk work and requesting file contents.
///
/// Requests wait in a queue of their own: reading must never stop for a
/// sender that is itself waiting for us to take its data.
async fn take_listing<S>(
    incoming: &mut S,
    outgoing: &Outgoing,
    commands: &mpsc::Sender<WriteCommand>,
) -> Result<(), FsError>
where
    S: Stream<Item = Result<Packet, Status>> + Unpin,
{
    let queue = |command| async { commands.send(command).await.map_err(|_| FsError::Cancelled) };
    let mut check = ListingCheck::default();
    let mut next_id: u32 = 0;
    // Files to request, then files requested but not complete.
    let mut unrequested: VecDeque<u32> = VecDeque::new();
    let mut in_flight: HashSet<u32> = HashSet::new();
    let mut listing_done = false;
    while !(listing_done && unrequested.is_empty() && in_flight.is_empty()) {
        let received = tokio::select! {
            permit = outgoing.reserve(), if !unrequested.is_empty() => {
                let permit = permit.map_err(|_| FsError::OutgoingClosed)?;
                if let Some(id) = unrequested.pop_front() {
                    in_flight.insert(id);
                    permit.send(Ok(packet::request(id)));
                }
                continue;
            }
            received = incoming.next() => received,
        };
        let packet = received.ok_or(FsError::StreamEnded)??;
        match PacketType::try_from(packet.r#type) {
            Ok(PacketType::PacketStat) => {
                let Some(stat) = packet.stat else {
                    listing_done = true;
                    continue;
                };
                // IDs count every entry, requested or not.
                let id = next_id;
                next_id = next_id.wrapping_add(1);
                check.check(&stat)?;
                let wants_content = mode::is_regular(stat.mode) && stat.linkname.is_empty();
                queue(WriteCommand::Create { stat, content_id: wants_content.then_some(id) }).await?;
                if wants_content {
                    unrequested.push_back(id);
                }
            }
            Ok(PacketType::PacketData) => {
                if !in_flight.contains(&packet.id) {
                    return Err(FsError::UnexpectedData(packet.id));
                }
                if packet.data.is_empty() {
                    in_flight.remove(&packet.id);
                    queue(WriteCommand::EndOfFile { id: packet.id }).await?;
                } else {
                    queue(WriteCommand::Append { id: packet.id, data: packet.data }).await?;
                }
            }
            Ok(PacketType::PacketErr) => {
                return Err(FsError::SenderFailed(String::from_utf8_lossy(&packet.data).into_owned()))
            }
            Ok(PacketType::PacketFin) => return Err(FsError::SenderFinishedEarly),
            // A receiver has no use for requests; fsutil ignores them too.
            _ => {}
        }
    }
    Ok(())
}

impl DiskWriter {
    fn run(dest: PathBuf, mut queued: mpsc::Receiver<WriteCommand>) -> Result<(), FsError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dest)
            .map_err(|source| FsError::Write { path: dest.clone(), source })?;
        let mut writer = DiskWriter { dest, files: HashMap::new(), dirs: Vec::new() };
        while let Some(command) = queued.blocking_recv() {
            match command {
                WriteCommand::Create { stat, content_id } => writer.create(&stat, content_id)?,
                WriteCommand::Append { id, data } => writer.append(id, &data)?,
                WriteCommand::EndOfFile { id } => writer.end_of_file(id)?,
            }
        }
        // Innermost first, so that a directory made read-only or
        // unsearchable does not block the ones inside it.
        for dir in writer.dirs.iter().rev() {
            finish_metadata(&dir.path, dir.permissions, dir.mod_time)
                .map_err(|source| FsError::Write { path: dir.path.clone(), source })?;
        }
        Ok(())
    }

    fn create(&mut self, stat: &Stat, content_id: Option<u32>) -> Result<(), FsError> {
        let target = self.dest.join(&stat.path);
        let failed = |source| FsError::Write { path: target.clone(), source };
        let existing = match fs::symlink_metadata(&target) {
            Ok(metadata) => Some(metadata),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(failed(e)),
        };
        let is_dir = mode::is_dir(stat.mode);
        if is_dir && existing.as_ref().is_some_and(|m| m.is_dir()) {
            set_xattrs(&target, stat);
            self.finish_dir_later(target, stat);
            return Ok(());
        }
        // Something else is in the way: build beside it, then swap it out.
        let build_at = match &existing {
            Some(_) => {
                let unique = TEMPORARY_NAMES.fetch_add(1, Ordering::Relaxed);
                target.with_file_name(format!(".tmp.leaven.{}.{unique}", std::process::id()))
            }
            None => target.clone(),
        };
        self.build(&build_at, stat).map_err(|source| FsError::Write { path: build_at.clone(), source })?;
        if let Some(existing) = existing {
            // A rename replaces a non-directory, but a directory and a
            // non-directory cannot replace each other.
            if existing.is_dir() && !is_dir {
                fs::remove_dir_all(&target).map_err(failed)?;
            } else if !existing.is_dir() && is_dir {
                fs::remove_file(&target).map_err(failed)?;
            }
            fs::rename(&build_at, &target).map_err(failed)?;
        }
        if let Some(id) = content_id {
            self.files.insert(
                id,
                OpenFile {
                    path: target,
                    handle: None,
                    permissions: mode::unix_permissions(stat.mode),
                    mod_time: stat.mod_time,
                },
            );
        } else if is_dir {
            self.finish_dir_later(target, stat);
        }
        Ok(())
    }

    fn finish_dir_later(&mut self, path: PathBuf, stat: &Stat) {
        self.dirs.push(FinishedDir { path, permissions: mode::unix_permissions(stat.mode), mod_time: stat.mod_time });
    }

    /// Makes the entry at `at`. Regular files start empty and owner-writable;
    /// their mode and mtime are set when their content is complete.
    fn build(&self, at: &Path, stat: &Stat) -> io::Result<()> {
        let permissions = mode::unix_permissions(stat.mode);
        if mode::is_dir(stat.mode) {
            fs::DirBuilder::new().mode(0o700).create(at)?;
        } else if stat.mode & (mode::DEVICE | mode::NAMED_PIPE) != 0 {
            let file_type = if stat.mode & mode::CHAR_DEVICE != 0 {
                FileType::CharacterDevice
            } else if stat.mode & mode::NAMED_PIPE != 0 {
                FileType::Fifo
            } else {
                FileType::BlockDevice
            };
            let device = rustix::fs::makedev(device_number(stat.devmajor)?, device_number(stat.devminor)?);
            rustix::fs::mknodat(CWD, at, file_type, Mode::from_raw_mode(permissions & 0o777), device)?;
            finish_metadata(at, permissions, stat.mod_time)?;
        } else if mode::is_symlink(stat.mode) {
            std::os::unix::fs::symlink(&stat.linkname, at)?;
            set_mod_time(at, stat.mod_time)?;
        } else if !mode::is_regular(stat.mode) {
            return Err(io::Error::new(io::ErrorKind::Unsupported, format!("unsupported file mode {:#o}", stat.mode)));
        } else if !stat.linkname.is_empty() {
            // The listing check made sure the link target is a file listed
            // earlier, so it lies inside the destination.
            fs::hard_link(self.dest.join(&stat.linkname), at)?;
            finish_metadata(at, permissions, stat.mod_time)?;
        } else {
            File::options().write(true).create_new(true).mode(0o600).open(at)?;
        }
        set_xattrs(at, stat);
        Ok(())
    }

    fn append(&mut self, id: u32, data: &[u8]) -> Result<(), FsError> {
        let file = self.files.get_mut(&id).ok_or(FsError::UnexpectedData(id))?;
        let failed = |source| FsError::Write { path: file.path.clone(), source };
        if file.handle.is_none() {
            let opened = OpenOptions::new().append(true).custom_flags(no_follow()).open(&file.path).map_err(failed)?;
            file.handle = Some(opened);
        }
        match file.handle.as_mut() {
            Some(handle) => handle.write_all(data).map_err(failed),
            None => Ok(()),
        }
    }

    fn end_of_file(&mut self, id: u32) -> Result<(), FsError> {
        let file = self.files.remove(&id).ok_or(FsError::UnexpectedData(id))?;
        drop(file.handle);
        finish_metadata(&file.path, file.permissions, file.mod_time)
            .map_err(|source| FsError::Write { path: file.path, source })
    }
}

/// Mode and mtime of something that is not a symlink.
fn finish_metadata(at: &Path, permissions: u32, mod_time: i64) -> io::Result<()> {
    fs::set_permissions(at, Permissions::from_mode(permissions))?;
    set_mod_time(at, mod_time)
}

/// Sets access and modification time to the sent mtime, on the entry itself
/// even when it is a symlink, as fsutil does.
fn set_mod_time(at: &Path, mod_time: i64) -> io::Result<()> {
    let time = rustix::fs::Timespec {
        tv_sec: mod_time.div_euclid(1_000_000_000),
        tv_nsec: mod_time.rem_euclid(1_000_000_000),
    };
    let times = Timestamps { last_access: time, last_modification: time };
    rustix::fs::utimensat(CWD, at, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// Extended attributes are applied where the file system allows; fsutil
/// ignores failures here as well.
fn set_xattrs(at: &Path, stat: &Stat) {
    for (name, value) in &stat.xattrs {
        let _ = rustix::fs::lsetxattr(at, name.as_str(), value, XattrFlags::empty());
    }
}

fn device_number(number: i64) -> io::Result<u32> {
    u32::try_from(number)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("device number {number} out of range")))
}

/// `O_NOFOLLOW`: fail instead of writing through a symlink.
fn no_follow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}
