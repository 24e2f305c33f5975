//! Presets expand into plain steps with the lessons built in: caches mounted,
//! only lockfiles bound, build-only settings kept out of the image.

use std::collections::BTreeMap;

use leaven::hcl::SourceFile;
use leaven::spec::{Command, RunMount, Source, Spec, Step};

fn spec(body: &str) -> Spec {
    let file = SourceFile::new("app.hcl", format!("user \"app\" {{}}\nstage \"s\" {{\n  from = \"python:3.13\"\n{body}\n}}\n"));
    leaven::spec::parse_spec(&file, &BTreeMap::new()).unwrap_or_else(|d| panic!("{d}"))
}

fn runs(spec: &Spec) -> Vec<&leaven::spec::Run> {
    spec.stages[0].steps.iter().filter_map(|s| if let Step::Run(r) = s { Some(r) } else { None }).collect()
}

fn shell(run: &leaven::spec::Run) -> &str {
    match &run.command {
        Command::Shell(line) => line,
        Command::Exec(_) => panic!("presets run shell lines"),
    }
}

fn binds(run: &leaven::spec::Run) -> Vec<(&str, Option<&str>)> {
    run.mounts
        .iter()
        .filter_map(|m| match m {
            RunMount::Bind { source, target, .. } => Some((source.as_str(), target.as_deref())),
            _ => None,
        })
        .collect()
}

fn cache_targets(run: &leaven::spec::Run) -> Vec<&str> {
    run.mounts.iter().filter_map(|m| if let RunMount::Cache { target, .. } = m { Some(target.as_str()) } else { None }).collect()
}

#[test]
fn uv_syncs_from_the_lockfile_into_a_venv_on_path() {
    let s = spec("  uv {\n    environment = \"/opt/venv\"\n  }");
    let run = runs(&s)[0];
    assert_eq!(shell(run), "cd /tmp/leaven-inputs && uv sync --frozen --no-install-project --no-dev");
    assert_eq!(binds(run), vec![("pyproject.toml", Some("/tmp/leaven-inputs/pyproject.toml")), ("uv.lock", Some("/tmp/leaven-inputs/uv.lock"))]);
    assert_eq!(cache_targets(run), vec!["/root/.cache/uv"]);
    assert!(run.env.contains(&("UV_PROJECT_ENVIRONMENT".into(), "/opt/venv".into())));
    assert!(s.stages[0].settings.env.contains(&("PATH".into(), "/opt/venv/bin:$PATH".into())));
}

#[test]
fn poetry_installs_main_dependencies_only() {
    let s = spec("  poetry {}");
    let run = runs(&s)[0];
    assert!(shell(run).ends_with("poetry install --no-root --only main --no-interaction"));
    assert_eq!(binds(run).len(), 2);
    assert_eq!(cache_targets(run), vec!["/root/.cache/pypoetry"]);
}

#[test]
fn a_non_root_install_uses_a_cache_it_owns_and_the_ca_secret() {
    let s = spec("  pip {\n    user = user.app\n    ca_secret = \"ca\"\n  }");
    let run = runs(&s)[0];
    assert_eq!(run.user.as_deref(), Some("app"));
    assert_eq!(cache_targets(run), vec!["/tmp/leaven-cache/.cache/pip"]);
    assert!(run.env.contains(&("PIP_CERT".into(), "/run/secrets/ca".into())));
    assert!(run.mounts.iter().any(|m| matches!(m, RunMount::Secret { id, required: true, .. } if id == "ca")));
}

#[test]
fn node_toolchain_copies_node_and_npm_from_the_image() {
    let s = spec("  node_toolchain {\n    from = \"node:22-bookworm-slim\"\n  }");
    let copies: Vec<(&Source, &str)> = s.stages[0]
        .steps
        .iter()
        .filter_map(|step| if let Step::Copy(c) = step { Some((&c.from, c.dest.as_str())) } else { None })
        .collect();
    let node = Source::Image("node:22-bookworm-slim".into());
    assert_eq!(copies, vec![(&node, "/usr/local/bin"), (&node, "/usr/local/lib/node_modules")]);
}

#[test]
fn collectstatic_settings_stay_in_the_step() {
    let s = spec("  collectstatic {\n    settings = \"config.settings.build\"\n  }");
    let run = runs(&s)[0];
    assert_eq!(shell(run), "python manage.py collectstatic --noinput");
    assert!(run.env.contains(&("DJANGO_SETTINGS_MODULE".into(), "config.settings.build".into())));
    assert!(s.stages[0].settings.env.is_empty(), "nothing reaches the image config");
}

#[test]
fn unknown_preset_attributes_are_errors() {
    let file = SourceFile::new("app.hcl", "stage \"s\" {\n  from = \"x\"\n  npm {\n    lockfil = \"a\"\n  }\n}\n");
    let err = leaven::spec::parse_spec(&file, &BTreeMap::new()).unwrap_err();
    assert_eq!(err.headline(), "app.hcl:4:5: unknown attribute \"lockfil\" in npm");
    assert_eq!(err.hint.as_deref(), Some("did you mean \"lockfile\"?"));
}
