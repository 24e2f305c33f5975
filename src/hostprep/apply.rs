//! The I/O at host-prep's edges: what is at the mounted paths now, and making
//! the plan so.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{Change, Existing, Owner, Plan};

/// A mounted path that cannot be looked at, made or given its owner.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{}: {error}", .path.display())]
    Unreadable { path: PathBuf, error: std::io::Error },
    #[error("cannot create {}: {error}", .path.display())]
    Create { path: PathBuf, error: std::io::Error },
    #[error("cannot chown {} to {owner}: {error}{}", .path.display(), if .error.kind() == ErrorKind::PermissionDenied { " (only root gives a directory to another user: run host-prep as root)" } else { "" })]
    Chown { path: PathBuf, owner: Owner, error: std::io::Error },
}

/// What is at each path (symlinks followed, as a bind mount follows them).
pub fn existing<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<BTreeMap<PathBuf, Existing>, ApplyError> {
    let mut out = BTreeMap::new();
    for path in paths {
        let state = match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => Existing::Dir(Owner { uid: meta.uid(), gid: meta.gid() }),
            Ok(_) => Existing::Other,
            Err(e) if e.kind() == ErrorKind::NotFound => Existing::Missing,
            Err(error) => return Err(ApplyError::Unreadable { path: path.to_path_buf(), error }),
        };
        out.insert(path.to_path_buf(), state);
    }
    Ok(out)
}

/// Creates and chowns what the plan says. Only the mounted directory itself
/// changes owner: parents it creates stay root's, and what is inside is the
/// container's business.
pub fn apply(plan: &Plan) -> Result<(), ApplyError> {
    for action in &plan.actions {
        let path = &action.path;
        match action.change {
            Change::Create => std::fs::create_dir_all(path).map_err(|error| ApplyError::Create { path: path.clone(), error })?,
            Change::Chown { .. } => {}
            Change::Nothing | Change::LeftAlone(_) => continue,
        }
        std::os::unix::fs::chown(path, Some(action.owner.uid), Some(action.owner.gid))
            .map_err(|error| ApplyError::Chown { path: path.clone(), owner: action.owner, error })?;
    }
    Ok(())
}
