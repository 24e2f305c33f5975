//! From HCL text to a checked [`Spec`]. Unlike bake files, anything unknown is an error.

use std::collections::BTreeMap;
use std::ops::Range;

use hcl::edit::expr::Expression as EditExpr;
use hcl::edit::structure::{Attribute, Block, Body, Structure};
use hcl::edit::Span;
use hcl::Value;

use crate::hcl::{declared_variables, parse, typed_override, Diagnostic, Scope, SourceFile};

use super::model::*;
use super::presets::PRESETS;

/// Build args every spec understands, with their defaults.
const HOST_ID_VARIABLES: [(&str, i64); 2] = [("HOST_UID", 1000), ("HOST_GID", 1000)];

/// Build args every spec understands without declaring them.
pub const BUILTIN_ARGS: [&str; 3] = ["HOST_UID", "HOST_GID", "SOURCE_DATE_EPOCH"];

const TOP_BLOCKS: &[&str] = &["variable", "user", "stage", "image", "variant"];
const USER_ATTRS: &[&str] = &["uid", "gid", "home", "shell", "groups", "allow_root"];
const STAGE_ATTRS: &[&str] = &[
    "from", "env", "workdir", "cmd", "entrypoint", "labels", "user", "expose", "volumes", "stop_signal",
    "source_url", "revision", "on_start",
];
const STAGE_BLOCKS: &[&str] =
    &["run", "copy", "healthcheck", "pip", "uv", "poetry", "npm", "node_toolchain", "tailwind", "collectstatic"];
const RUN_ATTRS: &[&str] = &["command", "env", "workdir", "user", "network"];
const RUN_BLOCKS: &[&str] = &["cache", "bind", "secret", "ssh", "tmpfs"];
const CACHE_ATTRS: &[&str] = &["target", "id", "sharing", "owner", "mode"];
const BIND_ATTRS: &[&str] = &["source", "target", "from", "rw"];
const SECRET_ATTRS: &[&str] = &["id", "target", "env", "required", "mode", "owner"];
const SSH_ATTRS: &[&str] = &["id", "target", "required"];
const TMPFS_ATTRS: &[&str] = &["target", "size"];
const COPY_ATTRS: &[&str] = &["source", "dest", "from", "chown", "mode", "include", "exclude", "link"];
const HEALTHCHECK_ATTRS: &[&str] = &["test", "interval", "timeout", "start_period", "start_interval", "retries"];
const VARIANT_ATTRS: &[&str] = &["image", "source", "uid", "gid"];

/// The UID the `ci` variant gets unless it sets one: fixed, so CI caches and
/// files never depend on who runs the build.
pub const CI_UID: u32 = 9500;

/// Parses and checks a spec. `args` are build args; they override variables.
pub fn parse_spec(file: &SourceFile, args: &BTreeMap<String, String>) -> Result<Spec, Diagnostic> {
    let body = parse(file)?;
    let cx = Checker { file };
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
    let declared = declared_variables(file, &body, args, &mut scope)?;
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
    let source_date_epoch = match args.get("SOURCE_DATE_EPOCH").filter(|s| !s.is_empty()) {
        Some(text) => Some(text.trim().parse::<i64>().map_err(|_| {
            Diagnostic::at_line(file, 1, 1, format!("SOURCE_DATE_EPOCH \"{text}\" is not a number of seconds"))
        })?),
        None => None,
    };

    let mut users: Vec<User> = Vec::new();
    for block in body.get_blocks("user") {
        let user = cx.user(block, &scope, &host_ids)?;
        if users.iter().any(|u| u.name == user.name) {
            return Err(cx.error(block.span(), format!("user \"{}\" is defined twice", user.name)));
        }
        users.push(user);
    }
    scope.declare("user", user_values(&users));

    let stage_blocks: Vec<&Block> = body.blocks().filter(|b| b.has_ident("stage") || b.has_ident("image")).collect();
    let references: hcl::Map<String, Value> = stage_blocks
        .iter()
        .filter_map(|b| b.labels.first().map(|l| l.as_str().to_string()))
        .map(|n| (n.clone(), object([("stage", Value::from(n.as_str()))])))
        .collect();
    scope.declare("stage", Value::Object(references.clone()));
    scope.declare("image", Value::Object(references));

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
        let variant = cx.variant(block, &scope, &stages)?;
        if variants.iter().any(|v| v.name == variant.name) || stages.iter().any(|s| s.name == variant.name) {
            return Err(cx
                .error(block.span(), format!("target name \"{}\" is used twice", variant.name))
                .with_hint("variants, stages and images share one set of target names"));
        }
        variants.push(variant);
    }
    let spec = Spec { file: file.name.clone(), variables, users, stages, variants, source_date_epoch };
    cx.check_graph(&spec)?;
    Ok(spec)
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
}

impl Checker<'_> {
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

    fn one_label(&self, block: &Block, what: &str) -> Result<String, Diagnostic> {
        match block.labels.as_slice() {
            [label] if !label.as_str().is_empty() => Ok(label.as_str().to_string()),
            _ => Err(self
                .error(block.span(), format!("a {what} block takes exactly one name"))
                .with_hint(format!("write {what} \"NAME\" {{ … }}"))),
        }
    }

    pub(super) fn no_label(&self, block: &Block, what: &str) -> Result<(), Diagnostic> {
        if block.labels.is_empty() {
            Ok(())
        } else {
            Err(self.error(block.span(), format!("a {what} block takes no label")).with_hint(format!("write {what} {{ … }}")))
        }
    }

    fn type_error(&self, expr: &EditExpr, what: &str, wanted: &str, got: &Value) -> Diagnostic {
        self.error(expr.span(), format!("{what} must be {wanted}, not {}", describe(got)))
    }

    pub(super) fn string(&self, scope: &Scope, attr: &Attribute) -> Result<String, Diagnostic> {
        match scope.eval(self.file, &attr.value)? {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(self.type_error(&attr.value, attr.key.as_str(), "a string", &other)),
        }
    }

    pub(super) fn boolean(&self, scope: &Scope, attr: &Attribute) -> Result<bool, Diagnostic> {
        match scope.eval(self.file, &attr.value)? {
            Value::Bool(b) => Ok(b),
            Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
            other => Err(self.type_error(&attr.value, attr.key.as_str(), "true or false", &other)),
        }
    }

    pub(super) fn list(&self, scope: &Scope, attr: &Attribute) -> Result<Vec<String>, Diagnostic> {
        match scope.eval(self.file, &attr.value)? {
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(self.type_error(&attr.value, attr.key.as_str(), "a list of strings", &other)),
                })
                .collect(),
            other => Err(self.type_error(&attr.value, attr.key.as_str(), "a list of strings", &other)),
        }
    }

    /// A string, or a list of strings.
    pub(super) fn strings(&self, scope: &Scope, attr: &Attribute) -> Result<Vec<String>, Diagnostic> {
        match scope.eval(self.file, &attr.value)? {
            Value::String(s) => Ok(vec![s]),
            Value::Array(_) => self.list(scope, attr),
            other => Err(self.type_error(&attr.value, attr.key.as_str(), "a string or a list of strings", &other)),
        }
    }

    pub(super) fn map(&self, scope: &Scope, attr: &Attribute) -> Result<Vec<(String, String)>, Diagnostic> {
        let wanted = "a map of strings";
        match scope.eval(self.file, &attr.value)? {
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

    fn id(&self, scope: &Scope, attr: &Attribute) -> Result<u32, Diagnostic> {
        let value = scope.eval(self.file, &attr.value)?;
        number_u32(&value)
            .ok_or_else(|| self.type_error(&attr.value, attr.key.as_str(), "a whole number from 0 to 4294967295", &value))
    }

    /// Permission bits: `"0644"` (octal text) or a number written in octal digits.
    fn mode(&self, scope: &Scope, attr: &Attribute) -> Result<u32, Diagnostic> {
        let value = scope.eval(self.file, &attr.value)?;
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        u32::from_str_radix(text.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .ok_or_else(|| self.type_error(&attr.value, attr.key.as_str(), "octal permission bits like \"0644\"", &value))
    }

    fn duration(&self, scope: &Scope, attr: &Attribute) -> Result<i64, Diagnostic> {
        let value = scope.eval(self.file, &attr.value)?;
        value
            .as_str()
            .and_then(parse_duration)
            .ok_or_else(|| self.type_error(&attr.value, attr.key.as_str(), "a duration like \"10s\", \"1m30s\" or \"500ms\"", &value))
    }

    fn size(&self, scope: &Scope, attr: &Attribute) -> Result<i64, Diagnostic> {
        let value = scope.eval(self.file, &attr.value)?;
        let parsed = match &value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => parse_size(s),
            _ => None,
        };
        parsed.ok_or_else(|| self.type_error(&attr.value, attr.key.as_str(), "a size like \"64m\" or a number of bytes", &value))
    }

    fn absolute(&self, attr: &Attribute, path: String) -> Result<String, Diagnostic> {
        if path.starts_with('/') && path != "/" {
            Ok(path)
        } else {
            Err(self
                .error(attr.value.span(), format!("{} must be an absolute path other than /, not \"{path}\"", attr.key.as_str()))
                .with_hint("for example \"/root/.cache/pip\""))
        }
    }

    /// A user as `user.NAME`, or a name or UID as text.
    pub(super) fn user_name(&self, scope: &Scope, attr: &Attribute) -> Result<String, Diagnostic> {
        match scope.eval(self.file, &attr.value)? {
            Value::Object(o) if o.get("name").is_some_and(Value::is_string) => {
                Ok(o["name"].as_str().unwrap_or_default().to_string())
            }
            Value::String(s) if !s.is_empty() => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(self.type_error(&attr.value, attr.key.as_str(), "user.NAME or a user name", &other)),
        }
    }

    /// An owner as `user.NAME`, a UID, or `"UID:GID"`.
    fn owner(&self, scope: &Scope, attr: &Attribute) -> Result<Owner, Diagnostic> {
        let value = scope.eval(self.file, &attr.value)?;
        let owner = match &value {
            Value::Object(o) => o.get("name").and_then(Value::as_str).map(|name| Owner::User(name.to_string())),
            Value::Number(_) => number_u32(&value).map(|uid| Owner::Ids { uid, gid: uid }),
            Value::String(s) => match s.split_once(':') {
                Some((u, g)) => u.parse().ok().zip(g.parse().ok()).map(|(uid, gid)| Owner::Ids { uid, gid }),
                None => s.parse().ok().map(|uid| Owner::Ids { uid, gid: uid }),
            },
            _ => None,
        };
        owner.ok_or_else(|| self.type_error(&attr.value, attr.key.as_str(), "user.NAME, a UID or \"UID:GID\"", &value))
    }

    /// Where a copy or bind reads from: `stage.NAME`, or an image reference.
    pub(super) fn source(&self, scope: &Scope, attr: &Attribute) -> Result<Source, Diagnostic> {
        match scope.eval(self.file, &attr.value)? {
            Value::Object(o) if o.get("stage").is_some_and(Value::is_string) => {
                Ok(Source::Stage(o["stage"].as_str().unwrap_or_default().to_string()))
            }
            Value::String(s) if s == "context" => Ok(Source::Context),
            Value::String(s) if !s.trim().is_empty() => Ok(Source::Image(s)),
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
            number_u32(value).ok_or_else(|| {
                self.error(block.span(), format!("{var} must be a whole number, not {}", describe(value)))
                    .with_hint(format!("pass --build-arg {var}=$(id -u)"))
            })
        };
        let mut user = User {
            home: format!("/home/{name}"),
            shell: "/bin/sh".into(),
            uid: host_id(0)?,
            gid: host_id(1)?,
            groups: Vec::new(),
            uid_from_host: block.body.get_attribute("uid").is_none(),
            gid_from_host: block.body.get_attribute("gid").is_none(),
            name,
            pos: self.pos(block.span()),
        };
        let mut allow_root = false;
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "uid" => user.uid = self.id(scope, attr)?,
                "gid" => user.gid = self.id(scope, attr)?,
                "home" => user.home = self.absolute(attr, self.string(scope, attr)?)?,
                "shell" => user.shell = self.string(scope, attr)?,
                "groups" => user.groups = self.list(scope, attr)?,
                _ => allow_root = self.boolean(scope, attr)?,
            }
        }
        if user.uid == 0 && !allow_root {
            return Err(self
                .error(block.span(), format!("user \"{}\" would have UID 0, which is root", user.name))
                .with_hint("leave uid unset (HOST_UID, default 1000), pick a non-zero UID, or set allow_root = true"));
        }
        Ok(user)
    }

    fn stage(&self, block: &Block, scope: &Scope) -> Result<Stage, Diagnostic> {
        let kind = if block.has_ident("image") { StageKind::Image } else { StageKind::Stage };
        let what = kind_word(kind);
        let name = self.one_label(block, what)?;
        let context = format!("{what} \"{name}\"");
        self.check_names(&block.body, &context, STAGE_ATTRS, STAGE_BLOCKS)?;
        let Some(from) = block.body.get_attribute("from") else {
            return Err(self
                .error(block.span(), format!("{context} has no \"from\""))
                .with_hint("set from = \"IMAGE\", from = stage.NAME or from = \"scratch\""));
        };
        let from = match self.source(scope, from)? {
            Source::Image(s) if s == "scratch" => Base::Scratch,
            Source::Image(s) => Base::Image(s),
            Source::Stage(s) => Base::Stage(s),
            Source::Context => {
                return Err(self.error(from.value.span(), "a stage cannot be built from the context").with_hint("copy it in instead"))
            }
        };
        let mut stage = Stage { name, kind, from, steps: Vec::new(), settings: ImageSettings::default(), pos: self.pos(block.span()) };
        for structure in block.body.iter() {
            match structure {
                Structure::Attribute(attr) => self.setting(&mut stage.settings, scope, attr)?,
                Structure::Block(b) if b.has_ident("run") => stage.steps.push(Step::Run(self.run(b, scope)?)),
                Structure::Block(b) if b.has_ident("copy") => stage.steps.push(Step::Copy(self.copy(b, scope)?)),
                Structure::Block(b) if PRESETS.contains(&b.ident.as_str()) => {
                    let expansion = self.preset(b, scope)?;
                    stage.steps.extend(expansion.steps);
                    stage.settings.env.extend(expansion.env);
                }
                Structure::Block(b) => {
                    if stage.settings.healthcheck.is_some() {
                        return Err(self.error(b.span(), format!("{context} has two healthchecks")));
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
            "env" => s.env = self.map(scope, attr)?,
            "workdir" => s.workdir = Some(self.string(scope, attr)?),
            "cmd" => s.cmd = Some(self.list(scope, attr)?),
            "entrypoint" => s.entrypoint = Some(self.list(scope, attr)?),
            "labels" => s.labels = self.map(scope, attr)?.into_iter().collect(),
            "user" => s.user = Some(self.user_name(scope, attr)?),
            "expose" => {
                s.expose = self
                    .list(scope, attr)?
                    .into_iter()
                    .map(|p| port_spec(&p).ok_or(p))
                    .collect::<Result<_, String>>()
                    .map_err(|p| {
                        self.error(attr.value.span(), format!("\"{p}\" is not a port"))
                            .with_hint("write 8000, \"8000/tcp\" or \"53/udp\"")
                    })?
            }
            "volumes" => s.volumes = self.list(scope, attr)?,
            "stop_signal" => s.stop_signal = Some(self.string(scope, attr)?),
            "source_url" => s.source_url = Some(self.string(scope, attr)?),
            "revision" => s.revision = Some(self.string(scope, attr)?),
            _ => s.on_start = self.strings(scope, attr)?,
        }
        Ok(())
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
            pos: self.pos(block.span()),
        };
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "command" => {}
                "env" => run.env = self.map(scope, attr)?,
                "workdir" => run.workdir = Some(self.string(scope, attr)?),
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
        let target = |name: &str| -> Result<Option<String>, Diagnostic> {
            attr(name).map(|a| self.string(scope, a).and_then(|p| self.absolute(a, p))).transpose()
        };
        let owner = attr("owner").map(|a| self.owner(scope, a)).transpose()?;
        Ok(match kind {
            "cache" => RunMount::Cache {
                target: self.absolute(required("target")?, self.string(scope, required("target")?)?)?,
                id: attr("id").map(|a| self.string(scope, a)).transpose()?,
                sharing: attr("sharing").map(|a| self.sharing(scope, a)).transpose()?,
                owner,
                mode: attr("mode").map(|a| self.mode(scope, a)).transpose()?.unwrap_or(0o755),
            },
            "bind" => {
                let source = self.string(scope, required("source")?)?;
                let from = attr("from").map(|a| self.source(scope, a)).transpose()?.unwrap_or(Source::Context);
                if from == Source::Context && source.split('/').any(|p| p == "..") {
                    return Err(self.error(block.span(), format!("bind source \"{source}\" leaves the build context")));
                }
                RunMount::Bind {
                    from,
                    source,
                    target: target("target")?,
                    rw: attr("rw").map(|a| self.boolean(scope, a)).transpose()?.unwrap_or(false),
                }
            }
            "secret" => {
                let id = self.string(scope, required("id")?)?;
                let env = attr("env").map(|a| self.string(scope, a)).transpose()?;
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
                target: self.absolute(required("target")?, self.string(scope, required("target")?)?)?,
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
                "source" => copy.sources = self.strings(scope, attr)?,
                "dest" => copy.dest = self.string(scope, attr)?,
                "from" => copy.from = self.source(scope, attr)?,
                "chown" => copy.owner = Some(self.owner(scope, attr)?),
                "mode" => copy.mode = Some(self.mode(scope, attr)?),
                "include" => copy.include = self.list(scope, attr)?,
                "exclude" => copy.exclude = self.list(scope, attr)?,
                _ => copy.link = self.boolean(scope, attr)?,
            }
        }
        if copy.sources.is_empty() {
            return Err(self.error(block.span(), "copy has no \"source\"").with_hint("set source = \"PATH\" (or a list of paths)"));
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

    fn healthcheck(&self, block: &Block, scope: &Scope) -> Result<Healthcheck, Diagnostic> {
        self.no_label(block, "healthcheck")?;
        self.check_names(&block.body, "healthcheck", HEALTHCHECK_ATTRS, &[])?;
        let Some(test) = block.body.get_attribute("test") else {
            return Err(self.error(block.span(), "healthcheck has no \"test\"").with_hint("set test = [\"CMD\", \"curl\", \"-f\", \"http://localhost/\"]"));
        };
        let test = match scope.eval(self.file, &test.value)? {
            Value::String(line) => vec!["CMD-SHELL".to_string(), line],
            Value::Array(_) => {
                let args = self.list(scope, test)?;
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
                _ => check.retries = i64::from(self.id(scope, attr)?),
            }
        }
        Ok(check)
    }

    fn variant(&self, block: &Block, scope: &Scope, stages: &[Stage]) -> Result<Variant, Diagnostic> {
        let name = self.one_label(block, "variant")?;
        self.check_names(&block.body, &format!("variant \"{name}\""), VARIANT_ATTRS, &[])?;
        let default_image = stages.iter().rev().find(|s| s.kind == StageKind::Image).map(|s| s.name.clone());
        let mut variant = Variant {
            image: default_image.unwrap_or_default(),
            // The conventional names come with their conventional meaning.
            source: if name == "dev" { SourceMode::Mount } else { SourceMode::Copy },
            uid: (name == "ci").then_some(CI_UID),
            gid: None,
            name,
            pos: self.pos(block.span()),
        };
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "image" => match self.source(scope, attr)? {
                    Source::Stage(s) => variant.image = s,
                    _ => return Err(self.error(attr.value.span(), "image must be image.NAME")),
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
                _ => variant.gid = Some(self.id(scope, attr)?),
            }
        }
        match stages.iter().find(|s| s.name == variant.image) {
            Some(s) if s.kind == StageKind::Image => Ok(variant),
            _ => Err(self
                .error(block.span(), format!("variant \"{}\" has no image to vary", variant.name))
                .with_hint("declare an image block, or set image = image.NAME")),
        }
    }

    /// Stage references exist and form no cycle; users named by images exist.
    fn check_graph(&self, spec: &Spec) -> Result<(), Diagnostic> {
        let at = |pos: Pos, msg: String| Diagnostic::at_line(self.file, pos.line, pos.column, msg);
        let unknown_stage = |stage: &Stage, pos: Pos, name: &str| {
            at(pos, format!("{} \"{}\" uses unknown stage \"{name}\"", kind_word(stage.kind), stage.name))
                .with_hint(format!("the spec has: {}", spec.stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")))
        };
        for stage in &spec.stages {
            for (pos, name) in stage_uses(stage) {
                if spec.stage(name).is_none() {
                    return Err(unknown_stage(stage, pos, name));
                }
            }
            let users = stage.settings.user.iter().map(|u| (stage.pos, u)).chain(stage.steps.iter().filter_map(|step| match step {
                Step::Run(run) => run.user.as_ref().map(|u| (run.pos, u)),
                Step::Copy(_) => None,
            }));
            for (pos, user) in users {
                if spec.user(user).is_none() && user.parse::<u32>().is_err() && user != "root" {
                    return Err(at(pos, format!("unknown user \"{user}\"")).with_hint("declare it with a user block, or use root or a UID"));
                }
            }
        }
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
            Step::Copy(_) => {}
        }
    }
    uses
}

/// A chain of stages that leads back to its start, if any.
fn find_cycle(spec: &Spec) -> Option<Vec<String>> {
    fn visit<'a>(spec: &'a Spec, name: &'a str, path: &mut Vec<&'a str>, done: &mut Vec<&'a str>) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| *n == name) {
            let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
            cycle.push(name.to_string());
            return Some(cycle);
        }
        if done.contains(&name) {
            return None;
        }
        path.push(name);
        let stage = spec.stage(name)?;
        for (_, used) in stage_uses(stage) {
            if let Some(cycle) = visit(spec, used, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.push(name);
        None
    }
    let mut done = Vec::new();
    spec.stages.iter().find_map(|s| visit(spec, &s.name, &mut Vec::new(), &mut done))
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
    let text = command.display();
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
