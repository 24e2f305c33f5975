//! From a resolved bake target to what one solve needs: local directories,
//! frontend attrs, exporters, caches, secrets and agents — what buildx's
//! `toBuildOpt` and `toSolveOpt` make of a target, decided before anything runs.
//!
//! A pure function of the target, what was found on disk ([`Probe`]) and what
//! the engine offers ([`EngineOffer`]); every refusal happens here, before any
//! target is built, and names the target and its bake file position.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::bake::model::{Attrs, Position, SecretFrom, Target};
use crate::session::{FileOutput, SecretSource};

/// What the connected engine can do, as far as planning needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOffer {
    /// How messages name it, e.g. `Docker Engine 28.5.2 at unix:///var/run/docker.sock`.
    pub name: String,
    /// dockerd: images go to its own store through the `moby` exporter.
    pub docker: bool,
    /// dockerd with the containerd image store (all of BuildKit's exporters and caches).
    pub containerd_store: bool,
    /// BuildKit v0.13+: several exporters in one solve.
    pub multiple_exporters: bool,
    /// The engine's default platform, for `platforms = ["local"]`.
    pub local_platform: String,
    /// The platforms it builds, normalized: its workers', or those its node declares.
    pub platforms: Vec<String>,
}

impl EngineOffer {
    /// Exporter types the engine has (buildx's driver features, §1.6 of the reference).
    pub fn exporters(&self) -> &'static [&'static str] {
        match (self.docker, self.containerd_store) {
            (true, false) => &["moby", "local", "tar"],
            (true, true) => &["moby", "image", "local", "tar", "oci", "docker"],
            (false, _) => &["image", "local", "tar", "oci", "docker"],
        }
    }

    pub fn cache_exports(&self) -> &'static [&'static str] {
        match (self.docker, self.containerd_store) {
            (true, false) => &["inline"],
            (true, true) => &["gha", "inline", "local", "registry"],
            (false, _) => &["registry", "local", "inline", "gha", "s3", "azblob"],
        }
    }

    pub fn cache_imports(&self) -> &'static [&'static str] {
        match (self.docker, self.containerd_store) {
            (true, false) => &["registry", "local"],
            (true, true) => &["gha", "local", "registry"],
            (false, _) => &["registry", "local", "gha", "s3", "azblob"],
        }
    }

    fn multi_platform(&self) -> bool {
        !self.docker || self.containerd_store
    }
}

/// What a target's files look like on disk, read by [`probe`] before planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// The context path is a directory (remote contexts are not probed).
    pub context_is_dir: bool,
    /// The Dockerfile's text, when it could be read.
    pub dockerfile: Option<String>,
    /// Named contexts that are local directories, by name.
    pub local_contexts: BTreeMap<String, bool>,
    /// Secret files: path → size, or `None` when missing.
    pub secret_files: BTreeMap<PathBuf, Option<u64>>,
    /// Environment values the target reads (secrets, `SSH_AUTH_SOCK`).
    pub env: BTreeMap<String, String>,
}

/// How a target's build definition is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frontend {
    /// The engine's builtin Dockerfile frontend (which honours a `# syntax=` line itself).
    Dockerfile,
    /// A leaven spec, compiled in this process.
    Spec,
}

/// One exporter of the solve, in `SolveRequest.Exporters` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exporter {
    pub kind: String,
    pub attrs: BTreeMap<String, String>,
}

/// A cache import or export entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub kind: String,
    pub attrs: BTreeMap<String, String>,
}

/// Everything one target's solve needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPlan {
    pub name: String,
    pub position: Option<Position>,
    pub frontend: Frontend,
    /// Local name → directory, served by the target's session.
    pub dirs: BTreeMap<String, PathBuf>,
    /// The session's shared key before the node id: the context's base name.
    pub shared_key: String,
    /// Frontend attrs (also sent on the control request, as buildx does).
    pub attrs: BTreeMap<String, String>,
    /// Named context → the target it links to (`target:NAME`), fed as a frontend input.
    pub links: BTreeMap<String, String>,
    pub exporters: Vec<Exporter>,
    /// Exporters that write to us, by their index in `exporters`.
    pub file_outputs: BTreeMap<usize, FileOutput>,
    /// Names pushed through the Docker API after the image store has them
    /// (dockerd's classic store cannot push from BuildKit itself).
    pub push: Vec<String>,
    pub cache_imports: Vec<CacheEntry>,
    pub cache_exports: Vec<CacheEntry>,
    pub secrets: BTreeMap<String, SecretSource>,
    pub ssh_agents: BTreeMap<String, PathBuf>,
    pub entitlements: Vec<String>,
    /// Said once before the build, not an error (e.g. "no output specified").
    pub warnings: Vec<String>,
}

/// A target that cannot be built as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub target: String,
    pub position: Option<Position>,
    pub message: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.position {
            write!(f, "{p}: ")?;
        }
        write!(f, "target {:?}: {}", self.target, self.message)
    }
}

impl std::error::Error for PlanError {}

/// buildx's limit on a secret file.
const MAX_SECRET_SIZE: u64 = 500 << 10;

/// A context buildx fetches rather than reads from disk.
pub fn is_remote(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}

/// The Dockerfile path as bake resolves it: relative paths are joined onto the
/// context (for a remote context they are inside it); `cwd://` ones are the
/// working directory's.
fn dockerfile_path(t: &Target, cwd: &Path) -> PathBuf {
    let context = t.context.as_deref().unwrap_or(".");
    let dockerfile = t.dockerfile.as_deref().unwrap_or("Dockerfile");
    if let Some(local) = dockerfile.strip_prefix("cwd://") {
        return cwd.join(crate::hcl::functions::clean_path(local));
    }
    if Path::new(dockerfile).is_absolute() || is_remote(context) {
        PathBuf::from(dockerfile)
    } else {
        Path::new(context).join(dockerfile)
    }
}

/// Reads what planning needs from disk and the environment.
pub fn probe(t: &Target, cwd: &Path, env: &dyn Fn(&str) -> Option<String>) -> Probe {
    let mut probe = Probe::default();
    let context = t.context.as_deref().unwrap_or(".");
    if !is_remote(context) {
        probe.context_is_dir = cwd.join(context).is_dir();
        probe.dockerfile = std::fs::read_to_string(cwd.join(dockerfile_path(t, cwd))).ok();
    }
    for (name, value) in &t.contexts {
        if !is_remote(value) && !value.starts_with("target:") {
            probe.local_contexts.insert(name.clone(), cwd.join(value.strip_prefix("cwd://").unwrap_or(value)).is_dir());
        }
    }
    let mut wanted_env = vec!["SSH_AUTH_SOCK".to_string()];
    for secret in t.secret.iter().flatten() {
        wanted_env.push(secret.id.clone());
        let file = match secret.source(|name| env(name).is_some()) {
            SecretFrom::Env(name) => {
                wanted_env.push(name);
                None
            }
            SecretFrom::File(path) => Some(path),
        };
        if let Some(file) = file {
            let path = cwd.join(&file);
            probe.secret_files.insert(path.clone(), std::fs::metadata(&path).ok().map(|m| m.len()));
        }
    }
    for name in wanted_env {
        if let Some(v) = env(&name) {
            probe.env.insert(name, v);
        }
    }
    probe
}

/// Whether a target's Dockerfile is a leaven spec: its `# syntax=` line names a
/// leaven frontend image, or it is an `.hcl` file with an `image` block.
pub fn is_spec(dockerfile_name: &str, text: &str) -> bool {
    if let Some(image) = syntax_image(text) {
        return image_is_leaven(image);
    }
    dockerfile_name.ends_with(".hcl")
        && crate::hcl::parse(&crate::hcl::SourceFile::new(dockerfile_name, text))
            .is_ok_and(|body| body.blocks().any(|b| b.ident.as_str() == "image"))
}

/// The image of a `# syntax=IMAGE` directive on the first line.
fn syntax_image(text: &str) -> Option<&str> {
    let first = text.strip_prefix('\u{feff}').unwrap_or(text).lines().next()?;
    let directive = first.trim().strip_prefix('#')?.trim();
    let (key, value) = directive.split_once('=')?;
    key.trim().eq_ignore_ascii_case("syntax").then(|| value.trim()).filter(|v| !v.is_empty())
}

/// `leaven:dev`, `ghcr.io/org/leaven:1@sha256:…`: the repository's last path component is `leaven`.
fn image_is_leaven(image: &str) -> bool {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let repository = last.split(':').next().unwrap_or(last);
    repository == "leaven"
}

/// Bytes of a docker `MemBytes` value: `128m`, `1g`, `512` (bytes), `1.5g`.
fn mem_bytes(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let digits_end = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: f64 = number.parse().ok()?;
    let unit = unit.trim_end_matches('b').trim_end_matches('i');
    let scale: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return None,
    };
    (number >= 0.0).then_some((number * scale as f64) as u64)
}

/// `os/arch[/variant]` as BuildKit formats it; `local` is the engine's own platform.
fn platform(text: &str, offer: &EngineOffer) -> Option<String> {
    if text == "local" {
        return Some(offer.local_platform.clone());
    }
    crate::llb::Platform::parse(text).map(|p| normalize_platform(&p.to_string()))
}

/// A platform as BuildKit compares them: `linux/arm64/v8` is `linux/arm64`,
/// `linux/amd64/v1` is `linux/amd64`, `linux/arm` is `linux/arm/v7`.
pub fn normalize_platform(text: &str) -> String {
    let mut parts = text.split('/');
    let os = parts.next().unwrap_or_default().to_ascii_lowercase();
    let architecture = parts.next().unwrap_or_default().to_ascii_lowercase();
    let variant = parts.next().unwrap_or_default().to_ascii_lowercase();
    let (architecture, variant) = match (architecture.as_str(), variant.as_str()) {
        ("aarch64" | "arm64", "v8" | "8") => ("arm64".to_string(), String::new()),
        ("aarch64", v) => ("arm64".to_string(), v.to_string()),
        ("x86_64" | "x86-64" | "amd64", "v1") => ("amd64".to_string(), String::new()),
        ("x86_64" | "x86-64", v) => ("amd64".to_string(), v.to_string()),
        ("arm", "") => ("arm".to_string(), "v7".to_string()),
        (a, v) => (a.to_string(), v.to_string()),
    };
    if variant.is_empty() {
        format!("{os}/{architecture}")
    } else {
        format!("{os}/{architecture}/{variant}")
    }
}

/// Plans one target. `node_id` is appended to shared keys, as buildx does.
pub fn plan_target(t: &Target, cwd: &Path, probe: &Probe, offer: &EngineOffer, node_id: &str) -> Result<TargetPlan, PlanError> {
    let fail = |message: String| PlanError { target: t.name.clone(), position: t.position.clone(), message };
    let context = t.context.clone().unwrap_or_else(|| ".".into());
    let remote = is_remote(&context);
    let mut attrs = BTreeMap::new();
    let mut dirs = BTreeMap::new();
    let dockerfile = dockerfile_path(t, cwd);
    // Inside a remote context the frontend reads the Dockerfile by its path there.
    let dockerfile_name = if remote && dockerfile.is_relative() {
        crate::hcl::functions::clean_path(&dockerfile.to_string_lossy())
    } else {
        dockerfile.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "Dockerfile".into())
    };

    if t.call.as_deref().is_some_and(|c| c != "build") {
        return Err(fail(format!("--call {} is not supported by leaven bake yet; use docker buildx bake", t.call.as_deref().unwrap_or_default())));
    }
    if t.dockerfile_inline.is_some() {
        return Err(fail("dockerfile-inline is not supported by leaven bake yet; write the Dockerfile to a file".into()));
    }

    let mut frontend = Frontend::Dockerfile;
    if remote {
        attrs.insert("context".to_string(), context.clone());
        if dockerfile.is_absolute() {
            dirs.insert("dockerfile".to_string(), dockerfile.parent().map(Path::to_path_buf).unwrap_or_default());
            attrs.insert("dockerfilekey".to_string(), "dockerfile".to_string());
        }
    } else {
        if !probe.context_is_dir {
            return Err(fail(format!("context {context:?} is not a directory (relative to {})", cwd.display())));
        }
        let text = probe.dockerfile.as_deref().ok_or_else(|| fail(format!("cannot read the Dockerfile {}", dockerfile.display())))?;
        if is_spec(&dockerfile_name, text) {
            frontend = Frontend::Spec;
        }
        dirs.insert("context".to_string(), cwd.join(&context));
        dirs.insert("dockerfile".to_string(), cwd.join(dockerfile.parent().unwrap_or(Path::new("."))));
    }
    if frontend == Frontend::Spec && remote {
        return Err(fail("a leaven spec needs a local context".into()));
    }
    attrs.insert("filename".to_string(), dockerfile_name);
    let shared_key = if remote {
        String::new()
    } else {
        let absolute = cwd.join(&context);
        let base = std::fs::canonicalize(&absolute).unwrap_or(absolute);
        base.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "/".into())
    };

    for (k, v) in &t.args {
        if let Some(v) = v {
            attrs.insert(format!("build-arg:{k}"), v.clone());
        }
    }
    for (k, v) in &t.labels {
        if let Some(v) = v {
            attrs.insert(format!("label:{k}"), v.clone());
        }
    }
    if let Some(stage) = t.target.as_deref().filter(|s| !s.is_empty()) {
        attrs.insert("target".to_string(), stage.to_string());
    }
    if t.pull == Some(true) {
        attrs.insert("image-resolve-mode".to_string(), "pull".to_string());
    } else if offer.docker {
        // The docker driver prefers images already in the engine's store.
        attrs.insert("image-resolve-mode".to_string(), "local".to_string());
    }
    if let Some(filter) = t.no_cache_filter.as_ref().filter(|f| !f.is_empty()) {
        attrs.insert("no-cache".to_string(), filter.join(","));
    }
    if t.no_cache == Some(true) {
        attrs.insert("no-cache".to_string(), String::new());
    }

    let mut entitlements: Vec<String> = t.entitlements.clone().unwrap_or_default();
    match t.network.as_deref().unwrap_or("") {
        "" | "default" => {}
        "host" => {
            attrs.insert("force-network-mode".to_string(), "host".to_string());
            if !entitlements.iter().any(|e| e == "network.host") {
                entitlements.push("network.host".to_string());
            }
        }
        "none" => {
            attrs.insert("force-network-mode".to_string(), "none".to_string());
        }
        other => return Err(fail(format!("network mode {other:?} is not supported by BuildKit: use default, host or none"))),
    }
    let hosts: Vec<String> = t.extra_hosts.iter().filter_map(|(h, ip)| ip.as_ref().map(|ip| format!("{h}={}", ip.trim_matches(['[', ']'])))).collect();
    if !hosts.is_empty() {
        attrs.insert("add-hosts".to_string(), hosts.join(","));
    }
    if let Some(size) = t.shm_size.as_deref() {
        let bytes = mem_bytes(size).ok_or_else(|| fail(format!("invalid value {size} for membytes key shm-size")))?;
        if bytes > 0 {
            attrs.insert("shm-size".to_string(), bytes.to_string());
        }
    }
    if let Some(ulimits) = t.ulimits.as_ref().filter(|u| !u.is_empty()) {
        for u in ulimits {
            let valid = u.split_once('=').is_some_and(|(name, limits)| {
                !name.is_empty() && limits.split(':').all(|n| n.parse::<i64>().is_ok()) && limits.split(':').count() <= 2
            });
            if !valid {
                return Err(fail(format!("invalid ulimit {u:?}: want name=soft[:hard]")));
            }
        }
        attrs.insert("ulimit".to_string(), ulimits.join(","));
    }

    let platforms: Vec<String> = t
        .platforms
        .iter()
        .flatten()
        .map(|p| platform(p, offer).ok_or_else(|| fail(format!("invalid platform {p:?}: want os/arch[/variant]"))))
        .collect::<Result<_, _>>()?;
    if platforms.len() > 1 && !offer.multi_platform() {
        return Err(fail(format!(
            "building for several platforms ({}) needs an engine that can: {} has the classic image store (turn on the containerd image store, or use a buildkitd)",
            platforms.join(", "),
            offer.name
        )));
    }
    if !platforms.is_empty() {
        attrs.insert("platform".to_string(), platforms.join(","));
    }

    // Disabled attestations send nothing (buildx only drops them from the map).
    let attests: BTreeMap<String, String> =
        crate::bake::model::Attest::frontend_attrs(t.attest.as_deref().unwrap_or_default()).into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
    if !attests.is_empty() && !offer.multi_platform() {
        return Err(fail(format!("attestations need the containerd image store or a buildkitd; {} has the classic store", offer.name)));
    }
    attrs.extend(attests);

    let mut links = BTreeMap::new();
    let mut caps = Vec::new();
    for (name, value) in &t.contexts {
        caps.push("moby.buildkit.frontend.contexts+forward");
        if let Some(linked) = value.strip_prefix("target:") {
            links.insert(name.clone(), linked.to_string());
        } else if value.starts_with("oci-layout://") {
            return Err(fail(format!("context {name}: oci-layout:// contexts need a session content store, which leaven does not serve yet")));
        } else if is_remote(value) {
            attrs.insert(format!("context:{name}"), value.clone());
        } else {
            if probe.local_contexts.get(name) != Some(&true) {
                return Err(fail(format!("context {name}: {value:?} is not a directory")));
            }
            let local = if name == "context" || name == "dockerfile" { format!("_{name}") } else { name.clone() };
            let dir = cwd.join(value.strip_prefix("cwd://").unwrap_or(value));
            let base = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
            let base = base.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            attrs.insert(format!("context:{name}"), format!("local:{local}"));
            attrs.insert(format!("sharedkey:localdir:{name}"), format!("{base}:{node_id}"));
            dirs.insert(local, dir);
        }
    }
    caps.dedup();
    if !caps.is_empty() {
        attrs.insert("frontend.caps".to_string(), caps.join(","));
    }

    let (exporters, file_outputs, push, warnings) = outputs(t, offer, &fail)?;
    let (cache_imports, cache_exports) = caches(t, offer, &fail)?;
    if !cache_imports.is_empty() {
        let json: Vec<serde_json::Value> =
            cache_imports.iter().map(|c| serde_json::json!({ "Type": c.kind, "Attrs": c.attrs })).collect();
        attrs.insert("cache-imports".to_string(), serde_json::Value::Array(json).to_string());
    }

    let mut secrets = BTreeMap::new();
    for s in t.secret.iter().flatten() {
        if s.id.is_empty() {
            return Err(fail("a secret has no id".into()));
        }
        let file = match s.source(|name| probe.env.contains_key(name)) {
            SecretFrom::Env(name) => {
                secrets.insert(s.id.clone(), SecretSource::Env(probe.env.get(&name).cloned().unwrap_or_default()));
                None
            }
            SecretFrom::File(path) => Some(cwd.join(path)),
        };
        if let Some(path) = file {
            match probe.secret_files.get(&path) {
                Some(Some(size)) if *size > MAX_SECRET_SIZE => {
                    return Err(fail(format!("secret {} is too big: {} is {size} bytes, the limit is {MAX_SECRET_SIZE}", s.id, path.display())))
                }
                Some(Some(_)) => {
                    secrets.insert(s.id.clone(), SecretSource::File(path));
                }
                _ => return Err(fail(format!("secret {}: the file {} does not exist", s.id, path.display()))),
            }
        }
    }

    let mut ssh_agents = BTreeMap::new();
    for s in t.ssh.iter().flatten() {
        let id = if s.id.is_empty() { "default".to_string() } else { s.id.clone() };
        let socket = match s.paths.as_slice() {
            [] => probe
                .env
                .get("SSH_AUTH_SOCK")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .ok_or_else(|| fail(format!("ssh {id}: no SSH agent: SSH_AUTH_SOCK is not set")))?,
            [path] => cwd.join(path),
            _ => return Err(fail(format!("ssh {id}: several paths are not supported; give one agent socket"))),
        };
        ssh_agents.insert(id, socket);
    }

    Ok(TargetPlan {
        name: t.name.clone(),
        position: t.position.clone(),
        frontend,
        dirs,
        shared_key: if shared_key.is_empty() { String::new() } else { format!("{shared_key}:{node_id}") },
        attrs,
        links,
        exporters,
        file_outputs,
        push,
        cache_imports,
        cache_exports,
        secrets,
        ssh_agents,
        entitlements,
        warnings,
    })
}

/// How the parts of a target built on several nodes become one image: each
/// node pushes its part by digest to the repositories of the target's tags,
/// then an index of every part's manifests is pushed under each tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    pub tags: Vec<String>,
    /// `registry.insecure=true`: plain HTTP (as for a registry on localhost).
    pub insecure: bool,
    /// `annotation-index.KEY=VALUE` of the output, for the joined index.
    pub index_annotations: BTreeMap<String, String>,
}

/// The target one node builds for `platforms` of a target split over nodes,
/// and how the parts are joined; an error says why the target's output cannot
/// be joined (only a registry push can, as in buildx).
pub fn split_part(t: &Target, platforms: &[String]) -> Result<(Target, Join), String> {
    let outputs: Vec<&Attrs> = t.output.iter().flatten().filter(|o| o.get("type").map(String::as_str) != Some("cacheonly")).collect();
    let push = match outputs.as_slice() {
        [] => return Err("it has no output, which loads the image into the Docker engine".into()),
        [one] => *one,
        _ => return Err(format!("it has {} outputs; a split target takes one registry push", outputs.len())),
    };
    let kind = push.get("type").map(String::as_str).unwrap_or("local");
    let pushing = kind == "registry" || (kind == "image" && push.get("push").is_some_and(|p| p == "true") && !push.contains_key("dest"));
    if !pushing {
        let what = match kind {
            "docker" => "type=docker (a load into a Docker engine, or a tarball)".to_string(),
            "image" => "type=image without push=true (each node's own image store)".to_string(),
            other => format!("type={other}"),
        };
        return Err(format!("its output is {what}"));
    }
    let mut tags: Vec<String> = t.tags.clone().unwrap_or_default();
    if tags.is_empty() {
        tags = push.get("name").map(|n| n.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).collect()).unwrap_or_default();
    }
    if tags.is_empty() {
        return Err("tag is needed when pushing to registry".into());
    }
    let mut repositories: Vec<String> = Vec::new();
    for tag in &tags {
        let repository = repository_of(tag);
        if !repositories.contains(&repository) {
            repositories.push(repository);
        }
    }
    let mut attrs: Attrs = push.iter().filter(|(k, _)| !matches!(k.as_str(), "type" | "push" | "name" | "unpack")).map(|(k, v)| (k.clone(), v.clone())).collect();
    attrs.insert("type".into(), "image".into());
    attrs.insert("push".into(), "true".into());
    attrs.insert("push-by-digest".into(), "true".into());
    let index_annotations =
        push.iter().filter_map(|(k, v)| k.strip_prefix("annotation-index.").map(|k| (k.to_string(), v.clone()))).collect();
    let insecure = push.get("registry.insecure").is_some_and(|v| v == "true");
    let part = Target { platforms: Some(platforms.to_vec()), tags: Some(repositories), output: Some(vec![attrs]), ..t.clone() };
    Ok((part, Join { tags, insecure, index_annotations }))
}

/// `host:5000/org/app:1` → `host:5000/org/app`; a digest goes too.
pub fn repository_of(name: &str) -> String {
    let name = name.split('@').next().unwrap_or(name);
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    match name[last_slash..].rfind(':') {
        Some(i) => name[..last_slash + i].to_string(),
        None => name.to_string(),
    }
}

type Outputs = (Vec<Exporter>, BTreeMap<usize, FileOutput>, Vec<String>, Vec<String>);

/// Outputs as buildx turns them into exporters for this engine.
fn outputs(t: &Target, offer: &EngineOffer, fail: &dyn Fn(String) -> PlanError) -> Result<Outputs, PlanError> {
    let tags: Vec<String> = t.tags.clone().unwrap_or_default();
    let name = tags.join(",");
    let mut exporters = Vec::new();
    let mut files = BTreeMap::new();
    let mut push = Vec::new();
    let mut warnings = Vec::new();
    let requested: Vec<Attrs> = t.output.clone().unwrap_or_default();
    let requested: Vec<Attrs> = if requested.is_empty() {
        if offer.docker {
            vec![Attrs::from([("type".to_string(), "image".to_string())])]
        } else {
            warnings.push(format!(
                "target {}: no output specified; the build result will only remain in the build cache (add output = [\"type=image,push=true\"], or load = true)",
                t.name
            ));
            Vec::new()
        }
    } else {
        requested
    };
    for entry in requested {
        let mut attrs: BTreeMap<String, String> = entry.clone();
        let kind = attrs.remove("type").unwrap_or_else(|| "local".into());
        let dest = attrs.remove("dest");
        let (kind, pushing) = match kind.as_str() {
            "cacheonly" => continue,
            "registry" => {
                attrs.entry("unpack".into()).or_insert_with(|| "false".into());
                attrs.insert("push".into(), "true".into());
                ("image".to_string(), true)
            }
            "image" => {
                let pushing = attrs.get("push").is_some_and(|p| p == "true");
                ("image".to_string(), pushing)
            }
            other => (other.to_string(), false),
        };
        let unsupported = |what: &str| {
            fail(format!("{what} output is not offered by {}; it offers {}", offer.name, offer.exporters().join(", ")))
        };
        match kind.as_str() {
            "image" | "docker" if dest.is_none() => {
                if pushing && tags.is_empty() {
                    return Err(fail("tag is needed when pushing to registry".into()));
                }
                let by_digest = attrs.get("push-by-digest").is_some_and(|v| v == "true");
                if by_digest && offer.docker && !offer.containerd_store {
                    return Err(fail(format!(
                        "{} has the classic image store, which cannot push by digest (turn on the containerd image store, or use a buildkitd)",
                        offer.name
                    )));
                }
                if offer.docker && !(by_digest && pushing) {
                    // dockerd writes the image into its own store and tags it there.
                    attrs.remove("push");
                    let mut moby = attrs.clone();
                    if !name.is_empty() {
                        moby.insert("name".into(), name.clone());
                    }
                    if offer.containerd_store {
                        moby.insert("prefer-image-digest".into(), "true".into());
                    }
                    exporters.push(Exporter { kind: "moby".into(), attrs: moby });
                    if pushing {
                        push.extend(tags.iter().cloned());
                    }
                } else if kind == "docker" {
                    return Err(fail(format!(
                        "type=docker without dest loads into a Docker engine, and {} is not one: give dest= for a tarball",
                        offer.name
                    )));
                } else {
                    if !name.is_empty() {
                        attrs.insert("name".into(), name.clone());
                    }
                    exporters.push(Exporter { kind: "image".into(), attrs });
                }
            }
            "local" => {
                let dest = dest.ok_or_else(|| fail("type=local needs dest=".into()))?;
                files.insert(exporters.len(), FileOutput::Dir(PathBuf::from(dest)));
                exporters.push(Exporter { kind: "local".into(), attrs });
            }
            "tar" | "oci" | "docker" => {
                if !offer.exporters().contains(&kind.as_str()) {
                    return Err(unsupported(&format!("type={kind}")));
                }
                let dest = dest.ok_or_else(|| fail(format!("type={kind} needs dest= (a file, or - for stdout)")))?;
                if kind != "tar" && !name.is_empty() {
                    attrs.insert("name".into(), name.clone());
                }
                files.insert(exporters.len(), FileOutput::File(PathBuf::from(dest)));
                exporters.push(Exporter { kind, attrs });
            }
            "image" => return Err(fail("type=image writes to a registry or an image store, not to dest=".into())),
            other => return Err(fail(format!("unknown output type {other:?}"))),
        }
    }
    if exporters.len() > 1 && !offer.multiple_exporters {
        return Err(fail(format!(
            "{} takes one output per build (several need BuildKit v0.13+); this target has {}",
            offer.name,
            exporters.len()
        )));
    }
    Ok((exporters, files, push, warnings))
}

/// `cache-from` and `cache-to` entries, checked against what the engine offers.
fn caches(t: &Target, offer: &EngineOffer, fail: &dyn Fn(String) -> PlanError) -> Result<(Vec<CacheEntry>, Vec<CacheEntry>), PlanError> {
    let entry = |attrs: &Attrs| {
        let mut attrs = attrs.clone();
        let kind = attrs.remove("type").unwrap_or_else(|| "registry".into());
        CacheEntry { kind, attrs }
    };
    let imports: Vec<CacheEntry> = t.cache_from.iter().flatten().map(entry).collect();
    let mut exports: Vec<CacheEntry> = t.cache_to.iter().flatten().map(entry).collect();
    if t.args.get("BUILDKIT_INLINE_CACHE").and_then(|v| v.as_deref()).is_some_and(|v| matches!(v, "1" | "true" | "TRUE" | "True")) {
        exports.push(CacheEntry { kind: "inline".into(), attrs: BTreeMap::new() });
    }
    for (direction, list, offered) in [("cache-from", &imports, offer.cache_imports()), ("cache-to", &exports, offer.cache_exports())] {
        for c in list {
            if c.kind == "local" {
                return Err(fail(format!(
                    "{direction} type=local needs a session content store, which leaven does not serve yet; use type=registry"
                )));
            }
            if !offered.contains(&c.kind.as_str()) {
                return Err(fail(format!(
                    "{direction} type={} is not offered by {}; it offers {}",
                    c.kind,
                    offer.name,
                    offered.join(", ")
                )));
            }
        }
    }
    Ok((imports, exports))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bake::model::{Secret, Ssh};

    fn docker28() -> EngineOffer {
        EngineOffer {
            name: "Docker Engine 28.5.2".into(),
            docker: true,
            containerd_store: false,
            multiple_exporters: true,
            local_platform: "linux/amd64".into(),
            platforms: vec!["linux/amd64".into()],
        }
    }

    fn target(name: &str) -> Target {
        Target { name: name.into(), context: Some("app".into()), dockerfile: Some("Dockerfile".into()), ..Target::default() }
    }

    fn probe_ok(dockerfile: &str) -> Probe {
        Probe { context_is_dir: true, dockerfile: Some(dockerfile.into()), ..Probe::default() }
    }

    fn plan(t: &Target, probe: &Probe, offer: &EngineOffer) -> Result<TargetPlan, PlanError> {
        plan_target(t, Path::new("/w"), probe, offer, "node1")
    }

    #[test]
    fn a_dockerfile_target_gets_buildx_attrs_and_a_moby_export_of_its_tags() {
        let mut t = target("web");
        t.args.insert("A".into(), Some("1".into()));
        t.args.insert("N".into(), None);
        t.labels.insert("l".into(), Some("v".into()));
        t.tags = Some(vec!["web:1".into(), "web:latest".into()]);
        t.target = Some("release".into());
        t.no_cache_filter = Some(vec!["deps".into()]);
        t.shm_size = Some("128m".into());
        t.extra_hosts.insert("db".into(), Some("10.0.0.2".into()));
        t.platforms = Some(vec!["local".into()]);
        let p = plan(&t, &probe_ok("FROM x\n"), &docker28()).unwrap();
        assert_eq!(p.frontend, Frontend::Dockerfile);
        let want: BTreeMap<String, String> = [
            ("add-hosts", "db=10.0.0.2"),
            ("build-arg:A", "1"),
            ("filename", "Dockerfile"),
            ("image-resolve-mode", "local"),
            ("label:l", "v"),
            ("no-cache", "deps"),
            ("platform", "linux/amd64"),
            ("shm-size", "134217728"),
            ("target", "release"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(p.attrs, want);
        assert_eq!(p.exporters, vec![Exporter { kind: "moby".into(), attrs: BTreeMap::from([("name".into(), "web:1,web:latest".into())]) }]);
        assert_eq!(p.dirs["context"], PathBuf::from("/w/app"));
        assert_eq!(p.dirs["dockerfile"], PathBuf::from("/w/app"));
        assert!(p.shared_key.ends_with(":node1"));
    }

    #[test]
    fn a_remote_context_reads_its_dockerfile_by_path_and_cwd_dockerfiles_locally() {
        let mut t = Target { name: "r".into(), context: Some("https://h/r.git#main".into()), ..Target::default() };
        t.dockerfile = Some("./docker/Dockerfile.app".into());
        let p = plan(&t, &Probe::default(), &docker28()).unwrap();
        assert_eq!(p.attrs["context"], "https://h/r.git#main");
        assert_eq!(p.attrs["filename"], "docker/Dockerfile.app");
        assert!(!p.dirs.contains_key("dockerfile"));
        t.dockerfile = Some("cwd://df/Dockerfile.local".into());
        let p = plan(&t, &Probe::default(), &docker28()).unwrap();
        assert_eq!(p.attrs["filename"], "Dockerfile.local");
        assert_eq!(p.attrs["dockerfilekey"], "dockerfile");
        assert_eq!(p.dirs["dockerfile"], PathBuf::from("/w/df"));
    }

    #[test]
    fn specs_are_recognised_by_their_syntax_line_or_an_hcl_image_block() {
        assert!(is_spec("app.hcl", "# syntax=leaven:dev\nimage \"a\" {}\n"));
        assert!(is_spec("Dockerfile", "# syntax = ghcr.io/org/leaven:1.2@sha256:ab\n"));
        assert!(!is_spec("Dockerfile", "# syntax=docker/dockerfile:1\nFROM x\n"));
        assert!(!is_spec("app.hcl", "# syntax=local/other:1\nimage \"a\" {}\n"), "a syntax line decides");
        assert!(is_spec("app.hcl", "image \"a\" {\n  from = \"x\"\n}\n"));
        assert!(!is_spec("docker-bake.hcl", "target \"a\" {}\n"));
        assert!(!is_spec("Dockerfile", "FROM leaven\n"));
    }

    #[test]
    fn outputs_follow_the_docker_driver() {
        let mut t = target("web");
        t.tags = Some(vec!["r/web:1".into()]);
        t.output = Some(vec![Attrs::from([("type".into(), "image".into()), ("push".into(), "true".into())])]);
        let p = plan(&t, &probe_ok("FROM x"), &docker28()).unwrap();
        assert_eq!(p.exporters[0].kind, "moby");
        assert!(!p.exporters[0].attrs.contains_key("push"), "dockerd does not push from BuildKit");
        assert_eq!(p.push, vec!["r/web:1".to_string()]);

        t.tags = None;
        assert_eq!(plan(&t, &probe_ok("FROM x"), &docker28()).unwrap_err().message, "tag is needed when pushing to registry");

        t.output = Some(vec![
            Attrs::from([("type".into(), "local".into()), ("dest".into(), "out".into())]),
            Attrs::from([("type".into(), "tar".into()), ("dest".into(), "out.tar".into())]),
            Attrs::from([("type".into(), "cacheonly".into())]),
        ]);
        let p = plan(&t, &probe_ok("FROM x"), &docker28()).unwrap();
        assert_eq!(p.exporters.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["local", "tar"]);
        assert_eq!(p.file_outputs[&0], FileOutput::Dir("out".into()));
        assert_eq!(p.file_outputs[&1], FileOutput::File("out.tar".into()));

        let old = EngineOffer { multiple_exporters: false, name: "Docker Engine 20.10.24".into(), ..docker28() };
        let err = plan(&t, &probe_ok("FROM x"), &old).unwrap_err();
        assert!(err.message.contains("takes one output per build"), "{err}");

        t.output = Some(vec![Attrs::from([("type".into(), "oci".into()), ("dest".into(), "o.tar".into())])]);
        let err = plan(&t, &probe_ok("FROM x"), &docker28()).unwrap_err();
        assert_eq!(err.message, "type=oci output is not offered by Docker Engine 28.5.2; it offers moby, local, tar");
    }

    #[test]
    fn a_split_part_pushes_by_digest_to_the_tags_repositories() {
        let mut t = target("web");
        t.tags = Some(vec!["127.0.0.1:5000/app:1".into(), "127.0.0.1:5000/app:latest".into(), "r/other:2".into()]);
        t.output = Some(vec![Attrs::from([
            ("type".into(), "image".into()),
            ("push".into(), "true".into()),
            ("annotation-index.org.opencontainers.image.title".into(), "web".into()),
        ])]);
        let arm = vec!["linux/arm64".to_string()];
        let (part, join) = split_part(&t, &arm).unwrap();
        assert_eq!(join.tags, t.tags.clone().unwrap());
        assert_eq!(join.index_annotations["org.opencontainers.image.title"], "web");
        assert!(!join.insecure);
        let containerd = EngineOffer { containerd_store: true, ..docker28() };
        let p = plan(&part, &probe_ok("FROM x"), &containerd).unwrap();
        assert_eq!(p.attrs["platform"], "linux/arm64");
        assert_eq!(p.exporters.len(), 1);
        assert_eq!(p.exporters[0].kind, "image", "the engine pushes by digest itself");
        assert_eq!(p.exporters[0].attrs["name"], "127.0.0.1:5000/app,r/other");
        assert_eq!(p.exporters[0].attrs["push-by-digest"], "true");
        assert_eq!(p.exporters[0].attrs["push"], "true");
        assert!(p.push.is_empty());
        let err = plan(&part, &probe_ok("FROM x"), &docker28()).unwrap_err();
        assert!(err.message.contains("has the classic image store, which cannot push by digest"), "{err}");

        t.output = Some(vec![Attrs::from([("type".into(), "docker".into())])]);
        assert!(split_part(&t, &arm).unwrap_err().contains("type=docker"));
        t.output = Some(vec![Attrs::from([("type".into(), "local".into()), ("dest".into(), "out".into())])]);
        assert_eq!(split_part(&t, &arm).unwrap_err(), "its output is type=local");
        t.output = None;
        assert!(split_part(&t, &arm).unwrap_err().contains("no output"));
        assert_eq!(repository_of("h:5000/a/b:1@sha256:ab"), "h:5000/a/b");
    }

    #[test]
    fn caches_the_engine_lacks_are_refused_before_building() {
        let mut t = target("web");
        t.position = Some(Position { file: "docker-bake.hcl".into(), line: 3, column: 8 });
        t.cache_to = Some(vec![Attrs::from([("type".into(), "registry".into()), ("ref".into(), "r/c".into())])]);
        let err = plan(&t, &probe_ok("FROM x"), &docker28()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "docker-bake.hcl:3:8: target \"web\": cache-to type=registry is not offered by Docker Engine 28.5.2; it offers inline"
        );
        t.cache_to = Some(vec![Attrs::from([("type".into(), "inline".into())])]);
        t.cache_from = Some(vec![Attrs::from([("type".into(), "registry".into()), ("ref".into(), "r/c".into())])]);
        let p = plan(&t, &probe_ok("FROM x"), &docker28()).unwrap();
        assert_eq!(p.attrs["cache-imports"], r#"[{"Type":"registry","Attrs":{"ref":"r/c"}}]"#);
        assert_eq!(p.cache_exports[0].kind, "inline");
    }

    #[test]
    fn secrets_and_agents_come_from_files_and_the_environment() {
        let mut t = target("web");
        t.secret = Some(vec![
            Secret { id: "f".into(), src: Some("s.txt".into()), env: None },
            Secret { id: "e".into(), src: None, env: Some("TOKEN".into()) },
            Secret { id: "ID_AS_ENV".into(), src: None, env: None },
        ]);
        t.ssh = Some(vec![Ssh { id: "default".into(), paths: vec![] }]);
        let mut probe = probe_ok("FROM x");
        probe.secret_files.insert("/w/s.txt".into(), Some(10));
        probe.env.insert("TOKEN".into(), "t0k".into());
        probe.env.insert("ID_AS_ENV".into(), "v".into());
        probe.env.insert("SSH_AUTH_SOCK".into(), "/tmp/agent.sock".into());
        let p = plan(&t, &probe, &docker28()).unwrap();
        assert_eq!(p.secrets["f"], SecretSource::File("/w/s.txt".into()));
        assert_eq!(p.secrets["e"], SecretSource::Env("t0k".into()));
        assert_eq!(p.secrets["ID_AS_ENV"], SecretSource::Env("v".into()));
        assert_eq!(p.ssh_agents["default"], PathBuf::from("/tmp/agent.sock"));

        probe.secret_files.insert("/w/s.txt".into(), None);
        let err = plan(&t, &probe, &docker28()).unwrap_err();
        assert_eq!(err.message, "secret f: the file /w/s.txt does not exist");
        probe.secret_files.insert("/w/s.txt".into(), Some(10));
        probe.env.remove("SSH_AUTH_SOCK");
        assert_eq!(plan(&t, &probe, &docker28()).unwrap_err().message, "ssh default: no SSH agent: SSH_AUTH_SOCK is not set");
    }

    #[test]
    fn named_contexts_become_locals_links_or_passthroughs() {
        let mut t = target("web");
        t.contexts.insert("app".into(), "target:base".into());
        t.contexts.insert("img".into(), "docker-image://alpine:3".into());
        t.contexts.insert("context".into(), "../shared".into());
        let mut probe = probe_ok("FROM x");
        probe.local_contexts.insert("context".into(), true);
        let p = plan(&t, &probe, &docker28()).unwrap();
        assert_eq!(p.links["app"], "base");
        assert_eq!(p.attrs["context:img"], "docker-image://alpine:3");
        assert_eq!(p.attrs["context:context"], "local:_context");
        assert_eq!(p.dirs["_context"], PathBuf::from("/w/../shared"));
        assert_eq!(p.attrs["frontend.caps"], "moby.buildkit.frontend.contexts+forward");
        probe.local_contexts.insert("context".into(), false);
        assert_eq!(plan(&t, &probe, &docker28()).unwrap_err().message, "context context: \"../shared\" is not a directory");
    }

    #[test]
    fn missing_inputs_name_what_is_missing() {
        let t = target("web");
        let err = plan(&t, &Probe::default(), &docker28()).unwrap_err();
        assert_eq!(err.message, "context \"app\" is not a directory (relative to /w)");
        let err = plan(&t, &Probe { context_is_dir: true, ..Probe::default() }, &docker28()).unwrap_err();
        assert_eq!(err.message, "cannot read the Dockerfile app/Dockerfile");
    }

    #[test]
    fn platforms_compare_normalized() {
        assert_eq!(normalize_platform("linux/arm"), "linux/arm/v7");
        assert_eq!(normalize_platform("linux/arm64/v8"), "linux/arm64");
        assert_eq!(normalize_platform("linux/amd64/v2"), "linux/amd64/v2");
        assert_eq!(normalize_platform("linux/amd64/v1"), "linux/amd64");
    }

    #[test]
    fn membytes_parse_as_docker_does() {
        assert_eq!(mem_bytes("128m"), Some(128 << 20));
        assert_eq!(mem_bytes("1g"), Some(1 << 30));
        assert_eq!(mem_bytes("512"), Some(512));
        assert_eq!(mem_bytes("2kb"), Some(2048));
        assert_eq!(mem_bytes("x"), None);
    }
}
