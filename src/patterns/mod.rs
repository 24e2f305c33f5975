//! Docker's path patterns, matched exactly as moby's `patternmatcher` matches
//! them, and `.dockerignore` files, read exactly as its `ignorefile.ReadAll`
//! reads them.
//!
//! A pattern is Go `filepath.Match` syntax (`*`, `?`, `[...]`, `\` escapes)
//! plus `**`, which matches any number of directories. A leading `!` makes it
//! an exception that re-includes what earlier patterns matched; later patterns
//! win. A path matches when it or one of its parent directories matches, so
//! `docs` covers everything under `docs/`.
//!
//! Where Go behaves surprisingly, this module does the same on purpose, because
//! the daemon and buildx see the same context only if we match as they do. The
//! surprises are pinned down in the tests; the main ones:
//! - `PatternMatcher::new` does not drop a leading `/`: `/foo` never matches the
//!   relative path `foo`. Only the ignore-file reader drops it (`read_ignore_file`).
//! - `!` is recognised after cleaning, so `!a/../b` is the plain pattern `b`.
//! - A pattern starting with `**` and otherwise literal is a suffix test:
//!   `**foo` matches `barfoo`, although `**` elsewhere needs a `/` after it
//!   (`a**b` matches `a/b` and `ax/b` but not `axb`).
//! - Walking with parent results (`matches_below`) can disagree with the
//!   full check (`matches`) when an exception sits between two patterns that
//!   match a parent directory; fsutil walks with the former and opens files
//!   with the latter.

mod glob;
pub mod path;
mod re2;

pub use glob::{glob_match, GlobSyntaxError};

use regex::Regex;

/// A pattern list that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("illegal exclusion pattern: \"!\"")]
    LoneExclamation,
    #[error("syntax error in pattern {pattern:?}")]
    Syntax { pattern: String },
}

/// One cleaned pattern of a list.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The cleaned text without its `!`.
    text: String,
    /// An exception (`!pattern`): a match re-includes.
    exception: bool,
    test: PathTest,
}

/// How patternmatcher decided to test paths against a pattern: plain string
/// tests when the pattern allows it, a regular expression otherwise.
#[derive(Debug, Clone)]
enum PathTest {
    Exact,
    /// `dir/**` and the like: the text before the final `**`.
    Prefix(String),
    /// `**/name` and the like: the text after the leading `**`.
    Suffix(String),
    Regex(Regex),
}

/// An ordered list of patterns.
#[derive(Debug, Clone, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
}

/// What a directory's check found, per pattern, so that its entries can be
/// checked without re-testing every parent (patternmatcher's `MatchInfo`).
/// The default value means "nothing known about the parent".
#[derive(Debug, Clone, Default)]
pub struct ParentMatches(Vec<bool>);

/// Characters that make fsutil treat a pattern as more than a literal prefix
/// when deciding whether a directory can be skipped.
const PREFIX_BREAKING_CHARS: &[char] = &['*', '[', ']', '?', '^', '\\'];

impl Pattern {
    fn parse(raw: &str) -> Result<Option<Pattern>, PatternError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        let cleaned = path::clean(trimmed);
        let (exception, text) = match cleaned.strip_prefix('!') {
            Some("") => return Err(PatternError::LoneExclamation),
            Some(rest) => (true, rest.to_string()),
            None => (false, cleaned),
        };
        let syntax_error = || PatternError::Syntax { pattern: text.clone() };
        // patternmatcher validates with `filepath.Match(pattern, ".")`.
        glob_match(&text, ".").map_err(|_| syntax_error())?;
        // Go compiles on first use and reports a failure then; compiling here
        // reports the same patterns, only earlier.
        let test = compile(&text).ok_or_else(syntax_error)?;
        Ok(Some(Pattern { text, exception, test }))
    }

    /// Whether `path` itself matches (no parent directories considered).
    fn matches_exactly(&self, path: &str) -> bool {
        match &self.test {
            PathTest::Exact => path == self.text,
            PathTest::Prefix(prefix) => path.starts_with(prefix.as_str()),
            PathTest::Suffix(suffix) => {
                path.ends_with(suffix.as_str()) || suffix.strip_prefix('/').is_some_and(|name| path == name)
            }
            PathTest::Regex(regex) => regex.is_match(path),
        }
    }

    /// Whether `path` or one of the directories above it matches.
    fn matches_path_or_parent(&self, path: &str) -> bool {
        if self.matches_exactly(path) {
            return true;
        }
        let parent = path::dir(path);
        if parent == "." {
            return false;
        }
        let mut ancestors = parent.match_indices('/').map(|(end, _)| &parent[..end]).chain([parent.as_str()]);
        ancestors.any(|dir| self.matches_exactly(dir))
    }

    /// The text fsutil compares with directory names: trailing `/**` and `/*`
    /// removed, once each.
    fn text_without_trailing_glob(&self) -> &str {
        let text = self.text.strip_suffix("/**").unwrap_or(&self.text);
        text.strip_suffix("/*").unwrap_or(text)
    }
}

/// patternmatcher's translation of a cleaned pattern: literal patterns stay
/// string tests, `**` at the start or end becomes a suffix or prefix test, and
/// anything else is a regular expression built by substitution.
fn compile(text: &str) -> Option<PathTest> {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut kind = Kind::Exact;
    let mut go_regex = String::from("^");
    // Go's scanner skips a byte-order mark at the start of the text.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut chars = text.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                // `**/` is read as `**`.
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        go_regex.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    go_regex.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                go_regex.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                go_regex.push_str("[^/]");
                kind = Kind::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                go_regex.push('\\');
                go_regex.push(c);
            }
            '\\' => {
                go_regex.push('\\');
                if let Some(escaped) = chars.next() {
                    go_regex.push(escaped);
                    kind = Kind::Regex;
                }
            }
            '[' | ']' => {
                go_regex.push(c);
                kind = Kind::Regex;
            }
            _ => go_regex.push(c),
        }
        first = false;
    }
    Some(match kind {
        Kind::Exact => PathTest::Exact,
        Kind::Prefix => PathTest::Prefix(text.strip_suffix("**")?.to_string()),
        Kind::Suffix => PathTest::Suffix(text.strip_prefix("**")?.to_string()),
        Kind::Regex => {
            go_regex.push('$');
            PathTest::Regex(Regex::new(&re2::to_rust_syntax(&go_regex)?).ok()?)
        }
    })
}

impl PatternMatcher {
    /// The patterns in order, each trimmed and cleaned; blank ones are dropped.
    pub fn new(patterns: &[String]) -> Result<PatternMatcher, PatternError> {
        let mut parsed = Vec::with_capacity(patterns.len());
        for raw in patterns {
            parsed.extend(Pattern::parse(raw)?);
        }
        Ok(PatternMatcher { patterns: parsed })
    }

    /// Whether `path` (relative, `/`-separated, clean) is matched: the last
    /// pattern that matches it or one of its parent directories decides
    /// (patternmatcher's `MatchesOrParentMatches`).
    pub fn matches(&self, path: &str) -> bool {
        let mut matched = false;
        for pattern in &self.patterns {
            // Only an exception can change a match, only an inclusion a miss.
            if pattern.exception != matched {
                continue;
            }
            if pattern.matches_path_or_parent(path) {
                matched = !pattern.exception;
            }
        }
        matched
    }

    /// Whether `path` is matched, for a walk that checks each directory before
    /// its entries: `parent` is what the check of the containing directory
    /// returned (default for a top-level entry), and the result carries what
    /// this check found for `path`'s own entries (patternmatcher's
    /// `MatchesUsingParentResults`). A `parent` from another matcher counts as
    /// unknown.
    pub fn matches_below(&self, path: &str, parent: &ParentMatches) -> (bool, ParentMatches) {
        let known_parent = (parent.0.len() == self.patterns.len()).then_some(&parent.0);
        let mut found = vec![false; self.patterns.len()];
        let mut matched = false;
        for (index, pattern) in self.patterns.iter().enumerate() {
            let mut hit = known_parent.is_some_and(|parent| parent[index]);
            if !hit {
                if pattern.exception != matched {
                    continue;
                }
                hit = match known_parent {
                    Some(_) => pattern.matches_exactly(path),
                    None => pattern.matches_path_or_parent(path),
                };
            }
            found[index] = hit;
            if hit {
                matched = !pattern.exception;
            }
        }
        (matched, ParentMatches(found))
    }

    /// Whether an inclusion pattern might match something inside `dir`, a
    /// directory that did not match itself. When the inclusions are literal
    /// prefixes this compares names; otherwise only walking `dir` tells.
    pub fn may_include_below(&self, dir: &str) -> bool {
        self.may_match_below(dir, false)
    }

    /// Whether an exception might re-include something inside `dir`, a
    /// directory that matched. With no exceptions nothing can.
    pub fn may_reinclude_below(&self, dir: &str) -> bool {
        self.may_match_below(dir, true)
    }

    fn may_match_below(&self, dir: &str, exceptions: bool) -> bool {
        let texts: Vec<&str> = self
            .patterns
            .iter()
            .filter(|p| p.exception == exceptions)
            .map(Pattern::text_without_trailing_glob)
            .collect();
        if texts.iter().any(|text| text.contains(PREFIX_BREAKING_CHARS)) {
            return true;
        }
        let dir_with_slash = format!("{dir}/");
        texts.iter().any(|text| format!("{text}/").starts_with(&dir_with_slash))
    }
}

/// The patterns of a `.dockerignore` file, in order: lines starting with `#`
/// are comments (only when `#` is the very first character), each other line
/// is trimmed and dropped when empty, a leading `!` is kept and the rest is
/// trimmed again, cleaned and loses one leading `/`. A UTF-8 byte-order mark
/// before the first line is ignored. Lines end at `\n`, with a `\r` before it
/// dropped.
///
/// Go's reader also fails on a line longer than 64 KiB; here such a line is
/// read like any other.
pub fn read_ignore_file(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines: Vec<&str> = text.split('\n').collect();
    // A final newline ends the last line rather than starting an empty one.
    if lines.last() == Some(&"") {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.starts_with('#'))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (exception, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let mut pattern = if body.is_empty() { String::new() } else { path::clean(body) };
            if pattern.len() > 1 && pattern.starts_with('/') {
                pattern.remove(0);
            }
            if exception {
                pattern.insert(0, '!');
            }
            pattern
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(patterns: &[&str]) -> PatternMatcher {
        let owned: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        PatternMatcher::new(&owned).unwrap_or_else(|e| panic!("{patterns:?}: {e}"))
    }

    /// Checks `path` as a walk would: each parent directory first, handing
    /// its result to the next level.
    fn matches_walking(matcher: &PatternMatcher, path: &str) -> bool {
        let mut parent = ParentMatches::default();
        let parent_dir = path::dir(path);
        if parent_dir != "." {
            let mut dir = String::new();
            for element in parent_dir.split('/') {
                if !dir.is_empty() {
                    dir.push('/');
                }
                dir.push_str(element);
                parent = matcher.matches_below(&dir, &parent).1;
            }
        }
        matcher.matches_below(path, &parent).0
    }

    /// Single-pattern cases; each holds for `matches`, for a walk, and for a
    /// check without parent results.
    const SINGLE: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "dir/file", true),
        ("**/", "file", true),
        ("**/**", "dir/file", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/dir2/file", true),
        ("abc/**", "abc", false),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "axb", false),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true),
        ("docs", "docs/README.md", true),
        ("docs/", "docs/README.md", true),
        ("*", "a/b/c", true),
        ("*.go", "pkg/main.go", false),
        // Surprising: `**` followed by literal text is a plain suffix test.
        ("**foo", "barfoo", true),
        ("**foo", "bar/foo", true),
        // Surprising: `**` in the middle needs a `/` right after it.
        ("a**b", "a/b", true),
        ("a**b", "ax/b", true),
        ("a**b", "axb", false),
        // Surprising: a trailing `**` without a slash is a plain prefix test.
        ("foo**", "foobar", true),
        // Surprising: the leading `/` is kept, so nothing relative matches.
        ("/foo", "foo", false),
        // Surprising: `^` is not escaped and anchors the regular expression.
        ("a^*", "a^b", false),
        ("a^b", "a^b", true),
        // Surprising: a class around `*` holds the characters of `[^/]`.
        ("[*]", "[]", true),
        ("[*]", "*", false),
        (".", "foo", false),
        ("./foo", "foo", true),
        ("foo/../bar", "bar", true),
    ];

    #[test]
    fn single_patterns_match_like_go() {
        for &(pattern, path, want) in SINGLE {
            let m = matcher(&[pattern]);
            assert_eq!(m.matches(path), want, "matches: pattern {pattern:?} path {path:?}");
            assert_eq!(matches_walking(&m, path), want, "walking: pattern {pattern:?} path {path:?}");
            assert_eq!(m.matches_below(path, &ParentMatches::default()).0, want, "no context: {pattern:?} {path:?}");
        }
    }

    #[test]
    fn exceptions_reinclude_and_later_patterns_win() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["**", "!util/docker/web"], "util/docker/web/foo", false),
            (&["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", true),
            (&["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false),
            (&["!fileutils.go", "*.go"], "fileutils.go", true),
            (&["*.go", "!fileutils.go"], "fileutils.go", false),
            (&["docs", "!docs/README.md"], "docs/README.md", false),
            (&["docs/*", "!docs/README.md"], "docs/README.md", false),
            (&["docs", "!docs/README.md"], "docs/other.md", true),
            (&["*.md", "!README*.md", "README-secret.md"], "README-secret.md", true),
            (&["*.md", "!README*.md", "README-secret.md"], "README.md", false),
        ];
        for &(patterns, path, want) in cases {
            let m = matcher(patterns);
            assert_eq!(m.matches(path), want, "matches: {patterns:?} {path:?}");
            assert_eq!(matches_walking(&m, path), want, "walking: {patterns:?} {path:?}");
        }
    }

    #[test]
    fn walking_and_full_checks_can_disagree_as_in_go() {
        // `a` is skipped at `a/b` once it matched, and the exception between
        // the two `a`s then only sees `a/b` itself while walking; the full
        // check sees the second `a` match the parent directory.
        let m = matcher(&["a", "!a/b", "a"]);
        assert!(m.matches("a/b"));
        assert!(!matches_walking(&m, "a/b"));
        // An exception listed before the pattern it would undo is never
        // consulted by the walk at all.
        let m = matcher(&["a/b", "!a"]);
        assert!(!m.matches("a/b"));
        assert!(matches_walking(&m, "a/b"));
    }

    #[test]
    fn patterns_are_trimmed_cleaned_and_validated() {
        assert!(matcher(&["  docs  ", "", "   "]).matches("docs"));
        assert!(matcher(&["docs", "  !docs/README.md"]).may_reinclude_below("docs"));
        assert_eq!(PatternMatcher::new(&["!".to_string()]).unwrap_err(), PatternError::LoneExclamation);
        assert_eq!(PatternMatcher::new(&[" ! ".to_string()]).unwrap_err(), PatternError::LoneExclamation);
        for bad in ["[", "a[", "[]", "\\", "[z-a]", "x\\y"] {
            assert!(
                matches!(PatternMatcher::new(&[bad.to_string()]), Err(PatternError::Syntax { .. })),
                "{bad:?} should be rejected"
            );
        }
        // `!` after cleaning: `..` swallows it.
        let m = matcher(&["!x/../docs"]);
        assert!(m.matches("docs"));
        // `! docs` keeps the space: the exception is for " docs".
        let m = matcher(&["docs", "! docs"]);
        assert!(m.matches("docs"));
        // No patterns match nothing.
        assert!(!matcher(&[]).matches("anything"));
    }

    #[test]
    fn directories_can_be_skipped_only_when_prefixes_rule_it_out() {
        let m = matcher(&["src/app/**", "docs/*"]);
        assert!(m.may_include_below("src"));
        assert!(m.may_include_below("src/app"));
        assert!(!m.may_include_below("srcx"));
        assert!(!m.may_include_below("tests"));
        assert!(m.may_include_below("docs"));
        // A wildcard anywhere else means any directory might hold a match.
        assert!(matcher(&["src/*/main.rs"]).may_include_below("tests"));
        let excludes = matcher(&["node_modules", "!node_modules/keep/**"]);
        assert!(excludes.may_reinclude_below("node_modules"));
        assert!(!excludes.may_reinclude_below("node_modules/other"));
        assert!(!matcher(&["target"]).may_reinclude_below("target"));
        assert!(matcher(&["target", "!**/keep"]).may_reinclude_below("target"));
    }

    #[test]
    fn ignore_files_read_like_go() {
        let text = "\u{feff}test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
        assert_eq!(
            read_ignore_file(text),
            ["test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path", "!", "!"]
        );
        // `#` only starts a comment in the first column.
        assert_eq!(read_ignore_file("  # not a comment\r\n#comment\r\n"), ["# not a comment"]);
        // Cleaning: dots, doubled slashes, and `/` alone stays.
        assert_eq!(read_ignore_file("./a//b/\n//x\n/\n!./keep/..\n"), ["a/b", "x", "/", "!."]);
        assert_eq!(read_ignore_file("!/keep"), ["!keep"]);
        // A byte-order mark is only special before the first line.
        assert_eq!(read_ignore_file("a\n\u{feff}b"), ["a", "\u{feff}b"]);
        assert!(read_ignore_file("").is_empty());
    }
}
