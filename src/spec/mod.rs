//! The spec language: parse and check HCL into a [`Spec`] model.

mod model;
mod parse;
mod presets;

pub use model::*;
pub use parse::{parse_duration, parse_spec, stage_uses, CI_UID};
