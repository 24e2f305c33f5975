//! Expression evaluation with go-cty's semantics, over leaven's spanned syntax tree.
//!
//! hcl-rs's own evaluator differs from HCL's reference one where users notice:
//! a null inside a longer template must be an error (hcl-rs prints it), operands
//! convert implicitly (`"5" > 3`), and names resolve lazily so a file may use a
//! variable before declaring it. Names come from a [`Resolve`]r, so bake files
//! and specs share this evaluator and differ only in what their names mean.

use hcl::{Map, Value};

use super::functions;
use super::limits::{self, Budget, Exceeded};
use super::value::{self, to_bool, to_f64, to_string, type_name, Type};
use super::syntax::{BinaryOp, Call, Element, Expr, Expression, ForExpr, ObjectKey, Op, Operator, Template, UnaryOp};
use super::{Diagnostic, SourceFile};

/// What free names and user functions mean in the file being evaluated.
pub trait Resolve {
    /// The value of a free variable, or `None` when nothing has that name.
    fn variable(&self, name: &str) -> Option<std::result::Result<Value, Diagnostic>>;

    /// `root.member.attr` for lazily evaluated namespaces (bake's `target.x.context`),
    /// or `None` when `root` is not such a namespace.
    fn member(&self, _root: &str, _member: &str, _attr: &str) -> Option<std::result::Result<Value, Diagnostic>> {
        None
    }

    /// A free variable's value in place, for resolvers that hold their values
    /// (a spec's scope): `stage.app.x` then copies `x`, not every stage.
    fn variable_ref(&self, _name: &str) -> Option<&Value> {
        None
    }

    /// Calls a user-defined function, or `None` when there is none of that name.
    fn call(&self, _name: &str, _args: &[Value]) -> Option<std::result::Result<Value, Diagnostic>> {
        None
    }

    /// A user-defined function's parameters: the fixed ones and the variadic
    /// one, or `None` when there is no such function (or its `params` are
    /// invalid, which calling it reports).
    fn params(&self, _name: &str) -> Option<(Vec<String>, Option<String>)> {
        None
    }

    /// The work and depth budget of the whole evaluation this resolver serves.
    fn budget(&self) -> &Budget;
}

/// Evaluates expressions of one file, with local names (for-expression and
/// function parameters, matrix values) shadowing the resolver's.
pub struct Evaluator<'a> {
    pub file: &'a SourceFile,
    pub resolver: &'a dyn Resolve,
    budget: &'a Budget,
    locals: Vec<(String, Value)>,
}

type Result<T> = std::result::Result<T, Diagnostic>;

/// Stack left when evaluation asks for more, and how much more it gets.
const STACK_RED_ZONE: usize = 128 * 1024;
const STACK_SEGMENT: usize = 2 * 1024 * 1024;

/// Follows the leading attribute reads of `operators` from `value`, in place,
/// as far as they reach existing attributes: what they reach, and how many they read.
pub(super) fn follow_attributes<'v>(value: &'v Value, operators: &[Operator]) -> (&'v Value, usize) {
    let mut reached = value;
    let mut read = 0;
    for op in operators {
        let (Op::GetAttr(name), Value::Object(map)) = (&op.op, reached) else { break };
        let Some(inner) = map.get(name.as_str()) else { break };
        reached = inner;
        read += 1;
    }
    (reached, read)
}

impl<'a> Evaluator<'a> {
    pub fn new(file: &'a SourceFile, resolver: &'a dyn Resolve) -> Evaluator<'a> {
        Evaluator { file, resolver, budget: resolver.budget(), locals: Vec::new() }
    }

    pub fn with_locals(mut self, locals: impl IntoIterator<Item = (String, Value)>) -> Evaluator<'a> {
        self.locals.extend(locals);
        self
    }

    fn error(&self, span: Option<std::ops::Range<usize>>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(self.file, span, message)
    }

    /// A limit reached at `span`.
    fn limit(&self, span: Option<std::ops::Range<usize>>, e: Exceeded) -> Diagnostic {
        self.error(span, format!("{e}.")).with_hint(limits::LIMITS_HINT)
    }

    /// A value that came from elsewhere (a reference, a call), checked against
    /// the size limits and paid for, as using it copies it.
    fn measured(&self, v: Value, span: Option<std::ops::Range<usize>>) -> Result<Value> {
        self.budget.measure(&v).map_err(|e| self.limit(span, e))?;
        Ok(v)
    }

    /// A resolver's error without a position (its `file` is empty) gets the
    /// position of the expression that asked.
    fn place(&self, d: Diagnostic, span: Option<std::ops::Range<usize>>) -> Diagnostic {
        if d.file.is_empty() {
            Diagnostic { hint: d.hint.clone(), ..self.error(span, d.message) }
        } else {
            d
        }
    }

    fn local(&self, name: &str) -> Option<&Value> {
        self.locals.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn eval(&mut self, expr: &Expression) -> Result<Value> {
        let span = expr.span();
        let _level = self.budget.enter().map_err(|e| self.limit(span.clone(), e))?;
        self.budget.charge(1).map_err(|e| self.limit(span.clone(), e))?;
        // Nesting is bounded by MAX_DEPTH, but a level costs tens of KiB of stack
        // in a debug build: more than a 2 MiB thread holds at the limit.
        stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || self.eval_expr(expr, span))
    }

    fn eval_expr(&mut self, expr: &Expression, span: Option<std::ops::Range<usize>>) -> Result<Value> {
        match &expr.expr {
            Expr::Null => Ok(Value::Null),
            Expr::Bool(b) => Ok(Value::Bool(*b)),
            Expr::Number(n) => Ok(Value::Number(*n)),
            Expr::String(s) => Ok(Value::String(s.to_string())),
            Expr::Tuple(items) => Ok(Value::Array(items.iter().map(|e| self.eval(e)).collect::<Result<_>>()?)),
            Expr::Object(items) => {
                let mut map = Map::new();
                for item in items {
                    let key = match &item.key {
                        ObjectKey::Ident(ident) => ident.as_str().to_string(),
                        // A parenthesised or quoted key is evaluated; cty keys are strings.
                        ObjectKey::Expression(e) => {
                            let k = self.eval(e)?;
                            to_string(&k).map_err(|m| self.error(e.span(), format!("Incorrect key type: {m}")))?
                        }
                    };
                    let v = self.eval(&item.value)?;
                    map.insert(key, v);
                }
                Ok(value::sorted_object(map))
            }
            Expr::Template(t) => self.template(t),
            Expr::Parenthesis(inner) => self.eval(inner),
            Expr::Variable(name) => self.variable(name, span),
            Expr::Conditional(c) => {
                let (cond_expr, yes, no) = &**c;
                let cond = self.eval(cond_expr)?;
                let cond = to_bool(&cond).map_err(|m| self.error(cond_expr.span(), format!("Incorrect condition type: {m}")))?;
                self.eval(if cond { yes } else { no })
            }
            Expr::Call(call) => self.call(call, span),
            Expr::Traversal(root, operators) => self.traversal(root, operators),
            Expr::Unary(op, operand) => {
                let v = self.eval(operand)?;
                match op {
                    UnaryOp::Not => to_bool(&v).map(|b| Value::Bool(!b)),
                    UnaryOp::Neg => to_f64(&v).map(|f| value::number(-f)),
                }
                .map_err(|m| self.error(span, format!("Invalid operand: {m}")))
            }
            Expr::Binary(op, pair) => self.binary(*op, &pair.0, &pair.1, span),
            Expr::For(f) => self.for_expr(f, span),
        }
    }

    fn variable(&self, name: &str, span: Option<std::ops::Range<usize>>) -> Result<Value> {
        if let Some(v) = self.local(name) {
            self.budget.measure(v).map_err(|e| self.limit(span, e))?;
            return Ok(v.clone());
        }
        match self.resolver.variable(name) {
            Some(result) => self.measured(result.map_err(|d| self.place(d, span.clone()))?, span),
            None => Err(self.error(span, format!("Unknown variable: There is no variable named \"{name}\"."))),
        }
    }

    /// A template: `"${x}"` alone yields x itself (null and type kept); anything
    /// longer is a string, and a null in it is an error.
    fn template(&mut self, template: &Template) -> Result<Value> {
        if let [Element::Interpolation(expr, _)] = template.as_slice() {
            return self.eval(expr);
        }
        let mut out = String::new();
        self.render(template, &mut out, false, false)?;
        Ok(Value::String(out))
    }

    fn render(&mut self, template: &Template, out: &mut String, strip_first: bool, strip_last: bool) -> Result<()> {
        let elements = template.as_slice();
        for (i, element) in elements.iter().enumerate() {
            match element {
                Element::Literal(text, text_span) => {
                    let mut text = text.as_str();
                    let prev_strips = if i == 0 { strip_first } else { strips_after(&elements[i - 1]) };
                    let next_strips = match elements.get(i + 1) {
                        Some(next) => strips_before(next),
                        None => strip_last,
                    };
                    if prev_strips {
                        text = trim_line_start(text);
                    }
                    if next_strips {
                        text = trim_line_end(text);
                    }
                    self.append(out, text, text_span.range())?;
                }
                Element::Interpolation(expr, _) => {
                    let v = self.eval(expr)?;
                    if v.is_null() {
                        return Err(self.error(
                            expr.span(),
                            "Invalid template interpolation value: The expression result is null. Cannot include a null value in a string template.",
                        ));
                    }
                    let s = to_string(&v)
                        .map_err(|m| self.error(expr.span(), format!("Invalid template interpolation value: {m}")))?;
                    self.append(out, &s, expr.span())?;
                }
                Element::If(d) => {
                    let cond = self.eval(&d.cond)?;
                    let cond = to_bool(&cond).map_err(|m| self.error(d.cond.span(), m))?;
                    if cond {
                        let end = d.else_strip.unwrap_or(d.endif_strip).start;
                        self.render(&d.then, out, d.if_strip.end, end)?;
                    } else if let Some(else_strip) = d.else_strip {
                        self.render(&d.otherwise, out, else_strip.end, d.endif_strip.start)?;
                    }
                }
                Element::For(d) => {
                    let collection = self.eval(&d.collection)?;
                    let items = iterate(&collection).map_err(|m| self.error(d.collection.span(), m))?;
                    for (k, v) in items {
                        self.budget.charge(1).map_err(|e| self.limit(d.collection.span(), e))?;
                        let depth = self.locals.len();
                        if let Some(key_var) = &d.key_var {
                            self.locals.push((key_var.as_str().to_string(), k));
                        }
                        self.locals.push((d.value_var.as_str().to_string(), v));
                        let result = self.render(&d.body, out, d.for_strip.end, d.endfor_strip.start);
                        self.locals.truncate(depth);
                        result?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds to a template's text within the string limit, paying for the bytes.
    fn append(&self, out: &mut String, text: &str, span: Option<std::ops::Range<usize>>) -> Result<()> {
        limits::check_string(out.len() + text.len())
            .and_then(|_| self.budget.charge_bytes(text.len()))
            .map_err(|e| self.limit(span, e))?;
        out.push_str(text);
        Ok(())
    }

    fn call(&mut self, call: &Call, span: Option<std::ops::Range<usize>>) -> Result<Value> {
        let name = call.name.as_str();
        // try and can need their arguments unevaluated: errors are their input.
        match name {
            "try" => {
                let mut last = None;
                for arg in call.args.iter() {
                    match self.eval(arg) {
                        Ok(v) => return Ok(v),
                        Err(e) => last = Some(e),
                    }
                }
                return Err(last.unwrap_or_else(|| self.error(span, "try: at least one argument is required")));
            }
            "can" => {
                let [arg] = call.args.as_slice() else {
                    return Err(self.error(span, "can: exactly one argument is required"));
                };
                return Ok(Value::Bool(self.eval(arg).is_ok()));
            }
            "convert" => {
                let [arg, ty] = call.args.as_slice() else {
                    return Err(self.error(span, "convert: a value and a type are required"));
                };
                let t = parse_type(self.file, ty)?;
                let v = self.eval(arg)?;
                return t.convert(&v).map_err(|m| self.error(arg.span(), format!("Invalid value for \"value\" parameter: {m}")));
            }
            _ => {}
        }
        let mut args = Vec::with_capacity(call.args.len());
        for arg in call.args.iter() {
            args.push(self.eval(arg)?);
        }
        if call.expand_final {
            match args.pop() {
                Some(Value::Array(rest)) => args.extend(rest),
                _ => return Err(self.error(span, "Invalid expanding argument value: the final argument must be a list")),
            }
        }
        self.check_arity(name, call, args.len(), span.clone())?;
        if let Some(result) = self.resolver.call(name, &args) {
            return self.measured(result.map_err(|d| self.place(d, span.clone()))?, span);
        }
        match functions::call(name, &args, self.budget) {
            Some(Ok(v)) => self.measured(v, span),
            Some(Err(m)) => {
                let m = m.trim_end_matches('.');
                Err(self.error(span, format!("Error in function call: Call to function \"{name}\" failed: {m}.")))
            }
            None => Err(self.error(span, format!("Call to unknown function: There is no function named \"{name}\"."))),
        }
    }

    /// HCL's argument count check: too many points at the first extra
    /// argument, too few at the closing parenthesis.
    fn check_arity(&self, name: &str, call: &Call, given: usize, span: Option<std::ops::Range<usize>>) -> Result<()> {
        let (params, variadic) = match self.resolver.params(name) {
            Some(user) => user,
            None => match functions::signature(name) {
                Some((params, variadic)) => (params.iter().map(|p| p.to_string()).collect(), variadic.map(str::to_string)),
                None => return Ok(()),
            },
        };
        let Some(wrong) = functions::Arity::check(name, &params, variadic.is_some(), given) else { return Ok(()) };
        let at = match wrong {
            functions::Arity::TooMany { .. } => call.args.get(params.len()).and_then(|a| a.span()).or(span),
            functions::Arity::TooFew { .. } => span.map(|s| s.end.saturating_sub(1)..s.end),
        };
        Err(self.error(at, wrong.to_string()))
    }

    fn traversal(&mut self, root: &Expression, operators: &[Operator]) -> Result<Value> {
        // `target.x.attr`: resolved per attribute, so blocks may refer to each other.
        if let (Expr::Variable(root_name), [first, second, ..]) = (&root.expr, operators) {
            if let (Op::GetAttr(member), Op::GetAttr(attr)) = (&first.op, &second.op) {
                if self.local(root_name.as_str()).is_none() {
                    if let Some(result) = self.resolver.member(root_name.as_str(), member.as_str(), attr.as_str()) {
                        let v = self.measured(result.map_err(|d| self.place(d, root.span()))?, root.span())?;
                        return self.apply_operators(v, &operators[2..]);
                    }
                }
            }
        }
        if let Expr::Variable(root_name) = &root.expr {
            let resolver = self.resolver;
            if let (None, Some(whole)) = (self.local(root_name.as_str()), resolver.variable_ref(root_name.as_str())) {
                // The root costs what evaluating it would; the leading attribute
                // reads are followed in place, and only what they reach is copied
                // (and paid for). One that fails is left to `apply_operators`,
                // which reports it as it would have.
                self.budget.charge(1).map_err(|e| self.limit(root.span(), e))?;
                let (reached, read) = follow_attributes(whole, operators);
                let v = self.measured(reached.clone(), root.span())?;
                return self.apply_operators(v, &operators[read..]);
            }
        }
        let v = self.eval(root)?;
        self.apply_operators(v, operators)
    }

    fn apply_operators(&mut self, mut v: Value, operators: &[Operator]) -> Result<Value> {
        for (i, op) in operators.iter().enumerate() {
            let span = op.span();
            match &op.op {
                Op::GetAttr(name) => v = self.get_attr(v, name, span)?,
                Op::Index(index) => {
                    let key = self.eval(index)?;
                    v = self.index(v, &key, span)?;
                }
                Op::LegacyIndex(i) => v = self.index(v, &Value::from(*i), span)?,
                Op::AttrSplat | Op::FullSplat => {
                    // Each splat applies the rest of the chain one level down.
                    let _level = self.budget.enter().map_err(|e| self.limit(span.clone(), e))?;
                    let rest = &operators[i + 1..];
                    let items = match v {
                        Value::Null => Vec::new(),
                        Value::Array(items) => items,
                        other => vec![other],
                    };
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        self.budget.charge(1).map_err(|e| self.limit(span.clone(), e))?;
                        out.push(stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || self.apply_operators(item, rest))?);
                    }
                    return Ok(Value::Array(out));
                }
            }
        }
        Ok(v)
    }

    fn get_attr(&self, v: Value, name: &str, span: Option<std::ops::Range<usize>>) -> Result<Value> {
        match v {
            Value::Object(mut map) => map
                .swap_remove(name)
                .ok_or_else(|| self.error(span, format!("Unsupported attribute: This object does not have an attribute named \"{name}\"."))),
            Value::Null => Err(self.error(span, "Attempt to get attribute from null value")),
            other => Err(self.error(span, format!("Unsupported attribute: Can't access attributes on a {}.", type_name(&other)))),
        }
    }

    fn index(&self, v: Value, key: &Value, span: Option<std::ops::Range<usize>>) -> Result<Value> {
        match v {
            Value::Array(mut items) => {
                let i = to_f64(key).map_err(|m| self.error(span.clone(), format!("Invalid index: {m}")))?;
                if i < 0.0 || i.fract() != 0.0 || i as usize >= items.len() {
                    return Err(self.error(span, "Invalid index: The given key does not identify an element in this collection value."));
                }
                Ok(items.swap_remove(i as usize))
            }
            Value::Object(mut map) => {
                let k = to_string(key).map_err(|m| self.error(span.clone(), format!("Invalid index: {m}")))?;
                map.swap_remove(&k)
                    .ok_or_else(|| self.error(span, format!("Invalid index: The given key \"{k}\" does not identify an element in this collection value.")))
            }
            Value::Null => Err(self.error(span, "Attempt to index null value")),
            other => Err(self.error(span, format!("Invalid index: This value does not have any indices ({}).", type_name(&other)))),
        }
    }

    fn binary(&mut self, op: BinaryOp, lhs: &Expression, rhs: &Expression, span: Option<std::ops::Range<usize>>) -> Result<Value> {
        use BinaryOp::*;
        // && and || evaluate both sides in cty too, but a null on either side is an error.
        let l = self.eval(lhs)?;
        let r = self.eval(rhs)?;
        let fail = |m: String| self.error(span.clone(), format!("Invalid operand: {m}"));
        Ok(match op {
            Eq => Value::Bool(value::equal(&l, &r)),
            NotEq => Value::Bool(!value::equal(&l, &r)),
            And => Value::Bool(to_bool(&l).map_err(&fail)? && to_bool(&r).map_err(&fail)?),
            Or => Value::Bool(to_bool(&l).map_err(&fail)? || to_bool(&r).map_err(&fail)?),
            Less | LessEq | Greater | GreaterEq => {
                let (a, b) = (to_f64(&l).map_err(&fail)?, to_f64(&r).map_err(&fail)?);
                Value::Bool(match op {
                    Less => a < b,
                    LessEq => a <= b,
                    Greater => a > b,
                    _ => a >= b,
                })
            }
            Plus | Minus | Mul | Div | Mod => {
                let (a, b) = (value::to_number(&l).map_err(&fail)?, value::to_number(&r).map_err(&fail)?);
                functions::arithmetic(op, &a, &b).map_err(&fail)?
            }
        })
    }

    fn for_expr(&mut self, f: &ForExpr, span: Option<std::ops::Range<usize>>) -> Result<Value> {
        let collection = self.eval(&f.collection)?;
        let items = iterate(&collection).map_err(|m| self.error(f.collection.span(), m))?;
        let mut list = Vec::new();
        let mut map: Map<String, Value> = Map::new();
        for (k, v) in items {
            let depth = self.locals.len();
            if let Some(key_var) = &f.key_var {
                self.locals.push((key_var.as_str().to_string(), k));
            }
            self.locals.push((f.value_var.as_str().to_string(), v));
            let result = self.budget.charge(1).map_err(|e| self.limit(span.clone(), e)).and_then(|_| self.for_item(f, &mut list, &mut map));
            self.locals.truncate(depth);
            result?;
        }
        Ok(match f.key {
            Some(_) => value::sorted_object(map),
            None => Value::Array(list),
        })
    }

    fn for_item(&mut self, f: &ForExpr, list: &mut Vec<Value>, map: &mut Map<String, Value>) -> Result<()> {
        if let Some(cond) = &f.cond {
            let keep = self.eval(cond)?;
            if !to_bool(&keep).map_err(|m| self.error(cond.span(), m))? {
                return Ok(());
            }
        }
        let value = self.eval(&f.value)?;
        match &f.key {
            None => list.push(value),
            Some(key_expr) => {
                let key = self.eval(key_expr)?;
                let key = to_string(&key).map_err(|m| self.error(key_expr.span(), m))?;
                if f.grouping {
                    match map.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
                        Value::Array(group) => group.push(value),
                        _ => unreachable!("grouping entries are lists"),
                    }
                } else if map.contains_key(&key) {
                    return Err(self.error(key_expr.span(), format!("Duplicate object key: Two different items produced the key \"{key}\" in this 'for' expression.")));
                } else {
                    map.insert(key, value);
                }
            }
        }
        Ok(())
    }
}

fn strips_after(element: &Element) -> bool {
    match element {
        Element::Interpolation(_, strip) => strip.end,
        Element::If(d) => d.endif_strip.end,
        Element::For(d) => d.endfor_strip.end,
        Element::Literal(..) => false,
    }
}

fn strips_before(element: &Element) -> bool {
    match element {
        Element::Interpolation(_, strip) => strip.start,
        Element::If(d) => d.if_strip.start,
        Element::For(d) => d.for_strip.start,
        Element::Literal(..) => false,
    }
}

fn trim_line_start(s: &str) -> &str {
    let s = s.trim_start_matches([' ', '\t']);
    s.strip_prefix("\r\n").or_else(|| s.strip_prefix('\n')).unwrap_or(s)
}

fn trim_line_end(s: &str) -> &str {
    let s = s.trim_end_matches([' ', '\t']);
    s.strip_suffix("\r\n").or_else(|| s.strip_suffix('\n')).unwrap_or(s)
}

/// The (key, value) pairs a `for` walks: index and element of a list, key and
/// value of an object (in key order).
pub fn iterate(collection: &Value) -> std::result::Result<Vec<(Value, Value)>, String> {
    match collection {
        Value::Array(items) => Ok(items.iter().enumerate().map(|(i, v)| (Value::from(i as u64), v.clone())).collect()),
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().map(|(k, v)| (Value::String(k.clone()), v.clone())).collect();
            entries.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
            Ok(entries)
        }
        Value::Null => Err("Iteration over null value: A null value cannot be used as the collection in a 'for' expression.".into()),
        other => Err(format!("Iteration over non-iterable value: A value of type {} cannot be used as the collection in a 'for' expression.", type_name(other))),
    }
}

/// Parses a type constraint (`string`, `list(string)`, `object({a=number})`).
pub fn parse_type(file: &SourceFile, expr: &Expression) -> Result<Type> {
    let bad = |what: &str| {
        Diagnostic::at(file, expr.span(), format!("Invalid type specification: The keyword \"{what}\" is not a valid type specification."))
    };
    match &expr.expr {
        Expr::Variable(v) => match v.as_str() {
            "string" => Ok(Type::String),
            "number" => Ok(Type::Number),
            "bool" => Ok(Type::Bool),
            "any" => Ok(Type::Any),
            other => Err(bad(other)),
        },
        Expr::Call(call) => {
            let args = call.args.as_slice();
            let name = call.name.as_str();
            let single = || match args {
                [a] => parse_type(file, a).map(Box::new),
                _ => Err(Diagnostic::at(file, expr.span(), format!("Invalid type specification: {name}() takes one type"))),
            };
            match name {
                "list" => Ok(Type::List(single()?)),
                "set" => Ok(Type::Set(single()?)),
                "map" => Ok(Type::Map(single()?)),
                "tuple" => match args.iter().map(|a| &a.expr).collect::<Vec<_>>()[..] {
                    [Expr::Tuple(items)] => Ok(Type::Tuple(items.iter().map(|e| parse_type(file, e)).collect::<Result<_>>()?)),
                    _ => Err(bad("tuple")),
                },
                "object" => match args.iter().map(|a| &a.expr).collect::<Vec<_>>()[..] {
                    [Expr::Object(attrs)] => {
                        let mut fields = Vec::new();
                        for item in attrs {
                            let key = match &item.key {
                                ObjectKey::Ident(i) => i.as_str().to_string(),
                                ObjectKey::Expression(Expression { expr: Expr::String(s), .. }) => s.to_string(),
                                ObjectKey::Expression(_) => return Err(bad("object")),
                            };
                            fields.push((key, parse_type(file, &item.value)?));
                        }
                        fields.sort_by(|a, b| a.0.cmp(&b.0));
                        Ok(Type::Object(fields))
                    }
                    _ => Err(bad("object")),
                },
                other => Err(bad(other)),
            }
        }
        Expr::String(s) => Err(bad(s)),
        _ => Err(Diagnostic::at(file, expr.span(), "Invalid type specification: a type keyword is required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names(Vec<(&'static str, Value)>, Budget);

    impl Resolve for Names {
        fn variable(&self, name: &str) -> Option<Result<Value>> {
            self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| Ok(v.clone()))
        }

        fn budget(&self) -> &Budget {
            &self.1
        }
    }

    fn eval(text: &str) -> Result<Value> {
        let file = SourceFile::new("t.hcl", format!("x = {text}\n"));
        let body = super::super::parse(&file)?;
        let attr = body.get_attribute("x").expect("x");
        let names = Names(vec![("N", Value::Null), ("S", Value::from("s")), ("L", Value::from(vec!["a", "b"]))], Budget::new());
        Evaluator::new(&file, &names).eval(&attr.value)
    }

    #[test]
    fn a_lone_interpolation_keeps_null_and_type() {
        assert_eq!(eval("\"${N}\"").unwrap(), Value::Null);
        assert_eq!(eval("\"${L}\"").unwrap(), Value::from(vec!["a", "b"]));
    }

    #[test]
    fn null_inside_a_longer_template_is_an_error() {
        let err = eval("\"x-${N}\"").unwrap_err();
        assert!(err.message.contains("Cannot include a null value"), "{}", err.message);
        assert_eq!((err.line, err.column), (1, 10));
    }

    #[test]
    fn operands_convert_like_cty() {
        assert_eq!(eval("\"5\" > 3").unwrap(), Value::Bool(true));
        assert_eq!(eval("\"2\" + 3").unwrap(), Value::from(5));
        assert_eq!(eval("\"v${1.50}\"").unwrap(), Value::from("v1.5"));
        assert_eq!(eval("1 == \"1\"").unwrap(), Value::Bool(false));
    }

    #[test]
    fn templates_strip_and_loop() {
        assert_eq!(eval("\"%{ for x in L ~} ${x} %{~ endfor }\"").unwrap(), Value::from("ab"));
        assert_eq!(eval("\"a%{ if S == \"s\" }yes%{ else }no%{ endif }\"").unwrap(), Value::from("ayes"));
        assert_eq!(eval("\"$${x} %%{y} $S\"").unwrap(), Value::from("${x} %{y} $S"));
    }

    #[test]
    fn for_splat_and_conditionals() {
        assert_eq!(eval("[for i, v in L : \"${i}${v}\" if v != \"b\"]").unwrap(), Value::from(vec!["0a"]));
        assert_eq!(functions::json(&eval("{for v in L : v => upper(v)}").unwrap()).to_string(), "{\"a\":\"A\",\"b\":\"B\"}");
        assert_eq!(eval("[{n=1},{n=2}][*].n").unwrap(), Value::from(vec![1, 2]));
        assert_eq!(eval("N == null ? \"d\" : N").unwrap(), Value::from("d"));
    }

    #[test]
    fn unknown_names_are_located() {
        let err = eval("nope").unwrap_err();
        assert!(err.message.contains("There is no variable named \"nope\"."));
        assert_eq!(err.column, 5);
    }
}
