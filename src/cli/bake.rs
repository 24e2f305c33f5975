//! `leaven bake` without `--print`/`--list`: evaluate the bake files, connect
//! to the engine the docker CLI (or `--builder`) names, plan every target,
//! build them all, and report as buildx does. Returns the exit code.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use crate::bake::{self, Request};
use crate::driver::engine::{Engine, SessionTransport};
use crate::driver::progress::{self, Printer, PrinterOptions, ProgressDescription, TargetOutcome, TargetResult};
use crate::driver::{self, DriverError, RunOptions, TargetEnd};
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
}

/// buildx's exit code for a cancelled build (Ctrl-C).
const EXIT_INTERRUPTED: i32 = 130;

pub fn build(request: &Request, flags: &BuildFlags) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ERROR: cannot start: {e}");
            return 1;
        }
    };
    match runtime.block_on(run(request, flags)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ERROR: {e}");
            1
        }
    }
}

async fn run(request: &Request, flags: &BuildFlags) -> Result<i32, DriverError> {
    let env = |k: &str| request.env.get(k).cloned();
    let display = progress::resolve_display(&flags.progress, env("BUILDKIT_PROGRESS").as_deref(), std::io::stderr().is_terminal())
        .map_err(|e| DriverError::Config(e.to_string()))?;
    let session = SessionTransport::parse(&flags.session_transport).map_err(DriverError::Config)?;
    let config = bake::load_config(request).map_err(DriverError::Config)?;
    let selection = bake::select(request, &config).map_err(DriverError::Config)?;
    let home = PathBuf::from(env("HOME").unwrap_or_else(|| "/root".into()));

    let endpoint = match (&flags.builder, env("BUILDKIT_HOST")) {
        (Some(address), _) => transport::buildkit_endpoint(address, flags.tls.clone(), Origin::BuilderFlag),
        (None, Some(address)) if !address.is_empty() => transport::buildkit_endpoint(&address, flags.tls.clone(), Origin::BuildkitHost),
        _ => transport::docker_endpoint(env, &home),
    }
    .map_err(|e| DriverError::Config(e.to_string()))?;
    let engine = Engine::connect(endpoint, session).await?;
    let node_id = driver::node_id(&home);
    let plans = driver::plan_all(&selection, &request.cwd, &env, &engine, &node_id)?;
    for warning in plans.iter().flat_map(|p| &p.warnings) {
        eprintln!("WARNING: {warning}");
    }
    let docker_config = env("DOCKER_CONFIG").map(PathBuf::from);
    let auth = Arc::new(DockerAuth::load(docker_config.as_deref(), &home).map_err(DriverError::Config)?);

    let driver_name = if engine.offer.docker { "docker" } else { "remote" };
    let printer = Printer::start(
        PrinterOptions {
            display,
            description: ProgressDescription::for_builder("default", driver_name),
            multi_target: plans.len() > 1,
        },
        std::io::stderr(),
    );
    let options = RunOptions { keep_going: flags.keep_going, max_parallel: flags.max_parallel, metadata_file: flags.metadata_file.clone() };
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
    let report = driver::run(&engine, plans, auth, printer.handle(), &options, interrupt).await;
    let _warnings = printer.finish().await;

    let outcomes: Vec<TargetOutcome> = report.targets.iter().map(outcome).collect();
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

fn outcome(t: &driver::TargetReport) -> TargetOutcome {
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
    TargetOutcome { name: t.name.clone(), result, duration: t.duration, error }
}
