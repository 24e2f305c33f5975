//! Golden LLB: what `leaven llb` prints for the examples, compared with reviewed
//! files in tests/golden. After a deliberate change, regenerate with
//! `LEAVEN_BLESS=1 cargo test --test golden` and review the diff before committing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const CASES: &[(&str, &str)] = &[
    ("hello", "app"),
    ("webapp", "release"),
    ("webapp", "dev"),
    ("webapp", "ci"),
    ("django-tailwind", "release"),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn llb_for(example: &str, target: &str) -> String {
    let spec = repo().join("examples").join(example).join("app.hcl");
    let loaded = leaven::cli::load(&spec, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    leaven::cli::llb_json(&loaded, Some(target), leaven::cli::ignore_beside(&spec)).unwrap_or_else(|e| panic!("{e}"))
}

fn golden_path(example: &str, target: &str) -> PathBuf {
    repo().join("tests/golden").join(format!("{example}.{target}.json"))
}

#[test]
fn examples_compile_to_the_reviewed_llb() {
    let bless = std::env::var_os("LEAVEN_BLESS").is_some();
    let mut differing = Vec::new();
    for (example, target) in CASES {
        let got = llb_for(example, target);
        let path = golden_path(example, target);
        if bless {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if got != want {
            let actual = path.with_extension("actual.json");
            std::fs::write(&actual, &got).unwrap();
            differing.push(format!("{} (now written to {})", path.display(), actual.display()));
        }
    }
    assert!(differing.is_empty(), "LLB differs from the reviewed golden files:\n{}", differing.join("\n"));
}

#[test]
fn compiling_twice_gives_identical_llb() {
    assert_eq!(llb_for("webapp", "release"), llb_for("webapp", "release"));
}

#[test]
fn variants_differ_only_where_they_should() {
    let release = llb_for("webapp", "release");
    let dev = llb_for("webapp", "dev");
    let ci = llb_for("webapp", "ci");
    assert!(release.contains("create users app (1000:1000)"));
    assert!(ci.contains("create users app (9500:9500)"));
    assert!(dev.contains("mount point /src (source mounted at run time)"));
    assert!(!dev.contains("copy . → /src"), "dev copies no source");
    assert!(Path::new(&golden_path("webapp", "dev")).exists());
}

/// Compile, `leaven plan` and `leaven dockerfile` read one resolved plan: for
/// every run step of every target of every example (and of specs that used to
/// make them disagree), each shows the step's user and its mounts' cache ids
/// and owners as the plan has them.
#[test]
fn compile_plan_and_eject_agree_on_every_step() {
    let mut specs: Vec<(String, leaven::cli::Loaded)> = Vec::new();
    for example in ["hello", "webapp", "django-tailwind"] {
        let path = repo().join("examples").join(example).join("app.hcl");
        specs.push((example.to_string(), leaven::cli::load(&path, &BTreeMap::new()).unwrap()));
    }
    specs.push(("inheriting".to_string(), loaded(INHERITING)));
    let mut checked = 0;
    for (name, loaded) in &specs {
        let spec = &loaded.spec;
        let targets = spec.stages.iter().map(|s| s.name.clone()).chain(spec.variants.iter().map(|v| v.name.clone()));
        for target in targets {
            let selected = leaven::compile::select_target(spec, Some(&target)).unwrap();
            let plan = leaven::compile::plan(spec, &selected);
            let compiled = leaven::cli::compile_offline(&plan, Vec::new()).unwrap_or_else(|e| panic!("{name} {target}: {e:?}"));
            let source = leaven::llb::marshal::SourceFile { name: "app.hcl", text: "", language: "HCL" };
            let def = leaven::llb::marshal::definition_with_source(&compiled.state, false, Some(source));
            let execs = exec_ops_by_line(&def);
            let plan_text = leaven::cli::plan_text(&plan);
            let dockerfile = leaven::compile::dockerfile(&plan);
            let runs = dockerfile_runs(&dockerfile);
            for planned in &plan.stages {
                for step in &planned.steps {
                    let leaven::compile::PlannedStep::Run(run) = step else { continue };
                    let at = format!("{name} --target {target}, run at line {}", run.run.pos.line);
                    let want = expected(run);
                    // Compile: the exec op at the step's line.
                    let exec = execs.get(&run.run.pos.line).unwrap_or_else(|| panic!("{at}: no exec op"));
                    assert_eq!(exec_view(exec, &def), want, "{at}: compiled LLB");
                    // `leaven plan`: the step's block.
                    let block = plan_block(&plan_text, &run.run.command.display().to_string());
                    assert!(block.contains(&format!("    as {}\n", run.user)), "{at}: plan shows the user\n{block}");
                    for (id, owner) in &want.caches {
                        assert!(block.contains(&format!("id={id} ")) && block.contains(&format!("owner={owner}")), "{at}: plan shows cache {id}\n{block}");
                    }
                    // The ejected Dockerfile: the RUN of the step, with its USER.
                    let (user, text) = runs
                        .iter()
                        .find(|(_, text)| text.contains(run_text(&run.run.command)))
                        .unwrap_or_else(|| panic!("{at}: no RUN in\n{dockerfile}"));
                    let ejected_ids = user_ids(user);
                    assert_eq!(ejected_ids, want.user, "{at}: ejected USER {user}");
                    for (id, owner) in &want.caches {
                        let (uid, gid) = owner.split_once(':').unwrap();
                        let id = id.replace("-1000", "-${HOST_UID}");
                        assert!(text.contains(&format!("id={id},")), "{at}: ejected cache id {id}\n{text}");
                        if owner != "0:0" {
                            let ids = format!("uid={},gid={}", host(uid, "HOST_UID"), host(gid, "HOST_GID"));
                            assert!(text.contains(&ids), "{at}: ejected cache owner {ids}\n{text}");
                        }
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 20, "checked {checked} steps");
}

/// A stage built on an image starts as the user the image runs as.
const INHERITING: &str = r#"
user "app" {}
image "release" {
  from = "python:3.13-slim"
  workdir = "/src"
}
stage "tests" {
  from = stage.release
  pip {}
  run "pytest" {
    user = "root"
    cache { target = "/root/.cache/pytest" }
  }
}
variant "ci" {}
"#;

#[test]
fn a_stage_on_an_image_runs_as_its_user_in_all_three() {
    let loaded = loaded(INHERITING);
    let target = leaven::compile::select_target(&loaded.spec, Some("tests")).unwrap();
    let plan = leaven::compile::plan(&loaded.spec, &target);
    let text = leaven::cli::plan_text(&plan);
    assert!(text.contains("cache /root/.cache/pip id=leaven/pip-1000 sharing=shared owner=1000:1000"), "{text}");
    let llb = leaven::cli::llb_json(&loaded, Some("tests"), Vec::new()).unwrap();
    assert!(llb.contains("\"id\": \"leaven/pip-1000\"") && llb.contains("\"user\": \"1000:1000\""), "{llb}");
    let dockerfile = leaven::compile::dockerfile(&plan);
    assert!(dockerfile.contains("id=leaven/pip-${HOST_UID},sharing=shared,uid=${HOST_UID},gid=${HOST_GID}"), "{dockerfile}");
    // The root step switches and switches back.
    assert!(dockerfile.contains("USER root\nRUN \\\n    --mount=type=cache,target=/root/.cache/pytest,id=leaven/root-.cache-pytest-0"), "{dockerfile}");
    assert!(dockerfile.contains("    pytest\nUSER ${HOST_UID}:${HOST_GID}\n"), "{dockerfile}");
}

#[test]
fn plan_of_a_mounting_variant_shows_what_it_replaces() {
    let spec = repo().join("examples/webapp/app.hcl");
    let loaded = leaven::cli::load(&spec, &BTreeMap::new()).unwrap();
    let dev = leaven::cli::plan(&loaded, Some("dev")).unwrap();
    assert!(dev.contains("  mount point /src owner=1000:1000 (replaces copy .: source mounted at run time)\n"), "{dev}");
    assert!(!dev.contains("copy . → /src"), "{dev}");
    let release = leaven::cli::plan(&loaded, Some("release")).unwrap();
    assert!(release.contains("  copy . → /src owner=1000:1000 exclude=assets,build_assets.py,*.hcl,Dockerfile\n"), "{release}");
    assert!(release.contains("    workdir /install\n"), "{release}");
}

fn loaded(text: &str) -> leaven::cli::Loaded {
    let file = leaven::hcl::SourceFile::new("app.hcl", text);
    let spec = leaven::spec::parse_spec(&file, &BTreeMap::new()).unwrap_or_else(|d| panic!("{d}"));
    leaven::cli::Loaded { file, spec }
}

/// What each of the three shows of a step: its user's ids and its caches.
#[derive(Debug, PartialEq)]
struct StepView {
    user: String,
    caches: Vec<(String, String)>,
}

fn expected(run: &leaven::compile::PlannedRun) -> StepView {
    let user = run.user.ids().to_string();
    let caches = run
        .mounts
        .iter()
        .filter_map(|m| match m {
            leaven::compile::PlannedMount::Cache { id, owner, .. } => Some((id.to_string(), owner.to_string())),
            _ => None,
        })
        .collect();
    StepView { user, caches }
}

use leaven::proto::pb;
use prost::Message;

fn exec_ops_by_line(def: &pb::Definition) -> BTreeMap<usize, pb::Op> {
    let source = def.source.as_ref().expect("a source map");
    def.def
        .iter()
        .filter_map(|bytes| {
            let op = pb::Op::decode(&bytes[..]).unwrap();
            let digest = leaven::llb::marshal::digest_of(bytes);
            let line = source.locations.get(&digest)?.fields().locations.first()?.ranges.first()?.start.as_ref()?.line as usize;
            matches!(op.op, Some(pb::op::Op::Exec(_))).then_some((line, op))
        })
        .collect()
}

fn exec_view(op: &pb::Op, def: &pb::Definition) -> StepView {
    let Some(pb::op::Op::Exec(exec)) = &op.op else { unreachable!() };
    let user = exec.meta.as_ref().unwrap().user.clone();
    let user = if user == "root" { "0:0".to_string() } else { user };
    let caches = exec
        .mounts
        .iter()
        .filter_map(|m| {
            let cache = m.cache_opt.as_ref()?;
            // The owner is the mkdir of the op seeding the cache, if any.
            let owner = (m.input >= 0)
                .then(|| {
                    let digest = &op.inputs[m.input as usize].digest;
                    let bytes = def.def.iter().find(|b| &leaven::llb::marshal::digest_of(b) == digest)?;
                    let Some(pb::op::Op::File(file)) = pb::Op::decode(&bytes[..]).ok()?.op else { return None };
                    let Some(pb::file_action::Action::Mkdir(mkdir)) = &file.actions[0].action else { return None };
                    let id = |u: &Option<pb::UserOpt>| match u.as_ref()?.user.as_ref()? {
                        pb::user_opt::User::ById(id) => Some(*id),
                        pb::user_opt::User::ByName(_) => None,
                    };
                    let owner = mkdir.owner.as_ref()?;
                    Some(format!("{}:{}", id(&owner.user)?, id(&owner.group)?))
                })
                .flatten()
                .unwrap_or_else(|| "0:0".to_string());
            Some((cache.id.clone(), owner))
        })
        .collect();
    StepView { user, caches }
}

/// The lines of `leaven plan` for the run whose command is `command`.
fn plan_block(text: &str, command: &str) -> String {
    let shown = command.replace('\n', "\n      ");
    let start = text.find(&format!("  run {shown}\n")).unwrap_or_else(|| panic!("no run {command} in\n{text}"));
    let block: Vec<&str> = text[start..].lines().skip(1).take_while(|l| l.starts_with("    ")).collect();
    block.join("\n") + "\n"
}

/// Each RUN of a Dockerfile (continuations and heredocs joined) with the USER in force.
fn dockerfile_runs(text: &str) -> Vec<(String, String)> {
    let mut runs = Vec::new();
    let mut user = "root".to_string();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("FROM ") {
            // Stages built on another inherit its USER; bases here are root.
            let parent = line.split_whitespace().nth(1).unwrap_or("");
            user = runs_user_of_stage(text, parent).unwrap_or_else(|| "root".into());
        } else if let Some(u) = line.strip_prefix("USER ") {
            user = u.to_string();
        } else if line.starts_with("RUN") {
            let mut run = line.to_string();
            let mut current = line;
            while current.ends_with('\\') {
                current = lines.next().unwrap_or("");
                run.push('\n');
                run.push_str(current);
            }
            if let Some((_, delimiter)) = current.split_once("<<'") {
                let delimiter = delimiter.trim_end_matches('\'');
                for body in lines.by_ref() {
                    run.push('\n');
                    run.push_str(body);
                    if body == delimiter {
                        break;
                    }
                }
            }
            runs.push((user.clone(), run));
        }
    }
    runs
}

/// The last USER of the stage named `name`, if the Dockerfile has that stage.
fn runs_user_of_stage(text: &str, name: &str) -> Option<String> {
    let start = text.find(&format!(" AS {name}\n"))?;
    let rest = &text[start..];
    let end = rest[1..].find("\nFROM ").map_or(rest.len(), |e| e + 1);
    rest[..end].lines().rev().find_map(|l| l.strip_prefix("USER ")).map(str::to_string)
}

fn run_text(command: &leaven::spec::Command) -> &str {
    match command {
        leaven::spec::Command::Shell(line) => line.lines().next().unwrap_or(""),
        leaven::spec::Command::Exec(args) => &args[0],
    }
}

/// A USER value as ids, with the host's build args at their defaults.
fn user_ids(user: &str) -> String {
    match user {
        "root" => "0:0".into(),
        "app" => "1000:1000".into(),
        ids => ids.replace("${HOST_UID}", "1000").replace("${HOST_GID}", "1000"),
    }
}

fn host(id: &str, arg: &str) -> String {
    if id == "1000" { format!("${{{arg}}}") } else { id.to_string() }
}

/// `dir` makes a directory owned by the image's user (or the owner it names);
/// one naming the workdir decides the workdir's owner and mode.
#[test]
fn dir_blocks_make_owned_directories_in_all_three() {
    let loaded = loaded(
        "user \"app\" {}\nimage \"a\" {\n  from = \"python:3.13\"\n  workdir = \"/src\"\n  dir { path = \"data\" }\n  dir {\n    path = \"/src\"\n    owner = \"root\"\n    mode = \"0750\"\n  }\n}\n",
    );
    let target = leaven::compile::select_target(&loaded.spec, None).unwrap();
    let plan = leaven::compile::plan(&loaded.spec, &target);
    let text = leaven::cli::plan_text(&plan);
    assert!(text.contains("  workdir /src owner=0:0 mode=750\n  dir data owner=1000:1000\n"), "{text}");
    let llb = leaven::cli::llb_json(&loaded, None, Vec::new()).unwrap();
    assert!(llb.contains("\"path\": \"/src\",\n              \"mode\": \"0750\""), "{llb}");
    assert!(llb.contains("\"path\": \"/src/data\""), "{llb}");
    let dockerfile = leaven::compile::dockerfile(&plan);
    assert!(dockerfile.contains("RUN mkdir -p /src && chown 0:0 /src && chmod 750 /src\nWORKDIR /src\nRUN mkdir -p data && chown ${HOST_UID}:${HOST_GID} data\n"), "{dockerfile}");
}
