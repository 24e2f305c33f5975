//! Vertices, outputs and states: the immutable graph the builders share.

use std::sync::{Arc, LazyLock};

use crate::proto::pb;

use super::caps::{CapSet, Caps, LlbCap};
use super::file::{CopyOptions, FileChain};

/// A target platform, as BuildKit spells it (`linux/amd64`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn linux_amd64() -> Platform {
        Platform { os: "linux".into(), architecture: "amd64".into(), variant: None }
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(text: &str) -> Option<Platform> {
        let mut parts = text.trim().split('/');
        let os = parts.next().filter(|s| !s.is_empty())?;
        let architecture = parts.next().filter(|s| !s.is_empty())?;
        let variant = parts.next().map(str::to_string);
        if parts.next().is_some() {
            return None;
        }
        Some(Platform { os: os.into(), architecture: architecture.into(), variant })
    }

    pub fn to_pb(&self) -> pb::Platform {
        pb::Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone().unwrap_or_default(),
            ..Default::default()
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Where in the build's source file (the spec) an op comes from: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLocation {
    pub line: u32,
    pub column: u32,
}

/// What a vertex says about itself besides its op: progress name, cache policy, caps.
#[derive(Debug, Clone, Default)]
pub struct VertexMeta {
    /// Shown in progress output (`llb.customname`).
    pub name: Option<String>,
    /// Sent in the definition's source map, so an error in this op shows its source line.
    pub location: Option<SourceLocation>,
    pub ignore_cache: bool,
    /// Extra `description` entries, e.g. the spec step that produced the op.
    pub description: Vec<(String, String)>,
    pub caps: CapSet,
}

impl VertexMeta {
    pub fn named(name: impl Into<String>) -> VertexMeta {
        VertexMeta { name: Some(name.into()), ..Default::default() }
    }

    pub fn at(mut self, location: SourceLocation) -> VertexMeta {
        self.location = Some(location);
        self
    }
}

/// One LLB operation, with its inputs as references to other vertices' outputs.
///
/// The op's own `inputs` list is filled in when marshalling, because input digests
/// are only known once the inputs themselves are marshalled.
#[derive(Debug)]
pub struct Vertex {
    pub(crate) inputs: Vec<Output>,
    pub(crate) body: Body,
    pub(crate) platform: Option<Arc<Platform>>,
    pub(crate) meta: VertexMeta,
}

/// What a vertex marshals to.
// Almost every vertex is an op: boxing it would cost an allocation per op for
// the rare embedded definition's sake.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Body {
    Op(pb::op::Op),
    /// Another build's whole definition (a linked target's result), written
    /// verbatim: its ops keep their digests, so the engine shares their work.
    Embedded(Arc<pb::Definition>),
}

impl Vertex {
    pub(crate) fn new(
        inputs: Vec<Output>,
        op: pb::op::Op,
        platform: Option<Arc<Platform>>,
        meta: VertexMeta,
    ) -> Arc<Vertex> {
        Arc::new(Vertex { inputs, body: Body::Op(op), platform, meta })
    }

    #[cfg(test)]
    pub(crate) fn op(&self) -> Option<&pb::op::Op> {
        match &self.body {
            Body::Op(op) => Some(op),
            Body::Embedded(_) => None,
        }
    }
}

/// One output of a vertex: what a filesystem state points at.
#[derive(Debug, Clone)]
pub struct Output {
    pub(crate) vertex: Arc<Vertex>,
    pub(crate) index: i64,
}

impl Output {
    /// Two outputs are the same input when they are the same output of the same vertex.
    pub(crate) fn same(&self, other: &Output) -> bool {
        Arc::ptr_eq(&self.vertex, &other.vertex) && self.index == other.index
    }
}

/// The inputs of one op being built: each distinct output once, in first-use order.
#[derive(Debug, Default)]
pub(crate) struct InputList {
    outputs: Vec<Output>,
}

impl InputList {
    /// The op-input index of `output`, adding it when new; `-1` for scratch.
    pub(crate) fn index_of(&mut self, output: Option<&Output>) -> i64 {
        let Some(out) = output else { return -1 };
        let index = match self.outputs.iter().position(|o| o.same(out)) {
            Some(i) => i,
            None => {
                self.outputs.push(out.clone());
                self.outputs.len() - 1
            }
        };
        index as i64
    }

    pub(crate) fn len(&self) -> usize {
        self.outputs.len()
    }

    pub(crate) fn into_outputs(self) -> Vec<Output> {
        self.outputs
    }
}


/// A filesystem plus the defaults the next `run` inherits (env, cwd, user, platform).
///
/// Every method returns a new state; states are cheap to clone: they share
/// vertices, and each default (and each variable of the environment) is shared
/// until it changes, so setting one copies none of the others' text.
#[derive(Debug, Clone)]
pub struct State {
    pub(crate) output: Option<Output>,
    defaults: RunDefaults,
}

/// What a process started on a state gets unless the run says otherwise.
#[derive(Debug, Clone)]
struct RunDefaults {
    env: Arc<Vec<(Arc<str>, Arc<str>)>>,
    cwd: Arc<str>,
    user: Option<Arc<str>>,
    platform: Option<Arc<Platform>>,
}

/// A fresh state's defaults, made once: every source and scratch state shares them.
static FRESH: LazyLock<RunDefaults> =
    LazyLock::new(|| RunDefaults { env: Arc::default(), cwd: Arc::from("/"), user: None, platform: None });

impl State {
    /// The empty filesystem.
    pub fn scratch() -> State {
        State { output: None, defaults: FRESH.clone() }
    }

    /// The result of another definition, embedded whole; `None` for an empty one.
    pub fn from_definition(definition: pb::Definition) -> Option<State> {
        let (_, index) = super::marshal::root_of(&definition)?;
        let vertex = Arc::new(Vertex {
            inputs: Vec::new(),
            body: Body::Embedded(Arc::new(definition)),
            platform: None,
            meta: VertexMeta::default(),
        });
        Some(State::from_output(Output { vertex, index }))
    }

    pub(crate) fn from_output(output: Output) -> State {
        State { output: Some(output), ..State::scratch() }
    }

    pub fn is_scratch(&self) -> bool {
        self.output.is_none()
    }

    pub fn output(&self) -> Option<&Output> {
        self.output.as_ref()
    }

    /// The same filesystem with another output of it (keeps env, cwd, user).
    pub(crate) fn with_output(&self, output: Option<Output>) -> State {
        State { output, defaults: self.defaults.clone() }
    }

    /// This state with its defaults changed by `change`.
    fn with_defaults(&self, change: impl FnOnce(&mut RunDefaults)) -> State {
        let mut next = self.clone();
        change(&mut next.defaults);
        next
    }

    /// Sets or replaces one variable of the environment later runs get.
    pub fn env(&self, key: &str, value: &str) -> State {
        self.envs([(key, value)])
    }

    /// Sets or replaces variables in order, as that many [`State::env`] calls
    /// would, with the environment copied at most once (and not at all when
    /// every variable already has its value).
    pub fn envs<'p>(&self, pairs: impl IntoIterator<Item = (&'p str, &'p str)>) -> State {
        let mut next = self.clone();
        for (key, value) in pairs {
            if next.get_env(key) == Some(value) {
                continue;
            }
            let env = Arc::make_mut(&mut next.defaults.env);
            match env.iter_mut().find(|(k, _)| &**k == key) {
                Some(slot) => slot.1 = Arc::from(value),
                None => env.push((Arc::from(key), Arc::from(value))),
            }
        }
        next
    }

    /// Replaces the environment later runs get with `env`, in its order.
    pub fn with_env(&self, env: Vec<(Arc<str>, Arc<str>)>) -> State {
        self.with_defaults(|d| d.env = Arc::new(env))
    }

    pub fn get_env(&self, key: &str) -> Option<&str> {
        self.defaults.env.iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)
    }

    /// The environment later runs get, in first-set order.
    pub fn env_list(&self) -> &[(Arc<str>, Arc<str>)] {
        &self.defaults.env
    }

    /// Sets the working directory; a relative path is joined to the current one.
    pub fn cwd(&self, dir: &str) -> State {
        self.with_defaults(|d| d.cwd = Arc::from(join_path(&d.cwd, dir)))
    }

    pub fn get_cwd(&self) -> &str {
        &self.defaults.cwd
    }

    pub fn user(&self, user: &str) -> State {
        self.with_defaults(|d| d.user = Some(Arc::from(user)))
    }

    pub fn get_user(&self) -> Option<&str> {
        self.defaults.user.as_deref()
    }

    pub fn platform(&self, platform: Platform) -> State {
        self.shared_platform(Arc::new(platform))
    }

    /// Sets the platform to one that vertices and other states share.
    pub(crate) fn shared_platform(&self, platform: Arc<Platform>) -> State {
        self.with_defaults(|d| d.platform = Some(platform))
    }

    pub fn get_platform(&self) -> Option<&Platform> {
        self.defaults.platform.as_deref()
    }

    /// The platform as shared, for a vertex that runs on it.
    pub(crate) fn get_shared_platform(&self) -> Option<&Arc<Platform>> {
        self.defaults.platform.as_ref()
    }

    /// Applies a chain of file actions to this state in one FileOp.
    pub fn file(&self, chain: FileChain, meta: VertexMeta) -> State {
        chain.apply(self, meta)
    }
}

/// Joins `path` onto `base` the way Go's `path.Join("/", base, path)` does for
/// relative paths; an absolute `path` wins. A trailing `/` is kept (it matters for copy).
pub fn join_path(base: &str, path: &str) -> String {
    let mut cleaned = String::with_capacity(base.len() + path.len() + 2);
    if !path.starts_with('/') {
        push_clean(&mut cleaned, base);
    }
    push_clean(&mut cleaned, path);
    // The root, or a trailing `/` asked for (it matters for copy).
    if cleaned.is_empty() || path.ends_with('/') || path.ends_with("/.") {
        cleaned.push('/');
    }
    cleaned
}

/// [`join_path`] of an owned `path`, which is given back as it is when
/// joining would not change it (absolute and clean already): no new string.
pub(crate) fn join_path_owned(base: &str, path: String) -> String {
    if is_joined(&path) {
        path
    } else {
        join_path(base, &path)
    }
}

/// [`clean_path`] of an owned `path`, given back as it is when already clean.
pub(crate) fn clean_path_owned(path: String) -> String {
    if path == "/" || (!path.ends_with('/') && is_joined(&path)) {
        path
    } else {
        clean_path(&path)
    }
}

/// Whether `path` is what [`join_path`] makes of it: absolute, without empty,
/// `.` or `..` parts, at most one trailing `/`.
fn is_joined(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else { return false };
    rest.is_empty() || rest.strip_suffix('/').unwrap_or(rest).split('/').all(|part| !matches!(part, "" | "." | ".."))
}

/// Lexical clean of an absolute path: no `.`, `..` or doubled slashes.
pub fn clean_path(path: &str) -> String {
    let mut cleaned = String::with_capacity(path.len() + 1);
    push_clean(&mut cleaned, path);
    if cleaned.is_empty() {
        cleaned.push('/');
    }
    cleaned
}

/// Appends `path`'s parts to `out` (a cleaned path without its trailing `/`,
/// empty for the root), resolving `.` and `..` lexically as `path.Clean` does.
fn push_clean(out: &mut String, path: &str) {
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                let parent = out.rfind('/').unwrap_or(0);
                out.truncate(parent);
            }
            p => {
                out.push('/');
                out.push_str(p);
            }
        }
    }
}

/// Layers `states` on top of each other (later wins) with a MergeOp.
/// Scratch states add nothing and are left out. Needs the `mergeop` cap.
pub fn merge(states: &[State], meta: VertexMeta) -> State {
    let outputs: Vec<Output> = states.iter().filter_map(|s| s.output.clone()).collect();
    let base = states.first().cloned().unwrap_or_else(State::scratch);
    match outputs.len() {
        0 => base.with_output(None),
        1 => base.with_output(outputs.into_iter().next()),
        _ => {
            let inputs = (0..outputs.len() as i64).map(|input| pb::MergeInput { input }).collect();
            let mut meta = meta;
            meta.caps.insert(LlbCap::MergeOp);
            let vertex = Vertex::new(outputs, pb::op::Op::Merge(pb::MergeOp { inputs }), None, meta);
            base.with_output(Some(Output { vertex, index: 0 }))
        }
    }
}

/// The changes that turn `lower` into `upper`, as a DiffOp. Needs the `diffop` cap.
pub fn diff(lower: &State, upper: &State, meta: VertexMeta) -> State {
    let mut inputs = InputList::default();
    let lower_input = inputs.index_of(lower.output());
    let upper_input = inputs.index_of(upper.output());
    let op = pb::op::Op::Diff(pb::DiffOp {
        lower: Some(pb::LowerDiffInput { input: lower_input }),
        upper: Some(pb::UpperDiffInput { input: upper_input }),
    });
    let mut meta = meta;
    meta.caps.insert(LlbCap::DiffOp);
    let vertex = Vertex::new(inputs.into_outputs(), op, None, meta);
    upper.with_output(Some(Output { vertex, index: 0 }))
}

/// Copies `source` into `base` as an independent layer when the engine can merge
/// (the layer's cache does not depend on `base`, like `COPY --link`); otherwise
/// falls back to a plain copy on top of `base`, which builds the same filesystem.
pub fn merge_or_copy(
    base: &State,
    source: &State,
    src: &str,
    dest: &str,
    options: CopyOptions,
    caps: &Caps,
    meta: VertexMeta,
) -> State {
    if caps.has(LlbCap::MergeOp) && options.chown.as_ref().is_none_or(|c| !c.needs_passwd()) {
        let layer = State::scratch().file(FileChain::new().copy(source, src, dest, options), meta.clone());
        merge(&[base.clone(), layer], meta)
    } else {
        base.file(FileChain::new().copy(source, src, dest, options), meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_like_go() {
        assert_eq!(join_path("/", "app"), "/app");
        assert_eq!(join_path("/src", "a/../b"), "/src/b");
        assert_eq!(join_path("/src", "/etc/"), "/etc/");
        assert_eq!(join_path("/src", "."), "/src");
        assert_eq!(join_path("/src", "./"), "/src/");
        assert_eq!(clean_path("//a//b/./c/.."), "/a/b");
        assert_eq!(clean_path(""), "/");
        assert_eq!(clean_path("/../.."), "/");
        assert_eq!(join_path("/a/b", "../../../c/./"), "/c/");
        assert_eq!(join_path("/", "./"), "/");
        assert_eq!(join_path("/", "/"), "/");
        assert_eq!(join_path("/src", ""), "/src");
        assert_eq!(join_path("relative/base", "x"), "/relative/base/x");
    }

    #[test]
    fn owned_paths_join_like_borrowed_ones() {
        for path in ["/", "//", "/a", "/a/", "/a//b", "/a/./b", "/a/.", "/a/..", "/a/b/", "a", "", ".", "./", "/.", "/..", "/a/b//"] {
            assert_eq!(join_path_owned("/src", path.to_string()), join_path("/src", path), "{path:?}");
            assert_eq!(clean_path_owned(path.to_string()), clean_path(path), "{path:?}");
        }
    }

    #[test]
    fn setting_a_default_leaves_the_others_shared() {
        let a = State::scratch().env("A", "1").env("B", "2").cwd("/src");
        let b = a.env("B", "3").user("app");
        assert_eq!((a.get_env("B"), b.get_env("B"), b.get_env("A")), (Some("2"), Some("3"), Some("1")));
        assert!(Arc::ptr_eq(&a.defaults.env[0].1, &b.defaults.env[0].1), "A's value is shared");
        assert!(Arc::ptr_eq(&a.defaults.cwd, &b.defaults.cwd));
        assert_eq!((a.get_user(), b.get_user()), (None, Some("app")));
        let env: Vec<(&str, &str)> = b.env_list().iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(env, vec![("A", "1"), ("B", "3")]);
    }

    #[test]
    fn platform_round_trips() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!(Platform::parse("linux").is_none());
    }
}
