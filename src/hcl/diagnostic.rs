//! Errors that point at a file, line and column, with the offending line shown.

use std::fmt;
use std::ops::Range;

/// A named source text, with the byte offset of each line start for positions.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// A leading byte-order mark is dropped: editors show none, so positions
    /// count from the first visible character (buildx reads such HCL too).
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let mut text = text.into();
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        // Counted first, so the index is built in one allocation (memchr: a
        // byte-at-a-time scan was about 3 % of compiling the Django example).
        let newlines = || memchr::memchr_iter(b'\n', text.as_bytes());
        let mut line_starts = Vec::with_capacity(1 + newlines().count());
        line_starts.push(0);
        line_starts.extend(newlines().map(|i| i + 1));
        SourceFile { name: name.into(), text, line_starts }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line - 1];
        let column = self.text[start..offset].chars().count() + 1;
        (line, column)
    }

    /// The text of a 1-based line, without its newline.
    pub fn line(&self, line: usize) -> &str {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else { return "" };
        let end = self.line_starts.get(line).map(|e| e - 1).unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches('\r')
    }
}

/// What went wrong, where, and what would be right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
    /// The source line, for the code frame.
    pub source_line: String,
}

impl Diagnostic {
    pub fn at_line(file: &SourceFile, line: usize, column: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.name.clone(),
            line,
            column,
            message: message.into(),
            hint: None,
            source_line: file.line(line).to_string(),
        }
    }

    /// At the start of `span`; a missing span (built, not parsed) points at the file start.
    pub fn at(file: &SourceFile, span: Option<Range<usize>>, message: impl Into<String>) -> Diagnostic {
        let (line, column) = file.position(span.map(|s| s.start).unwrap_or(0));
        Diagnostic::at_line(file, line, column, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// `file:line:col: message`, the one-line form engines show.
    pub fn headline(&self) -> String {
        format!("{}:{}:{}: {}", self.file, self.line, self.column, self.message)
    }

    /// The headline with the hint after it: what a build's error message says.
    /// The engine draws the code frame itself, from the position.
    pub fn summary(&self) -> String {
        match &self.hint {
            Some(hint) => format!("{} (hint: {hint})", self.headline()),
            None => self.headline(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.headline())?;
        let gutter = " ".repeat(self.line.to_string().len());
        writeln!(f, "{gutter} |")?;
        writeln!(f, "{} | {}", self.line, self.source_line)?;
        write!(f, "{gutter} | {}^", " ".repeat(self.column.saturating_sub(1)))?;
        if let Some(hint) = &self.hint {
            write!(f, "\n{gutter} = hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let f = SourceFile::new("a.hcl", "ab\ncdé f\n");
        assert_eq!(f.position(0), (1, 1));
        assert_eq!(f.position(3), (2, 1));
        assert_eq!(f.position(8), (2, 5));
        assert_eq!(f.line(2), "cdé f");
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_text() {
        let f = SourceFile::new("a.hcl", "\u{feff}x = 1\n");
        assert_eq!((f.text.as_str(), f.position(0)), ("x = 1\n", (1, 1)));
    }

    #[test]
    fn display_shows_a_code_frame_and_hint() {
        let f = SourceFile::new("app.hcl", "x = 1\nimage \"a\" { frm = 2 }\n");
        let d = Diagnostic::at(&f, Some(18..21), "unknown attribute \"frm\"").with_hint("did you mean \"from\"?");
        let text = d.to_string();
        assert!(text.starts_with("app.hcl:2:13: unknown attribute \"frm\""), "{text}");
        assert!(text.contains("2 | image \"a\" { frm = 2 }"));
        assert!(text.contains("hint: did you mean \"from\"?"));
    }
}
