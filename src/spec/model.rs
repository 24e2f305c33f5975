//! The checked spec: what an app's build is, independent of HCL and of LLB.

use std::collections::BTreeMap;

/// Where in the spec file something was written, for errors raised after parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub file: String,
    /// The spec's `variable` blocks, with their values for this build.
    pub variables: Vec<Variable>,
    pub users: Vec<User>,
    pub stages: Vec<Stage>,
    pub variants: Vec<Variant>,
    /// How the app runs under compose: its own services and backing ones.
    pub services: Vec<Service>,
    /// `SOURCE_DATE_EPOCH`, when the build was given one: stamps `created`.
    pub source_date_epoch: Option<i64>,
}

/// A value a build arg overrides (`--build-arg NAME=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    pub description: Option<String>,
    /// The value this build uses, as text.
    pub value: String,
    pub pos: Pos,
}

/// A non-root account created in images, by writing the account files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
    /// Existing groups of the base image the user also joins.
    pub groups: Vec<String>,
    /// UID 0 is allowed (the spec said `allow_root = true`).
    pub allow_root: bool,
    /// The uid (gid) was not set: it is the build's HOST_UID (HOST_GID).
    pub uid_from_host: bool,
    pub gid_from_host: bool,
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    /// An intermediate stage: built only when something uses it.
    Stage,
    /// A deliverable image: creates its user and gets the image config.
    Image,
}

/// Where a filesystem comes from: an image, another stage, or nothing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Base {
    /// An image reference as written (`python:3.13-slim`).
    Image(String),
    /// Another stage of this spec, by name.
    Stage(String),
    Scratch,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: String,
    pub kind: StageKind,
    pub from: Base,
    /// Where `from` is written.
    pub from_pos: Pos,
    pub steps: Vec<Step>,
    pub settings: ImageSettings,
    pub pos: Pos,
}

/// Image config a stage sets; unset fields inherit from the base.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageSettings {
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    /// The user the image runs as; defaults to the spec's only user, if any.
    pub user: Option<String>,
    /// `8000/tcp`-style ports.
    pub expose: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub healthcheck: Option<Healthcheck>,
    /// `org.opencontainers.image.source` and `.revision`.
    pub source_url: Option<String>,
    pub revision: Option<String>,
    /// Shell commands the entrypoint helper runs at container start (migrations).
    pub on_start: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// As the image config stores it: `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`.
    pub test: Vec<String>,
    /// Durations in nanoseconds; 0 means the engine's default.
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Run(Run),
    Copy(Copy),
    Dir(Dir),
}

/// A directory the build makes (with its parents), owned by someone: the
/// `dir` block. One naming the stage's workdir sets the workdir's owner and mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Dir {
    /// Relative to the stage's workdir.
    pub path: String,
    /// `None`: the user the image runs as; in a stage, root (as for the workdir).
    pub owner: Option<Owner>,
    pub mode: u32,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run through the image's shell (`/bin/sh -c`).
    Shell(String),
    /// Run as given, no shell.
    Exec(Vec<String>),
}

impl Command {
    /// The command as one line (an exec form's words joined by spaces),
    /// written where it is formatted: an op's name is made without a copy.
    pub fn display(&self) -> impl std::fmt::Display + '_ {
        struct Line<'a>(&'a Command);
        impl std::fmt::Display for Line<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.0 {
                    Command::Shell(line) => f.write_str(line),
                    Command::Exec(args) => Words(args).fmt(f),
                }
            }
        }
        Line(self)
    }
}

/// Words written with a space between them (`join(" ")` without its string).
pub struct Words<'a>(pub &'a [String]);

impl std::fmt::Display for Words<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, word) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(word)?;
        }
        Ok(())
    }
}

/// The environment variables that point installers at a CA bundle.
pub const CA_VARIABLES: [&str; 5] = ["PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "NPM_CONFIG_CAFILE"];

impl Run {
    /// The shell line a shell-form step with command `line` runs: the command,
    /// after pointing the tools at the step's CA bundle when the file is there
    /// (pointing them at a missing file would break TLS).
    pub fn shell_line(&self, line: &str) -> String {
        match &self.ca_bundle {
            Some(path) => {
                let exports: Vec<String> = CA_VARIABLES.iter().map(|var| format!("{var}={path}")).collect();
                format!("if [ -f {path} ]; then export {}; fi && {line}", exports.join(" "))
            }
            None => line.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    #[default]
    Default,
    None,
    Host,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub command: Command,
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    /// The account the step runs as; the stage's (root by default) when unset.
    pub user: Option<String>,
    pub network: Network,
    pub mounts: Vec<RunMount>,
    /// A CA bundle (a secret's path) the tools are pointed at when the build
    /// has it: the `ca_secret` of installing presets.
    pub ca_bundle: Option<String>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

/// Who owns files the build creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A spec user by name: its ids are settled per target (variants change them).
    User(String),
    Ids { uid: u32, gid: u32 },
}

/// A filesystem a step reads from: the build context, a stage, or an image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Context,
    Stage(String),
    Image(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum RunMount {
    Cache {
        target: String,
        /// `None`: derived from the tool and the step's UID.
        id: Option<String>,
        /// `None`: locked for apt and npm, shared otherwise.
        sharing: Option<Sharing>,
        /// `None`: the step's user.
        owner: Option<Owner>,
        mode: u32,
    },
    Bind {
        from: Source,
        source: String,
        /// `None`: the source path under the step's workdir.
        target: Option<String>,
        /// Writable, with writes thrown away after the step.
        rw: bool,
    },
    Secret {
        id: String,
        /// A file path, or `None` when only `env` is set.
        target: Option<String>,
        env: Option<String>,
        required: bool,
        mode: u32,
        owner: Option<Owner>,
    },
    Ssh {
        id: String,
        target: Option<String>,
        required: bool,
    },
    Tmpfs {
        target: String,
        size: Option<i64>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Copy {
    pub from: Source,
    pub sources: Vec<String>,
    /// Relative to the stage's workdir; defaults to the workdir.
    pub dest: String,
    pub owner: Option<Owner>,
    pub mode: Option<u32>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// An independent layer (merge), like `COPY --link`, where the engine can.
    pub link: bool,
    pub pos: Pos,
}

/// How a variant treats the app's own source tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceMode {
    /// Copied into the image (CI, release).
    Copy,
    /// Left out: the tree is mounted at run time (dev). Destinations still exist.
    Mount,
}

/// A named way to build an image: `dev`, `ci`, … picked with `--target`.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub name: String,
    /// The image it varies.
    pub image: String,
    pub source: SourceMode,
    /// Replaces the image user's UID (and GID, unless `gid` is set).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// What the variant's image runs instead of the image's own: its command,
    /// entrypoint and user, and env added after the image's.
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    /// How the app's tests run in this variant's image (`leaven.mk`'s `test`).
    pub test: Option<Vec<String>>,
    pub pos: Pos,
}

/// A container of the running app: one of the spec's images (web, worker,
/// beat) or a backing service's image (Postgres, Redis).
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub image: ServiceImage,
    /// Replaces the image's command (a worker's `celery … worker`).
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// Who the container runs as: a spec user, root or a UID for the app's
    /// images; an account of the image (`postgres`) or `UID[:GID]` otherwise.
    pub user: Option<String>,
    /// `Some(true)`: this service runs its image's start-up tasks (the others
    /// of the image skip them); `None`: the first app service without profiles does.
    pub on_start: Option<bool>,
    /// Values are compose's: `${VAR:-default}` is interpolated by compose.
    pub env: Vec<(String, String)>,
    /// Files of `KEY=VALUE` lines, relative to the spec; missing ones are skipped.
    pub env_files: Vec<String>,
    /// Compose secrets, files `secrets/NAME` beside the spec, at `/run/secrets/NAME`.
    pub secrets: Vec<String>,
    pub ports: Vec<String>,
    pub profiles: Vec<String>,
    /// The services this one needs, in the order written: those `depends_on`
    /// names and those its values refer to (`service.db.host`).
    pub depends_on: Vec<String>,
    pub healthcheck: Option<Healthcheck>,
    pub mounts: Vec<ServiceMount>,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceImage {
    /// An image of this spec, built in the variant compose is written for.
    App(String),
    /// An image by reference, with a pinned tag or digest.
    Image(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceMount {
    /// A host directory (relative to the spec, or absolute); `leaven
    /// host-prep` makes it and gives it to whoever the service runs as.
    Bind { source: String, target: String, read_only: bool },
    /// A named volume the engine keeps.
    Volume { name: String, target: String, read_only: bool },
}

impl Spec {
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }

    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// The image built when no target is given: the last `image` block.
    pub fn default_image(&self) -> Option<&Stage> {
        self.stages.iter().rev().find(|s| s.kind == StageKind::Image)
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}
