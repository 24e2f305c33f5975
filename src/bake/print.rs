//! `--print` and `--list`, byte for byte as buildx writes them.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::{json, Map, Value};

use super::model::{Attest, Attrs, Config, Group, Policy, Resources, Target};
use super::resolve::Selection;

/// buildx re-escapes `${` and `%{` in these fields so the output reads back as a bake file.
fn escape_template(s: &str) -> String {
    s.replace("${", "$${").replace("%{", "%%{")
}

fn attrs_list(list: &[Attrs]) -> Value {
    Value::Array(list.iter().map(|a| Value::Object(a.iter().map(|(k, v)| (k.clone(), json!(v))).collect())).collect())
}

fn string_map(map: &BTreeMap<String, Option<String>>, escape: bool) -> Option<Value> {
    let entries: Map<String, Value> = map
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), json!(if escape { escape_template(v) } else { v.clone() }))))
        .collect();
    (!entries.is_empty()).then_some(Value::Object(entries))
}

fn non_empty<T: serde::Serialize>(list: &Option<Vec<T>>) -> Option<Value> {
    list.as_ref().filter(|l| !l.is_empty()).map(|l| json!(l))
}

/// One target as buildx's struct marshals it: fields in struct order, empty
/// ones left out except `context` and `dockerfile`.
pub fn target_json(t: &Target) -> Value {
    let mut m = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            m.insert(key.to_string(), v);
        }
    };
    put("description", t.description.as_ref().filter(|d| !d.is_empty()).map(|d| json!(d)));
    put(
        "annotations",
        non_empty(&t.annotations).map(|_| json!(t.annotations.iter().flatten().map(|a| escape_template(a)).collect::<Vec<_>>())),
    );
    put("attest", t.attest.as_ref().filter(|l| !l.is_empty()).map(|l| Value::Array(l.iter().map(attest_json).collect())));
    put("context", t.context.as_ref().map(|c| json!(c)));
    put("contexts", (!t.contexts.is_empty()).then(|| json!(t.contexts)));
    put("dockerfile", t.dockerfile.as_ref().map(|d| json!(d)));
    put("dockerfile-inline", t.dockerfile_inline.as_ref().map(|d| json!(escape_template(d))));
    put("args", string_map(&t.args, true));
    put("labels", string_map(&t.labels, true));
    put("tags", non_empty(&t.tags));
    put("cache-from", t.cache_from.as_ref().filter(|l| !l.is_empty()).map(|l| attrs_list(l)));
    put("cache-to", t.cache_to.as_ref().filter(|l| !l.is_empty()).map(|l| attrs_list(l)));
    put("target", t.target.as_ref().map(|v| json!(v)));
    put(
        "secret",
        object_list(&t.secret, |s| {
            vec![
                ("id", (!s.id.is_empty()).then(|| json!(s.id))),
                ("src", s.src.as_ref().filter(|v| !v.is_empty()).map(|v| json!(v))),
                ("env", s.env.as_ref().filter(|v| !v.is_empty()).map(|v| json!(v))),
            ]
        }),
    );
    put(
        "ssh",
        object_list(&t.ssh, |s| {
            vec![("id", (!s.id.is_empty()).then(|| json!(s.id))), ("paths", (!s.paths.is_empty()).then(|| json!(s.paths)))]
        }),
    );
    put("platforms", non_empty(&t.platforms));
    put("output", t.output.as_ref().filter(|l| !l.is_empty()).map(|l| attrs_list(l)));
    put("pull", t.pull.map(|v| json!(v)));
    put("no-cache", t.no_cache.map(|v| json!(v)));
    put("network", t.network.as_ref().map(|v| json!(v)));
    put("no-cache-filter", non_empty(&t.no_cache_filter));
    put("shm-size", t.shm_size.as_ref().map(|v| json!(v)));
    put("ulimits", non_empty(&t.ulimits));
    put("resources", t.resources.as_ref().map(resources_json));
    put("call", t.call.as_ref().map(|v| json!(v)));
    put("entitlements", non_empty(&t.entitlements));
    put("extra-hosts", string_map(&t.extra_hosts, true));
    put("policy", t.policy.as_ref().filter(|l| !l.is_empty()).map(|l| Value::Array(l.iter().map(policy_json).collect())));
    Value::Object(m)
}

/// An attestation as buildx marshals it: its attributes, `type`, and
/// `disabled: true` only when set, keys sorted.
fn attest_json(a: &Attest) -> Value {
    let mut fields: BTreeMap<&str, Value> = a.attrs.iter().map(|(k, v)| (k.as_str(), json!(v))).collect();
    fields.insert("type", json!(a.kind));
    if a.disabled {
        fields.insert("disabled", json!(true));
    }
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// `resources` in field order, the `cpu-*` fields as numbers.
fn resources_json(r: &Resources) -> Value {
    let numbers = [("cpu-shares", r.cpu_shares), ("cpu-period", r.cpu_period), ("cpu-quota", r.cpu_quota)];
    let fields = r.entries().into_iter().map(|(k, text)| {
        let value = match numbers.iter().find(|(n, _)| *n == k) {
            Some((_, Some(n))) => json!(n),
            _ => json!(text),
        };
        (k.to_string(), value)
    });
    Value::Object(fields.collect())
}

/// A policy entry as buildx 0.36 prints it: Go's default encoding of its
/// `PolicyConfig` struct (no JSON names of its own), every field present.
fn policy_json(p: &Policy) -> Value {
    let files = (!p.files.is_empty()).then(|| p.files.iter().map(|f| json!({"Filename": f, "Data": null})).collect::<Vec<_>>());
    json!({"Files": files, "Reset": p.reset, "Disabled": p.disabled, "Strict": p.strict, "LogLevel": p.log_level})
}

fn group_json(g: &Group) -> Value {
    let mut m = Map::new();
    if let Some(d) = g.description.as_ref().filter(|d| !d.is_empty()) {
        m.insert("description".into(), json!(d));
    }
    m.insert("targets".into(), json!(g.targets));
    Value::Object(m)
}

/// JSON as Go's encoder writes it: two-space indent, `<`, `>`, `&`, U+2028 and
/// U+2029 escaped, a trailing newline.
pub fn go_json(value: &Value) -> String {
    let text = serde_json::to_string_pretty(value).expect("JSON values always serialize");
    let mut out = crate::go_json::escape_like_go(&text);
    out.push('\n');
    out
}

/// The `--print` document: the groups met (with `default` listing what was
/// asked for, sorted) and every target resolved.
pub fn print(selection: &Selection) -> String {
    let mut groups: BTreeMap<String, Value> = selection.groups.iter().map(|(n, g)| (n.clone(), group_json(g))).collect();
    let mut default: BTreeSet<String> = BTreeSet::new();
    for name in &selection.names {
        match (name.as_str(), selection.groups.get(name)) {
            ("default", Some(g)) => default.extend(g.targets.iter().cloned()),
            _ => {
                default.insert(name.clone());
            }
        }
    }
    groups.insert("default".into(), json!({ "targets": default }));
    let targets: Map<String, Value> = selection.targets.iter().map(|(n, t)| (n.clone(), target_json(t))).collect();
    let mut doc = Map::new();
    doc.insert("group".into(), Value::Object(groups.into_iter().collect()));
    doc.insert("target".into(), Value::Object(targets));
    go_json(&Value::Object(doc))
}

/// One `--list` row: a name, its columns, and what `format=json` shows.
struct Row {
    cells: Vec<String>,
    json: Value,
}

/// `--list targets`: groups and targets by name (private `_` targets hidden); a
/// group shows its members, after its description if it has one.
pub fn list_targets(config: &Config, json_format: bool) -> String {
    let mut rows: Vec<(String, Row)> = Vec::new();
    for g in &config.groups {
        let mut members = g.targets.clone();
        members.sort();
        let members = members.join(", ");
        let description = match g.description.as_deref().filter(|d| !d.is_empty()) {
            Some(d) => format!("{d} ({members})"),
            None => members,
        };
        let mut o = Map::new();
        o.insert("name".into(), json!(g.name));
        if !description.is_empty() {
            o.insert("description".into(), json!(description));
        }
        o.insert("group".into(), json!(true));
        rows.push((g.name.clone(), Row { cells: vec![g.name.clone(), description], json: Value::Object(o) }));
    }
    let group_names: HashSet<&str> = config.groups.iter().map(|g| g.name.as_str()).collect();
    for t in &config.targets {
        if t.name.starts_with('_') || group_names.contains(t.name.as_str()) {
            continue;
        }
        let description = t.description.clone().unwrap_or_default();
        let mut o = Map::new();
        o.insert("name".into(), json!(t.name));
        if !description.is_empty() {
            o.insert("description".into(), json!(description));
        }
        rows.push((t.name.clone(), Row { cells: vec![t.name.clone(), description], json: Value::Object(o) }));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    render(&["TARGET", "DESCRIPTION"], rows.into_iter().map(|(_, r)| r).collect(), json_format)
}

/// `--list variables`: name, type, value (`<null>` for null) and description.
pub fn list_variables(config: &Config, json_format: bool) -> String {
    let mut rows: Vec<(String, Row)> = config
        .variables
        .iter()
        .map(|v| {
            let value = match &v.value {
                hcl::Value::Null => None,
                hcl::Value::String(s) => Some(s.clone()),
                hcl::Value::Number(n) => Some(crate::hcl::value::format_number(n)),
                hcl::Value::Bool(b) => Some(b.to_string()),
                other => Some(serde_json::to_string(&crate::hcl::functions::json(other)).unwrap_or_default()),
            };
            let mut o = Map::new();
            o.insert("name".into(), json!(v.name));
            if let Some(t) = &v.type_name {
                o.insert("type".into(), json!(t));
            }
            if let Some(d) = v.description.as_ref().filter(|d| !d.is_empty()) {
                o.insert("description".into(), json!(d));
            }
            if let Some(value) = &value {
                o.insert("value".into(), json!(value));
            }
            let cells = vec![
                v.name.clone(),
                v.type_name.clone().unwrap_or_default(),
                value.unwrap_or_else(|| "<null>".into()),
                v.description.clone().unwrap_or_default(),
            ];
            (v.name.clone(), Row { cells, json: Value::Object(o) })
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    render(&["VARIABLE", "TYPE", "VALUE", "DESCRIPTION"], rows.into_iter().map(|(_, r)| r).collect(), json_format)
}

fn render(header: &[&str], rows: Vec<Row>, json_format: bool) -> String {
    if json_format {
        return go_json(&Value::Array(rows.into_iter().map(|r| r.json).collect()));
    }
    let mut lines = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    lines.extend(rows.into_iter().map(|r| r.cells));
    tabwriter(&lines)
}

/// Go's `tabwriter.NewWriter(w, 0, 0, 1, '\t', 0)`: every column but the last is
/// padded with tabs (8 columns wide) to its widest cell plus one.
fn tabwriter(lines: &[Vec<String>]) -> String {
    const TAB: usize = 8;
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns.saturating_sub(1))
        .map(|c| {
            let widest = lines.iter().filter_map(|l| l.get(c)).map(|s| s.chars().count()).max().unwrap_or(0);
            (widest + 1).div_ceil(TAB) * TAB
        })
        .collect();
    let mut out = String::new();
    for line in lines {
        for (c, cell) in line.iter().enumerate() {
            out.push_str(cell);
            // Every cell but a line's last ends in tabs up to its column's width.
            if let (true, Some(width)) = (c + 1 < line.len(), widths.get(c)) {
                out.push_str(&"\t".repeat((width - cell.chars().count()).div_ceil(TAB)));
            }
        }
        out.push('\n');
    }
    out
}

/// A non-empty list printed as objects that hold only their set fields, in the
/// order given (buildx omits empty ones).
fn object_list<T>(items: &Option<Vec<T>>, fields: impl Fn(&T) -> Vec<(&'static str, Option<Value>)>) -> Option<Value> {
    let items = items.as_ref().filter(|l| !l.is_empty())?;
    let objects = items
        .iter()
        .map(|item| Value::Object(fields(item).into_iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), v))).collect()))
        .collect();
    Some(Value::Array(objects))
}
