//! Finding bake files and reading each into an HCL body: native HCL as is, the
//! HCL-JSON dialect converted (every JSON string is a template), Compose files
//! kept apart (they become targets without any evaluation).

use std::path::Path;

use hcl::edit::expr::{Array, Expression, Object, ObjectKey, ObjectValue};
use hcl::edit::structure::{Attribute, Block, Body};
use hcl::edit::template::StringTemplate;
use hcl::edit::{Decorated, Ident};

use super::BakeError;
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
    let mut body = Body::new();
    for (key, value) in top {
        match key.as_str() {
            "variable" | "function" | "target" | "group" => {
                for labelled in objects(&value) {
                    for (label, content) in labelled {
                        for content in objects(content) {
                            let mut block = Block::new(Decorated::new(Ident::new(key.as_str())));
                            block.labels.push(label.clone().into());
                            for (attr, v) in content {
                                // Blocks inside blocks (variable validation) come as objects of objects.
                                if key == "variable" && attr == "validation" {
                                    for check in objects(v) {
                                        let mut validation = Block::new(Decorated::new(Ident::new("validation")));
                                        for (k, v) in check {
                                            push_attr(&mut validation.body, k, v, &file)?;
                                        }
                                        block.body.push(validation);
                                    }
                                    continue;
                                }
                                push_attr(&mut block.body, attr, v, &file)?;
                            }
                            body.push(block);
                        }
                    }
                }
            }
            _ => push_attr(&mut body, &key, &value, &file)?,
        }
    }
    Ok(Definition::Hcl { file, body })
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
    let ident = Ident::try_new(key).map_err(|_| Diagnostic::at_line(file, 1, 1, format!("invalid attribute name {key:?}")))?;
    // `params` and `type` name identifiers and types, which JSON can only spell as strings.
    let expr = match (key, value) {
        ("params", serde_json::Value::Array(items)) => Expression::Array(Array::from(
            items
                .iter()
                .map(|i| {
                    let name = i.as_str().unwrap_or_default();
                    Ident::try_new(name)
                        .map(|ident| Expression::Variable(Decorated::new(ident)))
                        .map_err(|_| Diagnostic::at_line(file, 1, 1, format!("invalid parameter name {name:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?,
        )),
        ("variadic_params", serde_json::Value::String(s)) | ("type", serde_json::Value::String(s)) => {
            hcl::edit::parser::parse_expr(s).map_err(|e| Diagnostic::at_line(file, 1, 1, format!("invalid {key} {s:?}: {}", e.message())))?
        }
        _ => json_expr(value, file)?,
    };
    body.push(Attribute::new(Decorated::new(ident), expr));
    Ok(())
}

fn json_expr(value: &serde_json::Value, file: &SourceFile) -> Result<Expression, Diagnostic> {
    Ok(match value {
        serde_json::Value::Null => Expression::null(),
        serde_json::Value::Bool(b) => Expression::from(*b),
        serde_json::Value::Number(n) => {
            hcl::edit::parser::parse_expr(&n.to_string()).unwrap_or_else(|_| Expression::from(n.as_f64().unwrap_or(0.0)))
        }
        serde_json::Value::String(s) => {
            let template = hcl::edit::parser::parse_template(s)
                .map_err(|e| Diagnostic::at_line(file, 1, 1, format!("invalid template {s:?}: {}", e.message())))?;
            Expression::StringTemplate(StringTemplate::from(template))
        }
        serde_json::Value::Array(items) => {
            Expression::Array(Array::from(items.iter().map(|i| json_expr(i, file)).collect::<Result<Vec<_>, _>>()?))
        }
        serde_json::Value::Object(map) => {
            let mut object = Object::new();
            for (k, v) in map {
                object.insert(ObjectKey::Expression(Expression::from(k.as_str())), ObjectValue::new(json_expr(v, file)?));
            }
            Expression::Object(object)
        }
    })
}
