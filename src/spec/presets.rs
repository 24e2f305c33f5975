//! Presets: the steps a web team writes again and again, each expanded into
//! plain `run`/`copy` steps (what `leaven plan` shows), with the lessons built in:
//! package caches in cache mounts, only the lockfiles as inputs (bound, never
//! copied), and build-only settings that never reach the image.

use hcl::edit::structure::Block;
use hcl::edit::Span;

use crate::hcl::{Diagnostic, Scope};

use super::model::*;
use super::parse::Checker;

pub const PRESETS: &[&str] = &["pip", "uv", "poetry", "npm", "node_toolchain", "tailwind", "collectstatic"];

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

impl Checker<'_> {
    pub(super) fn preset(&self, block: &Block, scope: &Scope) -> Result<Expansion, Diagnostic> {
        let kind = block.ident.as_str();
        self.no_label(block, kind)?;
        let attrs: &[&str] = match kind {
            "pip" => &["requirements", "prefix", "args", "user", "ca_secret"],
            "uv" => &["project", "lockfile", "environment", "args", "user", "ca_secret"],
            "poetry" => &["project", "lockfile", "args", "user", "ca_secret"],
            "npm" => &["lockfile", "args", "user", "ca_secret"],
            "node_toolchain" => &["from", "paths"],
            "tailwind" => &["input", "output", "config", "args", "user"],
            _ => &["settings", "env", "user"],
        };
        self.check_names(&block.body, kind, attrs, &[])?;
        let get = |name: &str| block.body.get_attribute(name);
        let text = |name: &str, default: &str| -> Result<String, Diagnostic> {
            get(name).map(|a| self.string(scope, a)).transpose().map(|v| v.unwrap_or_else(|| default.to_string()))
        };
        let list = |name: &str| -> Result<Vec<String>, Diagnostic> {
            get(name).map(|a| self.strings(scope, a)).transpose().map(Option::unwrap_or_default)
        };
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
                let target = prefix.as_ref().map(|p| format!(" --prefix={p}")).unwrap_or_default();
                let reqs: Vec<String> = files.iter().map(|f| format!("-r {f}")).collect();
                let command = with_args(format!("cd {INPUTS} && pip install --no-compile{target} {}", reqs.join(" ")));
                let run = install(pos, command, &common, "/root/.cache/pip", &files);
                Expansion { steps: vec![Step::Run(run)], env: vec![("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into())] }
            }
            "uv" => {
                let project = text("project", "pyproject.toml")?;
                let lockfile = text("lockfile", "uv.lock")?;
                let environment = text("environment", "/venv")?;
                let command = with_args(format!("cd {INPUTS} && uv sync --frozen --no-install-project --no-dev"));
                let mut run = install(pos, command, &common, "/root/.cache/uv", &[project, lockfile]);
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
                let mut run = install(pos, command, &common, "/root/.cache/pypoetry", &[project, lockfile]);
                run.env.push(("POETRY_VIRTUALENVS_CREATE".into(), "false".into()));
                Expansion { steps: vec![Step::Run(run)], env: Vec::new() }
            }
            "npm" => {
                // npm ci installs node_modules where package.json is: the stage's
                // workdir. Only the two manifests are inputs, bound in place.
                let lockfile = text("lockfile", "package-lock.json")?;
                let mut run = install(pos, with_args("npm ci --no-audit --no-fund".into()), &common, "/root/.npm", &[]);
                for file in ["package.json".to_string(), lockfile] {
                    run.mounts.push(RunMount::Bind { from: Source::Context, source: file, target: None, rw: false });
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
                    env.push(("DJANGO_SETTINGS_MODULE".into(), settings));
                }
                if let Some(extra) = get("env") {
                    env.extend(self.env(scope, extra)?);
                }
                let run = plain_run(pos, "python manage.py collectstatic --noinput".into(), common.user, env);
                Expansion { steps: vec![run], env: Vec::new() }
            }
        })
    }
}

fn plain_run(pos: Pos, command: String, user: Option<String>, env: Vec<(String, String)>) -> Step {
    Step::Run(Run { command: Command::Shell(command), env, workdir: None, user, network: Network::Default, mounts: Vec::new(), pos })
}

/// An install step: the tool's cache mounted, the input files bound under
/// [`INPUTS`], and the CA bundle secret when the network needs one.
fn install(pos: Pos, command: String, common: &Common, cache: &str, inputs: &[String]) -> Run {
    let mut mounts = vec![RunMount::Cache { target: cache.into(), id: None, sharing: None, owner: None, mode: 0o755 }];
    for file in inputs {
        mounts.push(RunMount::Bind {
            from: Source::Context,
            source: file.clone(),
            target: Some(format!("{INPUTS}/{file}")),
            rw: false,
        });
    }
    let mut env = Vec::new();
    if let Some(id) = &common.ca_secret {
        let path = format!("/run/secrets/{id}");
        mounts.push(RunMount::Secret { id: id.clone(), target: Some(path.clone()), env: None, required: true, mode: 0o444, owner: None });
        for var in ["PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "NPM_CONFIG_CAFILE"] {
            env.push((var.to_string(), path.clone()));
        }
    }
    // A non-root install cannot use root's home: its tools are pointed (XDG,
    // npm's own setting) at a cache directory the user owns.
    if let (Some(user), Some(RunMount::Cache { target, .. })) = (&common.user, mounts.first_mut()) {
        if user != "root" {
            *target = target.replacen("/root/", "/tmp/leaven-cache/", 1);
            env.push(("XDG_CACHE_HOME".into(), "/tmp/leaven-cache/.cache".into()));
            env.push(("npm_config_cache".into(), "/tmp/leaven-cache/.npm".into()));
        }
    }
    Run { command: Command::Shell(command), env, workdir: None, user: common.user.clone(), network: Network::Default, mounts, pos }
}
