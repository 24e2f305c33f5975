//! `leaven bake` building: bake targets solved over BuildKit's control API.
pub mod progress;
