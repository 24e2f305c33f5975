//! Go's regular expressions, as patternmatcher builds them, rewritten in the
//! syntax of the `regex` crate with the same meaning.
//!
//! patternmatcher turns a pattern into RE2 text by substitution, and the result
//! is what Go parses, not what the pattern looked like. The two dialects agree
//! on the structure patternmatcher generates (`^`, `$`, `.`, `*`, `?`, groups)
//! but differ inside classes (`[` nests in Rust, `&&`, `--` and `~~` are set
//! operations) and in what `\d`, `\s`, `\w` and `\b` mean (ASCII in Go, Unicode
//! in Rust). So escapes and classes are parsed the way Go's `regexp/syntax`
//! parses them and written back out unambiguously.
//!
//! Not carried over: `\Q...\E` quoting and `\C`, which a pattern could only
//! produce by writing `\Q` or `\C`; they are reported as syntax errors.

/// The Rust form of a Go regular expression, or `None` when Go would reject it
/// (or it uses one of the constructs above).
pub fn to_rust_syntax(go: &str) -> Option<String> {
    let mut chars = go.chars().peekable();
    let mut rust = String::with_capacity(go.len() * 2);
    while let Some(c) = chars.next() {
        match c {
            '\\' => rust.push_str(&escape_outside_class(&mut chars)?),
            '[' => rust.push_str(&class(&mut chars)?),
            // The structure patternmatcher generates means the same to both.
            '^' | '$' | '.' | '*' | '?' | '+' | '(' | ')' | '|' => rust.push(c),
            _ => push_literal(&mut rust, c),
        }
    }
    Some(rust)
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// `\x` outside a class: an assertion, a class shorthand or one character.
fn escape_outside_class(chars: &mut Chars) -> Option<String> {
    let c = *chars.peek()?;
    let rust = match c {
        'A' => r"\A".to_string(),
        'z' => r"\z".to_string(),
        // Go's word boundaries are ASCII ones.
        'b' => r"(?-u:\b)".to_string(),
        'B' => r"(?-u:\B)".to_string(),
        'p' | 'P' => {
            chars.next();
            return unicode_class(c, chars).map(|item| item.to_string());
        }
        _ => match perl_class(c) {
            Some(class) => {
                chars.next();
                return Some(class.standalone());
            }
            None => {
                let mut literal = String::new();
                push_literal(&mut literal, escaped_char(chars)?);
                return Some(literal);
            }
        },
    };
    chars.next();
    Some(rust)
}

/// `\pL` or `\PL`: Go accepts one-letter general categories here (a braced
/// name cannot occur, patternmatcher escapes `{`).
fn unicode_class(sign: char, chars: &mut Chars) -> Option<&'static str> {
    let category = chars.next()?;
    let positive = ["\\pC", "\\pL", "\\pM", "\\pN", "\\pP", "\\pS", "\\pZ"];
    let negative = ["\\PC", "\\PL", "\\PM", "\\PN", "\\PP", "\\PS", "\\PZ"];
    let index = "CLMNPSZ".find(category)?;
    Some(if sign == 'p' { positive[index] } else { negative[index] })
}

/// Go's Perl shorthands, which are ASCII-only.
#[derive(Clone, Copy)]
struct PerlClass {
    negated: bool,
    /// The members, written for the inside of a Rust class.
    members: &'static str,
}

impl PerlClass {
    fn standalone(self) -> String {
        format!("[{}{}]", if self.negated { "^" } else { "" }, self.members)
    }

    fn inside_class(self) -> String {
        if self.negated {
            self.standalone()
        } else {
            self.members.to_string()
        }
    }
}

fn perl_class(c: char) -> Option<PerlClass> {
    let (negated, members) = match c {
        'd' => (false, "0-9"),
        'D' => (true, "0-9"),
        's' => (false, r"\t\n\x0C\r "),
        'S' => (true, r"\t\n\x0C\r "),
        'w' => (false, "0-9A-Za-z_"),
        'W' => (true, "0-9A-Za-z_"),
        _ => return None,
    };
    Some(PerlClass { negated, members })
}

/// The character an escape stands for, after the `\` (Go's `parseEscape`).
fn escaped_char(chars: &mut Chars) -> Option<char> {
    let c = chars.next()?;
    match c {
        // Punctuation escapes itself.
        _ if c.is_ascii() && !c.is_ascii_alphanumeric() => Some(c),
        // A lone non-zero digit would be a backreference, which Go rejects.
        '1'..='7' if !chars.peek().is_some_and(|d| d.is_digit(8)) => None,
        '0'..='7' => {
            let mut value = c.to_digit(8)?;
            for _ in 0..2 {
                match chars.peek().and_then(|d| d.to_digit(8)) {
                    Some(digit) => {
                        value = value * 8 + digit;
                        chars.next();
                    }
                    None => break,
                }
            }
            char::from_u32(value)
        }
        'x' => {
            let high = chars.next()?.to_digit(16)?;
            let low = chars.next()?.to_digit(16)?;
            char::from_u32(high * 16 + low)
        }
        'a' => Some('\u{7}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        _ => None,
    }
}

/// A class after its `[`, parsed as Go's `parseClass` does: a `]` right after
/// `[` or `[^` is a member, `[` is a member unless it opens `[:name:]`, and
/// `-` makes a range unless it is last.
fn class(chars: &mut Chars) -> Option<String> {
    let mut rust = String::from("[");
    if chars.peek() == Some(&'^') {
        chars.next();
        rust.push('^');
    }
    let mut first = true;
    loop {
        match chars.peek()? {
            ']' if !first => {
                chars.next();
                break;
            }
            _ => first = false,
        }
        if let Some(name) = posix_class(chars) {
            rust.push_str(&name?);
            continue;
        }
        let mut lookahead = chars.clone();
        if lookahead.next() == Some('\\') {
            match lookahead.next() {
                Some(sign @ ('p' | 'P')) => {
                    *chars = lookahead;
                    rust.push_str(unicode_class(sign, chars)?);
                    continue;
                }
                Some(shorthand) => {
                    if let Some(class) = perl_class(shorthand) {
                        *chars = lookahead;
                        rust.push_str(&class.inside_class());
                        continue;
                    }
                }
                None => {}
            }
        }
        let low = class_char(chars)?;
        let mut lookahead = chars.clone();
        let high = match (lookahead.next(), lookahead.peek()) {
            (Some('-'), Some(&next)) if next != ']' => {
                chars.next();
                let high = class_char(chars)?;
                if high < low {
                    return None;
                }
                high
            }
            _ => low,
        };
        push_class_range(&mut rust, low, high);
    }
    rust.push(']');
    Some(rust)
}

/// `[:name:]` or `[:^name:]` at the current position: `None` when there is
/// none (the `[` is then an ordinary member), `Some(None)` for an unknown name,
/// which Go rejects. Like Go, the closing `:]` is searched for in all the rest.
fn posix_class(chars: &mut Chars) -> Option<Option<String>> {
    let rest: String = chars.clone().collect();
    let after_open = rest.strip_prefix("[:")?;
    let end = after_open.find(":]")?;
    let name = &after_open[..end];
    const NAMES: [&str; 14] = [
        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space", "upper",
        "word", "xdigit",
    ];
    let known = NAMES.contains(&name.strip_prefix('^').unwrap_or(name));
    for _ in 0..name.chars().count() + 4 {
        chars.next();
    }
    Some(known.then(|| format!("[:{name}:]")))
}

/// One member character: escaped or plain.
fn class_char(chars: &mut Chars) -> Option<char> {
    match chars.next()? {
        '\\' => escaped_char(chars),
        c => Some(c),
    }
}

fn push_class_range(rust: &mut String, low: char, high: char) {
    rust.push_str(&format!("\\x{{{:x}}}", u32::from(low)));
    if high != low {
        rust.push_str(&format!("-\\x{{{:x}}}", u32::from(high)));
    }
}

fn push_literal(rust: &mut String, c: char) {
    rust.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go_matches(go: &str, text: &str) -> bool {
        let rust = to_rust_syntax(go).expect("valid Go regexp");
        regex::Regex::new(&rust).expect("valid Rust regexp").is_match(text)
    }

    #[test]
    fn classes_parse_as_in_go() {
        // Go reads `[[^/]*]` as the class `[[^/]` repeated, then a literal `]`.
        assert!(go_matches("^[[^/]*]$", "[^/]"));
        assert!(go_matches("^[[^/]*]$", "]"));
        assert!(!go_matches("^[[^/]*]$", "a]"));
        // A leading `]` is a member; a trailing `-` is a member.
        assert!(go_matches("^[]a]$", "]"));
        assert!(go_matches("^[a-]$", "-"));
        // `&&` and `--` are plain members in Go.
        assert!(go_matches("^[a&&b]$", "&"));
        assert!(go_matches("^[+--]$", ","));
        assert!(go_matches("^[[:digit:]x]$", "7"));
        assert!(go_matches("^[[:^digit:]]$", "x"));
        assert!(!go_matches("^[[:^digit:]]$", "7"));
    }

    #[test]
    fn shorthands_are_ascii_as_in_go() {
        assert!(go_matches(r"^\d$", "7"));
        assert!(!go_matches(r"^\d$", "٣"));
        assert!(!go_matches(r"^\w$", "é"));
        assert!(go_matches(r"^[\w]$", "_"));
        assert!(go_matches(r"^\x41\101$", "AA"));
        assert!(go_matches(r"^\pL$", "é"));
        assert!(go_matches(r"^a\b", "a-"));
        assert!(go_matches(r"^a\b", "aé"));
        assert!(!go_matches(r"^a\b", "ab"));
    }

    #[test]
    fn go_rejections_are_kept() {
        for go in [r"\1", r"\y", r"[z-a]", "[a", r"[[:nope:]]", r"\Qa\E", r"\é"] {
            assert_eq!(to_rust_syntax(go), None, "{go}");
        }
    }
}
