//! The spec language: parse and check HCL into a [`Spec`] model.

mod explain;
mod model;
mod parse;
mod presets;
mod services;
mod values;

pub use model::*;
pub use parse::{check_build_args, closest, parse_duration, parse_spec, source_date_epoch, stage_uses, BadSourceDateEpoch, BUILTIN_ARGS, CI_UID};
pub use values::{unpinned, MAX_ID};
