//! What buildx checks while it turns targets into build options, before it
//! prints them (`--print` runs it too): secret files exist, SSH agents and keys
//! are there, outputs can be written, sizes and resource limits parse. The file
//! system is asked through a [`Disk`], so the checks are a function of it.

use std::path::{Path, PathBuf};

use super::model::{Attrs, Resources, SecretFrom, Target};
use super::BakeError;
use super::resolve::Selection;

/// What a path is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    Missing,
    File,
    Dir,
    Socket,
}

/// The file system and terminal as the checks see them.
pub trait Disk {
    fn kind(&self, path: &Path) -> PathKind;
    /// A file's bytes, if it can be read.
    fn read(&self, path: &Path) -> Option<Vec<u8>>;
    /// Whether standard output is a terminal (a tarball is not written to one).
    fn stdout_is_terminal(&self) -> bool;
}

/// The real machine.
pub struct LocalDisk;

impl Disk for LocalDisk {
    fn kind(&self, path: &Path) -> PathKind {
        use std::os::unix::fs::FileTypeExt;
        match std::fs::metadata(path) {
            Err(_) => PathKind::Missing,
            Ok(m) if m.is_dir() => PathKind::Dir,
            Ok(m) if m.file_type().is_socket() => PathKind::Socket,
            Ok(_) => PathKind::File,
        }
    }

    fn read(&self, path: &Path) -> Option<Vec<u8>> {
        std::fs::read(path).ok()
    }

    fn stdout_is_terminal(&self) -> bool {
        std::io::IsTerminal::is_terminal(&std::io::stdout())
    }
}

/// Checks every selected target (by name; buildx's order is Go's map order), the
/// first failure named with the target's bake file position.
pub fn check_selection(selection: &Selection, cwd: &Path, env: &dyn Fn(&str) -> Option<String>, disk: &dyn Disk) -> Result<(), BakeError> {
    for t in selection.targets.values() {
        check_target(t, cwd, env, disk).map_err(|message| BakeError::Target { name: t.name.clone(), position: t.position.clone(), message })?;
    }
    Ok(())
}

/// buildx's `toBuildOpt`, the parts that can fail, in its order.
fn check_target(t: &Target, cwd: &Path, env: &dyn Fn(&str) -> Option<String>, disk: &dyn Disk) -> Result<(), String> {
    if t.context.as_deref() == Some("-") {
        return Err("context from stdin not allowed in bake".into());
    }
    if t.dockerfile.as_deref() == Some("-") {
        return Err("dockerfile from stdin not allowed in bake".into());
    }
    if let Some(size) = &t.shm_size {
        ram_in_bytes(size).ok_or_else(|| format!("invalid value {size} for membytes key shm-size"))?;
    }
    let at = |p: &str| -> PathBuf { cwd.join(p) };
    for s in t.secret.iter().flatten() {
        if s.id.is_empty() {
            return Err("secret missing ID".into());
        }
        if let SecretFrom::File(path) = s.source(|name| env(name).is_some()) {
            if disk.kind(&at(&path)) == PathKind::Missing {
                return Err(format!("failed to stat {path}: stat {path}: no such file or directory"));
            }
        }
    }
    let mut agents: Vec<&str> = Vec::new();
    for s in t.ssh.iter().flatten() {
        let id = if s.id.is_empty() { "default" } else { s.id.as_str() };
        if agents.contains(&id) {
            return Err(format!("duplicate agent ID {id:?}"));
        }
        agents.push(id);
        // Go's `%v` of the agent config: `{id [paths] raw}`.
        let config = format!("{{{id} [{}] false}}", s.paths.join(" "));
        let paths = match s.paths.as_slice() {
            [] => vec![env("SSH_AUTH_SOCK").unwrap_or_default()],
            [only] if only.is_empty() => vec![env("SSH_AUTH_SOCK").unwrap_or_default()],
            paths => paths.to_vec(),
        };
        if paths[0].is_empty() {
            return Err(format!("failed to convert agent config {config}: invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set"));
        }
        let mut sockets = 0;
        for p in &paths {
            match disk.kind(&at(p)) {
                PathKind::Missing => {
                    return Err(format!(
                        "failed to convert agent config {config}: failed to convert agent config for ID: {id:?}: stat {p}: no such file or directory"
                    ))
                }
                PathKind::Socket => sockets += 1,
                // A key file must hold a PEM block (the key itself is the agent's business).
                _ => {
                    let text = disk.read(&at(p)).unwrap_or_default();
                    if !String::from_utf8_lossy(&text).contains("-----BEGIN ") {
                        return Err(format!(
                            "failed to convert agent config {config}: failed to convert agent config for ID: {id:?}: failed to parse {p}: ssh: no key found"
                        ));
                    }
                }
            }
        }
        if sockets > 1 {
            return Err(format!("failed to convert agent config {config}: failed to convert agent config for ID: {id:?}: only single socket allowed"));
        }
    }
    check_outputs(t.output.as_deref().unwrap_or_default(), cwd, disk)?;
    if let Some(r) = &t.resources {
        check_resources(r)?;
    }
    Ok(())
}

/// buildx's `CreateExports`: directories for local exports, files (or one
/// stdout that is not a terminal) for tarballs.
fn check_outputs(outputs: &[Attrs], cwd: &Path, disk: &dyn Disk) -> Result<(), String> {
    let mut stdout_used = false;
    for o in outputs {
        let kind = o.get("type").map(String::as_str).unwrap_or_default();
        let dest = o.get("dest").map(String::as_str).unwrap_or_default();
        let tar = || o.get("tar").and_then(|v| super::model::parse_go_bool(v)).unwrap_or(true);
        let (file, dir) = match kind {
            "local" => (false, true),
            "tar" => (true, false),
            "oci" | "docker" => (tar(), !tar()),
            _ => (false, false),
        };
        if dir {
            if dest.is_empty() {
                return Err(format!("dest is required for {kind} exporter"));
            }
            if dest == "-" {
                return Err(format!("dest cannot be stdout for {kind} exporter"));
            }
            if disk.kind(&cwd.join(dest)) == PathKind::File {
                return Err(format!("destination directory {dest} is a file"));
            }
        }
        if file {
            let dest = if dest.is_empty() && kind != "docker" { "-" } else { dest };
            if dest == "-" {
                if stdout_used {
                    return Err("multiple outputs configured to write to stdout".into());
                }
                if disk.stdout_is_terminal() {
                    return Err(format!("dest file is required for {kind} exporter. refusing to write to console"));
                }
                stdout_used = true;
            } else if !dest.is_empty() && disk.kind(&cwd.join(dest)) == PathKind::Dir {
                return Err(format!("destination file {dest} is a directory"));
            }
        }
    }
    Ok(())
}

/// buildx's `ParseResourceLimits` over the target's `resources`.
fn check_resources(r: &Resources) -> Result<(), String> {
    for (key, value) in r.entries() {
        let value = value.trim();
        let ok = match key {
            "memory" => ram_in_bytes(value).is_some(),
            "memory-swap" => value == "-1" || ram_in_bytes(value).is_some(),
            _ => true,
        };
        if !ok {
            return Err(format!("invalid value {value:?} for resource {key}: invalid size: '{value}'"));
        }
    }
    Ok(())
}

/// go-units' `RAMInBytes`: a number, an optional space, then an optional
/// binary unit (`k`, `m`, `g`, `t`, `p`; an `i` and a `b` may follow).
pub fn ram_in_bytes(text: &str) -> Option<i64> {
    let digits = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') || number.contains("..") {
        return None;
    }
    let number: f64 = number.split('.').take(2).collect::<Vec<_>>().join(".").parse().ok()?;
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let scale: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return None,
    };
    Some((number * scale) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_go_units_does() {
        assert_eq!(ram_in_bytes("128m"), Some(128 << 20));
        assert_eq!(ram_in_bytes("1.5 GiB"), Some(3 << 29));
        assert_eq!(ram_in_bytes("512"), Some(512));
        assert_eq!(ram_in_bytes("abc"), None);
        assert_eq!(ram_in_bytes("1x"), None);
        assert_eq!(ram_in_bytes(""), None);
    }
}
