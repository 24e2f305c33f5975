//! Compose files as bake sees them: every service with `build:` becomes a
//! target (plus its `x-bake` extension), all of them form the `default` group.
//! There are no variables or functions here, only `${VAR:-default}` interpolation.

use std::collections::BTreeMap;

use serde_json::Value;

use super::evaluate::{parse_attest, parse_cache, parse_output, secrets_from, ssh_from};
use super::model::{Attrs, Config, Group, Target};
use super::BakeError;
use crate::hcl::{Diagnostic, SourceFile};

/// Compose interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
/// `${VAR:+alt}`, `${VAR:?err}`/`${VAR?err}` (errors when unset); defaults may
/// hold interpolations themselves (`${A:-${B}}`).
pub fn interpolate(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = rest.strip_prefix('{') {
            let end = closing_brace(r).ok_or_else(|| format!("invalid interpolation format for {text:?}"))?;
            let expr = &r[..end];
            rest = &r[end + 1..];
            let name_len = expr.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(expr.len());
            let (name, op) = expr.split_at(name_len);
            let value = lookup(name);
            let set = value.as_deref().is_some_and(|v| !v.is_empty());
            let word = |skip: usize| interpolate(&op[skip..], lookup);
            let required = |skip: usize| -> Result<String, String> {
                let message = word(skip)?;
                Err(match message.is_empty() {
                    true => format!("required variable {name} is missing a value"),
                    false => format!("required variable {name} is missing a value: {message}"),
                })
            };
            let text = match op {
                "" => value.unwrap_or_default(),
                _ if op.starts_with(":-") => if set { value.unwrap_or_default() } else { word(2)? },
                _ if op.starts_with('-') => match value {
                    Some(v) => v,
                    None => word(1)?,
                },
                _ if op.starts_with(":+") => if set { word(2)? } else { String::new() },
                _ if op.starts_with('+') => if value.is_some() { word(1)? } else { String::new() },
                _ if op.starts_with(":?") => if set { value.unwrap_or_default() } else { required(2)? },
                _ if op.starts_with('?') => match value {
                    Some(v) => v,
                    None => required(1)?,
                },
                _ => return Err(format!("invalid interpolation format for {text:?}")),
            };
            out.push_str(&text);
        } else {
            let name_len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            if name_len == 0 {
                out.push('$');
                continue;
            }
            out.push_str(&lookup(&rest[..name_len]).unwrap_or_default());
            rest = &rest[name_len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Where the `}` closing an interpolation is, past any nested `${…}`.
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' if i > 0 && bytes[i - 1] == b'$' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Interpolates every string value (keys are left alone); an error names the
/// value's path (`services.a.build.args.X`), as compose-go does.
fn interpolate_all(v: &mut Value, path: &mut Vec<String>, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(), (String, String)> {
    match v {
        Value::String(s) => {
            let original = s.clone();
            *s = interpolate(s, lookup).map_err(|e| (original, format!("error while interpolating {}: {e}", path.join("."))))?
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(format!("[{i}]"));
                interpolate_all(item, path, lookup)?;
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                path.push(k.clone());
                interpolate_all(item, path, lookup)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// Later files override earlier ones key by key (maps merge, everything else replaces).
fn merge_yaml(into: &mut Value, later: &Value) {
    match (into, later) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(existing) => merge_yaml(existing, v),
                    None => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (into, later) => *into = later.clone(),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A Compose map, or a list of `KEY=VALUE` (a bare `KEY` has no value).
fn key_values(v: Option<&Value>) -> BTreeMap<String, Option<String>> {
    match v {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(text)
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (item, None),
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// A list of strings; in `x-bake`, a single string splits on whitespace.
fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::Array(items) => Some(items.iter().filter_map(text).collect()),
        Value::String(s) => Some(s.split_whitespace().map(str::to_string).collect()),
        _ => None,
    }
}

fn attrs(v: Option<&Value>, parse: fn(&str) -> Result<Vec<Attrs>, String>) -> Result<Option<Vec<Attrs>>, String> {
    let Some(list) = strings(v) else { return Ok(None) };
    Ok(Some(list.iter().map(|s| parse(s)).collect::<Result<Vec<_>, _>>()?.concat()))
}


/// Targets and the `default` group from the Compose files, merged in order.
/// `KEY=VALUE` lines of a `.env` file (comments, blank lines and `export ` skipped,
/// matching quotes removed).
fn dotenv(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let unquoted = ['"', '\''].iter().find_map(|q| v.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)));
            (k.trim().to_string(), unquoted.unwrap_or(v).to_string())
        })
        .collect()
}

/// How interpolation reads a name: `vars` (the last of a name), then `env`
/// (unless `BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP` turns it off), then the
/// `.env` file in `cwd`.
pub(crate) fn lookup<'a>(
    cwd: &std::path::Path,
    env: &'a dyn Fn(&str) -> Option<String>,
    vars: &'a [(String, String)],
) -> impl Fn(&str) -> Option<String> + 'a {
    let dotenv = std::fs::read_to_string(cwd.join(".env")).map(|t| dotenv(&t)).unwrap_or_default();
    let env_allowed = super::evaluate::env_lookup_allowed(env);
    move |name: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| env(name).filter(|_| env_allowed))
            .or_else(|| dotenv.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }
}

/// The Compose files, each interpolated, merged in order; an interpolation
/// error names the value's path and where the value is written.
pub(crate) fn merged(files: &[(SourceFile, Value)], lookup: &dyn Fn(&str) -> Option<String>) -> Result<Value, Diagnostic> {
    let mut merged = Value::Object(Default::default());
    for (file, yaml) in files {
        let mut yaml = yaml.clone();
        interpolate_all(&mut yaml, &mut Vec::new(), lookup).map_err(|(value, e)| {
            let (line, column) = file.text.find(&value).map(|at| file.position(at)).unwrap_or((1, 1));
            Diagnostic::at_line(file, line, column, e)
        })?;
        merge_yaml(&mut merged, &yaml);
    }
    Ok(merged)
}

/// Targets and the `default` group from the Compose files, merged in order.
/// Interpolation reads `--var`, then the environment (unless variables may not
/// read it), then `.env` in `cwd`. Every profile is enabled; `extends` and
/// `env_file` are followed; `x-bake` is read from `build`, as buildx does.
pub fn targets(
    files: &[(SourceFile, Value)],
    cwd: &std::path::Path,
    env: &dyn Fn(&str) -> Option<String>,
    vars: &[(String, String)],
) -> Result<Config, BakeError> {
    if files.is_empty() {
        return Ok(Config::default());
    }
    let lookup = lookup(cwd, env, vars);
    let merged = merged(files, &lookup).map_err(BakeError::ComposeValue)?;
    services_targets(&merged, cwd, &lookup).map_err(BakeError::Compose)
}

/// The targets of the merged, interpolated Compose files.
fn services_targets(merged: &Value, cwd: &std::path::Path, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
    let mut config = Config::default();
    let secrets = merged.get("secrets").cloned().unwrap_or(Value::Null);
    let Some(Value::Object(services)) = merged.get("services") else { return Ok(config) };
    let mut names: Vec<&String> = services.keys().collect();
    names.sort();
    let mut group = Group { name: "default".into(), ..Group::default() };
    for name in names {
        let service = extended(services, name, cwd)?;
        // Every service's env files are read, built or not.
        let service_env = service_environment(&service, cwd)?;
        let Some(build) = service.get("build") else { continue };
        let target_name = name.replace('.', "_");
        let mut t = Target { name: target_name.clone(), ..Target::default() };
        match build {
            Value::String(context) => t.context = Some(context.clone()),
            Value::Object(b) => {
                t.context = Some(b.get("context").and_then(text).unwrap_or_else(|| ".".into()));
                t.dockerfile = b.get("dockerfile").and_then(text);
                t.dockerfile_inline = b.get("dockerfile_inline").and_then(text);
                // An arg without a value comes from the service's environment, then the project's.
                t.args = key_values(b.get("args"))
                    .into_iter()
                    .map(|(k, v)| {
                        let v = v.or_else(|| service_env.get(&k).cloned().flatten()).or_else(|| lookup(&k));
                        (k, v)
                    })
                    .collect();
                t.labels = key_values(b.get("labels"));
                t.tags = strings(b.get("tags"));
                t.cache_from = attrs(b.get("cache_from"), parse_cache)?;
                t.cache_to = attrs(b.get("cache_to"), parse_cache)?;
                t.platforms = strings(b.get("platforms"));
                t.target = b.get("target").and_then(text);
                t.network = b.get("network").and_then(text);
                t.shm_size = b.get("shm_size").and_then(text);
                t.extra_hosts = key_values(b.get("extra_hosts"));
                t.no_cache = b.get("no_cache").and_then(Value::as_bool).filter(|v| *v);
                t.pull = b.get("pull").and_then(Value::as_bool).filter(|v| *v);
                let mut attests = Vec::new();
                for kind in ["sbom", "provenance"] {
                    if let Some(attest) = b.get(kind).and_then(text).and_then(|v| super::canonical_attest(kind, &v)) {
                        attests.extend(parse_attest(&attest)?);
                    }
                }
                t.attest = Some(attests).filter(|a| !a.is_empty());
                if let Some(Value::Object(contexts)) = b.get("additional_contexts") {
                    t.contexts = named_contexts(contexts);
                }
                if let Some(ssh) = strings(b.get("ssh")) {
                    t.ssh = ssh_from(&hcl::Value::from(ssh))?;
                    sort_ssh(&mut t);
                }
                if let Some(Value::Array(used)) = b.get("secrets") {
                    let mut list = Vec::new();
                    for s in used {
                        let id = text(s).or_else(|| s.get("source").and_then(text)).unwrap_or_default();
                        let def = secrets.get(&id).ok_or_else(|| format!("service {name} refers to undefined build secret {id}"))?;
                        if def.get("external").and_then(Value::as_bool) == Some(true) {
                            return Err(format!("unsupported external secret {id}"));
                        }
                        let entry = match (def.get("file").and_then(text), def.get("environment").and_then(text)) {
                            (Some(f), _) => format!("id={id},src={f}"),
                            (None, Some(e)) => format!("id={id},type=env,env={e}"),
                            _ => return Err(format!("secret {id} has neither file nor environment")),
                        };
                        list.push(entry);
                    }
                    t.secret = secrets_from(&hcl::Value::from(list))?;
                }
                if let Some(Value::Object(x)) = b.get("x-bake") {
                    extension(&mut t, x)?;
                }
            }
            _ => return Err(format!("service {name}: build must be a string or a mapping")),
        }
        if t.tags.as_ref().is_none_or(Vec::is_empty) {
            if let Some(image) = service.get("image").and_then(text) {
                t.tags = Some(vec![image]);
            }
        }
        group.targets.push(target_name);
        config.targets.push(t);
    }
    if !group.targets.is_empty() {
        config.groups.push(group);
    }
    Ok(config)
}

/// A service with what it `extends` merged under it (the chain followed, a
/// cycle an error); `extends.file` names another Compose file, relative to `cwd`.
fn extended(services: &serde_json::Map<String, Value>, name: &str, cwd: &std::path::Path) -> Result<Value, String> {
    let mut chain: Vec<(String, Option<String>)> = vec![(name.to_string(), None)];
    let mut layers = vec![services[name].clone()];
    let mut other_files: Vec<serde_json::Map<String, Value>> = Vec::new();
    loop {
        let current = layers.last().expect("one at least");
        let Some(extends) = current.get("extends") else { break };
        let (base, file) = match extends {
            Value::String(base) => (base.clone(), chain.last().and_then(|c| c.1.clone())),
            Value::Object(e) => (e.get("service").and_then(text).unwrap_or_default(), e.get("file").and_then(text)),
            _ => return Err(format!("service {name}: extends must be a service name or a mapping")),
        };
        if chain.iter().any(|(n, f)| *n == base && *f == file) {
            let mut message = format!("Circular reference: \n {} in ", chain[0].0);
            for (n, _) in chain.iter().skip(1).chain(std::iter::once(&(base.clone(), None))) {
                message.push_str(&format!("\n  extends {n} in "));
            }
            return Err(message);
        }
        let pool = match &file {
            None => services,
            Some(f) => {
                let text = std::fs::read_to_string(cwd.join(f)).map_err(|e| format!("cannot read {f}, extended by service {name}: {e}"))?;
                let yaml: Value = serde_yaml_ng::from_str(&text).map_err(|e| format!("{f}: invalid compose file: {e}"))?;
                let Some(Value::Object(s)) = yaml.get("services").cloned() else {
                    return Err(format!("cannot extend service {:?} in {f}: service {base:?} not found", chain.last().expect("one").0));
                };
                other_files.push(s);
                other_files.last().expect("pushed")
            }
        };
        let Some(found) = pool.get(&base) else {
            return Err(format!("cannot extend service {:?} in {}: service {base:?} not found", chain.last().expect("one").0, file.unwrap_or_default()));
        };
        layers.push(found.clone());
        chain.push((base, file));
    }
    let mut merged = layers.pop().expect("one at least");
    while let Some(layer) = layers.pop() {
        merge_yaml(&mut merged, &layer);
    }
    if let Value::Object(m) = &mut merged {
        m.remove("extends");
    }
    Ok(merged)
}

/// A service's `env_file`s (in order, later ones winning), then its
/// `environment` on top; a name without a value is `None`.
fn service_environment(service: &Value, cwd: &std::path::Path) -> Result<BTreeMap<String, Option<String>>, String> {
    let mut out = BTreeMap::new();
    let env_files: Vec<(String, bool)> = match service.get("env_file") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(path)) => vec![(path.clone(), true)],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(path) => Some((path.clone(), true)),
                Value::Object(o) => Some((o.get("path").and_then(text)?, o.get("required").and_then(Value::as_bool).unwrap_or(true))),
                _ => None,
            })
            .collect(),
        Some(_) => return Err("env_file must be a path or a list of paths".into()),
    };
    for (path, required) in env_files {
        match std::fs::read_to_string(cwd.join(&path)) {
            Ok(text) => out.extend(dotenv(&text).into_iter().map(|(k, v)| (k, Some(v)))),
            Err(_) if !required => {}
            Err(_) => return Err(format!("env file {path} not found: stat {path}: no such file or directory")),
        }
    }
    out.extend(key_values(service.get("environment")));
    Ok(out)
}

/// Named contexts; `service:x` and `target:x` name the target of service x.
fn named_contexts(contexts: &serde_json::Map<String, Value>) -> BTreeMap<String, String> {
    contexts
        .iter()
        .map(|(k, v)| {
            let v = text(v).unwrap_or_default();
            let v = match v.strip_prefix("service:").or_else(|| v.strip_prefix("target:")) {
                Some(s) => format!("target:{}", s.replace('.', "_")),
                None => v,
            };
            (k.clone(), v)
        })
        .collect()
}

/// SSH entries in buildx's order for Compose: by id, then paths.
fn sort_ssh(t: &mut Target) {
    if let Some(list) = &mut t.ssh {
        list.sort_by(|a, b| a.id.cmp(&b.id).then_with(|| a.paths.cmp(&b.paths)));
    }
}

/// `build.x-bake`: fields Compose lacks, added to what `build` says (lists
/// appended and deduplicated, entries merged, maps merged), as buildx's `composeExtTarget`.
fn extension(t: &mut Target, x: &serde_json::Map<String, Value>) -> Result<(), String> {
    fn append(into: &mut Option<Vec<String>>, more: Option<Vec<String>>) {
        if let Some(more) = more.filter(|m| !m.is_empty()) {
            let list = into.get_or_insert_with(Vec::new);
            for m in more {
                if !list.contains(&m) {
                    list.push(m);
                }
            }
        }
    }
    append(&mut t.tags, strings(x.get("tags")));
    append(&mut t.platforms, strings(x.get("platforms")));
    append(&mut t.no_cache_filter, strings(x.get("no-cache-filter")));
    let mut later = Target { cache_from: attrs(x.get("cache-from"), parse_cache)?.filter(|l| !l.is_empty()), ..Target::default() };
    if let Some(cache_to) = attrs(x.get("cache-to"), parse_cache)?.filter(|l| !l.is_empty()) {
        t.cache_to.get_or_insert_with(Vec::new).extend(cache_to);
    }
    if let Some(output) = attrs(x.get("output"), parse_output)?.filter(|l| !l.is_empty()) {
        t.output.get_or_insert_with(Vec::new).extend(output);
    }
    if let Some(secret) = strings(x.get("secret")).filter(|l| !l.is_empty()) {
        later.secret = secrets_from(&hcl::Value::from(secret))?;
    }
    let ssh = strings(x.get("ssh")).filter(|l| !l.is_empty());
    if let Some(ssh) = &ssh {
        later.ssh = ssh_from(&hcl::Value::from(ssh.clone()))?;
    }
    later.pull = x.get("pull").and_then(Value::as_bool);
    later.no_cache = x.get("no-cache").and_then(Value::as_bool);
    if let Some(Value::Object(contexts)) = x.get("contexts") {
        later.contexts = named_contexts(contexts);
    }
    t.merge(&later);
    if ssh.is_some() {
        sort_ssh(t);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines() {
        assert_eq!(dotenv("# c\nA=1\nexport B=\"two\"\n\nC='3'\n"), vec![("A".into(), "1".into()), ("B".into(), "two".into()), ("C".into(), "3".into())]);
    }

    #[test]
    fn interpolation_follows_compose() {
        let env = |k: &str| (k == "A").then(|| "a".to_string());
        assert_eq!(interpolate("${A}-${B:-b}-$A-$$A-${B-x}", &env).unwrap(), "a-b-a-$A-x");
        assert_eq!(interpolate("${B:-${A}-${C:-c}}/${A:+alt}", &env).unwrap(), "a-c/alt");
        assert_eq!(interpolate("${B:?missing}", &env).unwrap_err(), "required variable B is missing a value: missing");
        assert_eq!(interpolate("${B?}", &env).unwrap_err(), "required variable B is missing a value");
    }
}
