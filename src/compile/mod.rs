//! Spec → LLB, as a pure step: everything the engine knows (base image configs,
//! their account files, caps, the context source) comes in as [`Inputs`].
//!
//! [`select_target`] and [`plan`] resolve a target (what it needs looked up,
//! and every step's meaning); the caller (the frontend, or the CLI with
//! stand-ins) fetches what the plan names; [`compile`] builds the state and the
//! image config from the plan.

mod accounts;
mod config;
mod dockerfile;
pub mod lint;
mod plan;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::image::{ImageConfig, DEFAULT_PATH};
use crate::llb::{
    self, CacheSharing, Caps, Chown, CopyOptions, Exec, FileChain, LlbCap, LocalSource, Mount,
    MountKind, NetworkMode, Platform, ResolveMode, SecretEnv, SourceLocation, State, VertexMeta,
};
use crate::spec::{Base, Command, Copy, Network, Pos, Sharing, Source, Stage, Words};

pub use accounts::{if_present, AccountFiles, ACCOUNT_FILES};
pub use config::{entrypoint, push_shell_quoted, ENTRYPOINT_HELPER};
pub use dockerfile::dockerfile;
pub use plan::{
    plan, select_target, CacheId, ConfigUser, Ids, NoTarget, Plan, PlannedMount, PlannedRun, PlannedStage, PlannedStep, RunAs, Target,
    Workdir,
};

/// An error found while compiling, at a place in the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
}

impl CompileError {
    fn at(pos: Pos, message: impl Into<String>) -> CompileError {
        CompileError { pos, message: message.into(), hint: None }
    }

    fn hint(mut self, hint: impl Into<String>) -> CompileError {
        self.hint = Some(hint.into());
        self
    }

    pub fn diagnostic(&self, file: &crate::hcl::SourceFile) -> crate::hcl::Diagnostic {
        let d = crate::hcl::Diagnostic::at_line(file, self.pos.line, self.pos.column, self.message.clone());
        match &self.hint {
            Some(h) => d.with_hint(h.clone()),
            None => d,
        }
    }
}

/// A base image as the engine resolved it.
#[derive(Debug, Clone, Default)]
pub struct BaseImage {
    /// Normalized reference, pinned by digest when the engine gave one.
    pub reference: String,
    /// The filesystem, when the base is not a registry image but a named context
    /// (another bake target's result, a local directory); `reference` is then its name.
    pub state: Option<State>,
    pub config: ImageConfig,
    pub accounts: AccountFiles,
}

/// Which steps rebuild without the cache: `--no-cache` (every op) or the
/// Dockerfile frontend's `no-cache=a,b` (the steps of those stages).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NoCache {
    #[default]
    Off,
    All,
    Stages(Vec<String>),
}

impl NoCache {
    /// From the frontend option: absent, present and empty, or a list of stages.
    pub fn from_opt(value: Option<&str>) -> NoCache {
        match value.map(str::trim) {
            None => NoCache::Off,
            Some("") => NoCache::All,
            Some(list) => NoCache::Stages(list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()),
        }
    }

    /// Whether the steps of `stage` skip the cache. Names compare as the
    /// Dockerfile frontend compares them, ignoring case.
    pub fn covers(&self, stage: &str) -> bool {
        match self {
            NoCache::Off => false,
            NoCache::All => true,
            NoCache::Stages(names) => names.iter().any(|n| n.eq_ignore_ascii_case(stage)),
        }
    }
}

pub struct Inputs<'a> {
    /// The build context as a local source, with its ignore patterns applied.
    pub context: LocalSource,
    /// Keyed by the reference as written in the spec.
    pub bases: &'a BTreeMap<String, BaseImage>,
    pub caps: &'a Caps,
    pub platform: Platform,
    /// How image sources are resolved (`--pull`, or the engine's local store first).
    pub resolve_mode: ResolveMode,
    pub no_cache: NoCache,
}

#[derive(Debug, Clone)]
pub struct Compiled {
    pub state: State,
    pub config: ImageConfig,
}

/// A stage's result: its filesystem (with run defaults) and, where the build's
/// result or a stage built on it reads it, its image config.
#[derive(Debug, Clone)]
struct Built {
    state: State,
    config: Option<ImageConfig>,
}

struct Compiler<'a> {
    plan: &'a Plan<'a>,
    inputs: &'a Inputs<'a>,
    context: State,
    /// The build's platform, shared by every state and vertex that names it.
    platform: Arc<Platform>,
    /// The run defaults (env, workdir, user) of each registry image a stage
    /// starts from, taken from its config once: stages on the same image share them.
    seeds: BTreeMap<&'a str, State>,
    built: BTreeMap<&'a str, Built>,
    /// SOURCE_DATE_EPOCH in nanoseconds: the time of everything file ops create.
    epoch: Option<i64>,
}

/// The target's filesystem and image config, built from its plan.
pub fn compile(plan: &Plan, inputs: &Inputs) -> Result<Compiled, CompileError> {
    let mut context = inputs.context.clone();
    context.follow_paths = plan.context_paths.clone();
    let platform = Arc::new(inputs.platform.clone());
    let mut seeds = BTreeMap::new();
    for planned in &plan.stages {
        if let Base::Image(reference) = &planned.stage.from {
            if let Some(base) = inputs.bases.get(reference).filter(|b| b.state.is_none()) {
                let fresh = || seed_from_config(State::scratch().shared_platform(platform.clone()), &base.config);
                seeds.entry(reference.as_str()).or_insert_with(fresh);
            }
        }
    }
    let mut compiler = Compiler {
        plan,
        inputs,
        context: context.state(),
        platform,
        seeds,
        built: BTreeMap::new(),
        epoch: plan.spec.source_date_epoch.map(|s| s.saturating_mul(1_000_000_000)),
    };
    for planned in &plan.stages {
        let built = compiler.stage(planned)?;
        compiler.built.insert(&planned.stage.name, built);
    }
    let Built { state, config } = compiler.built.remove(plan.target.stage.name.as_str()).expect("the target was built");
    let mut config = config.expect("the target keeps its config");
    config::finish(&mut config, &inputs.platform, plan.spec.source_date_epoch);
    Ok(Compiled { state, config })
}

impl Compiler<'_> {
    fn base(&self, reference: &str, pos: Pos) -> Result<&BaseImage, CompileError> {
        self.inputs.bases.get(reference).ok_or_else(|| CompileError::at(pos, format!("image \"{reference}\" was not resolved")))
    }

    fn image_state(&self, reference: &str, pos: Pos, name: String) -> Result<State, CompileError> {
        let base = self.base(reference, pos)?;
        if let Some(state) = &base.state {
            return Ok(state.clone());
        }
        let meta = VertexMeta { name: Some(name), location: Some(located(pos)), ..Default::default() };
        Ok(llb::image_state(&base.reference, self.inputs.resolve_mode, self.platform.clone(), meta))
    }

    fn source_state(&self, source: &Source, pos: Pos) -> Result<State, CompileError> {
        match source {
            Source::Context => Ok(self.context.clone()),
            Source::Stage(name) => Ok(self.built[name.as_str()].state.clone()),
            Source::Image(r) => self.image_state(r, pos, format_exact(format_args!("[internal] image {r}"))),
        }
    }

    /// The progress name and source position of an op a stage's step makes.
    /// `what` is written straight into the name: an op's name is made once.
    fn meta(&self, stage: &Stage, what: fmt::Arguments<'_>, pos: Pos) -> VertexMeta {
        let mut meta = VertexMeta::named(format_exact(format_args!("[{}] {what}", stage.name))).at(located(pos));
        meta.ignore_cache = self.inputs.no_cache.covers(&stage.name);
        meta
    }

    /// A file op of a stage, what it creates stamped with SOURCE_DATE_EPOCH.
    fn file(&self, stage: &Stage, state: &State, chain: FileChain, what: fmt::Arguments<'_>, pos: Pos) -> State {
        state.file(chain.stamped(self.epoch), self.meta(stage, what, pos))
    }

    fn stage(&self, planned: &PlannedStage) -> Result<Built, CompileError> {
        let stage = planned.stage;
        let scratch_config = ImageConfig::default();
        // The config the stage starts from; copied at the end only where it is kept.
        let (mut state, config) = match &stage.from {
            Base::Image(reference) => {
                let config = &self.base(reference, stage.pos)?.config;
                let state = self.image_state(reference, stage.pos, format_exact(format_args!("[{}] from {reference}", stage.name)))?;
                let state = match self.seeds.get(reference.as_str()) {
                    // The image's source op with the defaults its config gives.
                    Some(seed) => seed.with_output(state.output),
                    None => seed_from_config(state, config),
                };
                (state, config)
            }
            Base::Stage(parent) => {
                let parent = &self.built[parent.as_str()];
                (parent.state.clone(), parent.config.as_ref().expect("a stage built on keeps its config"))
            }
            Base::Scratch => (State::scratch().shared_platform(self.platform.clone()).env("PATH", DEFAULT_PATH), &scratch_config),
        };
        if !planned.settings.env.is_empty() {
            let mut env = state.env_list().to_vec();
            extend_env(&mut env, &planned.settings.env).map_err(|e| CompileError::at(stage.pos, e))?;
            state = state.with_env(env);
        }
        // The ops that make this stage's layers, for the image's history.
        // Only a build with SOURCE_DATE_EPOCH writes a history.
        let mut layers: Vec<String> = Vec::new();
        let history = self.plan.spec.source_date_epoch.is_some();
        let record = |layers: &mut Vec<String>, state: &State| {
            if history {
                layers.push(state.output().and_then(|o| o.vertex.meta.name.clone()).unwrap_or_default());
            }
        };
        if planned.creates_users {
            let users = &self.plan.users;
            let root = plan::root_image(self.plan.spec, stage);
            let none = AccountFiles::default();
            let base_accounts = root.and_then(|r| self.inputs.bases.get(r)).map_or(&none, |b| &b.accounts);
            let accounts = base_accounts.with_users(users).map_err(|e| CompileError::at(stage.pos, e))?;
            let names: Vec<String> = users.iter().map(|u| format!("{} ({}:{})", u.name, u.uid, u.gid)).collect();
            // Homes get the base's skeleton where the bottom of the chain is a
            // registry image (it has an /etc; a named context may not).
            let from_registry = root.and_then(|r| self.inputs.bases.get(r)).is_some_and(|b| b.state.is_none());
            let base = from_registry.then_some(&state);
            let chain = accounts.write(users, base);
            state = self.file(stage, &state, chain, format_args!("create users {}", names.join(", ")), stage.pos);
            record(&mut layers, &state);
        }
        if let Some(workdir) = &planned.workdir {
            state = state.cwd(workdir.path);
            let chain = FileChain::new().mkdir(state.get_cwd(), workdir.mode, true, workdir.owner.map(chown));
            state = self.file(stage, &state, chain, format_args!("workdir {}", state.get_cwd()), stage.pos);
            record(&mut layers, &state);
        }
        for step in &planned.steps {
            state = match step {
                PlannedStep::Run(run) => self.run(stage, state, run, config)?,
                PlannedStep::Copy { copy, owner } => self.copy(stage, state, copy, *owner)?,
                PlannedStep::MountPoint { copy, owner } => {
                    let dest = llb::join_path(state.get_cwd(), &copy.dest);
                    let meta = self.meta(stage, format_args!("mount point {dest} (source mounted at run time)"), copy.pos);
                    state.file(FileChain::new().mkdir(dest, 0o755, true, owner.map(chown)).stamped(self.epoch), meta)
                }
                PlannedStep::Dir { dir, owner } => {
                    let path = llb::join_path(state.get_cwd(), &dir.path);
                    let meta = self.meta(stage, format_args!("dir {path}"), dir.pos);
                    state.file(FileChain::new().mkdir(path, dir.mode, true, owner.map(chown)).stamped(self.epoch), meta)
                }
            };
            record(&mut layers, &state);
        }
        if let Some(script) = planned.entrypoint_helper() {
            let chain = FileChain::new().mkfile(ENTRYPOINT_HELPER, 0o755, script, None);
            state = self.file(stage, &state, chain, format_args!("entrypoint helper"), stage.pos);
            record(&mut layers, &state);
        }
        let config = self.keeps_config(stage).then(|| {
            let mut config = config.clone();
            let user = planned.config_user().map(|u| match u {
                ConfigUser::Name(name) => name,
                ConfigUser::Ids(ids) => ids.to_string(),
            });
            config::apply(&mut config, planned, &state, user);
            if let Some(epoch) = self.plan.spec.source_date_epoch {
                config::add_history(&mut config, &layers, epoch);
            }
            config
        });
        Ok(Built { state, config })
    }

    /// Whether a stage's image config is read: it is the build's result, or
    /// a stage is built on it. Other stages' configs are never made.
    fn keeps_config(&self, stage: &Stage) -> bool {
        stage.name == self.plan.target.stage.name
            || self.plan.stages.iter().any(|p| matches!(&p.stage.from, Base::Stage(parent) if *parent == stage.name))
    }

    fn run(&self, stage: &Stage, state: State, planned: &PlannedRun, config: &ImageConfig) -> Result<State, CompileError> {
        let run = planned.run;
        let args = match &run.command {
            Command::Exec(args) => args.clone(),
            Command::Shell(line) => {
                let mut shell = config::shell(config);
                shell.push(run.shell_line(line));
                shell
            }
        };
        let user = match &planned.user {
            RunAs::Base => state.get_user().unwrap_or("root").to_string(),
            RunAs::Root => "root".to_string(),
            // Spec users run by id: intermediate stages do not have their account.
            RunAs::Uid(ids) | RunAs::User { ids, .. } => ids.to_string(),
        };
        // The step's env is added to the stage's, and may refer to it.
        let env: Vec<(String, String)> = if planned.env.is_empty() {
            Vec::new()
        } else {
            let mut env = state.env_list().to_vec();
            extend_env(&mut env, &planned.env).map_err(|e| CompileError::at(run.pos, e))?;
            planned.env.iter().map(|(k, _)| (k.clone(), lookup(&env, k).unwrap_or_default().to_string())).collect()
        };
        let cwd = run.workdir.as_ref().map(|w| llb::join_path(state.get_cwd(), w)).unwrap_or_else(|| state.get_cwd().to_string());
        let mut mounts = Vec::new();
        let mut secret_env = Vec::new();
        for mount in &planned.mounts {
            match mount {
                PlannedMount::Cache { target, id, sharing, owner, mode } => {
                    let base = (!owner.is_root() || *mode != 0o755).then(|| {
                        // A cache used by a non-root step must start owned by it.
                        let chain = FileChain::new().mkdir("/cache", *mode, false, Some(chown(*owner)));
                        let seeded = self.file(stage, &State::scratch(), chain, format_args!("cache {target} owned by {owner}"), run.pos);
                        (seeded, "/cache".to_string())
                    });
                    let sharing = match sharing {
                        Sharing::Shared => CacheSharing::Shared,
                        Sharing::Private => CacheSharing::Private,
                        Sharing::Locked => CacheSharing::Locked,
                    };
                    let id = format_exact(format_args!("{id}"));
                    mounts.push(Mount { dest: target.to_string(), kind: MountKind::Cache { id, sharing, base } });
                }
                PlannedMount::Bind { from, source, target, rw } => {
                    let dest = target.map(str::to_string).unwrap_or_else(|| llb::join_path(&cwd, source));
                    mounts.push(Mount {
                        dest,
                        kind: MountKind::Bind {
                            source: self.source_state(from, run.pos)?,
                            // A relative path cleans as the absolute one: `source` under the root.
                            selector: Some(llb::clean_path(source)).filter(|s| s != "/"),
                            readonly: !rw,
                            discard_writes: *rw,
                        },
                    });
                }
                PlannedMount::Secret { id, target, env: as_env, required, mode, owner } => {
                    if let Some(name) = as_env {
                        if !self.inputs.caps.has(LlbCap::ExecSecretEnv) {
                            return Err(CompileError::at(run.pos, format!("secret \"{id}\" as env {name} needs BuildKit 0.10 or later (Docker 23+)"))
                                .hint("mount it as a file with target = \"/run/secrets/…\" instead"));
                        }
                        secret_env.push(SecretEnv { name: name.to_string(), id: id.to_string(), optional: !required });
                    }
                    if let Some(target) = target {
                        mounts.push(Mount {
                            dest: target.to_string(),
                            kind: MountKind::Secret { id: id.to_string(), uid: owner.uid, gid: owner.gid, mode: *mode, optional: !required },
                        });
                    }
                }
                PlannedMount::Ssh { id, target, required, owner } => mounts.push(Mount {
                    dest: target.clone(),
                    kind: MountKind::Ssh { id: id.to_string(), uid: owner.uid, gid: owner.gid, mode: 0o600, optional: !required },
                }),
                PlannedMount::Tmpfs { target, size } => {
                    if size.is_some() && !self.inputs.caps.has(LlbCap::ExecMountTmpfsSize) {
                        return Err(CompileError::at(run.pos, "a tmpfs size needs BuildKit 0.10 or later (Docker 23+)")
                            .hint("leave size unset on this engine"));
                    }
                    mounts.push(Mount { dest: target.to_string(), kind: MountKind::Tmpfs { size: *size } });
                }
            }
        }
        Ok(state
            .run(Exec {
                args,
                env,
                cwd: Some(cwd),
                user: Some(user),
                network: match run.network {
                    Network::Default => NetworkMode::Sandbox,
                    Network::None => NetworkMode::None,
                    Network::Host => NetworkMode::Host,
                },
                mounts,
                secret_env,
                // Meta.removeMountStubsRecursive came with BuildKit 0.11, as did this cap.
                remove_mount_stubs: self.inputs.caps.has(LlbCap::ExporterSourceDateEpoch),
                meta: self.meta(stage, format_args!("run {}", run.command.display()), run.pos),
            })
            .root())
    }

    fn copy(&self, stage: &Stage, state: State, copy: &Copy, owner: Option<Ids>) -> Result<State, CompileError> {
        let filtered = !copy.include.is_empty() || !copy.exclude.is_empty();
        let mut source = self.source_state(&copy.from, copy.pos)?;
        let mut options = CopyOptions {
            chown: owner.map(chown),
            mode: copy.mode,
            include: copy.include.clone(),
            exclude: copy.exclude.clone(),
            timestamp: self.epoch,
            ..Default::default()
        };
        if filtered && !self.inputs.caps.has(LlbCap::FileCopyIncludeExcludePatterns) {
            if copy.from != Source::Context || copy.sources.len() != 1 {
                return Err(CompileError::at(copy.pos, "include and exclude on this copy need BuildKit 0.9 or later (Docker 23+)")
                    .hint("on older engines they work only on a single source from the context"));
            }
            // The engine cannot filter a copy: let the file sync filter instead.
            source = self.filtered_context(&copy.sources[0], &copy.include, &copy.exclude);
            options.include.clear();
            options.exclude.clear();
        }
        // Several sources, or the workdir itself, go into a directory, as with COPY.
        let into_dir = copy.sources.len() > 1 || copy.dest == "." || copy.dest.ends_with("/.");
        let dest = if into_dir && !copy.dest.ends_with('/') { format!("{}/", copy.dest) } else { copy.dest.clone() };
        let dest = llb::join_path(state.get_cwd(), &dest);
        let from = CopiedFrom(&copy.from);
        let sources = Words(&copy.sources);
        if copy.link {
            let [src] = copy.sources.as_slice() else {
                return Err(CompileError::at(copy.pos, "a linked copy takes one source").hint("split it into one copy per source"));
            };
            return Ok(llb::merge_or_copy(&state, &source, src, &dest, options, self.inputs.caps, self.meta(stage, format_args!("copy {from}{sources} → {dest}"), copy.pos)));
        }
        let meta = self.meta(stage, format_args!("copy {from}{sources} → {dest}"), copy.pos);
        // The last source takes the options and destination; the others copy them.
        let mut chain = FileChain::new();
        if let Some((last, others)) = copy.sources.split_last() {
            for src in others {
                chain = chain.copy(&source, src, &dest, options.clone());
            }
            chain = chain.copy(&source, last, dest, options);
        }
        Ok(state.file(chain.stamped(self.epoch), meta))
    }

    /// The context with only what `source` filtered by the patterns keeps.
    fn filtered_context(&self, source: &str, include: &[String], exclude: &[String]) -> State {
        let prefix = plan::context_path(source);
        let under = |p: &String| if prefix == "." { p.clone() } else { format!("{prefix}/{p}") };
        let mut local = self.inputs.context.clone();
        local.follow_paths = vec![prefix.clone()];
        local.include = include.iter().map(under).collect();
        local.exclude.extend(exclude.iter().map(under));
        local.shared_key_hint = None;
        local.name_in_progress = Some(format!("[internal] load build context ({prefix}, filtered)"));
        local.state()
    }
}

/// Where a copy's sources are, as its op's name says it: nothing for the context.
struct CopiedFrom<'a>(&'a Source);

impl fmt::Display for CopiedFrom<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Source::Context => Ok(()),
            Source::Stage(s) => write!(f, "stage.{s}:"),
            Source::Image(r) => write!(f, "{r}:"),
        }
    }
}

/// `args` formatted into a string allocated once, at its length (`format!`
/// guesses a capacity and grows it, an allocation each time).
fn format_exact(args: fmt::Arguments<'_>) -> String {
    struct Length(usize);
    impl fmt::Write for Length {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    let mut length = Length(0);
    // Writing into a counter or a String cannot fail; a Display that fails
    // would leave a shorter name.
    let _ = fmt::write(&mut length, args);
    let mut out = String::with_capacity(length.0);
    let _ = fmt::write(&mut out, args);
    out
}

fn chown(ids: Ids) -> Chown {
    Chown::ids(ids.uid, ids.gid)
}

/// A spec position as the source map's location of an op.
fn located(pos: Pos) -> SourceLocation {
    SourceLocation { line: pos.line as u32, column: pos.column as u32 }
}

/// A stage's state starts with its image's env, workdir and user, as `FROM` does.
fn seed_from_config(mut state: State, config: &ImageConfig) -> State {
    state = state.envs(config.env_pairs());
    if state.get_env("PATH").is_none() {
        state = state.env("PATH", DEFAULT_PATH);
    }
    if !config.config.working_dir.is_empty() {
        state = state.cwd(&config.config.working_dir);
    }
    if !config.config.user.is_empty() {
        state = state.user(&config.config.user);
    }
    state
}

fn lookup<'e, S: AsRef<str>>(env: &'e [(S, S)], name: &str) -> Option<&'e str> {
    env.iter().rev().find(|(k, _)| k.as_ref() == name).map(|(_, v)| v.as_ref())
}

/// Sets `pairs` in `env` in order, each value expanded against what `env`
/// holds by then, as consecutive `ENV` lines of a Dockerfile do.
fn extend_env<S>(env: &mut Vec<(S, S)>, pairs: &[(String, String)]) -> Result<(), String>
where
    S: AsRef<str> + for<'k> From<&'k str> + for<'k> From<Cow<'k, str>>,
{
    for (key, value) in pairs {
        let value = expand_vars(value, env)?;
        match env.iter_mut().find(|(k, _)| k.as_ref() == key) {
            Some(slot) => slot.1 = S::from(value),
            None => env.push((S::from(key.as_str()), S::from(value))),
        }
    }
    Ok(())
}

/// `$NAME`, `${NAME}` and the Dockerfile's `${NAME:-default}`, `${NAME-default}`,
/// `${NAME:+alternate}`, `${NAME+alternate}` and `${NAME:?message}` in an env
/// value, replaced from `env` as ENV does (so `PATH = "/venv/bin:$PATH"` extends
/// the base's PATH); `\$` is a literal `$`. In HCL, `${` is written `$${`.
fn expand_vars<'v, S: AsRef<str>>(value: &'v str, env: &[(S, S)]) -> Result<Cow<'v, str>, String> {
    if !value.contains(['$', '\\']) {
        // Nothing to expand: the value as it is, without a copy.
        return Ok(Cow::Borrowed(value));
    }
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find(['$', '\\']) {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if rest[at..].starts_with('\\') {
            match after.strip_prefix('$') {
                Some(tail) => {
                    out.push('$');
                    rest = tail;
                }
                None => {
                    out.push('\\');
                    rest = after;
                }
            }
            continue;
        }
        if let Some(braced) = after.strip_prefix('{') {
            let Some(end) = closing_brace(braced) else {
                return Err(format!("\"{value}\" has a ${{ without its closing }}"));
            };
            out.push_str(&expand_braced(&braced[..end], env)?);
            rest = &braced[end + 1..];
            continue;
        }
        let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        if end == 0 {
            out.push('$');
        } else {
            out.push_str(lookup(env, &after[..end]).unwrap_or_default());
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// The index of the `}` that closes a `${`, counting nested ones in the word.
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The inside of `${…}`: a name, optionally with a modifier and its word.
fn expand_braced<S: AsRef<str>>(inner: &str, env: &[(S, S)]) -> Result<String, String> {
    let end = inner.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(inner.len());
    let (name, modifier) = inner.split_at(end);
    let value = lookup(env, name);
    let set = value.is_some();
    let non_empty = value.is_some_and(|v| !v.is_empty());
    let word = |w: &str| expand_vars(w, env).map(Cow::into_owned);
    match modifier {
        "" => Ok(value.unwrap_or_default().to_string()),
        m if m.starts_with(":-") => if non_empty { Ok(value.unwrap_or_default().into()) } else { word(&m[2..]) },
        m if m.starts_with(":+") => if non_empty { word(&m[2..]) } else { Ok(String::new()) },
        m if m.starts_with(":?") => match non_empty {
            true => Ok(value.unwrap_or_default().into()),
            false => Err(format!("{name} is not set: {}", word(&m[2..])?)),
        },
        m if m.starts_with('-') => if set { Ok(value.unwrap_or_default().into()) } else { word(&m[1..]) },
        m if m.starts_with('+') => if set { word(&m[1..]) } else { Ok(String::new()) },
        m if m.starts_with('?') => match set {
            true => Ok(value.unwrap_or_default().into()),
            false => Err(format!("{name} is not set: {}", word(&m[1..])?)),
        },
        _ => Err(format!("${{{inner}}} is not a variable reference: write $${{NAME}}, $${{NAME:-default}} or $${{NAME:+alternate}}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::pb;
    use prost::Message;

    /// The definition of a spec's default target, compiled against stand-ins on `caps`.
    fn definition(text: &str, caps: &Caps) -> pb::Definition {
        definition_with_args(text, caps, &[])
    }

    fn definition_with_args(text: &str, caps: &Caps, args: &[(&str, &str)]) -> pb::Definition {
        definition_resolving(text, caps, args, ResolveMode::Default)
    }

    fn definition_resolving(text: &str, caps: &Caps, args: &[(&str, &str)], resolve_mode: ResolveMode) -> pb::Definition {
        let file = crate::hcl::SourceFile::new("app.hcl", text);
        let args = args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let spec = crate::spec::parse_spec(&file, &args).unwrap_or_else(|d| panic!("{d}"));
        let plan = plan(&spec, &select_target(&spec, None).unwrap());
        let bases = plan.images.iter().map(|r| (r.clone(), BaseImage { reference: r.clone(), ..Default::default() })).collect();
        let context = LocalSource { name: "context".into(), ..Default::default() };
        let inputs = Inputs { context, bases: &bases, caps, platform: Platform::linux_amd64(), resolve_mode, no_cache: NoCache::Off };
        llb::marshal::definition(&compile(&plan, &inputs).unwrap().state, false)
    }

    fn ops(def: &pb::Definition) -> Vec<pb::op::Op> {
        def.def.iter().filter_map(|b| pb::Op::decode(&b[..]).unwrap().op).collect()
    }

    #[test]
    fn source_date_epoch_stamps_every_file_the_build_creates() {
        let spec = "user \"app\" {}\nimage \"a\" {\n  from = \"debian\"\n  workdir = \"/src\"\n  copy { source = \"x\" }\n  run \"true\" {\n    user = user.app\n    cache { target = \"/c\" }\n  }\n  on_start = [\"true\"]\n}\n";
        let stamps = |args: &[(&str, &str)]| -> Vec<(String, i64)> {
            ops(&definition_with_args(spec, &Caps::current(), args))
                .into_iter()
                .filter_map(|op| match op {
                    pb::op::Op::File(f) => Some(f.actions),
                    _ => None,
                })
                .flatten()
                .filter_map(|a| match a.action? {
                    pb::file_action::Action::Mkdir(d) => Some((d.path, d.timestamp)),
                    pb::file_action::Action::Mkfile(f) => Some((f.path, f.timestamp)),
                    pb::file_action::Action::Copy(c) => Some((c.dest, c.timestamp)),
                    _ => None,
                })
                .collect()
        };
        let stamped = stamps(&[("SOURCE_DATE_EPOCH", "1700000000")]);
        let paths: Vec<&str> = stamped.iter().map(|(p, _)| p.as_str()).collect();
        // Account files, the home and its skeleton, then the directories they are
        // made in; the workdir; the copy into it, then the workdir again; the
        // cache's seed; the helper, then its directories.
        assert_eq!(
            paths,
            [
                "/etc/passwd", "/etc/group", "/home/app", "/home/app/", "/etc", "/home", "/home/app", "/src", "/src/", "/src", "/cache",
                "/usr/local/bin/leaven-entrypoint", "/usr", "/usr/local", "/usr/local/bin"
            ]
        );
        assert!(stamped.iter().all(|(_, t)| *t == 1_700_000_000_000_000_000), "{stamped:?}");
        let unstamped = stamps(&[]);
        assert_eq!(unstamped.len(), 8, "no epoch, no touches: {unstamped:?}");
        assert!(unstamped.iter().all(|(_, t)| *t == -1), "no epoch: the engine's time");
    }

    #[test]
    fn pull_reaches_every_image_source() {
        let spec = "image \"a\" {\n  from = \"debian\"\n  copy {\n    from = \"busybox\"\n    source = \"/bin/sh\"\n  }\n  run \"true\" {\n    bind {\n      from = \"alpine\"\n      source = \"/etc\"\n      target = \"/x\"\n    }\n  }\n}\n";
        let modes = |mode| -> Vec<(String, Option<String>)> {
            ops(&definition_resolving(spec, &Caps::current(), &[], mode))
                .into_iter()
                .filter_map(|op| match op {
                    pb::op::Op::Source(s) => Some((s.identifier, s.attrs.get("image.resolvemode").cloned())),
                    _ => None,
                })
                .filter(|(id, _)| id.starts_with("docker-image://"))
                .collect()
        };
        let pulled = modes(ResolveMode::Pull);
        assert_eq!(pulled.len(), 3, "{pulled:?}");
        assert!(pulled.iter().all(|(_, m)| m.as_deref() == Some("pull")), "{pulled:?}");
        assert!(modes(ResolveMode::Default).iter().all(|(_, m)| m.is_none()), "the engine's default needs no attr");
    }

    #[test]
    fn no_cache_means_every_step_or_the_stages_named() {
        assert_eq!(NoCache::from_opt(None), NoCache::Off);
        assert!(NoCache::from_opt(Some("")).covers("deps"));
        let some = NoCache::from_opt(Some("deps, CSS"));
        assert!(some.covers("deps") && some.covers("css") && !some.covers("release"));
    }

    #[test]
    fn no_cache_of_stages_rebuilds_only_their_steps() {
        let text = "stage \"deps\" {\n  from = \"debian\"\n  run \"make deps\" {}\n}\nimage \"app\" {\n  from = \"debian\"\n  copy {\n    from = stage.deps\n    source = \"/out\"\n  }\n  run \"make app\" {}\n}\n";
        let file = crate::hcl::SourceFile::new("app.hcl", text);
        let spec = crate::spec::parse_spec(&file, &BTreeMap::new()).unwrap();
        let plan = plan(&spec, &select_target(&spec, None).unwrap());
        let bases = plan.images.iter().map(|r| (r.clone(), BaseImage { reference: r.clone(), ..Default::default() })).collect();
        let context = LocalSource { name: "context".into(), ..Default::default() };
        let caps = Caps::current();
        let inputs = Inputs {
            context,
            bases: &bases,
            caps: &caps,
            platform: Platform::linux_amd64(),
            resolve_mode: ResolveMode::Default,
            no_cache: NoCache::from_opt(Some("DEPS")),
        };
        let def = llb::marshal::definition(&compile(&plan, &inputs).unwrap().state, false);
        let mut ignored: Vec<String> = def
            .metadata
            .values()
            .map(|m| m.fields())
            .filter(|m| m.ignore_cache)
            .filter_map(|mut m| m.description.remove("llb.customname"))
            .collect();
        ignored.sort();
        assert_eq!(ignored, vec!["[deps] run make deps"]);
    }

    #[test]
    fn runs_remove_their_mount_stubs_where_the_engine_can() {
        let spec = "image \"a\" {\n  from = \"debian\"\n  run \"true\" {\n    secret { id = \"ca\" }\n    bind {\n      source = \"x\"\n      target = \"/tmp/in/x\"\n    }\n  }\n}\n";
        let flag = |caps: &Caps| {
            ops(&definition(spec, caps))
                .into_iter()
                .find_map(|op| match op {
                    pb::op::Op::Exec(e) => Some(e.meta.unwrap().remove_mount_stubs_recursive),
                    _ => None,
                })
                .unwrap()
        };
        assert!(flag(&Caps::current()));
        // Docker 20.10 (BuildKit 0.8) lacks the 0.11 caps and would drop the field.
        let old = Caps::from_ids(Caps::current().missing_from(&Caps::from_ids(["exporter.sourcedateepoch"])));
        assert!(!flag(&old));
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn env_values_expand_like_env_in_a_dockerfile() {
        let base = env(&[("PATH", "/usr/bin"), ("HOME", "/root"), ("EMPTY", "")]);
        assert_eq!(expand_vars("/venv/bin:$PATH", &base).unwrap(), "/venv/bin:/usr/bin");
        assert_eq!(expand_vars("${HOME}/x $UNSET$", &base).unwrap(), "/root/x $");
        assert_eq!(expand_vars("${UNSET:-/opt}/bin", &base).unwrap(), "/opt/bin");
        assert_eq!(expand_vars("${EMPTY:-x} ${EMPTY-x} ${HOME:+set} ${UNSET+set}.", &base).unwrap(), "x  set .");
        assert_eq!(expand_vars("${UNSET:-$HOME/d}", &base).unwrap(), "/root/d");
        assert_eq!(expand_vars("cost \\$5", &base).unwrap(), "cost $5");
        assert_eq!(expand_vars("${UNSET:?needed}", &base).unwrap_err(), "UNSET is not set: needed");
        assert!(expand_vars("${HOME", &base).is_err());
    }

    #[test]
    fn stage_and_step_env_expand_against_the_environment() {
        let spec = "image \"a\" {\n  from = \"debian\"\n  env = { HOME_DIR = \"$${HOME:-/home/none}\" }\n  run \"true\" {\n    env = { PATH = \"/venv/bin:$PATH\", DIR = \"$HOME_DIR/x\" }\n  }\n}\n";
        let env = ops(&definition(spec, &Caps::current()))
            .into_iter()
            .find_map(|op| match op {
                pb::op::Op::Exec(e) => Some(e.meta.unwrap().env),
                _ => None,
            })
            .unwrap();
        assert_eq!(env, vec![format!("PATH=/venv/bin:{DEFAULT_PATH}"), "HOME_DIR=/home/none".into(), "DIR=/home/none/x".into()]);
    }

    #[test]
    fn env_lines_apply_in_order() {
        let mut e = env(&[("PATH", "/bin")]);
        extend_env(&mut e, &env(&[("PATH", "/a:$PATH"), ("PATH", "/b:$PATH"), ("X", "${Y:-y}")])).unwrap();
        assert_eq!(e, env(&[("PATH", "/b:/a:/bin"), ("X", "y")]));
    }

}
