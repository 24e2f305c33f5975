//! JSON as Go's `encoding/json` writes it, where leaven must match buildx or
//! BuildKit byte for byte (`bake --print`, `--progress rawjson`).

/// Serialised JSON with the characters Go's encoder escapes even inside
/// strings (for embedding in HTML) escaped: `<`, `>`, `&`, U+2028, U+2029.
/// None of them can appear in JSON outside a string, so the whole text is safe to scan.
pub fn escape_like_go(text: &str) -> String {
    if !text.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_characters_are_escaped_as_go_does() {
        assert_eq!(super::escape_like_go(r#"{"a":"<b> & c\u2028"}"#.replace("\\u2028", "\u{2028}").as_str()), r#"{"a":"\u003cb\u003e \u0026 c\u2028"}"#);
        assert_eq!(super::escape_like_go("{}"), "{}");
    }
}
