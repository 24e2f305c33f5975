//! What the subcommands do: the spec commands as functions returning their
//! output, and [`bake`] (building bake files through the driver).
//!
//! Offline, no engine is asked: base images stand in as empty configs with only
//! a root account, and every cap a current BuildKit has is assumed.

pub mod bake;
pub mod compose;
pub mod host_prep;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::compile::{self, BaseImage, CompileError, Compiled, Ids, Inputs, NoTarget, Plan, PlannedMount, PlannedRun, PlannedStage, PlannedStep};
use crate::hcl::{Diagnostic, SourceFile};
use crate::llb::{self, Caps, LocalSource, Platform};
use crate::spec::{BadSourceDateEpoch, Base, Network, Source, SourceMode, Spec, StageKind};
use crate::stack::{ComposeError, WriteError};

/// Why a subcommand failed, as the user sees it: errors in the spec with
/// their code frame, the rest one line naming what they are about.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{}: cannot read: {error}", .path.display())]
    Unreadable { path: PathBuf, error: std::io::Error },
    #[error(transparent)]
    BuildArg(#[from] BadSourceDateEpoch),
    /// In the spec (parsed, checked or compiled).
    #[error("{0}")]
    At(#[from] Diagnostic),
    #[error(transparent)]
    Target(#[from] NoTarget),
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A path that cannot be made absolute, or a directory that cannot be made.
    #[error("{}: {what}{error}", .path.display())]
    Path { path: PathBuf, what: &'static str, error: std::io::Error },
}

/// The spec file, parsed and checked, with the target asked for.
pub struct Loaded {
    pub file: SourceFile,
    pub spec: Spec,
}

pub fn load(path: &Path, args: &BTreeMap<String, String>) -> Result<Loaded, CliError> {
    let text = std::fs::read_to_string(path).map_err(|error| CliError::Unreadable { path: path.to_path_buf(), error })?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let file = SourceFile::new(name, text);
    crate::spec::check_build_args(args)?;
    let spec = crate::spec::parse_spec(&file, args)?;
    Ok(Loaded { file, spec })
}

/// `leaven plan`: the stages a target builds, in order, with their steps as
/// the compiler makes them: who runs each, with which mounts, owners and env.
pub fn plan(loaded: &Loaded, target: Option<&str>) -> Result<String, CliError> {
    let spec = &loaded.spec;
    let target = compile::select_target(spec, target)?;
    Ok(plan_text(&compile::plan(spec, &target)))
}

/// The text of `leaven plan` for a plan.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    match plan.target.variant {
        Some(v) => {
            let source = match v.source {
                SourceMode::Copy => "source copied",
                SourceMode::Mount => "source mounted at run time",
            };
            let _ = writeln!(out, "target {}: image {}, {source}", v.name, v.image);
        }
        None => {
            let _ = writeln!(out, "target {}", plan.target.stage.name);
        }
    }
    for user in &plan.users {
        let host: Vec<&str> = [(user.uid_from_host, "HOST_UID"), (user.gid_from_host, "HOST_GID")]
            .into_iter()
            .filter_map(|(from_host, name)| from_host.then_some(name))
            .collect();
        let host = if host.is_empty() { String::new() } else { format!(" (from {})", host.join(", ")) };
        let _ = writeln!(out, "user {} {}:{} home={}{host}", user.name, user.uid, user.gid, user.home);
    }
    for planned in &plan.stages {
        plan_stage(&mut out, plan, planned);
    }
    let paths = if plan.context_paths.is_empty() { "none (the build sends no file of the context)".to_string() } else { plan.context_paths.join(", ") };
    let _ = writeln!(out, "\ncontext paths: {paths}");
    out
}

fn plan_stage(out: &mut String, plan: &Plan, planned: &PlannedStage) {
    let stage = planned.stage;
    let from = match &stage.from {
        Base::Image(r) => r.clone(),
        Base::Stage(s) => format!("stage.{s}"),
        Base::Scratch => "scratch".into(),
    };
    let kind = match stage.kind {
        StageKind::Image => "image",
        StageKind::Stage => "stage",
    };
    let _ = writeln!(out, "\n{kind} {} from {from}", stage.name);
    let _ = writeln!(out, "  steps run as {}; the result runs as {}", planned.starts_as, planned.runs_as);
    for (k, v) in &planned.settings.env {
        let _ = writeln!(out, "  env {k}={v}");
    }
    if planned.creates_users {
        let _ = writeln!(out, "  create users {}", plan.users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>().join(", "));
    }
    if let Some(workdir) = &planned.workdir {
        let mode = if workdir.mode == 0o755 { String::new() } else { format!(" mode={:o}", workdir.mode) };
        let _ = writeln!(out, "  workdir {}{}{mode}", workdir.path, owner_text(workdir.owner));
    }
    for step in &planned.steps {
        match step {
            PlannedStep::Run(run) => plan_run(out, run),
            PlannedStep::Copy { copy, owner } => {
                let mut line = format!("  copy {}{} → {}{}", source_prefix(&copy.from), copy.sources.join(" "), copy.dest, owner_text(*owner));
                if let Some(mode) = copy.mode {
                    let _ = write!(line, " mode={mode:o}");
                }
                if !copy.include.is_empty() {
                    let _ = write!(line, " include={}", copy.include.join(","));
                }
                if !copy.exclude.is_empty() {
                    let _ = write!(line, " exclude={}", copy.exclude.join(","));
                }
                if copy.link {
                    line.push_str(" link");
                }
                let _ = writeln!(out, "{line}");
            }
            PlannedStep::Dir { dir, owner } => {
                let mode = if dir.mode == 0o755 { String::new() } else { format!(" mode={:o}", dir.mode) };
                let _ = writeln!(out, "  dir {}{}{mode}", dir.path, owner_text(*owner));
            }
            PlannedStep::MountPoint { copy, owner } => {
                let _ = writeln!(out, "  mount point {}{} (replaces copy {}: source mounted at run time)", copy.dest, owner_text(*owner), copy.sources.join(" "));
            }
        }
    }
    let s = &*planned.settings;
    if let Some(entrypoint) = planned.entrypoint() {
        let _ = writeln!(out, "  entrypoint {}", entrypoint.join(" "));
    }
    if let Some(cmd) = &s.cmd {
        let _ = writeln!(out, "  cmd {}", cmd.join(" "));
    }
}

fn plan_run(out: &mut String, planned: &PlannedRun) {
    let run = planned.run;
    // A script's later lines line up under its first.
    let _ = writeln!(out, "  run {}", run.command.display().to_string().replace('\n', "\n      "));
    let _ = writeln!(out, "    as {}", planned.user);
    if let Some(dir) = &run.workdir {
        let _ = writeln!(out, "    workdir {dir}");
    }
    if let Some(bundle) = &run.ca_bundle {
        let _ = writeln!(out, "    CA bundle {bundle} (when the build has the secret)");
    }
    for (k, v) in planned.env.iter() {
        let _ = writeln!(out, "    env {k}={v}");
    }
    match run.network {
        Network::Default => {}
        Network::None => {
            let _ = writeln!(out, "    network none");
        }
        Network::Host => {
            let _ = writeln!(out, "    network host");
        }
    }
    for mount in &planned.mounts {
        let line = match mount {
            PlannedMount::Cache { target, id, sharing, owner, mode } => {
                let sharing = format!("{sharing:?}").to_lowercase();
                let mode = if *mode == 0o755 { String::new() } else { format!(" mode={mode:o}") };
                format!("cache {target} id={id} sharing={sharing} owner={owner}{mode}")
            }
            PlannedMount::Bind { from, source, target, rw } => {
                format!("bind {}{source} → {} {}", source_prefix(from), target.unwrap_or("(workdir)"), if *rw { "rw" } else { "ro" })
            }
            PlannedMount::Secret { id, target, env, required, mode, owner } => {
                let to = [target.map(str::to_string), env.map(|e| format!("${e}"))].into_iter().flatten().collect::<Vec<_>>().join(" ");
                let required = if *required { "required" } else { "optional" };
                format!("secret {id} → {to} {required} owner={owner} mode={mode:o}")
            }
            PlannedMount::Ssh { id, target, required, owner } => {
                format!("ssh {id} → {target} {} owner={owner}", if *required { "required" } else { "optional" })
            }
            PlannedMount::Tmpfs { target, size } => match size {
                Some(size) => format!("tmpfs {target} size={size}"),
                None => format!("tmpfs {target}"),
            },
        };
        let _ = writeln!(out, "    {line}");
    }
}

fn owner_text(owner: Option<Ids>) -> String {
    owner.map(|o| format!(" owner={o}")).unwrap_or_default()
}

fn source_prefix(source: &Source) -> String {
    match source {
        Source::Context => String::new(),
        Source::Stage(s) => format!("stage.{s}:"),
        Source::Image(r) => format!("{r}:"),
    }
}

/// `leaven llb`: the target's LLB as JSON, compiled against stand-in images.
pub fn llb_json(loaded: &Loaded, target: Option<&str>, ignore: Vec<String>) -> Result<String, CliError> {
    let spec = &loaded.spec;
    let target = compile::select_target(spec, target)?;
    let plan = compile::plan(spec, &target);
    let compiled = compile_offline(&plan, ignore).map_err(|e| e.diagnostic(&loaded.file))?;
    let def = llb::marshal::definition(&compiled.state, false);
    let value = serde_json::json!({
        "llb": llb::json::definition_json(&def),
        "config": serde_json::from_slice::<serde_json::Value>(&compiled.config.to_json()).unwrap_or_default(),
    });
    Ok(serde_json::to_string_pretty(&value).expect("JSON values serialize") + "\n")
}

/// Compiles a plan with no engine: base images stand in as empty images with
/// only a root account, and every cap a current BuildKit has is assumed.
pub fn compile_offline(plan: &Plan, ignore: Vec<String>) -> Result<Compiled, CompileError> {
    let bases: BTreeMap<String, BaseImage> = plan
        .images
        .iter()
        .map(|r| (r.clone(), BaseImage { reference: llb::normalize_image_ref(r), ..Default::default() }))
        .collect();
    let caps = Caps::current();
    let context = LocalSource {
        name: "context".into(),
        exclude: ignore,
        shared_key_hint: Some("context".into()),
        name_in_progress: Some("[internal] load build context".into()),
        ..Default::default()
    };
    let inputs = Inputs {
        context,
        bases: &bases,
        caps: &caps,
        platform: Platform::linux_amd64(),
        resolve_mode: llb::ResolveMode::Default,
        no_cache: compile::NoCache::Off,
    };
    compile::compile(plan, &inputs)
}

/// `leaven dockerfile`: the equivalent Dockerfile of a target.
pub fn dockerfile(loaded: &Loaded, target: Option<&str>) -> Result<String, CliError> {
    let target = compile::select_target(&loaded.spec, target)?;
    Ok(compile::dockerfile(&compile::plan(&loaded.spec, &target)))
}

/// The exclude patterns of the `.dockerignore` beside a spec, as the build would use.
pub fn ignore_beside(spec_path: &Path) -> Vec<String> {
    let dir = spec_path.parent().unwrap_or(Path::new("."));
    std::fs::read_to_string(dir.join(".dockerignore"))
        .map(|text| crate::frontend::parse_ignore(&text))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::FrontendError;

    /// One spec error, two readers: `leaven plan` prints the headline, the code
    /// frame and the hint; a build through the frontend returns the headline
    /// and the hint, with the position as a source detail the engine draws the
    /// same frame from.
    #[test]
    fn a_spec_error_renders_the_same_through_the_cli_and_the_frontend() {
        let dir = std::env::temp_dir().join(format!("leaven-cli-render-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = "image \"a\" {\n  from = \"x\"\n  cmnd = [\"a\"]\n}\n";
        std::fs::write(dir.join("app.hcl"), text).unwrap();
        let cli = load(&dir.join("app.hcl"), &BTreeMap::new()).err().expect("a spec error");
        let _ = std::fs::remove_dir_all(&dir);
        let CliError::At(d) = &cli else { panic!("not positioned: {cli}") };
        let frontend = FrontendError::Spec { diagnostic: d.clone(), text: text.to_string() }.to_status();

        let headline = "app.hcl:3:3: unknown attribute \"cmnd\" in image \"a\"";
        let hint = "did you mean \"cmd\"?";
        assert_eq!(cli.to_string(), format!("{headline}\n  |\n3 |   cmnd = [\"a\"]\n  |   ^\n  = hint: {hint}"));
        assert_eq!(frontend.message, format!("{headline} (hint: {hint})"));
        let detail: serde_json::Value = serde_json::from_slice(&frontend.details[0].value).unwrap();
        assert_eq!(detail["ranges"][0]["start"], serde_json::json!({ "Line": 3, "Character": 2 }), "{detail}");
    }
}
