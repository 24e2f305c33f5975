//! The receiver's checks on the listing, as fsutil's `Validator` and
//! `Hardlinks` make them: every path clean, relative and inside the
//! destination, each entry's directory listed before it, entries of a
//! directory in increasing order, and hardlinks pointing at files already
//! listed.

use std::cmp::Ordering;
use std::collections::HashSet;

use super::{mode, FsError};
use crate::patterns::path;
use crate::proto::fstypes::Stat;

#[derive(Debug, Default)]
pub struct ListingCheck {
    /// The chain of directories the listing is inside of, outermost first
    /// (the destination itself is ""), each with the last name seen in it.
    open_dirs: Vec<OpenDir>,
    /// Files a later hardlink may point at.
    link_targets: HashSet<String>,
}

#[derive(Debug)]
struct OpenDir {
    dir: String,
    last: String,
}

impl ListingCheck {
    pub fn check(&mut self, stat: &Stat) -> Result<(), FsError> {
        let p = stat.path.as_str();
        let invalid = |reason| Err(FsError::InvalidPath { path: p.to_string(), reason });
        if p != path::clean(p) {
            return invalid("unclean path");
        }
        if p.starts_with('/') {
            return invalid("absolute path");
        }
        let dir = match path::dir(p) {
            dot if dot == "." => String::new(),
            dir => dir,
        };
        let base = path::base(p);
        if p == ".." || dir == ".." || p.starts_with("../") {
            return invalid("escape check");
        }
        // fsutil lets `.` through and would then replace the destination
        // itself; nothing is written there.
        if p == "." {
            return invalid("the destination itself");
        }
        if self.open_dirs.is_empty() {
            self.open_dirs.push(OpenDir { dir: String::new(), last: String::new() });
        }
        // Back out of directories the listing has left; the destination's
        // entry ("") sorts before everything, so one always stays.
        let inside =
            self.open_dirs.iter().rposition(|open| compare_paths(&open.dir, &dir) != Ordering::Greater).unwrap_or(0);
        self.open_dirs.truncate(inside + 1);
        let innermost = &mut self.open_dirs[inside];
        if innermost.dir != dir || innermost.last.as_str() >= base {
            return Err(FsError::OutOfOrder {
                path: p.to_string(),
                previous: path::join(&innermost.dir, &innermost.last),
            });
        }
        innermost.last = base.to_string();
        if mode::is_dir(stat.mode) {
            self.open_dirs.push(OpenDir { dir: path::join(&dir, base), last: String::new() });
        } else if !mode::is_symlink(stat.mode) {
            if stat.linkname.is_empty() {
                self.link_targets.insert(p.to_string());
            } else if !self.link_targets.contains(&stat.linkname) {
                return Err(FsError::UnknownLinkTarget { path: p.to_string(), target: stat.linkname.clone() });
            }
        }
        Ok(())
    }
}

/// fsutil's path order: byte-wise, except that `/` sorts before every other
/// byte, so a directory's entries come right after it.
fn compare_paths(a: &str, b: &str) -> Ordering {
    for (x, y) in a.bytes().zip(b.bytes()) {
        if x == y {
            continue;
        }
        return match (x, y) {
            (b'/', _) => Ordering::Less,
            (_, b'/') => Ordering::Greater,
            _ => x.cmp(&y),
        };
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, mode: u32) -> Stat {
        Stat { path: path.to_string(), mode, ..Stat::default() }
    }

    fn check_all(entries: &[Stat]) -> Result<(), FsError> {
        let mut check = ListingCheck::default();
        entries.iter().try_for_each(|e| check.check(e))
    }

    #[test]
    fn separator_sorts_first() {
        assert_eq!(compare_paths("a/b", "a-b"), Ordering::Less);
        assert_eq!(compare_paths("a-b", "a/b"), Ordering::Greater);
        assert_eq!(compare_paths("a", "a/b"), Ordering::Less);
        assert_eq!(compare_paths("a/b", "a/b"), Ordering::Equal);
    }

    #[test]
    fn well_ordered_listings_pass() {
        let dir = mode::DIR | 0o755;
        let listing = [
            entry("a", dir),
            entry("a/b", dir),
            entry("a/b/c", 0o644),
            entry("a/d", 0o644),
            entry("a-b", 0o644),
            entry("b", 0o644),
        ];
        assert!(check_all(&listing).is_ok());
    }

    #[test]
    fn bad_paths_are_rejected() {
        for (p, reason) in [
            ("../x", "escape check"),
            ("..", "escape check"),
            ("/etc", "absolute path"),
            ("a//b", "unclean path"),
            ("a/./b", "unclean path"),
            ("", "unclean path"),
            ("a/", "unclean path"),
            (".", "the destination itself"),
        ] {
            match check_all(&[entry(p, 0o644)]) {
                Err(FsError::InvalidPath { reason: got, .. }) => assert_eq!(got, reason, "{p:?}"),
                other => panic!("{p:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn out_of_order_and_orphans_are_rejected() {
        let dir = mode::DIR | 0o755;
        // Siblings must increase.
        assert!(matches!(check_all(&[entry("b", 0o644), entry("a", 0o644)]), Err(FsError::OutOfOrder { .. })));
        assert!(matches!(check_all(&[entry("a", 0o644), entry("a", 0o644)]), Err(FsError::OutOfOrder { .. })));
        // `a-b` before `a/...` is out of order.
        assert!(matches!(
            check_all(&[entry("a", dir), entry("a-b", 0o644), entry("a/c", 0o644)]),
            Err(FsError::OutOfOrder { .. })
        ));
        // The parent must have been listed, and as a directory.
        assert!(matches!(check_all(&[entry("x/y", 0o644)]), Err(FsError::OutOfOrder { .. })));
        assert!(matches!(check_all(&[entry("x", 0o644), entry("x/y", 0o644)]), Err(FsError::OutOfOrder { .. })));
        assert!(matches!(
            check_all(&[entry("x", mode::SYMLINK | 0o777), entry("x/y", 0o644)]),
            Err(FsError::OutOfOrder { .. })
        ));
    }

    #[test]
    fn hardlinks_need_a_listed_target() {
        let mut link = entry("b", 0o644);
        link.linkname = "a".to_string();
        assert!(check_all(&[entry("a", 0o644), link.clone()]).is_ok());
        assert!(matches!(check_all(&[link]), Err(FsError::UnknownLinkTarget { .. })));
        let mut to_symlink = entry("c", 0o644);
        to_symlink.linkname = "a".to_string();
        assert!(check_all(&[entry("a", mode::SYMLINK | 0o777), to_symlink]).is_err());
    }
}
