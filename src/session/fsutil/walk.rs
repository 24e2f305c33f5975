//! The listing a sender streams: every entry under the root that survives the
//! filters, in the order fsutil walks (depth first, entries of a directory in
//! byte-wise name order), each as the `Stat` fsutil would build for it.
//!
//! The walk is blocking; callers run it off the async runtime.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::filter::{is_missing, PathFilter};
use super::{mode, FsError};
use crate::patterns::{ParentMatches, PatternMatcher};
use crate::proto::fstypes::Stat;

/// A directory ready to be sent: resolved root and compiled filters.
#[derive(Debug)]
pub struct Tree {
    pub root: PathBuf,
    pub filter: PathFilter,
}

/// An entry as visited: its stat, plus what the walk needs to finish it.
struct Visited {
    stat: Stat,
    /// Device and inode of a non-directory that has other hardlinks.
    shared_inode: Option<(u64, u64)>,
    /// The name or link target is not UTF-8, which a wire path cannot carry.
    unrepresentable: bool,
}

/// A directory the walk is inside of; it is emitted lazily, just before the
/// first entry below it that passes the filters.
struct OpenDir {
    path_with_slash: String,
    entry: Visited,
    include: ParentMatches,
    exclude: ParentMatches,
    /// Filtered out itself (its entries may still pass).
    filtered_out: bool,
    emitted: bool,
}

/// Which filter a matcher is.
#[derive(Clone, Copy)]
enum Role {
    /// Entries must match.
    Include,
    /// Entries must not match.
    Exclude,
}

/// One filter's decision on an entry.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    /// Not listed, though entries below it may be.
    FilterOut,
    /// Not listed, and nothing below it can be.
    SkipDir,
}

/// What to do after visiting an entry.
enum Next {
    /// Go on (into it, for a directory).
    Continue,
    /// Do not look inside this directory.
    SkipDir,
}

struct Walk<'a> {
    tree: &'a Tree,
    emit: &'a mut dyn FnMut(Stat) -> Result<(), FsError>,
    open_dirs: Vec<OpenDir>,
    /// Where the content of each multiply-linked inode was first sent.
    first_path_of_inode: HashMap<(u64, u64), String>,
}

impl Tree {
    /// The root is resolved through symlinks and must be a directory.
    pub fn open(root: &Path, filter: &super::Filter) -> Result<Tree, FsError> {
        let failed = |source| FsError::Root { path: root.to_path_buf(), source };
        let resolved = fs::canonicalize(root).map_err(failed)?;
        if !fs::metadata(&resolved).map_err(failed)?.is_dir() {
            return Err(failed(io::Error::from(io::ErrorKind::NotADirectory)));
        }
        let filter = PathFilter::new(&resolved, filter)?;
        Ok(Tree { root: resolved, filter })
    }

    /// Calls `emit` with each listed entry in order.
    pub fn walk(&self, emit: &mut dyn FnMut(Stat) -> Result<(), FsError>) -> Result<(), FsError> {
        let mut walk = Walk { tree: self, emit, open_dirs: Vec::new(), first_path_of_inode: HashMap::new() };
        walk.directory("", &self.root)
    }
}

impl Walk<'_> {
    fn directory(&mut self, rel: &str, full: &Path) -> Result<(), FsError> {
        let names = match sorted_entries(full) {
            Ok(names) => names,
            Err(source) => return self.unreadable_directory(rel, source),
        };
        // An entry that vanished mid-walk ends the directory when it was not a
        // directory itself, as fsutil's walk gives up on the rest then.
        for (name, listed_as_dir) in names {
            let child_rel = match rel {
                "" => name.to_string_lossy().into_owned(),
                _ => format!("{rel}/{}", name.to_string_lossy()),
            };
            let child_full = full.join(&name);
            let metadata = match fs::symlink_metadata(&child_full) {
                Ok(metadata) => metadata,
                Err(e) if is_missing(&e) && listed_as_dir => continue,
                Err(e) if is_missing(&e) => return Ok(()),
                Err(source) => return Err(FsError::Walk { path: child_full, source }),
            };
            let unrepresentable = std::str::from_utf8(name.as_bytes()).is_err();
            let entry = match visit_stat(&child_rel, &child_full, &metadata, unrepresentable) {
                Ok(entry) => entry,
                Err(e) if is_missing(&e) && listed_as_dir => continue,
                Err(e) if is_missing(&e) => return Ok(()),
                Err(source) => return Err(FsError::Walk { path: child_full, source }),
            };
            match self.visit(&child_rel, entry)? {
                Next::Continue if metadata.is_dir() => self.directory(&child_rel, &child_full)?,
                Next::Continue | Next::SkipDir => {}
            }
        }
        Ok(())
    }

    /// A directory whose entries cannot be read (it was already listed).
    /// fsutil tolerates a vanished directory, a permission error on one the
    /// filters excluded, and any error on the root itself, whose report it
    /// drops.
    fn unreadable_directory(&mut self, rel: &str, source: io::Error) -> Result<(), FsError> {
        // The directory was pushed by its visit just before.
        let filtered_out = self.open_dirs.last().is_some_and(|dir| dir.filtered_out);
        if rel.is_empty() || is_missing(&source) || (filtered_out && source.kind() == io::ErrorKind::PermissionDenied) {
            return Ok(());
        }
        Err(FsError::Walk { path: self.tree.root.join(rel), source })
    }

    /// fsutil's filter step for one entry: decide whether it is listed,
    /// whether its directory is worth entering, and emit it (after any
    /// directories above it still waiting to be emitted).
    fn visit(&mut self, rel: &str, entry: Visited) -> Result<Next, FsError> {
        while self.open_dirs.last().is_some_and(|dir| !rel.starts_with(&dir.path_with_slash)) {
            self.open_dirs.pop();
        }
        let is_dir = mode::is_dir(entry.stat.mode);
        let filter = &self.tree.filter;
        let parent = self.open_dirs.last();
        let (by_include, include) =
            verdict(filter.include.as_ref(), Role::Include, rel, parent.map(|dir| &dir.include), is_dir);
        if by_include == Verdict::SkipDir {
            return Ok(Next::SkipDir);
        }
        let (by_exclude, exclude) =
            verdict(filter.exclude.as_ref(), Role::Exclude, rel, parent.map(|dir| &dir.exclude), is_dir);
        if by_exclude == Verdict::SkipDir {
            return Ok(Next::SkipDir);
        }
        let filtered_out = by_include == Verdict::FilterOut || by_exclude == Verdict::FilterOut;
        if !filtered_out {
            for index in 0..self.open_dirs.len() {
                if !self.open_dirs[index].emitted {
                    self.open_dirs[index].emitted = true;
                    let stat = self.open_dirs[index].entry.stat.clone();
                    self.emit_checked(stat, self.open_dirs[index].entry.unrepresentable)?;
                }
            }
        }
        if is_dir {
            if !filtered_out {
                self.emit_checked(entry.stat.clone(), entry.unrepresentable)?;
            }
            let path_with_slash = format!("{rel}/");
            self.open_dirs.push(OpenDir {
                path_with_slash,
                entry,
                include,
                exclude,
                filtered_out,
                emitted: !filtered_out,
            });
        } else if !filtered_out {
            let stat = self.link_to_first_path(entry.stat, entry.shared_inode);
            self.emit_checked(stat, entry.unrepresentable)?;
        }
        Ok(Next::Continue)
    }

    /// The second and later listed paths of an inode are sent as hardlinks to
    /// the first listed one. fsutil records the first path it *visits* and
    /// then, because that path may have been filtered out, rewrites links
    /// so that the first path it *sends* carries the content; recording only
    /// sent paths gives the same listing. The size stays the file's size, as
    /// fsutil's stat leaves it.
    fn link_to_first_path(&mut self, mut stat: Stat, shared_inode: Option<(u64, u64)>) -> Stat {
        if let Some(inode) = shared_inode {
            match self.first_path_of_inode.get(&inode) {
                Some(first) => stat.linkname = first.clone(),
                None => {
                    self.first_path_of_inode.insert(inode, stat.path.clone());
                }
            }
        }
        stat
    }

    fn emit_checked(&mut self, stat: Stat, unrepresentable: bool) -> Result<(), FsError> {
        if unrepresentable {
            return Err(FsError::NotUtf8 { path: self.tree.root.join(&stat.path) });
        }
        (self.emit)(stat)
    }
}

/// A filter's decision on the entry `rel`, with what its check found for
/// the entries below (see `PatternMatcher::matches_below`). A directory the
/// filter rejects is only entered when a pattern might still want something
/// inside it.
fn verdict(
    matcher: Option<&PatternMatcher>,
    role: Role,
    rel: &str,
    parent: Option<&ParentMatches>,
    is_dir: bool,
) -> (Verdict, ParentMatches) {
    let Some(matcher) = matcher else { return (Verdict::Keep, ParentMatches::default()) };
    let (matched, found) = matcher.matches_below(rel, parent.unwrap_or(&ParentMatches::default()));
    let wanted = match role {
        Role::Include => matched,
        Role::Exclude => !matched,
    };
    if wanted {
        return (Verdict::Keep, found);
    }
    let may_want_below = match role {
        Role::Include => matcher.may_include_below(rel),
        Role::Exclude => matcher.may_reinclude_below(rel),
    };
    (if is_dir && !may_want_below { Verdict::SkipDir } else { Verdict::FilterOut }, found)
}

/// The names in a directory, sorted byte-wise as Go's `os.ReadDir` sorts
/// them, each with whether the listing says it is a directory.
fn sorted_entries(dir: &Path) -> io::Result<Vec<(std::ffi::OsString, bool)>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let listed_as_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        entries.push((entry.file_name(), listed_as_dir));
    }
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(entries)
}

/// The stat fsutil sends for one entry (buildkit's client resets owners to
/// 0 for every synced directory, and so do we).
fn visit_stat(rel: &str, full: &Path, metadata: &Metadata, mut unrepresentable: bool) -> io::Result<Visited> {
    let go_mode = mode::from_unix(metadata.mode()) & !mode::SOCKET;
    let mut stat = Stat { path: rel.to_string(), mode: go_mode, mod_time: modified_ns(metadata), ..Stat::default() };
    let mut shared_inode = None;
    if !metadata.is_dir() {
        stat.size = i64::try_from(metadata.size()).unwrap_or(i64::MAX);
        if go_mode & mode::DEVICE != 0 {
            let (major, minor) = split_device(metadata.rdev());
            stat.devmajor = major;
            stat.devminor = minor;
        }
        if mode::is_symlink(go_mode) {
            let target = fs::read_link(full)?;
            unrepresentable |= target.to_str().is_none();
            stat.linkname = target.to_string_lossy().into_owned();
        } else if metadata.nlink() > 1 {
            shared_inode = Some((metadata.dev(), metadata.ino()));
        }
    }
    stat.xattrs = read_xattrs(full)?;
    Ok(Visited { stat, shared_inode, unrepresentable })
}

fn modified_ns(metadata: &Metadata) -> i64 {
    metadata.mtime().saturating_mul(1_000_000_000).saturating_add(metadata.mtime_nsec())
}

/// Major and minor numbers from `st_rdev` in the classic Linux encoding fsutil
/// uses (12 bits of major, 20 of minor).
fn split_device(rdev: u64) -> (i64, i64) {
    let major = (rdev >> 8) & 0xfff;
    let minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
    (major as i64, minor as i64)
}

/// Extended attributes, except macOS's own `com.apple.*`. A file system
/// without xattr support has none; an attribute that vanishes between
/// listing and reading is skipped.
fn read_xattrs(full: &Path) -> io::Result<std::collections::BTreeMap<String, Vec<u8>>> {
    let mut xattrs = std::collections::BTreeMap::new();
    let names = match with_growing_buffer(|buffer| rustix::fs::llistxattr(full, buffer)) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTSUP.raw_os_error()) => return Ok(xattrs),
        Err(e) => return Err(e),
    };
    for name in names.split(|&b| b == 0).filter(|name| !name.is_empty()) {
        let Ok(name) = std::str::from_utf8(name) else { continue };
        if name.starts_with("com.apple.") {
            continue;
        }
        if let Ok(value) = with_growing_buffer(|buffer| rustix::fs::lgetxattr(full, name, buffer)) {
            xattrs.insert(name.to_string(), value);
        }
    }
    Ok(xattrs)
}

/// Calls an xattr function with a buffer that grows until the answer fits.
fn with_growing_buffer(mut call: impl FnMut(&mut [u8]) -> rustix::io::Result<usize>) -> io::Result<Vec<u8>> {
    let mut buffer = vec![0; 256];
    loop {
        match call(&mut buffer) {
            Ok(len) => {
                buffer.truncate(len);
                return Ok(buffer);
            }
            Err(rustix::io::Errno::RANGE) if buffer.len() < 1 << 24 => buffer.resize(buffer.len() * 4, 0),
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_use_fsutils_encoding() {
        assert_eq!(split_device(0x0801), (8, 1));
        assert_eq!(split_device(0x0103), (1, 3));
        // Minor numbers above 255 continue at bit 20.
        assert_eq!(split_device((0x12 << 20) | (0x88 << 8) | 0x34), (0x88, 0x1234));
    }
}
