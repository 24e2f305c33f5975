//! What the command-line subcommands do, as functions returning their output.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::compile;
use crate::hcl::SourceFile;

/// Parses and checks a spec; the report lists the target's stages and inputs.
/// Errors come back as text with a code frame.
pub fn check(path: &Path, target: Option<&str>, args: &BTreeMap<String, String>) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let file = SourceFile::new(name, text);
    let spec = crate::spec::parse_spec(&file, args).map_err(|d| d.to_string())?;
    let target = compile::select_target(&spec, target)?;
    let plan = compile::plan(&spec, target);
    let mut out = String::new();
    let _ = writeln!(out, "target: {}", target.name);
    let _ = writeln!(out, "stages: {}", plan.stages.join(" → "));
    let _ = writeln!(out, "base images: {}", plan.images.join(", "));
    let _ = writeln!(out, "context paths: {}", plan.context_paths.join(", "));
    Ok(out)
}
