//! Presets: the steps a web team writes again and again, each expanded into
//! plain `run`/`copy` steps (what `leaven plan` shows), with the lessons built in:
//! package caches in cache mounts, only the lockfiles as inputs (bound, never
//! copied), and build-only settings that never reach the image.


use crate::hcl::syntax::Block;
use crate::hcl::{Diagnostic, Scope};

use super::model::*;
use super::parse::Checker;

pub const PRESETS: &[&str] = &["pip", "uv", "poetry", "npm", "yarn", "pnpm", "node_toolchain", "tailwind", "collectstatic"];

/// Where lockfiles and requirement files are bound for installs: outside the
/// workdir, so an install never depends on (or rebuilds for) the app's code.
const INPUTS: &str = "/tmp/leaven-inputs";

/// What a preset adds to its stage: plain steps, and env for later steps and the image.
pub struct Expansion {
    pub steps: Vec<Step>,
    pub env: Vec<(String, String)>,
}

/// Options every preset that downloads takes.
struct Common {
    user: Option<String>,
    /// A build secret holding the CA bundle the network needs (an intercepting
    /// proxy); tools are pointed at it through their environment variables.
    ca_secret: Option<String>,
}

/// What `collectstatic` reads by default besides its settings: how Django finds
/// its apps (their packages, `apps.py`, models and migrations) and the static
/// files (each app's `static/` and the project's `static/`, Django's usual
/// STATICFILES_DIRS), for apps at the top of the context.
const COLLECTSTATIC_INPUTS: [&str; 9] = [
    "manage.py",
    "*/__init__.py",
    "*/apps.py",
    "*/models.py",
    "*/models/**",
    "*/migrations/**",
    "*/static/**",
    "static/**",
    "*/templatetags/**",
];

impl Checker<'_> {
    pub(super) fn preset(&self, block: &Block, scope: &Scope) -> Result<Expansion, Diagnostic> {
        let kind = block.ident.as_str();
        self.no_label(block, kind)?;
        let attrs: &[&str] = match kind {
            "pip" => &["requirements", "prefix", "venv", "compile", "args", "user", "ca_secret"],
            "uv" => &["project", "lockfile", "environment", "compile", "args", "user", "ca_secret"],
            "poetry" => &["project", "lockfile", "args", "user", "ca_secret"],
            "npm" | "yarn" | "pnpm" => &["lockfile", "args", "user", "ca_secret"],
            "node_toolchain" => &["from", "paths"],
            "tailwind" => &["input", "output", "config", "args", "user"],
            _ => &["settings", "env", "user", "inputs"],
        };
        self.check_names(&block.body, kind, attrs, &[])?;
        let get = |name: &str| block.body.get_attribute(name);
        let text = |name: &str, default: &str| -> Result<String, Diagnostic> {
            get(name).map(|a| self.string(scope, a)).transpose().map(|v| v.unwrap_or_else(|| default.to_string()))
        };
        let list = |name: &str| -> Result<Vec<String>, Diagnostic> {
            get(name).map(|a| self.strings(scope, a)).transpose().map(Option::unwrap_or_default)
        };
        let flag = |name: &str| -> Result<bool, Diagnostic> { get(name).map(|a| self.boolean(scope, a)).transpose().map(|b| b.unwrap_or(false)) };
        let common = Common {
            user: get("user").map(|a| self.user_name(scope, a)).transpose()?,
            // Empty means none, so a spec can leave it to a build arg.
            ca_secret: get("ca_secret").map(|a| self.string(scope, a)).transpose()?.filter(|id| !id.is_empty()),
        };
        let pos = self.pos(block.span());
        let args = list("args")?.join(" ");
        let with_args = |command: String| if args.is_empty() { command } else { format!("{command} {args}") };
        Ok(match kind {
            "pip" => {
                let files = match list("requirements")? {
                    files if files.is_empty() => vec!["requirements.txt".to_string()],
                    files => files,
                };
                let prefix = get("prefix").map(|a| self.string(scope, a)).transpose()?;
                let venv = get("venv").map(|a| self.string(scope, a)).transpose()?;
                let (pip, target, env) = match (&prefix, &venv, get("venv")) {
                    (Some(_), Some(_), Some(attr)) => {
                        return Err(self
                            .error(attr.span(), "pip takes prefix or venv, not both")
                            .with_hint("a virtualenv is its own prefix: keep venv = \"/venv\""))
                    }
                    (_, Some(venv), Some(attr)) => {
                        let venv = self.absolute(attr, venv.clone(), "/venv")?;
                        let env = vec![("VIRTUAL_ENV".to_string(), venv.clone()), ("PATH".to_string(), format!("{venv}/bin:$PATH"))];
                        (format!("python3 -m venv {venv} && {venv}/bin/pip"), String::new(), env)
                    }
                    _ => ("pip".to_string(), prefix.map(|p| format!(" --prefix={p}")).unwrap_or_default(), Vec::new()),
                };
                // Without .pyc files the layer does not change with the time of the
                // build; compile = true keeps pip's compilation (faster first start).
                let no_compile = if flag("compile")? { "" } else { " --no-compile" };
                let reqs: Vec<String> = files.iter().map(|f| format!("-r {f}")).collect();
                let command = with_args(format!("cd {INPUTS} && {pip} install{no_compile}{target} {}", reqs.join(" ")));
                let inputs: Vec<Input> = files.iter().map(|f| Input::under_inputs(f)).collect();
                let run = install(pos, command, &common, "/root/.cache/pip", &inputs);
                let mut all_env = vec![("PIP_DISABLE_PIP_VERSION_CHECK".to_string(), "1".to_string())];
                all_env.extend(env);
                Expansion { steps: vec![Step::Run(run)], env: all_env }
            }
            "uv" => {
                let project = text("project", "pyproject.toml")?;
                let lockfile = text("lockfile", "uv.lock")?;
                let environment = text("environment", "/venv")?;
                let compile = if flag("compile")? { " --compile-bytecode" } else { "" };
                let command = with_args(format!("cd {INPUTS} && uv sync --frozen --no-install-project --no-dev{compile}"));
                let mut run = install(pos, command, &common, "/root/.cache/uv", &[Input::under_inputs(&project), Input::under_inputs(&lockfile)]);
                // The cache mount is another filesystem: copy instead of hard links.
                run.env.push(("UV_LINK_MODE".into(), "copy".into()));
                run.env.push(("UV_PROJECT_ENVIRONMENT".into(), environment.clone()));
                Expansion {
                    steps: vec![Step::Run(run)],
                    env: vec![("VIRTUAL_ENV".into(), environment.clone()), ("PATH".into(), format!("{environment}/bin:$PATH"))],
                }
            }
            "poetry" => {
                let project = text("project", "pyproject.toml")?;
                let lockfile = text("lockfile", "poetry.lock")?;
                let command = with_args(format!("cd {INPUTS} && poetry install --no-root --only main --no-interaction"));
                let mut run = install(pos, command, &common, "/root/.cache/pypoetry", &[Input::under_inputs(&project), Input::under_inputs(&lockfile)]);
                run.env.push(("POETRY_VIRTUALENVS_CREATE".into(), "false".into()));
                Expansion { steps: vec![Step::Run(run)], env: Vec::new() }
            }
            "npm" | "yarn" | "pnpm" => {
                // The tool installs node_modules where package.json is: the stage's
                // workdir. Only the manifests are inputs, bound in place. An empty
                // lockfile means the project has none.
                let (default_lock, with_lock, without_lock, cache) = match kind {
                    "npm" => ("package-lock.json", "npm ci --no-audit --no-fund", "npm install --no-package-lock --no-audit --no-fund", "/root/.npm"),
                    "yarn" => ("yarn.lock", "yarn install --frozen-lockfile --non-interactive", "yarn install --no-lockfile --non-interactive", "/root/.cache/yarn"),
                    _ => ("pnpm-lock.yaml", "pnpm install --frozen-lockfile", "pnpm install --no-frozen-lockfile", "/root/.local/share/pnpm"),
                };
                let lockfile = text("lockfile", default_lock)?;
                let command = if lockfile.is_empty() { without_lock } else { with_lock };
                let mut inputs = vec![Input::in_workdir("package.json")];
                if !lockfile.is_empty() {
                    inputs.push(Input::in_workdir(&lockfile));
                }
                let mut run = install(pos, with_args(command.into()), &common, cache, &inputs);
                // yarn and pnpm are told where the cache is; npm finds ~/.npm (or npm_config_cache).
                let cache_dir = run.mounts.iter().find_map(|m| match m {
                    RunMount::Cache { target, .. } => Some(target.clone()),
                    _ => None,
                });
                match (kind, cache_dir) {
                    ("yarn", Some(dir)) => run.env.push(("YARN_CACHE_FOLDER".into(), dir)),
                    ("pnpm", Some(dir)) => run.env.push(("npm_config_store_dir".into(), format!("{dir}/store"))),
                    _ => {}
                }
                Expansion { steps: vec![Step::Run(run)], env: Vec::new() }
            }
            "node_toolchain" => {
                let Some(from) = get("from") else {
                    return Err(self.error(block.span(), "node_toolchain has no \"from\"").with_hint("set from = \"node:22-bookworm-slim\""));
                };
                let from = match self.source(scope, from)? {
                    Source::Context => return Err(self.error(from.value.span(), "node_toolchain comes from an image or a stage")),
                    other => other,
                };
                // Where the official node images keep node, npm and npx.
                let paths = match list("paths")? {
                    p if p.is_empty() => vec!["/usr/local/bin".to_string(), "/usr/local/lib/node_modules".to_string()],
                    p => p,
                };
                let steps = paths
                    .into_iter()
                    .map(|path| {
                        Step::Copy(Copy {
                            from: from.clone(),
                            sources: vec![path.clone()],
                            dest: path,
                            owner: None,
                            mode: None,
                            include: Vec::new(),
                            exclude: Vec::new(),
                            link: false,
                            pos,
                        })
                    })
                    .collect();
                Expansion { steps, env: Vec::new() }
            }
            "tailwind" => {
                let input = text("input", "assets/css/input.css")?;
                let output = text("output", "static/css/app.css")?;
                let config = get("config").map(|a| self.string(scope, a)).transpose()?;
                let config = config.map(|c| format!(" -c {c}")).unwrap_or_default();
                let command = with_args(format!("npx --no-install tailwindcss -i {input} -o {output}{config} --minify"));
                Expansion { steps: vec![plain_run(pos, command, common.user, Vec::new())], env: Vec::new() }
            }
            _ => {
                // Settings made for the build: no database, a throwaway secret key.
                let settings = text("settings", "")?;
                let mut env = vec![("DJANGO_SECRET_KEY".to_string(), "build-time-only".to_string())];
                if !settings.is_empty() {
                    env.push(("DJANGO_SETTINGS_MODULE".into(), settings.clone()));
                }
                if let Some(extra) = get("env") {
                    env.extend(self.env(scope, extra)?);
                }
                // Only what collectstatic reads is copied in: a change to views or
                // templates reuses the collected files.
                let inputs = match get("inputs") {
                    Some(attr) => self.list(scope, attr)?,
                    None => collectstatic_inputs(&settings),
                };
                let copy = Copy {
                    from: Source::Context,
                    sources: vec![".".into()],
                    dest: ".".into(),
                    owner: None,
                    mode: None,
                    include: inputs,
                    exclude: Vec::new(),
                    link: false,
                    pos,
                };
                let run = plain_run(pos, "python manage.py collectstatic --noinput".into(), common.user, env);
                Expansion { steps: vec![Step::Copy(copy), run], env: Vec::new() }
            }
        })
    }
}

/// collectstatic's default inputs: its settings module (`config.settings` is
/// `config/settings.py` or the package `config/settings/`) and [`COLLECTSTATIC_INPUTS`].
fn collectstatic_inputs(settings: &str) -> Vec<String> {
    let settings: Vec<String> = if settings.is_empty() {
        vec!["*/settings.py".into(), "*/settings/**".into()]
    } else {
        let path = settings.replace('.', "/");
        vec![format!("{path}.py"), format!("{path}/**")]
    };
    settings.into_iter().chain(COLLECTSTATIC_INPUTS.iter().map(|p| p.to_string())).collect()
}

/// A context file an install reads, and where it is bound.
struct Input {
    file: String,
    /// `None`: the file's path under the step's workdir.
    target: Option<String>,
}

impl Input {
    fn under_inputs(file: &str) -> Input {
        Input { file: file.into(), target: Some(format!("{INPUTS}/{file}")) }
    }

    fn in_workdir(file: &str) -> Input {
        Input { file: file.into(), target: None }
    }
}

fn plain_run(pos: Pos, command: String, user: Option<String>, env: Vec<(String, String)>) -> Step {
    Step::Run(Run { command: Command::Shell(command), env, workdir: None, user, network: Network::Default, mounts: Vec::new(), ca_bundle: None, pos })
}

/// An install step: the tool's cache mounted, the input files bound, and the
/// CA bundle secret when the build has one: optional, so the same spec builds
/// behind an intercepting proxy (with `--secret id=…`) and without one.
fn install(pos: Pos, command: String, common: &Common, cache: &str, inputs: &[Input]) -> Run {
    let mut mounts = vec![RunMount::Cache { target: cache.into(), id: None, sharing: None, owner: None, mode: 0o755 }];
    for input in inputs {
        mounts.push(RunMount::Bind { from: Source::Context, source: input.file.clone(), target: input.target.clone(), rw: false });
    }
    let mut env = Vec::new();
    let ca_bundle = common.ca_secret.as_ref().map(|id| {
        let path = format!("/run/secrets/{id}");
        mounts.push(RunMount::Secret { id: id.clone(), target: Some(path.clone()), env: None, required: false, mode: 0o444, owner: None });
        path
    });
    // A non-root install cannot use root's home: its tools are pointed (XDG,
    // npm's own setting) at a cache directory the user owns.
    if let (Some(user), Some(RunMount::Cache { target, .. })) = (&common.user, mounts.first_mut()) {
        if user != "root" {
            *target = target.replacen("/root/", "/tmp/leaven-cache/", 1);
            env.push(("XDG_CACHE_HOME".into(), "/tmp/leaven-cache/.cache".into()));
            env.push(("npm_config_cache".into(), "/tmp/leaven-cache/.npm".into()));
        }
    }
    Run { command: Command::Shell(command), env, workdir: None, user: common.user.clone(), network: Network::Default, mounts, ca_bundle, pos }
}
