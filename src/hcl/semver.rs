//! `semvercmp(version, constraint)` as buildx has it: Masterminds semver v3's
//! lenient versions (`v1.2`, `1`) and constraints (`>= 1.2, < 2`, `~1.2`,
//! `^0.3`, `1.2.x`, `1 - 2.3`, `||`), where a pre-release version only
//! satisfies a comparison whose own version has a pre-release.

use std::cmp::Ordering;

/// A parsed version; `pre` is the dot-separated pre-release, empty if none.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<String>,
}

const INVALID_VERSION: &str = "Invalid Semantic Version";

fn identifiers(text: &str) -> Option<Vec<String>> {
    let ids: Vec<String> = text.split('.').map(str::to_string).collect();
    ids.iter().all(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')).then_some(ids)
}

/// `NewVersion`: `v` prefix allowed, minor and patch optional.
fn parse_version(text: &str) -> Result<Version, String> {
    let text = text.strip_prefix('v').unwrap_or(text);
    let (text, build) = match text.split_once('+') {
        Some((t, b)) => (t, Some(b)),
        None => (text, None),
    };
    if build.is_some_and(|b| identifiers(b).is_none()) {
        return Err(INVALID_VERSION.into());
    }
    let (core, pre) = match text.split_once('-') {
        Some((c, p)) => (c, identifiers(p).ok_or(INVALID_VERSION)?),
        None => (text, Vec::new()),
    };
    // Numeric pre-release parts may not have leading zeros.
    if pre.iter().any(|p| p.len() > 1 && p.starts_with('0') && p.chars().all(|c| c.is_ascii_digit())) {
        return Err("Version segment starts with 0".into());
    }
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
        return Err(INVALID_VERSION.into());
    }
    let number = |i: usize| parts.get(i).map_or(Ok(0), |p| p.parse::<u64>().map_err(|_| INVALID_VERSION.to_string()));
    Ok(Version { major: number(0)?, minor: number(1)?, patch: number(2)?, pre })
}

impl Version {
    /// SemVer precedence: numbers, then a release above its pre-releases, then
    /// pre-release identifiers (numeric ones below alphanumeric ones).
    fn compare(&self, other: &Version) -> Ordering {
        let core = (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch));
        if core != Ordering::Equal {
            return core;
        }
        match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            _ => {}
        }
        for (a, b) in self.pre.iter().zip(&other.pre) {
            let order = match (a.parse::<u64>(), b.parse::<u64>()) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                (Ok(_), Err(_)) => Ordering::Less,
                (Err(_), Ok(_)) => Ordering::Greater,
                _ => a.cmp(b),
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        self.pre.len().cmp(&other.pre.len())
    }
}

/// One comparison: an operator and a version whose missing or wildcard parts
/// (`1`, `1.x`, `*`) make it "dirty".
struct Comparison {
    op: String,
    version: Version,
    /// How many leading parts were given as numbers (0 for `*`).
    given: usize,
}

fn parse_comparison(text: &str) -> Result<Comparison, String> {
    let improper = || format!("improper constraint: {text}");
    let split = text.find(|c: char| c.is_ascii_alphanumeric() || c == '*').ok_or_else(improper)?;
    let (op, rest) = text.split_at(split);
    let op = op.trim();
    if !matches!(op, "" | "=" | "!=" | ">" | "<" | ">=" | "=>" | "<=" | "=<" | "~" | "~>" | "^") {
        return Err(improper());
    }
    let rest = rest.trim();
    let rest = rest.strip_prefix('v').unwrap_or(rest);
    let (core, tail) = match rest.find(['-', '+']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let mut given = 0;
    let mut parts = Vec::new();
    for part in core.split('.') {
        if matches!(part, "x" | "X" | "*") {
            break;
        }
        parts.push(part);
        given += 1;
    }
    if given > 3 {
        return Err(improper());
    }
    let mut filled: Vec<&str> = parts.clone();
    while filled.len() < 3 {
        filled.push("0");
    }
    let version = parse_version(&format!("{}{tail}", filled.join("."))).map_err(|_| improper())?;
    Ok(Comparison { op: op.to_string(), version, given })
}

impl Comparison {
    fn check(&self, v: &Version) -> bool {
        let c = &self.version;
        // A pre-release only meets comparisons that name a pre-release.
        if !v.pre.is_empty() && c.pre.is_empty() {
            return false;
        }
        let order = v.compare(c);
        let same_major = v.major == c.major;
        let same_minor = same_major && v.minor == c.minor;
        match self.op.as_str() {
            "" | "=" => match self.given {
                0 => true,
                1 => same_major,
                2 => same_minor,
                _ => order == Ordering::Equal,
            },
            "!=" => match self.given {
                0 => false,
                1 => !same_major,
                2 => !same_minor,
                _ => order != Ordering::Equal,
            },
            ">" => match self.given {
                0 => false,
                1 => v.major > c.major,
                2 => v.major > c.major || (same_major && v.minor > c.minor),
                _ => order == Ordering::Greater,
            },
            "<" => order == Ordering::Less,
            ">=" | "=>" => order != Ordering::Less,
            "<=" | "=<" => match self.given {
                0 => true,
                1 => v.major <= c.major,
                2 => v.major < c.major || (same_major && v.minor <= c.minor),
                _ => order != Ordering::Greater,
            },
            "~" | "~>" => order != Ordering::Less && if self.given <= 1 { same_major } else { same_minor },
            "^" => {
                if order == Ordering::Less {
                    return false;
                }
                match (c.major, c.minor, self.given) {
                    (0, _, 0 | 1) => v.major == 0,
                    (0, 0, 2) => same_minor,
                    (0, 0, _) => same_minor && v.patch == c.patch,
                    (0, _, _) => same_minor,
                    _ => same_major,
                }
            }
            _ => false,
        }
    }
}

/// Whether `version` satisfies `constraint`.
pub fn semvercmp(version: &str, constraint: &str) -> Result<bool, String> {
    let v = parse_version(version.trim())?;
    for alternative in constraint.split("||") {
        let all = comparisons(alternative)?;
        if all.iter().all(|c| c.check(&v)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One `||` alternative: comparisons separated by commas or spaces, with
/// `A - B` ranges meaning `>= A, <= B`.
fn comparisons(alternative: &str) -> Result<Vec<Comparison>, String> {
    let words: Vec<&str> = alternative.split([',', ' ']).filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return Err(format!("improper constraint: {alternative}"));
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if words.get(i + 1) == Some(&"-") && i + 2 < words.len() {
            out.push(parse_comparison(&format!(">={}", words[i]))?);
            out.push(parse_comparison(&format!("<={}", words[i + 2]))?);
            i += 3;
            continue;
        }
        // An operator written apart from its version (`>= 1.2`).
        let word = words[i];
        if !word.contains(|c: char| c.is_ascii_alphanumeric() || c == '*') && i + 1 < words.len() {
            out.push(parse_comparison(&format!("{word}{}", words[i + 1]))?);
            i += 2;
            continue;
        }
        out.push(parse_comparison(word)?);
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::semvercmp;

    #[test]
    fn constraints_match_as_masterminds_semver_does() {
        let cases = [
            ("1.2.3", ">= 1.2.0", true),
            ("2.0.0", "< 2.0.0", false),
            ("1.2.3", ">= 1.2, < 2", true),
            ("2.0.0", "~1.2", false),
            ("1.2.9", "~1.2.3", true),
            ("1.3.0", "~1.2.3", false),
            ("1.9.0", "~1", true),
            ("1.9.0", "^1.2", true),
            ("0.3.1", "^0.2", false),
            ("0.0.4", "^0.0.3", false),
            ("v2.1.0", "^2.0", true),
            ("1.2.7", "1.2.x", true),
            ("1.3.0", "1.2.x", false),
            ("5.0.0", "*", true),
            ("1.5.0", "1.2 - 1.4.5", false),
            ("1.4.5", "1.2 - 1.4.5", true),
            ("1.5.0", "~1.4 || >=1.5, <2", true),
            ("1.2.3-beta.1", ">= 1.2.0", false),
            ("1.2.3-beta.1", ">= 1.2.0-0", true),
            ("1.2.3-beta.2", "> 1.2.3-beta.10", false),
            ("1.3.0", "> 1.2", true),
            ("1.2.9", "> 1.2", false),
            ("1.2.9", "<= 1.2", true),
            ("1.2.0", "!= 1.2.0", false),
        ];
        for (v, c, want) in cases {
            assert_eq!(semvercmp(v, c), Ok(want), "{v} {c}");
        }
        assert_eq!(semvercmp("nope", ">1"), Err("Invalid Semantic Version".into()));
        assert_eq!(semvercmp("1.0.0", ">>1"), Err("improper constraint: >>1".into()));
    }
}
