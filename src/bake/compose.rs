//! Compose files as bake sees them: every service with `build:` becomes a
//! target (plus its `x-bake` extension), all of them form the `default` group.
//! There are no variables or functions here, only `${VAR:-default}` interpolation.

use std::collections::BTreeMap;

use serde_json::Value;

use super::evaluate::{parse_cache, parse_output, secrets_from, ssh_from};
use super::model::{Attrs, Config, Group, Target};
use crate::hcl::SourceFile;

/// Compose interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
/// `${VAR:?err}`/`${VAR?err}` (errors when unset).
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
            let end = r.find('}').ok_or_else(|| format!("invalid interpolation format for {text:?}"))?;
            let expr = &r[..end];
            rest = &r[end + 1..];
            let name_len = expr.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(expr.len());
            let (name, op) = expr.split_at(name_len);
            let value = lookup(name);
            let text = match op {
                "" => value.unwrap_or_default(),
                _ if op.starts_with(":-") => value.filter(|v| !v.is_empty()).unwrap_or_else(|| op[2..].to_string()),
                _ if op.starts_with('-') => value.unwrap_or_else(|| op[1..].to_string()),
                _ if op.starts_with(":+") => value.filter(|v| !v.is_empty()).map(|_| op[2..].to_string()).unwrap_or_default(),
                _ if op.starts_with('+') => value.map(|_| op[1..].to_string()).unwrap_or_default(),
                _ if op.starts_with(":?") => value.filter(|v| !v.is_empty()).ok_or_else(|| format!("required variable {name} is missing a value: {}", &op[2..]))?,
                _ if op.starts_with('?') => value.ok_or_else(|| format!("required variable {name} is missing a value: {}", &op[1..]))?,
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

fn interpolate_all(v: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    match v {
        Value::String(s) => *s = interpolate(s, lookup)?,
        Value::Array(items) => items.iter_mut().try_for_each(|i| interpolate_all(i, lookup))?,
        Value::Object(map) => map.values_mut().try_for_each(|i| interpolate_all(i, lookup))?,
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

fn to_hcl(v: &Value) -> hcl::Value {
    crate::hcl::functions::from_json(v.clone())
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

/// How interpolation reads a name: `vars` (the last of a name), then `env`,
/// then the `.env` file in `cwd`.
pub(crate) fn lookup<'a>(
    cwd: &std::path::Path,
    env: &'a dyn Fn(&str) -> Option<String>,
    vars: &'a [(String, String)],
) -> impl Fn(&str) -> Option<String> + 'a {
    let dotenv = std::fs::read_to_string(cwd.join(".env")).map(|t| dotenv(&t)).unwrap_or_default();
    move |name: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| env(name))
            .or_else(|| dotenv.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }
}

/// The Compose files, each interpolated, merged in order.
pub(crate) fn merged(files: &[(SourceFile, Value)], lookup: &dyn Fn(&str) -> Option<String>) -> Result<Value, String> {
    let mut merged = Value::Object(Default::default());
    for (file, yaml) in files {
        let mut yaml = yaml.clone();
        interpolate_all(&mut yaml, lookup).map_err(|e| format!("{}: {e}", file.name))?;
        merge_yaml(&mut merged, &yaml);
    }
    Ok(merged)
}

/// Targets and the `default` group from the Compose files, merged in order.
/// Interpolation reads `--var`, then the environment, then `.env` in `cwd`.
pub fn targets(
    files: &[(SourceFile, Value)],
    cwd: &std::path::Path,
    env: &dyn Fn(&str) -> Option<String>,
    vars: &[(String, String)],
) -> Result<Config, String> {
    let mut config = Config::default();
    if files.is_empty() {
        return Ok(config);
    }
    let lookup = lookup(cwd, env, vars);
    let merged = merged(files, &lookup)?;
    let secrets = merged.get("secrets").cloned().unwrap_or(Value::Null);
    let Some(Value::Object(services)) = merged.get("services") else { return Ok(config) };
    let mut names: Vec<&String> = services.keys().collect();
    names.sort();
    let mut group = Group { name: "default".into(), ..Group::default() };
    for name in names {
        let service = &services[name];
        let Some(build) = service.get("build") else { continue };
        let target_name = name.replace('.', "_");
        let mut t = Target { name: target_name.clone(), ..Target::default() };
        match build {
            Value::String(context) => t.context = Some(context.clone()),
            Value::Object(b) => {
                t.context = Some(b.get("context").and_then(text).unwrap_or_else(|| ".".into()));
                t.dockerfile = b.get("dockerfile").and_then(text);
                t.dockerfile_inline = b.get("dockerfile_inline").and_then(text);
                t.args = key_values(b.get("args"))
                    .into_iter()
                    .map(|(k, v)| {
                        let v = v.or_else(|| lookup(&k));
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
                t.no_cache = b.get("no_cache").and_then(Value::as_bool);
                t.pull = b.get("pull").and_then(Value::as_bool);
                if let Some(Value::Object(contexts)) = b.get("additional_contexts") {
                    for (k, v) in contexts {
                        let v = text(v).unwrap_or_default();
                        let v = match v.strip_prefix("service:") {
                            Some(s) => format!("target:{s}"),
                            None => v,
                        };
                        t.contexts.insert(k.clone(), v);
                    }
                }
                if let Some(ssh) = strings(b.get("ssh")) {
                    t.ssh = ssh_from(&hcl::Value::from(ssh))?;
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
            }
            _ => return Err(format!("service {name}: build must be a string or a mapping")),
        }
        if t.tags.as_ref().is_none_or(Vec::is_empty) {
            if let Some(image) = service.get("image").and_then(text) {
                t.tags = Some(vec![image]);
            }
        }
        if let Some(Value::Object(x)) = build.get("x-bake").or_else(|| service.get("x-bake")) {
            let mut extra = Target { name: target_name.clone(), ..Target::default() };
            extra.tags = strings(x.get("tags"));
            extra.cache_from = attrs(x.get("cache-from"), parse_cache)?;
            extra.cache_to = attrs(x.get("cache-to"), parse_cache)?;
            extra.platforms = strings(x.get("platforms"));
            extra.output = attrs(x.get("output"), parse_output)?;
            extra.no_cache_filter = strings(x.get("no-cache-filter"));
            extra.pull = x.get("pull").and_then(Value::as_bool);
            extra.no_cache = x.get("no-cache").and_then(Value::as_bool);
            if let Some(secret) = strings(x.get("secret")) {
                extra.secret = secrets_from(&hcl::Value::from(secret))?;
            }
            if let Some(ssh) = x.get("ssh") {
                extra.ssh = ssh_from(&to_hcl(&Value::Array(strings(Some(ssh)).unwrap_or_default().into_iter().map(Value::String).collect())))?;
            }
            if let Some(Value::Object(contexts)) = x.get("contexts") {
                for (k, v) in contexts {
                    extra.contexts.insert(k.clone(), text(v).unwrap_or_default());
                }
            }
            // x-bake values replace the build section's (tags, platforms, cache-to, output).
            if extra.cache_from.is_some() {
                t.cache_from = None;
            }
            t.merge(&extra);
        }
        group.targets.push(target_name);
        config.targets.push(t);
    }
    if !group.targets.is_empty() {
        config.groups.push(group);
    }
    Ok(config)
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
        assert!(interpolate("${B:?missing}", &env).is_err());
    }
}
