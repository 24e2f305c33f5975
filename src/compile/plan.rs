//! A target's build with every step's meaning settled: what runs, as whom, with
//! which mounts (cache ids, sharing, owners), env and filters, and what a variant
//! replaces. [`plan`] computes it once per build; [`compile`](super::compile),
//! `leaven plan` and `leaven dockerfile` all read it, so they cannot disagree.
//!
//! It is computed from the spec alone, before any image is looked up (it says
//! which images to look up). What only a base image knows (its config's user,
//! env and workdir) stays symbolic: [`RunAs::Base`], relative paths.

use std::borrow::Cow;
use std::fmt;

use crate::llb;
use crate::spec::{
    stage_uses, Base, Copy, Dir, ImageSettings, Owner, Run, RunMount, Sharing, Source, SourceMode, Spec, Stage, StageKind,
    Step, User, Variant,
};

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

    pub fn source_mode(&self) -> SourceMode {
        self.variant.map(|v| v.source).unwrap_or(SourceMode::Copy)
    }
}

/// A user and group id, and which of them are the build's `HOST_UID`/`HOST_GID`
/// (an ejected Dockerfile keeps those as build args).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    pub host_uid: bool,
    pub host_gid: bool,
}

impl Ids {
    pub const ROOT: Ids = Ids::fixed(0, 0);

    pub const fn fixed(uid: u32, gid: u32) -> Ids {
        Ids { uid, gid, host_uid: false, host_gid: false }
    }

    fn of(user: &User) -> Ids {
        Ids { uid: user.uid, gid: user.gid, host_uid: user.uid_from_host, host_gid: user.gid_from_host }
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0 && self.gid == 0
    }
}

impl fmt::Display for Ids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

/// Who a step runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunAs {
    /// The user the base image's config names (root when it names none). The
    /// spec does not know its ids: what the step creates by default is root's.
    Base,
    Root,
    /// A UID written in the spec: `N` means `N:N`, as for `chown`.
    Uid(Ids),
    /// A spec user, run by its ids (intermediate stages lack its account).
    User { name: String, ids: Ids },
}

impl RunAs {
    /// The owner of what the step creates by default (caches, ssh sockets).
    pub fn ids(&self) -> Ids {
        match self {
            RunAs::Base | RunAs::Root => Ids::ROOT,
            RunAs::Uid(ids) | RunAs::User { ids, .. } => *ids,
        }
    }

    /// A spec user or UID: what the stage's own ids are, if it has any.
    pub fn own_ids(&self) -> Option<Ids> {
        match self {
            RunAs::Base | RunAs::Root => None,
            RunAs::Uid(ids) | RunAs::User { ids, .. } => Some(*ids),
        }
    }
}

impl fmt::Display for RunAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunAs::Base => write!(f, "the base's user"),
            RunAs::Root => write!(f, "root"),
            RunAs::Uid(ids) => write!(f, "{ids}"),
            RunAs::User { name, ids } => write!(f, "{name} ({ids})"),
        }
    }
}

/// A cache mount's id: as written, or `leaven/<tool>-<uid>` from the directory's
/// tool and its owner, so builds that run the tool as different users (dev's host
/// UID, CI's 9500) never share a directory another UID created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheId {
    Given(String),
    Default { tool: String, owner: Ids },
}

impl fmt::Display for CacheId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheId::Given(id) => write!(f, "{id}"),
            CacheId::Default { tool, owner } => write!(f, "leaven/{tool}-{}", owner.uid),
        }
    }
}

/// A mount of a run with its defaults applied. Paths are as written: relative
/// ones (a bind without a target) are under the step's workdir.
#[derive(Debug, Clone, PartialEq)]
pub enum PlannedMount<'a> {
    Cache { target: &'a str, id: CacheId, sharing: Sharing, owner: Ids, mode: u32 },
    Bind { from: &'a Source, source: &'a str, target: Option<&'a str>, rw: bool },
    Secret { id: &'a str, target: Option<&'a str>, env: Option<&'a str>, required: bool, mode: u32, owner: Ids },
    Ssh { id: &'a str, target: String, required: bool, owner: Ids },
    Tmpfs { target: &'a str, size: Option<i64> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun<'a> {
    /// The step as written: command, workdir, network, position.
    pub run: &'a Run,
    pub user: RunAs,
    /// The step's own env (values may refer to the stage's with `$NAME`), with
    /// `SSH_AUTH_SOCK` pointing at its first ssh mount (the spec's own list
    /// unless that adds to it).
    pub env: Cow<'a, [(String, String)]>,
    pub mounts: Vec<PlannedMount<'a>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PlannedStep<'a> {
    Run(PlannedRun<'a>),
    Copy { copy: &'a Copy, owner: Option<Ids> },
    /// A context copy that a `source = "mount"` variant leaves out: only its
    /// destination is made, for the tree mounted there at run time.
    MountPoint { copy: &'a Copy, owner: Option<Ids> },
    /// A directory made with its parents; `None`: root's.
    Dir { dir: &'a Dir, owner: Option<Ids> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Workdir<'a> {
    pub path: &'a str,
    /// An image's workdir belongs to the user it runs as; a stage's, like WORKDIR,
    /// to root; a dir block naming it decides.
    pub owner: Option<Ids>,
    pub mode: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedStage<'a> {
    pub stage: &'a Stage,
    /// Who steps run as unless they say: the user the base runs as.
    pub starts_as: RunAs,
    /// Who the result runs as: its image config's user, and where stages built
    /// on it start. An image's `user` (or the spec's only user), else inherited.
    pub runs_as: RunAs,
    /// The stage writes the account files and homes of the spec's users.
    pub creates_users: bool,
    /// The filesystem has the spec users' accounts (this stage or a base made them).
    pub has_accounts: bool,
    pub workdir: Option<Workdir<'a>>,
    pub steps: Vec<PlannedStep<'a>>,
    /// What the image's config gets: the stage's settings, with what the
    /// target's variant replaces (`cmd`, `entrypoint`, `user`) or adds (`env`).
    pub settings: Cow<'a, ImageSettings>,
}

/// The image config's `User` a stage sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigUser {
    /// Where the account exists (and for root).
    Name(String),
    /// A spec user where the stage has no account for it, or a UID.
    Ids(Ids),
}

impl PlannedStage<'_> {
    /// The image config's `User`, when the stage sets one.
    pub fn config_user(&self) -> Option<ConfigUser> {
        if self.runs_as == self.starts_as {
            return None;
        }
        Some(match &self.runs_as {
            RunAs::Base => return None,
            RunAs::Root => ConfigUser::Name("root".into()),
            RunAs::User { name, .. } if self.has_accounts => ConfigUser::Name(name.clone()),
            RunAs::Uid(ids) | RunAs::User { ids, .. } => ConfigUser::Ids(*ids),
        })
    }
}

/// Everything one target's build is, resolved.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    pub spec: &'a Spec,
    pub target: Target<'a>,
    /// The spec's users with this target's ids.
    pub users: Vec<User>,
    /// Stages to build, each after the stages it uses; the target's last.
    pub stages: Vec<PlannedStage<'a>>,
    /// Image references as written, each once: bases and copy/bind sources.
    pub images: Vec<String>,
    /// Images whose account files (passwd, group, shadow) must be read.
    pub account_images: Vec<String>,
    /// Context paths the build reads; only these are transferred.
    pub context_paths: Vec<String>,
}

impl PlannedStage<'_> {
    /// Where the source tree is mounted at run time (absolute), in a `source =
    /// "mount"` variant.
    pub fn mount_points(&self) -> Vec<String> {
        let cwd = self.workdir.as_ref().map_or("/", |w| w.path);
        self.steps
            .iter()
            .filter_map(|step| match step {
                PlannedStep::MountPoint { copy, .. } => Some(llb::join_path(cwd, &copy.dest)),
                _ => None,
            })
            .collect()
    }

    /// The entrypoint helper's script, when the image needs one: it has
    /// start-up tasks, or the source is mounted (whose owner it checks).
    pub fn entrypoint_helper(&self) -> Option<String> {
        let mounts = self.mount_points();
        let tasks = &self.settings.on_start;
        (!tasks.is_empty() || !mounts.is_empty()).then(|| super::config::entrypoint_script(tasks, &mounts))
    }

    /// The entrypoint the image's config gets: the helper's, then the stage's own.
    pub fn entrypoint(&self) -> Option<Vec<String>> {
        super::config::entrypoint(&self.settings, self.entrypoint_helper().is_some())
    }
}

impl<'a> Plan<'a> {
    pub fn stage(&self, name: &str) -> Option<&PlannedStage<'a>> {
        self.stages.iter().find(|s| s.stage.name == name)
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }
}

/// A target that is not in the spec: `file` is the spec's, `names` what it has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoTarget {
    #[error("{file}: no target named \"{name}\" (it has: {names})")]
    Unknown { file: String, name: String, names: String },
    #[error("{file}: no image block to build; pass a target (it has: {names})")]
    NoImage { file: String, names: String },
}

/// The target named (a stage, image or variant), or the last image.
pub fn select_target<'a>(spec: &'a Spec, name: Option<&str>) -> Result<Target<'a>, NoTarget> {
    let names = || {
        let mut all: Vec<&str> = spec.stages.iter().map(|s| s.name.as_str()).collect();
        all.extend(spec.variants.iter().map(|v| v.name.as_str()));
        all.join(", ")
    };
    let file = || spec.file.clone();
    match name.filter(|t| !t.is_empty()) {
        Some(name) => {
            if let Some(variant) = spec.variant(name) {
                let stage = spec.stage(&variant.image).expect("variants name checked images");
                return Ok(Target { stage, variant: Some(variant) });
            }
            spec.stage(name)
                .map(|stage| Target { stage, variant: None })
                .ok_or_else(|| NoTarget::Unknown { file: file(), name: name.to_string(), names: names() })
        }
        None => spec
            .default_image()
            .map(|stage| Target { stage, variant: None })
            .ok_or_else(|| NoTarget::NoImage { file: file(), names: names() }),
    }
}

/// The plan of `target`: every stage it builds, in order, with every step resolved.
pub fn plan<'a>(spec: &'a Spec, target: &Target<'a>) -> Plan<'a> {
    let mut order: Vec<&'a str> = Vec::new();
    fn visit<'a>(spec: &'a Spec, name: &'a str, out: &mut Vec<&'a str>) {
        if out.contains(&name) {
            return;
        }
        let stage = spec.stage(name).expect("checked stage references");
        for (_, used) in stage_uses(stage) {
            visit(spec, used, out);
        }
        out.push(&stage.name);
    }
    visit(spec, &target.stage.name, &mut order);

    let users = target_users(spec, target);
    let mut plan = Plan {
        spec,
        target: *target,
        users,
        stages: Vec::new(),
        images: Vec::new(),
        account_images: Vec::new(),
        context_paths: Vec::new(),
    };
    for name in order {
        let stage = spec.stage(name).expect("planned stages exist");
        let planned = plan_stage(&plan, stage);
        plan.stages.push(planned);
    }
    // Copied (or moved) into the list only when it is new.
    fn add(list: &mut Vec<String>, item: impl AsRef<str> + Into<String>) {
        if !list.iter().any(|i| i == item.as_ref()) {
            list.push(item.into());
        }
    }
    for planned in &plan.stages {
        let stage = planned.stage;
        if let Base::Image(r) = &stage.from {
            add(&mut plan.images, r);
        }
        if planned.creates_users {
            if let Some(root) = root_image(spec, stage) {
                add(&mut plan.account_images, root);
            }
        }
        for step in &planned.steps {
            match step {
                PlannedStep::Copy { copy, .. } => match &copy.from {
                    Source::Context => copy.sources.iter().for_each(|s| add(&mut plan.context_paths, context_path(s))),
                    Source::Image(r) => add(&mut plan.images, r),
                    Source::Stage(_) => {}
                },
                PlannedStep::MountPoint { .. } | PlannedStep::Dir { .. } => {}
                PlannedStep::Run(run) => {
                    for mount in &run.mounts {
                        match mount {
                            PlannedMount::Bind { from: Source::Context, source, .. } => {
                                add(&mut plan.context_paths, context_path(source))
                            }
                            PlannedMount::Bind { from: Source::Image(r), .. } => add(&mut plan.images, r),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    plan
}

fn plan_stage<'a>(plan: &Plan<'a>, stage: &'a Stage) -> PlannedStage<'a> {
    let spec = plan.spec;
    let (starts_as, inherited_accounts) = match &stage.from {
        Base::Stage(parent) => {
            let parent = plan.stage(parent).expect("stages are planned after the stages they use");
            (parent.runs_as.clone(), parent.has_accounts)
        }
        Base::Image(_) | Base::Scratch => (RunAs::Base, false),
    };
    let is_target = stage.name == plan.target.stage.name;
    let settings = match plan.target.variant {
        Some(variant) if is_target => Cow::Owned(variant_settings(&stage.settings, variant)),
        _ => Cow::Borrowed(&stage.settings),
    };
    let named = settings.user.as_deref().map(|name| run_as(plan, name));
    let only_user = (stage.kind == StageKind::Image && spec.users.len() == 1).then(|| run_as(plan, &spec.users[0].name));
    let runs_as = named.or(only_user).unwrap_or_else(|| starts_as.clone());
    let creates_users = stage.kind == StageKind::Image && !spec.users.is_empty();
    // What the stage makes belongs to the user its image runs as; in a stage, to root.
    let default_owner = if stage.kind == StageKind::Image { runs_as.own_ids() } else { None };
    let dir_owner = |dir: &Dir| dir.owner.as_ref().map(|o| owner_ids(plan, o)).or(default_owner);
    let names_workdir = |dir: &Dir| stage.settings.workdir.as_deref().is_some_and(|w| same_dir(w, &dir.path));
    let workdir = stage.settings.workdir.as_deref().map(|path| {
        // A dir block naming the workdir decides its owner and mode.
        let dir = stage.steps.iter().find_map(|step| match step {
            Step::Dir(dir) if names_workdir(dir) => Some(dir),
            _ => None,
        });
        Workdir { path, owner: dir.map_or(default_owner, dir_owner), mode: dir.map_or(0o755, |d| d.mode) }
    });
    let mounted = is_target && plan.target.source_mode() == SourceMode::Mount;
    let steps = stage
        .steps
        .iter()
        .filter_map(|step| {
            Some(match step {
                Step::Run(run) => PlannedStep::Run(plan_run(plan, run, &starts_as)),
                Step::Copy(copy) if mounted && copy.from == Source::Context => {
                    let owner = copy.owner.as_ref().map(|o| owner_ids(plan, o)).or_else(|| runs_as.own_ids());
                    PlannedStep::MountPoint { copy, owner }
                }
                Step::Copy(copy) => PlannedStep::Copy { copy, owner: copy.owner.as_ref().map(|o| owner_ids(plan, o)) },
                Step::Dir(dir) if names_workdir(dir) => return None,
                Step::Dir(dir) => PlannedStep::Dir { dir, owner: dir_owner(dir) },
            })
        })
        .collect();
    PlannedStage { stage, starts_as, runs_as, creates_users, has_accounts: creates_users || inherited_accounts, workdir, steps, settings }
}

/// An image's settings in a variant: what the variant sets replaces the
/// image's (`cmd`, `entrypoint`, `user`); its `env` comes after the image's.
fn variant_settings(settings: &ImageSettings, variant: &Variant) -> ImageSettings {
    let mut settings = settings.clone();
    if let Some(cmd) = &variant.cmd {
        settings.cmd = Some(cmd.clone());
    }
    if let Some(entrypoint) = &variant.entrypoint {
        settings.entrypoint = Some(entrypoint.clone());
    }
    if let Some(user) = &variant.user {
        settings.user = Some(user.clone());
    }
    for (key, value) in &variant.env {
        settings.env.retain(|(k, _)| k != key);
        settings.env.push((key.clone(), value.clone()));
    }
    settings
}

fn plan_run<'a>(plan: &Plan<'a>, run: &'a Run, starts_as: &RunAs) -> PlannedRun<'a> {
    let user = run.user.as_deref().map(|name| run_as(plan, name)).unwrap_or_else(|| starts_as.clone());
    let step_ids = user.ids();
    let mut env = Cow::Borrowed(run.env.as_slice());
    let mut ssh_index = 0;
    let mounts = run
        .mounts
        .iter()
        .map(|mount| match mount {
            RunMount::Cache { target, id, sharing, owner, mode } => {
                let owner = owner.as_ref().map(|o| owner_ids(plan, o)).unwrap_or(step_ids);
                let tool = cache_tool(target);
                let sharing = sharing.unwrap_or_else(|| default_sharing(&tool));
                let id = match id {
                    Some(id) => CacheId::Given(id.clone()),
                    None => CacheId::Default { tool, owner },
                };
                PlannedMount::Cache { target, id, sharing, owner, mode: *mode }
            }
            RunMount::Bind { from, source, target, rw } => {
                PlannedMount::Bind { from, source, target: target.as_deref(), rw: *rw }
            }
            RunMount::Secret { id, target, env, required, mode, owner } => PlannedMount::Secret {
                id,
                target: target.as_deref(),
                env: env.as_deref(),
                required: *required,
                mode: *mode,
                owner: owner.as_ref().map(|o| owner_ids(plan, o)).unwrap_or(Ids::ROOT),
            },
            RunMount::Ssh { id, target, required } => {
                // As the Dockerfile frontend numbers agent sockets.
                let target = target.clone().unwrap_or_else(|| format!("/run/buildkit/ssh_agent.{ssh_index}"));
                ssh_index += 1;
                if !env.iter().any(|(k, _)| k == "SSH_AUTH_SOCK") {
                    env.to_mut().push(("SSH_AUTH_SOCK".into(), target.clone()));
                }
                PlannedMount::Ssh { id, target, required: *required, owner: step_ids }
            }
            RunMount::Tmpfs { target, size } => PlannedMount::Tmpfs { target, size: *size },
        })
        .collect();
    PlannedRun { run, user, env, mounts }
}

/// Whether two paths as written name the same directory.
fn same_dir(a: &str, b: &str) -> bool {
    let clean = |p: &str| if p.starts_with('/') { llb::clean_path(p) } else { p.trim_end_matches('/').trim_start_matches("./").to_string() };
    clean(a) == clean(b)
}

/// Who `name` (a spec user, `root`, or a UID as text) is in this target.
fn run_as(plan: &Plan, name: &str) -> RunAs {
    if let Some(user) = plan.user(name) {
        return RunAs::User { name: user.name.clone(), ids: Ids::of(user) };
    }
    match name.parse::<u32>() {
        Ok(0) => RunAs::Root,
        Ok(uid) => RunAs::Uid(Ids::fixed(uid, uid)),
        // The checker lets through only spec users, root and UIDs.
        Err(_) => RunAs::Root,
    }
}

fn owner_ids(plan: &Plan, owner: &Owner) -> Ids {
    match owner {
        Owner::Ids { uid, gid } => Ids::fixed(*uid, *gid),
        Owner::User(name) => run_as(plan, name).ids(),
    }
}

/// The spec's users as this target builds them: a variant's UID replaces the
/// UID of the user its image runs as (and its GID, unless it sets one).
fn target_users(spec: &Spec, target: &Target) -> Vec<User> {
    let runs_as = image_user_name(spec, target.stage, target.variant);
    spec.users
        .iter()
        .map(|u| {
            let mut user = u.clone();
            if let (Some(variant), Some(name)) = (target.variant, runs_as) {
                if name == user.name {
                    if let Some(uid) = variant.uid {
                        user.uid = uid;
                        user.uid_from_host = false;
                        user.gid = uid;
                        user.gid_from_host = false;
                    }
                    if let Some(gid) = variant.gid {
                        user.gid = gid;
                        user.gid_from_host = false;
                    }
                }
            }
            user
        })
        .collect()
}

/// The spec user an image runs as (in a variant): the one it names, or the spec's only user.
fn image_user_name<'a>(spec: &'a Spec, stage: &'a Stage, variant: Option<&'a Variant>) -> Option<&'a str> {
    if stage.kind != StageKind::Image {
        return None;
    }
    match variant.and_then(|v| v.user.as_ref()).or(stage.settings.user.as_ref()) {
        Some(name) => spec.user(name).map(|u| u.name.as_str()),
        None if spec.users.len() == 1 => Some(&spec.users[0].name),
        None => None,
    }
}

/// The image at the bottom of a stage's chain of bases, if it has one.
pub(super) fn root_image<'s>(spec: &'s Spec, stage: &'s Stage) -> Option<&'s str> {
    let mut current = stage;
    loop {
        match &current.from {
            Base::Image(r) => return Some(r),
            Base::Stage(parent) => current = spec.stage(parent)?,
            Base::Scratch => return None,
        }
    }
}

/// A context-relative path as the engine's file sync wants it (no leading `/`).
pub(super) fn context_path(source: &str) -> String {
    // Cleaned as an absolute path (a relative one cleans as if under `/`), then
    // its leading `/` taken off in place.
    let mut path = llb::clean_path(source);
    path.remove(0);
    if path.is_empty() {
        path.push('.');
    }
    path
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
    fn cache_ids_name_the_tool_and_uid() {
        let id = |target: &str, uid| CacheId::Default { tool: cache_tool(target), owner: Ids::fixed(uid, uid) }.to_string();
        assert_eq!(id("/root/.cache/pip", 0), "leaven/pip-0");
        assert_eq!(id("/home/app/.npm/", 1000), "leaven/npm-1000");
        assert_eq!(cache_tool("/var/cache/demo"), "var-cache-demo");
        assert_eq!(default_sharing("apt"), Sharing::Locked);
        assert_eq!(default_sharing("pip"), Sharing::Shared);
    }
}
