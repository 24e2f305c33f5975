//! What the subcommands do: the spec commands as functions returning their
//! output, and [`bake`] (building bake files through the driver).
//!
//! Offline, no engine is asked: base images stand in as empty configs with only
//! a root account, and every cap a current BuildKit has is assumed.

pub mod bake;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::compile::{self, BaseImage, Inputs, Plan, Target};
use crate::hcl::SourceFile;
use crate::llb::{self, Caps, LocalSource, Platform};
use crate::spec::{Base, Copy, Owner, Run, RunMount, Source, Spec, Step};

/// The spec file, parsed and checked, with the target asked for.
pub struct Loaded {
    pub file: SourceFile,
    pub spec: Spec,
}

pub fn load(path: &Path, args: &BTreeMap<String, String>) -> Result<Loaded, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let file = SourceFile::new(name, text);
    let spec = crate::spec::parse_spec(&file, args).map_err(|d| d.to_string())?;
    Ok(Loaded { file, spec })
}

/// `leaven plan`: the stages a target builds, in order, with their steps as
/// the compiler will make them (cache ids, owners, mounts).
pub fn plan(loaded: &Loaded, target: Option<&str>) -> Result<String, String> {
    let spec = &loaded.spec;
    let target = compile::select_target(spec, target)?;
    let plan = compile::plan(spec, &target);
    let mut out = String::new();
    match target.variant {
        Some(v) => {
            let _ = writeln!(out, "target {} = image {} with source {:?}", v.name, v.image, v.source);
        }
        None => {
            let _ = writeln!(out, "target {}", target.stage.name);
        }
    }
    for user in &plan.users {
        let _ = writeln!(out, "user {} uid={} gid={} home={}", user.name, user.uid, user.gid, user.home);
    }
    for name in &plan.stages {
        let stage = spec.stage(name).expect("planned stages exist");
        let from = match &stage.from {
            Base::Image(r) => r.clone(),
            Base::Stage(s) => format!("stage.{s}"),
            Base::Scratch => "scratch".into(),
        };
        let _ = writeln!(out, "\n{:?} {} from {from}", stage.kind, stage.name);
        for step in &stage.steps {
            match step {
                Step::Run(run) => plan_run(&mut out, run, &plan),
                Step::Copy(copy) => plan_copy(&mut out, copy),
            }
        }
    }
    let _ = writeln!(out, "\ncontext paths: {}", plan.context_paths.join(", "));
    Ok(out)
}

fn plan_run(out: &mut String, run: &Run, plan: &Plan) {
    let _ = writeln!(out, "  run {}", run.command.display());
    let uid = compile::step_uid(&plan.users, run);
    for mount in &run.mounts {
        let line = match mount {
            RunMount::Cache { target, id, sharing, .. } => {
                let (id, sharing) = compile::cache_identity(target, id, *sharing, uid);
                format!("cache {target} id={id} sharing={sharing:?}")
            }
            RunMount::Bind { from, source, target, rw } => {
                format!("bind {}{source} → {} {}", source_prefix(from), target.as_deref().unwrap_or("(workdir)"), if *rw { "rw" } else { "ro" })
            }
            RunMount::Secret { id, target, env, .. } => format!("secret {id} → {}", target.clone().or(env.clone()).unwrap_or_default()),
            RunMount::Ssh { id, .. } => format!("ssh {id}"),
            RunMount::Tmpfs { target, .. } => format!("tmpfs {target}"),
        };
        let _ = writeln!(out, "    {line}");
    }
}

fn plan_copy(out: &mut String, copy: &Copy) {
    let owner = match &copy.owner {
        Some(Owner::User(name)) => format!(" chown={name}"),
        Some(Owner::Ids { uid, gid }) => format!(" chown={uid}:{gid}"),
        None => String::new(),
    };
    let _ = writeln!(out, "  copy {}{} → {}{owner}", source_prefix(&copy.from), copy.sources.join(" "), copy.dest);
}

fn source_prefix(source: &Source) -> String {
    match source {
        Source::Context => String::new(),
        Source::Stage(s) => format!("stage.{s}:"),
        Source::Image(r) => format!("{r}:"),
    }
}

/// `leaven llb`: the target's LLB as JSON, compiled against stand-in images.
pub fn llb_json(loaded: &Loaded, target: Option<&str>, ignore: Vec<String>) -> Result<String, String> {
    let spec = &loaded.spec;
    let target: Target = compile::select_target(spec, target)?;
    let plan = compile::plan(spec, &target);
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
    let inputs = Inputs { context, bases: &bases, caps: &caps, platform: Platform::linux_amd64(), resolve_mode: llb::ResolveMode::Default };
    let compiled = compile::compile(spec, &target, &inputs).map_err(|e| e.diagnostic(&loaded.file).to_string())?;
    let def = llb::marshal::definition(&compiled.state, false);
    let value = serde_json::json!({
        "llb": llb::json::definition_json(&def),
        "config": serde_json::from_slice::<serde_json::Value>(&compiled.config.to_json()).unwrap_or_default(),
    });
    Ok(serde_json::to_string_pretty(&value).expect("JSON values serialize") + "\n")
}

/// `leaven dockerfile`: the equivalent Dockerfile of a target.
pub fn dockerfile(loaded: &Loaded, target: Option<&str>) -> Result<String, String> {
    let target = compile::select_target(&loaded.spec, target)?;
    Ok(compile::dockerfile(&loaded.spec, &target))
}

/// The exclude patterns of the `.dockerignore` beside a spec, as the build would use.
pub fn ignore_beside(spec_path: &Path) -> Vec<String> {
    let dir = spec_path.parent().unwrap_or(Path::new("."));
    std::fs::read_to_string(dir.join(".dockerignore"))
        .map(|text| crate::frontend::parse_ignore(&text))
        .unwrap_or_default()
}
