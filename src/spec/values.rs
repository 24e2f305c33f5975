//! What well-formed values are, where the engine or the image would reject
//! them later with a message that does not point at the spec: image
//! references, signals, names.

/// The highest UID or GID an account can have: `(uid_t)-1` means "no id".
pub const MAX_ID: u32 = u32::MAX - 1;

/// Why `text` is not an image reference as Docker parses one
/// (`[registry[:port]/]path[:tag][@digest]`, distribution's grammar), if it is not.
pub fn reference_problem(text: &str) -> Option<&'static str> {
    if text.is_empty() {
        return Some("it is empty");
    }
    if text.chars().any(char::is_whitespace) {
        return Some("it has spaces");
    }
    let grammar = "it is not [REGISTRY/]NAME[:TAG][@DIGEST]";
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (text, None),
    };
    if digest.is_some_and(|d| !is_digest(d)) {
        return Some(grammar);
    }
    // A tag follows the last ':' after the last '/' (a registry's port is before it).
    let (name, tag) = match rest.rfind(':').filter(|i| !rest[*i..].contains('/')) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if tag.is_some_and(|t| !is_tag(t)) {
        return Some(grammar);
    }
    let first = name.split('/').next().unwrap_or_default();
    let is_registry = name.contains('/') && (first.contains(['.', ':']) || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase()));
    if is_registry && !is_domain(first) {
        return Some(grammar);
    }
    let path = if is_registry { &name[first.len() + 1..] } else { name };
    if path.chars().any(|ch| ch.is_ascii_uppercase()) {
        return Some("repository names are lowercase");
    }
    if !path.split('/').all(is_path_component) {
        return Some(grammar);
    }
    (name.len() > 255).then_some("its name is longer than 255 characters")
}

/// Why an image reference would move under the build or the stack (no tag, or
/// `latest`, and no digest), if it would.
pub fn unpinned(reference: &str) -> Option<&'static str> {
    let name = reference.split('@').next().unwrap_or(reference);
    let tag = name.rsplit('/').next().and_then(|last| last.split_once(':')).map(|(_, tag)| tag);
    match (reference.contains('@'), tag) {
        (true, _) => None,
        (false, Some("latest")) => Some("is tagged latest"),
        (false, Some(_)) => None,
        (false, None) => Some("has no tag"),
    }
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    // Bytewise: any byte of a non-ASCII character is a separator, and one fails.
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    let (mut i, n) = (0, bytes.len());
    loop {
        let start = i;
        while i < n && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == n {
            return true;
        }
        let sep_start = i;
        while i < n && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &bytes[sep_start..i];
        if !(sep == b"." || sep == b"_" || sep == b"__" || sep.iter().all(|&b| b == b'-')) || i == n {
            return false;
        }
    }
}

/// Host labels of letters, digits and inner `-`, joined by `.`, with an optional `:port`.
fn is_domain(d: &str) -> bool {
    let (host, port) = match d.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (d, None),
    };
    let label = |l: &str| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    host.split('.').all(label) && port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// `[\w][\w.-]{0,127}`
fn is_tag(t: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    t.len() <= 128 && t.chars().next().is_some_and(word) && t.chars().all(|c| word(c) || c == '.' || c == '-')
}

/// `algorithm:hex`, with at least 32 hex digits.
fn is_digest(d: &str) -> bool {
    let Some((algorithm, hex)) = d.split_once(':') else { return false };
    let algorithm_ok = algorithm.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && algorithm.chars().all(|c| c.is_ascii_alphanumeric() || "-_+.".contains(c));
    algorithm_ok && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// Whether `text` is a signal `docker stop` can send: a name (`SIGTERM`, `TERM`,
/// `SIGRTMIN+3`) or a number from 1 to 64.
pub fn is_signal(text: &str) -> bool {
    const NAMES: [&str; 32] = [
        "ABRT", "ALRM", "BUS", "CHLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL",
        "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG",
        "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
    ];
    if let Ok(n) = text.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let name = text.strip_prefix("SIG").unwrap_or(text);
    let realtime = |base: &str, sign: char| {
        name.strip_prefix(base).is_some_and(|rest| {
            rest.is_empty() || rest.strip_prefix(sign).and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| (1..=15).contains(&n))
        })
    };
    NAMES.contains(&name) || name == "XFSZ" || realtime("RTMIN", '+') || realtime("RTMAX", '-')
}

/// Why `name` cannot name a stage, image or variant (it is a `--target`, and a
/// stage name in the ejected Dockerfile), if it cannot.
pub fn target_name_problem(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
        Some("names are letters, digits, '_', '.' and '-', starting with a letter (they are --target values and stages of the ejected Dockerfile)")
    } else if name.eq_ignore_ascii_case("scratch") {
        Some("\"scratch\" means the empty filesystem: pick another name")
    } else if name.eq_ignore_ascii_case("context") {
        Some("\"context\" means the build context: pick another name")
    } else {
        None
    }
}

/// Why `key` cannot be an environment variable's name, if it cannot.
pub fn env_key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        Some("it is empty")
    } else if key.contains('=') {
        Some("a name cannot hold \"=\"")
    } else if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("a name cannot hold spaces")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_follow_dockers_grammar() {
        for good in ["python", "python:3.13-slim", "ghcr.io/org/app:1.2", "localhost:5000/x", "a/b/c@sha256:0123456789abcdef0123456789abcdef01234567"] {
            assert_eq!(reference_problem(good), None, "{good}");
        }
        assert_eq!(reference_problem("Not A Ref!!"), Some("it has spaces"));
        assert_eq!(reference_problem("Python:3"), Some("repository names are lowercase"));
        assert_eq!(reference_problem("python:"), Some("it is not [REGISTRY/]NAME[:TAG][@DIGEST]"));
        assert_eq!(reference_problem(""), Some("it is empty"));
        assert_eq!(reference_problem("a//b"), Some("it is not [REGISTRY/]NAME[:TAG][@DIGEST]"));
        assert_eq!(reference_problem("a--b_c.d:v1.0-rc_1"), None);
        assert_eq!(reference_problem("a-"), Some("it is not [REGISTRY/]NAME[:TAG][@DIGEST]"));
        assert_eq!(reference_problem("x@sha256:ab"), Some("it is not [REGISTRY/]NAME[:TAG][@DIGEST]"));
    }

    #[test]
    fn signals_are_names_or_numbers() {
        for good in ["SIGTERM", "TERM", "SIGQUIT", "9", "SIGRTMIN+3", "SIGRTMAX"] {
            assert!(is_signal(good), "{good}");
        }
        for bad in ["SIGFOO", "0", "65", "sigterm", "SIGRTMIN+16", ""] {
            assert!(!is_signal(bad), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(target_name_problem("release-2.x"), None);
        assert!(target_name_problem("my stage").is_some());
        assert!(target_name_problem("2fast").is_some());
        assert!(target_name_problem("scratch").is_some());
        assert_eq!(env_key_problem("A=B"), Some("a name cannot hold \"=\""));
        assert_eq!(env_key_problem(""), Some("it is empty"));
        assert_eq!(env_key_problem("PYTHONPATH"), None);
    }
}
