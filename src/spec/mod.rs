//! The spec language: parse and check HCL into a [`Spec`] model.

mod model;
mod parse;
mod presets;

pub use model::*;
pub use parse::{closest, parse_duration, parse_spec, stage_uses, BUILTIN_ARGS, CI_UID};
