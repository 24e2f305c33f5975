//! What `bake` fails with. Each variant renders the text buildx prints for it
//! (the side-by-side suite compares them byte for byte); where the input has a
//! position the variant keeps it, even where buildx's text shows none.

use std::io;

use super::model::Position;
use crate::hcl::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum BakeError {
    /// A parse or evaluation error in an HCL file (or a JSON file's syntax),
    /// shown with its code frame.
    #[error("{0}")]
    At(Diagnostic),
    /// An evaluation error in an HCL-JSON file. Templates in JSON strings are
    /// parsed on their own, so the position is not the file's: the text names
    /// the file only.
    #[error("{}: {}", .0.file, .0.message)]
    InJson(Diagnostic),
    /// A Compose value that cannot be interpolated, at the value: one line, as buildx.
    #[error("{}", .0.headline())]
    ComposeValue(Diagnostic),
    /// A Compose service that cannot become a target (its build, secrets,
    /// `extends`, `env_file`), named by the service or file.
    #[error("{0}")]
    Compose(String),
    #[error("couldn't find a bake definition")]
    NoDefinition,
    #[error("failed to read {name}: {error}")]
    Unreadable { name: String, error: io::Error },
    #[error("reading stdin: {0}")]
    Stdin(io::Error),
    /// An environment variable that must be a Go boolean (`strconv.ParseBool`).
    #[error("failed to parse {name} value {value:?}: strconv.ParseBool: parsing {value:?}: invalid syntax")]
    NotABool { name: &'static str, value: String },
    /// A command-line flag buildx refuses (`--allow`, `--list`, `--policy`).
    #[error("{0}")]
    Flag(String),
    /// `--set` flags, target and group names, `inherits` and `target:` links
    /// that cannot be resolved (buildx's `ReadTargets`).
    #[error("{0}")]
    Resolve(String),
    /// A resolved target buildx refuses to turn into build options, named with
    /// where the target is defined when it is.
    #[error("{}target {name:?}: {message}", position.as_ref().map(|p| format!("{p}: ")).unwrap_or_default())]
    Target { name: String, position: Option<Position>, message: String },
    /// A remote definition's address that is neither git nor HTTP(S).
    #[error("not url context: {0}")]
    NotAUrl(String),
    /// A local path inside a tarball definition, which leaven cannot build from.
    #[error("target {target}: {path:?} is inside the tarball definition {url}, which leaven cannot build from yet")]
    InsideTarball { target: String, path: String, url: String },
}
