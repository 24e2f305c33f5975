//! Spec → LLB, as a pure step: everything the engine knows (base image configs,
//! their account files, caps, the context source) comes in as [`Inputs`].
//!
//! [`plan`] says what a target needs looked up; the caller (the frontend, or a test
//! with stubs) fetches it; [`compile`] builds the state and the image config.

mod accounts;

use std::collections::BTreeMap;

use crate::image::{ImageConfig, DEFAULT_PATH};
use crate::llb::{
    CacheSharing, Caps, Chown, CopyOptions, Exec, FileChain, ImageSource, Mount, MountKind, Platform, State,
    VertexMeta,
};
use crate::spec::{Base, Command, Copy, Run, Sharing, Spec, Stage, StageKind, Step, User};

pub use accounts::{AccountFiles, ACCOUNT_FILES};

/// What building one target needs from outside the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Stages to build, dependencies first, the target last.
    pub stages: Vec<String>,
    /// Base image references, as written, each once.
    pub images: Vec<String>,
    /// Images whose account files (passwd, group, shadow) must be read.
    pub account_images: Vec<String>,
    /// Context paths the build reads; only these are transferred.
    pub context_paths: Vec<String>,
}

/// A base image as the engine resolved it.
#[derive(Debug, Clone, Default)]
pub struct BaseImage {
    /// Normalized reference, pinned by digest when the engine gave one.
    pub reference: String,
    pub config: ImageConfig,
    pub accounts: AccountFiles,
}

pub struct Inputs<'a> {
    pub context: State,
    /// Keyed by the reference as written in the spec.
    pub bases: &'a BTreeMap<String, BaseImage>,
    pub caps: &'a Caps,
    pub platform: Platform,
}

#[derive(Debug, Clone)]
pub struct Compiled {
    pub state: State,
    pub config: ImageConfig,
}

/// The stage a build makes: the named one, or the last image.
pub fn select_target<'a>(spec: &'a Spec, target: Option<&str>) -> Result<&'a Stage, String> {
    let names = || spec.stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
    match target.filter(|t| !t.is_empty()) {
        Some(name) => spec
            .stage(name)
            .ok_or_else(|| format!("{}: no stage or image named \"{name}\" (it has: {})", spec.file, names())),
        None => spec
            .default_target()
            .ok_or_else(|| format!("{}: no image block to build; name a stage as the target (it has: {})", spec.file, names())),
    }
}

pub fn plan(spec: &Spec, target: &Stage) -> Plan {
    let mut stages: Vec<&Stage> = Vec::new();
    let mut current = Some(target);
    while let Some(stage) = current {
        stages.insert(0, stage);
        current = match &stage.from {
            Base::Stage(parent) => spec.stage(parent),
            _ => None,
        };
    }
    let root_image = match &stages[0].from {
        Base::Image(r) => Some(r.clone()),
        _ => None,
    };
    let images = root_image.iter().cloned().collect();
    let needs_accounts = stages.iter().any(|s| image_user(spec, s).is_some());
    let account_images = if needs_accounts { root_image.into_iter().collect() } else { Vec::new() };
    let mut context_paths: Vec<String> = Vec::new();
    for stage in &stages {
        for step in &stage.steps {
            if let Step::Copy(c) = step {
                let path = context_path(&c.source);
                if !context_paths.contains(&path) {
                    context_paths.push(path);
                }
            }
        }
    }
    Plan { stages: stages.iter().map(|s| s.name.clone()).collect(), images, account_images, context_paths }
}

/// A context-relative path as the engine's file sync wants it (no leading `/`).
fn context_path(source: &str) -> String {
    let cleaned = crate::llb::clean_path(&format!("/{source}"));
    match cleaned.trim_start_matches('/') {
        "" => ".".to_string(),
        p => p.to_string(),
    }
}

/// The spec user an image stage creates and runs as, if any.
fn image_user<'a>(spec: &'a Spec, stage: &Stage) -> Option<&'a User> {
    if stage.kind != StageKind::Image {
        return None;
    }
    match &stage.settings.user {
        Some(name) => spec.user(name),
        None if spec.users.len() == 1 => spec.users.first(),
        None => None,
    }
}

pub fn compile(spec: &Spec, target: &Stage, inputs: &Inputs) -> Result<Compiled, String> {
    let plan = plan(spec, target);
    let mut state = State::scratch().platform(inputs.platform.clone());
    let mut config = ImageConfig::default();
    for name in &plan.stages {
        let stage = spec.stage(name).expect("plan names existing stages");
        if let Base::Image(reference) = &stage.from {
            let base = inputs
                .bases
                .get(reference)
                .ok_or_else(|| format!("{}: base image \"{reference}\" was not resolved", spec.file))?;
            config = base.config.clone();
            state = ImageSource {
                reference: base.reference.clone(),
                platform: Some(inputs.platform.clone()),
                name: Some(format!("[{}] from {reference}", stage.name)),
                ..Default::default()
            }
            .state();
            state = seed_from_config(state, &config);
        }
        let (next_state, next_config) = compile_stage(spec, stage, state, config, inputs)?;
        state = next_state;
        config = next_config;
    }
    finish_config(&mut config, &inputs.platform);
    Ok(Compiled { state, config })
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

fn compile_stage(
    spec: &Spec,
    stage: &Stage,
    mut state: State,
    mut config: ImageConfig,
    inputs: &Inputs,
) -> Result<(State, ImageConfig), String> {
    let user = image_user(spec, stage);
    for (k, v) in &stage.settings.env {
        state = state.env(k, v);
    }
    if let Some(user) = user {
        let accounts = root_accounts(spec, stage, inputs);
        state = state.file(accounts.with_user(user).write(user), VertexMeta::named(format!("[{}] create user {} ({}:{})", stage.name, user.name, user.uid, user.gid)));
    }
    if let Some(dir) = &stage.settings.workdir {
        state = state.cwd(dir);
        let owner = user.map(|u| Chown::ids(u.uid, u.gid));
        let chain = FileChain::new().mkdir(state.get_cwd(), 0o755, true, owner);
        state = state.file(chain, VertexMeta::named(format!("[{}] workdir {}", stage.name, state.get_cwd())));
    }
    for step in &stage.steps {
        state = match step {
            Step::Run(run) => compile_run(spec, stage, state, run, &config),
            Step::Copy(copy) => compile_copy(stage, state, copy, inputs),
        };
    }
    config.set_env(state.env_list());
    config.config.working_dir = state.get_cwd().to_string();
    if let Some(user) = user {
        config.config.user = user.name.clone();
        state = state.user(&user.name);
    } else if let Some(user) = &stage.settings.user {
        config.config.user = user.clone();
        state = state.user(user);
    }
    if let Some(entrypoint) = &stage.settings.entrypoint {
        config.config.entrypoint = Some(entrypoint.clone());
        // As in a Dockerfile, a new entrypoint drops the base image's command.
        if stage.settings.cmd.is_none() {
            config.config.cmd = None;
        }
    }
    if let Some(cmd) = &stage.settings.cmd {
        config.config.cmd = Some(cmd.clone());
    }
    if !stage.settings.labels.is_empty() {
        let labels = config.config.labels.get_or_insert_with(BTreeMap::new);
        labels.extend(stage.settings.labels.clone());
    }
    Ok((state, config))
}

fn root_accounts(spec: &Spec, stage: &Stage, inputs: &Inputs) -> AccountFiles {
    let mut current = stage;
    loop {
        match &current.from {
            Base::Image(r) => return inputs.bases.get(r).map(|b| b.accounts.clone()).unwrap_or_default(),
            Base::Stage(parent) => match spec.stage(parent) {
                Some(p) => current = p,
                None => return AccountFiles::default(),
            },
            Base::Scratch => return AccountFiles::default(),
        }
    }
}

fn compile_run(spec: &Spec, stage: &Stage, state: State, run: &Run, config: &ImageConfig) -> State {
    let args = match &run.command {
        Command::Exec(args) => args.clone(),
        Command::Shell(line) => {
            let mut shell = config
                .config
                .rest
                .get("Shell")
                .and_then(|s| serde_json::from_value::<Vec<String>>(s.clone()).ok())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            shell.push(line.clone());
            shell
        }
    };
    let runner = run.user.as_deref().and_then(|name| spec.user(name));
    let mounts = run
        .caches
        .iter()
        .map(|cache| {
            // A cache used by a non-root step starts owned by that user, or the
            // step could not write to it.
            let base = runner.map(|u| {
                let seeded = State::scratch().file(
                    FileChain::new().mkdir("/cache", 0o755, false, Some(Chown::ids(u.uid, u.gid))),
                    VertexMeta::named(format!("[{}] cache {} for {}", stage.name, cache.target, u.name)),
                );
                (seeded, "/cache".to_string())
            });
            Mount {
                dest: cache.target.clone(),
                kind: MountKind::Cache {
                    id: format!("leaven/{}", cache.id.clone().unwrap_or_else(|| cache.target.clone())),
                    sharing: match cache.sharing {
                        Sharing::Shared => CacheSharing::Shared,
                        Sharing::Private => CacheSharing::Private,
                        Sharing::Locked => CacheSharing::Locked,
                    },
                    base,
                },
            }
        })
        .collect();
    let label = match &run.command {
        Command::Shell(line) => line.clone(),
        Command::Exec(args) => args.join(" "),
    };
    state
        .run(Exec {
            args,
            env: run.env.clone(),
            user: Some(run.user.clone().or_else(|| state.get_user().map(str::to_string)).unwrap_or_else(|| "root".into())),
            mounts,
            meta: VertexMeta::named(format!("[{}] run {label}", stage.name)),
            ..Default::default()
        })
        .root()
}

fn compile_copy(stage: &Stage, state: State, copy: &Copy, inputs: &Inputs) -> State {
    let options = CopyOptions {
        chown: copy.owner.as_ref().map(|o| Chown::ids(o.uid, o.gid)),
        ..Default::default()
    };
    let chain = FileChain::new().copy(&inputs.context, &copy.source, &copy.dest, options);
    state.file(chain, VertexMeta::named(format!("[{}] copy {} → {}", stage.name, copy.source, copy.dest)))
}

/// What every returned config carries: the platform, and no build time.
fn finish_config(config: &mut ImageConfig, platform: &Platform) {
    config.architecture = platform.architecture.clone();
    config.os = platform.os.clone();
    config.variant = platform.variant.clone();
    config.rest.remove("created");
}
