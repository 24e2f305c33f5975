//! The `leaven` command: a thin layer over the library.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Spec → LLB makes thousands of small allocations; with mimalloc one compile
// takes about half the time it takes with glibc's malloc (benches/spec_to_llb.rs,
// which wraps the same allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "leaven", version, about = "Container builds for web apps, on BuildKit")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

// Parsed once per process: the size of the larger variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run as a BuildKit frontend on stdio (what the frontend image does).
    Frontend,
    /// Build bake files as `docker buildx bake` does (or only evaluate: `--print`, `--list`).
    Bake {
        /// Targets or groups (globs allowed); default: `default`.
        targets: Vec<String>,
        #[arg(short = 'f', long = "file")]
        files: Vec<String>,
        /// Override target values: `pattern.key[.sub][+]=value`.
        #[arg(long)]
        set: Vec<String>,
        /// Set a variable: NAME=VALUE.
        #[arg(long = "var", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        /// Print the resolved options as JSON, without building.
        #[arg(long)]
        print: bool,
        /// List `targets` or `variables`.
        #[arg(long)]
        list: Option<String>,
        /// Shorthand for --set=*.push=true.
        #[arg(long)]
        push: bool,
        /// Shorthand for --set=*.load=true.
        #[arg(long)]
        load: bool,
        /// Do not use cache when building.
        #[arg(long = "no-cache")]
        no_cache: bool,
        /// Always attempt to pull all referenced images.
        #[arg(long)]
        pull: bool,
        /// Set method for evaluating build (build, check, outline, targets).
        #[arg(long)]
        call: Option<String>,
        /// Shorthand for --call=check.
        #[arg(long)]
        check: bool,
        /// Shorthand for --set=*.attest=type=sbom (true, false, or options).
        #[arg(long)]
        sbom: Option<String>,
        /// Shorthand for --set=*.attest=type=provenance (true, false, or options).
        #[arg(long)]
        provenance: Option<String>,
        /// Allow the build to access these resources (buildx's entitlements; checked, not prompted for).
        #[arg(long)]
        allow: Vec<String>,
        /// Policy evaluation for every target: [disabled=true|false][,strict=true|false][,log-level=LEVEL].
        #[arg(long)]
        policy: Vec<String>,
        #[command(flatten)]
        build: BuildArgs,
    },
    /// Print the stages a target builds and their steps, as compiled.
    Plan(SpecArgs),
    /// Print a target's LLB and image config as JSON (offline: stand-in base images).
    Llb(SpecArgs),
    /// Print an equivalent Dockerfile for a target, for the stock frontend.
    Dockerfile(SpecArgs),
    /// Write compose files for the spec's services (one per variant) and leaven.mk.
    Compose {
        spec: std::path::PathBuf,
        /// Only this variant's file: dev, ci, release, … (default: every one).
        #[arg(long)]
        variant: Option<String>,
        /// Where to write them (default: beside the spec).
        #[arg(short = 'o', long = "output")]
        output: Option<std::path::PathBuf>,
        /// Replace files leaven did not write.
        #[arg(long)]
        force: bool,
        /// KEY=VALUE: read the spec with it, and build with it.
        #[arg(long = "build-arg", value_parser = parse_build_arg)]
        build_args: Vec<(String, String)>,
    },
    /// Create the host directories compose files bind-mount, owned so the containers' users
    /// can write them under the daemon's userns-remap (subordinate start + container id).
    #[command(name = "host-prep")]
    HostPrep {
        /// The spec the services built from it (`build.dockerfile`) come from: their users' ids.
        spec: Option<std::path::PathBuf>,
        /// Print the plan, change nothing.
        #[arg(long = "dry-run")]
        dry_run: bool,
        /// The daemon's config, for its userns-remap (default: /etc/docker/daemon.json).
        #[arg(long = "daemon-config")]
        daemon_config: Option<std::path::PathBuf>,
        /// Compose files (default: compose.yaml, docker-compose.yml, … here).
        #[arg(short = 'f', long = "file")]
        files: Vec<std::path::PathBuf>,
        /// The subordinate uid ranges (LEAVEN_SUBUID, if set, replaces the default).
        #[arg(long, default_value_os_t = id_file("LEAVEN_SUBUID", "/etc/subuid"))]
        subuid: std::path::PathBuf,
        /// The subordinate gid ranges (LEAVEN_SUBGID, if set, replaces the default).
        #[arg(long, default_value_os_t = id_file("LEAVEN_SUBGID", "/etc/subgid"))]
        subgid: std::path::PathBuf,
    },
}

/// A subordinate id file: the environment's override, else the system's.
fn id_file(var: &str, default: &str) -> std::path::PathBuf {
    std::env::var_os(var).filter(|v| !v.is_empty()).map(Into::into).unwrap_or_else(|| default.into())
}

/// Flags that only matter when `leaven bake` builds.
#[derive(clap::Args)]
struct BuildArgs {
    /// Progress output: auto, tty, plain, quiet or rawjson.
    #[arg(long, default_value = "auto")]
    progress: String,
    /// Write each target's build result (image digest, …) to this file as JSON.
    #[arg(long = "metadata-file")]
    metadata_file: Option<std::path::PathBuf>,
    /// Build every target that can be built, even after one failed.
    #[arg(long = "keep-going")]
    keep_going: bool,
    /// At most this many targets building at once (0: no limit).
    #[arg(long = "max-parallel", default_value_t = 0)]
    max_parallel: usize,
    /// A buildkitd to build on: unix:///path or tcp://host:port (default: BUILDKIT_HOST, else the docker engine).
    #[arg(long)]
    builder: Option<String>,
    /// CA certificate of a TLS buildkitd.
    #[arg(long = "tls-ca")]
    tls_ca: Option<std::path::PathBuf>,
    /// Client certificate for a TLS buildkitd.
    #[arg(long = "tls-cert")]
    tls_cert: Option<std::path::PathBuf>,
    /// Client key for a TLS buildkitd.
    #[arg(long = "tls-key")]
    tls_key: Option<std::path::PathBuf>,
    /// The TLS server name to expect (default: the host).
    #[arg(long = "tls-servername")]
    tls_servername: Option<String>,
    /// How the session reaches the engine: auto, upgrade (dockerd's /session) or control (Control.Session).
    #[arg(long = "session-transport", default_value = "auto")]
    session_transport: String,
    /// An engine of a pool: NAME=ADDRESS[,engine=docker|buildkitd][,certs=DIR][,ca=…,cert=…,key=…,servername=…] (repeatable).
    #[arg(long = "node")]
    nodes: Vec<String>,
    /// A JSON file naming the pool's nodes (docs/driver.md).
    #[arg(long = "pool")]
    pool: Option<std::path::PathBuf>,
    /// Build a target again on another node when its node goes away.
    #[arg(long = "retry-on-other-node")]
    retry_on_other_node: bool,
    /// A registry repository every node reads and writes each target's build cache in (REF:<target>).
    #[arg(long = "share-cache")]
    share_cache: Option<String>,
}

#[derive(clap::Args)]
struct SpecArgs {
    spec: std::path::PathBuf,
    /// A stage, image or variant; default: the last image.
    #[arg(long)]
    target: Option<String>,
    /// KEY=VALUE, as with docker build.
    #[arg(long = "build-arg", value_parser = parse_build_arg)]
    build_args: Vec<(String, String)>,
}

/// Prints what a spec subcommand made, or its error (with a code frame).
fn spec_command(args: SpecArgs, run: impl FnOnce(&leaven::cli::Loaded, Option<&str>) -> Result<String, leaven::cli::CliError>) -> ExitCode {
    let build_args: BTreeMap<String, String> = args.build_args.into_iter().collect();
    finish(leaven::cli::load(&args.spec, &build_args).and_then(|loaded| run(&loaded, args.target.as_deref())))
}

/// A command's output on stdout, or its error on stderr.
fn finish(result: Result<String, impl std::fmt::Display>) -> ExitCode {
    match result {
        Ok(text) => emit(&text),
        Err(e) => failed(&e),
    }
}

/// Every error ends a command the same way: its text on stderr, exit 1
/// (`eprintln!` would panic when stderr itself cannot be written).
fn failed(message: &dyn std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr().lock(), "{message}");
    ExitCode::FAILURE
}

/// Writes a command's output to stdout. A reader that went away (`| head -1`)
/// ends the command quietly, as other CLIs do; any other write error (a full
/// disk) is one line on stderr and a failure.
fn emit(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => failed(&format!("leaven: cannot write the output: {e}")),
    }
}

/// `--var NAME=VALUE`, with buildx's messages.
fn parse_var(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        None => Err(format!("invalid variable {text:?}, expected key=value")),
        Some(("", _)) => Err(format!("invalid variable {text:?}, key is empty")),
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
    }
}

fn parse_build_arg(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("\"{text}\" is not KEY=VALUE"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // With no subcommand leaven is a frontend on stdio, as BuildKit starts it; a
    // person at a terminal gets the help instead of a process waiting on them.
    let command = match cli.command {
        Some(command) => command,
        None if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
            let _ = <Cli as clap::CommandFactory>::command().print_help();
            return ExitCode::SUCCESS;
        }
        None => Command::Frontend,
    };
    match command {
        Command::Frontend => ExitCode::from(leaven::frontend::main_stdio() as u8),
        Command::Bake { targets, files, mut set, vars, print, list, push, load, no_cache, pull, call, check, sbom, provenance, allow, policy, build } => {
            let call = if check { Some("check".to_string()) } else { call };
            use leaven::cli::bake::buildx_error;
            if let Err(e) = leaven::bake::check_allow(&allow) {
                return failed(&buildx_error(&e));
            }
            match (leaven::bake::FlagOverrides { push, load, no_cache, pull, call, sbom, provenance, policy }).to_set() {
                Ok(flags) => set.extend(flags),
                Err(e) => return failed(&buildx_error(&e)),
            }
            let output = match (print, list.as_deref()) {
                (false, Some(spec)) => match leaven::bake::list_output(spec) {
                    Ok(output) => Some(output),
                    Err(e) => return failed(&buildx_error(&e)),
                },
                (true, None) => Some(leaven::bake::Output::Print),
                (true, Some(_)) => return failed(&buildx_error(&"--print and --list are mutually exclusive")),
                (false, None) => None,
            };
            let (url, cmd_context, targets) = leaven::bake::remote::split_args(&targets);
            let request = leaven::bake::Request {
                cwd: std::env::current_dir().unwrap_or_default(),
                files,
                targets,
                set,
                vars,
                env: std::env::vars().collect(),
                url,
                cmd_context: Some(cmd_context),
            };
            let flags = leaven::cli::bake::BuildFlags {
                progress: build.progress,
                metadata_file: build.metadata_file,
                keep_going: build.keep_going,
                max_parallel: build.max_parallel,
                builder: build.builder,
                tls: leaven::transport::BuildkitTlsOptions {
                    ca: build.tls_ca,
                    cert: build.tls_cert,
                    key: build.tls_key,
                    server_name: build.tls_servername,
                },
                session_transport: build.session_transport,
                nodes: build.nodes,
                pool_file: build.pool,
                retry_on_other_node: build.retry_on_other_node,
                share_cache: build.share_cache,
                allow,
            };
            let Some(output) = output else {
                return ExitCode::from(leaven::cli::bake::build(&request, &flags) as u8);
            };
            let printed = match request.url {
                Some(_) => leaven::cli::bake::print_remote(&request, &flags, output),
                None => leaven::bake::run(&request, output).map_err(Into::into),
            };
            finish(printed.map_err(|e| buildx_error(&e)))
        }
        Command::Compose { spec, variant, output, force, build_args } => {
            let request = leaven::cli::compose::ComposeRequest {
                spec,
                variant,
                out_dir: output,
                force,
                build_args: build_args.into_iter().collect(),
            };
            finish(leaven::cli::compose::compose(&request))
        }
        Command::HostPrep { spec, dry_run, daemon_config, files, subuid, subgid } => {
            let args = leaven::cli::host_prep::HostPrep { dry_run, daemon_config, files, spec, subuid, subgid };
            let cwd = std::env::current_dir().unwrap_or_default();
            finish(leaven::cli::host_prep::host_prep(&args, &|name| std::env::var(name).ok(), &cwd))
        }
        Command::Plan(args) => spec_command(args, leaven::cli::plan),
        Command::Dockerfile(args) => spec_command(args, leaven::cli::dockerfile),
        Command::Llb(args) => {
            let ignore = leaven::cli::ignore_beside(&args.spec);
            spec_command(args, |loaded, target| leaven::cli::llb_json(loaded, target, ignore))
        }
    }
}
