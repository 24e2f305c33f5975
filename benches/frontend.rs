//! What the leaven frontend image costs on a fully cached build, on each engine:
//! the hello example through `# syntax=leaven:dev` against its hand-written
//! Dockerfile on the engine's builtin frontend, same engine, same run.
//!
//! Prints medians, the overhead and its ratio to the goal (at most half of the
//! ~90 ms the official Dockerfile frontend image costs). No timing asserts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const ROUNDS: usize = 15;
/// What the official frontend image adds over the builtin one (issue #2).
const OFFICIAL_FRONTEND_OVERHEAD_MS: f64 = 90.0;

fn build_ms(docker: &Path, dir: &Path, file: &str, tag: &str) -> f64 {
    let started = Instant::now();
    let status = Command::new(docker)
        .args(["build", "-q", "-f", file, "-t", tag, "."])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", docker.display()));
    assert!(status.success(), "build of {file} failed");
    started.elapsed().as_secs_f64() * 1000.0
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The frontend's own start→Return times, from the engine log (frontend stderr).
fn frontend_self_times(log: &Path, last: usize) -> Vec<f64> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let times: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split("start to Return ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    times[times.len().saturating_sub(last)..].to_vec()
}

fn main() {
    let root = PathBuf::from(std::env::var("LEAVEN_ENGINES").unwrap_or_else(|_| "/var/lib/leaven-engines".into()));
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/hello");
    println!("fully cached build of examples/hello, median of {ROUNDS}");
    println!("{:<22} {:>12} {:>12} {:>10} {:>12} {:>14}", "engine", "builtin ms", "leaven ms", "overhead", "vs goal 45", "frontend self");
    for tag in ["20", "28"] {
        let docker = root.join(format!("bin/docker-{tag}"));
        let version = Command::new(&docker)
            .args(["version", "--format", "{{.Server.Version}}"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        // Warm both so every timed build is fully cached.
        build_ms(&docker, &dir, "Dockerfile", "leaven-bench/builtin");
        build_ms(&docker, &dir, "app.hcl", "leaven-bench/leaven");
        let mut builtin = Vec::new();
        let mut leaven = Vec::new();
        for _ in 0..ROUNDS {
            builtin.push(build_ms(&docker, &dir, "Dockerfile", "leaven-bench/builtin"));
            leaven.push(build_ms(&docker, &dir, "app.hcl", "leaven-bench/leaven"));
        }
        let self_times = frontend_self_times(&root.join(format!("logs/dockerd-{tag}.log")), ROUNDS);
        let (b, l) = (median(builtin), median(leaven));
        let overhead = l - b;
        let goal = OFFICIAL_FRONTEND_OVERHEAD_MS / 2.0;
        let self_ms = if self_times.is_empty() { f64::NAN } else { median(self_times) };
        println!(
            "{:<22} {:>12.1} {:>12.1} {:>8.1}ms {:>11.2}x {:>12.1}ms",
            format!("Docker {version}"),
            b,
            l,
            overhead,
            overhead / goal,
            self_ms
        );
    }
    println!("overhead = leaven − builtin; 'vs goal' = overhead / 45 ms (≤ 1.00 meets the goal)");
    println!("frontend self = the frontend's own start→Return, from the engine log");
}
