//! The HCL evaluation core shared by specs and bake files: source positions,
//! diagnostics, parsing with spans, variables and expression evaluation.

mod diagnostic;
pub mod limits;
pub mod eval;
pub mod functions;
mod scope;
mod semver;
pub mod value;

pub use diagnostic::{Diagnostic, SourceFile};
pub use eval::{Evaluator, Resolve};
pub use scope::{declared_variables, typed_override, Scope, Variable};

use hcl::edit::structure::Body;

/// Parses a whole file, keeping spans so later errors can point at their source.
pub fn parse(file: &SourceFile) -> Result<Body, Diagnostic> {
    hcl::edit::parser::parse_body(&file.text).map_err(|e| {
        let loc = e.location();
        Diagnostic::at_line(file, loc.line(), loc.column(), format!("invalid HCL: {}", e.message()))
    })
}
