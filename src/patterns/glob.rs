//! Go's `filepath.Match` on Unix: shell globs over one path, where `*` and `?`
//! never match `/`, `[...]` is a class (`^` negates, `a-z` ranges, `\` escapes)
//! and `\` escapes any character.
//!
//! Two uses: patternmatcher rejects a pattern exactly when `Match(pattern, ".")`
//! reports a syntax error, and fsutil's follow paths expand a wildcard last
//! element with `Match` against directory entries. Go walks the text byte by
//! byte (a `?` or class consumes one UTF-8 sequence, an invalid byte counting as
//! one), so this does too.

/// The pattern is malformed: an unclosed or empty class, a bad range, or a
/// trailing `\`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobSyntaxError;

/// Whether `name` matches the whole of `pattern`. Every chunk of the pattern is
/// checked for syntax even when an earlier one already failed to match.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, GlobSyntaxError> {
    let mut pattern = pattern.as_bytes();
    let mut name = name.as_bytes();
    'chunks: while !pattern.is_empty() {
        let (star, chunk, rest) = split_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing star takes the rest of this path element.
            return Ok(!name.contains(&b'/'));
        }
        // The last chunk must consume the whole name, or the star before it
        // gets a chance to take more.
        if let Some(after) = match_chunk(chunk, name)? {
            if after.is_empty() || !pattern.is_empty() {
                name = after;
                continue;
            }
        }
        if star {
            let mut skipped = 0;
            while skipped < name.len() && name[skipped] != b'/' {
                if let Some(after) = match_chunk(chunk, &name[skipped + 1..])? {
                    if after.is_empty() || !pattern.is_empty() {
                        name = after;
                        continue 'chunks;
                    }
                }
                skipped += 1;
            }
        }
        while !pattern.is_empty() {
            let (_, chunk, rest) = split_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Leading stars, then the text up to the next star outside a class.
fn split_chunk(pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let stars = pattern.iter().take_while(|&&b| b == b'*').count();
    let pattern = &pattern[stars..];
    let mut in_class = false;
    let mut end = 0;
    while end < pattern.len() {
        match pattern[end] {
            // An escaped character never ends the chunk; a trailing `\` is
            // reported by `match_chunk`.
            b'\\' if end + 1 < pattern.len() => end += 1,
            b'[' => in_class = true,
            b']' => in_class = false,
            b'*' if !in_class => break,
            _ => {}
        }
        end += 1;
    }
    (stars > 0, &pattern[..end], &pattern[end..])
}

/// Matches a star-free chunk against the start of `text`, giving what is left
/// of `text`. After a mismatch the rest of the chunk is still parsed so that a
/// syntax error anywhere is reported.
fn match_chunk<'t>(mut chunk: &[u8], mut text: &'t [u8]) -> Result<Option<&'t [u8]>, GlobSyntaxError> {
    let mut failed = false;
    while let Some(&first) = chunk.first() {
        if !failed && text.is_empty() {
            failed = true;
        }
        match first {
            b'[' => {
                let mut candidate = 0;
                if !failed {
                    let (rune, width) = decode_rune(text);
                    candidate = rune;
                    text = &text[width..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut in_class = false;
                let mut ranges = 0;
                loop {
                    if ranges > 0 && chunk.first() == Some(&b']') {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (low, rest) = class_char(chunk)?;
                    chunk = rest;
                    let mut high = low;
                    // `class_char` leaves at least one byte.
                    if chunk[0] == b'-' {
                        let (upper, rest) = class_char(&chunk[1..])?;
                        high = upper;
                        chunk = rest;
                    }
                    if low <= candidate && candidate <= high {
                        in_class = true;
                    }
                    ranges += 1;
                }
                if in_class == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if text[0] == b'/' {
                        failed = true;
                    }
                    text = &text[decode_rune(text).1..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if first == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return Err(GlobSyntaxError);
                    }
                }
                if !failed {
                    if chunk[0] != text[0] {
                        failed = true;
                    }
                    text = &text[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok(if failed { None } else { Some(text) })
}

/// One character of a class (possibly `\`-escaped), which must be followed by
/// more of the class.
fn class_char(chunk: &[u8]) -> Result<(u32, &[u8]), GlobSyntaxError> {
    let mut chunk = match chunk.first() {
        None | Some(b'-') | Some(b']') => return Err(GlobSyntaxError),
        Some(b'\\') => &chunk[1..],
        Some(_) => chunk,
    };
    if chunk.is_empty() {
        return Err(GlobSyntaxError);
    }
    let (rune, width) = decode_rune(chunk);
    if rune == u32::from(char::REPLACEMENT_CHARACTER) && width == 1 {
        return Err(GlobSyntaxError);
    }
    chunk = &chunk[width..];
    if chunk.is_empty() {
        return Err(GlobSyntaxError);
    }
    Ok((rune, chunk))
}

/// The first UTF-8 sequence of a non-empty byte string as Go decodes it: an
/// invalid sequence is U+FFFD of width one.
fn decode_rune(bytes: &[u8]) -> (u32, usize) {
    let width = match bytes[0] {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 0,
    };
    let decoded = bytes.get(..width).and_then(|seq| std::str::from_utf8(seq).ok()).and_then(|s| s.chars().next());
    match decoded {
        Some(c) => (u32::from(c), width),
        None => (u32::from(char::REPLACEMENT_CHARACTER), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases in the spirit of Go's own `filepath.Match` tests.
    #[test]
    fn matches_like_go() {
        let cases: &[(&str, &str, Result<bool, GlobSyntaxError>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abe", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", Err(GlobSyntaxError)),
            ("[-]", "-", Err(GlobSyntaxError)),
            ("[x-]", "x", Err(GlobSyntaxError)),
            ("[-x]", "x", Err(GlobSyntaxError)),
            ("\\", "a", Err(GlobSyntaxError)),
            ("[a-b-c]", "a", Err(GlobSyntaxError)),
            ("[", "a", Err(GlobSyntaxError)),
            ("[^", "a", Err(GlobSyntaxError)),
            ("[^bc", "a", Err(GlobSyntaxError)),
            ("a[", "a", Err(GlobSyntaxError)),
            ("a[", "ab", Err(GlobSyntaxError)),
            // The syntax of chunks after a mismatch is still checked.
            ("a*[", "xxx", Err(GlobSyntaxError)),
            ("*x", "xxx", Ok(true)),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(glob_match(pattern, name), *want, "glob_match({pattern:?}, {name:?})");
        }
    }
}
