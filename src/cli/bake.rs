//! `leaven bake` without `--print`/`--list`: evaluate the bake files, connect
//! to the engine the docker CLI (or `--builder`) names, plan every target,
//! build them all, and report as buildx does. Returns the exit code.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use crate::bake::{self, Request};
use crate::driver::engine::{Engine, SessionTransport};
use crate::driver::progress::{self, Printer, PrinterOptions, ProgressDescription, TargetOutcome, TargetResult};
use crate::driver::pool::{self, NodeSpec};
use crate::driver::{self, DriverError, Node, RunOptions, TargetEnd};
use crate::session::DockerAuth;
use crate::transport::{self, BuildkitTlsOptions, Origin};

/// The flags that only matter when building.
#[derive(Debug, Clone, Default)]
pub struct BuildFlags {
    pub progress: String,
    pub metadata_file: Option<PathBuf>,
    pub keep_going: bool,
    pub max_parallel: usize,
    /// `unix://…` or `tcp://…` of a buildkitd (else `BUILDKIT_HOST`, else the docker engine).
    pub builder: Option<String>,
    pub tls: BuildkitTlsOptions,
    pub session_transport: String,
    /// `--node NAME=ADDRESS[,…]` flags: a pool instead of one engine.
    pub nodes: Vec<String>,
    /// `--pool FILE`: the pool's nodes from a JSON file.
    pub pool_file: Option<PathBuf>,
    pub retry_on_other_node: bool,
    /// `--share-cache REF`: a registry cache per target under REF, read and written by every node.
    pub share_cache: Option<String>,
    /// `--allow` entitlements.
    pub allow: Vec<String>,
}

/// buildx's form of an error that ends a bake run, printed or built: `ERROR: `
/// and the error (a positioned one's code frame on the lines after).
pub fn buildx_error(e: &dyn std::fmt::Display) -> String {
    format!("ERROR: {e}")
}

/// buildx's exit code for a cancelled build (Ctrl-C).
const EXIT_INTERRUPTED: i32 = 130;

pub fn build(request: &Request, flags: &BuildFlags) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{}", buildx_error(&format_args!("cannot start: {e}")));
            return 1;
        }
    };
    match runtime.block_on(run(request, flags)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", buildx_error(&e));
            1
        }
    }
}

async fn run(request: &Request, flags: &BuildFlags) -> Result<i32, DriverError> {
    let env = |k: &str| request.env.get(k).cloned();
    let display = progress::resolve_display(&flags.progress, env("BUILDKIT_PROGRESS").as_deref(), std::io::stderr().is_terminal())
        .map_err(|e| DriverError::Config(e.to_string()))?;
    let session = SessionTransport::parse(&flags.session_transport).map_err(DriverError::Config)?;
    // A local definition is checked before any engine is asked; a remote one is read through the engine.
    let local = match &request.url {
        None => {
            let config = bake::load_config(request)?;
            Some(bake::select(request, &config, None)?)
        }
        Some(_) => None,
    };
    let home = PathBuf::from(env("HOME").unwrap_or_else(|| "/root".into()));

    let specs = node_specs(flags, &env, &home)?;
    let pooled = specs.len() > 1;
    let connected = futures_util::future::join_all(specs.into_iter().map(|spec| async move {
        let declared = spec.platforms;
        Engine::connect(spec.endpoint, session)
            .await
            .map(|mut engine| {
                // Declared platforms are what the node builds, as `buildx create --platform` says.
                if !declared.is_empty() {
                    engine.offer.platforms = declared;
                }
                Node { name: spec.name.clone(), engine }
            })
            .map_err(|e| (spec.name, e))
    }))
    .await;
    let mut nodes = Vec::new();
    for node in connected {
        match node {
            Ok(node) => nodes.push(node),
            Err((name, e)) if pooled => return Err(DriverError::Engine(format!("node {name}: {e}"))),
            Err((_, e)) => match &request.url {
                Some(url) => return Err(DriverError::Engine(format!("cannot read the remote bake definition {url}: {e}"))),
                None => return Err(e),
            },
        }
    }
    let selection = match (local, &request.url) {
        (Some(selection), _) => selection,
        (None, Some(url)) => remote_selection(request, url, &nodes[0].engine).await?,
        (None, None) => unreachable!("a request without a URL was selected above"),
    };
    check_fs_reads(request, flags, &selection)?;
    let node_id = driver::node_id(&home);
    let targets = driver::plan_all(&selection, &request.cwd, &env, &nodes, &node_id, flags.share_cache.as_deref())?;
    let mut said = std::collections::BTreeSet::new();
    for warning in targets.iter().flat_map(|t| t.plans()).flat_map(|p| &p.warnings) {
        if said.insert(warning) {
            eprintln!("WARNING: {warning}");
        }
    }
    let docker_config = env("DOCKER_CONFIG").map(PathBuf::from);
    let auth = Arc::new(DockerAuth::load(docker_config.as_deref(), &home)?);

    let description = match nodes.as_slice() {
        [one] => ProgressDescription::for_builder("default", if one.engine.offer.docker { "docker" } else { "remote" }),
        _ => ProgressDescription {
            text: format!("building with a pool of {} nodes: {}", nodes.len(), nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")),
            console: format!("pool:{}", nodes.len()),
        },
    };
    let printer = Printer::start(PrinterOptions { display, description, multi_target: targets.len() > 1 }, std::io::stderr());
    let options = RunOptions {
        keep_going: flags.keep_going,
        max_parallel: flags.max_parallel,
        metadata_file: flags.metadata_file.clone(),
        retry_on_other_node: flags.retry_on_other_node,
    };
    // The first Ctrl-C cancels every solve and waits for the engine to stop them;
    // a second one does not wait (as buildx's second signal).
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::spawn(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("ERROR: interrupted again: leaving without waiting for the engine");
                std::process::exit(EXIT_INTERRUPTED);
            }
        });
    };
    let report = driver::run(&nodes, targets, auth, printer.handle(), &options, interrupt).await;
    let _warnings = printer.finish().await;

    let outcomes: Vec<TargetOutcome> = report.targets.iter().map(|t| outcome(t, pooled)).collect();
    let _ = progress::write_target_summary(&mut std::io::stderr(), &outcomes);
    for t in &report.targets {
        if let TargetEnd::Failed(why) = &t.end {
            eprintln!("ERROR: target {}: {why}", t.name);
        }
    }
    if report.succeeded() {
        if let Some(path) = &options.metadata_file {
            let document = driver::metadata::document(&report.targets, "default/default");
            let text = serde_json::to_string_pretty(&document).expect("JSON values serialize");
            driver::metadata::write_atomically(path, text.as_bytes())
                .map_err(|e| DriverError::Config(format!("cannot write the metadata file {}: {e}", path.display())))?;
        }
        return Ok(0);
    }
    Ok(if report.interrupted { EXIT_INTERRUPTED } else { 1 })
}

/// buildx's file system entitlements: reading outside the working directory
/// needs `--allow fs.read=…`. buildx asks at a terminal; leaven explains and stops.
fn check_fs_reads(request: &Request, flags: &BuildFlags, selection: &bake::resolve::Selection) -> Result<(), DriverError> {
    let env = |k: &str| request.env.get(k).cloned();
    let granted = bake::entitlements::parse_allow(&flags.allow)?;
    if !bake::entitlements::fs_checks_enabled(&env, request.url.is_some())? {
        return Ok(());
    }
    let missing = bake::entitlements::missing_reads(selection.targets.values(), &request.cwd, &granted);
    if missing.is_empty() {
        return Ok(());
    }
    let args: Vec<String> = std::env::args().skip_while(|a| a != "bake").skip(1).collect();
    eprint!("{}", bake::entitlements::refusal(&missing, &request.cwd, &args));
    Err(DriverError::Config("additional privileges requested".into()))
}

/// The targets of a remote definition, read through `engine`, as they build:
/// named contexts inside the repository point into it, and targets built
/// from the definition's git host get its auth secrets.
async fn remote_selection(request: &Request, url: &str, engine: &Engine) -> Result<bake::resolve::Selection, DriverError> {
    let fetched = driver::remote::fetch(engine, url, &bake::remote_file_names(request), &request.env).await?;
    let config = bake::load_remote_config(request, fetched.files)?;
    let mut selection = bake::select(request, &config, Some(&fetched.input))?;
    let auth = bake::remote::git_auth_secrets(url, &request.env);
    for t in selection.targets.values_mut() {
        bake::remote::update_named_contexts(t, &fetched.input)?;
        if t.context.as_deref().is_some_and(|c| bake::remote::shares_git_host(url, c)) {
            let secrets = t.secret.get_or_insert_with(Vec::new);
            for (id, variable) in &auth {
                secrets.push(bake::model::Secret { id: id.clone(), src: None, env: Some(variable.clone()) });
            }
        }
    }
    Ok(selection)
}

/// `--print`/`--list` of a remote definition: buildx reads it through the
/// builder, so an engine is needed even though nothing is built.
pub fn print_remote(request: &Request, flags: &BuildFlags, output: bake::Output) -> Result<String, DriverError> {
    let url = request.url.clone().unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| DriverError::Config(format!("cannot start: {e}")))?;
    runtime.block_on(async {
        let env = |k: &str| request.env.get(k).cloned();
        let home = PathBuf::from(env("HOME").unwrap_or_else(|| "/root".into()));
        let session = SessionTransport::parse(&flags.session_transport).map_err(DriverError::Config)?;
        let spec = node_specs(flags, &env, &home)?.into_iter().next().ok_or_else(|| DriverError::Config("no engine".into()))?;
        let engine = Engine::connect(spec.endpoint, session)
            .await
            .map_err(|e| DriverError::Engine(format!("cannot read the remote bake definition {url}: {e}")))?;
        let fetched = driver::remote::fetch(&engine, &url, &bake::remote_file_names(request), &request.env).await?;
        Ok(bake::run_remote(request, fetched.files, &fetched.input, output)?)
    })
}

/// The engines of the run: the pool's nodes, else the one `--builder`,
/// `BUILDKIT_HOST` or the docker CLI's settings name.
fn node_specs(flags: &BuildFlags, env: &dyn Fn(&str) -> Option<String>, home: &std::path::Path) -> Result<Vec<NodeSpec>, DriverError> {
    let mut configs = Vec::new();
    for flag in &flags.nodes {
        configs.push(pool::parse_node_flag(flag)?);
    }
    let given_by = match &flags.pool_file {
        Some(path) => {
            configs.extend(pool::read_pool_file(path)?);
            if flags.nodes.is_empty() { path.display().to_string() } else { format!("--node and {}", path.display()) }
        }
        None => "--node".to_string(),
    };
    if !configs.is_empty() {
        if flags.builder.is_some() {
            return Err(DriverError::Config("--builder names one engine; with --node or --pool, name each engine as a node".into()));
        }
        return Ok(pool::resolve(configs, &given_by)?);
    }
    let endpoint = match (&flags.builder, env("BUILDKIT_HOST")) {
        (Some(address), _) => transport::buildkit_endpoint(address, flags.tls.clone(), Origin::BuilderFlag),
        (None, Some(address)) if !address.is_empty() => transport::buildkit_endpoint(&address, flags.tls.clone(), Origin::BuildkitHost),
        _ => transport::docker_endpoint(env, home),
    }
    .map_err(|e| DriverError::Config(e.to_string()))?;
    Ok(vec![NodeSpec { name: "default".into(), endpoint, platforms: Vec::new() }])
}

fn outcome(t: &driver::TargetReport, pooled: bool) -> TargetOutcome {
    let result = match &t.end {
        TargetEnd::Built(steps) if steps.done > 0 && steps.cached == steps.done => TargetResult::Cached,
        TargetEnd::Built(_) => TargetResult::Built,
        TargetEnd::Failed(_) => TargetResult::Failed,
        TargetEnd::Skipped(_) => TargetResult::Canceled,
        TargetEnd::Cancelled => TargetResult::Canceled,
    };
    let error = match &t.end {
        TargetEnd::Failed(why) | TargetEnd::Skipped(why) => why.lines().next().map(str::to_string),
        _ => None,
    };
    TargetOutcome { name: t.name.clone(), result, duration: t.duration, error, node: t.node.clone().filter(|_| pooled) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hcl::SourceFile;

    /// `bake --print` returns a BakeError, `bake` (building) a DriverError
    /// around it: the user reads the same lines either way.
    #[test]
    fn a_bake_error_reads_the_same_printed_and_built() {
        let file = || vec![SourceFile::new("docker-bake.hcl", "target \"default\" {\n  tags = [\"x-${V}\"]\n}\n")];
        let request = Request { cwd: "/nonexistent".into(), ..Request::default() };
        let printed = bake::run_files(&request, file(), bake::Output::Print).unwrap_err();
        let built = DriverError::from(bake::config_of(&request, file()).unwrap_err());
        assert_eq!(buildx_error(&printed), buildx_error(&built));
        assert_eq!(
            buildx_error(&built),
            "ERROR: docker-bake.hcl:2:16: Unknown variable: There is no variable named \"V\".\n  |\n2 |   tags = [\"x-${V}\"]\n  |                ^"
        );
    }
}
