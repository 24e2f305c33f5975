//! host-prep's inputs as types: the daemon's `userns-remap`, the subordinate id
//! files, and the services' bind mounts in the compose files. Pure: text in,
//! values or a [`Diagnostic`] (file:line:col) out.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{IdMap, Remap, SubRange};
use crate::hcl::{Diagnostic, SourceFile};

/// The account `userns-remap` names: "default" is dockerd's own `dockremap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemapUser {
    pub user: String,
    /// The group whose subgid ranges apply: the user's name unless `user:group`.
    pub group: String,
    /// Where the setting is, for the messages about it.
    pub line: usize,
    pub column: usize,
}

/// The user namespace account of a daemon config (`daemon.json`); `None`
/// without `userns-remap` (or with it empty).
pub fn daemon_remap(file: &SourceFile) -> Result<Option<RemapUser>, Diagnostic> {
    let config: Value = serde_json::from_str(&file.text)
        .map_err(|e| Diagnostic::at_line(file, e.line(), e.column(), format!("invalid daemon config: {e}")))?;
    let Value::Object(config) = config else {
        return Err(Diagnostic::at_line(file, 1, 1, "a daemon config is a JSON object"));
    };
    let (line, column) = file.position(file.text.find("\"userns-remap\"").unwrap_or(0));
    let value = match config.get("userns-remap") {
        None => return Ok(None),
        Some(Value::String(value)) => value.trim(),
        Some(other) => {
            return Err(Diagnostic::at_line(file, line, column, format!("userns-remap is {other}, not a string"))
                .with_hint("\"default\" (dockerd's dockremap), or \"USER\" or \"USER:GROUP\" with ranges in /etc/subuid and /etc/subgid"))
        }
    };
    let (user, group) = match value {
        "" => return Ok(None),
        "default" => ("dockremap", "dockremap"),
        _ => value.split_once(':').unwrap_or((value, value)),
    };
    if user.is_empty() || group.is_empty() {
        return Err(Diagnostic::at_line(file, line, column, format!("userns-remap \"{value}\" names no user"))
            .with_hint("\"USER\" or \"USER:GROUP\""));
    }
    Ok(Some(RemapUser { user: user.into(), group: group.into(), line, column }))
}

/// One line of /etc/subuid or /etc/subgid: `owner:start:count`, the owner a
/// name or a numeric id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubIdEntry {
    pub owner: String,
    pub range: SubRange,
}

pub fn parse_subids(file: &SourceFile) -> Result<Vec<SubIdEntry>, Diagnostic> {
    let mut entries = Vec::new();
    for (index, line) in file.text.lines().enumerate() {
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = text.split(':').collect();
        let number = |s: &str| s.trim().parse::<u32>().ok();
        let entry = match fields.as_slice() {
            [owner, start, count] if !owner.is_empty() => {
                number(start).zip(number(count)).filter(|(s, c)| *c > 0 && s.checked_add(*c).is_some()).map(|(start, count)| SubIdEntry {
                    owner: owner.to_string(),
                    range: SubRange { start, count },
                })
            }
            _ => None,
        };
        let Some(entry) = entry else {
            let column = line.len() - line.trim_start().len() + 1;
            return Err(Diagnostic::at_line(file, index + 1, column, format!("\"{text}\" is not a subordinate id range"))
                .with_hint("NAME:START:COUNT, e.g. dockremap:100000:65536"));
        };
        entries.push(entry);
    }
    Ok(entries)
}

/// The remap of `who`: its ranges in the subuid and subgid files (named by
/// name, or by the numeric id the account files give `uid`/`gid`). A user
/// without ranges is an error at the daemon setting that names it.
pub fn remap(
    who: &RemapUser,
    daemon: &SourceFile,
    (subuid_path, subuid): (&Path, &[SubIdEntry]),
    (subgid_path, subgid): (&Path, &[SubIdEntry]),
    (uid, gid): (Option<u32>, Option<u32>),
) -> Result<Remap, Diagnostic> {
    let ranges = |entries: &[SubIdEntry], name: &str, id: Option<u32>, path: &Path, kind: &str| {
        let mine: Vec<SubRange> =
            entries.iter().filter(|e| e.owner == name || id.is_some_and(|id| e.owner == id.to_string())).map(|e| e.range).collect();
        if mine.is_empty() {
            let message = format!("userns-remap names {name}, which has no subordinate {kind} range in {}", path.display());
            let hint = if name == "dockremap" {
                "dockerd adds dockremap:100000:65536 when it starts with userns-remap=default; has it started since?".to_string()
            } else {
                format!("add a line {name}:START:COUNT to {} (e.g. usermod --add-sub{kind}s 200000-265535 {name})", path.display())
            };
            return Err(Diagnostic::at_line(daemon, who.line, who.column, message).with_hint(hint));
        }
        Ok(IdMap(mine))
    };
    Ok(Remap::Ranges {
        user: who.user.clone(),
        group: who.group.clone(),
        uids: ranges(subuid, &who.user, uid, subuid_path, "uid")?,
        gids: ranges(subgid, &who.group, gid, subgid_path, "gid")?,
    })
}

/// A compose service as host-prep needs it: who runs it and what it mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub image: Option<String>,
    /// `user:`, interpolated.
    pub user: Option<String>,
    pub build: Option<Build>,
    pub binds: Vec<Bind>,
}

/// What a service's `build:` says, for services built from a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub dockerfile: Option<String>,
    pub target: Option<String>,
    pub args: Vec<(String, String)>,
}

/// A bind mount of a host path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// Absolute: relative sources are the project directory's (the first file's).
    pub source: PathBuf,
    pub target: String,
    pub read_only: bool,
    /// `file:line:col` of the entry.
    pub at: String,
}

/// The services of the compose files (merged in order, interpolated with
/// `lookup`), in name order. `home` expands `~`.
pub fn services(files: &[SourceFile], lookup: &dyn Fn(&str) -> Option<String>, home: &Path) -> Result<Vec<Service>, Diagnostic> {
    let Some(first) = files.first() else { return Ok(Vec::new()) };
    let project = Path::new(&first.name).parent().map(Path::to_path_buf).unwrap_or_default();
    let mut parsed = Vec::new();
    for file in files {
        parsed.push((file.clone(), crate::bake::load::compose_yaml(file)?));
    }
    let merged = crate::bake::compose::merged(&parsed, lookup)?;
    let Some(Value::Object(services)) = merged.get("services") else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (name, service) in services {
        let text = |key: &str| service.get(key).and_then(scalar_text);
        let build = service.get("build").map(|b| match b {
            Value::Object(b) => Build {
                dockerfile: b.get("dockerfile").and_then(scalar_text),
                target: b.get("target").and_then(scalar_text),
                args: build_args(b.get("args"), lookup),
            },
            _ => Build { dockerfile: None, target: None, args: Vec::new() },
        });
        let mut binds = Vec::new();
        for entry in service.get("volumes").and_then(Value::as_array).into_iter().flatten() {
            let bind = match entry {
                Value::String(short) => short_bind(short).map(|(s, t, ro)| (s, t, ro, locate(files, name, &[short.as_str()]))),
                Value::Object(long) if long.get("type").and_then(Value::as_str) == Some("bind") => {
                    let source = long.get("source").and_then(scalar_text);
                    let target = long.get("target").and_then(scalar_text);
                    match (source, target) {
                        (Some(source), Some(target)) => {
                            let at = locate(files, name, &[&format!("target: {target}"), &target]);
                            Some((source, target, long.get("read_only").and_then(Value::as_bool).unwrap_or(false), at))
                        }
                        _ => {
                            let (file, line, column) = locate(files, name, &["type: bind"]);
                            return Err(Diagnostic::at_line(file, line, column, format!("service {name}: a bind mount needs source and target"))
                                .with_hint("type: bind, source: ./data, target: /data"));
                        }
                    }
                }
                _ => None,
            };
            let Some((source, target, read_only, (file, line, column))) = bind else { continue };
            let source = match source.strip_prefix('~') {
                Some(rest) => home.join(rest.trim_start_matches('/')),
                None => project.join(&source),
            };
            binds.push(Bind { source: normalize(&source), target, read_only, at: format!("{}:{line}:{column}", file.name) });
        }
        out.push(Service { name: name.clone(), image: text("image"), user: text("user"), build, binds });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `SOURCE:TARGET[:MODE]` when SOURCE is a path (`.`, `/`, `~`), not a volume name.
fn short_bind(text: &str) -> Option<(String, String, bool)> {
    let mut parts = text.splitn(3, ':');
    let (source, target, mode) = (parts.next()?, parts.next()?, parts.next().unwrap_or(""));
    if !(source.starts_with('.') || source.starts_with('/') || source.starts_with('~')) {
        return None;
    }
    Some((source.to_string(), target.to_string(), mode.split(',').any(|m| m == "ro")))
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `args:` as a map or a list of `KEY=VALUE`; a bare `KEY` takes the environment's value.
fn build_args(v: Option<&Value>, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let pair = |k: &str, v: Option<String>| v.or_else(|| lookup(k)).map(|v| (k.to_string(), v));
    match v {
        Some(Value::Object(map)) => map.iter().filter_map(|(k, v)| pair(k, scalar_text(v))).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(scalar_text)
            .filter_map(|item| match item.split_once('=') {
                Some((k, v)) => pair(k, Some(v.to_string())),
                None => pair(&item, None),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Where a service's entry was written: the first line after `service:` with
/// the first of `needles` found, in the last file that has it (later files
/// override), at the entry's start. Merged YAML keeps no spans, so this reads
/// the text.
fn locate<'a>(files: &'a [SourceFile], service: &str, needles: &[&str]) -> (&'a SourceFile, usize, usize) {
    let header = format!("{service}:");
    for needle in needles {
        for file in files.iter().rev() {
            let mut in_service = false;
            for (index, line) in file.text.lines().enumerate() {
                let trimmed = line.trim_start();
                if trimmed.starts_with(&header) {
                    in_service = true;
                } else if in_service && line.contains(needle) {
                    let start = line.len() - trimmed.len() + if trimmed.starts_with("- ") { 2 } else { 0 };
                    return (file, index + 1, start + 1);
                }
            }
        }
    }
    (&files[0], 1, 1)
}

/// `a/./b/../c` → `a/c`, without touching the filesystem (the path may not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon(text: &str) -> Result<Option<RemapUser>, String> {
        daemon_remap(&SourceFile::new("daemon.json", text)).map_err(|d| d.headline())
    }

    #[test]
    fn userns_remap_default_is_dockremap_and_user_group_splits() {
        let who = daemon("{\n  \"userns-remap\": \"default\"\n}").unwrap().unwrap();
        assert_eq!((who.user.as_str(), who.group.as_str(), who.line, who.column), ("dockremap", "dockremap", 2, 3));
        let who = daemon(r#"{"userns-remap": "svc:svcgroup"}"#).unwrap().unwrap();
        assert_eq!((who.user.as_str(), who.group.as_str()), ("svc", "svcgroup"));
        assert_eq!(daemon(r#"{"features": {}}"#), Ok(None));
        assert_eq!(daemon(r#"{"userns-remap": ""}"#), Ok(None));
    }

    #[test]
    fn bad_daemon_configs_say_where() {
        assert_eq!(daemon("{\n  \"userns-remap\": 3\n}"), Err("daemon.json:2:3: userns-remap is 3, not a string".into()));
        assert!(daemon("{\n  \"userns-remap\": ,\n}").unwrap_err().starts_with("daemon.json:2:19: invalid daemon config: "));
        assert_eq!(daemon("[]"), Err("daemon.json:1:1: a daemon config is a JSON object".into()));
    }

    #[test]
    fn subid_lines_parse_and_bad_ones_say_where() {
        let file = SourceFile::new("/etc/subuid", "# ranges\ndockremap:100000:65536\n1001:200000:10\n");
        let entries = parse_subids(&file).unwrap();
        assert_eq!(entries[1], SubIdEntry { owner: "1001".into(), range: SubRange { start: 200000, count: 10 } });
        let bad = parse_subids(&SourceFile::new("/etc/subuid", "a:1:2\n  b:x:3\n")).unwrap_err();
        assert_eq!(bad.headline(), "/etc/subuid:2:3: \"b:x:3\" is not a subordinate id range");
    }

    #[test]
    fn missing_ranges_are_an_error_at_the_daemon_setting() {
        let file = SourceFile::new("daemon.json", "{\"userns-remap\": \"default\"}");
        let who = daemon_remap(&file).unwrap().unwrap();
        let entries = [SubIdEntry { owner: "other".into(), range: SubRange { start: 1, count: 2 } }];
        let error = remap(&who, &file, (Path::new("/etc/subuid"), &entries), (Path::new("/etc/subgid"), &entries), (None, None)).unwrap_err();
        assert_eq!(error.headline(), "daemon.json:1:2: userns-remap names dockremap, which has no subordinate uid range in /etc/subuid");
        // A range by numeric id counts.
        let by_id = [SubIdEntry { owner: "103".into(), range: SubRange { start: 100000, count: 65536 } }];
        let ok = remap(&who, &file, (Path::new("u"), &by_id), (Path::new("g"), &by_id), (Some(103), Some(103))).unwrap();
        assert!(matches!(ok, Remap::Ranges { .. }));
    }

    #[test]
    fn bind_mounts_of_services_with_positions_users_and_interpolation() {
        let text = "services:\n  db:\n    image: postgres:16\n    volumes:\n      - ./data/pg:/var/lib/postgresql/data\n      - dbvolume:/backup\n  \
                    web:\n    build:\n      dockerfile: app.hcl\n      target: dev\n      args:\n        HOST_UID: ${HOST_UID:-1000}\n    \
                    user: \"${HOST_UID:-1000}:${HOST_GID:-1000}\"\n    volumes:\n      - type: bind\n        source: ~/media\n        \
                    target: /media\n      - ./conf:/etc/app:ro\n";
        let files = [SourceFile::new("/proj/compose.yaml", text)];
        let env = |name: &str| (name == "HOST_UID").then(|| "1234".to_string());
        let services = services(&files, &env, Path::new("/home/me")).unwrap();
        let db = &services[0];
        assert_eq!((db.image.as_deref(), db.user.as_deref()), (Some("postgres:16"), None));
        assert_eq!(
            db.binds,
            [Bind { source: "/proj/data/pg".into(), target: "/var/lib/postgresql/data".into(), read_only: false, at: "/proj/compose.yaml:5:9".into() }]
        );
        let web = &services[1];
        assert_eq!(web.user.as_deref(), Some("1234:1000"));
        let build = web.build.as_ref().unwrap();
        assert_eq!((build.dockerfile.as_deref(), build.target.as_deref()), (Some("app.hcl"), Some("dev")));
        assert_eq!(build.args, [("HOST_UID".to_string(), "1234".to_string())]);
        let binds: Vec<(String, &str, bool, &str)> =
            web.binds.iter().map(|b| (b.source.display().to_string(), b.target.as_str(), b.read_only, b.at.as_str())).collect();
        assert_eq!(
            binds,
            [("/home/me/media".into(), "/media", false, "/proj/compose.yaml:17:9"), ("/proj/conf".into(), "/etc/app", true, "/proj/compose.yaml:18:9")]
        );
    }

    #[test]
    fn a_compose_syntax_error_says_where() {
        let files = [SourceFile::new("compose.yaml", "services:\n  db: [\n")];
        let error = services(&files, &|_| None, Path::new("/")).unwrap_err();
        assert!(error.headline().starts_with("compose.yaml:3:1: invalid compose file"), "{}", error.headline());
    }
}
