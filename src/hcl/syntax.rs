//! leaven's HCL syntax tree: what the native syntax (and bake's HCL-JSON,
//! converted) means, with the byte span of every node and nothing of the text's
//! layout (whitespace and comments are not kept: nothing rewrites files).

use std::ops::Range;

use hcl::Number;

/// The text of a name or a literal in the tree: names and most literals are
/// short, and one of up to 24 bytes is kept in place rather than allocated
/// (a spec's parse made one allocation per name before).
pub type Text = compact_str::CompactString;

/// Where a node is in its file: a byte range, or none for nodes built from
/// something else (an HCL-JSON file's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// A built node's span.
    pub const NONE: Span = Span { start: u32::MAX, end: u32::MAX };

    pub fn new(start: usize, end: usize) -> Span {
        // The parser refuses files of 4 GiB and more, so offsets fit.
        Span { start: start as u32, end: end as u32 }
    }

    pub fn range(self) -> Option<Range<usize>> {
        (self != Span::NONE).then_some(self.start as usize..self.end as usize)
    }
}

/// A name (attribute key, block type, block label, variable) where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: Text,
    pub span: Span,
}

impl Ident {
    pub fn new(name: impl Into<Text>) -> Ident {
        Ident { name: name.into(), span: Span::NONE }
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    pub fn span(&self) -> Option<Range<usize>> {
        self.span.range()
    }
}

/// A file's or a block's content, in written order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Body {
    pub items: Vec<Structure>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Structure {
    Attribute(Attribute),
    Block(Block),
}

/// `key = value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub key: Ident,
    pub value: Expression,
    pub span: Span,
}

/// `ident "label" … { body }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub ident: Ident,
    pub labels: Vec<Ident>,
    pub body: Body,
    pub span: Span,
}

impl Body {
    pub fn iter(&self) -> std::slice::Iter<'_, Structure> {
        self.items.iter()
    }

    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.items.iter().filter_map(|s| match s {
            Structure::Attribute(a) => Some(a),
            Structure::Block(_) => None,
        })
    }

    pub fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.items.iter().filter_map(|s| match s {
            Structure::Block(b) => Some(b),
            Structure::Attribute(_) => None,
        })
    }

    pub fn get_attribute(&self, key: &str) -> Option<&Attribute> {
        self.attributes().find(|a| a.key.name == key)
    }

    pub fn get_blocks<'a>(&'a self, ident: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
        self.blocks().filter(move |b| b.ident.name == ident)
    }
}

impl Attribute {
    pub fn span(&self) -> Option<Range<usize>> {
        self.span.range()
    }
}

impl Block {
    pub fn span(&self) -> Option<Range<usize>> {
        self.span.range()
    }

    pub fn has_ident(&self, ident: &str) -> bool {
        self.ident.name == ident
    }
}

/// An expression and where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    pub expr: Expr,
    pub span: Span,
}

impl Expression {
    /// An expression not written anywhere (built from HCL-JSON).
    pub fn built(expr: Expr) -> Expression {
        Expression { expr, span: Span::NONE }
    }

    pub fn span(&self) -> Option<Range<usize>> {
        self.span.range()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Null,
    Bool(bool),
    Number(Number),
    /// A quoted string without interpolations or directives, escapes decoded.
    String(Text),
    /// A quoted string or heredoc with interpolations or directives.
    Template(Template),
    Tuple(Vec<Expression>),
    Object(Vec<ObjectItem>),
    Variable(Text),
    /// `root` followed by attribute, index and splat operators.
    Traversal(Box<Expression>, Vec<Operator>),
    Call(Box<Call>),
    Unary(UnaryOp, Box<Expression>),
    Binary(BinaryOp, Box<(Expression, Expression)>),
    /// `cond ? a : b`.
    Conditional(Box<(Expression, Expression, Expression)>),
    For(Box<ForExpr>),
    Parenthesis(Box<Expression>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectItem {
    pub key: ObjectKey,
    pub value: Expression,
}

/// An object key: a bare name is the name itself, anything else is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectKey {
    Ident(Ident),
    Expression(Expression),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    pub op: Op,
    pub span: Span,
}

impl Operator {
    pub fn span(&self) -> Option<Range<usize>> {
        self.span.range()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `.name`
    GetAttr(Text),
    /// `[expr]`
    Index(Expression),
    /// `.0`
    LegacyIndex(u64),
    /// `.*`
    AttrSplat,
    /// `[*]`
    FullSplat,
}

/// `name(args…)`, with `...` after the last argument expanding a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Expression>,
    pub expand_final: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Mul,
    Div,
    Mod,
    Plus,
    Minus,
    Less,
    LessEq,
    Greater,
    GreaterEq,
    Eq,
    NotEq,
    And,
    Or,
}

impl BinaryOp {
    /// HCL's precedence: higher binds tighter.
    pub fn precedence(self) -> u8 {
        use BinaryOp::*;
        match self {
            Mul | Div | Mod => 6,
            Plus | Minus => 5,
            Less | LessEq | Greater | GreaterEq => 4,
            Eq | NotEq => 3,
            And => 2,
            Or => 1,
        }
    }
}

/// `[for k, v in coll : value if cond]` or `{for k, v in coll : key => value... if cond}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForExpr {
    pub key_var: Option<Ident>,
    pub value_var: Ident,
    pub collection: Expression,
    /// Present for the object form.
    pub key: Option<Expression>,
    pub value: Expression,
    pub cond: Option<Expression>,
    /// `...` after the value: items with one key are grouped in a list.
    pub grouping: bool,
}

/// A template's parts in order.
pub type Template = Vec<Element>;

/// Strip markers of one `${…}` or `%{…}`: `~` after the opening, `~` before the closing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Strip {
    pub start: bool,
    pub end: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    Literal(Text, Span),
    Interpolation(Expression, Strip),
    If(Box<IfDirective>),
    For(Box<ForDirective>),
}

/// `%{if cond}…%{else}…%{endif}`.
#[derive(Debug, Clone, PartialEq)]
pub struct IfDirective {
    pub cond: Expression,
    pub if_strip: Strip,
    pub then: Template,
    pub else_strip: Option<Strip>,
    pub otherwise: Template,
    pub endif_strip: Strip,
}

/// `%{for k, v in coll}…%{endfor}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForDirective {
    pub key_var: Option<Ident>,
    pub value_var: Ident,
    pub collection: Expression,
    pub for_strip: Strip,
    pub body: Template,
    pub endfor_strip: Strip,
}

/// Calls `f` on every traversal in `body`, outermost first.
pub fn for_each_traversal(body: &Body, f: &mut dyn FnMut(&Expression, &[Operator])) {
    for item in body.iter() {
        match item {
            Structure::Attribute(a) => walk(&a.value, f),
            Structure::Block(b) => for_each_traversal(&b.body, f),
        }
    }
}

fn walk(e: &Expression, f: &mut dyn FnMut(&Expression, &[Operator])) {
    match &e.expr {
        Expr::Null | Expr::Bool(_) | Expr::Number(_) | Expr::String(_) | Expr::Variable(_) => {}
        Expr::Template(t) => walk_template(t, f),
        Expr::Tuple(items) => items.iter().for_each(|i| walk(i, f)),
        Expr::Object(items) => {
            for item in items {
                if let ObjectKey::Expression(k) = &item.key {
                    walk(k, f);
                }
                walk(&item.value, f);
            }
        }
        Expr::Traversal(root, ops) => {
            f(root, ops);
            walk(root, f);
            for op in ops {
                if let Op::Index(i) = &op.op {
                    walk(i, f);
                }
            }
        }
        Expr::Call(c) => c.args.iter().for_each(|a| walk(a, f)),
        Expr::Unary(_, x) | Expr::Parenthesis(x) => walk(x, f),
        Expr::Binary(_, pair) => {
            walk(&pair.0, f);
            walk(&pair.1, f);
        }
        Expr::Conditional(c) => {
            walk(&c.0, f);
            walk(&c.1, f);
            walk(&c.2, f);
        }
        Expr::For(x) => {
            walk(&x.collection, f);
            if let Some(k) = &x.key {
                walk(k, f);
            }
            walk(&x.value, f);
            if let Some(c) = &x.cond {
                walk(c, f);
            }
        }
    }
}

fn walk_template(t: &Template, f: &mut dyn FnMut(&Expression, &[Operator])) {
    for element in t {
        match element {
            Element::Literal(..) => {}
            Element::Interpolation(e, _) => walk(e, f),
            Element::If(d) => {
                walk(&d.cond, f);
                walk_template(&d.then, f);
                walk_template(&d.otherwise, f);
            }
            Element::For(d) => {
                walk(&d.collection, f);
                walk_template(&d.body, f);
            }
        }
    }
}

impl Expression {
    /// Drops the spans of this expression and all within it: for one parsed
    /// from text that is not the file's (an HCL-JSON string), whose offsets
    /// would point at the wrong place.
    pub fn unplace(&mut self) {
        self.span = Span::NONE;
        match &mut self.expr {
            Expr::Null | Expr::Bool(_) | Expr::Number(_) | Expr::String(_) | Expr::Variable(_) => {}
            Expr::Template(t) => unplace_template(t),
            Expr::Tuple(items) => items.iter_mut().for_each(Expression::unplace),
            Expr::Object(items) => {
                for item in items {
                    match &mut item.key {
                        ObjectKey::Ident(i) => i.span = Span::NONE,
                        ObjectKey::Expression(k) => k.unplace(),
                    }
                    item.value.unplace();
                }
            }
            Expr::Traversal(root, ops) => {
                root.unplace();
                for op in ops {
                    op.span = Span::NONE;
                    if let Op::Index(i) = &mut op.op {
                        i.unplace();
                    }
                }
            }
            Expr::Call(c) => {
                c.name.span = Span::NONE;
                c.args.iter_mut().for_each(Expression::unplace);
            }
            Expr::Unary(_, x) | Expr::Parenthesis(x) => x.unplace(),
            Expr::Binary(_, pair) => {
                pair.0.unplace();
                pair.1.unplace();
            }
            Expr::Conditional(c) => {
                c.0.unplace();
                c.1.unplace();
                c.2.unplace();
            }
            Expr::For(f) => {
                f.collection.unplace();
                f.value.unplace();
                f.key.iter_mut().chain(f.cond.iter_mut()).for_each(Expression::unplace);
            }
        }
    }
}

fn unplace_template(t: &mut Template) {
    for element in t {
        match element {
            Element::Literal(_, span) => *span = Span::NONE,
            Element::Interpolation(e, _) => e.unplace(),
            Element::If(d) => {
                d.cond.unplace();
                unplace_template(&mut d.then);
                unplace_template(&mut d.otherwise);
            }
            Element::For(d) => {
                d.collection.unplace();
                unplace_template(&mut d.body);
            }
        }
    }
}
