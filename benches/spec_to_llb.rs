//! Spec → LLB against BuildKit's dockerfile2llb, measured side by side in one run
//! on the same apps with the same inputs.
//!
//! The pairs: every example with a hand-written Dockerfile beside its spec, and
//! the apps under benches/fixtures/apps. Both sides get the same answers from
//! the engine, read from benches/fixtures/bases: each base image's config (laid
//! out like the official images': layers, history) and its digest, and for
//! leaven the account files it reads from the image its user is created in.
//! Both sides do what their frontend does between reading the file and sending
//! the solve: parse, convert, marshal the definition to its wire bytes, and
//! serialise the image config.
//!
//! leaven's side is timed here (criterion, then our own summary with allocation
//! counts). dockerfile2llb's side is a Go program that has to be built by hand
//! outside the repository (see `PEER_HELP`); when it is not there, the bench
//! says so and prints leaven's figures alone. Asserts nothing.

use std::alloc::{GlobalAlloc, Layout};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use leaven::compile::{self, AccountFiles, BaseImage, Inputs, NoCache};
use leaven::hcl::SourceFile;
use leaven::image::ImageConfig;
use leaven::llb::{self, Caps, ImageSource, LocalSource, Platform, ResolveMode};
use prost::Message;

/// Counts allocations and the bytes asked for, as Go's allocs/op and B/op do,
/// over the allocator the `leaven` binary uses
/// (a realloc counts as one allocation of its new size), while `COUNTING` is
/// on: times are taken with it off, as Go's are taken without per-allocation work.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(size as u64, Ordering::Relaxed);
        }
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, size) }
    }
}

/// Allocations and bytes per run of `op`, over `n` runs.
fn allocations(n: u32, mut op: impl FnMut()) -> (f64, f64) {
    let (a0, b0) = (ALLOCATIONS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
    COUNTING.store(true, Ordering::Relaxed);
    for _ in 0..n {
        op();
    }
    COUNTING.store(false, Ordering::Relaxed);
    let per = |x: u64| x as f64 / n as f64;
    (per(ALLOCATIONS.load(Ordering::Relaxed) - a0), per(BYTES.load(Ordering::Relaxed) - b0))
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What a developer puts in place, by hand, for the dockerfile2llb side.
const PEER_HELP: &str = "\
The dockerfile2llb side is a Go program built by hand outside this repository
(its source, toolchain and build output never enter it). To measure it, put at
that path (or at $LEAVEN_BENCH_PEER) an executable that:
  - is built from BuildKit's frontend/dockerfile/dockerfile2llb at a pinned
    dockerfile/* release tag (dockerfile/1.26.0), with the vendor/ directory
    that tag ships (-mod=vendor, no network), by Go from Debian sid's
    golang-1.26-go unpacked with apt-get download and dpkg -x into the cache dir;
  - takes `-fixtures DIR -count N DOCKERFILE...`, answers ResolveImageConfig
    from DIR/index.tsv and DIR/*/config.json, and for each Dockerfile runs
    testing.Benchmark over Dockerfile2LLB (source map, linux/amd64, all LLB
    caps, a no-op lint warner), State.Marshal, the definition's wire bytes and
    json.Marshal of the image config, N times;
  - prints `# dockerfile2llb TAG GOVERSION`, then per Dockerfile the median run
    as `PATH\\tns/op\\tallocs/op\\tbytes/op\\tops\\tconfig bytes`;
  - (for instruction counts, not used here) with `-runs N` converts each
    Dockerfile N times untimed: run it under valgrind --tool=callgrind with
    GODEBUG=asyncpreemptoff=1 (callgrind cannot follow Go's preemption
    signals), for N and 1 runs, beside LEAVEN_BENCH_RUNS=N and 1 of this bench.";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A spec and the hand-written Dockerfile for the same image.
struct Pair {
    name: String,
    spec: String,
    dockerfile: PathBuf,
}

fn pairs() -> Vec<Pair> {
    let mut dirs = Vec::new();
    for parent in ["examples", "benches/fixtures/apps"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(repo().join(parent))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        found.sort();
        dirs.extend(found.into_iter().map(|d| (parent, d)));
    }
    dirs.into_iter()
        .filter(|(_, d)| d.join("app.hcl").is_file() && d.join("Dockerfile").is_file())
        .map(|(parent, d)| Pair {
            name: format!("{parent}/{}", d.file_name().unwrap().to_string_lossy()),
            spec: std::fs::read_to_string(d.join("app.hcl")).expect("readable spec"),
            dockerfile: d.join("Dockerfile"),
        })
        .collect()
}

/// The engine's answers for one image: its digest, config bytes, account files.
struct Answer {
    digest: String,
    config: Vec<u8>,
    accounts: [Option<Vec<u8>>; 4],
}

fn fixtures_dir() -> PathBuf {
    repo().join("benches/fixtures/bases")
}

fn answers() -> HashMap<String, Answer> {
    let dir = fixtures_dir();
    let index = std::fs::read_to_string(dir.join("index.tsv")).expect("benches/fixtures/bases/index.tsv");
    index
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let [reference, digest, sub] = line.split('\t').collect::<Vec<_>>()[..] else { panic!("index.tsv: bad line {line:?}") };
            let at = dir.join(sub);
            let accounts = ["passwd", "group", "shadow", "gshadow"].map(|f| std::fs::read(at.join(f)).ok());
            let config = std::fs::read(at.join("config.json")).expect("a config.json per base");
            (reference.to_string(), Answer { digest: digest.to_string(), config, accounts })
        })
        .collect()
}

/// Everything leaven's frontend does between reading the spec and sending the
/// solve, with the engine's answers already at hand: parse and check, plan, take
/// each base's config (parse the JSON, pin the digest) and, where a user is
/// created, its account files, compile, marshal the definition with its source
/// map to wire bytes, serialise the image config. Returns (ops, config bytes).
/// `mark` is called at the end of each phase (the profile times them).
#[inline(never)]
fn leaven_once(spec: &str, answers: &HashMap<String, Answer>, caps: &Caps, mark: &mut impl FnMut(Phase)) -> (usize, usize) {
    let file = SourceFile::new("app.hcl", spec);
    let spec = leaven::spec::parse_spec(&file, &BTreeMap::new()).expect("the spec parses");
    let target = compile::select_target(&spec, None).expect("it has an image");
    mark(Phase::Spec);
    let plan = compile::plan(&spec, &target);
    mark(Phase::Plan);
    let platform = Platform::linux_amd64();
    let bases = take_answers(&plan, answers, &platform);
    mark(Phase::Bases);
    let context = LocalSource {
        name: "context".into(),
        session_id: Some("session".into()),
        shared_key_hint: Some("context".into()),
        name_in_progress: Some("[internal] load build context".into()),
        ..Default::default()
    };
    let inputs = Inputs { context, bases: &bases, caps, platform, resolve_mode: ResolveMode::Default, no_cache: NoCache::Off };
    let compiled = compile::compile(&plan, &inputs).expect("it compiles");
    mark(Phase::Compile);
    let source = llb::marshal::SourceFile { name: &file.name, text: &file.text, language: "HCL" };
    let def = llb::marshal::definition_with_source(&compiled.state, false, Some(source));
    let wire = def.encode_to_vec();
    std::hint::black_box(&wire);
    mark(Phase::Marshal);
    let config = compiled.config.to_json();
    mark(Phase::Config);
    (def.def.len(), config.len())
}

/// The engine's answers as the frontend takes them in: each image's config
/// parsed and its reference pinned by digest, and where a user is created, the
/// account files it reads from the image (after solving it: that definition too).
#[inline(never)]
fn take_answers(plan: &compile::Plan, answers: &HashMap<String, Answer>, platform: &Platform) -> BTreeMap<String, BaseImage> {
    plan.images
        .iter()
        .map(|written| {
            let reference = llb::normalize_image_ref(written);
            let answer = answers.get(&reference).unwrap_or_else(|| panic!("no fixture for {reference}"));
            let config = ImageConfig::parse(&answer.config).expect("fixture configs parse");
            let pinned = format!("{reference}@{}", answer.digest);
            let accounts = if plan.account_images.contains(written) {
                let image = ImageSource { reference: pinned.clone(), platform: Some(platform.clone()), ..Default::default() }.state();
                std::hint::black_box(llb::marshal::definition(&image, false));
                account_files(answer)
            } else {
                AccountFiles::default()
            };
            (written.clone(), BaseImage { reference: pinned, state: None, config, accounts })
        })
        .collect()
}

/// The account files as the frontend reads them out of the image: text.
fn account_files(answer: &Answer) -> AccountFiles {
    let text = |bytes: &Option<Vec<u8>>| bytes.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
    let [passwd, group, shadow, gshadow] = &answer.accounts;
    AccountFiles { passwd: text(passwd), group: text(group), shadow: text(shadow), gshadow: text(gshadow) }
}

/// The phases of one compile, in order, as `leaven_once` marks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// the HCL parse, evaluation and the spec's checks (`parse_spec`), and the target.
    Spec,
    Plan,
    /// The engine's answers taken in: configs parsed, digests pinned, account files.
    Bases,
    /// Stages to LLB states and the image config (account files merged here too).
    Compile,
    /// The definition with its source map, to wire bytes.
    Marshal,
    /// The image config to JSON.
    Config,
}

const PHASES: [(Phase, &str); 6] = [
    (Phase::Spec, "parse_spec: HCL parse, evaluate, check"),
    (Phase::Plan, "plan"),
    (Phase::Bases, "base configs (JSON parse, pin) and account files"),
    (Phase::Compile, "compile to LLB states + config"),
    (Phase::Marshal, "marshal the definition (+ source map) to bytes"),
    (Phase::Config, "serialise the image config"),
];

/// Time and allocations per phase of one compile (timers, mean of many), with
/// two parts measured on their own: the HCL parse (inside parse_spec) and
/// the account files merged and written (inside compile). With the peer's
/// figures, what 10× would leave for the whole compile, and the parse's share of it.
fn profile(pair: &Pair, answers: &HashMap<String, Answer>, caps: &Caps, peer: Option<&Figures>) {
    const N: u32 = 500;
    let index = |phase: Phase| PHASES.iter().position(|(p, _)| *p == phase).expect("a listed phase");
    let mut spent = [Duration::ZERO; PHASES.len()];
    let mut total = Duration::ZERO;
    for _ in 0..N {
        let started = Instant::now();
        let mut last = started;
        leaven_once(&pair.spec, answers, caps, &mut |phase| {
            let now = Instant::now();
            spent[index(phase)] += now - last;
            last = now;
        });
        total += started.elapsed();
    }
    let mut allocated = [0u64; PHASES.len()];
    let mut last = ALLOCATIONS.load(Ordering::Relaxed);
    allocations(N, || {
        leaven_once(&pair.spec, answers, caps, &mut |phase| {
            let now = ALLOCATIONS.load(Ordering::Relaxed);
            allocated[index(phase)] += now - last;
            last = now;
        });
        last = ALLOCATIONS.load(Ordering::Relaxed);
    });

    let file = SourceFile::new("app.hcl", pair.spec.as_str());
    let mut parse = || {
        std::hint::black_box(leaven::hcl::parse(&file).expect("it parses"));
    };
    let parse = (mean(N, &mut parse), allocations(N, &mut parse).0);
    let spec = leaven::spec::parse_spec(&file, &BTreeMap::new()).expect("the spec parses");
    let target = compile::select_target(&spec, None).expect("it has an image");
    let plan = compile::plan(&spec, &target);
    let accounts = plan.account_images.first().map(|written| {
        account_files(&answers[&llb::normalize_image_ref(written)])
    });
    // Homes get the skeleton of the image the users are created in.
    let base = ImageSource { reference: "docker.io/library/debian:bookworm".into(), ..Default::default() }.state();
    let merge = accounts.map(|a| {
        let mut merge = || {
            std::hint::black_box(a.with_users(&plan.users).expect("users merge").write(&plan.users, Some(&base)));
        };
        (mean(N, &mut merge), allocations(N, &mut merge).0)
    });

    let us = |d: Duration| d.as_secs_f64() * 1e6 / N as f64;
    let total_us = us(total);
    let total_allocs: u64 = allocated.iter().sum();
    let per_run = |a: u64| a as f64 / N as f64;
    println!();
    println!("{}: {:.0} µs and {} allocations per compile, by phase", pair.name, total_us, count(per_run(total_allocs)));
    println!();
    println!("| phase | µs | time | allocs | allocations |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, us: f64, allocs: f64| {
        println!("| {name} | {us:.0} | {:.0} % | {} | {:.0} % |", 100.0 * us / total_us, count(allocs), 100.0 * allocs / per_run(total_allocs));
    };
    for (i, (phase, name)) in PHASES.iter().enumerate() {
        row(name, us(spent[i]), per_run(allocated[i]));
        match phase {
            Phase::Spec => row("… of which the HCL parse alone", parse.0.as_secs_f64() * 1e6, parse.1),
            Phase::Compile => {
                if let Some((d, a)) = merge {
                    row("… of which account files merged and written", d.as_secs_f64() * 1e6, a);
                }
            }
            _ => {}
        }
    }
    if let Some(peer) = peer {
        let (budget_us, budget_allocs) = (peer.ns / 10_000.0, peer.allocs / 10.0);
        let parse_us = parse.0.as_secs_f64() * 1e6;
        println!();
        println!(
            "10× dockerfile2llb leaves {budget_us:.0} µs and {} allocations for the whole compile; the HCL parse alone takes {parse_us:.0} µs ({:.0} % of it) and {} allocations ({:.0} %).",
            count(budget_allocs),
            100.0 * parse_us / budget_us,
            count(parse.1),
            100.0 * parse.1 / budget_allocs
        );
    }
}

/// Mean time of `op` over `n` runs.
fn mean(n: u32, op: &mut impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..n {
        op();
    }
    started.elapsed() / n
}

/// One side's figures per operation.
#[derive(Debug, Clone, Copy)]
struct Figures {
    ns: f64,
    allocs: f64,
    bytes: f64,
}

/// Like Go's testing.Benchmark: iterations until a run takes `budget`, `runs`
/// times; the median run's time per op. Then allocations and bytes per op,
/// counted over separate runs.
fn measure(runs: usize, budget: Duration, mut op: impl FnMut()) -> Figures {
    op();
    let mut times = Vec::new();
    for _ in 0..runs {
        let (mut n, mut elapsed, mut batch) = (0u64, Duration::ZERO, 1u64);
        while elapsed < budget {
            let started = Instant::now();
            for _ in 0..batch {
                op();
            }
            elapsed += started.elapsed();
            n += batch;
            batch = (batch * 2).min(1000);
        }
        times.push(elapsed.as_nanos() as f64 / n as f64);
    }
    times.sort_by(f64::total_cmp);
    let (allocs, bytes) = allocations(100, op);
    Figures { ns: times[times.len() / 2], allocs, bytes }
}

fn peer_path() -> PathBuf {
    if let Some(p) = std::env::var_os("LEAVEN_BENCH_PEER") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/var/cache"));
    cache.join("leaven/bench-peer/bin/dockerfile2llb-bench")
}

/// The peer's name and its figures per Dockerfile, or why there are none.
fn run_peer(pairs: &[Pair]) -> Result<(String, HashMap<PathBuf, Figures>), String> {
    let path = peer_path();
    if !path.is_file() {
        return Err(format!("no peer benchmark at {} (set LEAVEN_BENCH_PEER to use another path)", path.display()));
    }
    let output = Command::new(&path)
        .arg("-fixtures")
        .arg(fixtures_dir())
        .args(["-count", "5"])
        .args(pairs.iter().map(|p| &p.dockerfile))
        .output()
        .map_err(|e| format!("{} did not start: {e}", path.display()))?;
    if !output.status.success() {
        return Err(format!("{} failed ({}): {}", path.display(), output.status, String::from_utf8_lossy(&output.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut name = String::from("dockerfile2llb");
    let mut figures = HashMap::new();
    for line in text.lines() {
        if let Some(header) = line.strip_prefix("# ") {
            name = header.to_string();
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
        match (fields.first(), number(1), number(2), number(3)) {
            (Some(file), Some(ns), Some(allocs), Some(bytes)) => {
                figures.insert(PathBuf::from(file), Figures { ns, allocs, bytes });
            }
            _ => return Err(format!("{} printed a line this bench does not read: {line:?}", path.display())),
        }
    }
    Ok((name, figures))
}

fn micros(ns: f64) -> String {
    format!("{:.0} µs", ns / 1000.0)
}

fn count(n: f64) -> String {
    let n = n.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn kib(bytes: f64) -> String {
    format!("{:.0} KiB", bytes / 1024.0)
}

fn main() {
    let pairs = pairs();
    let answers = answers();
    let caps = Caps::current();

    // `LEAVEN_BENCH_RUNS=N`: only N compiles of each pair (or of the pairs whose
    // name contains `LEAVEN_BENCH_PAIR`), for an instruction profile (callgrind).
    if let Some(runs) = std::env::var("LEAVEN_BENCH_RUNS").ok().and_then(|n| n.parse::<u32>().ok()) {
        let only = std::env::var("LEAVEN_BENCH_PAIR").unwrap_or_default();
        for pair in pairs.iter().filter(|p| p.name.contains(&only)) {
            for _ in 0..runs {
                std::hint::black_box(leaven_once(&pair.spec, &answers, &caps, &mut |_| ()));
            }
        }
        return;
    }

    let mut criterion = Criterion::default().measurement_time(Duration::from_secs(3)).configure_from_args();
    for pair in &pairs {
        criterion.bench_function(&format!("leaven {} spec → LLB + config", pair.name), |b| {
            b.iter(|| leaven_once(&pair.spec, &answers, &caps, &mut |_| ()))
        });
    }
    criterion.final_summary();

    let ours: Vec<Figures> = pairs
        .iter()
        .map(|pair| measure(5, Duration::from_millis(500), || {
            std::hint::black_box(leaven_once(&pair.spec, &answers, &caps, &mut |_| ()));
        }))
        .collect();
    let peer = run_peer(&pairs);

    println!();
    println!("Spec → LLB definition + image config, same apps and engine answers (benches/fixtures/bases):");
    match &peer {
        Ok((name, theirs)) => {
            println!();
            println!("| app | {name}: time | allocs | bytes | leaven: time | allocs | bytes | faster | fewer allocs | fewer bytes |");
            println!("|---|---|---|---|---|---|---|---|---|---|");
            let mut met = true;
            for (pair, ours) in pairs.iter().zip(&ours) {
                let Some(theirs) = theirs.get(&pair.dockerfile) else {
                    println!("| {} | not measured | | | {} | {} | {} | | | |", pair.name, micros(ours.ns), count(ours.allocs), kib(ours.bytes));
                    met = false;
                    continue;
                };
                let (time, allocs, bytes) = (theirs.ns / ours.ns, theirs.allocs / ours.allocs, theirs.bytes / ours.bytes);
                met &= time >= 10.0 && allocs > 10.0;
                println!(
                    "| {} | {} | {} | {} | {} | {} | {} | {time:.1}× | {allocs:.1}× | {bytes:.1}× |",
                    pair.name,
                    micros(theirs.ns),
                    count(theirs.allocs),
                    kib(theirs.bytes),
                    micros(ours.ns),
                    count(ours.allocs),
                    kib(ours.bytes),
                );
            }
            println!();
            println!(
                "goal: ≥ 10× faster and under a tenth of the allocations on every pair: {}",
                if met { "met" } else { "not met" }
            );
        }
        Err(why) => {
            println!();
            println!("dockerfile2llb: not measured: {why}.");
            println!("{PEER_HELP}");
            println!();
            println!("leaven alone:");
            println!();
            println!("| app | leaven: time | allocs | bytes |");
            println!("|---|---|---|---|");
            for (pair, ours) in pairs.iter().zip(&ours) {
                println!("| {} | {} | {} | {} |", pair.name, micros(ours.ns), count(ours.allocs), kib(ours.bytes));
            }
        }
    }

    println!();
    println!("Where leaven's time goes:");
    for pair in &pairs {
        let theirs = peer.as_ref().ok().and_then(|(_, figures)| figures.get(&pair.dockerfile));
        profile(pair, &answers, &caps, theirs);
    }
}
