//! The I/O at host-prep's edges: what is at the mounted paths now, and making
//! the plan so.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{Change, Existing, Owner, Plan};

/// What is at each path (symlinks followed, as a bind mount follows them).
pub fn existing<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<BTreeMap<PathBuf, Existing>, String> {
    let mut out = BTreeMap::new();
    for path in paths {
        let state = match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => Existing::Dir(Owner { uid: meta.uid(), gid: meta.gid() }),
            Ok(_) => Existing::Other,
            Err(e) if e.kind() == ErrorKind::NotFound => Existing::Missing,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        out.insert(path.to_path_buf(), state);
    }
    Ok(out)
}

/// Creates and chowns what the plan says. Only the mounted directory itself
/// changes owner: parents it creates stay root's, and what is inside is the
/// container's business.
pub fn apply(plan: &Plan) -> Result<(), String> {
    for action in &plan.actions {
        let path = &action.path;
        match action.change {
            Change::Create => std::fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?,
            Change::Chown { .. } => {}
            Change::Nothing | Change::LeftAlone(_) => continue,
        }
        std::os::unix::fs::chown(path, Some(action.owner.uid), Some(action.owner.gid)).map_err(|e| {
            let hint = if e.kind() == ErrorKind::PermissionDenied { " (only root gives a directory to another user: run host-prep as root)" } else { "" };
            format!("cannot chown {} to {}: {e}{hint}", path.display(), action.owner)
        })?;
    }
    Ok(())
}
