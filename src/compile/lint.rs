//! Lint rules: what builds but will hurt, as warnings (`docker build --call=check`,
//! and in the build output of every build, as the Dockerfile frontend's checks).
//!
//! Each rule is about a spec as written, so they run before any image is
//! looked up. A spec skips rules with a `# check=skip=RULE,…` line among its
//! leading comments (or the `BUILDKIT_DOCKERFILE_CHECK` build arg), as a
//! Dockerfile does; `skip=all` skips every rule.

use std::collections::BTreeMap;

use crate::spec::{closest, Base, Command, Pos, Source, Spec, Stage, StageKind, Step, BUILTIN_ARGS};

use super::plan::{plan, RunAs, Target};

/// A rule: its name (what `check=skip=` names) and what it is about.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    pub description: &'static str,
}

pub const UNPINNED_BASE_IMAGE: Rule = Rule {
    name: "UnpinnedBaseImage",
    description: "Base images should name a version tag or a digest, not latest",
};
pub const IMAGE_RUNS_AS_ROOT: Rule =
    Rule { name: "ImageRunsAsRoot", description: "Images should run as a non-root user" };
pub const CONTEXT_COPIED_BEFORE_INSTALL: Rule = Rule {
    name: "ContextCopiedBeforeInstall",
    description: "A copy of the whole context before a dependency install reruns the install on every code change",
};
pub const SECRET_IN_ENV: Rule = Rule {
    name: "SecretInEnv",
    description: "Sensitive data should not be in env or variables: they reach the image config and the build history",
};
pub const UNUSED_BUILD_ARG: Rule =
    Rule { name: "UnusedBuildArg", description: "Build args should be declared by the spec" };

/// Every rule, in the order they are documented.
pub const RULES: [&Rule; 5] =
    [&UNPINNED_BASE_IMAGE, &IMAGE_RUNS_AS_ROOT, &CONTEXT_COPIED_BEFORE_INSTALL, &SECRET_IN_ENV, &UNUSED_BUILD_ARG];

/// One finding: the rule, what is wrong here, and where (`None`: not in the spec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub rule: &'static Rule,
    pub message: String,
    pub pos: Option<Pos>,
}

impl Warning {
    /// As the build output shows it: `Rule: message (line N)`, like the Dockerfile frontend.
    pub fn short(&self) -> String {
        match self.pos {
            Some(pos) => format!("{}: {} (line {})", self.rule.name, self.message, pos.line),
            None => format!("{}: {}", self.rule.name, self.message),
        }
    }
}

/// What the build knows besides the spec: its build args, and the names bake
/// maps to other targets or directories (`context:NAME`), which are not images.
#[derive(Debug, Clone)]
pub struct LintContext<'a> {
    pub build_args: &'a BTreeMap<String, String>,
    pub named_contexts: Vec<&'a str>,
    /// The spec's text, for its `# check=` line.
    pub text: &'a str,
}

/// The warnings of a spec, in spec order; rules the spec skips are left out.
pub fn lint(spec: &Spec, cx: &LintContext) -> Vec<Warning> {
    let skipped = skipped_rules(cx.text, cx.build_args);
    let mut warnings = Vec::new();
    unpinned_images(spec, cx, &mut warnings);
    images_running_as_root(spec, &mut warnings);
    for stage in &spec.stages {
        context_copied_before_install(stage, &mut warnings);
    }
    secrets_in_env(spec, &mut warnings);
    unused_build_args(spec, cx.build_args, &mut warnings);
    warnings.retain(|w| !skipped.iter().any(|s| s == "all" || s.eq_ignore_ascii_case(w.rule.name)));
    warnings.sort_by_key(|w| w.pos.map_or((0, 0), |p| (p.line, p.column)));
    warnings
}

/// The rules skipped by `# check=skip=A,B` among the leading comments, or by
/// the `BUILDKIT_DOCKERFILE_CHECK` build arg (which wins, as for a Dockerfile).
pub fn skipped_rules(text: &str, build_args: &BTreeMap<String, String>) -> Vec<String> {
    let directive = text
        .trim_start_matches('\u{feff}')
        .lines()
        .take_while(|l| l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.trim_start().trim_start_matches('#').split_once('=')?;
            key.trim().eq_ignore_ascii_case("check").then(|| value.trim().to_string())
        })
        .next();
    let options = build_args.get("BUILDKIT_DOCKERFILE_CHECK").cloned().or(directive).unwrap_or_default();
    options
        .split(';')
        .filter_map(|part| part.split_once('='))
        .filter(|(k, _)| k.trim() == "skip")
        .flat_map(|(_, v)| v.split(',').map(|r| r.trim().to_string()).collect::<Vec<_>>())
        .filter(|r| !r.is_empty())
        .collect()
}

fn unpinned_images(spec: &Spec, cx: &LintContext, out: &mut Vec<Warning>) {
    let mut check = |reference: &str, pos: Pos| {
        if cx.named_contexts.contains(&reference) || spec.stage(reference).is_some() {
            return;
        }
        let Some(why) = crate::spec::unpinned(reference) else { return };
        let name = reference.split('@').next().unwrap_or(reference);
        out.push(Warning {
            rule: &UNPINNED_BASE_IMAGE,
            message: format!("image \"{reference}\" {why}: builds change whenever it moves; name a version (\"{name}:1.2\") or a digest"),
            pos: Some(pos),
        });
    };
    for stage in &spec.stages {
        if let Base::Image(r) = &stage.from {
            check(r, stage.from_pos);
        }
        for step in &stage.steps {
            match step {
                Step::Copy(c) => {
                    if let Source::Image(r) = &c.from {
                        check(r, c.pos);
                    }
                }
                Step::Run(run) => {
                    for mount in &run.mounts {
                        if let crate::spec::RunMount::Bind { from: Source::Image(r), .. } = mount {
                            check(r, run.pos);
                        }
                    }
                }
                Step::Dir(_) => {}
            }
        }
    }
}

fn images_running_as_root(spec: &Spec, out: &mut Vec<Warning>) {
    for stage in spec.stages.iter().filter(|s| s.kind == StageKind::Image) {
        let target = Target { stage, variant: None };
        let planned = plan(spec, &target);
        let runs_as = &planned.stage(&stage.name).expect("the target is planned").runs_as;
        let message = match runs_as {
            RunAs::Root => format!("image \"{}\" runs as root", stage.name),
            RunAs::Base => format!("image \"{}\" runs as its base image's user, root for most images", stage.name),
            RunAs::Uid(_) | RunAs::User { .. } => continue,
        };
        out.push(Warning {
            rule: &IMAGE_RUNS_AS_ROOT,
            message: format!("{message}: declare a user block (user \"app\" {{}}) and the image runs as it"),
            pos: Some(stage.pos),
        });
    }
}

fn context_copied_before_install(stage: &Stage, out: &mut Vec<Warning>) {
    let mut whole_copy: Option<Pos> = None;
    for step in &stage.steps {
        match step {
            Step::Copy(c) if c.from == Source::Context && c.include.is_empty() => {
                let whole = c.sources.iter().any(|s| super::plan::context_path(s) == ".");
                if whole && whole_copy.is_none() {
                    whole_copy = Some(c.pos);
                }
            }
            Step::Run(run) => {
                if let (Some(at), Some(tool)) = (whole_copy, installs(&run.command)) {
                    out.push(Warning {
                        rule: &CONTEXT_COPIED_BEFORE_INSTALL,
                        message: format!(
                            "{} \"{}\" copies the whole context before `{tool}` (line {}): every code change reruns it; install from the lockfiles first (a preset such as pip or npm does), then copy the code",
                            kind_word(stage.kind),
                            stage.name,
                            run.pos.line
                        ),
                        pos: Some(at),
                    });
                    return;
                }
            }
            Step::Copy(_) | Step::Dir(_) => {}
        }
    }
}

/// The dependency install a command runs, if it runs one.
fn installs(command: &Command) -> Option<&'static str> {
    const INSTALLS: [(&str, &str); 14] = [
        ("pip install", "pip install"),
        ("pip3 install", "pip install"),
        ("uv sync", "uv sync"),
        ("uv pip install", "uv pip install"),
        ("poetry install", "poetry install"),
        ("npm ci", "npm ci"),
        ("npm install", "npm install"),
        ("yarn install", "yarn install"),
        ("pnpm install", "pnpm install"),
        ("bundle install", "bundle install"),
        ("composer install", "composer install"),
        ("go mod download", "go mod download"),
        ("apt-get install", "apt-get install"),
        ("apk add", "apk add"),
    ];
    let text = command.display().to_string();
    let words: Vec<&str> = text.split_whitespace().collect();
    INSTALLS.iter().find_map(|(pattern, tool)| {
        let wanted: Vec<&str> = pattern.split(' ').collect();
        words.windows(wanted.len()).any(|w| w == wanted.as_slice()).then_some(*tool)
    })
}

/// Names that look like credentials, as the Dockerfile frontend's
/// SecretsUsedInArgOrEnv matches them: a whole word of the name, `_`-separated.
fn looks_secret(name: &str) -> bool {
    const SECRET: [&str; 10] = ["apikey", "auth", "credential", "credentials", "key", "password", "pword", "passwd", "secret", "token"];
    const ALLOWED: [&str; 3] = ["public", "file", "version"];
    let words: Vec<String> = name.split('_').map(str::to_ascii_lowercase).collect();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    has(&SECRET) && !has(&ALLOWED)
}

fn secrets_in_env(spec: &Spec, out: &mut Vec<Warning>) {
    // A variable holds a secret when it has a value in this build that is not
    // the id of one of the spec's secret mounts (`ca_secret = CA_SECRET`).
    let secret_ids: Vec<&str> = spec
        .stages
        .iter()
        .flat_map(|s| &s.steps)
        .filter_map(|step| match step {
            Step::Run(run) => Some(&run.mounts),
            Step::Copy(_) | Step::Dir(_) => None,
        })
        .flatten()
        .filter_map(|m| match m {
            crate::spec::RunMount::Secret { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let holds_secret = |v: &&crate::spec::Variable| looks_secret(&v.name) && !v.value.is_empty() && !secret_ids.contains(&v.value.as_str());
    for variable in spec.variables.iter().filter(holds_secret) {
        out.push(Warning {
            rule: &SECRET_IN_ENV,
            message: format!(
                "variable \"{}\" looks like a secret: build args are kept in the build's history; pass it as a build secret (--secret id=…) and mount it with secret {{ id = … }}",
                variable.name
            ),
            pos: Some(variable.pos),
        });
    }
    for stage in &spec.stages {
        for (key, value) in &stage.settings.env {
            if looks_secret(key) && !value.is_empty() {
                out.push(Warning {
                    rule: &SECRET_IN_ENV,
                    message: format!(
                        "env \"{key}\" of {} \"{}\" looks like a secret: env is stored in the image config; mount a build secret instead (secret {{ id = … env = \"{key}\" }})",
                        kind_word(stage.kind),
                        stage.name
                    ),
                    pos: Some(stage.pos),
                });
            }
        }
    }
}

fn unused_build_args(spec: &Spec, build_args: &BTreeMap<String, String>, out: &mut Vec<Warning>) {
    let known: Vec<&str> = spec.variables.iter().map(|v| v.name.as_str()).chain(BUILTIN_ARGS.iter().copied()).collect();
    for name in build_args.keys() {
        // BuildKit's own args, and the proxy args Docker passes on its own.
        let predefined = name.starts_with("BUILDKIT_")
            || ["HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"].contains(&name.to_ascii_uppercase().as_str());
        if predefined || known.contains(&name.as_str()) {
            continue;
        }
        let hint = closest(name, known.iter()).map(|near| format!(" (did you mean {near}?)")).unwrap_or_default();
        out.push(Warning {
            rule: &UNUSED_BUILD_ARG,
            message: format!("build arg {name} is not used: {} declares no variable \"{name}\"{hint}", spec.file),
            pos: None,
        });
    }
}

fn kind_word(kind: StageKind) -> &'static str {
    match kind {
        StageKind::Image => "image",
        StageKind::Stage => "stage",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(text: &str, args: &[(&str, &str)]) -> Vec<String> {
        let file = crate::hcl::SourceFile::new("app.hcl", text);
        let args: BTreeMap<String, String> = args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let spec = crate::spec::parse_spec(&file, &args).unwrap_or_else(|d| panic!("{d}"));
        lint(&spec, &LintContext { build_args: &args, named_contexts: Vec::new(), text }).iter().map(Warning::short).collect()
    }

    #[test]
    fn each_rule_finds_its_case() {
        let text = "variable \"API_TOKEN\" { default = \"x\" }\nimage \"a\" {\n  from = \"python\"\n  env = { DB_PASSWORD = \"hunter2\", KEY_FILE = \"/k\" }\n  copy { source = \".\" }\n  pip {}\n}\n";
        assert_eq!(
            warnings(text, &[("HOST_UDI", "5")]),
            vec![
                "UnusedBuildArg: build arg HOST_UDI is not used: app.hcl declares no variable \"HOST_UDI\" (did you mean HOST_UID?)",
                "SecretInEnv: variable \"API_TOKEN\" looks like a secret: build args are kept in the build's history; pass it as a build secret (--secret id=…) and mount it with secret { id = … } (line 1)",
                "ImageRunsAsRoot: image \"a\" runs as its base image's user, root for most images: declare a user block (user \"app\" {}) and the image runs as it (line 2)",
                "SecretInEnv: env \"DB_PASSWORD\" of image \"a\" looks like a secret: env is stored in the image config; mount a build secret instead (secret { id = … env = \"DB_PASSWORD\" }) (line 2)",
                "UnpinnedBaseImage: image \"python\" has no tag: builds change whenever it moves; name a version (\"python:1.2\") or a digest (line 3)",
                "ContextCopiedBeforeInstall: image \"a\" copies the whole context before `pip install` (line 6): every code change reruns it; install from the lockfiles first (a preset such as pip or npm does), then copy the code (line 5)",
            ]
        );
    }

    #[test]
    fn the_examples_are_clean_and_rules_can_be_skipped() {
        for example in ["hello", "webapp", "django-tailwind"] {
            let path = format!("{}/examples/{example}/app.hcl", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(path).unwrap();
            assert_eq!(warnings(&text, &[("HOST_UID", "1234")]), Vec::<String>::new(), "{example}");
        }
        let text = "# syntax=leaven:dev\n# check=skip=ImageRunsAsRoot,unpinnedbaseimage\nimage \"a\" {\n  from = \"python\"\n}\n";
        assert!(warnings(text, &[]).is_empty());
        assert_eq!(warnings(text, &[("BUILDKIT_DOCKERFILE_CHECK", "skip=UnpinnedBaseImage")]).len(), 1);
        assert!(warnings("image \"a\" {\n  from = \"python@sha256:0123456789abcdef0123456789abcdef\"\n  user = \"1000\"\n}\n", &[("BUILDKIT_DOCKERFILE_CHECK", "skip=all")]).is_empty());
        // The id of a secret, or no value at all, is no secret.
        let named = "variable \"CA_SECRET\" {}\nimage \"a\" {\n  from = \"python:3\"\n  user = \"1000\"\n  pip { ca_secret = CA_SECRET }\n}\n";
        assert!(warnings(named, &[]).is_empty());
        assert!(warnings(named, &[("CA_SECRET", "ca")]).is_empty());
    }

    #[test]
    fn secret_names_match_whole_words() {
        assert!(looks_secret("GITHUB_TOKEN") && looks_secret("api_key") && looks_secret("AUTH"));
        assert!(!looks_secret("KEYBOARD") && !looks_secret("PUBLIC_KEY") && !looks_secret("TOKENIZERS_PARALLELISM"));
    }
}
