//! The daemon's filters for one transfer, compiled against the directory
//! being sent, as fsutil's `NewFilterFS` and `FollowLinks` do.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use super::{Filter, FsError};
use crate::patterns::{glob_match, path, PatternMatcher};

/// Include and exclude matchers; `None` means "no such filter".
#[derive(Debug)]
pub struct PathFilter {
    pub include: Option<PatternMatcher>,
    pub exclude: Option<PatternMatcher>,
}

/// Resolves follow paths against the root, collecting what to include.
struct SymlinkResolver<'a> {
    root: &'a Path,
    resolved: BTreeSet<String>,
}

impl PathFilter {
    /// Follow paths are resolved first: each symlink on the way to a named
    /// path is included together with where it points, recursively.
    pub fn new(root: &Path, filter: &Filter) -> Result<PathFilter, FsError> {
        let mut include = filter.include.clone();
        if !filter.follow_paths.is_empty() {
            if let Some(targets) = follow_links(root, &filter.follow_paths)? {
                include.extend(targets);
                // fsutil dedupes the user's (unsorted) patterns together with
                // the targets, so a `.` anywhere lifts the include filter.
                include = without_nested_paths(include).unwrap_or_default();
            }
        }
        let compile = |patterns: &[String], which: &'static str| {
            (!patterns.is_empty())
                .then(|| PatternMatcher::new(patterns).map_err(|source| FsError::Pattern { which, source }))
                .transpose()
        };
        Ok(PathFilter { include: compile(&include, "include")?, exclude: compile(&filter.exclude, "exclude")? })
    }

    /// Whether fsutil would let the file at `path` be opened. It checks with
    /// the full parent-matching test rather than the walk's, so a file the
    /// walk listed can be refused here; fsutil then sends it empty.
    pub fn allows_open(&self, path: &str) -> bool {
        self.include.as_ref().is_none_or(|m| m.matches(path)) && !self.exclude.as_ref().is_some_and(|m| m.matches(path))
    }
}

/// The paths to include for `follow_paths`, sorted, or `None` when one of
/// them resolves to the root (then nothing needs including).
fn follow_links(root: &Path, follow_paths: &[String]) -> Result<Option<Vec<String>>, FsError> {
    let mut resolver = SymlinkResolver { root, resolved: BTreeSet::new() };
    for follow_path in follow_paths {
        resolver.add(follow_path)?;
    }
    Ok(without_nested_paths(resolver.resolved.into_iter().collect()))
}

impl SymlinkResolver<'_> {
    /// Walks `wanted` one element at a time; at the first symlink the link
    /// itself is kept and resolution continues from its target(s) with the
    /// rest of the path. A path already resolved stops the recursion, which
    /// also ends symlink loops.
    fn add(&mut self, wanted: &str) -> Result<(), FsError> {
        let mut rest = path::join(".", wanted);
        let mut current = ".".to_string();
        loop {
            let (head, tail) = rest.split_once('/').unwrap_or((rest.as_str(), ""));
            current = path::join(&current, head);
            let tail = tail.to_string();
            let targets = self.symlink_targets(&current, true)?;
            if (tail.is_empty() || !targets.is_empty()) && self.resolved.contains(&current) {
                return Ok(());
            }
            if !targets.is_empty() {
                self.resolved.insert(current);
                for target in targets {
                    self.add(&path::join(&target, &tail))?;
                }
                return Ok(());
            }
            if tail.is_empty() {
                self.resolved.insert(current);
                return Ok(());
            }
            rest = tail;
        }
    }

    /// Where the symlink at `rel` points, as an absolute path within the root;
    /// empty when `rel` is missing or not a symlink. A last element with
    /// wildcards stands for every matching entry of its directory.
    fn symlink_targets(&self, rel: &str, expand_wildcards: bool) -> Result<Vec<String>, FsError> {
        let name = path::base(rel);
        if expand_wildcards && has_wildcards(name) {
            let dir = path::dir(rel);
            let mut targets = Vec::new();
            for entry in self.dir_entries(&dir)? {
                if glob_match(name, &entry).unwrap_or(false) {
                    targets.extend(self.symlink_targets(&path::join(&dir, &entry), false)?);
                }
            }
            return Ok(targets);
        }
        let cleaned = path::clean(rel);
        // fsutil resolves `..` lexically and would look outside the root;
        // nothing there is followed here.
        if cleaned == "." || cleaned == ".." || cleaned.starts_with("../") {
            return Ok(Vec::new());
        }
        let full = self.root.join(&cleaned);
        let metadata = match std::fs::symlink_metadata(&full) {
            Ok(metadata) => metadata,
            Err(e) if is_missing(&e) => return Ok(Vec::new()),
            Err(source) => return Err(FsError::FollowPath { path: cleaned, source }),
        };
        if !metadata.file_type().is_symlink() {
            return Ok(Vec::new());
        }
        let link = std::fs::read_link(&full).map_err(|source| FsError::FollowPath { path: cleaned.clone(), source })?;
        let link = path::clean(&link.to_string_lossy());
        Ok(vec![if link.starts_with('/') { link } else { path::join("/", &path::join(&path::dir(&cleaned), &link)) }])
    }

    /// The names in the directory `rel`, sorted; none when it is missing or
    /// not a real directory (fsutil does not list through a symlink).
    fn dir_entries(&self, rel: &str) -> Result<Vec<String>, FsError> {
        let full = self.root.join(rel);
        let failed = |source| FsError::FollowPath { path: rel.to_string(), source };
        match std::fs::symlink_metadata(&full) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => return Ok(Vec::new()),
            Err(e) if is_missing(&e) => return Ok(Vec::new()),
            Err(e) => return Err(failed(e)),
        }
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&full).map_err(failed)? {
            names.push(entry.map_err(failed)?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }
}

/// A missing path, or one with a non-directory where a directory should be.
pub fn is_missing(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

/// Whether a path element has `*`, `?` or `[` that is not `\`-escaped.
fn has_wildcards(name: &str) -> bool {
    let mut bytes = name.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'\\' => {
                bytes.next();
            }
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
    }
    false
}

/// Drops each path that lies under the one kept before it (fsutil's
/// `dedupePaths`, meant for sorted input); `None` if a path is the root.
/// A path starting with `/` is dropped too, as it lies "under" the empty
/// path fsutil starts from.
fn without_nested_paths(paths: Vec<String>) -> Option<Vec<String>> {
    let mut kept: Vec<String> = Vec::with_capacity(paths.len());
    for candidate in paths {
        if candidate == "." {
            return None;
        }
        let last = kept.last().map_or("", String::as_str);
        if candidate.starts_with(&format!("{last}/")) {
            continue;
        }
        kept.push(candidate);
    }
    Some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::fsutil::tests::TempTree;

    fn follow(tree: &TempTree, paths: &[&str]) -> Option<Vec<String>> {
        let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        follow_links(tree.path(), &paths).expect("follow links")
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn follow_links_resolve_chains_like_fsutil() {
        let tree = TempTree::new("follow-chain");
        tree.dir("dir");
        tree.file("dir/foo", "contents");
        tree.symlink("foo", "dir/l1");
        tree.symlink("dir/l1", "l2");
        tree.file("bar", "");
        tree.file("baz", "");
        assert_eq!(follow(&tree, &["l2", "bar"]), Some(strings(&["bar", "dir/foo", "dir/l1", "l2"])));
    }

    #[test]
    fn follow_links_stop_at_loops_and_keep_missing_paths() {
        let tree = TempTree::new("follow-loop");
        tree.symlink("l1", "l1");
        tree.symlink("l2", "l3");
        tree.symlink("l3", "l2");
        assert_eq!(follow(&tree, &["l1", "l3"]), Some(strings(&["l1", "l2", "l3"])));
        assert_eq!(follow(&tree, &["foo/bar/baz", "foo/bar"]), Some(strings(&["foo/bar"])));
        assert_eq!(follow(&tree, &["."]), None);
        assert_eq!(follow(&tree, &["f*/foo/t*"]), Some(strings(&["f*/foo/t*"])));
    }

    #[test]
    fn follow_links_read_absolute_targets_inside_the_root() {
        let tree = TempTree::new("follow-abs");
        tree.dir("dir");
        tree.symlink("/foo/bar/baz", "dir/l1");
        tree.dir("foo");
        tree.symlink("../../../", "foo/bar");
        tree.file("baz", "");
        assert_eq!(follow(&tree, &["dir/l1"]), Some(strings(&["baz", "dir/l1", "foo/bar"])));
        tree.symlink("/", "dir/l2");
        assert_eq!(follow(&tree, &["dir/l2", "foo"]), None);
    }

    #[test]
    fn follow_links_expand_wildcards_to_symlinks() {
        let tree = TempTree::new("follow-wild");
        tree.dir("sub");
        tree.file("sub/real.txt", "x");
        tree.symlink("sub/real.txt", "a.txt");
        tree.file("b.txt", "");
        assert_eq!(follow(&tree, &["*.txt"]), Some(strings(&["*.txt", "sub/real.txt"])));
    }

    #[test]
    fn follow_targets_join_the_include_patterns() {
        let tree = TempTree::new("follow-include");
        tree.file("Dockerfile", "FROM x");
        tree.symlink("Dockerfile", "link");
        let filter = Filter { include: strings(&["src"]), exclude: vec![], follow_paths: strings(&["link"]) };
        let compiled = PathFilter::new(tree.path(), &filter).expect("filter");
        let include = compiled.include.expect("include matcher");
        assert!(include.matches("Dockerfile") && include.matches("link") && include.matches("src/x"));
        // A follow path resolving to the root drops the include filter.
        let filter = Filter { include: strings(&["src"]), exclude: vec![], follow_paths: strings(&["link", "."]) };
        assert!(PathFilter::new(tree.path(), &filter).expect("filter").include.is_some());
        let filter = Filter { include: strings(&["src", "."]), exclude: vec![], follow_paths: strings(&["link"]) };
        assert!(PathFilter::new(tree.path(), &filter).expect("filter").include.is_none());
    }

    #[test]
    fn nested_paths_are_dropped() {
        assert_eq!(without_nested_paths(strings(&["a", "a/b", "ab", "b"])), Some(strings(&["a", "ab", "b"])));
        assert_eq!(without_nested_paths(strings(&["/abs", "a"])), Some(strings(&["a"])));
        assert_eq!(without_nested_paths(strings(&["a", "."])), None);
    }
}
