//! The frontend: what runs inside the image BuildKit starts for `# syntax=leaven…`.
//!
//! Load the spec from the `dockerfile` local, read the ignore file, resolve base
//! images, compile, solve, and return the ref with its image config.

use std::collections::BTreeMap;
use std::time::Instant;

use futures_util::future::{try_join, try_join_all};
use futures_util::FutureExt as _;
use tonic::{Code, Status};

use crate::compile::{self, AccountFiles, BaseImage, Inputs, NoCache, ACCOUNT_FILES};
use crate::gateway::opts::FrontendOpts;
use crate::gateway::{error_status, forwarded_status, GatewayClient, SolvedRef};

mod subrequests;
use crate::transport::stdio;
use crate::hcl::{Diagnostic, SourceFile};
use crate::image::ImageConfig;
use crate::llb::{self, CopyOptions, FileChain, ImageSource, LocalSource, Platform, ResolveMode, State, VertexMeta};
use crate::proto::{pb, rpc};
use crate::task::Scoped;

/// Why a build failed: the spec (a located diagnostic, with the spec's text so the
/// engine can show the lines), the engine, or the request.
#[derive(Debug)]
pub enum FrontendError {
    Spec { diagnostic: Diagnostic, text: String },
    Engine(Status),
    Request(String),
}

impl From<Status> for FrontendError {
    fn from(status: Status) -> FrontendError {
        FrontendError::Engine(status)
    }
}

impl FrontendError {
    /// The status the engine shows the user. Spec errors are one line, located.
    pub fn to_status(&self) -> rpc::Status {
        match self {
            FrontendError::Spec { diagnostic: d, text } => {
                let mut status = error_status(Code::InvalidArgument, d.summary());
                status.details.push(source_detail(d, text));
                status
            }
            FrontendError::Engine(status) => forwarded_status(status),
            FrontendError::Request(message) => error_status(Code::InvalidArgument, message.clone()),
        }
    }
}

/// What a build hands back: the solved ref, the definition it was solved from
/// (what a linked bake target builds on), and the result metadata (image config).
/// Several platforms give one of each per platform, returned as one
/// multi-platform result (an image index when exported).
#[derive(Debug, Clone)]
pub struct Built {
    pub platforms: Vec<PlatformBuilt>,
    /// The result has a ref per platform (`refs.platforms`), even for one.
    pub multi_platform: bool,
    pub metadata: BTreeMap<String, Vec<u8>>,
}

/// One platform's part of a build.
#[derive(Debug, Clone)]
pub struct PlatformBuilt {
    pub platform: Platform,
    pub solved: SolvedRef,
    pub definition: pb::Definition,
}

impl Built {
    /// The single result of a one-platform build (what a linked target builds on).
    pub fn single(&self) -> Option<&PlatformBuilt> {
        match self.platforms.as_slice() {
            [one] if !self.multi_platform => Some(one),
            _ => None,
        }
    }

    /// Hands the result back to the engine: one ref, or a ref per platform.
    pub async fn return_to(&self, client: &GatewayClient) -> Result<(), Status> {
        match self.single() {
            Some(one) => client.return_result(&one.solved, self.metadata.clone()).await,
            None => {
                let refs = self.platforms.iter().map(|p| (p.platform.to_string(), p.solved.clone())).collect();
                client.return_platforms(refs, self.metadata.clone()).await
            }
        }
    }
}

/// Runs the frontend on this process's stdio and returns the exit code.
/// BuildKit fails the build if we exit non-zero after a successful Return.
pub fn main_stdio() -> i32 {
    let started = Instant::now();
    // The process's CPU clock counts the container runtime's setup before our exec too.
    let cpu_at_start = process_cpu_ms();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("leaven frontend: cannot start: {e}");
            return 1;
        }
    };
    let runtime_ready = started.elapsed();
    runtime.block_on(async {
        let client = match connect().await {
            Ok(c) => c.logging_requests(started),
            Err(e) => {
                eprintln!("leaven frontend: cannot reach BuildKit on stdio: {e}");
                return 1;
            }
        };
        let connected = started.elapsed();
        let opts = FrontendOpts::from_env(std::env::vars());
        // The engine's answer to Ping, timed on its own: the build asks for it
        // alongside its first requests and waits only where it needs the caps.
        let pinged = client.caps().map(|_| started.elapsed());
        // A panic is a bug, but it must still reach the user as a failed build
        // with a message, not as a frontend that died (release builds unwind for this).
        let building = std::panic::AssertUnwindSafe(build(&client, &opts)).catch_unwind();
        let (pinged, outcome) = futures_util::future::join(pinged, building).await;
        let built = started.elapsed();
        if let Ok(caps) = client.caps().await {
            let lacking = crate::llb::Caps::current().missing_from(&caps.llb);
            if !lacking.is_empty() {
                eprintln!("leaven frontend: engine lacks LLB caps (fallbacks apply): {}", lacking.join(", "));
            }
        }
        let returned = match &outcome {
            Ok(Ok(built)) => built.return_to(&client).await,
            Ok(Err(e)) => client.return_error(e.to_status()).await,
            Err(panic) => {
                let what = panic.downcast_ref::<&str>().copied().or(panic.downcast_ref::<String>().map(String::as_str));
                let message = format!("leaven frontend: internal error (a bug in leaven, please report it): {}", what.unwrap_or("panic"));
                client.return_error(error_status(Code::Internal, message)).await
            }
        };
        // Stderr goes to the engine's log, never to the user: a place for timings.
        // `ping` is when the caps came, from the connect; it overlaps `build`.
        // `cpu` is the CPU time this process spent from start to here, all of
        // it ours (what load does not inflate, unlike the wall-clock figures).
        let cpu_ms = process_cpu_ms() - cpu_at_start;
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        eprintln!(
            "leaven frontend: start to Return {:.1} ms (runtime {:.1}, connect {:.1}, build {:.1}, return {:.1}, ping {:.1}, cpu {cpu_ms:.1})",
            ms(started.elapsed()),
            ms(runtime_ready),
            ms(connected - runtime_ready),
            ms(built - connected),
            ms(started.elapsed() - built),
            ms(pinged - connected)
        );
        // The round trips, on a line of their own: which waited on which is the critical path.
        let requests: Vec<String> =
            client.requests().iter().map(|r| format!("{} {:.1}–{:.1}", r.what, ms(r.sent), ms(r.answered))).collect();
        eprintln!("leaven frontend: requests, ms from start, sent–answered: {}", requests.join("; "));
        match returned {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("leaven frontend: Return failed: {e}");
                1
            }
        }
    })
}

fn process_cpu_ms() -> f64 {
    let cpu = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    cpu.tv_sec as f64 * 1000.0 + cpu.tv_nsec as f64 / 1e6
}

async fn connect() -> Result<GatewayClient, Box<dyn std::error::Error>> {
    let stream = stdio::StdioStream::from_process()?;
    let channel = stdio::channel_over(stream).await?;
    Ok(GatewayClient::new(channel, None)?)
}

/// The whole build of a spec: what the frontend image runs and what `leaven bake`
/// runs in-process for a spec target, over whichever transport carries `client`.
///
/// Lookups that do not depend on each other (the context's ignore file, each base
/// image's config and account files) run concurrently over the one connection;
/// the context's ignore file is read alongside the spec from the start.
pub async fn build(client: &GatewayClient, opts: &FrontendOpts) -> Result<Built, FrontendError> {
    // Loading the spec, its ignore file and the base images' configs need no
    // caps: the engine's answer to Ping comes alongside them, not before them.
    let (_, built) = futures_util::future::join(client.caps(), build_spec(client, opts)).await;
    built
}

async fn build_spec(client: &GatewayClient, opts: &FrontendOpts) -> Result<Built, FrontendError> {
    let filename = opts.filename().to_string();
    let beside_spec = format!("{filename}.dockerignore");
    let spec_dir = LocalSource {
        name: opts.dockerfile_name().to_string(),
        session_id: opts.session_id.clone(),
        follow_paths: vec![filename.clone(), beside_spec.clone()],
        shared_key_hint: Some(opts.dockerfile_name().to_string()),
        name_in_progress: Some(format!("[internal] load build definition from {filename}")),
        ..Default::default()
    }
    .state();
    // The context's ignore file, read from the start: its sync costs more than
    // the spec's (6–7 against 2 ms on Docker 28, every build), and is otherwise
    // the last thing the compile waits for. Unneeded where the spec has its own.
    let context_ignore = Scoped::spawn({
        let (client, opts) = (client.clone(), opts.clone());
        async move { context_ignore_patterns(&client, &opts).await }
    });
    let spec_definition = llb::marshal::definition(&spec_dir, false);
    let spec_ref = client.solve(spec_definition.clone(), Vec::new(), false).await?;
    let (text, ignore_beside_spec) =
        try_join(client.read_file(&spec_ref, &filename), read_if_present(client, &spec_ref, &beside_spec)).await?;
    let ignore_beside_spec = ignore_beside_spec.map(|data| String::from_utf8_lossy(&data).into_owned());
    let text = String::from_utf8(text).map_err(|_| FrontendError::Request(format!("{filename} is not UTF-8 text")))?;
    let file = SourceFile::new(filename.clone(), text);
    let spec_error = |diagnostic: Diagnostic| FrontendError::Spec { diagnostic, text: file.text.clone() };
    let build_args = opts.build_args();
    // A bad build arg is not a place in the spec: said as it is, as for a Dockerfile.
    crate::spec::check_build_args(&build_args).map_err(|e| FrontendError::Request(e.to_string()))?;
    let parsed = crate::spec::parse_spec(&file, &build_args);
    if let Some(request) = opts.get("requestid") {
        // `--call=…`: an answer instead of a build, with no filesystem.
        let metadata = subrequests::answer(request, &file, parsed.as_ref(), opts).map_err(|why| match why {
            subrequests::Unanswered::Spec => match &parsed {
                Err(diagnostic) => spec_error(diagnostic.clone()),
                Ok(_) => FrontendError::Request(format!("{request} found no error in a spec that parsed")),
            },
            subrequests::Unanswered::Request(message) => FrontendError::Request(message),
            subrequests::Unanswered::Unsupported(message) => FrontendError::Engine(Status::unimplemented(message)),
        })?;
        let answer = PlatformBuilt { platform: Platform::linux_amd64(), solved: SolvedRef { id: String::new() }, definition: pb::Definition::default() };
        return Ok(Built { platforms: vec![answer], multi_platform: false, metadata });
    }
    let spec = parsed.map_err(spec_error)?;
    let named: Vec<&str> = opts.values.keys().filter_map(|k| k.strip_prefix("context:")).collect();
    let warnings = compile::lint::lint(&spec, &compile::lint::LintContext { build_args: &build_args, named_contexts: named, text: &file.text });
    let target = compile::select_target(&spec, opts.target()).map_err(|e| FrontendError::Request(e.to_string()))?;
    let plan = compile::plan(&spec, &target);
    let platforms = match opts.get("platform") {
        Some(text) => text
            .split(',')
            .map(|p| Platform::parse(p).ok_or_else(|| format!("platform \"{p}\" is not os/arch[/variant]")))
            .collect::<Result<Vec<_>, String>>()
            .map_err(FrontendError::Request)?,
        None => match &opts.worker_platform {
            Some(platform) => vec![platform.clone()],
            None => vec![client.caps().await?.platforms.first().cloned().unwrap_or_else(Platform::linux_amd64)],
        },
    };
    let multi_platform = platforms.len() > 1 || opts.get("multi-platform") == Some("true");

    let resolve_mode = ResolveMode::parse(opts.resolve_mode())
        .ok_or_else(|| FrontendError::Request(format!("image-resolve-mode {:?} is not default, pull or local", opts.resolve_mode())))?;
    let no_cache = NoCache::from_opt(opts.no_cache());
    let cache_imports = opts.cache_imports().map_err(FrontendError::Request)?;
    let excludes = async {
        match &ignore_beside_spec {
            Some(text) => Ok(parse_ignore(text)),
            None => Ok(context_ignore.join().await.map_err(|e| Status::internal(format!("reading the context's .dockerignore failed: {e}")))??),
        }
    };
    let inputs = async {
        if plan.images.iter().any(|i| opts.get(&format!("context:{i}")).is_some_and(|v| v.starts_with("input:"))) {
            Ok(client.inputs().await?)
        } else {
            Ok::<_, FrontendError>(BTreeMap::new())
        }
    };
    // Each platform's base images (configs and account files), while the
    // context's ignore file is read: only the compile needs both.
    let bases = async {
        let inputs = inputs.await?;
        let per_platform = platforms.iter().map(|platform| {
            try_join_all(plan.images.iter().map(|written| {
                let needs_accounts = plan.account_images.contains(written);
                base_image(client, opts, written, platform, needs_accounts, &inputs)
            }))
        });
        try_join_all(per_platform).await
    };
    let warned = warn(client, &spec_definition, &file, &warnings);
    let (excludes, bases, ()) = futures_util::future::try_join3(excludes, bases, warned).await?;
    let context = LocalSource {
        name: opts.context_name().to_string(),
        session_id: opts.session_id.clone(),
        exclude: excludes,
        shared_key_hint: Some(opts.context_name().to_string()),
        name_in_progress: Some("[internal] load build context".into()),
        ..Default::default()
    };

    // Each platform: compile on its bases, solve.
    let per_platform = platforms.iter().zip(bases).map(|(platform, bases)| {
        let (plan, context, cache_imports, file, spec_error, no_cache) = (&plan, &context, &cache_imports, &file, &spec_error, &no_cache);
        async move {
            let bases: BTreeMap<String, BaseImage> = plan.images.iter().cloned().zip(bases).collect();
            // All steps: every op of the definition, the context and image sources too.
            let every_op = *no_cache == NoCache::All;
            let inputs = Inputs {
                context: context.clone(),
                bases: &bases,
                caps: &client.caps().await?.llb,
                platform: platform.clone(),
                resolve_mode,
                no_cache: no_cache.clone(),
            };
            let compiled = compile::compile(plan, &inputs).map_err(|e| spec_error(e.diagnostic(file)))?;
            // The spec goes along as the source map: the engine's errors show its lines.
            let source = llb::marshal::SourceFile { name: &file.name, text: &file.text, language: "HCL" };
            let definition = llb::marshal::definition_with_source(&compiled.state, every_op, Some(source));
            let solved = client.solve(definition.clone(), cache_imports.clone(), false).await?;
            Ok::<_, FrontendError>((PlatformBuilt { platform: platform.clone(), solved, definition }, compiled.config.to_json()))
        }
    });
    let built = try_join_all(per_platform).await?;
    let mut metadata = BTreeMap::new();
    if multi_platform {
        // As BuildKit's exporters read a multi-platform result: one config per platform.
        let listed: Vec<serde_json::Value> = built
            .iter()
            .map(|(b, _)| serde_json::json!({ "id": b.platform.to_string(), "platform": oci_platform(&b.platform) }))
            .collect();
        metadata.insert("refs.platforms".to_string(), serde_json::to_vec(&serde_json::json!({ "platforms": listed })).unwrap_or_default());
        for (b, config) in &built {
            metadata.insert(format!("containerimage.config/{}", b.platform), config.clone());
        }
    } else if let Some((_, config)) = built.first() {
        metadata.insert("containerimage.config".to_string(), config.clone());
    }
    if let Some(epoch) = spec.source_date_epoch {
        // The exporter's time for the history entries it adds (BuildKit 0.11+).
        metadata.insert("source.date.epoch".to_string(), epoch.to_string().into_bytes());
    }
    Ok(Built { platforms: built.into_iter().map(|(b, _)| b).collect(), multi_platform, metadata })
}

/// A platform as an OCI image spec platform object.
fn oci_platform(p: &Platform) -> serde_json::Value {
    let mut value = serde_json::json!({ "architecture": p.architecture, "os": p.os });
    if let Some(variant) = &p.variant {
        value["variant"] = serde_json::Value::String(variant.clone());
    }
    value
}

/// The lint warnings in the build output, as the Dockerfile frontend shows its
/// checks: on the vertex that loaded the spec, with the spec's lines.
async fn warn(client: &GatewayClient, spec_definition: &pb::Definition, file: &SourceFile, warnings: &[compile::lint::Warning]) -> Result<(), FrontendError> {
    let Some(vertex) = spec_definition.def.first().map(|op| llb::marshal::digest_of(op)) else { return Ok(()) };
    let info = pb::SourceInfo {
        filename: file.name.clone(),
        data: file.text.as_bytes().to_vec(),
        definition: Some(spec_definition.clone()),
        language: "HCL".into(),
    };
    let (vertex, info) = (&vertex, &info);
    let sent = warnings.iter().map(|w| async move {
        let ranges = w.pos.map(|pos| {
            let at = pb::Position { line: pos.line as i32, character: pos.column.saturating_sub(1) as i32 };
            vec![pb::Range { start: Some(at), end: Some(at) }]
        });
        let detail = vec![w.rule.description.as_bytes().to_vec()];
        client.warn(vertex, &w.short(), detail, Some(info.clone()), ranges.unwrap_or_default()).await
    });
    try_join_all(sent).await?;
    Ok(())
}

/// BuildKit's source-location error detail, so the CLI shows the spec's lines.
/// Positions are 1-based lines; the engine decodes the JSON case-insensitively.
fn source_detail(d: &Diagnostic, text: &str) -> prost_types::Any {
    use base64::Engine;
    let position = serde_json::json!({ "Line": d.line, "Character": d.column.saturating_sub(1) });
    let value = serde_json::json!({
        "info": {
            "filename": d.file,
            "data": base64::engine::general_purpose::STANDARD.encode(text),
            "language": "HCL",
        },
        "ranges": [{ "start": position, "end": position }],
    });
    prost_types::Any {
        type_url: "github.com/moby/buildkit/errdefs.Source+json".into(),
        value: serde_json::to_vec(&value).expect("JSON values serialize"),
    }
}

/// A base image's pinned reference and config, and its account files when an
/// image built on it creates a user. A base named like a named context
/// (`context:NAME` from bake `contexts`) is that context instead, as `FROM NAME`
/// is in a Dockerfile: another image, another target's result, or a local dir.
async fn base_image(
    client: &GatewayClient,
    opts: &FrontendOpts,
    written: &str,
    platform: &Platform,
    needs_accounts: bool,
    inputs: &BTreeMap<String, pb::Definition>,
) -> Result<BaseImage, FrontendError> {
    let named = opts.get(&format!("context:{written}"));
    let (state, config) = match named {
        None => return image_base(client, opts, written, written, platform, needs_accounts).await,
        Some(value) => match value.split_once("://").or_else(|| value.split_once(':')) {
            Some(("docker-image", reference)) => {
                return image_base(client, opts, written, reference, platform, needs_accounts).await;
            }
            Some(("input", key)) => {
                let definition = inputs.get(key).cloned().ok_or_else(|| {
                    FrontendError::Request(format!("named context {written} is input {key}, which the build did not pass"))
                })?;
                let state = State::from_definition(definition)
                    .ok_or_else(|| FrontendError::Request(format!("named context {written} is an empty result")))?;
                let config = input_config(opts, key)
                    .map_err(|why| FrontendError::Request(format!("named context {written}: unreadable input metadata: {why}")))?;
                (state, config)
            }
            Some(("local", name)) => {
                let source = LocalSource {
                    name: name.to_string(),
                    session_id: opts.session_id.clone(),
                    shared_key_hint: Some(name.to_string()),
                    name_in_progress: Some(format!("[internal] load {written}")),
                    ..Default::default()
                };
                (source.state(), ImageConfig::default())
            }
            _ => {
                return Err(FrontendError::Request(format!(
                    "named context {written} is {value}: a spec's base can be an image, another target or a local directory"
                )))
            }
        },
    };
    let accounts = if needs_accounts { account_files(client, &state, written).await? } else { AccountFiles::default() };
    Ok(BaseImage { reference: written.to_string(), state: Some(state), config, accounts })
}

/// A registry image as a base: its config, pinned by the digest the engine gave.
async fn image_base(
    client: &GatewayClient,
    opts: &FrontendOpts,
    written: &str,
    reference: &str,
    platform: &Platform,
    needs_accounts: bool,
) -> Result<BaseImage, FrontendError> {
    let reference = llb::normalize_image_ref(reference);
    let resolve_mode = ResolveMode::parse(opts.resolve_mode()).unwrap_or_default();
    let image = |reference: &str| {
        ImageSource { reference: reference.to_string(), platform: Some(platform.clone()), resolve_mode, ..Default::default() }.state()
    };
    // The account files of the image as written, read while its config is
    // resolved rather than after, where that is the image the build pins: a
    // reference pinned already, or a local image of dockerd's own store (which
    // answers no digest). Elsewhere the engine pins a tag to a digest, and
    // reading the tag too would cost a second image and show it in the progress.
    let pinned_as_written = reference.contains('@') || (opts.local_images_unpinned && resolve_mode != ResolveMode::Pull);
    let reading = async {
        if needs_accounts && pinned_as_written {
            Some(account_files(client, &image(&reference), written).await)
        } else {
            None
        }
    };
    let (resolved, read) = futures_util::future::join(client.resolve_image_config(&reference, platform, opts.resolve_mode()), reading).await;
    let (digest, config) = resolved?;
    let config = ImageConfig::parse(&config)
        .map_err(|e| FrontendError::Request(format!("image {written} has an unreadable config: {e}")))?;
    // dockerd answers no digest for images it found locally; pin only when given.
    let pinned = if digest.is_empty() || reference.contains('@') { reference.clone() } else { format!("{reference}@{digest}") };
    let accounts = match read {
        Some(read) if pinned == reference => read?,
        // Not read yet, or dockerd pulled the image after all and pinned it.
        _ if needs_accounts => account_files(client, &image(&pinned), written).await?,
        _ => AccountFiles::default(),
    };
    Ok(BaseImage { reference: pinned, state: None, config, accounts })
}

/// The image config another build passed with its result (`input-metadata:KEY`,
/// a JSON object whose `containerimage.config` is base64).
fn input_config(opts: &FrontendOpts, key: &str) -> Result<ImageConfig, String> {
    use base64::Engine;
    let Some(json) = opts.get(&format!("input-metadata:{key}")) else { return Ok(ImageConfig::default()) };
    let metadata: BTreeMap<String, String> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    match metadata.get("containerimage.config") {
        None => Ok(ImageConfig::default()),
        Some(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|e| e.to_string())?;
            ImageConfig::parse(&bytes).map_err(|e| e.to_string())
        }
    }
}

/// Exclude patterns from the context's `.dockerignore`, as the Dockerfile frontend
/// reads it when the spec has no `<spec>.dockerignore` beside it.
async fn context_ignore_patterns(client: &GatewayClient, opts: &FrontendOpts) -> Result<Vec<String>, Status> {
    let probe = LocalSource {
        name: opts.context_name().to_string(),
        session_id: opts.session_id.clone(),
        follow_paths: vec![".dockerignore".into()],
        shared_key_hint: Some(format!("{}-.dockerignore", opts.context_name())),
        name_in_progress: Some("[internal] load .dockerignore".into()),
        ..Default::default()
    }
    .state();
    let probe_ref = client.solve(llb::marshal::definition(&probe, false), Vec::new(), false).await?;
    let text = read_if_present(client, &probe_ref, ".dockerignore").await?;
    Ok(text.map(|data| parse_ignore(&String::from_utf8_lossy(&data))).unwrap_or_default())
}

/// A file's contents, or `None` when there is no such file. Each read mounts the
/// ref, and so would a listing to ask first: "no such file" is the answer.
async fn read_if_present(client: &GatewayClient, solved: &SolvedRef, path: &str) -> Result<Option<Vec<u8>>, Status> {
    match client.read_file(solved, path).await {
        Ok(data) => Ok(Some(data)),
        Err(e) if e.message().contains("no such file or directory") => Ok(None),
        Err(e) => Err(e),
    }
}

/// `.dockerignore` lines as exclude patterns, read as Docker reads them.
pub fn parse_ignore(text: &str) -> Vec<String> {
    crate::patterns::read_ignore_file(text)
}

/// The account files of an image, the four at once, read from a copy of them
/// on scratch rather than from the image: each read mounts what it reads, and
/// four reads of the one small layer take 3–4 ms where four reads of the
/// image's layers took 6–10 (Docker 28, cached). The copy is cached like a step.
async fn account_files(client: &GatewayClient, image: &State, written: &str) -> Result<AccountFiles, Status> {
    let copied = ACCOUNT_FILES
        .iter()
        .fold(FileChain::new(), |chain, path| chain.copy(image, &compile::if_present(path), "/", CopyOptions::default()));
    let copy = State::scratch().file(copied, VertexMeta::named(format!("[internal] load account files of {written}")));
    let solved = client.solve(llb::marshal::definition(&copy, false), Vec::new(), false).await?;
    let read = |path: &'static str| {
        let solved = &solved;
        let name = path.rsplit_once('/').map_or(path, |(_, name)| name);
        async move { Ok::<_, Status>(read_if_present(client, solved, name).await?.map(|data| String::from_utf8_lossy(&data).into_owned())) }
    };
    let [passwd, group, shadow, gshadow] = ACCOUNT_FILES;
    let (passwd, group, shadow, gshadow) = futures_util::future::try_join4(read(passwd), read(group), read(shadow), read(gshadow)).await?;
    Ok(AccountFiles { passwd, group, shadow, gshadow })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_files_drop_comments_and_leading_slashes() {
        assert_eq!(parse_ignore("# c\n\n/target\n*.pyc\n!keep\n"), vec!["target", "*.pyc", "!keep"]);
    }
}
