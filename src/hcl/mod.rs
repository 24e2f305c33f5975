//! The HCL evaluation core shared by specs and bake files: source positions,
//! diagnostics, parsing with spans, variables and expression evaluation.

mod diagnostic;
pub mod limits;
pub mod eval;
pub mod parse;
pub mod syntax;
pub mod functions;
mod scope;
mod semver;
pub mod value;

pub use diagnostic::{Diagnostic, SourceFile};
pub use eval::{Evaluator, Resolve};
pub use scope::{declared_variables, typed_override, Scope, Variable};

use syntax::Body;

/// Parses a whole file, keeping spans so later errors can point at their source.
pub fn parse(file: &SourceFile) -> Result<Body, Diagnostic> {
    parse::parse_body(&file.text).map_err(|e| Diagnostic::at(file, Some(e.offset..e.offset), format!("{}.", e.message)))
}
