//! Finding bake files and reading each into an HCL body: native HCL as is, the
//! HCL-JSON dialect converted (every JSON string is a template), Compose files
//! kept apart (they become targets without any evaluation).

use std::path::Path;

use super::BakeError;
use crate::hcl::parse::{parse_expression, parse_template};
use crate::hcl::syntax::{Attribute, Block, Body, Expr, Expression, Ident, ObjectItem, ObjectKey, Span, Structure};
use crate::hcl::{Diagnostic, SourceFile};

/// The files `bake` reads when no `-f` is given, in this order; all that exist are read.
pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
    "docker-bake.json",
    "docker-bake.hcl",
    "docker-bake.override.json",
    "docker-bake.override.hcl",
];

/// One file's content, parsed.
pub enum Definition {
    /// HCL or HCL-JSON, as one body to merge with the others.
    Hcl { file: SourceFile, body: Body },
    /// A Compose file, as parsed YAML.
    Compose { file: SourceFile, yaml: serde_json::Value },
}

/// Names and texts of the files to read: the `-f` files (or `BUILDX_BAKE_FILE`'s
/// list), else every default file present in `cwd`.
pub fn find_files(cwd: &Path, explicit: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<SourceFile>, BakeError> {
    let read = |name: &str| -> Result<SourceFile, BakeError> {
        let path = cwd.join(name);
        let text = if name == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(BakeError::Stdin)?;
            text
        } else {
            std::fs::read_to_string(&path).map_err(|error| BakeError::Unreadable { name: name.to_string(), error })?
        };
        Ok(SourceFile::new(name, text))
    };
    let explicit: Vec<String> = if !explicit.is_empty() {
        explicit.to_vec()
    } else if let Some(list) = env("BUILDX_BAKE_FILE").filter(|l| !l.is_empty()) {
        let sep = env("BUILDX_BAKE_PATH_SEPARATOR").unwrap_or_else(|| ":".into());
        list.split(sep.as_str()).filter(|s| !s.is_empty()).map(str::to_string).collect()
    } else {
        Vec::new()
    };
    if !explicit.is_empty() {
        return explicit.iter().map(|n| read(n.strip_prefix("cwd://").unwrap_or(n))).collect();
    }
    let found: Vec<SourceFile> =
        DEFAULT_FILES.iter().filter(|n| cwd.join(n).is_file()).map(|n| read(n)).collect::<Result<_, _>>()?;
    if found.is_empty() {
        return Err(BakeError::NoDefinition);
    }
    Ok(found)
}

/// Reads a file in the format its name says (`.yml`/`.yaml` Compose, `.json`,
/// `.hcl`); any other name is tried as Compose, then HCL, then JSON.
pub fn parse(file: SourceFile) -> Result<Definition, Diagnostic> {
    let lower = file.name.to_lowercase();
    if lower.ends_with(".yml") || lower.ends_with(".yaml") {
        return compose(file);
    }
    if lower.ends_with(".json") {
        return json(file);
    }
    if lower.ends_with(".hcl") {
        let body = crate::hcl::parse(&file)?;
        return Ok(Definition::Hcl { file, body });
    }
    if let Ok(Definition::Compose { file, yaml }) = compose(file.clone()) {
        if yaml.get("services").is_some() {
            return Ok(Definition::Compose { file, yaml });
        }
    }
    match crate::hcl::parse(&file) {
        Ok(body) => Ok(Definition::Hcl { file, body }),
        Err(hcl_error) => json(file).map_err(|_| hcl_error),
    }
}

fn compose(file: SourceFile) -> Result<Definition, Diagnostic> {
    let yaml = compose_yaml(&file)?;
    Ok(Definition::Compose { file, yaml })
}

/// A Compose file's YAML, or where it is not YAML. Merge keys (`<<: *anchor`)
/// are resolved before anything reads the file.
pub(crate) fn compose_yaml(file: &SourceFile) -> Result<serde_json::Value, Diagnostic> {
    let invalid = |e: serde_yaml_ng::Error| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
        Diagnostic::at_line(file, line, column, format!("invalid compose file: {e}"))
    };
    // YAML merge keys (`<<: *anchor`) are resolved before anything reads the file.
    let mut raw: serde_yaml_ng::Value = serde_yaml_ng::from_str(&file.text).map_err(invalid)?;
    raw.apply_merge().map_err(invalid)?;
    serde_json::to_value(&raw).map_err(|e| Diagnostic::at_line(file, 1, 1, format!("invalid compose file: {e}")))
}

/// HCL-JSON: top-level keys `variable`, `function`, `target`, `group` hold
/// objects of labelled blocks (or arrays of such objects); anything else is a
/// global attribute.
fn json(file: SourceFile) -> Result<Definition, Diagnostic> {
    let value: serde_json::Value = serde_json::from_str(&file.text)
        .map_err(|e| Diagnostic::at_line(&file, e.line(), e.column(), format!("invalid JSON: {e}")))?;
    let serde_json::Value::Object(top) = value else {
        return Err(Diagnostic::at_line(&file, 1, 1, "a bake JSON file must be an object"));
    };
    let mut body = Body::default();
    for (key, value) in top {
        match key.as_str() {
            "variable" | "function" | "target" | "group" => {
                for labelled in objects(&value) {
                    for (label, content) in labelled {
                        for content in objects(content) {
                            let mut block = built_block(key.as_str());
                            block.labels.push(Ident::new(label.as_str()));
                            for (attr, v) in content {
                                // Blocks inside blocks (variable validation) come as objects of objects.
                                if key == "variable" && attr == "validation" {
                                    for check in objects(v) {
                                        let mut validation = built_block("validation");
                                        for (k, v) in check {
                                            push_attr(&mut validation.body, k, v, &file)?;
                                        }
                                        block.body.items.push(Structure::Block(validation));
                                    }
                                    continue;
                                }
                                push_attr(&mut block.body, attr, v, &file)?;
                            }
                            body.items.push(Structure::Block(block));
                        }
                    }
                }
            }
            _ => push_attr(&mut body, &key, &value, &file)?,
        }
    }
    Ok(Definition::Hcl { file, body })
}

fn built_block(ident: &str) -> Block {
    Block { ident: Ident::new(ident), labels: Vec::new(), body: Body::default(), span: Span::NONE }
}

/// Whether `name` is an HCL identifier.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic()) && chars.all(|c| c == '_' || c == '-' || c.is_alphanumeric())
}

/// An object, or each object of an array of objects.
fn objects(value: &serde_json::Value) -> Vec<&serde_json::Map<String, serde_json::Value>> {
    match value {
        serde_json::Value::Object(map) => vec![map],
        serde_json::Value::Array(items) => items.iter().filter_map(|v| v.as_object()).collect(),
        _ => Vec::new(),
    }
}

fn push_attr(body: &mut Body, key: &str, value: &serde_json::Value, file: &SourceFile) -> Result<(), Diagnostic> {
    if !is_identifier(key) {
        return Err(Diagnostic::at_line(file, 1, 1, format!("invalid attribute name {key:?}")));
    }
    // `params` and `type` name identifiers and types, which JSON can only spell as strings.
    let value = match (key, value) {
        ("params", serde_json::Value::Array(items)) => Expression::built(Expr::Tuple(
            items
                .iter()
                .map(|i| {
                    let name = i.as_str().unwrap_or_default();
                    if is_identifier(name) {
                        Ok(Expression::built(Expr::Variable(name.into())))
                    } else {
                        Err(Diagnostic::at_line(file, 1, 1, format!("invalid parameter name {name:?}")))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
        )),
        ("variadic_params", serde_json::Value::String(s)) | ("type", serde_json::Value::String(s)) => {
            unplaced(parse_expression(s).map_err(|e| Diagnostic::at_line(file, 1, 1, format!("invalid {key} {s:?}: {}", e.message)))?)
        }
        _ => json_expr(value, file)?,
    };
    body.items.push(Structure::Attribute(Attribute { key: Ident::new(key), value, span: Span::NONE }));
    Ok(())
}

/// An expression parsed from a JSON string has offsets into that string, not
/// into the file: its errors point at the file's start, as other JSON ones do.
fn unplaced(mut e: Expression) -> Expression {
    e.unplace();
    e
}

fn json_expr(value: &serde_json::Value, file: &SourceFile) -> Result<Expression, Diagnostic> {
    Ok(match value {
        serde_json::Value::Null => Expression::built(Expr::Null),
        serde_json::Value::Bool(b) => Expression::built(Expr::Bool(*b)),
        serde_json::Value::Number(n) => Expression::built(json_number(n)),
        serde_json::Value::String(s) => unplaced(
            parse_template(s).map_err(|e| Diagnostic::at_line(file, 1, 1, format!("invalid template {s:?}: {}", e.message)))?,
        ),
        serde_json::Value::Array(items) => {
            Expression::built(Expr::Tuple(items.iter().map(|i| json_expr(i, file)).collect::<Result<Vec<_>, _>>()?))
        }
        serde_json::Value::Object(map) => {
            let mut items = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key = ObjectKey::Expression(Expression::built(Expr::String(k.as_str().into())));
                items.push(ObjectItem { key, value: json_expr(v, file)? });
            }
            Expression::built(Expr::Object(items))
        }
    })
}

/// A JSON number as HCL reads its text: whole numbers exact, others as floats.
fn json_number(n: &serde_json::Number) -> Expr {
    let number = match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => hcl::Number::from(u),
        (None, Some(i)) => hcl::Number::from(i),
        _ => hcl::Number::from_f64(n.as_f64().unwrap_or(0.0)).unwrap_or_else(|| hcl::Number::from(0u64)),
    };
    Expr::Number(number)
}
