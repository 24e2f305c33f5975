//! Build progress on stderr, as `docker buildx bake` shows it.
//!
//! [`resolve_display`] picks the display from `--progress` and `BUILDKIT_PROGRESS`.

mod mode;

pub use mode::{resolve_display, ProgressDisplay, ProgressMode, ProgressModeError};
