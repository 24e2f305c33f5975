//! Spec → LLB, as a pure step: everything the engine knows (base image configs,
//! their account files, caps, the context source) comes in as [`Inputs`].
//!
//! [`select_target`] and [`plan`] say what a target needs looked up; the caller
//! (the frontend, or the CLI with stand-ins) fetches it; [`compile`] builds the
//! state and the image config.

mod accounts;
mod config;
mod dockerfile;

use std::collections::BTreeMap;

use crate::image::{ImageConfig, DEFAULT_PATH};
use crate::llb::{
    self, CacheSharing, Caps, Chown, CopyOptions, Exec, FileChain, ImageSource, LlbCap, LocalSource, Mount,
    MountKind, NetworkMode, Platform, ResolveMode, SecretEnv, SourceLocation, State, VertexMeta,
};
use crate::spec::{
    stage_uses, Base, Command, Copy, Network, Owner, Pos, Run, RunMount, Sharing, Source, SourceMode, Spec, Stage,
    StageKind, Step, User, Variant,
};

pub use accounts::{AccountFiles, ACCOUNT_FILES};
pub use dockerfile::dockerfile;

/// What a build makes: a stage or image as written, or an image in a variant.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub stage: &'a Stage,
    pub variant: Option<&'a Variant>,
}

impl Target<'_> {
    pub fn name(&self) -> &str {
        self.variant.map(|v| v.name.as_str()).unwrap_or(&self.stage.name)
    }

    fn source_mode(&self) -> SourceMode {
        self.variant.map(|v| v.source).unwrap_or(SourceMode::Copy)
    }
}

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

/// What building one target needs from outside the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Stages to build, each after the stages it uses; the target's last.
    pub stages: Vec<String>,
    /// Image references as written, each once: bases and copy/bind sources.
    pub images: Vec<String>,
    /// Images whose account files (passwd, group, shadow) must be read.
    pub account_images: Vec<String>,
    /// Context paths the build reads; only these are transferred.
    pub context_paths: Vec<String>,
    /// The spec's users with this target's UIDs.
    pub users: Vec<User>,
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

pub struct Inputs<'a> {
    /// The build context as a local source, with its ignore patterns applied.
    pub context: LocalSource,
    /// Keyed by the reference as written in the spec.
    pub bases: &'a BTreeMap<String, BaseImage>,
    pub caps: &'a Caps,
    pub platform: Platform,
    /// How image sources are resolved (`--pull`, or the engine's local store first).
    pub resolve_mode: ResolveMode,
}

#[derive(Debug, Clone)]
pub struct Compiled {
    pub state: State,
    pub config: ImageConfig,
}

/// The target named (a stage, image or variant), or the last image.
pub fn select_target<'a>(spec: &'a Spec, name: Option<&str>) -> Result<Target<'a>, String> {
    let names = || {
        let mut all: Vec<&str> = spec.stages.iter().map(|s| s.name.as_str()).collect();
        all.extend(spec.variants.iter().map(|v| v.name.as_str()));
        all.join(", ")
    };
    match name.filter(|t| !t.is_empty()) {
        Some(name) => {
            if let Some(variant) = spec.variant(name) {
                let stage = spec.stage(&variant.image).expect("variants name checked images");
                return Ok(Target { stage, variant: Some(variant) });
            }
            spec.stage(name)
                .map(|stage| Target { stage, variant: None })
                .ok_or_else(|| format!("{}: no target named \"{name}\" (it has: {})", spec.file, names()))
        }
        None => spec
            .default_image()
            .map(|stage| Target { stage, variant: None })
            .ok_or_else(|| format!("{}: no image block to build; pass a target (it has: {})", spec.file, names())),
    }
}

/// The spec's users as this target builds them: a variant's UID replaces the
/// UID of the user its image runs as.
fn target_users(spec: &Spec, target: &Target) -> Vec<User> {
    let runs_as = image_user_name(spec, target.stage);
    spec.users
        .iter()
        .map(|u| {
            let mut user = u.clone();
            if let (Some(variant), Some(name)) = (target.variant, &runs_as) {
                if *name == user.name {
                    if let Some(uid) = variant.uid {
                        user.uid = uid;
                        user.gid = variant.gid.unwrap_or(uid);
                    } else if let Some(gid) = variant.gid {
                        user.gid = gid;
                    }
                }
            }
            user
        })
        .collect()
}

/// The spec user an image runs as: the one it names, or the spec's only user.
fn image_user_name(spec: &Spec, stage: &Stage) -> Option<String> {
    if stage.kind != StageKind::Image {
        return None;
    }
    match &stage.settings.user {
        Some(name) => spec.user(name).map(|u| u.name.clone()),
        None if spec.users.len() == 1 => Some(spec.users[0].name.clone()),
        None => None,
    }
}

pub fn plan(spec: &Spec, target: &Target) -> Plan {
    let mut stages: Vec<String> = Vec::new();
    fn visit(spec: &Spec, name: &str, out: &mut Vec<String>) {
        if out.iter().any(|s| s == name) {
            return;
        }
        let stage = spec.stage(name).expect("checked stage references");
        for (_, used) in stage_uses(stage) {
            visit(spec, used, out);
        }
        out.push(name.to_string());
    }
    visit(spec, &target.stage.name, &mut stages);

    let mut images: Vec<String> = Vec::new();
    let mut account_images: Vec<String> = Vec::new();
    let mut context_paths: Vec<String> = Vec::new();
    let add = |list: &mut Vec<String>, item: String| {
        if !list.contains(&item) {
            list.push(item);
        }
    };
    for name in &stages {
        let stage = spec.stage(name).expect("planned stages exist");
        if let Base::Image(r) = &stage.from {
            add(&mut images, r.clone());
        }
        if stage.kind == StageKind::Image && !spec.users.is_empty() {
            if let Some(root) = root_image(spec, stage) {
                add(&mut account_images, root);
            }
        }
        let mounted = stage.name == target.stage.name && target.source_mode() == SourceMode::Mount;
        for step in &stage.steps {
            match step {
                Step::Copy(c) => match &c.from {
                    Source::Context if !mounted => c.sources.iter().for_each(|s| add(&mut context_paths, context_path(s))),
                    Source::Image(r) => add(&mut images, r.clone()),
                    _ => {}
                },
                Step::Run(run) => {
                    for mount in &run.mounts {
                        match mount {
                            RunMount::Bind { from: Source::Context, source, .. } => add(&mut context_paths, context_path(source)),
                            RunMount::Bind { from: Source::Image(r), .. } => add(&mut images, r.clone()),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    Plan { stages, images, account_images, context_paths, users: target_users(spec, target) }
}

/// The image at the bottom of a stage's chain of bases, if it has one.
fn root_image(spec: &Spec, stage: &Stage) -> Option<String> {
    let mut current = stage;
    loop {
        match &current.from {
            Base::Image(r) => return Some(r.clone()),
            Base::Stage(parent) => current = spec.stage(parent)?,
            Base::Scratch => return None,
        }
    }
}

/// A context-relative path as the engine's file sync wants it (no leading `/`).
fn context_path(source: &str) -> String {
    match llb::clean_path(&format!("/{source}")).trim_start_matches('/') {
        "" => ".".to_string(),
        p => p.to_string(),
    }
}

/// A stage's result: its filesystem (with run defaults) and its image config.
#[derive(Debug, Clone)]
struct Built {
    state: State,
    config: ImageConfig,
}

struct Compiler<'a> {
    spec: &'a Spec,
    target: Target<'a>,
    inputs: &'a Inputs<'a>,
    users: Vec<User>,
    context: State,
    built: BTreeMap<String, Built>,
}

pub fn compile(spec: &Spec, target: &Target, inputs: &Inputs) -> Result<Compiled, CompileError> {
    let plan = plan(spec, target);
    let mut context = inputs.context.clone();
    context.follow_paths = plan.context_paths.clone();
    let mut compiler = Compiler {
        spec,
        target: *target,
        inputs,
        users: plan.users.clone(),
        context: context.state(),
        built: BTreeMap::new(),
    };
    for name in &plan.stages {
        let stage = spec.stage(name).expect("planned stages exist");
        let built = compiler.stage(stage)?;
        compiler.built.insert(name.clone(), built);
    }
    let Built { state, mut config } = compiler.built.remove(&target.stage.name).expect("the target was built");
    config::finish(&mut config, &inputs.platform, spec.source_date_epoch);
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
        Ok(ImageSource {
            reference: base.reference.clone(),
            platform: Some(self.inputs.platform.clone()),
            name: Some(name),
            location: Some(located(pos)),
            resolve_mode: self.inputs.resolve_mode,
        }
        .state())
    }

    fn source_state(&self, source: &Source, pos: Pos) -> Result<State, CompileError> {
        match source {
            Source::Context => Ok(self.context.clone()),
            Source::Stage(name) => Ok(self.built[name].state.clone()),
            Source::Image(r) => self.image_state(r, pos, format!("[internal] image {r}")),
        }
    }

    fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    fn owner_ids(&self, owner: &Owner, pos: Pos) -> Result<(u32, u32), CompileError> {
        match owner {
            Owner::Ids { uid, gid } => Ok((*uid, *gid)),
            Owner::User(name) => self.user(name).map(|u| (u.uid, u.gid)).ok_or_else(|| CompileError::at(pos, format!("unknown user \"{name}\""))),
        }
    }

    fn stage(&self, stage: &Stage) -> Result<Built, CompileError> {
        let (mut state, mut config) = match &stage.from {
            Base::Image(reference) => {
                let config = self.base(reference, stage.pos)?.config.clone();
                let state = self.image_state(reference, stage.pos, format!("[{}] from {reference}", stage.name))?;
                (seed_from_config(state, &config), config)
            }
            Base::Stage(parent) => {
                let parent = &self.built[parent];
                (parent.state.clone(), parent.config.clone())
            }
            Base::Scratch => (State::scratch().platform(self.inputs.platform.clone()).env("PATH", DEFAULT_PATH), ImageConfig::default()),
        };
        let runs_as = image_user_name(self.spec, stage).and_then(|n| self.user(&n).cloned());
        for (k, v) in &stage.settings.env {
            let value = expand_vars(v, &state);
            state = state.env(k, &value);
        }
        if stage.kind == StageKind::Image && !self.users.is_empty() {
            let root = root_image(self.spec, stage);
            let base_accounts = root.and_then(|r| self.inputs.bases.get(&r)).map(|b| b.accounts.clone()).unwrap_or_default();
            let accounts = base_accounts.with_users(&self.users).map_err(|e| CompileError::at(stage.pos, e))?;
            let names: Vec<String> = self.users.iter().map(|u| format!("{} ({}:{})", u.name, u.uid, u.gid)).collect();
            state = state.file(accounts.write(&self.users), VertexMeta::named(format!("[{}] create users {}", stage.name, names.join(", "))).at(located(stage.pos)));
        }
        if let Some(dir) = &stage.settings.workdir {
            state = state.cwd(dir);
            // An image's workdir belongs to its user; a stage's, like WORKDIR, to root.
            let owner = runs_as.as_ref().map(|u| Chown::ids(u.uid, u.gid));
            let chain = FileChain::new().mkdir(state.get_cwd(), 0o755, true, owner);
            state = state.file(chain, VertexMeta::named(format!("[{}] workdir {}", stage.name, state.get_cwd())).at(located(stage.pos)));
        }
        let mounted = stage.name == self.target.stage.name && self.target.source_mode() == SourceMode::Mount;
        for step in &stage.steps {
            state = match step {
                Step::Run(run) => self.run(stage, state, run, &config)?,
                Step::Copy(copy) if mounted && copy.from == Source::Context => self.mount_point(stage, state, copy, runs_as.as_ref())?,
                Step::Copy(copy) => self.copy(stage, state, copy)?,
            };
        }
        if !stage.settings.on_start.is_empty() {
            let script = config::entrypoint_script(&stage.settings.on_start);
            let chain = FileChain::new().mkfile(config::ENTRYPOINT_HELPER, 0o755, script, None);
            state = state.file(chain, VertexMeta::named(format!("[{}] entrypoint helper", stage.name)).at(located(stage.pos)));
        }
        config::apply(&mut config, stage, &state, runs_as.as_ref().map(|u| u.name.as_str()));
        if let Some(user) = &runs_as {
            state = state.user(&user.name);
        }
        Ok(Built { state, config })
    }

    fn run(&self, stage: &Stage, state: State, run: &Run, config: &ImageConfig) -> Result<State, CompileError> {
        let args = match &run.command {
            Command::Exec(args) => args.clone(),
            Command::Shell(line) => {
                let mut shell = config::shell(config);
                shell.push(line.clone());
                shell
            }
        };
        // Spec users run by id: intermediate stages do not have their account.
        let (user, step_ids) = match run.user.as_deref().or(state.get_user()) {
            Some(name) => match self.user(name) {
                Some(u) => (format!("{}:{}", u.uid, u.gid), (u.uid, u.gid)),
                None => (name.to_string(), (0, 0)),
            },
            None => ("root".to_string(), (0, 0)),
        };
        let mut mounts = Vec::new();
        let mut secret_env = Vec::new();
        let mut env = run.env.clone();
        let cwd = run.workdir.as_ref().map(|w| llb::join_path(state.get_cwd(), w)).unwrap_or_else(|| state.get_cwd().to_string());
        for (index, mount) in run.mounts.iter().enumerate() {
            match mount {
                RunMount::Cache { target, id, sharing, owner, mode } => {
                    let (uid, gid) = match owner {
                        Some(o) => self.owner_ids(o, run.pos)?,
                        None => step_ids,
                    };
                    let (id, sharing) = cache_identity(target, id, *sharing, uid);
                    let base = (uid != 0 || gid != 0 || *mode != 0o755).then(|| {
                        // A cache used by a non-root step must start owned by it.
                        let seeded = State::scratch().file(
                            FileChain::new().mkdir("/cache", *mode, false, Some(Chown::ids(uid, gid))),
                            VertexMeta::named(format!("[{}] cache {target} owned by {uid}:{gid}", stage.name)).at(located(run.pos)),
                        );
                        (seeded, "/cache".to_string())
                    });
                    mounts.push(Mount {
                        dest: target.clone(),
                        kind: MountKind::Cache {
                            id,
                            sharing: match sharing {
                                Sharing::Shared => CacheSharing::Shared,
                                Sharing::Private => CacheSharing::Private,
                                Sharing::Locked => CacheSharing::Locked,
                            },
                            base,
                        },
                    });
                }
                RunMount::Bind { from, source, target, rw } => {
                    let dest = target.clone().unwrap_or_else(|| llb::join_path(&cwd, source));
                    mounts.push(Mount {
                        dest,
                        kind: MountKind::Bind {
                            source: self.source_state(from, run.pos)?,
                            selector: Some(llb::clean_path(&format!("/{source}"))).filter(|s| s != "/"),
                            readonly: !rw,
                            discard_writes: *rw,
                        },
                    });
                }
                RunMount::Secret { id, target, env: as_env, required, mode, owner } => {
                    if let Some(name) = as_env {
                        if !self.inputs.caps.has(LlbCap::ExecSecretEnv) {
                            return Err(CompileError::at(run.pos, format!("secret \"{id}\" as env {name} needs BuildKit 0.10 or later (Docker 23+)"))
                                .hint("mount it as a file with target = \"/run/secrets/…\" instead"));
                        }
                        secret_env.push(SecretEnv { name: name.clone(), id: id.clone(), optional: !required });
                    }
                    if let Some(target) = target {
                        let (uid, gid) = match owner {
                            Some(o) => self.owner_ids(o, run.pos)?,
                            None => (0, 0),
                        };
                        mounts.push(Mount {
                            dest: target.clone(),
                            kind: MountKind::Secret { id: id.clone(), uid, gid, mode: *mode, optional: !required },
                        });
                    }
                }
                RunMount::Ssh { id, target, required } => {
                    let dest = target.clone().unwrap_or_else(|| format!("/run/buildkit/ssh_agent.{index}"));
                    if !env.iter().any(|(k, _)| k == "SSH_AUTH_SOCK") {
                        env.push(("SSH_AUTH_SOCK".into(), dest.clone()));
                    }
                    mounts.push(Mount {
                        dest,
                        kind: MountKind::Ssh { id: id.clone(), uid: step_ids.0, gid: step_ids.1, mode: 0o600, optional: !required },
                    });
                }
                RunMount::Tmpfs { target, size } => {
                    if size.is_some() && !self.inputs.caps.has(LlbCap::ExecMountTmpfsSize) {
                        return Err(CompileError::at(run.pos, "a tmpfs size needs BuildKit 0.10 or later (Docker 23+)")
                            .hint("leave size unset on this engine"));
                    }
                    mounts.push(Mount { dest: target.clone(), kind: MountKind::Tmpfs { size: *size } });
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
                meta: VertexMeta::named(format!("[{}] run {}", stage.name, run.command.display())).at(located(run.pos)),
            })
            .root())
    }

    fn copy(&self, stage: &Stage, state: State, copy: &Copy) -> Result<State, CompileError> {
        let owner = copy.owner.as_ref().map(|o| self.owner_ids(o, copy.pos)).transpose()?;
        let filtered = !copy.include.is_empty() || !copy.exclude.is_empty();
        let mut source = self.source_state(&copy.from, copy.pos)?;
        let mut options = CopyOptions {
            chown: owner.map(|(uid, gid)| Chown::ids(uid, gid)),
            mode: copy.mode,
            include: copy.include.clone(),
            exclude: copy.exclude.clone(),
            timestamp: self.spec.source_date_epoch.map(|s| s * 1_000_000_000),
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
        // Several sources go into a directory, as with COPY.
        let dest = if copy.sources.len() > 1 && !copy.dest.ends_with('/') { format!("{}/", copy.dest) } else { copy.dest.clone() };
        let dest = llb::join_path(state.get_cwd(), &dest);
        let from = match &copy.from {
            Source::Context => String::new(),
            Source::Stage(s) => format!("stage.{s}:"),
            Source::Image(r) => format!("{r}:"),
        };
        let meta = VertexMeta::named(format!("[{}] copy {from}{} → {dest}", stage.name, copy.sources.join(" "))).at(located(copy.pos));
        if copy.link {
            let [src] = copy.sources.as_slice() else {
                return Err(CompileError::at(copy.pos, "a linked copy takes one source").hint("split it into one copy per source"));
            };
            return Ok(llb::merge_or_copy(&state, &source, src, &dest, options, self.inputs.caps, meta));
        }
        let chain = copy
            .sources
            .iter()
            .fold(FileChain::new(), |chain, src| chain.copy(&source, src, &dest, options.clone()));
        Ok(state.file(chain, meta))
    }

    /// The context with only what `source` filtered by the patterns keeps.
    fn filtered_context(&self, source: &str, include: &[String], exclude: &[String]) -> State {
        let prefix = context_path(source);
        let under = |p: &String| if prefix == "." { p.clone() } else { format!("{prefix}/{p}") };
        let mut local = self.inputs.context.clone();
        local.follow_paths = vec![prefix.clone()];
        local.include = include.iter().map(under).collect();
        local.exclude.extend(exclude.iter().map(under));
        local.shared_key_hint = None;
        local.name_in_progress = Some(format!("[internal] load build context ({prefix}, filtered)"));
        local.state()
    }

    /// In a variant that mounts the source, a context copy only makes its
    /// destination, so the mount has somewhere to go.
    fn mount_point(&self, stage: &Stage, state: State, copy: &Copy, runs_as: Option<&User>) -> Result<State, CompileError> {
        let owner = match &copy.owner {
            Some(o) => Some(self.owner_ids(o, copy.pos)?),
            None => runs_as.map(|u| (u.uid, u.gid)),
        };
        let dest = llb::join_path(state.get_cwd(), &copy.dest);
        let chain = FileChain::new().mkdir(&dest, 0o755, true, owner.map(|(u, g)| Chown::ids(u, g)));
        Ok(state.file(chain, VertexMeta::named(format!("[{}] mount point {dest} (source mounted at run time)", stage.name)).at(located(copy.pos))))
    }
}

/// A spec position as the source map's location of an op.
fn located(pos: Pos) -> SourceLocation {
    SourceLocation { line: pos.line as u32, column: pos.column as u32 }
}

/// A stage's state starts with its image's env, workdir and user, as `FROM` does.
fn seed_from_config(mut state: State, config: &ImageConfig) -> State {
    for (k, v) in config.env_pairs() {
        state = state.env(&k, &v);
    }
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

/// `$NAME` and `${NAME}` in an env value replaced by the state's value, as ENV
/// does in a Dockerfile (so `PATH = "/venv/bin:$PATH"` extends the base's PATH).
fn expand_vars(value: &str, state: &State) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, tail) = match after.strip_prefix('{') {
            Some(braced) => match braced.find('}') {
                Some(end) => (&braced[..end], &braced[end + 1..]),
                None => ("", after),
            },
            None => {
                let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
        } else {
            out.push_str(state.get_env(name).unwrap_or_default());
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// The UID a step runs as, where only the spec is known (plan, eject): its spec
/// user's, else root's.
pub fn step_uid(users: &[User], run: &Run) -> u32 {
    run.user.as_deref().and_then(|n| users.iter().find(|u| u.name == n)).map_or(0, |u| u.uid)
}

/// The id and sharing of a cache mount: as written, else derived from the tool
/// the directory belongs to and the UID of the step using it.
pub fn cache_identity(target: &str, id: &Option<String>, sharing: Option<Sharing>, uid: u32) -> (String, Sharing) {
    let tool = cache_tool(target);
    let id = id.clone().unwrap_or_else(|| default_cache_id(&tool, uid));
    (id, sharing.unwrap_or_else(|| default_sharing(&tool)))
}

/// The package tool a cache directory belongs to, from where it is mounted.
fn cache_tool(target: &str) -> String {
    const TOOLS: [(&str, &str); 9] = [
        ("/.cache/pip", "pip"),
        ("/.cache/uv", "uv"),
        ("/.cache/pypoetry", "poetry"),
        ("/.npm", "npm"),
        ("/.cache/yarn", "yarn"),
        ("/.local/share/pnpm", "pnpm"),
        ("/var/cache/apt", "apt"),
        ("/var/lib/apt", "apt-lists"),
        ("/.cache/go-build", "go-build"),
    ];
    TOOLS
        .iter()
        .find(|(dir, _)| target.trim_end_matches('/').ends_with(dir))
        .map(|(_, tool)| tool.to_string())
        .unwrap_or_else(|| target.trim_matches('/').replace('/', "-"))
}

/// `leaven/<tool>-<uid>`: builds that run the tool as different users (dev's
/// host UID, CI's 9500) never share a directory another UID created.
fn default_cache_id(tool: &str, uid: u32) -> String {
    format!("leaven/{tool}-{uid}")
}

/// apt and npm corrupt a cache written by two builds at once.
fn default_sharing(tool: &str) -> Sharing {
    match tool {
        "apt" | "apt-lists" | "npm" => Sharing::Locked,
        _ => Sharing::Shared,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_expand_like_env_in_a_dockerfile() {
        let state = State::scratch().env("PATH", "/usr/bin").env("HOME", "/root");
        assert_eq!(expand_vars("/venv/bin:$PATH", &state), "/venv/bin:/usr/bin");
        assert_eq!(expand_vars("${HOME}/x $UNSET$", &state), "/root/x $");
    }

    #[test]
    fn cache_ids_name_the_tool_and_uid() {
        assert_eq!(default_cache_id(&cache_tool("/root/.cache/pip"), 0), "leaven/pip-0");
        assert_eq!(default_cache_id(&cache_tool("/home/app/.npm/"), 1000), "leaven/npm-1000");
        assert_eq!(cache_tool("/var/cache/demo"), "var-cache-demo");
        assert_eq!(default_sharing("apt"), Sharing::Locked);
        assert_eq!(default_sharing("pip"), Sharing::Shared);
    }
}
