//! Go's lexical path helpers (`path/filepath` on Unix: `Clean`, `Dir`, `Base`,
//! `Join`). Docker's patterns are cleaned with them and fsutil validates wire
//! paths with them, so the results must agree with Go to the byte.

/// The shortest path naming the same file by lexical processing alone:
/// repeated and trailing `/` dropped, `.` elements dropped, `dir/..` pairs
/// removed, `..` above a rooted path dropped. The empty path cleans to `.`.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut kept: Vec<&str> = Vec::new();
    for element in path.split('/') {
        match element {
            "" | "." => {}
            ".." => match kept.last() {
                Some(&last) if last != ".." => {
                    kept.pop();
                }
                // `..` cannot climb above `/`; a relative path keeps it.
                _ if rooted => {}
                _ => kept.push(".."),
            },
            _ => kept.push(element),
        }
    }
    let body = kept.join("/");
    if rooted {
        format!("/{body}")
    } else if body.is_empty() {
        ".".to_string()
    } else {
        body
    }
}

/// Everything before the last `/`, cleaned; `.` when there is no `/`.
pub fn dir(path: &str) -> String {
    let head = path.rfind('/').map_or("", |i| &path[..=i]);
    clean(head)
}

/// The last element, trailing slashes ignored; `.` for the empty path and `/`
/// for a path of slashes only.
pub fn base(path: &str) -> &str {
    if path.is_empty() {
        return ".";
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    trimmed.rfind('/').map_or(trimmed, |i| &trimmed[i + 1..])
}

/// `parent` and `child` joined by `/` and cleaned; an empty side is ignored and
/// two empty sides give the empty path, as Go's `Join` does.
pub fn join(parent: &str, child: &str) -> String {
    match (parent.is_empty(), child.is_empty()) {
        (true, true) => String::new(),
        (true, false) => clean(child),
        (false, _) => clean(&format!("{parent}/{child}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go() {
        let cases = [
            ("", "."),
            (".", "."),
            ("a/", "a"),
            ("a//b", "a/b"),
            ("./a/./b/.", "a/b"),
            ("a/../..", ".."),
            ("../a/..", ".."),
            ("../../a", "../../a"),
            ("/..", "/"),
            ("/../a", "/a"),
            ("//a//", "/a"),
            ("a/b/../../c", "c"),
            // `!` is an ordinary character to Clean, so `..` eats `!foo`.
            ("!foo/../bar", "bar"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn dir_base_join_match_go() {
        assert_eq!(dir("a/b/c"), "a/b");
        assert_eq!(dir("a"), ".");
        assert_eq!(dir("/a"), "/");
        assert_eq!(dir("a//b"), "a");
        assert_eq!(dir("a/../b"), ".");
        assert_eq!(base("a/b"), "b");
        assert_eq!(base("a/b/"), "b");
        assert_eq!(base(""), ".");
        assert_eq!(base("//"), "/");
        assert_eq!(join(".", "/foo"), "foo");
        assert_eq!(join("", ""), "");
        assert_eq!(join("a", ""), "a");
        assert_eq!(join("/", "../x"), "/x");
    }
}
