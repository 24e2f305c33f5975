//! Inputs the fuzz targets (`make fuzz`, `fuzz/`) once failed on, kept so that
//! what they found stays fixed. Each test says what was found.

use leaven::patterns::{read_ignore_file, ParentMatches, PatternMatcher};

/// fuzz/dockerignore, the first run: a byte-order mark, NULs and a control
/// character. The harness compared matching `./*.…` whole with walking down to
/// it, and an unclean path (`.` as a component) is no path the context walk
/// makes; the harness now only walks clean paths. For a clean path the two agree.
#[test]
fn dockerignore_with_control_characters_matches_whole_and_walked_alike() {
    let text = "\u{feff}/*\n./*.\0\0\0mp\n\0\0\0\0\0\0\u{8}*";
    let patterns = read_ignore_file(text);
    assert_eq!(patterns, ["*", "*.\0\0\0mp", "\0\0\0\0\0\0\u{8}*"]);
    let matcher = PatternMatcher::new(&patterns).unwrap();
    for path in ["*.\0\0\0mp", "a/*.\0\0\0mp", "\0\0\0\0\0\0\u{8}x"] {
        let mut parent = ParentMatches::default();
        let mut walked = String::new();
        let mut below = false;
        for part in path.split('/') {
            if !walked.is_empty() {
                walked.push('/');
            }
            walked.push_str(part);
            (below, parent) = matcher.matches_below(&walked, &parent);
        }
        assert_eq!(below, matcher.matches(path), "{path:?}");
    }
}

/// fuzz/dockerignore, the second run: `ab/_es` then `!*`. Matched whole, `!*`
/// matches the parent `ab` and re-includes the file; walked down, `!*` was
/// skipped at `ab` (nothing had matched it, so no exception could change it)
/// and the file stays excluded. Checked against moby/patternmatcher (5a6d842):
/// MatchesOrParentMatches answers false and MatchesUsingParentResults, given
/// the parent's MatchInfo, answers true, for the same reason. fsutil's walk,
/// which sends a BuildKit context, uses the second, so both answers are kept.
#[test]
fn dockerignore_exception_skipped_at_the_parent_differs_as_in_moby() {
    let patterns = read_ignore_file("ab/_es\n!*\n");
    let matcher = PatternMatcher::new(&patterns).unwrap();
    assert!(!matcher.matches("ab/_es"));
    let (_, parent) = matcher.matches_below("ab", &ParentMatches::default());
    assert!(matcher.matches_below("ab/_es", &parent).0);
}
