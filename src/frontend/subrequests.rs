//! Subrequests: what `docker build --call=targets|outline|check` asks instead of
//! a build, answered as the Dockerfile frontend answers them (BuildKit's
//! `frontend/subrequests`): `result.json` in the same shape, so buildx prints it
//! as it prints a Dockerfile's, `result.txt` as its own printers would, and for
//! lint `result.statuscode`.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

use crate::compile::{self, lint, PlannedMount, PlannedStep};
use crate::gateway::opts::FrontendOpts;
use crate::hcl::{Diagnostic, SourceFile};
use crate::spec::{Base, Pos, Spec};

pub const DESCRIBE: &str = "frontend.subrequests.describe";
pub const OUTLINE: &str = "frontend.outline";
pub const TARGETS: &str = "frontend.targets";
pub const LINT: &str = "frontend.lint";

/// Why a subrequest got no answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Unanswered {
    /// The spec has an error (only lint answers with it).
    Spec,
    /// The request names no target we have, or the like.
    Request(String),
    Unsupported(String),
}

/// The result metadata answering `request` for the spec in `file`, parsed as `parsed`.
pub fn answer(
    request: &str,
    file: &SourceFile,
    parsed: Result<&Spec, &Diagnostic>,
    opts: &FrontendOpts,
) -> Result<BTreeMap<String, Vec<u8>>, Unanswered> {
    let args = opts.build_args();
    let spec = || parsed.map_err(|_| Unanswered::Spec);
    let (json, text, status) = match request {
        DESCRIBE => {
            let json = describe();
            let text = describe_text(&json);
            (json, text, None)
        }
        TARGETS => {
            let json = targets(spec()?, file);
            (json.clone(), targets_text(&json), None)
        }
        OUTLINE => {
            let json = outline(spec()?, file, opts.target()).map_err(Unanswered::Request)?;
            (json.clone(), outline_text(&json), None)
        }
        LINT => {
            let named: Vec<&str> = opts.values.keys().filter_map(|k| k.strip_prefix("context:")).collect();
            let cx = lint::LintContext { build_args: &args, named_contexts: named, text: &file.text };
            let (warnings, error) = match parsed {
                Ok(spec) => (lint::lint(spec, &cx), None),
                Err(d) => (Vec::new(), Some(d)),
            };
            let json = lint_results(file, &warnings, error);
            let failed = !warnings.is_empty() || error.is_some();
            (json, lint_text(file, &warnings), Some(if failed { "1" } else { "0" }))
        }
        other => {
            return Err(Unanswered::Unsupported(format!(
                "unsupported request {other}: leaven answers {OUTLINE}, {TARGETS}, {LINT} and {DESCRIBE}"
            )))
        }
    };
    let mut metadata = BTreeMap::from([
        ("result.json".to_string(), serde_json::to_vec_pretty(&json).expect("JSON values serialize")),
        ("result.txt".to_string(), text.into_bytes()),
        ("version".to_string(), b"1.0.0".to_vec()),
    ]);
    if let Some(code) = status {
        metadata.insert("result.statuscode".into(), code.as_bytes().to_vec());
    }
    Ok(metadata)
}

fn named(name: &str) -> Value {
    json!({ "name": name, "description": "" })
}

/// The requests we answer, as `subrequests.Request` records.
fn describe() -> Value {
    let request = |name: &str, description: &str, opts: Vec<Value>, metadata: &[&str]| {
        json!({
            "name": name,
            "version": "1.0.0",
            "type": "rpc",
            "description": description,
            "opts": opts,
            "inputs": null,
            "metadata": metadata.iter().map(|m| named(m)).collect::<Vec<_>>(),
            "refs": null,
        })
    };
    let target = json!({ "name": "target", "description": "Target build stage" });
    json!([
        request(OUTLINE, "List all parameters current build target supports", vec![target], &["result.json", "result.txt"]),
        request(TARGETS, "List all targets current build supports", Vec::new(), &["result.json", "result.txt"]),
        request(LINT, "Lint a spec", Vec::new(), &["result.json", "result.txt", "result.statuscode"]),
        request(DESCRIBE, "List available subrequest types", Vec::new(), &["result.json", "result.txt"]),
    ])
}

fn describe_text(json: &Value) -> String {
    let mut rows = vec![vec!["NAME".to_string(), "VERSION".into(), "DESCRIPTION".into()]];
    for r in json.as_array().into_iter().flatten() {
        let name = r["name"].as_str().unwrap_or_default().trim_start_matches("frontend.").to_string();
        rows.push(vec![name, r["version"].as_str().unwrap_or_default().into(), r["description"].as_str().unwrap_or_default().into()]);
    }
    table(&rows, 1)
}

/// Every target: stages, images and variants, the default (last image) marked.
fn targets(spec: &Spec, file: &SourceFile) -> Value {
    let default = spec.default_image().map(|s| s.name.as_str());
    let mut list = Vec::new();
    for stage in &spec.stages {
        let base = match &stage.from {
            Base::Image(r) => r.clone(),
            Base::Stage(s) => s.clone(),
            Base::Scratch => "scratch".into(),
        };
        list.push(target(&stage.name, default == Some(stage.name.as_str()), doc_comment(file, stage.pos), &base, file, stage.pos));
    }
    for variant in &spec.variants {
        list.push(target(&variant.name, false, doc_comment(file, variant.pos), &variant.image, file, variant.pos));
    }
    json!({ "targets": list, "sources": [base64(&file.text)] })
}

fn target(name: &str, default: bool, description: Option<String>, base: &str, file: &SourceFile, pos: Pos) -> Value {
    let mut t = json!({ "name": name });
    if default {
        t["default"] = json!(true);
    }
    if let Some(d) = description {
        t["description"] = json!(d);
    }
    t["base"] = json!(base);
    t["location"] = location(file, Some(pos));
    t
}

fn targets_text(json: &Value) -> String {
    let mut rows = vec![vec!["TARGET".to_string(), "DESCRIPTION".into()]];
    for t in json["targets"].as_array().into_iter().flatten() {
        let mut name = t["name"].as_str().unwrap_or_default().to_string();
        if t["default"] == json!(true) {
            name.push_str(" (default)");
        }
        rows.push(vec![name, t["description"].as_str().unwrap_or_default().into()]);
    }
    table(&rows, 1)
}

/// What a target takes: build args (the spec's variables, and HOST_UID/HOST_GID
/// when its users' ids follow the host), secrets, ssh agents and cache ids.
fn outline(spec: &Spec, file: &SourceFile, target: Option<&str>) -> Result<Value, String> {
    let target = compile::select_target(spec, target).map_err(|e| e.to_string())?;
    let plan = compile::plan(spec, &target);
    let mut args: Vec<Value> = spec
        .variables
        .iter()
        .map(|v| {
            let mut arg = json!({ "name": v.name });
            if let Some(d) = v.description.clone().or_else(|| doc_comment(file, v.pos)) {
                arg["description"] = json!(d);
            }
            if !v.value.is_empty() {
                arg["value"] = json!(v.value);
            }
            arg["location"] = location(file, Some(v.pos));
            arg
        })
        .collect();
    let declared = |name: &str| spec.variables.iter().any(|v| v.name == name);
    if let Some(user) = plan.users.iter().find(|u| u.uid_from_host).filter(|_| !declared("HOST_UID")) {
        args.push(json!({ "name": "HOST_UID", "description": "UID of the spec's users whose uid is not set", "value": user.uid.to_string() }));
    }
    if let Some(user) = plan.users.iter().find(|u| u.gid_from_host).filter(|_| !declared("HOST_GID")) {
        args.push(json!({ "name": "HOST_GID", "description": "GID of the spec's users whose gid is not set", "value": user.gid.to_string() }));
    }
    let (mut secrets, mut ssh, mut cache): (Vec<Value>, Vec<Value>, Vec<Value>) = (Vec::new(), Vec::new(), Vec::new());
    let mut seen: Vec<String> = Vec::new();
    for planned in &plan.stages {
        for step in &planned.steps {
            let PlannedStep::Run(run) = step else { continue };
            for mount in &run.mounts {
                let at = location(file, Some(run.run.pos));
                let (list, key, entry) = match mount {
                    PlannedMount::Secret { id, required, .. } => (&mut secrets, format!("secret {id}"), named_required(id, *required, at)),
                    PlannedMount::Ssh { id, required, .. } => (&mut ssh, format!("ssh {id}"), named_required(id, *required, at)),
                    PlannedMount::Cache { id, .. } => (&mut cache, format!("cache {id}"), json!({ "ID": id.to_string(), "location": at })),
                    _ => continue,
                };
                if !seen.contains(&key) {
                    seen.push(key);
                    list.push(entry);
                }
            }
        }
    }
    let mut out = json!({ "name": target.name() });
    let pos = target.variant.map_or(target.stage.pos, |v| v.pos);
    if let Some(d) = doc_comment(file, pos) {
        out["description"] = json!(d);
    }
    for (key, list) in [("args", args), ("secrets", secrets), ("ssh", ssh), ("cache", cache)] {
        if !list.is_empty() {
            out[key] = Value::Array(list);
        }
    }
    out["sources"] = json!([base64(&file.text)]);
    Ok(out)
}

fn named_required(name: &str, required: bool, location: Value) -> Value {
    let mut v = json!({ "name": name });
    if required {
        v["required"] = json!(true);
    }
    v["location"] = location;
    v
}

fn outline_text(json: &Value) -> String {
    let mut out = String::new();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut head = vec![vec!["TARGET:".to_string(), text(&json["name"])]];
    if json.get("description").is_some() {
        head.push(vec!["DESCRIPTION:".into(), text(&json["description"])]);
    }
    out.push_str(&table(&head, 1));
    out.push('\n');
    type Row = fn(&Value) -> Vec<String>;
    let sections: [(&str, &[&str], Row); 3] = [
        ("args", &["BUILD ARG", "VALUE", "DESCRIPTION"], |a| {
            vec![a["name"].as_str().unwrap_or_default().into(), a["value"].as_str().unwrap_or_default().into(), a["description"].as_str().unwrap_or_default().into()]
        }),
        ("secrets", &["SECRET", "REQUIRED"], |s| {
            vec![s["name"].as_str().unwrap_or_default().into(), if s["required"] == json!(true) { "true".into() } else { String::new() }]
        }),
        ("ssh", &["SSH", "REQUIRED"], |s| {
            vec![s["name"].as_str().unwrap_or_default().into(), if s["required"] == json!(true) { "true".into() } else { String::new() }]
        }),
    ];
    for (key, header, row) in sections {
        let Some(items) = json.get(key).and_then(Value::as_array) else { continue };
        let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
        rows.extend(items.iter().map(row));
        out.push_str(&table(&rows, 3));
        out.push('\n');
    }
    out
}

/// `LintResults`: the warnings with their source, or the spec's error.
fn lint_results(file: &SourceFile, warnings: &[lint::Warning], error: Option<&Diagnostic>) -> Value {
    let warnings: Vec<Value> = warnings
        .iter()
        .map(|w| {
            json!({
                "ruleName": w.rule.name,
                "description": w.rule.description,
                "detail": w.message,
                "location": location(file, w.pos),
            })
        })
        .collect();
    let mut results = json!({
        "warnings": warnings,
        "sources": [{ "filename": file.name, "data": base64(&file.text), "language": "HCL" }],
    });
    if let Some(d) = error {
        let message = d.summary();
        let pos = Pos { line: d.line, column: d.column };
        results["buildError"] = json!({ "message": message, "location": location(file, Some(pos)) });
    }
    results
}

/// What buildx prints for the warnings (`LintResults.PrintTo`), with a snippet.
fn lint_text(file: &SourceFile, warnings: &[lint::Warning]) -> String {
    let mut out = String::new();
    for w in warnings {
        out.push_str(&format!("\nWARNING: {}\n{}\n", w.rule.name, w.message));
        if let Some(pos) = w.pos {
            out.push_str(&snippet(file, pos.line));
        }
    }
    out
}

/// The lines around `line`, marked, as BuildKit's `errdefs.Source.Print` shows them.
fn snippet(file: &SourceFile, line: usize) -> String {
    let count = file.text.split('\n').count();
    if line < 1 || line > count {
        return String::new();
    }
    let (first, last) = (line.saturating_sub(2).max(1), (line + 2).min(count));
    let mut out = format!("{}:{line}\n--------------------\n", file.name);
    for n in first..=last {
        let marker = if n == line { ">>>" } else { "   " };
        out.push_str(&format!(" {n:>3} | {marker} {}\n", file.line(n)));
    }
    out.push_str("--------------------\n");
    out
}

/// A `pb.Location` as Go's JSON writes it: a range on the position's line, from
/// its column to the line's end; `sourceIndex` -1 when there is no position.
fn location(file: &SourceFile, pos: Option<Pos>) -> Value {
    let Some(pos) = pos else { return json!({ "sourceIndex": -1 }) };
    let position = |line: usize, character: usize| {
        let mut p = json!({ "line": line });
        if character > 0 {
            p["character"] = json!(character);
        }
        p
    };
    let end = file.line(pos.line).chars().count();
    json!({ "ranges": [{ "start": position(pos.line, pos.column.saturating_sub(1)), "end": position(pos.line, end) }] })
}

/// The comment lines right above a block, as the Dockerfile frontend takes a
/// stage's doc comment: `#` or `//` lines with no blank line between (the
/// `# syntax=` and `# check=` directives are not part of it).
fn doc_comment(file: &SourceFile, pos: Pos) -> Option<String> {
    let mut lines = Vec::new();
    let mut n = pos.line;
    while n > 1 {
        n -= 1;
        let line = file.line(n).trim();
        let Some(text) = line.strip_prefix('#').or_else(|| line.strip_prefix("//")) else { break };
        let text = text.trim();
        let key = text.split('=').next().unwrap_or("").trim().to_ascii_lowercase();
        if n == 1 && (key == "syntax" || key == "check") {
            break;
        }
        lines.push(text.to_string());
    }
    lines.reverse();
    Some(lines.join(" ")).filter(|d| !d.is_empty())
}

fn base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Rows as Go's tabwriter aligns them (minwidth 0, padding `pad`, spaces): every
/// cell but the last of a row padded to its column's width.
fn table(rows: &[Vec<String>], pad: usize) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter(|r| c + 1 < r.len()).map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        for (c, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if c + 1 < row.len() {
                out.push_str(&" ".repeat(widths[c] + pad - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "# syntax=leaven:dev\nvariable \"PYTHON\" {\n  default = \"python:3.13-slim\"\n}\nuser \"app\" {}\n\n# Dependencies, installed once.\nstage \"deps\" {\n  from = PYTHON\n  pip { ca_secret = \"ca\" }\n}\n\n# The app.\nimage \"release\" {\n  from = PYTHON\n  copy {\n    from = stage.deps\n    source = \"/install\"\n  }\n}\nvariant \"ci\" {}\n";

    fn opts(pairs: &[(&str, &str)]) -> FrontendOpts {
        FrontendOpts { values: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Default::default() }
    }

    fn answered(request: &str, text: &str, pairs: &[(&str, &str)]) -> Result<BTreeMap<String, Vec<u8>>, Unanswered> {
        let file = SourceFile::new("app.hcl", text);
        let opts = opts(pairs);
        let parsed = crate::spec::parse_spec(&file, &opts.build_args());
        answer(request, &file, parsed.as_ref(), &opts)
    }

    fn json_of(request: &str, text: &str, pairs: &[(&str, &str)]) -> (Value, BTreeMap<String, Vec<u8>>) {
        let metadata = answered(request, text, pairs).unwrap_or_else(|e| panic!("{e:?}"));
        (serde_json::from_slice(&metadata["result.json"]).unwrap(), metadata)
    }

    #[test]
    fn targets_list_stages_images_and_variants_with_their_doc_comments() {
        let (json, metadata) = json_of(TARGETS, SPEC, &[]);
        let names: Vec<&str> = json["targets"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["deps", "release", "ci"]);
        assert_eq!(json["targets"][0]["description"], "Dependencies, installed once.");
        assert_eq!(json["targets"][1]["default"], true);
        assert_eq!(json["targets"][2]["base"], "release");
        assert_eq!(json["targets"][1]["location"]["ranges"][0]["start"], json!({ "line": 14 }));
        let text = String::from_utf8(metadata["result.txt"].clone()).unwrap();
        assert_eq!(text, "TARGET            DESCRIPTION\ndeps              Dependencies, installed once.\nrelease (default) The app.\nci                \n");
    }

    #[test]
    fn outline_lists_args_secrets_and_caches_of_the_target() {
        let (json, metadata) = json_of(OUTLINE, SPEC, &[("target", "release"), ("build-arg:HOST_UID", "1234")]);
        assert_eq!(json["name"], "release");
        let args: Vec<(&str, &str)> =
            json["args"].as_array().unwrap().iter().map(|a| (a["name"].as_str().unwrap(), a["value"].as_str().unwrap())).collect();
        assert_eq!(args, vec![("PYTHON", "python:3.13-slim"), ("HOST_UID", "1234"), ("HOST_GID", "1000")]);
        assert_eq!(json["secrets"], json!([{ "name": "ca", "location": { "ranges": [{ "start": { "line": 10, "character": 2 }, "end": { "line": 10, "character": 26 } }] } }]));
        assert_eq!(json["cache"][0]["ID"], "leaven/pip-0");
        let text = String::from_utf8(metadata["result.txt"].clone()).unwrap();
        assert!(text.starts_with("TARGET:      release\nDESCRIPTION: The app.\n\nBUILD ARG   VALUE              DESCRIPTION\nPYTHON      python:3.13-slim   \n"), "{text}");
        assert!(text.contains("SECRET   REQUIRED\nca       \n"), "{text}");
    }

    #[test]
    fn lint_reports_warnings_with_a_status_and_spec_errors_as_build_errors() {
        let (json, metadata) = json_of(LINT, "image \"a\" {\n  from = \"python\"\n  user = \"1000\"\n}\n", &[]);
        assert_eq!(json["warnings"][0]["ruleName"], "UnpinnedBaseImage");
        assert_eq!(json["sources"][0]["filename"], "app.hcl");
        assert_eq!(metadata["result.statuscode"], b"1");
        let text = String::from_utf8(metadata["result.txt"].clone()).unwrap();
        assert!(text.contains("\nWARNING: UnpinnedBaseImage\nimage \"python\" has no tag"), "{text}");
        assert!(text.contains("app.hcl:2\n--------------------\n   1 |     image \"a\" {\n   2 | >>>   from = \"python\"\n"), "{text}");

        let (json, metadata) = json_of(LINT, "image \"a\" {\n  form = \"x\"\n}\n", &[]);
        assert_eq!(json["buildError"]["message"], "app.hcl:2:3: unknown attribute \"form\" in image \"a\" (hint: did you mean \"from\"?)");
        assert_eq!(metadata["result.statuscode"], b"1");
        let (json, metadata) = json_of(LINT, SPEC, &[]);
        assert_eq!(json["warnings"], json!([]));
        assert_eq!(metadata["result.statuscode"], b"0");
    }

    #[test]
    fn describe_lists_what_we_answer_and_others_are_unsupported() {
        let (json, _) = json_of(DESCRIBE, SPEC, &[]);
        assert_eq!(json.as_array().unwrap().len(), 4);
        assert!(matches!(answered("frontend.convertllb", SPEC, &[]), Err(Unanswered::Unsupported(_))));
        assert_eq!(answered(TARGETS, "image {}", &[]), Err(Unanswered::Spec));
        assert!(matches!(answered(OUTLINE, SPEC, &[("target", "nope")]), Err(Unanswered::Request(_))));
    }
}
