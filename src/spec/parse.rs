//! From HCL text to a checked [`Spec`]. Unlike bake files, anything unknown is an error.

use std::collections::BTreeMap;

use hcl::edit::expr::Expression as EditExpr;
use hcl::edit::structure::{Block, Body, Structure};
use hcl::edit::Span;
use hcl::Value;

use crate::hcl::{declared_variables, parse, typed_override, Diagnostic, Scope, SourceFile};

use super::model::*;

/// UID and GID of users that do not set them, overridable as build args.
const UID_VARIABLES: [(&str, i64); 2] = [("HOST_UID", 1000), ("HOST_GID", 1000)];

const TOP_BLOCKS: &[&str] = &["variable", "user", "stage", "image"];
const STAGE_ATTRS: &[&str] = &["from", "env", "workdir", "cmd", "entrypoint", "labels", "user"];
const STAGE_BLOCKS: &[&str] = &["run", "copy"];
const USER_ATTRS: &[&str] = &["uid", "gid", "home", "shell"];
const RUN_ATTRS: &[&str] = &["env", "user"];
const RUN_BLOCKS: &[&str] = &["cache"];
const CACHE_ATTRS: &[&str] = &["target", "id", "sharing"];
const COPY_ATTRS: &[&str] = &["source", "dest", "chown"];

/// Parses and checks a spec. `args` are build args; they override variables.
pub fn parse_spec(file: &SourceFile, args: &BTreeMap<String, String>) -> Result<Spec, Diagnostic> {
    let body = parse(file)?;
    let cx = Checker { file };
    cx.check_top_level(&body)?;

    let mut scope = Scope::new();
    let mut host_ids = Vec::new();
    for (name, default) in UID_VARIABLES {
        let value = match args.get(name) {
            Some(text) => typed_override(&Value::from(default), text),
            None => Value::from(default),
        };
        scope.declare(name, value.clone());
        host_ids.push((name, value));
    }
    // A spec may declare HOST_UID itself, e.g. to change its default.
    for variable in declared_variables(file, &body, args, &mut scope)? {
        if let Some(slot) = host_ids.iter_mut().find(|(n, _)| *n == variable.name) {
            slot.1 = variable.value;
        }
    }

    let mut users = Vec::new();
    for block in body.get_blocks("user") {
        users.push(cx.user(block, &scope, &host_ids)?);
    }
    scope.declare("user", user_values(&users));

    let stage_names: Vec<String> = body
        .blocks()
        .filter(|b| b.has_ident("stage") || b.has_ident("image"))
        .filter_map(|b| b.labels.first().map(|l| l.as_str().to_string()))
        .collect();
    let stage_refs: hcl::Map<String, Value> = stage_names
        .iter()
        .map(|n| (n.clone(), Value::Object([("stage".to_string(), Value::from(n.as_str()))].into_iter().collect())))
        .collect();
    scope.declare("stage", Value::Object(stage_refs));

    let mut stages: Vec<Stage> = Vec::new();
    for block in body.blocks().filter(|b| b.has_ident("stage") || b.has_ident("image")) {
        let stage = cx.stage(block, &scope)?;
        if stages.iter().any(|s| s.name == stage.name) {
            return Err(cx.error(block.span(), format!("stage \"{}\" is defined twice", stage.name))
                .with_hint("give each stage and image its own name"));
        }
        stages.push(stage);
    }
    let spec = Spec { file: file.name.clone(), users, stages };
    cx.check_graph(&spec)?;
    Ok(spec)
}

fn user_values(users: &[User]) -> Value {
    let map: hcl::Map<String, Value> = users
        .iter()
        .map(|u| {
            let fields: hcl::Map<String, Value> = [
                ("name".to_string(), Value::from(u.name.as_str())),
                ("uid".to_string(), Value::from(u.uid)),
                ("gid".to_string(), Value::from(u.gid)),
            ]
            .into_iter()
            .collect();
            (u.name.clone(), Value::Object(fields))
        })
        .collect();
    Value::Object(map)
}

struct Checker<'a> {
    file: &'a SourceFile,
}

impl Checker<'_> {
    fn error(&self, span: Option<std::ops::Range<usize>>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(self.file, span, message)
    }

    fn pos(&self, span: Option<std::ops::Range<usize>>) -> Pos {
        let (line, column) = self.file.position(span.map(|s| s.start).unwrap_or(0));
        Pos { line, column }
    }

    fn check_top_level(&self, body: &Body) -> Result<(), Diagnostic> {
        self.check_names(body, "the spec", &[], TOP_BLOCKS)
    }

    /// Rejects attributes and blocks other than the allowed ones, naming the closest.
    fn check_names(&self, body: &Body, what: &str, attrs: &[&str], blocks: &[&str]) -> Result<(), Diagnostic> {
        for structure in body.iter() {
            let (kind, name, allowed, span) = match structure {
                Structure::Attribute(a) => ("attribute", a.key.as_str(), attrs, a.span()),
                Structure::Block(b) => ("block", b.ident.as_str(), blocks, b.span()),
            };
            if !allowed.contains(&name) {
                let mut err = self.error(span, format!("unknown {kind} \"{name}\" in {what}"));
                err = match closest(name, attrs.iter().chain(blocks)) {
                    Some(near) => err.with_hint(format!("did you mean \"{near}\"?")),
                    None if allowed.is_empty() => err.with_hint(format!("{what} takes no {kind}s")),
                    None => err.with_hint(format!("{what} takes {}", allowed.join(", "))),
                };
                return Err(err);
            }
        }
        Ok(())
    }

    fn one_label(&self, block: &Block, what: &str) -> Result<String, Diagnostic> {
        match block.labels.as_slice() {
            [label] => Ok(label.as_str().to_string()),
            _ => Err(self
                .error(block.span(), format!("a {what} block takes exactly one name"))
                .with_hint(format!("write {what} \"NAME\" {{ … }}"))),
        }
    }

    fn string(&self, scope: &Scope, expr: &EditExpr, what: &str) -> Result<String, Diagnostic> {
        match scope.eval(self.file, expr)? {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(self.type_error(expr, what, "a string", &other)),
        }
    }

    fn string_list(&self, scope: &Scope, expr: &EditExpr, what: &str) -> Result<Vec<String>, Diagnostic> {
        match scope.eval(self.file, expr)? {
            Value::Array(items) if items.iter().all(|i| i.is_string()) => {
                Ok(items.into_iter().filter_map(|i| i.as_str().map(str::to_string)).collect())
            }
            other => Err(self.type_error(expr, what, "a list of strings", &other)),
        }
    }

    fn string_map(&self, scope: &Scope, expr: &EditExpr, what: &str) -> Result<Vec<(String, String)>, Diagnostic> {
        match scope.eval(self.file, expr)? {
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k, s)),
                    Value::Number(n) => Ok((k, n.to_string())),
                    Value::Bool(b) => Ok((k, b.to_string())),
                    other => Err(self.type_error(expr, what, "a map of strings", &other)),
                })
                .collect(),
            other => Err(self.type_error(expr, what, "a map of strings", &other)),
        }
    }

    fn id(&self, scope: &Scope, expr: &EditExpr, what: &str) -> Result<u32, Diagnostic> {
        let value = scope.eval(self.file, expr)?;
        let number = match &value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        number
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| self.type_error(expr, what, "a whole number from 0 to 4294967295", &value))
    }

    fn type_error(&self, expr: &EditExpr, what: &str, wanted: &str, got: &Value) -> Diagnostic {
        self.error(expr.span(), format!("{what} must be {wanted}, not {}", describe(got)))
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
            value.as_u64().and_then(|v| u32::try_from(v).ok()).ok_or_else(|| {
                self.error(block.span(), format!("{var} must be a whole number, not {}", describe(value)))
                    .with_hint(format!("pass --build-arg {var}=$(id -u)"))
            })
        };
        let mut user = User {
            home: format!("/home/{name}"),
            shell: "/bin/sh".into(),
            uid: host_id(0)?,
            gid: host_id(1)?,
            name,
        };
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "uid" => user.uid = self.id(scope, &attr.value, "uid")?,
                "gid" => user.gid = self.id(scope, &attr.value, "gid")?,
                "home" => user.home = self.string(scope, &attr.value, "home")?,
                _ => user.shell = self.string(scope, &attr.value, "shell")?,
            }
        }
        if user.uid == 0 {
            return Err(self
                .error(block.span(), format!("user \"{}\" would have UID 0, which is root", user.name))
                .with_hint("leave uid unset (HOST_UID, default 1000) or pick a non-zero UID"));
        }
        Ok(user)
    }

    fn stage(&self, block: &Block, scope: &Scope) -> Result<Stage, Diagnostic> {
        let kind = if block.has_ident("image") { StageKind::Image } else { StageKind::Stage };
        let what = if kind == StageKind::Image { "image" } else { "stage" };
        let name = self.one_label(block, what)?;
        let context = format!("{what} \"{name}\"");
        self.check_names(&block.body, &context, STAGE_ATTRS, STAGE_BLOCKS)?;
        let Some(from) = block.body.get_attribute("from") else {
            return Err(self
                .error(block.span(), format!("{context} has no \"from\""))
                .with_hint("set from = \"IMAGE\", from = stage.NAME or from = \"scratch\""));
        };
        let from = match scope.eval(self.file, &from.value)? {
            Value::String(s) if s == "scratch" => Base::Scratch,
            Value::String(s) if !s.trim().is_empty() => Base::Image(s),
            Value::Object(o) if o.get("stage").is_some_and(Value::is_string) => {
                Base::Stage(o["stage"].as_str().unwrap_or_default().to_string())
            }
            other => return Err(self.type_error(&from.value, "from", "an image reference or stage.NAME", &other)),
        };
        let mut stage = Stage {
            name,
            kind,
            from,
            steps: Vec::new(),
            settings: ImageSettings::default(),
            pos: self.pos(block.span()),
        };
        for structure in block.body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    let s = &mut stage.settings;
                    let key = attr.key.as_str();
                    match key {
                        "from" => {}
                        "env" => s.env = self.string_map(scope, &attr.value, key)?,
                        "workdir" => s.workdir = Some(self.string(scope, &attr.value, key)?),
                        "cmd" => s.cmd = Some(self.string_list(scope, &attr.value, key)?),
                        "entrypoint" => s.entrypoint = Some(self.string_list(scope, &attr.value, key)?),
                        "labels" => s.labels = self.string_map(scope, &attr.value, key)?.into_iter().collect(),
                        _ => s.user = Some(self.user_ref(scope, &attr.value)?),
                    }
                }
                Structure::Block(b) if b.has_ident("run") => stage.steps.push(Step::Run(self.run(b, scope)?)),
                Structure::Block(b) => stage.steps.push(Step::Copy(self.copy(b, scope)?)),
            }
        }
        Ok(stage)
    }

    /// A user as `user.NAME` or a plain name or UID string.
    fn user_ref(&self, scope: &Scope, expr: &EditExpr) -> Result<String, Diagnostic> {
        match scope.eval(self.file, expr)? {
            Value::Object(o) if o.get("name").is_some_and(Value::is_string) => {
                Ok(o["name"].as_str().unwrap_or_default().to_string())
            }
            Value::String(s) if !s.is_empty() => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(self.type_error(expr, "user", "user.NAME or a user name", &other)),
        }
    }

    fn run(&self, block: &Block, scope: &Scope) -> Result<Run, Diagnostic> {
        self.check_names(&block.body, "run", RUN_ATTRS, RUN_BLOCKS)?;
        let command = match block.labels.as_slice() {
            [label] if !label.as_str().trim().is_empty() => Command::Shell(label.as_str().to_string()),
            _ => {
                return Err(self
                    .error(block.span(), "a run block takes its command as its one label")
                    .with_hint("write run \"pip install -r requirements.txt\" { … }"))
            }
        };
        let mut run = Run { command, env: Vec::new(), user: None, caches: Vec::new(), pos: self.pos(block.span()) };
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "env" => run.env = self.string_map(scope, &attr.value, "env")?,
                _ => run.user = Some(self.user_ref(scope, &attr.value)?),
            }
        }
        for cache in block.body.blocks() {
            run.caches.push(self.cache(cache, scope)?);
        }
        Ok(run)
    }

    fn cache(&self, block: &Block, scope: &Scope) -> Result<CacheMount, Diagnostic> {
        self.check_names(&block.body, "cache", CACHE_ATTRS, &[])?;
        let mut target = None;
        let mut cache = CacheMount { target: String::new(), id: None, sharing: Sharing::Shared };
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "target" => target = Some(self.string(scope, &attr.value, "target")?),
                "id" => cache.id = Some(self.string(scope, &attr.value, "id")?),
                _ => {
                    cache.sharing = match self.string(scope, &attr.value, "sharing")?.as_str() {
                        "shared" => Sharing::Shared,
                        "private" => Sharing::Private,
                        "locked" => Sharing::Locked,
                        other => {
                            return Err(self
                                .error(attr.value.span(), format!("unknown sharing \"{other}\""))
                                .with_hint("sharing is \"shared\", \"private\" or \"locked\""))
                        }
                    }
                }
            }
        }
        match target {
            Some(t) if t.starts_with('/') && t != "/" => cache.target = t,
            _ => {
                return Err(self
                    .error(block.span(), "a cache needs an absolute target other than /")
                    .with_hint("for example target = \"/root/.cache/pip\""))
            }
        }
        Ok(cache)
    }

    fn copy(&self, block: &Block, scope: &Scope) -> Result<Copy, Diagnostic> {
        self.check_names(&block.body, "copy", COPY_ATTRS, &[])?;
        if !block.labels.is_empty() {
            return Err(self.error(block.span(), "a copy block takes no label").with_hint("write copy { source = \"…\" }"));
        }
        let mut copy = Copy { source: String::new(), dest: ".".into(), owner: None, pos: self.pos(block.span()) };
        let mut has_source = false;
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "source" => {
                    copy.source = self.string(scope, &attr.value, "source")?;
                    has_source = true;
                }
                "dest" => copy.dest = self.string(scope, &attr.value, "dest")?,
                _ => copy.owner = Some(self.owner(scope, &attr.value)?),
            }
        }
        if !has_source {
            return Err(self.error(block.span(), "copy has no \"source\"").with_hint("set source = \"PATH IN THE CONTEXT\""));
        }
        if copy.source.split('/').any(|part| part == "..") {
            return Err(self
                .error(block.span(), format!("copy source \"{}\" leaves the build context", copy.source))
                .with_hint("sources are paths inside the context"));
        }
        Ok(copy)
    }

    fn owner(&self, scope: &Scope, expr: &EditExpr) -> Result<Owner, Diagnostic> {
        let value = scope.eval(self.file, expr)?;
        let id = |o: &hcl::Map<String, Value>, k: &str| o.get(k).and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok());
        match &value {
            Value::Object(o) => match (id(o, "uid"), id(o, "gid")) {
                (Some(uid), Some(gid)) => Ok(Owner { uid, gid }),
                _ => Err(self.type_error(expr, "chown", "user.NAME", &value)),
            },
            _ => Err(self.type_error(expr, "chown", "user.NAME", &value)),
        }
    }

    /// Stage references exist and form no cycle; image users exist.
    fn check_graph(&self, spec: &Spec) -> Result<(), Diagnostic> {
        let at = |pos: Pos, msg: String| Diagnostic::at_line(self.file, pos.line, pos.column, msg);
        for stage in &spec.stages {
            if let Base::Stage(name) = &stage.from {
                if spec.stage(name).is_none() {
                    return Err(at(stage.pos, format!("stage \"{}\" is built from unknown stage \"{name}\"", stage.name)));
                }
            }
            if let Some(user) = &stage.settings.user {
                if spec.user(user).is_none() && user.parse::<u32>().is_err() && user != "root" {
                    return Err(at(stage.pos, format!("{} \"{}\" runs as unknown user \"{user}\"", kind_word(stage.kind), stage.name))
                        .with_hint("declare it with a user block"));
                }
            }
            let mut seen = vec![stage.name.as_str()];
            let mut current = stage;
            while let Base::Stage(parent) = &current.from {
                if seen.contains(&parent.as_str()) {
                    return Err(at(stage.pos, format!("stages form a cycle: {} → {parent}", seen.join(" → "))));
                }
                seen.push(parent);
                current = spec.stage(parent).expect("checked above");
            }
        }
        if spec.users.len() > 1 && spec.stages.iter().any(|s| s.kind == StageKind::Image && s.settings.user.is_none()) {
            let stage = spec.stages.iter().find(|s| s.kind == StageKind::Image && s.settings.user.is_none()).expect("found above");
            return Err(at(stage.pos, format!("image \"{}\" must say which user it runs as", stage.name))
                .with_hint("the spec declares several users: set user = user.NAME"));
        }
        Ok(())
    }
}

fn kind_word(kind: StageKind) -> &'static str {
    match kind {
        StageKind::Image => "image",
        StageKind::Stage => "stage",
    }
}

fn describe(value: &Value) -> String {
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

/// The allowed name nearest to `name`, when it is close enough to be a typo.
fn closest<'a>(name: &str, allowed: impl Iterator<Item = &'a &'a str>) -> Option<&'a str> {
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
