//! From HCL text to a checked [`Spec`]. Unlike bake files, anything unknown is an error.

use std::collections::BTreeMap;
use std::ops::Range;

use hcl::Value;

use crate::hcl::syntax::{Attribute, Block, Body, Expression, Structure};
use crate::hcl::{declared_variables, parse, typed_override, Diagnostic, Scope, SourceFile};

use super::explain;
use super::model::*;
use super::presets::PRESETS;
use super::services::service_values;
use super::values::{env_key_problem, is_signal, reference_problem, target_name_problem, MAX_ID};

/// Build args every spec understands, with their defaults.
const HOST_ID_VARIABLES: [(&str, i64); 2] = [("HOST_UID", 1000), ("HOST_GID", 1000)];

/// Build args every spec understands without declaring them.
pub const BUILTIN_ARGS: [&str; 3] = ["HOST_UID", "HOST_GID", "SOURCE_DATE_EPOCH"];

const TOP_BLOCKS: &[&str] = &["variable", "user", "stage", "image", "variant", "service"];
const USER_ATTRS: &[&str] = &["uid", "gid", "home", "shell", "groups", "allow_root"];
const STAGE_ATTRS: &[&str] = &[
    "from", "env", "workdir", "cmd", "entrypoint", "labels", "user", "expose", "volumes", "stop_signal",
    "source_url", "revision", "on_start",
];
const STAGE_BLOCKS: &[&str] =
    &["run", "copy", "dir", "healthcheck", "pip", "uv", "poetry", "npm", "yarn", "pnpm", "node_toolchain", "tailwind", "collectstatic"];
const RUN_ATTRS: &[&str] = &["command", "env", "workdir", "user", "network"];
const RUN_BLOCKS: &[&str] = &["cache", "bind", "secret", "ssh", "tmpfs"];
const CACHE_ATTRS: &[&str] = &["target", "id", "sharing", "owner", "mode"];
const BIND_ATTRS: &[&str] = &["source", "target", "from", "rw"];
const SECRET_ATTRS: &[&str] = &["id", "target", "env", "required", "mode", "owner"];
const SSH_ATTRS: &[&str] = &["id", "target", "required"];
const TMPFS_ATTRS: &[&str] = &["target", "size"];
const COPY_ATTRS: &[&str] = &["source", "dest", "from", "chown", "mode", "include", "exclude", "link"];
const DIR_ATTRS: &[&str] = &["path", "owner", "mode"];
const HEALTHCHECK_ATTRS: &[&str] = &["test", "interval", "timeout", "start_period", "start_interval", "retries"];
const VARIANT_ATTRS: &[&str] = &["image", "source", "uid", "gid", "cmd", "entrypoint", "env", "user", "test"];

/// The UID the `ci` variant gets unless it sets one: fixed, so CI caches and
/// files never depend on who runs the build.
pub const CI_UID: u32 = 9500;

/// Seconds since 1970 whose nanoseconds fit an i64: up to April 2262.
const MAX_SOURCE_DATE_EPOCH: i64 = i64::MAX / 1_000_000_000;

/// A `SOURCE_DATE_EPOCH` build arg that is not a time, as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "build arg SOURCE_DATE_EPOCH is \"{0}\": it must be a whole number of seconds since 1970, from 0 to {MAX_SOURCE_DATE_EPOCH} (for example $(git log -1 --format=%ct))"
)]
pub struct BadSourceDateEpoch(pub String);

/// The build's SOURCE_DATE_EPOCH, if it has one. An error is about the build
/// arg, not about a place in the spec: callers show it before parsing (see
/// [`check_build_args`]).
pub fn source_date_epoch(args: &BTreeMap<String, String>) -> Result<Option<i64>, BadSourceDateEpoch> {
    match args.get("SOURCE_DATE_EPOCH").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=MAX_SOURCE_DATE_EPOCH).contains(n))
            .map(Some)
            .ok_or_else(|| BadSourceDateEpoch(text.to_string())),
    }
}

/// What is wrong with the build args themselves, before the spec is read.
pub fn check_build_args(args: &BTreeMap<String, String>) -> Result<(), BadSourceDateEpoch> {
    source_date_epoch(args).map(drop)
}

/// Parses and checks a spec. `args` are build args; they override variables.
/// A leading byte order mark is not part of the spec.
pub fn parse_spec(file: &SourceFile, args: &BTreeMap<String, String>) -> Result<Spec, Diagnostic> {
    if let Some(text) = file.text.strip_prefix('\u{feff}') {
        return parse_spec(&SourceFile::new(file.name.clone(), text), args);
    }
    let body = parse(file).map_err(|d| match explain::unterminated_string(&file.text) {
        Some((line, column)) if line <= d.line => Diagnostic::at_line(file, line, column, "this string has no closing quote")
            .with_hint("close it on the same line; for several lines use a heredoc (<<EOT … EOT)"),
        _ => d,
    })?;
    let names = explain::Names::of(&body);
    let cx = Checker { file, body: &body, names: &names };
    cx.check_names(&body, "the spec", &[], TOP_BLOCKS)?;

    let mut scope = Scope::new();
    let mut host_ids = Vec::new();
    for (name, default) in HOST_ID_VARIABLES {
        let value = match args.get(name) {
            Some(text) => typed_override(&Value::from(default), text),
            None => Value::from(default),
        };
        scope.declare(name, value.clone());
        host_ids.push((name, value));
    }
    // A spec may declare HOST_UID itself, e.g. to change its default.
    let declared = declared_variables(file, &body, args, &mut scope).map_err(|d| cx.explain(d))?;
    let mut variables = Vec::new();
    for (variable, block) in declared.into_iter().zip(body.get_blocks("variable")) {
        variables.push(Variable {
            name: variable.name.clone(),
            description: variable.description.clone(),
            value: value_text(&variable.value),
            pos: cx.pos(block.span()),
        });
        if let Some(slot) = host_ids.iter_mut().find(|(n, _)| *n == variable.name) {
            slot.1 = variable.value;
        }
    }
    // Callers check build args first; here a bad epoch can only be placed at the start.
    let source_date_epoch = source_date_epoch(args).map_err(|e| Diagnostic::at_line(file, 1, 1, e.to_string()))?;

    let mut users: Vec<User> = Vec::new();
    for block in body.get_blocks("user") {
        let user = cx.user(block, &scope, &host_ids)?;
        if users.iter().any(|u| u.name == user.name) {
            return Err(cx.error(block.span(), format!("user \"{}\" is defined twice", user.name)).with_hint("give each user its own name"));
        }
        users.push(user);
    }
    scope.declare("user", user_values(&users));
    if !body.blocks().any(|b| b.has_ident("stage") || b.has_ident("image")) {
        return Err(Diagnostic::at_line(file, 1, 1, format!("{} has nothing to build", file.name))
            .with_hint("declare an image: image \"app\" { from = \"python:3.13-slim\" }"));
    }

    let stage_blocks: Vec<&Block> = body.blocks().filter(|b| b.has_ident("stage") || b.has_ident("image")).collect();
    let references: hcl::Map<String, Value> = stage_blocks
        .iter()
        .filter_map(|b| b.labels.first().map(|l| l.as_str().to_string()))
        .map(|n| (n.clone(), object([("stage", Value::from(n.as_str()))])))
        .collect();
    scope.declare("stage", Value::Object(references));
    // `image.app` and `stage.app` are the same reference.
    scope.declare_alias("image", "stage");

    let mut stages: Vec<Stage> = Vec::new();
    for block in stage_blocks {
        let stage = cx.stage(block, &scope)?;
        if stages.iter().any(|s| s.name == stage.name) {
            return Err(cx
                .error(block.span(), format!("stage \"{}\" is defined twice", stage.name))
                .with_hint("give each stage and image its own name"));
        }
        stages.push(stage);
    }
    let mut variants: Vec<Variant> = Vec::new();
    for block in body.get_blocks("variant") {
        let variant = cx.variant(block, &scope, &stages, &users)?;
        if variants.iter().any(|v| v.name == variant.name) || stages.iter().any(|s| s.name == variant.name) {
            return Err(cx
                .error(block.span(), format!("target name \"{}\" is used twice", variant.name))
                .with_hint("variants, stages and images share one set of target names"));
        }
        variants.push(variant);
    }
    let service_blocks: Vec<&Block> = body.get_blocks("service").collect();
    scope.declare("service", service_values(&names.services));
    let services = service_blocks.iter().map(|b| cx.service(b, &scope, &stages)).collect::<Result<Vec<_>, _>>()?;
    cx.check_services(&service_blocks, &services)?;
    let spec = Spec { file: file.name.clone(), variables, users, stages, variants, services, source_date_epoch };
    cx.check_graph(&spec)?;
    Ok(spec)
}

/// The text field `field` of the object `expr` names, read in place when `expr`
/// is a reference like `stage.app` or `user.app` (evaluating it would copy the
/// object): `None` for anything else, which is evaluated as usual.
fn reference_field<'s>(scope: &'s Scope, expr: &Expression, field: &str) -> Option<&'s str> {
    match scope.reached(expr)? {
        Value::Object(object) => object.get(field)?.as_str(),
        _ => None,
    }
}

/// A variable's value as a build arg would give it.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn user_values(users: &[User]) -> Value {
    let map: hcl::Map<String, Value> = users
        .iter()
        .map(|u| {
            let fields = object([
                ("name", Value::from(u.name.as_str())),
                ("uid", Value::from(u.uid)),
                ("gid", Value::from(u.gid)),
            ]);
            (u.name.clone(), fields)
        })
        .collect();
    Value::Object(map)
}

pub(super) struct Checker<'a> {
    pub(super) file: &'a SourceFile,
    body: &'a Body,
    names: &'a explain::Names<'a>,
}

impl Checker<'_> {
    /// Evaluates an expression; an unknown name is reported with what exists.
    pub(super) fn eval(&self, scope: &Scope, expr: &Expression) -> Result<Value, Diagnostic> {
        scope.eval(self.file, expr).map_err(|d| self.explain(d))
    }

    fn explain(&self, d: Diagnostic) -> Diagnostic {
        explain::explain(d, self.file, self.body, self.names)
    }

    pub(super) fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(self.file, span, message)
    }

    pub(super) fn pos(&self, span: Option<Range<usize>>) -> Pos {
        let (line, column) = self.file.position(span.map(|s| s.start).unwrap_or(0));
        Pos { line, column }
    }

    /// Rejects attributes and blocks other than the allowed ones, naming the closest.
    pub(super) fn check_names(&self, body: &Body, what: &str, attrs: &[&str], blocks: &[&str]) -> Result<(), Diagnostic> {
        for structure in body.iter() {
            let (kind, name, allowed, span) = match structure {
                Structure::Attribute(a) => ("attribute", a.key.as_str(), attrs, a.span()),
                Structure::Block(b) => ("block", b.ident.as_str(), blocks, b.span()),
            };
            if !allowed.contains(&name) {
                let err = self.error(span, format!("unknown {kind} \"{name}\" in {what}"));
                return Err(match closest(name, attrs.iter().chain(blocks)) {
                    Some(near) => err.with_hint(format!("did you mean \"{near}\"?")),
                    None if allowed.is_empty() => err.with_hint(format!("{what} takes no {kind}s")),
                    None => err.with_hint(format!("{what} takes {}", allowed.join(", "))),
                });
            }
        }
        Ok(())
    }

    /// The name of a stage, image or variant: one label that `--target` and a
    /// Dockerfile stage can be.
    fn target_name(&self, block: &Block, what: &str) -> Result<String, Diagnostic> {
        let name = self.one_label(block, what)?;
        match target_name_problem(&name) {
            None => Ok(name),
            Some(why) => Err(self.error(block.span(), format!("\"{name}\" is not a valid {what} name")).with_hint(why)),
        }
    }

    pub(super) fn one_label(&self, block: &Block, what: &str) -> Result<String, Diagnostic> {
        match block.labels.as_slice() {
            [label] if !label.as_str().is_empty() => Ok(label.as_str().to_string()),
            _ => Err(self
                .error(block.span(), format!("{} {what} block takes exactly one name", article(what)))
                .with_hint(format!("write {what} \"NAME\" {{ … }}"))),
        }
    }

    pub(super) fn no_label(&self, block: &Block, what: &str) -> Result<(), Diagnostic> {
        if block.labels.is_empty() {
            Ok(())
        } else {
            Err(self.error(block.span(), format!("{} {what} block takes no label", article(what))).with_hint(format!("write {what} {{ … }}")))
        }
    }

    fn type_error(&self, expr: &Expression, what: &str, wanted: &str, got: &Value) -> Diagnostic {
        self.error(expr.span(), format!("{what} must be {wanted}, not {}", describe(got)))
    }

    pub(super) fn string(&self, scope: &Scope, attr: &Attribute) -> Result<String, Diagnostic> {
        match self.eval(scope, &attr.value)? {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(self.type_error(&attr.value, attr.key.as_str(), "a string", &other)),
        }
    }

    pub(super) fn boolean(&self, scope: &Scope, attr: &Attribute) -> Result<bool, Diagnostic> {
        match self.eval(scope, &attr.value)? {
            Value::Bool(b) => Ok(b),
            Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
            other => Err(self.type_error(&attr.value, attr.key.as_str(), "true or false", &other)),
        }
    }

    pub(super) fn list(&self, scope: &Scope, attr: &Attribute) -> Result<Vec<String>, Diagnostic> {
        match self.eval(scope, &attr.value)? {
            Value::Array(items) => self.list_items(attr, items),
            other => Err(self.type_error(&attr.value, attr.key.as_str(), "a list of strings", &other)),
        }
    }

    fn list_items(&self, attr: &Attribute, items: Vec<Value>) -> Result<Vec<String>, Diagnostic> {
        items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(self.type_error(&attr.value, attr.key.as_str(), "a list of strings", &other)),
            })
            .collect()
    }

    /// A string, or a list of strings.
    pub(super) fn strings(&self, scope: &Scope, attr: &Attribute) -> Result<Vec<String>, Diagnostic> {
        match self.eval(scope, &attr.value)? {
            Value::String(s) => Ok(vec![s]),
            Value::Array(items) => self.list_items(attr, items),
            other => Err(self.type_error(&attr.value, attr.key.as_str(), "a string or a list of strings", &other)),
        }
    }

    pub(super) fn map(&self, scope: &Scope, attr: &Attribute) -> Result<Vec<(String, String)>, Diagnostic> {
        let wanted = "a map of strings";
        match self.eval(scope, &attr.value)? {
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k, s)),
                    Value::Number(n) => Ok((k, n.to_string())),
                    Value::Bool(b) => Ok((k, b.to_string())),
                    other => Err(self.type_error(&attr.value, attr.key.as_str(), wanted, &other)),
                })
                .collect(),
            other => Err(self.type_error(&attr.value, attr.key.as_str(), wanted, &other)),
        }
    }

    /// A UID or GID.
    fn id(&self, scope: &Scope, attr: &Attribute) -> Result<u32, Diagnostic> {
        let value = self.eval(scope, &attr.value)?;
        number_u32(&value)
            .filter(|n| *n <= MAX_ID)
            .ok_or_else(|| self.type_error(&attr.value, attr.key.as_str(), &format!("a whole number from 0 to {MAX_ID}"), &value))
    }

    fn count(&self, scope: &Scope, attr: &Attribute) -> Result<u32, Diagnostic> {
        let value = self.eval(scope, &attr.value)?;
        number_u32(&value)
            .filter(|n| *n <= i32::MAX as u32)
            .ok_or_else(|| self.type_error(&attr.value, attr.key.as_str(), "a whole number from 0 to 2147483647", &value))
    }

    /// Permission bits: `"0644"` (octal text) or a number written in octal digits.
    fn mode(&self, scope: &Scope, attr: &Attribute) -> Result<u32, Diagnostic> {
        let value = self.eval(scope, &attr.value)?;
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        u32::from_str_radix(text.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .ok_or_else(|| self.type_error(&attr.value, attr.key.as_str(), "octal permission bits from \"0000\" to \"7777\", like \"0644\"", &value))
    }

    fn duration(&self, scope: &Scope, attr: &Attribute) -> Result<i64, Diagnostic> {
        let value = self.eval(scope, &attr.value)?;
        value
            .as_str()
            .and_then(parse_duration)
            .ok_or_else(|| self.type_error(&attr.value, attr.key.as_str(), "a duration like \"10s\", \"1m30s\" or \"500ms\"", &value))
    }

    fn size(&self, scope: &Scope, attr: &Attribute) -> Result<i64, Diagnostic> {
        let value = self.eval(scope, &attr.value)?;
        let parsed = match &value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => parse_size(s),
            _ => None,
        };
        parsed.ok_or_else(|| self.type_error(&attr.value, attr.key.as_str(), "a size like \"64m\" or a number of bytes", &value))
    }

    /// A path that must be absolute (and not `/`), with an example of a right one.
    pub(super) fn absolute(&self, attr: &Attribute, path: String, example: &str) -> Result<String, Diagnostic> {
        if path.starts_with('/') && path != "/" {
            Ok(path)
        } else {
            Err(self
                .error(attr.value.span(), format!("{} must be an absolute path other than /, not \"{path}\"", attr.key.as_str()))
                .with_hint(format!("for example \"{example}\"")))
        }
    }

    /// Text that must not be empty.
    fn nonempty(&self, scope: &Scope, attr: &Attribute, example: &str) -> Result<String, Diagnostic> {
        let text = self.string(scope, attr)?;
        if text.trim().is_empty() {
            return Err(self
                .error(attr.value.span(), format!("{} must not be empty", attr.key.as_str()))
                .with_hint(format!("for example {} = \"{example}\"", attr.key.as_str())));
        }
        Ok(text)
    }

    /// An env map: values as text, names a process can have.
    pub(super) fn env(&self, scope: &Scope, attr: &Attribute) -> Result<Vec<(String, String)>, Diagnostic> {
        let env = self.map(scope, attr)?;
        if let Some((key, why)) = env.iter().find_map(|(k, _)| env_key_problem(k).map(|why| (k, why))) {
            return Err(self
                .error(attr.value.span(), format!("env name \"{key}\" is not a variable name: {why}"))
                .with_hint("write env = { NAME = \"value\" }"));
        }
        Ok(env)
    }

    /// A user as `user.NAME`, or a name or UID as text.
    pub(super) fn user_name(&self, scope: &Scope, attr: &Attribute) -> Result<String, Diagnostic> {
        if let Some(name) = reference_field(scope, &attr.value, "name") {
            return Ok(name.to_string());
        }
        match self.eval(scope, &attr.value)? {
            Value::Object(o) if o.get("name").is_some_and(Value::is_string) => {
                Ok(o["name"].as_str().unwrap_or_default().to_string())
            }
            Value::String(s) if s == "root" || s.parse::<u32>().is_ok() || self.names.users.contains(&s.as_str()) => Ok(s),
            Value::String(s) if !s.is_empty() => {
                let names: Vec<&str> = self.names.users.clone();
                let hint = match closest(&s, names.iter()) {
                    Some(near) => format!("did you mean user.{near}?"),
                    None => "declare it with a user block, or use root or a UID".to_string(),
                };
                Err(self.error(attr.value.span(), format!("unknown user \"{s}\"")).with_hint(hint))
            }
            Value::Number(n) => Ok(n.to_string()),
            other => Err(self.type_error(&attr.value, attr.key.as_str(), "user.NAME, root or a UID", &other)),
        }
    }

    /// An owner as `user.NAME`, a UID, or `"UID:GID"`.
    fn owner(&self, scope: &Scope, attr: &Attribute) -> Result<Owner, Diagnostic> {
        if let Some(name) = reference_field(scope, &attr.value, "name") {
            return Ok(Owner::User(name.to_string()));
        }
        let value = self.eval(scope, &attr.value)?;
        let owner = match &value {
            Value::Object(o) => o.get("name").and_then(Value::as_str).map(|name| Owner::User(name.to_string())),
            Value::Number(_) => number_u32(&value).map(|uid| Owner::Ids { uid, gid: uid }),
            Value::String(s) if s == "root" => Some(Owner::Ids { uid: 0, gid: 0 }),
            Value::String(s) => match s.split_once(':') {
                Some((u, g)) => u.parse().ok().zip(g.parse().ok()).map(|(uid, gid)| Owner::Ids { uid, gid }),
                None => s.parse().ok().map(|uid| Owner::Ids { uid, gid: uid }),
            },
            _ => None,
        };
        owner.ok_or_else(|| self.type_error(&attr.value, attr.key.as_str(), "user.NAME, root, a UID or \"UID:GID\"", &value))
    }

    /// Where a copy or bind reads from: `stage.NAME`, or an image reference.
    pub(super) fn source(&self, scope: &Scope, attr: &Attribute) -> Result<Source, Diagnostic> {
        if let Some(stage) = reference_field(scope, &attr.value, "stage") {
            return Ok(Source::Stage(stage.to_string()));
        }
        match self.eval(scope, &attr.value)? {
            Value::Object(o) if o.get("stage").is_some_and(Value::is_string) => {
                Ok(Source::Stage(o["stage"].as_str().unwrap_or_default().to_string()))
            }
            Value::String(s) if s == "context" => Ok(Source::Context),
            Value::String(s) if s == "scratch" => Ok(Source::Image(s)),
            Value::String(s) if !s.trim().is_empty() => match reference_problem(&s) {
                None => Ok(Source::Image(s)),
                Some(why) => Err(self
                    .error(attr.value.span(), format!("\"{s}\" is not an image reference: {why}"))
                    .with_hint("write stage.NAME, or an image like \"python:3.13-slim\" or \"ghcr.io/org/app:1.2\"")),
            },
            other => Err(self.type_error(&attr.value, "from", "stage.NAME or an image reference", &other)),
        }
    }

    fn user(&self, block: &Block, scope: &Scope, host_ids: &[(&str, Value)]) -> Result<User, Diagnostic> {
        let name = self.one_label(block, "user")?;
        self.check_names(&block.body, &format!("user \"{name}\""), USER_ATTRS, &[])?;
        if !valid_account_name(&name) {
            return Err(self
                .error(block.span(), format!("\"{name}\" is not a valid user name"))
                .with_hint("use lowercase letters, digits, '_' and '-', starting with a letter or '_'"));
        }
        let host_id = |index: usize| -> Result<u32, Diagnostic> {
            let (var, value) = &host_ids[index];
            number_u32(value).filter(|n| *n <= MAX_ID).ok_or_else(|| {
                let flag = if index == 0 { "u" } else { "g" };
                self.error(block.span(), format!("{var} must be a whole number from 0 to {MAX_ID}, not {}", describe(value)))
                    .with_hint(format!("user \"{name}\" takes its id from {var}: pass --build-arg {var}=$(id -{flag})"))
            })
        };
        let (uid_from_host, gid_from_host) = (block.body.get_attribute("uid").is_none(), block.body.get_attribute("gid").is_none());
        let mut user = User {
            home: format!("/home/{name}"),
            shell: "/bin/sh".into(),
            // The build's ids only where the spec sets none.
            uid: if uid_from_host { host_id(0)? } else { 0 },
            gid: if gid_from_host { host_id(1)? } else { 0 },
            groups: Vec::new(),
            allow_root: false,
            uid_from_host,
            gid_from_host,
            name,
            pos: self.pos(block.span()),
        };
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "uid" => user.uid = self.id(scope, attr)?,
                "gid" => user.gid = self.id(scope, attr)?,
                "home" => user.home = self.absolute(attr, self.string(scope, attr)?, &format!("/home/{}", user.name))?,
                "shell" => user.shell = self.string(scope, attr)?,
                "groups" => user.groups = self.list(scope, attr)?,
                _ => user.allow_root = self.boolean(scope, attr)?,
            }
        }
        if user.uid == 0 && !user.allow_root {
            let (at, from, hint) = match block.body.get_attribute("uid") {
                Some(attr) => (attr.value.span(), "", "leave uid unset (HOST_UID, default 1000), pick a non-zero UID, or set allow_root = true"),
                None => (block.span(), " (from HOST_UID)", "pass a non-zero HOST_UID (--build-arg HOST_UID=$(id -u)), or set allow_root = true"),
            };
            return Err(self.error(at, format!("user \"{}\" would have UID 0{from}, which is root", user.name)).with_hint(hint));
        }
        Ok(user)
    }

    fn stage(&self, block: &Block, scope: &Scope) -> Result<Stage, Diagnostic> {
        let kind = if block.has_ident("image") { StageKind::Image } else { StageKind::Stage };
        let what = kind_word(kind);
        let name = self.target_name(block, what)?;
        let context = format!("{what} \"{name}\"");
        self.check_names(&block.body, &context, STAGE_ATTRS, STAGE_BLOCKS)?;
        let Some(from) = block.body.get_attribute("from") else {
            return Err(self
                .error(block.span(), format!("{context} has no \"from\""))
                .with_hint("set from = \"IMAGE\", from = stage.NAME or from = \"scratch\""));
        };
        let from_pos = self.pos(from.value.span());
        let from = match self.source(scope, from)? {
            Source::Image(s) if s == "scratch" => Base::Scratch,
            Source::Image(s) => Base::Image(s),
            Source::Stage(s) => Base::Stage(s),
            Source::Context => {
                return Err(self.error(from.value.span(), "a stage cannot be built from the context").with_hint("copy it in instead"))
            }
        };
        let pos = self.pos(block.span());
        let mut stage = Stage { name, kind, from, from_pos, steps: Vec::new(), settings: ImageSettings::default(), pos };
        for structure in block.body.iter() {
            match structure {
                Structure::Attribute(attr) => self.setting(&mut stage.settings, scope, attr)?,
                Structure::Block(b) if b.has_ident("run") => stage.steps.push(Step::Run(self.run(b, scope)?)),
                Structure::Block(b) if b.has_ident("copy") => stage.steps.push(Step::Copy(self.copy(b, scope)?)),
                Structure::Block(b) if b.has_ident("dir") => stage.steps.push(Step::Dir(self.dir(b, scope)?)),
                Structure::Block(b) if PRESETS.contains(&b.ident.as_str()) => {
                    let expansion = self.preset(b, scope)?;
                    stage.steps.extend(expansion.steps);
                    stage.settings.env.extend(expansion.env);
                }
                Structure::Block(b) => {
                    if stage.settings.healthcheck.is_some() {
                        return Err(self.error(b.span(), format!("{context} has two healthchecks")).with_hint("keep one healthcheck block"));
                    }
                    stage.settings.healthcheck = Some(self.healthcheck(b, scope)?);
                }
            }
        }
        Ok(stage)
    }

    fn setting(&self, s: &mut ImageSettings, scope: &Scope, attr: &Attribute) -> Result<(), Diagnostic> {
        match attr.key.as_str() {
            "from" => {}
            "env" => s.env = self.env(scope, attr)?,
            "workdir" => s.workdir = Some(self.nonempty(scope, attr, "/src")?),
            "cmd" => s.cmd = Some(self.list(scope, attr)?),
            "entrypoint" => s.entrypoint = Some(self.list(scope, attr)?),
            "labels" => {
                let labels = self.map(scope, attr)?;
                if labels.iter().any(|(k, _)| k.trim().is_empty()) {
                    return Err(self.error(attr.value.span(), "a label name must not be empty").with_hint("write labels = { \"org.example.team\" = \"web\" }"));
                }
                s.labels = labels.into_iter().collect();
            }
            "user" => s.user = Some(self.user_name(scope, attr)?),
            "expose" => {
                let ports = match self.eval(scope, &attr.value)? {
                    Value::Number(n) => vec![n.to_string()],
                    Value::String(p) => vec![p],
                    Value::Array(items) => self.list_items(attr, items).map_err(|_| self.ports_error(attr))?,
                    _ => return Err(self.ports_error(attr)),
                };
                s.expose = ports
                    .into_iter()
                    .map(|p| port_spec(&p).ok_or(p))
                    .collect::<Result<_, String>>()
                    .map_err(|p| {
                        self.error(attr.value.span(), format!("\"{p}\" is not a port: a port is a number from 1 to 65535, optionally with /tcp, /udp or /sctp"))
                            .with_hint("write expose = [8000, \"53/udp\"]")
                    })?
            }
            "volumes" => {
                s.volumes = self.list(scope, attr)?;
                if let Some(bad) = s.volumes.iter().find(|v| !v.starts_with('/')) {
                    return Err(self
                        .error(attr.value.span(), format!("volume \"{bad}\" must be an absolute path"))
                        .with_hint("write volumes = [\"/data\"]"));
                }
            }
            "stop_signal" => {
                let signal = self.string(scope, attr)?;
                if !is_signal(&signal) {
                    return Err(self
                        .error(attr.value.span(), format!("\"{signal}\" is not a signal"))
                        .with_hint("write a name like \"SIGTERM\", \"SIGINT\" or \"SIGQUIT\", or a number from 1 to 64"));
                }
                s.stop_signal = Some(signal);
            }
            "source_url" => s.source_url = Some(self.string(scope, attr)?),
            "revision" => s.revision = Some(self.string(scope, attr)?),
            _ => s.on_start = self.strings(scope, attr)?,
        }
        Ok(())
    }

    fn ports_error(&self, attr: &Attribute) -> Diagnostic {
        self.error(attr.value.span(), "expose must be a port or a list of ports")
            .with_hint("write expose = [8000, \"53/udp\"]")
    }

    fn run(&self, block: &Block, scope: &Scope) -> Result<Run, Diagnostic> {
        self.check_names(&block.body, "run", RUN_ATTRS, RUN_BLOCKS)?;
        let exec_form = block.body.get_attribute("command");
        let command = match (block.labels.as_slice(), exec_form) {
            ([label], None) if !label.as_str().trim().is_empty() => Command::Shell(label.as_str().to_string()),
            ([], Some(attr)) => match self.list(scope, attr)? {
                args if !args.is_empty() => Command::Exec(args),
                _ => return Err(self.error(attr.value.span(), "command must not be empty")),
            },
            _ => {
                return Err(self
                    .error(block.span(), "a run block takes its command as its label, or as command = [...] without a label")
                    .with_hint("write run \"pip install -r requirements.txt\" { … } or run { command = [\"pip\", \"install\"] }"))
            }
        };
        if let Some(reason) = build_time_migration(&command) {
            return Err(self
                .error(block.span(), format!("{reason} must not run at build time"))
                .with_hint("images are built without a database; set on_start = [\"python manage.py migrate --noinput\"] on the image"));
        }
        let mut run = Run {
            command,
            env: Vec::new(),
            workdir: None,
            user: None,
            network: Network::Default,
            mounts: Vec::new(),
            ca_bundle: None,
            pos: self.pos(block.span()),
        };
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "command" => {}
                "env" => run.env = self.env(scope, attr)?,
                "workdir" => run.workdir = Some(self.nonempty(scope, attr, "/src")?),
                "user" => run.user = Some(self.user_name(scope, attr)?),
                _ => {
                    run.network = match self.string(scope, attr)?.as_str() {
                        "default" | "sandbox" => Network::Default,
                        "none" => Network::None,
                        "host" => Network::Host,
                        other => {
                            return Err(self
                                .error(attr.value.span(), format!("unknown network \"{other}\""))
                                .with_hint("network is \"default\", \"none\" or \"host\""))
                        }
                    }
                }
            }
        }
        for mount in block.body.blocks() {
            run.mounts.push(self.mount(mount, scope)?);
        }
        let mut targets: Vec<&str> = run.mounts.iter().filter_map(mount_target).collect();
        targets.sort_unstable();
        if let Some(twice) = targets.windows(2).find(|w| w[0] == w[1]) {
            return Err(self.error(block.span(), format!("two mounts at {}", twice[0])).with_hint("give each mount its own target"));
        }
        Ok(run)
    }

    fn mount(&self, block: &Block, scope: &Scope) -> Result<RunMount, Diagnostic> {
        let kind = block.ident.as_str();
        self.no_label(block, kind)?;
        let allowed = match kind {
            "cache" => CACHE_ATTRS,
            "bind" => BIND_ATTRS,
            "secret" => SECRET_ATTRS,
            "ssh" => SSH_ATTRS,
            _ => TMPFS_ATTRS,
        };
        self.check_names(&block.body, kind, allowed, &[])?;
        let attr = |name: &str| block.body.get_attribute(name);
        let required = |name: &str| {
            attr(name).ok_or_else(|| {
                self.error(block.span(), format!("{kind} has no \"{name}\"")).with_hint(format!("set {name} = …"))
            })
        };
        let example = match kind {
            "cache" => "/root/.cache/pip",
            "bind" => "/src/requirements.txt",
            "secret" => "/run/secrets/token",
            "ssh" => "/run/buildkit/ssh_agent.0",
            _ => "/tmp",
        };
        let target = |name: &str| -> Result<Option<String>, Diagnostic> {
            attr(name).map(|a| self.string(scope, a).and_then(|p| self.absolute(a, p, example))).transpose()
        };
        let owner = attr("owner").map(|a| self.owner(scope, a)).transpose()?;
        Ok(match kind {
            "cache" => RunMount::Cache {
                target: self.absolute(required("target")?, self.string(scope, required("target")?)?, example)?,
                id: attr("id").map(|a| self.nonempty(scope, a, "pip")).transpose()?,
                sharing: attr("sharing").map(|a| self.sharing(scope, a)).transpose()?,
                owner,
                mode: attr("mode").map(|a| self.mode(scope, a)).transpose()?.unwrap_or(0o755),
            },
            "bind" => {
                let source = self.nonempty(scope, required("source")?, "requirements.txt")?;
                let from = attr("from").map(|a| self.source(scope, a)).transpose()?.unwrap_or(Source::Context);
                if from == Source::Context && source.split('/').any(|p| p == "..") {
                    return Err(self
                        .error(block.span(), format!("bind source \"{source}\" leaves the build context"))
                        .with_hint("bind a path inside the context, or one of a stage with from = stage.NAME"));
                }
                RunMount::Bind {
                    from,
                    source,
                    target: target("target")?,
                    rw: attr("rw").map(|a| self.boolean(scope, a)).transpose()?.unwrap_or(false),
                }
            }
            "secret" => {
                let id = self.nonempty(scope, required("id")?, "token")?;
                let env = attr("env").map(|a| self.nonempty(scope, a, "TOKEN")).transpose()?;
                if let (Some(name), Some(why)) = (&env, env.as_deref().and_then(env_key_problem)) {
                    return Err(self
                        .error(attr("env").and_then(|a| a.value.span()), format!("env name \"{name}\" is not a variable name: {why}"))
                        .with_hint("write env = \"TOKEN\""));
                }
                let target = match (target("target")?, &env) {
                    (Some(t), _) => Some(t),
                    (None, Some(_)) => None,
                    (None, None) => Some(format!("/run/secrets/{id}")),
                };
                RunMount::Secret {
                    id,
                    target,
                    env,
                    required: attr("required").map(|a| self.boolean(scope, a)).transpose()?.unwrap_or(false),
                    mode: attr("mode").map(|a| self.mode(scope, a)).transpose()?.unwrap_or(0o400),
                    owner,
                }
            }
            "ssh" => RunMount::Ssh {
                id: attr("id").map(|a| self.string(scope, a)).transpose()?.unwrap_or_else(|| "default".into()),
                target: target("target")?,
                required: attr("required").map(|a| self.boolean(scope, a)).transpose()?.unwrap_or(false),
            },
            _ => RunMount::Tmpfs {
                target: self.absolute(required("target")?, self.string(scope, required("target")?)?, example)?,
                size: attr("size").map(|a| self.size(scope, a)).transpose()?,
            },
        })
    }

    fn sharing(&self, scope: &Scope, attr: &Attribute) -> Result<Sharing, Diagnostic> {
        match self.string(scope, attr)?.as_str() {
            "shared" => Ok(Sharing::Shared),
            "private" => Ok(Sharing::Private),
            "locked" => Ok(Sharing::Locked),
            other => Err(self
                .error(attr.value.span(), format!("unknown sharing \"{other}\""))
                .with_hint("sharing is \"shared\", \"private\" or \"locked\"")),
        }
    }

    fn copy(&self, block: &Block, scope: &Scope) -> Result<Copy, Diagnostic> {
        self.check_names(&block.body, "copy", COPY_ATTRS, &[])?;
        self.no_label(block, "copy")?;
        let mut copy = Copy {
            from: Source::Context,
            sources: Vec::new(),
            dest: ".".into(),
            owner: None,
            mode: None,
            include: Vec::new(),
            exclude: Vec::new(),
            link: false,
            pos: self.pos(block.span()),
        };
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "source" => {
                    copy.sources = self.strings(scope, attr)?;
                    if copy.sources.iter().any(|s| s.trim().is_empty()) {
                        return Err(self
                            .error(attr.value.span(), "a copy source must not be empty")
                            .with_hint("write source = \".\" for the whole context, or a path in it"));
                    }
                }
                "dest" => copy.dest = self.nonempty(scope, attr, "/src")?,
                "from" => copy.from = self.source(scope, attr)?,
                "chown" => copy.owner = Some(self.owner(scope, attr)?),
                "mode" => copy.mode = Some(self.mode(scope, attr)?),
                "include" => copy.include = self.list(scope, attr)?,
                "exclude" => copy.exclude = self.list(scope, attr)?,
                _ => copy.link = self.boolean(scope, attr)?,
            }
        }
        if copy.sources.is_empty() {
            let hint = if block.body.get_attribute("source").is_some() { "list at least one path" } else { "set source = \"PATH\" (or a list of paths)" };
            return Err(self.error(block.span(), "copy has no \"source\"").with_hint(hint));
        }
        if copy.from == Source::Context {
            if let Some(bad) = copy.sources.iter().find(|s| s.split('/').any(|part| part == "..")) {
                return Err(self
                    .error(block.span(), format!("copy source \"{bad}\" leaves the build context"))
                    .with_hint("sources are paths inside the context"));
            }
        }
        Ok(copy)
    }

    fn dir(&self, block: &Block, scope: &Scope) -> Result<Dir, Diagnostic> {
        self.no_label(block, "dir")?;
        self.check_names(&block.body, "dir", DIR_ATTRS, &[])?;
        let Some(path) = block.body.get_attribute("path") else {
            return Err(self.error(block.span(), "dir has no \"path\"").with_hint("set path = \"/src/data\""));
        };
        Ok(Dir {
            path: self.nonempty(scope, path, "/src/data")?,
            owner: block.body.get_attribute("owner").map(|a| self.owner(scope, a)).transpose()?,
            mode: block.body.get_attribute("mode").map(|a| self.mode(scope, a)).transpose()?.unwrap_or(0o755),
            pos: self.pos(block.span()),
        })
    }

    pub(super) fn healthcheck(&self, block: &Block, scope: &Scope) -> Result<Healthcheck, Diagnostic> {
        self.no_label(block, "healthcheck")?;
        self.check_names(&block.body, "healthcheck", HEALTHCHECK_ATTRS, &[])?;
        let Some(test) = block.body.get_attribute("test") else {
            return Err(self.error(block.span(), "healthcheck has no \"test\"").with_hint("set test = [\"CMD\", \"curl\", \"-f\", \"http://localhost/\"]"));
        };
        let test = match self.eval(scope, &test.value)? {
            Value::String(line) => vec!["CMD-SHELL".to_string(), line],
            Value::Array(items) => {
                let args = self.list_items(test, items)?;
                match args.first().map(String::as_str) {
                    Some("CMD" | "CMD-SHELL" | "NONE") => args,
                    Some(_) => std::iter::once("CMD".to_string()).chain(args).collect(),
                    None => return Err(self.error(test.value.span(), "test must not be empty")),
                }
            }
            other => return Err(self.type_error(&test.value, "test", "a command list or a shell line", &other)),
        };
        let mut check = Healthcheck { test, interval: 0, timeout: 0, start_period: 0, start_interval: 0, retries: 0 };
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "test" => {}
                "interval" => check.interval = self.duration(scope, attr)?,
                "timeout" => check.timeout = self.duration(scope, attr)?,
                "start_period" => check.start_period = self.duration(scope, attr)?,
                "start_interval" => check.start_interval = self.duration(scope, attr)?,
                _ => check.retries = i64::from(self.count(scope, attr)?),
            }
        }
        Ok(check)
    }

    fn variant(&self, block: &Block, scope: &Scope, stages: &[Stage], users: &[User]) -> Result<Variant, Diagnostic> {
        let name = self.target_name(block, "variant")?;
        self.check_names(&block.body, &format!("variant \"{name}\""), VARIANT_ATTRS, &[])?;
        let default_image = stages.iter().rev().find(|s| s.kind == StageKind::Image).map(|s| s.name.clone());
        let mut variant = Variant {
            image: default_image.unwrap_or_default(),
            // The conventional names come with their conventional meaning.
            source: if name == "dev" { SourceMode::Mount } else { SourceMode::Copy },
            uid: (name == "ci").then_some(CI_UID),
            gid: None,
            cmd: None,
            entrypoint: None,
            env: Vec::new(),
            user: None,
            test: None,
            name,
            pos: self.pos(block.span()),
        };
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "image" => match self.source(scope, attr)? {
                    Source::Stage(s) => variant.image = s,
                    _ => return Err(self.error(attr.value.span(), "image must be image.NAME").with_hint("a variant varies an image of this spec")),
                },
                "source" => {
                    variant.source = match self.string(scope, attr)?.as_str() {
                        "copy" => SourceMode::Copy,
                        "mount" => SourceMode::Mount,
                        other => {
                            return Err(self
                                .error(attr.value.span(), format!("unknown source mode \"{other}\""))
                                .with_hint("source is \"copy\" (CI, release) or \"mount\" (dev)"))
                        }
                    }
                }
                "uid" => variant.uid = Some(self.id(scope, attr)?),
                "gid" => variant.gid = Some(self.id(scope, attr)?),
                "cmd" => variant.cmd = Some(self.list(scope, attr)?),
                "entrypoint" => variant.entrypoint = Some(self.list(scope, attr)?),
                "env" => variant.env = self.env(scope, attr)?,
                "test" => variant.test = Some(self.list(scope, attr)?),
                _ => variant.user = Some(self.user_name(scope, attr)?),
            }
        }
        let image = match stages.iter().find(|s| s.name == variant.image) {
            Some(s) if s.kind == StageKind::Image => s,
            Some(s) => {
                return Err(self
                    .error(block.span(), format!("variant \"{}\" varies stage \"{}\", which is not an image", variant.name, s.name))
                    .with_hint("set image = image.NAME to one of the spec's images"))
            }
            None => {
                return Err(self
                    .error(block.span(), format!("variant \"{}\" has no image to vary", variant.name))
                    .with_hint("declare an image block, or set image = image.NAME"))
            }
        };
        // The ids replace those of the user the image runs as (in this variant).
        let runs_as = match variant.user.as_ref().or(image.settings.user.as_ref()) {
            Some(name) => users.iter().find(|u| &u.name == name),
            None if users.len() == 1 => users.first(),
            None => None,
        };
        let written = |key: &str| block.body.get_attribute(key);
        match (runs_as, written("uid").or(written("gid"))) {
            (None, Some(attr)) => Err(self
                .error(attr.key.span(), format!("variant \"{}\" sets {}, but image \"{}\" runs as no spec user", variant.name, attr.key.as_str(), image.name))
                .with_hint("declare a user block for the image to run as")),
            (Some(user), _) if variant.uid == Some(0) && !user.allow_root => Err(self
                .error(written("uid").and_then(|a| a.value.span()), format!("variant \"{}\" would run image \"{}\" as root (uid 0)", variant.name, image.name))
                .with_hint(format!("pick a non-zero uid, or set allow_root = true on user \"{}\"", user.name))),
            _ => Ok(variant),
        }
    }

    /// Stages form no cycle; an image of a spec with several users names one.
    /// (Names of stages and users were checked where they are written.)
    fn check_graph(&self, spec: &Spec) -> Result<(), Diagnostic> {
        let at = |pos: Pos, msg: String| Diagnostic::at_line(self.file, pos.line, pos.column, msg);
        if let Some(cycle) = find_cycle(spec) {
            let stage = spec.stage(&cycle[0]).expect("cycles are made of stages");
            return Err(at(stage.pos, format!("stages depend on each other in a cycle: {}", cycle.join(" → "))));
        }
        if spec.users.len() > 1 {
            if let Some(stage) = spec.stages.iter().find(|s| s.kind == StageKind::Image && s.settings.user.is_none()) {
                return Err(at(stage.pos, format!("image \"{}\" must say which user it runs as", stage.name))
                    .with_hint("the spec declares several users: set user = user.NAME"));
            }
        }
        Ok(())
    }
}

/// Every stage a stage uses (its base, copy and bind sources), with where.
pub fn stage_uses(stage: &Stage) -> Vec<(Pos, &str)> {
    let mut uses = Vec::new();
    if let Base::Stage(name) = &stage.from {
        uses.push((stage.pos, name.as_str()));
    }
    for step in &stage.steps {
        match step {
            Step::Copy(Copy { from: Source::Stage(name), pos, .. }) => uses.push((*pos, name.as_str())),
            Step::Run(run) => {
                for mount in &run.mounts {
                    if let RunMount::Bind { from: Source::Stage(name), .. } = mount {
                        uses.push((run.pos, name.as_str()));
                    }
                }
            }
            Step::Copy(_) | Step::Dir(_) => {}
        }
    }
    uses
}

/// A chain of stages that leads back to its start, if any.
fn find_cycle(spec: &Spec) -> Option<Vec<String>> {
    let names: Vec<&str> = spec.stages.iter().map(|s| s.name.as_str()).collect();
    cycle_in(&names, |name| spec.stage(name).map(|stage| stage_uses(stage).into_iter().map(|(_, used)| used).collect()).unwrap_or_default())
}

/// A chain of `names` that leads back to its start, following `uses` (what a
/// name refers to), if any: stages built from stages, services waiting on services.
pub(super) fn cycle_in<'a>(names: &[&'a str], uses: impl Fn(&'a str) -> Vec<&'a str>) -> Option<Vec<String>> {
    fn visit<'a>(name: &'a str, uses: &dyn Fn(&'a str) -> Vec<&'a str>, path: &mut Vec<&'a str>, done: &mut Vec<&'a str>) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| *n == name) {
            let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
            cycle.push(name.to_string());
            return Some(cycle);
        }
        if done.contains(&name) {
            return None;
        }
        path.push(name);
        for used in uses(name) {
            if let Some(cycle) = visit(used, uses, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.push(name);
        None
    }
    let mut done = Vec::new();
    names.iter().find_map(|name| visit(name, &uses, &mut Vec::new(), &mut done))
}

fn mount_target(mount: &RunMount) -> Option<&str> {
    match mount {
        RunMount::Cache { target, .. } | RunMount::Tmpfs { target, .. } => Some(target),
        RunMount::Bind { target, .. } | RunMount::Secret { target, .. } | RunMount::Ssh { target, .. } => target.as_deref(),
    }
}

/// Why a command looks like a database migration, which needs a database the
/// build does not have.
fn build_time_migration(command: &Command) -> Option<&'static str> {
    let text = command.display().to_string();
    let words: Vec<&str> = text.split_whitespace().collect();
    let django = words.windows(2).any(|w| w[0].ends_with("manage.py") && w[1] == "migrate")
        && !words.contains(&"--check")
        && !words.contains(&"--plan");
    let alembic = words.windows(2).any(|w| w[0] == "alembic" && w[1] == "upgrade");
    if django {
        Some("`manage.py migrate`")
    } else if alembic {
        Some("`alembic upgrade`")
    } else {
        None
    }
}

/// "a" or "an", for a block's name.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

fn kind_word(kind: StageKind) -> &'static str {
    match kind {
        StageKind::Image => "image",
        StageKind::Stage => "stage",
    }
}

fn number_u32(value: &Value) -> Option<u32> {
    let n = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    n.and_then(|n| u32::try_from(n).ok())
}

pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the bool {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string \"{s}\""),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn valid_account_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && name.len() <= 32
}

/// `8000` → `8000/tcp`; `53/udp` stays.
fn port_spec(text: &str) -> Option<String> {
    let (port, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    let valid = port.parse::<u16>().is_ok_and(|p| p > 0) && matches!(proto, "tcp" | "udp" | "sctp");
    valid.then(|| format!("{port}/{proto}"))
}

/// Go-style durations (`1m30s`, `500ms`, `2h`) in nanoseconds; never negative.
pub fn parse_duration(text: &str) -> Option<i64> {
    crate::hcl::functions::go_duration_nanos(text.trim()).filter(|n| *n >= 0)
}

/// `64m`, `1g`, `512k` or plain bytes.
fn parse_size(text: &str) -> Option<i64> {
    let text = text.trim().to_ascii_lowercase();
    let text = text.trim_end_matches('b');
    let (digits, scale) = match text.chars().last()? {
        'k' => (&text[..text.len() - 1], 1i64 << 10),
        'm' => (&text[..text.len() - 1], 1 << 20),
        'g' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    digits.parse::<i64>().ok()?.checked_mul(scale)
}

/// The allowed name nearest to `name`, when it is close enough to be a typo.
pub fn closest<'a>(name: &str, allowed: impl Iterator<Item = &'a &'a str>) -> Option<&'a str> {
    allowed
        .map(|a| (edit_distance(name, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1024"), Some(1024));
    }

    #[test]
    fn ports_get_a_protocol() {
        assert_eq!(port_spec("8000").as_deref(), Some("8000/tcp"));
        assert_eq!(port_spec("53/udp").as_deref(), Some("53/udp"));
        assert_eq!(port_spec("http"), None);
    }

    #[test]
    fn migrations_are_recognised() {
        assert!(build_time_migration(&Command::Shell("python manage.py migrate --noinput".into())).is_some());
        assert!(build_time_migration(&Command::Shell("python manage.py migrate --check".into())).is_none());
        assert!(build_time_migration(&Command::Exec(vec!["alembic".into(), "upgrade".into(), "head".into()])).is_some());
    }
}
