//! What a frontend image costs on a fully cached build, on each engine, all
//! measured in the same run, rounds interleaved so that load drift falls on
//! every side alike:
//!
//! - the builtin Dockerfile frontend on examples/hello's hand-written Dockerfile
//!   (no syntax line): the baseline;
//! - a floor frontend that Returns an empty result at once
//!   (benches/fixtures/floor_frontend.rs, built here): what the engine alone
//!   costs to resolve and start a frontend container;
//! - the official Dockerfile frontend image on the same Dockerfile, built by
//!   hand from BuildKit's source (never in this repository);
//! - leaven's frontend image on the twin spec, and its own start→Return time
//!   from the engine log (the frontend's stderr).
//!
//! Every frontend image is named on line 1 of a copy of its file (`# syntax=`),
//! as users name it: the builtin frontend then reads the file before it
//! forwards, so the frontend's own read of it is answered from that sync. (The
//! BUILDKIT_SYNTAX build arg skips that read and makes the frontend pay the
//! sync itself: 12–24 ms more on Docker 28 under load.) Prints medians and
//! ratios; no timing asserts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const ROUNDS: usize = 15;
/// The frontend's own start→Return goal on this build (issue #9).
const SELF_GOAL_MS: f64 = 8.0;
const FLOOR_IMAGE: &str = "leaven-bench/floor:1";
const OFFICIAL_REPO: &str = "leaven-bench/dockerfile-frontend";

/// How to put the official frontend where the bench finds it.
const OFFICIAL_HELP: &str = "\
The official side is BuildKit's Dockerfile frontend built by hand outside this
repository: `CGO_ENABLED=0 go build -ldflags -d -tags 'netgo static_build osusergo'
./frontend/dockerfile/cmd/dockerfile-frontend` at a dockerfile/* release tag
(with the vendor/ directory it ships), copied FROM scratch to
/bin/dockerfile-frontend with ENTRYPOINT [\"/bin/dockerfile-frontend\"] and
loaded into each engine as leaven-bench/dockerfile-frontend:<version>.";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("target"))
}

/// One way of building the hello example.
struct Side {
    label: String,
    /// The file built: examples/hello's own for the builtin frontend, else a
    /// copy whose first line names the frontend image.
    file: PathBuf,
    times: Vec<f64>,
    /// A leaven frontend: its own timings, from its line in the engine log.
    logged: Option<Vec<Vec<(String, f64)>>>,
}

impl Side {
    fn new(label: String, file: PathBuf) -> Side {
        Side { label, file, times: Vec::new(), logged: None }
    }

    /// A side built by `image`: `file` of examples/hello copied under `scratch`
    /// with `# syntax=IMAGE` as its first line (replacing one it has).
    fn through(label: String, scratch: &Path, file: &str, image: &str) -> Side {
        let text = std::fs::read_to_string(repo().join("examples/hello").join(file)).unwrap_or_else(|e| panic!("examples/hello/{file}: {e}"));
        let body = match text.split_once('\n') {
            Some((first, rest)) if first.starts_with("# syntax=") => rest,
            _ => text.as_str(),
        };
        let dir = scratch.join(image.replace(['/', ':'], "_"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let path = dir.join(file);
        std::fs::write(&path, format!("# syntax={image}\n{body}")).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        Side::new(label, path)
    }
}

fn build_ms(docker: &Path, dir: &Path, side: &Side) -> Result<f64, String> {
    let mut command = Command::new(docker);
    command.args(["build", "-q", "-t", "leaven-bench/hello-out", "-f"]).arg(&side.file);
    let started = Instant::now();
    let output = command
        .arg(".")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", docker.display()))?;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    if !output.status.success() {
        return Err(format!("{} build failed: {}", side.label, String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(elapsed)
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Compiles the floor frontend (std only, static) and loads it into `engines`.
fn load_floor(engines: &[(String, PathBuf)]) -> Result<(), String> {
    let dir = target_dir().join("bench-floor");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let status = Command::new(rustc)
        .args(["--edition", "2021", "-O", "-C", "target-feature=+crt-static", "-C", "strip=symbols"])
        .args(["--target", "x86_64-unknown-linux-gnu", "-o"])
        .arg(dir.join("floor"))
        .arg(repo().join("benches/fixtures/floor_frontend.rs"))
        .status()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    if !status.success() {
        return Err("rustc could not build benches/fixtures/floor_frontend.rs".into());
    }
    let dockerfile = "FROM scratch\nCOPY floor /floor\nLABEL moby.buildkit.frontend.network.none=\"true\"\nENTRYPOINT [\"/floor\"]\n";
    std::fs::write(dir.join("Dockerfile"), dockerfile).map_err(|e| format!("cannot write the floor's Dockerfile: {e}"))?;
    for (name, docker) in engines {
        let status = Command::new(docker)
            .args(["build", "-q", "-t", FLOOR_IMAGE, "."])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {}: {e}", docker.display()))?;
        if !status.success() {
            return Err(format!("cannot load {FLOOR_IMAGE} into {name}"));
        }
    }
    Ok(())
}

/// The official frontend's image on this engine, or how it is missing.
fn official_image(docker: &Path) -> Result<String, String> {
    let output = Command::new(docker)
        .args(["image", "ls", "--format", "{{.Tag}}", OFFICIAL_REPO])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", docker.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut tags: Vec<&str> = text.lines().map(str::trim).filter(|t| !t.is_empty() && *t != "<none>").collect();
    tags.sort();
    match tags.last() {
        Some(tag) => Ok(format!("{OFFICIAL_REPO}:{tag}")),
        None => Err(format!("no image {OFFICIAL_REPO}:<version> on this engine")),
    }
}

fn engine_version(docker: &Path) -> String {
    Command::new(docker)
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The frontend's own timings, from its one log line: the total and its parts
/// (`start to Return T ms (runtime A, connect B, …)`).
fn self_times(line: &str) -> Option<Vec<(String, f64)>> {
    let rest = line.split("start to Return ").nth(1)?;
    let total: f64 = rest.split_whitespace().next()?.parse().ok()?;
    let mut parts = vec![("total".to_string(), total)];
    let inner = rest.split_once('(')?.1.trim_end().trim_end_matches(')');
    for part in inner.split(", ") {
        let (name, value) = part.rsplit_once(' ')?;
        parts.push((name.to_string(), value.parse().ok()?));
    }
    Some(parts)
}

/// The engine log's length, and the lines it gained since `from`.
fn log_len(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

fn log_since(log: &Path, from: u64) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(log) {
        if file.seek(SeekFrom::Start(from)).is_ok() {
            let _ = file.read_to_string(&mut text);
        }
    }
    text.lines().filter(|l| l.contains("leaven frontend: start to Return")).map(String::from).collect()
}

fn main() {
    let root = PathBuf::from(std::env::var("LEAVEN_ENGINES").unwrap_or_else(|_| "/var/lib/leaven-engines".into()));
    let dir = repo().join("examples/hello");
    let scratch = target_dir().join("bench-frontend");
    // Several leaven images (comma-separated) compare builds in one run.
    let leaven_images = std::env::var("LEAVEN_BENCH_FRONTEND").unwrap_or_else(|_| "leaven:dev".into());
    let engines: Vec<(String, PathBuf)> =
        ["20", "28"].iter().map(|tag| (tag.to_string(), root.join(format!("bin/docker-{tag}")))).collect();
    if let Err(why) = load_floor(&engines) {
        panic!("the floor frontend: {why}");
    }
    println!("fully cached build of examples/hello, median of {ROUNDS} rounds (interleaved); load average {}", load_average());
    let mut official_missing = false;
    for (tag, docker) in &engines {
        let version = engine_version(docker);
        let official = official_image(docker);
        let mut sides = vec![
            Side::new("builtin Dockerfile frontend".into(), dir.join("Dockerfile")),
            Side::through(format!("floor ({FLOOR_IMAGE})"), &scratch, "Dockerfile", FLOOR_IMAGE),
        ];
        match &official {
            Ok(image) => sides.push(Side::through(format!("official ({image})"), &scratch, "Dockerfile", image)),
            Err(_) => official_missing = true,
        }
        for image in leaven_images.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let mut side = Side::through(format!("leaven ({image})"), &scratch, "app.hcl", image);
            side.logged = Some(Vec::new());
            sides.push(side);
        }
        let log = root.join(format!("logs/dockerd-{tag}.log"));
        let mut ambiguous = 0;
        // Warm every side so that each timed build is fully cached.
        for side in &sides {
            if let Err(why) = build_ms(docker, &dir, side) {
                panic!("Docker {version}: {why}");
            }
        }
        for round in 0..ROUNDS {
            for k in 0..sides.len() {
                let i = (k + round) % sides.len();
                let before = log_len(&log);
                let ms = build_ms(docker, &dir, &sides[i]).unwrap_or_else(|why| panic!("Docker {version}: {why}"));
                sides[i].times.push(ms);
                if let Some(logged) = &mut sides[i].logged {
                    // Other builds share the engine: a window with more than one line is not ours alone.
                    match log_since(&log, before).as_slice() {
                        [line] => logged.extend(self_times(line)),
                        _ => ambiguous += 1,
                    }
                }
            }
        }
        let builtin = median(&sides[0].times);
        let floor = median(&sides[1].times) - builtin;
        let official_overhead = official.as_ref().ok().map(|_| median(&sides[2].times) - builtin);
        println!();
        println!("Docker {version}");
        println!("  {:<58} {:>9} {:>10} {:>9} {:>11}", "frontend", "build ms", "overhead", "× floor", "× official");
        for (i, side) in sides.iter().enumerate() {
            let m = median(&side.times);
            let overhead = m - builtin;
            let (over, vs_floor, vs_official) = if i == 0 {
                ("—".to_string(), "—".to_string(), "—".to_string())
            } else {
                (
                    format!("{overhead:.1}"),
                    format!("{:.2}", overhead / floor),
                    official_overhead.map(|o| format!("{:.2}", overhead / o)).unwrap_or_else(|| "—".into()),
                )
            };
            println!("  {:<58} {:>9.1} {:>10} {:>9} {:>11}", side.label, m, over, vs_floor, vs_official);
        }
        if let Err(why) = &official {
            println!("  official Dockerfile frontend: not measured: {why}");
        }
        for side in &sides {
            let Some(logged) = &side.logged else { continue };
            let Some(first) = logged.first() else {
                println!("  {}: no line of its own in {}", side.label, log.display());
                continue;
            };
            let part = |name: &str| median(&logged.iter().filter_map(|p| p.iter().find(|(n, _)| n == name).map(|(_, v)| *v)).collect::<Vec<_>>());
            let total = part("total");
            let breakdown: Vec<String> = first.iter().skip(1).map(|(n, _)| format!("{n} {:.1}", part(n))).collect();
            println!(
                "  {} own start→Return, median of {}: {total:.1} ms ({}); {:.2}× the {SELF_GOAL_MS} ms goal",
                side.label,
                logged.len(),
                breakdown.join(", "),
                total / SELF_GOAL_MS,
            );
        }
        if ambiguous > 0 {
            println!("  ({ambiguous} leaven rounds left out of its own times: other builds logged at the same time)");
        }
    }
    println!();
    println!("overhead = median − the builtin frontend's median; × floor / × official = overhead over theirs");
    println!("load average at the end {} (shared machine: wall-clock figures are inflated under load)", load_average());
    if official_missing {
        println!("\n{OFFICIAL_HELP}");
    }
}
