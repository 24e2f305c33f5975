//! Source ops: where filesystems come from (images, the client's dirs, git, http).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::proto::pb;

use super::caps::LlbCap;
use super::state::{Output, Platform, SourceLocation, State, Vertex, VertexMeta};

/// How the engine finds an image: its default (local store first on dockerd),
/// always from the registry, or only locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResolveMode {
    #[default]
    Default,
    Pull,
    Local,
}

impl ResolveMode {
    pub fn parse(text: &str) -> Option<ResolveMode> {
        match text {
            "" | "default" => Some(ResolveMode::Default),
            "pull" => Some(ResolveMode::Pull),
            "local" => Some(ResolveMode::Local),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResolveMode::Default => "default",
            ResolveMode::Pull => "pull",
            ResolveMode::Local => "local",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ImageSource {
    /// A normalized reference (`docker.io/library/python:3.13`), optionally `@sha256:…`.
    pub reference: String,
    pub resolve_mode: ResolveMode,
    pub platform: Option<Platform>,
    pub name: Option<String>,
    /// The spec line that names the image, for the source map.
    pub location: Option<SourceLocation>,
}

#[derive(Debug, Clone, Default)]
pub struct LocalSource {
    /// The session dir name: `context`, `dockerfile`, or a named context.
    pub name: String,
    pub session_id: Option<String>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Only these paths are transferred (plus their parents).
    pub follow_paths: Vec<String>,
    /// Lets the engine reuse a previous transfer of the same dir across builds.
    pub shared_key_hint: Option<String>,
    pub name_in_progress: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct GitSource {
    /// `https://host/path.git` or `git@host:path.git`.
    pub remote: String,
    /// Branch, tag or commit; empty for the default branch.
    pub reference: String,
    /// The directory of the repository to give (empty: its root).
    pub subdir: String,
    pub keep_git_dir: bool,
    /// Look up the HTTP credentials in the session's secrets `GIT_AUTH_TOKEN.<host>`
    /// and `GIT_AUTH_HEADER.<host>` (then without the host), as BuildKit's client does.
    pub auth_secrets: bool,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct HttpSource {
    pub url: String,
    /// `sha256:…`; the build fails when the download differs.
    pub checksum: Option<String>,
    pub filename: Option<String>,
    pub perm: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub name: Option<String>,
}

fn source_state(
    identifier: String,
    attrs: BTreeMap<String, String>,
    platform: Option<Arc<Platform>>,
    meta: VertexMeta,
) -> State {
    let op = pb::op::Op::Source(pb::SourceOp { identifier, attrs });
    let vertex = Vertex::new(Vec::new(), op, platform, meta);
    State::from_output(Output { vertex, index: 0 })
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("a list of strings always serializes")
}

impl ImageSource {
    pub fn state(&self) -> State {
        let platform = Arc::new(self.platform.clone().unwrap_or_else(Platform::linux_amd64));
        let meta = VertexMeta { name: self.name.clone(), location: self.location, ..Default::default() };
        image_state(&self.reference, self.resolve_mode, platform, meta)
    }
}

/// The source op of image `reference` (normalized) on `platform`, which the
/// states of one build share.
pub(crate) fn image_state(reference: &str, resolve_mode: ResolveMode, platform: Arc<Platform>, mut meta: VertexMeta) -> State {
    let mut attrs = BTreeMap::new();
    meta.caps.insert(LlbCap::SourceImage);
    if resolve_mode != ResolveMode::Default {
        attrs.insert("image.resolvemode".into(), resolve_mode.as_str().into());
        meta.caps.insert(LlbCap::SourceImageResolveMode);
    }
    let identifier = ["docker-image://", reference].concat();
    source_state(identifier, attrs, Some(platform.clone()), meta).shared_platform(platform)
}

impl LocalSource {
    pub fn state(&self) -> State {
        let mut attrs = BTreeMap::new();
        let mut meta = VertexMeta { name: self.name_in_progress.clone(), ..Default::default() };
        meta.caps.insert(LlbCap::SourceLocal);
        if let Some(id) = &self.session_id {
            attrs.insert("local.session".into(), id.clone());
            meta.caps.insert(LlbCap::SourceLocalSessionId);
        }
        if !self.include.is_empty() {
            // Singular key, plural cap: BuildKit's own spelling.
            attrs.insert("local.includepattern".into(), json_list(&self.include));
            meta.caps.insert(LlbCap::SourceLocalIncludePatterns);
        }
        if !self.exclude.is_empty() {
            attrs.insert("local.excludepatterns".into(), json_list(&self.exclude));
            meta.caps.insert(LlbCap::SourceLocalExcludePatterns);
        }
        if !self.follow_paths.is_empty() {
            attrs.insert("local.followpaths".into(), json_list(&self.follow_paths));
            meta.caps.insert(LlbCap::SourceLocalFollowPaths);
        }
        if let Some(hint) = &self.shared_key_hint {
            attrs.insert("local.sharedkeyhint".into(), hint.clone());
            meta.caps.insert(LlbCap::SourceLocalSharedKeyHint);
        }
        source_state(format!("local://{}", self.name), attrs, None, meta)
    }
}

impl GitSource {
    pub fn state(&self) -> State {
        let mut attrs = BTreeMap::new();
        let mut meta = VertexMeta { name: self.name.clone(), ..Default::default() };
        meta.caps.insert(LlbCap::SourceGit);
        let mut identifier = git_identifier(&self.remote);
        if !self.reference.is_empty() || !self.subdir.is_empty() {
            identifier = format!("{identifier}#{}", self.reference);
            if !self.subdir.is_empty() {
                identifier = format!("{identifier}:{}", self.subdir);
            }
        }
        attrs.insert("git.fullurl".into(), self.remote.clone());
        meta.caps.insert(LlbCap::SourceGitFullUrl);
        if self.auth_secrets {
            attrs.insert("git.authtokensecret".into(), "GIT_AUTH_TOKEN".into());
            attrs.insert("git.authheadersecret".into(), "GIT_AUTH_HEADER".into());
        }
        if self.keep_git_dir {
            attrs.insert("git.keepgitdir".into(), "true".into());
            meta.caps.insert(LlbCap::SourceGitKeepDir);
        }
        source_state(format!("git://{identifier}"), attrs, None, meta)
    }
}

/// `https://host/path.git` → `host/path.git`; `git@host:path` → `host/path`.
fn git_identifier(remote: &str) -> String {
    if let Some((_, rest)) = remote.split_once("://") {
        return rest.to_string();
    }
    match remote.split_once('@') {
        Some((_, rest)) => rest.replacen(':', "/", 1),
        None => remote.to_string(),
    }
}

impl HttpSource {
    pub fn state(&self) -> State {
        let mut attrs = BTreeMap::new();
        let mut meta = VertexMeta { name: self.name.clone(), ..Default::default() };
        meta.caps.insert(LlbCap::SourceHttp);
        if let Some(sum) = &self.checksum {
            attrs.insert("http.checksum".into(), sum.clone());
            meta.caps.insert(LlbCap::SourceHttpChecksum);
        }
        if let Some(name) = &self.filename {
            attrs.insert("http.filename".into(), name.clone());
        }
        if let Some(perm) = self.perm {
            attrs.insert("http.perm".into(), format!("0{perm:o}"));
            meta.caps.insert(LlbCap::SourceHttpPerm);
        }
        if let Some(uid) = self.uid {
            attrs.insert("http.uid".into(), uid.to_string());
            meta.caps.insert(LlbCap::SourceHttpUidGid);
        }
        if let Some(gid) = self.gid {
            attrs.insert("http.gid".into(), gid.to_string());
            meta.caps.insert(LlbCap::SourceHttpUidGid);
        }
        source_state(self.url.clone(), attrs, None, meta)
    }
}

/// Normalizes an image reference the way Docker does (distribution's
/// `ParseNormalizedNamed`): `python:3` → `docker.io/library/python:3`, as do
/// `docker.io/python:3` and `index.docker.io/python:3`; a missing tag → `:latest`.
pub fn normalize_image_ref(reference: &str) -> String {
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    // The first component is a registry when it looks like a host.
    let (domain, path) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase()) => {
            (first, rest)
        }
        _ => ("docker.io", name),
    };
    let domain = if domain == "index.docker.io" { "docker.io" } else { domain };
    let mut full = if domain == "docker.io" && !path.contains('/') {
        format!("{domain}/library/{path}")
    } else {
        format!("{domain}/{path}")
    };
    let has_tag = path.rsplit('/').next().unwrap_or(path).contains(':');
    if !has_tag && digest.is_none() {
        full.push_str(":latest");
    }
    if let Some(d) = digest {
        full = format!("{full}@{d}");
    }
    full
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_refs_normalize_like_docker() {
        assert_eq!(normalize_image_ref("python:3.13"), "docker.io/library/python:3.13");
        assert_eq!(normalize_image_ref("leaven-test/debian"), "docker.io/leaven-test/debian:latest");
        assert_eq!(normalize_image_ref("ghcr.io/a/b:1"), "ghcr.io/a/b:1");
        assert_eq!(normalize_image_ref("localhost:5000/fe"), "localhost:5000/fe:latest");
        assert_eq!(normalize_image_ref("docker.io/python:3.13"), "docker.io/library/python:3.13");
        assert_eq!(normalize_image_ref("index.docker.io/python"), "docker.io/library/python:latest");
        assert_eq!(normalize_image_ref("docker.io/library/python"), "docker.io/library/python:latest");
        assert_eq!(normalize_image_ref("docker.io/bitnami/redis:7"), "docker.io/bitnami/redis:7");
        assert_eq!(
            normalize_image_ref("alpine@sha256:abc"),
            "docker.io/library/alpine@sha256:abc"
        );
    }

    #[test]
    fn git_identifiers_drop_scheme_and_user() {
        assert_eq!(git_identifier("https://github.com/a/b.git"), "github.com/a/b.git");
        assert_eq!(git_identifier("git@github.com:a/b.git"), "github.com/a/b.git");
    }
}
