//! A small, immutable LLB builder in the spirit of BuildKit's `client/llb`.
//!
//! Building and marshalling are kept apart: builders produce [`State`]s that share
//! immutable [`Vertex`] nodes; [`marshal::definition`] walks the graph once and
//! produces the `pb::Definition` the engine solves. Nothing here does I/O.

mod caps;
mod exec;
mod file;
pub mod json;
pub mod marshal;
pub mod encoded;
mod source;
mod state;

pub use caps::{CapSet, Caps, LlbCap};
pub use exec::{CacheSharing, Exec, ExecState, Mount, MountKind, NetworkMode, SecretEnv};
pub use file::{Chown, CopyOptions, FileChain, UserRef};
pub(crate) use source::image_state;
pub use source::{normalize_image_ref, GitSource, HttpSource, ImageSource, LocalSource, ResolveMode};
pub use state::{clean_path, diff, join_path, merge, merge_or_copy, Output, Platform, SourceLocation, State, Vertex, VertexMeta};
