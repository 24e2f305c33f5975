//! A `.dockerignore`: read it, build the matcher, and match paths made from
//! its own lines and a few fixed ones. Errors are fine; panics are not.
#![no_main]

use leaven::patterns::{read_ignore_file, ParentMatches, PatternMatcher};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let patterns = read_ignore_file(text);
    let Ok(matcher) = PatternMatcher::new(&patterns) else { return };
    let fixed = ["", ".", "a", "a/b", "a/b/c.txt", ".git/config", "node_modules/x/y", "Dockerfile", "../x", "/abs"];
    let lines = text.lines().map(|l| l.trim_start_matches('!').trim_matches('/'));
    for path in fixed.into_iter().chain(lines) {
        let whole = matcher.matches(path);
        let _ = matcher.may_include_below(path);
        let _ = matcher.may_reinclude_below(path);
        // Walking down to a clean path (as the context walk makes them) with the
        // parents' results must agree with matching it whole.
        if !path.split('/').all(|part| !part.is_empty() && part != "." && part != "..") {
            continue;
        }
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
        // With exceptions the two may differ as in moby's patternmatcher:
        // walking skips an exception while nothing matched the parent yet, so
        // the parent's result for it is never recorded (tests/fuzz_regressions.rs).
        let has_exceptions = patterns.iter().any(|p| p.starts_with('!'));
        assert!(has_exceptions || below == whole, "{path:?} with {patterns:?}");
    }
});
