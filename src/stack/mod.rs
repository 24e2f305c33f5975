//! The run side: how the app built from a spec runs. [`compose`] turns the
//! spec's `service` blocks into compose files, one per variant; [`make`] writes
//! the `leaven.mk` users include; [`write`] puts them on disk without ever
//! replacing a file leaven did not write.

pub mod compose;
pub mod make;
pub mod write;

pub use compose::{compose_file, variant_names, ComposeError, Layout};
pub use make::makefile;
pub use write::{write_generated, WriteError, GENERATED_MARK};

/// The compose file of a variant (`release` is the images as written).
pub fn compose_file_name(variant: &str) -> String {
    format!("compose.{variant}.yaml")
}
