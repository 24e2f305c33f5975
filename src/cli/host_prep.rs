//! `leaven host-prep`: gathers the inputs (files, the engine, the directories),
//! plans with [`crate::hostprep::plan`], prints the plan and applies it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::compile::AccountFiles;
use crate::compile::{self, Ids, RunAs};
use super::CliError;
use crate::hcl::{Diagnostic, SourceFile};
use crate::hostprep::apply::ApplyError;
use crate::hostprep::{self, apply, engine, inputs, MountOwner, Refusal, Remap, UnknownAccount};
use crate::transport::EndpointError;

/// Why host-prep did nothing.
#[derive(Debug, thiserror::Error)]
pub enum HostPrepError {
    /// In the daemon config, a subordinate-id file or a compose file, with its code frame.
    #[error("{0}")]
    At(#[from] Diagnostic),
    /// `what` names the file's role ("the daemon config ", "the compose file "), or is empty.
    #[error("cannot read {what}{}: {error}", .path.display())]
    Unreadable { what: &'static str, path: PathBuf, error: std::io::Error },
    #[error("no compose file in {} (compose.yaml, docker-compose.yml, …): name one with -f", .0.display())]
    NoComposeFile(PathBuf),
    /// The spec a service is built from.
    #[error(transparent)]
    Spec(#[from] CliError),
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("cannot start: {0}")]
    Runtime(std::io::Error),
    /// What the engine answered about an image.
    #[error("{0}")]
    Engine(String),
    #[error(transparent)]
    Account(#[from] UnknownAccount),
    #[error("{}", .0.iter().map(|r| format!("leaven host-prep: refused: {r}")).collect::<Vec<_>>().join("\n"))]
    Refused(Vec<Refusal>),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// Where host-prep reads its inputs.
pub struct HostPrep {
    pub dry_run: bool,
    /// The daemon's config; default /etc/docker/daemon.json, whose absence means no remap.
    pub daemon_config: Option<PathBuf>,
    /// Compose files; default compose.yaml (or the names compose also reads) here.
    pub files: Vec<PathBuf>,
    /// The spec that services built with `dockerfile: <its name>` come from.
    pub spec: Option<PathBuf>,
    pub subuid: PathBuf,
    pub subgid: PathBuf,
}

const DEFAULT_DAEMON_CONFIG: &str = "/etc/docker/daemon.json";
const COMPOSE_FILES: [&str; 4] = ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];
const OVERRIDE_FILES: [&str; 4] = ["compose.override.yaml", "compose.override.yml", "docker-compose.override.yml", "docker-compose.override.yaml"];

/// The plan's text (what was done, or with `--dry-run` what would be), or why not.
pub fn host_prep(args: &HostPrep, env: &dyn Fn(&str) -> Option<String>, cwd: &Path) -> Result<String, HostPrepError> {
    let mut out = String::new();
    let remap = daemon_remap(args, &mut out)?;
    let files = compose_files(args, cwd)?;
    let project = files.first().and_then(|f| Path::new(&f.name).parent()).map(Path::to_path_buf).unwrap_or_else(|| cwd.to_path_buf());
    let lookup = crate::bake::compose::lookup(&project, env, &[]);
    let home = env("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    let services = inputs::services(&files, &lookup, &home)?;

    let mut spec_users = BTreeMap::new();
    for service in &services {
        if let Some(found) = spec_user(args.spec.as_deref(), service)? {
            spec_users.insert(service.name.clone(), found);
        }
    }
    let images = read_images(&services, &spec_users, env, &home)?;

    let mut mounts = Vec::new();
    for service in &services {
        let image = service.image.as_ref().and_then(|i| images.get(i));
        for bind in &service.binds {
            let (ids, why) = hostprep::mount_ids(service, &bind.target, spec_users.get(&service.name).cloned(), image, &remap)?;
            mounts.push(MountOwner {
                service: service.name.clone(),
                source: bind.source.clone(),
                target: bind.target.clone(),
                read_only: bind.read_only,
                at: bind.at.clone(),
                ids,
                why,
            });
        }
    }
    if mounts.is_empty() {
        out.push_str("nothing to prepare: the compose files bind-mount no host directory\n");
        return Ok(out);
    }
    let existing = apply::existing(mounts.iter().map(|m| m.source.as_path()))?;
    let plan = hostprep::plan(&remap, &mounts, &existing).map_err(HostPrepError::Refused)?;
    if !args.dry_run {
        apply::apply(&plan)?;
    }
    out.push_str(&hostprep::plan_text(&plan, args.dry_run));
    Ok(out)
}

/// The daemon's remap; the lack of one is said in `out`.
fn daemon_remap(args: &HostPrep, out: &mut String) -> Result<Remap, HostPrepError> {
    let path = args.daemon_config.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DAEMON_CONFIG));
    let file = match std::fs::read_to_string(&path) {
        Ok(text) => SourceFile::new(path.display().to_string(), text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && args.daemon_config.is_none() => {
            out.push_str(&format!("no userns-remap: there is no {DEFAULT_DAEMON_CONFIG}; the directories get the containers' own ids\n"));
            return Ok(Remap::None);
        }
        Err(error) => return Err(HostPrepError::Unreadable { what: "the daemon config ", path, error }),
    };
    let Some(who) = inputs::daemon_remap(&file)? else {
        out.push_str(&format!("no userns-remap in {}: the directories get the containers' own ids\n", path.display()));
        return Ok(Remap::None);
    };
    let read_ids = |path: &Path| -> Result<Vec<inputs::SubIdEntry>, HostPrepError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(inputs::parse_subids(&SourceFile::new(path.display().to_string(), text))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(error) => Err(HostPrepError::Unreadable { what: "", path: path.to_path_buf(), error }),
        }
    };
    let (subuid, subgid) = (read_ids(&args.subuid)?, read_ids(&args.subgid)?);
    // Ranges may name the account by its number: the host's account files say which.
    let host = AccountFiles {
        passwd: std::fs::read_to_string("/etc/passwd").ok(),
        group: std::fs::read_to_string("/etc/group").ok(),
        ..Default::default()
    };
    let ids = (host.user_ids(&who.user).filter(|_| who.user.parse::<u32>().is_err()).map(|(uid, _)| uid), host.group_id(&who.group));
    let remap = inputs::remap(&who, &file, (&args.subuid, &subuid), (&args.subgid, &subgid), ids)?;
    if let Remap::Ranges { user, uids, gids, .. } = &remap {
        let first = |m: &hostprep::IdMap| m.0.first().map(|r| r.start).unwrap_or_default();
        out.push_str(&format!(
            "userns-remap {user} ({}): container id N is host uid {}+N, gid {}+N\n",
            path.display(),
            first(uids),
            first(gids)
        ));
    }
    Ok(remap)
}

/// The `-f` files, else the first of compose's default names here (and its override).
fn compose_files(args: &HostPrep, cwd: &Path) -> Result<Vec<SourceFile>, HostPrepError> {
    let paths: Vec<PathBuf> = if args.files.is_empty() {
        let found = |names: &[&str]| names.iter().map(|n| cwd.join(n)).find(|p| p.is_file());
        let main = found(&COMPOSE_FILES).ok_or_else(|| HostPrepError::NoComposeFile(cwd.to_path_buf()))?;
        std::iter::once(main).chain(found(&OVERRIDE_FILES)).collect()
    } else {
        args.files.iter().map(|f| cwd.join(f)).collect()
    };
    paths
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|text| SourceFile::new(p.display().to_string(), text))
                .map_err(|error| HostPrepError::Unreadable { what: "the compose file ", path: p.clone(), error })
        })
        .collect()
}

/// The ids a service built from the spec runs as: the user its target's image runs as.
fn spec_user(spec: Option<&Path>, service: &inputs::Service) -> Result<Option<(Ids, String)>, CliError> {
    let (Some(spec), Some(build)) = (spec, service.build.as_ref()) else { return Ok(None) };
    let named = build.dockerfile.as_deref().and_then(|d| Path::new(d).file_name()) == spec.file_name();
    if !named {
        return Ok(None);
    }
    let args: BTreeMap<String, String> = build.args.iter().cloned().collect();
    let loaded = super::load(spec, &args)?;
    let target = compile::select_target(&loaded.spec, build.target.as_deref())?;
    let plan = compile::plan(&loaded.spec, &target);
    let runs_as = plan.stage(&target.stage.name).map(|s| s.runs_as.clone());
    Ok(match runs_as {
        Some(RunAs::User { name, ids }) => Some((ids, format!("{} {} runs as the spec's user {name}", spec.display(), target.name()))),
        Some(RunAs::Uid(ids)) => Some((ids, format!("{} {} runs as {ids}", spec.display(), target.name()))),
        Some(RunAs::Root) => Some((Ids::ROOT, format!("{} {} runs as root", spec.display(), target.name()))),
        Some(RunAs::Base) | None => None,
    })
}

/// The images whose users or files decide an owner, read through the engine
/// (`DOCKER_HOST`, the docker context, …), each once.
fn read_images(
    services: &[inputs::Service],
    spec_users: &BTreeMap<String, (Ids, String)>,
    env: &dyn Fn(&str) -> Option<String>,
    home: &Path,
) -> Result<BTreeMap<String, engine::ImageFacts>, HostPrepError> {
    let mut wanted: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for service in services.iter().filter(|s| !s.binds.is_empty()) {
        let Some(image) = &service.image else { continue };
        let numeric = |u: &str| u.split(':').all(|part| part.parse::<u32>().is_ok()) && u.contains(':');
        let decided = match &service.user {
            Some(user) => numeric(user),
            None => spec_users.contains_key(&service.name),
        };
        if !decided {
            wanted.entry(image).or_default().extend(service.binds.iter().map(|b| b.target.clone()));
        }
    }
    if wanted.is_empty() {
        return Ok(BTreeMap::new());
    }
    let endpoint = crate::transport::docker_endpoint(env, home)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(HostPrepError::Runtime)?;
    runtime.block_on(async {
        let mut images = BTreeMap::new();
        for (image, paths) in wanted {
            let paths: Vec<String> = paths.into_iter().collect();
            images.insert(image.to_string(), engine::image_facts(&endpoint, image, &paths).await.map_err(HostPrepError::Engine)?);
        }
        Ok(images)
    })
}
