//! `--allow`: the privileges a bake run is granted. leaven checks the file
//! system reads buildx checks (v0.18+): every local path a target reads — its
//! context, Dockerfile, named contexts, secret files and SSH keys — must be
//! inside the working directory or a path granted with `--allow fs.read=PATH`
//! (`fs=PATH`, `fs.read=*`). File-relative paths make this matter: a file in
//! `../other/` gives contexts there. `BUILDX_BAKE_ENTITLEMENTS_FS=0` turns the
//! check off.

use std::path::{Component, Path, PathBuf};

use super::model::Target;
use super::remote::is_remote_url;
use super::BakeError;

/// What `--allow` granted, as far as leaven checks it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Granted {
    /// Paths readable besides the working directory, as given.
    pub fs_read: Vec<String>,
}

/// The file system reads `--allow` grants, once the flags are checked
/// ([`super::check_allow`]: every buildx key is accepted, unknown ones are errors).
pub fn parse_allow(flags: &[String]) -> Result<Granted, BakeError> {
    super::check_allow(flags)?;
    let fs_read = flags
        .iter()
        .filter_map(|f| f.split_once('='))
        .filter(|(key, _)| matches!(*key, "fs.read" | "fs"))
        .map(|(_, path)| path.to_string())
        .collect();
    Ok(Granted { fs_read })
}

/// Whether the check runs (`BUILDX_BAKE_ENTITLEMENTS_FS`, a Go boolean; on when unset;
/// for a remote definition `BAKE_ALLOW_REMOTE_FS_ACCESS=1` also turns it off).
pub fn fs_checks_enabled(env: &dyn Fn(&str) -> Option<String>, remote: bool) -> Result<bool, BakeError> {
    let parse = |name: &'static str, value: &str| {
        super::model::parse_go_bool(value).ok_or_else(|| BakeError::NotABool { name, value: value.to_string() })
    };
    let mut enabled = true;
    if remote {
        if let Some(v) = env("BAKE_ALLOW_REMOTE_FS_ACCESS") {
            enabled = !parse("BAKE_ALLOW_REMOTE_FS_ACCESS", &v)?;
        }
    }
    if let Some(v) = env("BUILDX_BAKE_ENTITLEMENTS_FS") {
        enabled = parse("BUILDX_BAKE_ENTITLEMENTS_FS", &v)?;
    }
    Ok(enabled)
}

fn is_local(path: &str) -> bool {
    !(is_remote_url(path) || path.starts_with("target:") || path.starts_with("docker-image:"))
}

/// buildx's `collectLocalPaths` plus secret files and SSH keys: the local paths
/// a resolved target reads, relative to the working directory or absolute.
pub fn read_paths(t: &Target) -> Vec<String> {
    let mut paths = Vec::new();
    let context = t.context.as_deref().unwrap_or(".");
    let local_context = is_local(context);
    if local_context {
        paths.push(context.strip_prefix("cwd://").unwrap_or(context).to_string());
    }
    if t.dockerfile_inline.is_none() {
        let dockerfile = t.dockerfile.as_deref().unwrap_or("Dockerfile");
        match dockerfile.strip_prefix("cwd://") {
            Some(local) => paths.push(local.to_string()),
            None if is_remote_url(dockerfile) => {}
            None if local_context && !dockerfile.starts_with('/') => {
                paths.push(format!("{}/{dockerfile}", context.strip_prefix("cwd://").unwrap_or(context)))
            }
            None => paths.push(dockerfile.to_string()),
        }
    }
    for value in t.contexts.values() {
        if is_local(value) {
            paths.push(value.strip_prefix("cwd://").unwrap_or(value).to_string());
        }
    }
    for secret in t.secret.iter().flatten() {
        if let Some(src) = secret.src.as_deref().filter(|s| !s.is_empty()) {
            paths.push(src.to_string());
        }
    }
    for ssh in t.ssh.iter().flatten() {
        paths.extend(ssh.paths.iter().cloned());
    }
    paths
}

/// `path` made absolute against `cwd` and cleaned, with its longest existing
/// prefix resolved through symlinks (buildx's `EvaluateToExistingPath`).
fn evaluated(cwd: &Path, path: &str) -> PathBuf {
    let mut absolute = PathBuf::new();
    for part in cwd.join(path).components() {
        match part {
            Component::ParentDir => {
                absolute.pop();
            }
            Component::CurDir => {}
            other => absolute.push(other),
        }
    }
    let mut rest = Vec::new();
    let mut existing = absolute.clone();
    loop {
        if let Ok(real) = std::fs::canonicalize(&existing) {
            return rest.iter().rev().fold(real, |p: PathBuf, part: &std::ffi::OsString| p.join(part));
        }
        match (existing.file_name().map(|n| n.to_os_string()), existing.parent().map(Path::to_path_buf)) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// The paths read that nothing granted covers, sorted, deduplicated and
/// without those inside another one (buildx's `findMissingPaths`).
pub fn missing_reads<'t>(targets: impl IntoIterator<Item = &'t Target>, cwd: &Path, granted: &Granted) -> Vec<PathBuf> {
    if granted.fs_read.iter().any(|p| p == "*") {
        return Vec::new();
    }
    let mut allowed: Vec<PathBuf> = granted.fs_read.iter().map(|p| evaluated(cwd, p)).collect();
    allowed.push(evaluated(cwd, "."));
    let mut read: Vec<PathBuf> = targets.into_iter().flat_map(read_paths).map(|p| evaluated(cwd, &p)).collect();
    read.sort_by_key(|p| p.as_os_str().len());
    let mut kept: Vec<PathBuf> = Vec::new();
    for p in read {
        if !kept.iter().any(|k| p.starts_with(k)) {
            kept.push(p);
        }
    }
    let mut missing: Vec<PathBuf> = kept.into_iter().filter(|p| !allowed.iter().any(|a| p.starts_with(a))).collect();
    missing.sort();
    missing
}

/// buildx's explanation when privileges are missing (it asks at a terminal;
/// leaven never asks), and the command to run instead. `args` are the
/// arguments after `bake`.
pub fn refusal(missing: &[PathBuf], cwd: &Path, args: &[String]) -> String {
    let cwd = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf());
    let shown: Vec<String> = missing.iter().map(|p| relative_to(p, &cwd)).collect();
    let flags: Vec<String> = shown.iter().map(|p| format!("--allow=fs.read={p}")).collect();
    let mut text = String::from("Your build is requesting privileges for following possibly insecure capabilities:\n\n");
    for p in &shown {
        text.push_str(&format!(" - Read access to path {p}\n"));
    }
    text.push_str(&format!("\nPass {:?} to grant requested privileges.\n", flags.join(" ")));
    text.push_str(&format!("\nYour full command with requested privileges:\n\nleaven bake {} {}\n\n", flags.join(" "), args.join(" ")));
    text.push_str("To disable filesystem entitlements checks, you can set BUILDX_BAKE_ENTITLEMENTS_FS=0 .\n");
    text
}

/// buildx's `toRelativePaths`: relative to the working directory when that
/// climbs at most one level, else absolute.
fn relative_to(path: &Path, cwd: &Path) -> String {
    let common = path.components().zip(cwd.components()).take_while(|(a, b)| a == b).count();
    let ups = cwd.components().count() - common;
    if ups > 1 {
        return path.display().to_string();
    }
    let mut rel = PathBuf::new();
    for _ in 0..ups {
        rel.push("..");
    }
    for part in path.components().skip(common) {
        rel.push(part);
    }
    if rel.as_os_str().is_empty() {
        ".".into()
    } else {
        rel.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_flags_are_buildxs() {
        let flags = |f: &[&str]| parse_allow(&f.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(flags(&["fs.read=../x", "fs=/srv", "network.host", "fs.write=out"]).unwrap().fs_read, vec!["../x", "/srv"]);
        assert_eq!(flags(&["nope=1"]).unwrap_err().to_string(), "unknown entitlement key \"nope\"");
    }

    #[test]
    fn reads_outside_the_working_directory_are_missing_unless_granted() {
        let root = std::env::temp_dir().join(format!("leaven-entitlements-{}", std::process::id()));
        let cwd = root.join("work");
        std::fs::create_dir_all(cwd.join("app")).unwrap();
        std::fs::create_dir_all(root.join("other/app")).unwrap();
        let t = Target { name: "t".into(), context: Some("../other/app".into()), dockerfile: Some("Dockerfile".into()), ..Target::default() };
        let inside = Target { name: "i".into(), context: Some("app".into()), ..Target::default() };
        let other = std::fs::canonicalize(root.join("other/app")).unwrap();
        assert_eq!(missing_reads([&t, &inside], &cwd, &Granted::default()), vec![other.clone()]);
        assert!(missing_reads([&t], &cwd, &Granted { fs_read: vec!["../other".into()] }).is_empty());
        assert!(missing_reads([&t], &cwd, &Granted { fs_read: vec!["*".into()] }).is_empty());
        let text = refusal(&[other], &cwd, &["app".into()]);
        assert!(text.contains(" - Read access to path ../other/app\n"), "{text}");
        assert!(text.contains("Pass \"--allow=fs.read=../other/app\" to grant requested privileges."), "{text}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_check_can_be_turned_off() {
        let off = |k: &str| (k == "BUILDX_BAKE_ENTITLEMENTS_FS").then(|| "0".to_string());
        assert!(!fs_checks_enabled(&off, false).unwrap());
        let remote = |k: &str| (k == "BAKE_ALLOW_REMOTE_FS_ACCESS").then(|| "1".to_string());
        assert!(!fs_checks_enabled(&remote, true).unwrap());
        assert!(fs_checks_enabled(&remote, false).unwrap());
    }
}
