//! A hand-written parser for HCL's native syntax, straight from bytes to the
//! [`syntax`](super::syntax) tree: no token list, no layout kept. Nesting is
//! bounded ([`MAX_NESTING`]), so no input overflows the stack, and every loop
//! consumes input, so none hangs.

use hcl::Number;

use super::syntax::*;

/// Levels of nested blocks, brackets, parentheses, templates, operators.
pub const MAX_NESTING: usize = 64;

/// Where the text stops being HCL, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
}

type Result<T> = std::result::Result<T, ParseError>;

/// Parses a whole file (a leading byte order mark is skipped).
pub fn parse_body(text: &str) -> Result<Body> {
    if text.len() >= u32::MAX as usize {
        return Err(ParseError { offset: 0, message: "File too large: HCL files are limited to 4 GiB".into() });
    }
    let start = if text.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
    let mut p = Parser { src: text, bytes: text.as_bytes(), pos: start, end: text.len(), newlines: true, depth: 0, items: Vec::new() };
    p.body(None)
}

/// Parses a lone expression (an HCL-JSON `type`, a number's text).
pub fn parse_expression(text: &str) -> Result<Expression> {
    if text.len() >= u32::MAX as usize {
        return Err(ParseError { offset: 0, message: "Expression too large".into() });
    }
    let mut p = Parser { src: text, bytes: text.as_bytes(), pos: 0, end: text.len(), newlines: false, depth: 0, items: Vec::new() };
    let e = p.expression()?;
    p.space();
    if p.pos < p.end {
        return Err(p.unexpected("Extra characters after expression", "the end of the expression"));
    }
    Ok(e)
}

/// Parses a template as HCL-JSON strings are: as a heredoc's content, with
/// interpolations and directives but no backslash escapes (JSON had them).
pub fn parse_template(text: &str) -> Result<Expression> {
    if text.len() >= u32::MAX as usize {
        return Err(ParseError { offset: 0, message: "Template too large".into() });
    }
    let mut p = Parser { src: text, bytes: text.as_bytes(), pos: 0, end: text.len(), newlines: false, depth: 0, items: Vec::new() };
    let (elements, end) = p.template_seq(Mode::Heredoc(0))?;
    if let End::Directive(kw, _, at) = end {
        return Err(p.stray_directive(kw, at));
    }
    Ok(Expression { expr: template_expr(elements), span: Span::new(0, text.len()) })
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Where input ends for the construct being read (a heredoc's content).
    end: usize,
    /// Whether a newline ends what is being read (bodies, objects) or is mere space (brackets).
    newlines: bool,
    depth: usize,
    /// The items of the bodies being read, innermost last: each body takes its
    /// own off the top when it ends, in one allocation of the right size.
    items: Vec<Structure>,
}

/// A short list as it is read: kept in place, then moved into one allocation
/// of its length (a Vec grown item by item reallocates on the way).
type Short<T, const N: usize> = smallvec::SmallVec<[T; N]>;

/// How a template ends.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// At `"`; no newline, backslash escapes.
    Quoted,
    /// At the end of input, newlines and backslashes literal (a heredoc's
    /// content, an HCL-JSON string); `<<-` strips this indent.
    Heredoc(usize),
}

/// What ended a template sequence.
enum End {
    Close,
    /// `%{else}`, `%{endif}` or `%{endfor}`, its strip markers and where it starts.
    Directive(&'static str, Strip, usize),
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    c == '_' || c == '-' || c.is_alphanumeric()
}

/// A template's parts as the parser gathers them. Most templates are one
/// literal (every quoted string is read as a template), kept in place until
/// it is known to be a string.
type Parts = smallvec::SmallVec<[Element; 1]>;

/// A template of literals only is a string.
fn template_expr(mut elements: Parts) -> Expr {
    match elements.as_mut_slice() {
        [] => Expr::String(Text::default()),
        [Element::Literal(s, _)] => Expr::String(std::mem::take(s)),
        _ => Expr::Template(elements.into_vec()),
    }
}

impl<'a> Parser<'a> {
    fn peek(&self) -> u8 {
        if self.pos < self.end {
            self.bytes[self.pos]
        } else {
            0
        }
    }

    fn peek_at(&self, n: usize) -> u8 {
        if self.pos + n < self.end {
            self.bytes[self.pos + n]
        } else {
            0
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    fn starts_with(&self, s: &str) -> bool {
        self.bytes.get(self.pos..self.end).is_some_and(|rest| rest.starts_with(s.as_bytes()))
    }

    /// What is at `offset`, for messages.
    fn found_at(&self, offset: usize) -> String {
        if offset >= self.end {
            return "the end of the file".into();
        }
        let rest = self.src.get(offset..self.end).unwrap_or("");
        match rest.chars().next() {
            Some('\n') | Some('\r') => "a newline".into(),
            Some(c) if is_ident_start(c) => {
                let word: String = rest.chars().take_while(|c| is_ident_continue(*c)).take(40).collect();
                format!("`{word}`")
            }
            Some(c) => format!("`{c}`"),
            None => "the end of the file".into(),
        }
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError { offset, message: message.into() }
    }

    /// "`what`: found X; expected `expected`" at the current position.
    fn unexpected(&self, what: &str, expected: &str) -> ParseError {
        self.error(self.pos, format!("{what}: found {}; expected {expected}", self.found_at(self.pos)))
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error(self.pos, format!("Nesting too deep: expected at most {MAX_NESTING} nested levels")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Skips spaces and comments, and newlines where they do not end anything.
    fn space(&mut self) {
        let newlines = !self.newlines;
        self.skip(newlines);
    }

    fn skip(&mut self, newlines: bool) {
        loop {
            match self.peek() {
                b' ' | b'\t' => self.pos += 1,
                b'\r' if self.peek_at(1) == b'\n' && newlines => self.pos += 2,
                b'\r' if self.peek_at(1) != b'\n' => self.pos += 1,
                b'\n' if newlines => self.pos += 1,
                b'#' => self.line_comment(),
                b'/' if self.peek_at(1) == b'/' => self.line_comment(),
                b'/' if self.peek_at(1) == b'*' => {
                    let from = self.pos + 2;
                    match self.bytes.get(from..self.end).and_then(|rest| memchr::memmem::find(rest, b"*/")) {
                        Some(i) => self.pos = from + i + 2,
                        // Left for the caller to report as what it finds: a `/`.
                        None => return,
                    }
                }
                _ => return,
            }
        }
    }

    fn line_comment(&mut self) {
        match self.bytes.get(self.pos..self.end).and_then(|rest| memchr::memchr(b'\n', rest)) {
            Some(i) => self.pos += i,
            None => self.pos = self.end,
        }
    }

    /// An unterminated `/*` where the text stops making sense.
    fn check_comment(&self) -> Result<()> {
        if self.peek() == b'/' && self.peek_at(1) == b'*' {
            return Err(self.error(self.pos, "Unterminated comment: found `/*`; expected `*/` to close it"));
        }
        Ok(())
    }

    fn ident(&mut self) -> Option<Ident> {
        let start = self.pos;
        let rest = self.src.get(start..self.end)?;
        let mut chars = rest.char_indices();
        match chars.next() {
            Some((_, c)) if is_ident_start(c) => {}
            _ => return None,
        }
        let len = chars.find(|(_, c)| !is_ident_continue(*c)).map(|(i, _)| i).unwrap_or(rest.len());
        self.pos += len;
        Some(Ident { name: Text::new(&rest[..len]), span: Span::new(start, self.pos) })
    }

    /// Whether the keyword `word` is next (not a longer name).
    fn keyword(&self, word: &str) -> bool {
        self.starts_with(word)
            && self.src.get(self.pos + word.len()..self.end).and_then(|r| r.chars().next()).is_none_or(|c| !is_ident_continue(c))
    }

    fn expect(&mut self, byte: u8, what: &str, expected: &str) -> Result<()> {
        self.space();
        self.check_comment()?;
        if self.peek() != byte {
            return Err(self.unexpected(what, expected));
        }
        self.pos += 1;
        Ok(())
    }

    /// A body: items until the end of input (`open` is None) or a `}` closing the block opened at `open`.
    fn body(&mut self, open: Option<usize>) -> Result<Body> {
        let base = self.items.len();
        let take = |p: &mut Self| Body { items: p.items.drain(base..).collect() };
        loop {
            self.skip(true);
            self.check_comment()?;
            if self.at_end() {
                return match open {
                    Some(at) => Err(self.error(at, "Unclosed configuration block: there is no closing `}` for this block's `{`")),
                    None => Ok(take(self)),
                };
            }
            if self.peek() == b'}' {
                return match open {
                    Some(_) => Ok(take(self)),
                    None => Err(self.unexpected("Argument or block definition required", "an argument name or a block type")),
                };
            }
            let Some(ident) = self.ident() else {
                return Err(self.unexpected("Argument or block definition required", "an argument name or a block type"));
            };
            let start = ident.span.range().map(|r| r.start).unwrap_or(self.pos);
            self.skip(false);
            if self.peek() == b'=' && self.peek_at(1) != b'=' {
                self.pos += 1;
                let saved = std::mem::replace(&mut self.newlines, true);
                let value = self.expression()?;
                self.newlines = saved;
                let span = Span::new(start, self.pos);
                self.items.push(Structure::Attribute(Attribute { key: ident, value, span }));
                self.skip(false);
                self.check_comment()?;
                if !(self.at_end() || matches!(self.peek(), b'\n' | b'\r') || (open.is_some() && self.peek() == b'}')) {
                    return Err(self.unexpected("Missing newline after argument", "a newline after an argument definition"));
                }
            } else {
                let block = self.block(ident, start)?;
                self.items.push(Structure::Block(block));
                self.skip(false);
                self.check_comment()?;
                if !(self.at_end() || matches!(self.peek(), b'\n' | b'\r') || (open.is_some() && self.peek() == b'}')) {
                    return Err(self.unexpected("Missing newline after block definition", "a newline after a block's closing `}`"));
                }
            }
        }
    }

    fn block(&mut self, ident: Ident, start: usize) -> Result<Block> {
        let mut labels = Short::<Ident, 2>::new();
        loop {
            self.skip(false);
            self.check_comment()?;
            match self.peek() {
                b'{' => break,
                b'"' => {
                    let at = self.pos;
                    self.pos += 1;
                    let (elements, end) = self.template_seq(Mode::Quoted)?;
                    if let End::Directive(kw, _, at) = end {
                        return Err(self.stray_directive(kw, at));
                    }
                    let name = match template_expr(elements) {
                        Expr::String(s) => s,
                        _ => return Err(self.error(at, "Invalid block label: template sequences are not allowed in a block label")),
                    };
                    labels.push(Ident { name, span: Span::new(at, self.pos) });
                }
                _ => match self.ident() {
                    Some(label) => labels.push(label),
                    None if labels.is_empty() && self.peek() != b'\n' && !self.at_end() => {
                        return Err(self.unexpected(
                            "Invalid argument or block definition",
                            "`=` to set an argument, or a label or `{` to start a block",
                        ))
                    }
                    None => return Err(self.unexpected("Invalid block definition", "a quoted label or `{` to open the block")),
                },
            }
        }
        let open = self.pos;
        self.enter()?;
        self.pos += 1;
        let body = self.body(Some(open))?;
        self.pos += 1;
        self.leave();
        Ok(Block { ident, labels: labels.into_vec(), body, span: Span::new(start, self.pos) })
    }

    fn stray_directive(&self, keyword: &str, at: usize) -> ParseError {
        let opener = if keyword == "endfor" { "%{for …}" } else { "%{if …}" };
        self.error(at, format!("Unexpected %{{{keyword}}}: there is no {opener} before it in this template"))
    }

    /// An expression; in a body a newline ends it, in brackets it is space.
    fn expression(&mut self) -> Result<Expression> {
        let cond = self.binary(0)?;
        self.space();
        if self.peek() == b'?' {
            self.pos += 1;
            self.enter()?;
            let yes = self.expression()?;
            self.expect(b':', "Missing false expression in conditional", "`:` and the value when the condition is false")?;
            let no = self.expression()?;
            self.leave();
            let span = Span::new(start_of(&cond), self.pos_end(&no));
            return Ok(Expression { expr: Expr::Conditional(Box::new((cond, yes, no))), span });
        }
        Ok(cond)
    }

    fn pos_end(&self, e: &Expression) -> usize {
        e.span.range().map(|r| r.end).unwrap_or(self.pos)
    }

    fn binary_op(&self) -> Option<(BinaryOp, usize)> {
        use BinaryOp::*;
        Some(match (self.peek(), self.peek_at(1)) {
            (b'=', b'=') => (Eq, 2),
            (b'!', b'=') => (NotEq, 2),
            (b'<', b'=') => (LessEq, 2),
            (b'>', b'=') => (GreaterEq, 2),
            (b'&', b'&') => (And, 2),
            (b'|', b'|') => (Or, 2),
            (b'<', _) => (Less, 1),
            (b'>', _) => (Greater, 1),
            (b'+', _) => (Plus, 1),
            (b'-', _) => (Minus, 1),
            (b'*', _) => (Mul, 1),
            // An unterminated `/*` is left for the caller to report.
            (b'/', b'*') => return None,
            (b'/', _) => (Div, 1),
            (b'%', _) => (Mod, 1),
            _ => return None,
        })
    }

    /// Operators of at least `min` precedence, left to right.
    fn binary(&mut self, min: u8) -> Result<Expression> {
        let mut lhs = self.unary()?;
        let mut chained = 0;
        loop {
            self.space();
            let Some((op, len)) = self.binary_op() else { break };
            if op.precedence() < min {
                break;
            }
            self.pos += len;
            // A chain nests its left side one level per operator.
            chained += 1;
            self.enter()?;
            let rhs = self.binary(op.precedence() + 1)?;
            let span = Span::new(start_of(&lhs), self.pos_end(&rhs));
            lhs = Expression { expr: Expr::Binary(op, Box::new((lhs, rhs))), span };
        }
        self.depth -= chained;
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expression> {
        self.space();
        let op = match self.peek() {
            b'-' => UnaryOp::Neg,
            b'!' => UnaryOp::Not,
            _ => return self.term(),
        };
        let start = self.pos;
        self.pos += 1;
        self.enter()?;
        let operand = self.unary()?;
        self.leave();
        let span = Span::new(start, self.pos_end(&operand));
        Ok(Expression { expr: Expr::Unary(op, Box::new(operand)), span })
    }

    /// A value with its traversal operators.
    fn term(&mut self) -> Result<Expression> {
        let root = self.primary()?;
        let start = start_of(&root);
        let mut ops = Short::<Operator, 2>::new();
        loop {
            let before = self.pos;
            self.space();
            let at = self.pos;
            if self.starts_with("...") {
                self.pos = before;
                break;
            }
            match (self.peek(), self.peek_at(1)) {
                (b'.', b'*') => {
                    self.pos += 2;
                    ops.push(Operator { op: Op::AttrSplat, span: Span::new(at, self.pos) });
                }
                (b'.', c) if c.is_ascii_digit() => {
                    self.pos += 1;
                    let digits = self.bytes[self.pos..self.end].iter().take_while(|b| b.is_ascii_digit()).count();
                    let text = &self.src[self.pos..self.pos + digits];
                    let index = text.parse::<u64>().map_err(|_| self.error(self.pos, "Invalid index: the number is too large"))?;
                    self.pos += digits;
                    ops.push(Operator { op: Op::LegacyIndex(index), span: Span::new(at, self.pos) });
                }
                (b'.', _) => {
                    self.pos += 1;
                    let Some(name) = self.ident() else {
                        return Err(self.unexpected("Invalid attribute name", "an attribute name, a number or `*` after `.`"));
                    };
                    ops.push(Operator { op: Op::GetAttr(name.name), span: Span::new(at, self.pos) });
                }
                (b'[', _) => {
                    self.pos += 1;
                    let saved = std::mem::replace(&mut self.newlines, false);
                    self.space();
                    if self.peek() == b'*' {
                        self.pos += 1;
                        self.expect(b']', "Missing close bracket on splat", "`]` after `[*`")?;
                        ops.push(Operator { op: Op::FullSplat, span: Span::new(at, self.pos) });
                    } else {
                        self.enter()?;
                        let index = self.expression()?;
                        self.expect(b']', "Missing close bracket on index", "`]` after the index")?;
                        self.leave();
                        ops.push(Operator { op: Op::Index(index), span: Span::new(at, self.pos) });
                    }
                    self.newlines = saved;
                }
                _ => {
                    self.pos = before;
                    break;
                }
            }
        }
        if ops.is_empty() {
            return Ok(root);
        }
        let span = Span::new(start, self.pos);
        Ok(Expression { expr: Expr::Traversal(Box::new(root), ops.into_vec()), span })
    }

    fn primary(&mut self) -> Result<Expression> {
        self.space();
        self.check_comment()?;
        let start = self.pos;
        let expr = match self.peek() {
            b'0'..=b'9' => self.number()?,
            b'"' => {
                self.pos += 1;
                self.enter()?;
                let (elements, end) = self.template_seq(Mode::Quoted)?;
                self.leave();
                if let End::Directive(kw, _, at) = end {
                    return Err(self.stray_directive(kw, at));
                }
                template_expr(elements)
            }
            b'<' if self.peek_at(1) == b'<' => self.heredoc()?,
            b'(' => {
                self.pos += 1;
                self.enter()?;
                let saved = std::mem::replace(&mut self.newlines, false);
                let inner = self.expression()?;
                self.expect(b')', "Unbalanced parentheses", "`)` to close the `(`")?;
                self.newlines = saved;
                self.leave();
                Expr::Parenthesis(Box::new(inner))
            }
            b'[' => {
                self.pos += 1;
                self.enter()?;
                let saved = std::mem::replace(&mut self.newlines, false);
                self.space();
                let e = if self.keyword("for") { self.for_expr(false)? } else { self.tuple()? };
                self.newlines = saved;
                self.leave();
                e
            }
            b'{' => {
                self.pos += 1;
                self.enter()?;
                let saved = std::mem::replace(&mut self.newlines, false);
                self.space();
                let e = if self.keyword("for") {
                    self.for_expr(true)?
                } else {
                    self.newlines = true;
                    self.object()?
                };
                self.newlines = saved;
                self.leave();
                e
            }
            _ => match self.ident() {
                Some(name) => match name.name.as_str() {
                    "null" => Expr::Null,
                    "true" => Expr::Bool(true),
                    "false" => Expr::Bool(false),
                    _ => {
                        let before = self.pos;
                        self.space();
                        if self.peek() == b'(' {
                            self.pos += 1;
                            self.call(name)?
                        } else {
                            self.pos = before;
                            Expr::Variable(name.name)
                        }
                    }
                },
                None => {
                    return Err(self.unexpected(
                        "Invalid expression",
                        "an expression (a value, a name, a function call, a list or an object)",
                    ))
                }
            },
        };
        Ok(Expression { expr, span: Span::new(start, self.pos) })
    }

    fn number(&mut self) -> Result<Expr> {
        let start = self.pos;
        let digits = |p: &Self, from: usize| p.bytes[from..p.end].iter().take_while(|b| b.is_ascii_digit()).count();
        let mut end = start + digits(self, start);
        let mut whole = true;
        if self.bytes.get(end) == Some(&b'.') && end + 1 < self.end && self.bytes[end + 1].is_ascii_digit() {
            whole = false;
            end += 1 + digits(self, end + 1);
        }
        if end < self.end && matches!(self.bytes[end], b'e' | b'E') {
            let mut e = end + 1;
            if e < self.end && matches!(self.bytes[e], b'+' | b'-') {
                e += 1;
            }
            if e < self.end && self.bytes[e].is_ascii_digit() {
                whole = false;
                end = e + digits(self, e);
            }
        }
        let text = &self.src[start..end];
        self.pos = end;
        if whole {
            if let Ok(n) = text.parse::<u64>() {
                return Ok(Expr::Number(Number::from(n)));
            }
        }
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Expr::Number)
            .ok_or_else(|| self.error(start, format!("Invalid number: {text} is out of range")))
    }

    fn tuple(&mut self) -> Result<Expr> {
        let mut items = Short::<Expression, 4>::new();
        loop {
            self.space();
            self.check_comment()?;
            if self.peek() == b']' {
                self.pos += 1;
                return Ok(Expr::Tuple(items.into_vec()));
            }
            items.push(self.expression()?);
            self.space();
            match self.peek() {
                b',' => self.pos += 1,
                b']' => {}
                _ => return Err(self.unexpected("Missing item separator", "`,` or `]` after a tuple item")),
            }
        }
    }

    fn object(&mut self) -> Result<Expr> {
        let mut items = Short::<ObjectItem, 4>::new();
        loop {
            self.skip(true);
            self.check_comment()?;
            if self.peek() == b'}' {
                self.pos += 1;
                return Ok(Expr::Object(items.into_vec()));
            }
            let before = self.pos;
            let key = match self.ident() {
                Some(name) => {
                    self.skip(false);
                    if matches!(self.peek(), b'=' | b':') && self.peek_at(1) != b'=' {
                        ObjectKey::Ident(name)
                    } else {
                        self.pos = before;
                        ObjectKey::Expression(self.expression()?)
                    }
                }
                None => ObjectKey::Expression(self.expression()?),
            };
            self.skip(false);
            if matches!(self.peek(), b'=' | b':') && self.peek_at(1) != b'=' {
                self.pos += 1;
            } else {
                return Err(self.unexpected("Missing key/value separator", "`=` or `:` after an object key"));
            }
            let value = self.expression()?;
            items.push(ObjectItem { key, value });
            self.skip(false);
            self.check_comment()?;
            match self.peek() {
                b',' => self.pos += 1,
                b'\n' | b'\r' | b'}' => {}
                _ => return Err(self.unexpected("Missing attribute separator", "a newline or `,` after an object item")),
            }
        }
    }

    fn call(&mut self, name: Ident) -> Result<Expr> {
        self.enter()?;
        let saved = std::mem::replace(&mut self.newlines, false);
        let mut args = Short::<Expression, 4>::new();
        let mut expand_final = false;
        loop {
            self.space();
            self.check_comment()?;
            if self.peek() == b')' {
                self.pos += 1;
                break;
            }
            if expand_final {
                return Err(self.unexpected("Missing closing parenthesis", "`)` after the expanded argument `...`"));
            }
            args.push(self.expression()?);
            self.space();
            if self.starts_with("...") {
                self.pos += 3;
                expand_final = true;
                self.space();
            }
            match self.peek() {
                b',' => self.pos += 1,
                b')' => {}
                _ => return Err(self.unexpected("Missing argument separator", "`,` or `)` after a function argument")),
            }
        }
        self.newlines = saved;
        self.leave();
        Ok(Expr::Call(Box::new(Call { name, args: args.into_vec(), expand_final })))
    }

    /// After `[` or `{` and at `for`: the rest of a for expression and its closing bracket.
    fn for_expr(&mut self, object: bool) -> Result<Expr> {
        let (key_var, value_var, collection) = self.for_intro()?;
        self.expect(b':', "Missing colon in for expression", "`:` after the collection")?;
        let first = self.expression()?;
        let (key, value) = if object {
            self.space();
            if !(self.peek() == b'=' && self.peek_at(1) == b'>') {
                return Err(self.unexpected("Missing `=>` in for expression", "`=>` between the key and the value of an object `for`"));
            }
            self.pos += 2;
            (Some(first), self.expression()?)
        } else {
            (None, first)
        };
        self.space();
        let mut grouping = false;
        if object && self.starts_with("...") {
            self.pos += 3;
            grouping = true;
            self.space();
        }
        let cond = if self.keyword("if") {
            self.pos += 2;
            Some(self.expression()?)
        } else {
            None
        };
        let close = if object { b'}' } else { b']' };
        let expected = if object { "`}` to end the for expression (or `if`, `...`)" } else { "`]` to end the for expression (or `if`)" };
        self.expect(close, "Invalid for expression", expected)?;
        Ok(Expr::For(Box::new(ForExpr { key_var, value_var, collection, key, value, cond, grouping })))
    }

    /// `for [k,] v in collection`, at `for`.
    fn for_intro(&mut self) -> Result<(Option<Ident>, Ident, Expression)> {
        self.pos += 3;
        self.space();
        let Some(first) = self.ident() else {
            return Err(self.unexpected("Invalid for expression", "a variable name after `for`"));
        };
        self.space();
        let (key_var, value_var) = if self.peek() == b',' {
            self.pos += 1;
            self.space();
            let Some(second) = self.ident() else {
                return Err(self.unexpected("Invalid for expression", "a second variable name after `,`"));
            };
            (Some(first), second)
        } else {
            (None, first)
        };
        self.space();
        if !self.keyword("in") {
            return Err(self.unexpected("Invalid for expression", "`in` after the variable names"));
        }
        self.pos += 2;
        let collection = self.expression()?;
        Ok((key_var, value_var, collection))
    }

    /// `<<EOT` or `<<-EOT`, at `<<`.
    fn heredoc(&mut self) -> Result<Expr> {
        let open = self.pos;
        self.pos += 2;
        let flush = self.peek() == b'-';
        if flush {
            self.pos += 1;
        }
        let Some(marker) = self.ident() else {
            return Err(self.unexpected("Invalid heredoc", "a marker name right after `<<`, like <<EOT"));
        };
        if self.peek() == b'\r' && self.peek_at(1) == b'\n' {
            self.pos += 1;
        }
        if self.peek() != b'\n' {
            return Err(self.unexpected("Invalid heredoc", "a newline right after the heredoc marker"));
        }
        self.pos += 1;
        let content = self.pos;
        // The content is every line up to one that is only the marker (maybe indented).
        let mut line = content;
        let (content_end, after) = loop {
            if line >= self.end {
                return Err(self.error(
                    open,
                    format!("Unterminated heredoc: found the end of the file; expected a line with only {} to close this heredoc", marker.name),
                ));
            }
            let next = self.bytes[line..self.end].iter().position(|b| *b == b'\n').map(|i| line + i + 1).unwrap_or(self.end);
            let text = self.src[line..next].trim_end_matches(['\n', '\r']).trim_start_matches([' ', '\t']);
            if text == marker.name {
                break (line, line + self.src[line..next].trim_end_matches(['\n', '\r']).len());
            }
            line = next;
        };
        let indent = if flush { min_indent(&self.src[content..content_end]) } else { 0 };
        let saved_end = std::mem::replace(&mut self.end, content_end);
        let saved_newlines = std::mem::replace(&mut self.newlines, false);
        self.enter()?;
        let (elements, end) = self.template_seq(Mode::Heredoc(indent))?;
        self.leave();
        if let End::Directive(kw, _, at) = end {
            return Err(self.stray_directive(kw, at));
        }
        self.end = saved_end;
        self.newlines = saved_newlines;
        self.pos = after;
        Ok(template_expr(elements))
    }

    /// Template parts up to its end (per `mode`) or an `%{else}`/`%{endif}`/`%{endfor}`.
    fn template_seq(&mut self, mode: Mode) -> Result<(Parts, End)> {
        let mut elements = Parts::new();
        let mut text = Text::default();
        let mut text_start = self.pos;
        // At a line's start a `<<-` heredoc drops its indent.
        let mut line_start = matches!(mode, Mode::Heredoc(_));
        let flush = |elements: &mut Parts, text: &mut Text, from: usize, to: usize| {
            if !text.is_empty() {
                elements.push(Element::Literal(std::mem::take(text), Span::new(from, to)));
            }
        };
        loop {
            if line_start {
                line_start = false;
                if let Mode::Heredoc(indent) = mode {
                    let spaces = self.bytes[self.pos..self.end].iter().take(indent).take_while(|b| matches!(b, b' ' | b'\t')).count();
                    self.pos += spaces;
                }
            }
            // Plain text up to the next byte that means something.
            let rest = &self.bytes[self.pos..self.end];
            let plain = rest.iter().position(|b| matches!(b, b'"' | b'\\' | b'$' | b'%' | b'\n' | b'\r')).unwrap_or(rest.len());
            text.push_str(&self.src[self.pos..self.pos + plain]);
            self.pos += plain;
            if self.at_end() {
                if mode == Mode::Quoted {
                    return Err(self.error(self.pos, "Unterminated template string: found the end of the file; expected `\"` to close the string"));
                }
                flush(&mut elements, &mut text, text_start, self.pos);
                return Ok((elements, End::Close));
            }
            match (self.peek(), self.peek_at(1)) {
                (b'"', _) if mode == Mode::Quoted => {
                    flush(&mut elements, &mut text, text_start, self.pos);
                    self.pos += 1;
                    return Ok((elements, End::Close));
                }
                (b'\n', _) | (b'\r', b'\n') if mode == Mode::Quoted => {
                    return Err(self.error(
                        self.pos,
                        "Unterminated template string: found a newline; expected `\"` to close the string (use a heredoc for several lines)",
                    ));
                }
                (b'\n', _) => {
                    text.push('\n');
                    self.pos += 1;
                    line_start = true;
                }
                (b'\\', _) if !matches!(mode, Mode::Heredoc(_)) => self.escape(&mut text)?,
                (b'$', b'$') | (b'%', b'%') if self.peek_at(2) == b'{' => {
                    text.push(self.peek() as char);
                    text.push('{');
                    self.pos += 3;
                }
                (b'$', b'{') => {
                    flush(&mut elements, &mut text, text_start, self.pos);
                    self.pos += 2;
                    let strip_start = self.tilde();
                    let saved = std::mem::replace(&mut self.newlines, false);
                    let expr = self.expression()?;
                    self.newlines = saved;
                    let strip_end = self.closing("Extra characters after interpolation expression", "`}` to end the interpolation")?;
                    elements.push(Element::Interpolation(expr, Strip { start: strip_start, end: strip_end }));
                    text_start = self.pos;
                }
                (b'%', b'{') => {
                    flush(&mut elements, &mut text, text_start, self.pos);
                    let at = self.pos;
                    self.pos += 2;
                    let strip_start = self.tilde();
                    self.skip(true);
                    let saved = std::mem::replace(&mut self.newlines, false);
                    let result = self.directive(mode, at, strip_start);
                    self.newlines = saved;
                    match result? {
                        Ok(element) => elements.push(element),
                        Err(end) => return Ok((elements, end)),
                    }
                    text_start = self.pos;
                }
                (c, _) => {
                    // A lone `$`, `%`, `\r`, or a quote or backslash in a heredoc.
                    text.push(c as char);
                    self.pos += 1;
                }
            }
        }
    }

    /// An opening strip marker `~`, skipped.
    fn tilde(&mut self) -> bool {
        if self.peek() == b'~' {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// `[~]}` closing an interpolation or directive: whether it strips.
    fn closing(&mut self, what: &str, expected: &str) -> Result<bool> {
        self.skip(true);
        self.check_comment()?;
        let strip = self.tilde();
        if self.peek() != b'}' {
            return Err(self.unexpected(what, expected));
        }
        self.pos += 1;
        Ok(strip)
    }

    /// After `%{[~]`: an `if` or `for` directive with its content, or the
    /// keyword ending the enclosing one.
    fn directive(&mut self, mode: Mode, at: usize, strip_start: bool) -> Result<std::result::Result<Element, End>> {
        for keyword in ["else", "endif", "endfor"] {
            if self.keyword(keyword) {
                self.pos += keyword.len();
                let strip_end = self.closing("Extra characters in a directive", &format!("`}}` after %{{{keyword}"))?;
                return Ok(Err(End::Directive(keyword, Strip { start: strip_start, end: strip_end }, at)));
            }
        }
        self.enter()?;
        let element = if self.keyword("if") {
            self.pos += 2;
            let cond = self.expression()?;
            let if_strip = Strip { start: strip_start, end: self.closing("Extra characters after if condition", "`}` to end %{if …}")? };
            let (then, mut end) = self.template_seq(mode)?;
            let mut else_strip = None;
            let mut otherwise = Parts::new();
            if let End::Directive("else", strip, _) = end {
                else_strip = Some(strip);
                (otherwise, end) = self.template_seq(mode)?;
            }
            let (then, otherwise) = (then.into_vec(), otherwise.into_vec());
            let End::Directive("endif", endif_strip, _) = end else {
                return Err(self.unclosed_directive(at, "if", "%{endif}", &end));
            };
            Element::If(Box::new(IfDirective { cond, if_strip, then, else_strip, otherwise, endif_strip }))
        } else if self.keyword("for") {
            let (key_var, value_var, collection) = self.for_intro()?;
            let for_strip = Strip { start: strip_start, end: self.closing("Extra characters after for", "`}` to end %{for …}")? };
            let (body, end) = self.template_seq(mode)?;
            let End::Directive("endfor", endfor_strip, _) = end else {
                return Err(self.unclosed_directive(at, "for", "%{endfor}", &end));
            };
            Element::For(Box::new(ForDirective { key_var, value_var, collection, for_strip, body: body.into_vec(), endfor_strip }))
        } else {
            return Err(self.unexpected("Invalid template directive", "if, else, endif, for or endfor after `%{`"));
        };
        self.leave();
        Ok(Ok(element))
    }

    fn unclosed_directive(&self, at: usize, keyword: &str, closer: &str, end: &End) -> ParseError {
        match end {
            End::Directive(kw, _, other) => {
                self.error(*other, format!("Unexpected %{{{kw}}}: expected {closer} to end the %{{{keyword}}} that opens at byte {at}"))
            }
            End::Close => self.error(at, format!("Unterminated template directive: this %{{{keyword} …}} has no {closer}")),
        }
    }

    /// A backslash escape in a quoted string, at `\`.
    fn escape(&mut self, text: &mut Text) -> Result<()> {
        let at = self.pos;
        self.pos += 1;
        let c = match self.peek() {
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'"' => '"',
            b'\\' => '\\',
            b'u' | b'U' => {
                let len = if self.peek() == b'u' { 4 } else { 8 };
                let hex = self.src.get(self.pos + 1..(self.pos + 1 + len).min(self.end)).unwrap_or("");
                let code = (hex.len() == len && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| u32::from_str_radix(hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32)
                    .ok_or_else(|| self.error(at, format!("Invalid escape sequence: expected {len} hex digits of a Unicode character after \\{}", self.peek() as char)))?;
                self.pos += 1 + len;
                text.push(code);
                return Ok(());
            }
            _ => {
                return Err(self.error(
                    at,
                    format!("Invalid escape sequence: found \\{}; expected \\n, \\r, \\t, \\\", \\\\, \\uNNNN or \\UNNNNNNNN", self.found_at(self.pos).trim_matches('`')),
                ))
            }
        };
        self.pos += 1;
        text.push(c);
        Ok(())
    }
}

fn start_of(e: &Expression) -> usize {
    e.span.range().map(|r| r.start).unwrap_or(0)
}

/// The indent `<<-` strips: the least leading whitespace of a line with text.
fn min_indent(content: &str) -> usize {
    content
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.bytes().take_while(|b| matches!(b, b' ' | b'\t')).count())
        .min()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Expression {
        let body = parse_body(&format!("x = {text}\n")).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        body.get_attribute("x").expect("x").value.clone()
    }

    /// The tree in a compact prefix form, to compare shapes.
    fn shape(e: &Expression) -> String {
        match &e.expr {
            Expr::Null => "null".into(),
            Expr::Bool(b) => b.to_string(),
            Expr::Number(n) => n.to_string(),
            Expr::String(s) => format!("{s:?}"),
            Expr::Variable(v) => v.to_string(),
            Expr::Parenthesis(x) => shape(x),
            Expr::Unary(op, x) => format!("({} {})", if *op == UnaryOp::Neg { "-" } else { "!" }, shape(x)),
            Expr::Binary(op, pair) => format!("({op:?} {} {})", shape(&pair.0), shape(&pair.1)),
            Expr::Conditional(c) => format!("(? {} {} {})", shape(&c.0), shape(&c.1), shape(&c.2)),
            Expr::Tuple(items) => format!("[{}]", items.iter().map(shape).collect::<Vec<_>>().join(" ")),
            Expr::Call(c) => format!("{}({}{})", c.name.name, c.args.iter().map(shape).collect::<Vec<_>>().join(" "), if c.expand_final { "..." } else { "" }),
            Expr::Traversal(root, ops) => {
                let mut s = shape(root);
                for op in ops {
                    match &op.op {
                        Op::GetAttr(n) => s += &format!(".{n}"),
                        Op::LegacyIndex(i) => s += &format!(".#{i}"),
                        Op::Index(i) => s += &format!("[{}]", shape(i)),
                        Op::AttrSplat => s += ".*",
                        Op::FullSplat => s += "[*]",
                    }
                }
                s
            }
            other => format!("{other:?}"),
        }
    }

    fn error(text: &str) -> (usize, String) {
        let e = parse_body(text).expect_err(text);
        (e.offset, e.message)
    }

    #[test]
    fn operators_bind_by_hcl_precedence() {
        assert_eq!(shape(&value("1 + 2 * 3 - 4")), "(Minus (Plus 1 (Mul 2 3)) 4)");
        assert_eq!(shape(&value("a || b && !c == d")), "(Or a (And b (Eq (! c) d)))");
        assert_eq!(shape(&value("-a.b < 3 ? x : y ? 1 : 2")), "(? (Less (- a.b) 3) x (? y 1 2))");
        assert_eq!(shape(&value("(1 + 2) % 3 >= 1")), "(GreaterEq (Mod (Plus 1 2) 3) 1)");
        assert_eq!(shape(&value("[\n  1,\n  2 +\n  3,\n]")), "[1 (Plus 2 3)]");
    }

    #[test]
    fn traversals_calls_and_splats() {
        assert_eq!(shape(&value("a.b[0].c.1")), "a.b[0].c.#1");
        assert_eq!(shape(&value("a.*.b")), "a.*.b");
        assert_eq!(shape(&value("a[*].b[\"k\"]")), "a[*].b[\"k\"]");
        assert_eq!(shape(&value("f(1, g(x)...)")), "f(1 g(x)...)");
        assert_eq!(shape(&value("f()")), "f()");
        assert_eq!(shape(&value("[true, false, null, 1.5e3, 0.25]")), "[true false null 1500 0.25]");
    }

    #[test]
    fn objects_take_both_separators_and_key_expressions() {
        let e = value("{\n  a = 1, b: 2\n  \"c d\" = 3\n  (k) = 4\n  null = 5\n}");
        let Expr::Object(items) = &e.expr else { panic!("{e:?}") };
        let keys: Vec<String> = items
            .iter()
            .map(|i| match &i.key {
                ObjectKey::Ident(id) => id.name.to_string(),
                ObjectKey::Expression(k) => format!("expr {}", shape(k)),
            })
            .collect();
        assert_eq!(keys, ["a", "b", "expr \"c d\"", "expr k", "null"]);
    }

    #[test]
    fn for_expressions() {
        let Expr::For(f) = value("[for i, v in xs : v if i > 0]").expr else { panic!() };
        assert_eq!((f.key_var.map(|k| k.name), f.value_var.name, f.key.is_none(), f.cond.is_some()), (Some("i".into()), "v".into(), true, true));
        let Expr::For(f) = value("{for v in xs : v.k => v...}").expr else { panic!() };
        assert!(f.grouping && f.key.is_some() && f.cond.is_none());
    }

    #[test]
    fn strings_decode_escapes_and_templates_keep_their_parts() {
        assert_eq!(value(r#""a\n\t\"\\ \u00e9 \U0001F600 $${x} %%{y} $ %""#).expr, Expr::String("a\n\t\"\\ é 😀 ${x} %{y} $ %".into()));
        let Expr::Template(t) = value(r#""a${~ b ~}c%{ if x }y%{ else ~}z%{~ endif }""#).expr else { panic!() };
        assert!(matches!(&t[1], Element::Interpolation(_, Strip { start: true, end: true })));
        let Element::If(d) = &t[3] else { panic!("{t:?}") };
        assert_eq!((d.else_strip, d.endif_strip.start), (Some(Strip { start: false, end: true }), true));
        let Expr::Template(t) = value(r#""%{ for k, v in m }${k}=${v}%{ endfor }""#).expr else { panic!() };
        assert!(matches!(&t[0], Element::For(d) if d.key_var.is_some() && d.body.len() == 3));
    }

    #[test]
    fn heredocs_end_at_their_marker_and_flush_ones_drop_the_indent() {
        assert_eq!(value("<<EOT\n  a\n    b\n  EOT").expr, Expr::String("  a\n    b\n".into()));
        assert_eq!(value("<<-EOT\n    a\n\n      b \\n \"q\"\n    EOT").expr, Expr::String("a\n\n  b \\n \"q\"\n".into()));
        assert_eq!(value("<<EOT\nNOT EOT\nEOT").expr, Expr::String("NOT EOT\n".into()));
        let Expr::Template(t) = value("<<-EOT\n    x\n      ${y}\n    EOT").expr else { panic!() };
        assert_eq!(t[0], Element::Literal("x\n  ".into(), Span::new(11, 23)));
        // An attribute can follow on the next line.
        let body = parse_body("a = <<EOT\nx\nEOT\nb = 1\n").unwrap();
        assert_eq!(body.items.len(), 2);
    }

    #[test]
    fn bodies_blocks_comments_and_a_bom() {
        let text = "\u{feff}# c\n// c\n/* c\n c */ a = 1 # end\nb \"l1\" l2 {\n  c = 2\n  d { }\n}\ne {}\nf \"x\" { g = [1] }\n";
        let body = parse_body(text).unwrap();
        let names: Vec<&str> = body.iter().map(|s| match s {
            Structure::Attribute(a) => a.key.as_str(),
            Structure::Block(b) => b.ident.as_str(),
        }).collect();
        assert_eq!(names, ["a", "b", "e", "f"]);
        let b = body.blocks().next().unwrap();
        assert_eq!(b.labels.iter().map(Ident::as_str).collect::<Vec<_>>(), ["l1", "l2"]);
        assert_eq!(b.span.range(), Some(text.find("b \"l1\"").unwrap()..text.find("}\ne").unwrap() + 1));
        let a = body.get_attribute("a").unwrap();
        assert_eq!(&text[a.value.span().unwrap()], "1");
    }

    #[test]
    fn errors_say_where_what_was_found_and_what_was_expected() {
        assert_eq!(error("a = 1 b = 2\n"), (6, "Missing newline after argument: found `b`; expected a newline after an argument definition".into()));
        assert_eq!(error("a = \n"), (4, "Invalid expression: found a newline; expected an expression (a value, a name, a function call, a list or an object)".into()));
        assert_eq!(error("t {\n a = 1\n").0, 2);
        assert!(error("a = \"x${\"\n").1.starts_with("Unterminated template string"));
        assert!(error("a = \"%{ if x }y\"\n").1.starts_with("Unterminated template directive"));
        assert!(error("a = \"%{ endif }\"\n").1.starts_with("Unexpected %{endif}"));
        assert!(error("a = [1 2]\n").1.starts_with("Missing item separator"));
        assert!(error("a = {x = 1 y = 2}\n").1.starts_with("Missing attribute separator"));
        assert!(error("a = f(1 2)\n").1.starts_with("Missing argument separator"));
        assert!(error("a = 1 /* open\n").1.starts_with("Unterminated comment"));
        assert!(error("a = 1e999\n").1.starts_with("Invalid number"));
        assert!(error("t \"${x}\" {}\n").1.starts_with("Invalid block label"));
        assert_eq!(error("a = x.\n").0, 6);
    }

    #[test]
    fn json_strings_are_templates_without_escapes() {
        assert_eq!(parse_template("a\\n \"q\"\n").unwrap().expr, Expr::String("a\\n \"q\"\n".into()));
        assert!(matches!(parse_template("x-${y}").unwrap().expr, Expr::Template(t) if t.len() == 2));
        assert!(parse_template("${").is_err() && parse_template("%{ endif }").is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        for (open, close) in [("(", ")"), ("[", "]"), ("{a=", "}"), ("\"${", "}\""), ("f(", ")"), ("!", ""), ("-", ""), ("x[", "]")] {
            let ok = format!("a = {}1{}\n", open.repeat(MAX_NESTING), close.repeat(MAX_NESTING));
            assert!(parse_body(&ok).is_ok(), "{open}: {:?}", parse_body(&ok).err());
            let deep = format!("a = {}1{}\n", open.repeat(10_000), close.repeat(10_000));
            assert!(error(&deep).1.starts_with("Nesting too deep"), "{open}");
        }
        let chain = format!("a = 1{}\n", " + 1".repeat(10_000));
        assert!(error(&chain).1.starts_with("Nesting too deep"));
        let blocks = format!("{}{}", "b {\n".repeat(1000), "}\n".repeat(1000));
        assert!(error(&blocks).1.starts_with("Nesting too deep"));
    }

    /// Every prefix of a file that uses each construct parses or fails, without panicking.
    #[test]
    fn every_prefix_parses_or_fails_cleanly() {
        let text = "variable \"V\" {\n  default = <<-EOT\n    é ${a[*].b} %{ for k, v in m ~}x%{ endfor }\n  EOT\n}\n\
                    t \"n\" { x = {for k, v in m : k => v... if !v} }\ny = f(a.0, -b ? \"\\u00e9\\n\" : c.*.d ...) # c\n/* é */\n";
        for end in (0..=text.len()).filter(|i| text.is_char_boundary(*i)) {
            let _ = parse_body(&text[..end]);
        }
        assert!(parse_body(text).is_ok(), "{:?}", parse_body(text));
    }
}
