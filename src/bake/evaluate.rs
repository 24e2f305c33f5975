//! HCL bodies → targets and groups, the way buildx's hclparser does it: all
//! files form one merged body; variables, global attributes and functions
//! resolve lazily (on first use, with cycle checks); target attributes resolve
//! one at a time, so `target.x.context` works from anywhere.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};

use hcl::{Map, Value};

use super::model::{parse_go_bool, Attest, Attrs, Config, Group, Policy, Resources, Secret, Ssh, Target, VariableInfo};
use crate::hcl::eval::parse_type;
use crate::hcl::syntax::{Attribute, Block, Body, Expr, Expression, Op};
use crate::hcl::limits::{self, Budget, Exceeded};
use crate::hcl::value::{to_bool, to_string, type_name, Type};
use crate::hcl::{functions, Diagnostic, Evaluator, Resolve, SourceFile};

/// What the environment contributes: variable overrides (`--var`, then the
/// process environment) and the built-in variables.
pub struct Inputs<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub vars: &'a [(String, String)],
    pub local_platform: String,
    /// `BAKE_CMD_CONTEXT`: `cwd://`, or the command context URL of a remote definition.
    pub cmd_context: String,
    /// `BUILDX_BAKE_FILE_RELATIVE_PATHS`: local contexts are relative to the file defining them.
    pub file_relative: bool,
}

impl Inputs<'_> {
    /// Whether variables read the process environment: not when
    /// `BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP` is a true boolean.
    pub fn env_lookup_allowed(&self) -> bool {
        env_lookup_allowed(self.env)
    }

    /// A variable override: `--var` first (the last given), then the environment.
    pub fn lookup(&self, key: &str) -> Option<String> {
        match self.vars.iter().rev().find(|(k, _)| k == key) {
            Some((_, v)) => Some(v.clone()),
            None if self.env_lookup_allowed() => (self.env)(key),
            None => None,
        }
    }
}

/// buildx's `envLookupAllowed`, over the given environment.
pub fn env_lookup_allowed(env: &dyn Fn(&str) -> Option<String>) -> bool {
    !env("BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP").and_then(|v| parse_go_bool(&v)).unwrap_or(false)
}

/// Names buildx defines itself; files cannot override them.
const BUILTINS: &[&str] = &["BAKE_CMD_CONTEXT", "BAKE_LOCAL_PLATFORM"];

/// The merged definitions of every file, each with the file it came from.
struct Definitions<'f> {
    files: &'f [(SourceFile, Body)],
    globals: HashMap<String, (usize, &'f Attribute)>,
    variables: HashMap<String, (usize, &'f Block)>,
    variable_order: Vec<String>,
    functions: HashMap<String, (usize, &'f Block)>,
    targets: Vec<(usize, &'f Block)>,
    groups: Vec<(usize, &'f Block)>,
}

impl<'f> Definitions<'f> {
    fn collect(files: &'f [(SourceFile, Body)]) -> Definitions<'f> {
        let mut d = Definitions {
            files,
            globals: HashMap::new(),
            variables: HashMap::new(),
            variable_order: Vec::new(),
            functions: HashMap::new(),
            targets: Vec::new(),
            groups: Vec::new(),
        };
        for (i, (_, body)) in files.iter().enumerate() {
            for attr in body.attributes() {
                d.globals.insert(attr.key.as_str().to_string(), (i, attr));
            }
            for block in body.blocks() {
                let label = block.labels.first().map(|l| l.as_str().to_string()).unwrap_or_default();
                match block.ident.as_str() {
                    "variable" => {
                        if BUILTINS.contains(&label.as_str()) || label == "target" || label == "group" {
                            continue;
                        }
                        if d.variables.insert(label.clone(), (i, block)).is_none() {
                            d.variable_order.push(label);
                        }
                    }
                    "function" if label != "target" && label != "group" => {
                        d.functions.insert(label, (i, block));
                    }
                    "target" => d.targets.push((i, block)),
                    "group" => d.groups.push((i, block)),
                    // Unknown block types are ignored, as buildx does.
                    _ => {}
                }
            }
        }
        d
    }

    fn file(&self, i: usize) -> &'f SourceFile {
        &self.files[i].0
    }
}

/// A target block once its matrix is expanded: one per variant, renamed by `name`.
struct Instance<'f> {
    file: usize,
    block: &'f Block,
    name: String,
    locals: Vec<(String, Value)>,
}

/// What is being evaluated, to report cycles.
#[derive(Clone, PartialEq)]
enum InProgress {
    Variable(String),
    Function(String),
    /// An attribute of a target instance.
    Attribute(usize, String),
}

/// The lazy evaluation state; it is the [`Resolve`]r for every expression.
struct Bake<'f, 'i> {
    defs: Definitions<'f>,
    inputs: &'i Inputs<'i>,
    values: RefCell<HashMap<String, Value>>,
    resolving: RefCell<Vec<InProgress>>,
    instances: Vec<Instance<'f>>,
    /// The last instance of each name: the one `target.NAME.attr` reads.
    instance_index: HashMap<String, usize>,
    attrs: RefCell<HashMap<(usize, String), Value>>,
    budget: Budget,
}

type Result<T> = std::result::Result<T, Diagnostic>;

/// `X` of an expression that is exactly `target.X.context`.
fn target_context_ref(expr: &Expression) -> Option<&str> {
    let Expr::Traversal(root, operators) = &expr.expr else { return None };
    let Expr::Variable(root) = &root.expr else { return None };
    if root != "target" {
        return None;
    }
    match operators.iter().map(|o| &o.op).collect::<Vec<_>>().as_slice() {
        [Op::GetAttr(name), Op::GetAttr(attr)] if attr == "context" => Some(name.as_str()),
        _ => None,
    }
}

/// Positionless errors get their position from the expression that triggered them.
fn unplaced(message: impl Into<String>) -> Diagnostic {
    Diagnostic { file: String::new(), line: 0, column: 0, message: message.into(), hint: None, source_line: String::new() }
}

fn at(file: &SourceFile, span: Option<std::ops::Range<usize>>, message: impl Into<String>) -> Diagnostic {
    Diagnostic::at(file, span, message)
}

impl Resolve for Bake<'_, '_> {
    fn variable(&self, name: &str) -> Option<Result<Value>> {
        match name {
            "BAKE_CMD_CONTEXT" => return Some(Ok(Value::from(self.inputs.cmd_context.clone()))),
            "BAKE_LOCAL_PLATFORM" => return Some(Ok(Value::from(self.inputs.local_platform.clone()))),
            _ => {}
        }
        if let Some(v) = self.values.borrow().get(name) {
            return Some(Ok(v.clone()));
        }
        if !self.defs.variables.contains_key(name) && !self.defs.globals.contains_key(name) {
            return None;
        }
        Some(self.guarded(InProgress::Variable(name.to_string()), || self.compute_variable(name)).inspect(|v| {
            self.values.borrow_mut().insert(name.to_string(), v.clone());
        }))
    }

    fn member(&self, root: &str, member: &str, attr: &str) -> Option<Result<Value>> {
        // Variables are evaluated before any block in buildx: `target` and `group`
        // do not exist for them (an "Unknown variable" error).
        let in_variable = self
            .resolving
            .borrow()
            .iter()
            .rev()
            .find(|k| !matches!(k, InProgress::Function(_)))
            .is_some_and(|k| matches!(k, InProgress::Variable(_)));
        if in_variable {
            return None;
        }
        match root {
            "target" => {
                let Some(&index) = self.instance_index.get(member) else {
                    return Some(Err(unplaced(format!("Unknown target: there is no target named \"{member}\""))));
                };
                Some(self.attribute(index, attr))
            }
            "group" => {
                let (file, block) = self.defs.groups.iter().rev().find(|(_, b)| label(b) == member)?;
                let Some(a) = block.body.get_attribute(attr) else { return Some(Ok(Value::Null)) };
                Some(Evaluator::new(self.defs.file(*file), self).eval(&a.value))
            }
            _ => None,
        }
    }

    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value>> {
        let (file, block) = *self.defs.functions.get(name)?;
        if let Err(e) = self.budget.charge(limits::CALL_STEPS) {
            return Some(Err(unplaced(format!("{e}.")).with_hint(limits::LIMITS_HINT)));
        }
        Some(self.guarded(InProgress::Function(name.to_string()), || self.call_function(file, block, args)))
    }

    fn params(&self, name: &str) -> Option<(Vec<String>, Option<String>)> {
        let (file, block) = *self.defs.functions.get(name)?;
        self.signature(file, block).ok()
    }

    fn budget(&self) -> &Budget {
        &self.budget
    }
}

/// Where a block's name is written: errors about the block point there.
fn label_span(block: &Block) -> Option<std::ops::Range<usize>> {
    block.labels.first().and_then(|l| l.span()).or_else(|| block.span())
}

fn label(block: &Block) -> &str {
    block.labels.first().map(|l| l.as_str()).unwrap_or("")
}

impl<'f, 'i> Bake<'f, 'i> {
    /// Runs `f` with `key` marked in progress; re-entering it is a cycle.
    fn guarded(&self, key: InProgress, f: impl FnOnce() -> Result<Value>) -> Result<Value> {
        if self.resolving.borrow().contains(&key) {
            let message = match key {
                InProgress::Variable(name) => format!("variable cycle not allowed for {name}"),
                InProgress::Function(name) => format!("function cycle not allowed for {name}"),
                InProgress::Attribute(index, attr) => {
                    format!("reference cycle not allowed for target.{}.{attr}", self.instances[index].name)
                }
            };
            return Err(unplaced(message));
        }
        self.resolving.borrow_mut().push(key);
        let result = f();
        self.resolving.borrow_mut().pop();
        result
    }

    fn eval_in(&self, file: usize, expr: &Expression) -> Result<Value> {
        let source = self.defs.file(file);
        Evaluator::new(source, self).eval(expr)
    }

    fn compute_variable(&self, name: &str) -> Result<Value> {
        let global = self.defs.globals.get(name);
        let Some(&(file, block)) = self.defs.variables.get(name) else {
            let (file, attr) = global.expect("a global or a variable");
            return self.eval_in(*file, &attr.value);
        };
        let source = self.defs.file(file);
        let typ = match block.body.get_attribute("type") {
            Some(t) => Some(parse_type(source, &t.value)?),
            None => None,
        };
        let default = match (global, block.body.get_attribute("default")) {
            (Some((gfile, attr)), _) => Some(self.eval_in(*gfile, &attr.value)?),
            (None, Some(attr)) => Some(self.eval_in(file, &attr.value)?),
            (None, None) => None,
        };
        let default = match (&typ, default) {
            (Some(t), Some(v)) => Some(t.convert(&v).map_err(|m| {
                at(source, label_span(block), format!("invalid type {} for variable {name} default value: {m}", t.friendly_name()))
            })?),
            (_, d) => d,
        };
        let overridden = self.override_value(name, typ.as_ref(), default.as_ref()).map_err(|m| at(source, label_span(block), m))?;
        Ok(match (overridden, default, &typ) {
            (Some(v), _, _) => v,
            (None, Some(d), _) => d,
            (None, None, Some(_)) => Value::Null,
            (None, None, None) => Value::from(""),
        })
    }

    /// `--var`, then the environment (unless `BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP`),
    /// for `NAME` and `NAME_JSON`, parsed after the variable's type or its
    /// default's type (buildx's `valueHasOverride`).
    fn override_value(&self, name: &str, typ: Option<&Type>, default: Option<&Value>) -> std::result::Result<Option<Value>, String> {
        let lookup = |key: &str| self.inputs.lookup(key);
        let json_name = format!("{name}_JSON");
        let json_is_variable = self.defs.variables.contains_key(&json_name) || BUILTINS.contains(&json_name.as_str());
        let plain = lookup(name);
        // A typed variable always consults `NAME_JSON`; an untyped one only without `NAME`.
        let json_text = if json_is_variable || (typ.is_none() && plain.is_some()) { None } else { lookup(&json_name) };
        if let Some(t) = typ {
            if let Some(text) = &json_text {
                let parsed: serde_json::Value =
                    serde_json::from_str(text).map_err(|e| format!("failed to parse {json_name} as JSON: {e}"))?;
                return t.convert(&functions::from_json(parsed)).map(Some).map_err(|m| format!("failed to convert {json_name}: {m}"));
            }
            let Some(text) = plain else { return Ok(None) };
            return typed_text(name, t, &text).map(Some);
        }
        let Some(text) = plain.or(json_text) else { return Ok(None) };
        match default {
            None | Some(Value::Null) | Some(Value::String(_)) => Ok(Some(Value::String(text))),
            Some(Value::Number(_)) => typed_text(name, &Type::Number, &text).map(Some),
            Some(Value::Bool(_)) => typed_text(name, &Type::Bool, &text).map(Some),
            Some(other) => Err(format!("unsupported type {} for variable {name}", type_name(other))),
        }
    }

    /// A user function's fixed and variadic parameter names.
    fn signature(&self, file: usize, block: &Block) -> Result<(Vec<String>, Option<String>)> {
        let source = self.defs.file(file);
        let params = match block.body.get_attribute("params") {
            Some(attr) => param_names(source, &attr.value)?,
            None => return Err(at(source, label_span(block), format!("empty params not allowed for {}", label(block)))),
        };
        let variadic = match block.body.get_attribute("variadic_params") {
            Some(attr) => Some(param_name(source, &attr.value)?),
            None => None,
        };
        Ok((params, variadic))
    }

    /// Calls a user function; the evaluator has checked the argument count.
    fn call_function(&self, file: usize, block: &Block, args: &[Value]) -> Result<Value> {
        let source = self.defs.file(file);
        let (params, variadic) = self.signature(file, block)?;
        let Some(result) = block.body.get_attribute("result") else {
            return Err(at(source, label_span(block), "empty result not allowed"));
        };
        let mut locals: Vec<(String, Value)> = params.iter().cloned().zip(args.iter().cloned()).collect();
        if let Some(v) = variadic {
            locals.push((v, Value::Array(args.get(params.len()..).unwrap_or_default().to_vec())));
        }
        Evaluator::new(source, self).with_locals(locals).eval(&result.value)
    }

    /// One attribute of one target instance, evaluated once.
    fn attribute(&self, index: usize, attr: &str) -> Result<Value> {
        let key = (index, attr.to_string());
        if let Some(v) = self.attrs.borrow().get(&key) {
            return Ok(v.clone());
        }
        let instance = &self.instances[index];
        if attr == "name" {
            return Ok(Value::from(instance.name.clone()));
        }
        let Some(a) = instance.block.body.get_attribute(attr) else { return Ok(Value::Null) };
        let source = self.defs.file(instance.file);
        let value = self.guarded(InProgress::Attribute(index, attr.to_string()), || {
            Evaluator::new(source, self).with_locals(instance.locals.clone()).eval(&a.value)
        })?;
        self.attrs.borrow_mut().insert(key, value.clone());
        Ok(value)
    }
}

fn param_names(file: &SourceFile, expr: &Expression) -> Result<Vec<String>> {
    let Expr::Tuple(items) = &expr.expr else {
        return Err(at(file, expr.span(), "params must be a list of names"));
    };
    items.iter().map(|e| param_name(file, e)).collect()
}

fn param_name(file: &SourceFile, expr: &Expression) -> Result<String> {
    match &expr.expr {
        Expr::Variable(v) => Ok(v.to_string()),
        Expr::String(s) => Ok(s.to_string()),
        _ => Err(at(file, expr.span(), "a parameter must be a name")),
    }
}

/// An override's text as a value of `typ`: primitives parse, lists and sets are
/// CSV, maps are CSV of `key:value`.
fn typed_text(name: &str, typ: &Type, text: &str) -> std::result::Result<Value, String> {
    let primitive = |t: &Type, s: &str| -> std::result::Result<Value, String> {
        match t {
            Type::Number => crate::hcl::value::parse_number(s)
                .ok_or_else(|| format!("failed to parse {name} as number: strconv.ParseFloat: parsing {s:?}: invalid syntax")),
            Type::Bool => parse_go_bool(s).map(Value::Bool).ok_or_else(|| format!("failed to parse {name} as bool")),
            _ => Ok(Value::from(s)),
        }
    };
    match typ {
        Type::String | Type::Number | Type::Bool | Type::Any => primitive(typ, text),
        Type::List(e) | Type::Set(e) if e.is_primitive() => {
            let fields = functions::csv_rows(text)?.into_iter().next().unwrap_or_default();
            typ.convert(&Value::Array(fields.iter().map(|f| primitive(e, f)).collect::<std::result::Result<_, _>>()?))
        }
        Type::Tuple(elements) if elements.iter().all(Type::is_primitive) => {
            let fields = functions::csv_rows(text)?.into_iter().next().unwrap_or_default();
            typ.convert(&Value::Array(fields.into_iter().map(Value::from).collect()))
        }
        Type::Map(e) if e.is_primitive() => {
            let fields = functions::csv_rows(text)?.into_iter().next().unwrap_or_default();
            let mut map = Map::new();
            for field in fields {
                let (k, v) = field.split_once(':').ok_or_else(|| format!("invalid map entry {field:?} for variable {name}"))?;
                map.insert(k.to_string(), primitive(e, v)?);
            }
            Ok(Value::Object(map))
        }
        _ => Err(format!("unsupported type {} for variable {name}; use {name}_JSON", typ.friendly_name())),
    }
}

/// Evaluates the merged files into targets and groups.
pub fn evaluate(files: &[(SourceFile, Body)], inputs: &Inputs) -> Result<Config> {
    let defs = Definitions::collect(files);
    let mut bake = Bake {
        defs,
        inputs,
        values: RefCell::new(HashMap::new()),
        resolving: RefCell::new(Vec::new()),
        instances: Vec::new(),
        instance_index: HashMap::new(),
        attrs: RefCell::new(HashMap::new()),
        budget: Budget::new(),
    };
    for (source, body) in files {
        for block in body.blocks().filter(|b| matches!(b.ident.as_str(), "variable" | "function")) {
            block_label(source, block, block.ident.as_str())?;
        }
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut instances = Vec::new();
    for &(file, block) in &bake.defs.targets {
        let source = bake.defs.file(file);
        let name = block_name(source, block, "target")?;
        let variants = bake.expand_matrix(file, block, &name)?;
        if let Some(names) = variants.matrix_group {
            add_group(&mut groups, Group { name: name.clone(), description: None, targets: names });
        }
        instances.extend(variants.instances);
    }
    bake.instance_index = instances.iter().enumerate().map(|(i, instance)| (instance.name.clone(), i)).collect();
    bake.instances = instances;

    for &(file, block) in &bake.defs.groups {
        let source = bake.defs.file(file);
        let name = block_name(source, block, "group")?;
        for (key, message) in [("name", "name is not supported for groups"), ("matrix", "matrix is not supported for groups")] {
            if block.body.get_attribute(key).is_some() {
                return Err(at(source, label_span(block), message));
            }
        }
        let mut group = Group { name, ..Group::default() };
        let Some(attr) = block.body.get_attribute("targets") else {
            let message = "Missing required argument; The argument \"targets\" is required, but no definition was found.";
            return Err(at(source, opening_brace(source, block), message));
        };
        group.targets = string_list(source, attr, &bake.eval_in(file, &attr.value)?)?.unwrap_or_default();
        if let Some(attr) = block.body.get_attribute("description") {
            group.description = string(source, attr, &bake.eval_in(file, &attr.value)?)?;
        }
        add_group(&mut groups, group);
    }

    let mut targets: Vec<Target> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for index in 0..bake.instances.len() {
        let target = bake.decode(index)?;
        match by_name.get(&target.name) {
            Some(&i) => targets[i].merge(&target),
            None => {
                by_name.insert(target.name.clone(), targets.len());
                targets.push(target);
            }
        }
    }

    let variables = bake.variables()?;
    Ok(Config { targets, groups, variables })
}

/// A group of the same name as an earlier one adds its targets (once each).
fn add_group(groups: &mut Vec<Group>, group: Group) {
    match groups.iter_mut().find(|g| g.name == group.name) {
        Some(existing) => {
            existing.add_targets(group.targets);
            if group.description.is_some() {
                existing.description = group.description;
            }
        }
        None => groups.push(group),
    }
}

/// A block's one label; a missing one is reported at the opening brace and a
/// second one at itself, as buildx does.
fn block_label<'b>(file: &SourceFile, block: &'b Block, kind: &str) -> Result<&'b str> {
    match block.labels.as_slice() {
        [one] => Ok(one.as_str()),
        [] => Err(at(file, opening_brace(file, block), format!("Missing name for {kind}: All {kind} blocks must have 1 labels (name)."))),
        [_, extra, ..] => Err(at(
            file,
            extra.span().or(block.span()),
            format!("Extraneous label for {kind}: Only 1 labels (name) are expected for {kind} blocks."),
        )),
    }
}

fn block_name(file: &SourceFile, block: &Block, kind: &str) -> Result<String> {
    let name = block_label(file, block, kind)?.to_string();
    check_name(&name).map_err(|m| at(file, label_span(block), m))?;
    Ok(name)
}

/// Where a block's body starts: what buildx points at for what the body lacks.
fn opening_brace(file: &SourceFile, block: &Block) -> Option<std::ops::Range<usize>> {
    let after = block.labels.last().and_then(|l| l.span()).or(block.ident.span())?.end;
    let brace = after + file.text.get(after..)?.find('{')?;
    Some(brace..brace + 1)
}

fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(format!("invalid name {name}: only \"[a-zA-Z0-9_-]+\" are allowed"));
    }
    Ok(())
}

struct Variants<'f> {
    instances: Vec<Instance<'f>>,
    /// With a matrix, the label names a group of the generated targets.
    matrix_group: Option<Vec<String>>,
}

impl<'f> Bake<'f, '_> {
    fn expand_matrix(&self, file: usize, block: &'f Block, label: &str) -> Result<Variants<'f>> {
        let source = self.defs.file(file);
        let name_attr = block.body.get_attribute("name");
        let Some(matrix_attr) = block.body.get_attribute("matrix") else {
            if name_attr.is_some() {
                return Err(at(source, label_span(block), "name requires matrix"));
            }
            return Ok(Variants {
                instances: vec![Instance { file, block, name: label.to_string(), locals: Vec::new() }],
                matrix_group: None,
            });
        };
        let matrix = self.eval_in(file, &matrix_attr.value)?;
        let Value::Object(dims) = matrix else {
            return Err(at(source, label_span(block), "matrix must be a map"));
        };
        // buildx walks map keys in Go's random order; the corpus was recorded with
        // the last key outermost, which is also what a reader expects of sorted keys.
        let mut combos: Vec<Vec<(String, Value)>> = vec![Vec::new()];
        for (key, values) in dims.iter().rev() {
            let Value::Array(values) = values else {
                return Err(at(source, label_span(block), "matrix values must be a list"));
            };
            let limit = |e: Exceeded| at(source, matrix_attr.value.span(), format!("{e}.")).with_hint(limits::LIMITS_HINT);
            limits::check_elements(combos.len().saturating_mul(values.len())).map_err(limit)?;
            self.budget.charge((combos.len() * values.len() * (combos.first().map_or(0, Vec::len) + 1)) as u64).map_err(limit)?;
            combos = combos
                .iter()
                .flat_map(|prefix| {
                    values.iter().map(move |v| {
                        let mut c = prefix.clone();
                        c.push((key.clone(), v.clone()));
                        c
                    })
                })
                .collect();
        }
        let mut instances = Vec::with_capacity(combos.len());
        let mut names = Vec::with_capacity(combos.len());
        let mut seen = HashSet::with_capacity(combos.len());
        for locals in combos {
            let name = match name_attr {
                Some(attr) => {
                    let v = Evaluator::new(source, self).with_locals(locals.clone()).eval(&attr.value)?;
                    let name = to_string(&v).map_err(|m| at(source, attr.value.span(), format!("name: {m}")))?;
                    check_name(&name).map_err(|m| at(source, attr.value.span(), m))?;
                    name
                }
                None => label.to_string(),
            };
            if !seen.insert(name.clone()) {
                return Err(at(source, label_span(block), format!("duplicate name \"{name}\"")));
            }
            names.push(name.clone());
            instances.push(Instance { file, block, name, locals });
        }
        Ok(Variants { instances, matrix_group: Some(names) })
    }

    /// The typed target of one instance: each known attribute evaluated and
    /// converted; unknown attributes and blocks are ignored unevaluated.
    fn decode(&self, index: usize) -> Result<Target> {
        let instance = &self.instances[index];
        let file = self.defs.file(instance.file);
        let (line, column) = file.position(label_span(instance.block).map(|s| s.start).unwrap_or(0));
        let position = Some(super::model::Position { file: file.name.clone(), line, column });
        let mut t = Target { name: instance.name.clone(), position, ..Target::default() };
        for attr in instance.block.body.attributes() {
            let key = attr.key.as_str();
            if !KNOWN_ATTRIBUTES.contains(&key) {
                continue;
            }
            let v = self.attribute(index, key)?;
            let bad = |m: String| at(file, attr.value.span(), format!("Unsuitable value for \"{key}\": {m}"));
            match key {
                "description" => t.description = string(file, attr, &v)?,
                "context" => t.context = string(file, attr, &v)?,
                "dockerfile" => t.dockerfile = string(file, attr, &v)?,
                "dockerfile-inline" => t.dockerfile_inline = string(file, attr, &v)?,
                "target" => t.target = string(file, attr, &v)?,
                "network" => t.network = string(file, attr, &v)?,
                "shm-size" => t.shm_size = string(file, attr, &v)?,
                "call" => t.call = string(file, attr, &v)?,
                "args" => t.args = string_map(file, attr, &v)?,
                "labels" => t.labels = string_map(file, attr, &v)?,
                "extra-hosts" => t.extra_hosts = string_map(file, attr, &v)?,
                "contexts" => {
                    t.contexts = string_map(file, attr, &v)?.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect()
                }
                "tags" => t.tags = string_list(file, attr, &v)?,
                "platforms" => t.platforms = string_list(file, attr, &v)?,
                "annotations" => t.annotations = string_list(file, attr, &v)?,
                "no-cache-filter" => t.no_cache_filter = string_list(file, attr, &v)?,
                "ulimits" => t.ulimits = string_list(file, attr, &v)?,
                "entitlements" => t.entitlements = string_list(file, attr, &v)?,
                "inherits" => t.inherits = string_list(file, attr, &v)?.unwrap_or_default(),
                "pull" => t.pull = if v.is_null() { None } else { Some(to_bool(&v).map_err(bad)?) },
                "no-cache" => t.no_cache = if v.is_null() { None } else { Some(to_bool(&v).map_err(bad)?) },
                "cache-from" => t.cache_from = entries(file, attr, &v, parse_cache)?,
                "cache-to" => t.cache_to = entries(file, attr, &v, parse_cache)?,
                "output" => t.output = entries(file, attr, &v, parse_output)?,
                "attest" => t.attest = attests_from(&v).map_err(|m| unsuitable(file, attr, m))?,
                "resources" => t.resources = resources_from(&v).map_err(|m| unsuitable(file, attr, m))?,
                "policy" => t.policy = policies_from(&v).map_err(|m| unsuitable(file, attr, m))?,
                "secret" => t.secret = secrets(file, attr, &v)?,
                "ssh" => t.ssh = ssh(file, attr, &v)?,
                _ => {}
            }
        }
        if self.inputs.file_relative {
            self.rebase_paths(index, &mut t);
        }
        Ok(t)
    }

    /// buildx's file-relative paths for one block: its `context` and `contexts`
    /// join the directory of its file, except `context = target.X.context`,
    /// which joins X's (the path is X's, as written there).
    fn rebase_paths(&self, index: usize, t: &mut Target) {
        let instance = &self.instances[index];
        let Some(base) = super::file_relative::file_dir(&self.defs.file(instance.file).name) else { return };
        if let (Some(context), Some(attr)) = (t.context.as_mut(), instance.block.body.get_attribute("context")) {
            let referenced = target_context_ref(&attr.value)
                .and_then(|name| self.instance_index.get(name))
                .and_then(|&i| super::file_relative::file_dir(&self.defs.file(self.instances[i].file).name));
            *context = super::file_relative::rebase(referenced.as_deref().unwrap_or(&base), context);
        }
        for value in t.contexts.values_mut() {
            *value = super::file_relative::rebase(&base, value);
        }
        t.default_context_base = Some(base);
    }

    /// Declared variables with their final values, for `--list variables`;
    /// evaluating them all also runs their validations.
    fn variables(&self) -> Result<Vec<VariableInfo>> {
        let mut out = Vec::new();
        for name in &self.defs.variable_order {
            let (file, block) = self.defs.variables[name];
            let source = self.defs.file(file);
            let value = self.variable(name).expect("declared")?;
            for validation in block.body.get_blocks("validation") {
                let Some(cond) = validation.body.get_attribute("condition") else { continue };
                let ok = self.eval_in(file, &cond.value)?;
                match ok {
                    Value::Bool(true) => {}
                    Value::Bool(false) => {
                        let message = match validation.body.get_attribute("error_message") {
                            Some(m) => to_string(&self.eval_in(file, &m.value)?).unwrap_or_default(),
                            None => String::new(),
                        };
                        return Err(at(source, cond.value.span(), format!("Validation failed; {message}")));
                    }
                    other => {
                        return Err(at(source, cond.value.span(), format!("Invalid condition result: a bool is required, but have {}", type_name(&other))))
                    }
                }
            }
            let type_name = match block.body.get_attribute("type") {
                Some(t) => Some(parse_type(source, &t.value)?.friendly_name()),
                None => None,
            };
            let description = match block.body.get_attribute("description") {
                Some(d) => string(source, d, &self.eval_in(file, &d.value)?)?,
                None => None,
            };
            out.push(VariableInfo { name: name.clone(), type_name, value, description });
        }
        Ok(out)
    }
}

/// Every attribute a target block may set; others are silently ignored.
const KNOWN_ATTRIBUTES: &[&str] = &[
    "description", "context", "contexts", "dockerfile", "dockerfile-inline", "args", "labels", "tags", "cache-from",
    "cache-to", "target", "secret", "ssh", "platforms", "output", "pull", "no-cache", "network", "no-cache-filter",
    "shm-size", "ulimits", "call", "entitlements", "extra-hosts", "attest", "annotations", "inherits", "resources",
    "policy",
];

fn unsuitable(file: &SourceFile, attr: &Attribute, message: impl std::fmt::Display) -> Diagnostic {
    at(file, attr.value.span(), format!("Unsuitable value for \"{}\": {message}", attr.key.as_str()))
}

fn string(file: &SourceFile, attr: &Attribute, v: &Value) -> Result<Option<String>> {
    if v.is_null() {
        return Ok(None);
    }
    to_string(v).map(Some).map_err(|m| unsuitable(file, attr, m))
}

fn string_list(file: &SourceFile, attr: &Attribute, v: &Value) -> Result<Option<Vec<String>>> {
    match v {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .iter()
            .map(|i| if i.is_null() { Ok(String::new()) } else { to_string(i) })
            .collect::<std::result::Result<_, _>>()
            .map(Some)
            .map_err(|m| unsuitable(file, attr, m)),
        other => Err(unsuitable(file, attr, format!("list of string required, but have {}", type_name(other)))),
    }
}

fn string_map(file: &SourceFile, attr: &Attribute, v: &Value) -> Result<BTreeMap<String, Option<String>>> {
    match v {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::Null => Ok((k.clone(), None)),
                v => to_string(v).map(|s| (k.clone(), Some(s))).map_err(|m| format!("element \"{k}\": {m}")),
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(|m| unsuitable(file, attr, m)),
        other => Err(unsuitable(file, attr, format!("map of string required, but have {}", type_name(other)))),
    }
}

/// A list whose entries are CSV strings or objects, parsed by `parse` (which
/// may turn one string into several entries, or none).
fn entries(
    file: &SourceFile,
    attr: &Attribute,
    v: &Value,
    parse: fn(&str) -> std::result::Result<Vec<Attrs>, String>,
) -> Result<Option<Vec<Attrs>>> {
    entries_from(v, parse).map_err(|m| unsuitable(file, attr, m))
}

fn entries_from(v: &Value, parse: fn(&str) -> std::result::Result<Vec<Attrs>, String>) -> std::result::Result<Option<Vec<Attrs>>, String> {
    list_entries(v, |map| {
        let mut attrs = Attrs::new();
        for (k, v) in map {
            if !v.is_null() {
                attrs.insert(k.clone(), to_string(v)?);
            }
        }
        Ok(attrs)
    }, |text| parse(&text))
}

/// A list whose items are objects or strings, each read by `object` or `text`
/// (a string may give several entries, or none); null items are skipped and a
/// null list is `None`.
fn list_entries<T>(
    v: &Value,
    object: impl Fn(&Map<String, Value>) -> std::result::Result<T, String>,
    text: impl Fn(String) -> std::result::Result<Vec<T>, String>,
) -> std::result::Result<Option<Vec<T>>, String> {
    let Value::Array(items) = v else {
        return if v.is_null() { Ok(None) } else { Err(format!("list required, but have {}", type_name(v))) };
    };
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::Null => {}
            Value::Object(map) => out.push(object(map)?),
            other => out.extend(text(to_string(other)?)?),
        }
    }
    Ok(Some(out))
}

/// `k=v,k2=v2` fields (CSV quoting allowed).
pub(super) fn csv_fields(text: &str) -> std::result::Result<Vec<String>, String> {
    Ok(functions::csv_rows(text)?.into_iter().next().unwrap_or_default())
}

fn key_values(text: &str) -> std::result::Result<Attrs, String> {
    let mut attrs = Attrs::new();
    for field in csv_fields(text)? {
        let (k, v) = field.split_once('=').ok_or_else(|| format!("invalid value {field}"))?;
        attrs.insert(k.trim().to_lowercase(), v.to_string());
    }
    Ok(attrs)
}

/// A cache entry: `type=…,k=v`, or bare references (`ref1,ref2`) meaning registry entries.
pub(super) fn parse_cache(text: &str) -> std::result::Result<Vec<Attrs>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    if !text.contains('=') {
        return Ok(csv_fields(text)?
            .into_iter()
            .map(|r| Attrs::from([("type".to_string(), "registry".to_string()), ("ref".to_string(), r)]))
            .collect());
    }
    let mut attrs = key_values(text)?;
    attrs.entry("type".into()).or_insert_with(|| "registry".into());
    Ok(vec![attrs])
}

/// An output: `type=…,dest=…`, a plain path (a local export) or `-` (a tar to stdout).
pub(super) fn parse_output(text: &str) -> std::result::Result<Vec<Attrs>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    if !text.contains('=') {
        let kind = if text == "-" { "tar" } else { "local" };
        return Ok(vec![Attrs::from([("type".to_string(), kind.to_string()), ("dest".to_string(), text.to_string())])]);
    }
    let attrs = key_values(text)?;
    if !attrs.contains_key("type") {
        return Err(format!("type is required for output: {text}"));
    }
    Ok(vec![attrs])
}

/// An attestation from `type=…,disabled=…,k=v` (only `type` and `disabled`
/// are keys of their own; other keys keep their case, as in buildx).
pub(super) fn parse_attest(text: &str) -> std::result::Result<Vec<Attest>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut fields = Vec::new();
    for field in csv_fields(text)? {
        let (k, v) = field.split_once('=').ok_or_else(|| format!("invalid value {field}"))?;
        fields.push((k.to_string(), v.to_string()));
    }
    attest_of(fields).map(|a| vec![a])
}

fn attest_of(fields: Vec<(String, String)>) -> std::result::Result<Attest, String> {
    let mut a = Attest::default();
    for (k, v) in fields {
        match k.trim().to_lowercase().as_str() {
            "type" => a.kind = v,
            "disabled" => {
                a.disabled = parse_go_bool(&v)
                    .ok_or_else(|| format!("invalid value {k}={v}: strconv.ParseBool: parsing {v:?}: invalid syntax"))?
            }
            _ => {
                a.attrs.insert(k, v);
            }
        }
    }
    if a.kind.is_empty() {
        return Err("attestation type not specified".into());
    }
    Ok(a)
}

/// `attest` as strings or objects (whose values convert to strings).
pub(super) fn attests_from(v: &Value) -> std::result::Result<Option<Vec<Attest>>, String> {
    list_entries(
        v,
        |map| {
            let fields = map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| Ok((k.clone(), to_string(v)?)));
            attest_of(fields.collect::<std::result::Result<_, String>>()?)
        },
        |text| parse_attest(&text),
    )
}

/// `resources` as an object: string fields take any primitive, `cpu-*` fields
/// whole numbers; other keys are dropped, as cty's object conversion does.
fn resources_from(v: &Value) -> std::result::Result<Option<Resources>, String> {
    let map = match v {
        Value::Null => return Ok(None),
        Value::Object(map) => map,
        other => return Err(format!("object required, but have {}", type_name(other))),
    };
    let mut r = Resources::default();
    for key in Resources::KEYS {
        let Some(field) = map.get(key).filter(|f| !f.is_null()) else { continue };
        let text = to_string(field).map_err(|m| format!("attribute \"{key}\": {m}"))?;
        if key.starts_with("cpu-") {
            let number = crate::hcl::value::parse_number(&text)
                .ok_or_else(|| format!("attribute \"{key}\": a number is required"))?;
            let whole = match &number {
                Value::Number(n) => n.as_i64(),
                _ => None,
            };
            let n = whole.ok_or_else(|| format!("attribute \"{key}\": value must be a whole number, between -9223372036854775808 and 9223372036854775807"))?;
            r.set(key, &n.to_string())?;
        } else {
            r.set(key, &text)?;
        }
    }
    Ok(Some(r))
}

/// `policy` as `key=value` CSV strings or objects (empty strings and nulls skipped).
pub(super) fn policies_from(v: &Value) -> std::result::Result<Option<Vec<Policy>>, String> {
    list_entries(
        v,
        |map| {
            let fields = map
                .iter()
                .filter(|(_, v)| !v.is_null() && v.as_str() != Some(""))
                .map(|(k, v)| match v {
                    Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(format!("{k}={}", to_string(v)?)),
                    other => Err(format!("string required, but have {}", type_name(other))),
                })
                .collect::<std::result::Result<Vec<_>, String>>()?;
            Policy::from_fields(fields.iter().map(String::as_str))
        },
        |text| parse_policy(&text).map(|p| vec![p]),
    )
}

pub(super) fn parse_policy(text: &str) -> std::result::Result<Policy, String> {
    let fields = csv_fields(text)?;
    Policy::from_fields(fields.iter().map(String::as_str))
}

fn secrets(file: &SourceFile, attr: &Attribute, v: &Value) -> Result<Option<Vec<Secret>>> {
    secrets_from(v).map_err(|m| unsuitable(file, attr, m))
}

fn ssh(file: &SourceFile, attr: &Attribute, v: &Value) -> Result<Option<Vec<Ssh>>> {
    ssh_from(v).map_err(|m| unsuitable(file, attr, m))
}

/// Secrets from CSV strings (`id=x,src=path`, `type=env,id=X`) or objects.
pub(super) fn secrets_from(v: &Value) -> std::result::Result<Option<Vec<Secret>>, String> {
    let Some(list) = entries_from(v, |text| if text.is_empty() { Ok(Vec::new()) } else { key_values(text).map(|a| vec![a]) })? else {
        return Ok(None);
    };
    list.into_iter()
        .map(|mut a| {
            let kind = a.remove("type");
            let mut s = Secret {
                id: a.remove("id").unwrap_or_default(),
                src: a.remove("src").or_else(|| a.remove("source")),
                env: a.remove("env"),
            };
            if let Some(k) = a.keys().next() {
                return Err(format!("unexpected key '{k}' in secret"));
            }
            if kind.as_deref() == Some("env") && s.env.is_none() {
                s.env = s.src.take();
            }
            Ok(s)
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(Some)
}

/// SSH entries from `id[=path,…]` strings or `{id, paths}` objects.
pub(super) fn ssh_from(v: &Value) -> std::result::Result<Option<Vec<Ssh>>, String> {
    list_entries(
        v,
        |map| {
            let id = map.get("id").map(to_string).transpose()?.unwrap_or_default();
            let paths = match map.get("paths") {
                Some(Value::Array(p)) => p.iter().map(to_string).collect::<std::result::Result<_, _>>()?,
                _ => Vec::new(),
            };
            Ok(Ssh { id, paths })
        },
        |text| {
            if text.is_empty() {
                return Ok(Vec::new());
            }
            let (id, paths) = match text.split_once('=') {
                Some((id, paths)) => (id.to_string(), paths.split(',').map(str::to_string).collect()),
                None => (text, Vec::new()),
            };
            Ok(vec![Ssh { id, paths }])
        },
    )
}
