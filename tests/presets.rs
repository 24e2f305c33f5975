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
    // Optional: the same spec builds with and without the secret.
    assert!(run.mounts.iter().any(|m| matches!(m, RunMount::Secret { id, required: false, .. } if id == "ca")));
    assert_eq!(run.ca_bundle.as_deref(), Some("/run/secrets/ca"));
    let line = run.shell_line(shell(run));
    assert!(line.starts_with("if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca "), "{line}");
    assert!(line.ends_with("; fi && cd /tmp/leaven-inputs && pip install --no-compile -r requirements.txt"), "{line}");
}

#[test]
fn pip_installs_into_a_virtualenv_and_may_keep_its_bytecode() {
    let s = spec("  pip {\n    venv = \"/venv\"\n    compile = true\n  }");
    let run = runs(&s)[0];
    assert_eq!(shell(run), "cd /tmp/leaven-inputs && python3 -m venv /venv && /venv/bin/pip install -r requirements.txt");
    let env = &s.stages[0].settings.env;
    assert!(env.contains(&("VIRTUAL_ENV".into(), "/venv".into())) && env.contains(&("PATH".into(), "/venv/bin:$PATH".into())), "{env:?}");
    let file = SourceFile::new("app.hcl", "stage \"s\" {\n  from = \"x\"\n  pip {\n    prefix = \"/i\"\n    venv = \"/venv\"\n  }\n}\n");
    let err = leaven::spec::parse_spec(&file, &BTreeMap::new()).unwrap_err();
    assert_eq!(err.headline(), "app.hcl:5:5: pip takes prefix or venv, not both");
}

#[test]
fn node_installs_with_and_without_a_lockfile() {
    let cases = [
        ("npm {}", "npm ci --no-audit --no-fund", vec!["package.json", "package-lock.json"]),
        ("npm { lockfile = \"\" }", "npm install --no-package-lock --no-audit --no-fund", vec!["package.json"]),
        ("yarn {}", "yarn install --frozen-lockfile --non-interactive", vec!["package.json", "yarn.lock"]),
        ("yarn { lockfile = \"\" }", "yarn install --no-lockfile --non-interactive", vec!["package.json"]),
        ("pnpm {}", "pnpm install --frozen-lockfile", vec!["package.json", "pnpm-lock.yaml"]),
        ("pnpm { lockfile = \"\" }", "pnpm install --no-frozen-lockfile", vec!["package.json"]),
    ];
    for (block, command, bound) in cases {
        let s = spec(&format!("  {block}"));
        let run = runs(&s)[0];
        assert_eq!(shell(run), command, "{block}");
        let sources: Vec<&str> = binds(run).iter().map(|(source, target)| {
            assert_eq!(*target, None, "{block}: bound in the workdir");
            *source
        }).collect();
        assert_eq!(sources, bound, "{block}");
    }
    let yarn = spec("  yarn {}");
    assert!(runs(&yarn)[0].env.contains(&("YARN_CACHE_FOLDER".into(), "/root/.cache/yarn".into())));
    let pnpm = spec("  pnpm {}");
    assert!(runs(&pnpm)[0].env.contains(&("npm_config_store_dir".into(), "/root/.local/share/pnpm/store".into())));
}

#[test]
fn collectstatic_copies_in_only_what_it_reads() {
    let s = spec("  collectstatic {\n    settings = \"config.settings\"\n  }");
    let Step::Copy(copy) = &s.stages[0].steps[0] else { panic!("the preset copies first") };
    assert_eq!(copy.sources, vec!["."]);
    assert_eq!(&copy.include[..3], ["config/settings.py", "config/settings/**", "manage.py"]);
    assert!(copy.include.contains(&"*/apps.py".to_string()) && copy.include.contains(&"*/static/**".to_string()));
    assert!(!copy.include.iter().any(|p| p.contains("views") || p.contains("templates/")), "{:?}", copy.include);
    let own = spec("  collectstatic {\n    inputs = [\"manage.py\", \"site/**\"]\n  }");
    let Step::Copy(copy) = &own.stages[0].steps[0] else { panic!() };
    assert_eq!(copy.include, vec!["manage.py", "site/**"]);
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
    assert!(matches!(&s.stages[0].steps[0], Step::Copy(c) if c.include[0] == "config/settings/build.py"));
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
