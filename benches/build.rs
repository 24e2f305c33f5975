//! `make bench-build`: the Django + Tailwind release image built from app.hcl
//! (through the leaven frontend) and from the hand-written Dockerfile beside it,
//! on Docker 28: cold, no-op, after a code-only change, after a dependency
//! change. Prints each time and the ratio; asserts nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const BUILD_ARGS: [&str; 3] = [
    "PYTHON=leaven-test/python:3.11-bookworm",
    "NODE=leaven-test/node:bookworm",
    "PYTHONPATH=/usr/local/local/lib/python3.11/dist-packages",
];

fn docker() -> PathBuf {
    let root = std::env::var("LEAVEN_ENGINES").unwrap_or_else(|_| "/var/lib/leaven-engines".into());
    Path::new(&root).join("bin/docker-28")
}

fn run(args: &[&str], dir: &Path) {
    let status = Command::new(docker()).args(args).current_dir(dir).stdout(std::process::Stdio::null()).status();
    assert!(status.is_ok_and(|s| s.success()), "docker {} failed", args.join(" "));
}

/// Seconds for one build of `file` in `dir`.
fn build(dir: &Path, file: &str) -> f64 {
    let mut args = vec!["build", "-q", "-f", file, "-t", "leaven-bench/django"];
    for arg in BUILD_ARGS {
        args.extend(["--build-arg", arg]);
    }
    args.extend(["--secret", "id=ca,src=/etc/ssl/certs/ca-certificates.crt", "."]);
    let started = Instant::now();
    run(&args, dir);
    started.elapsed().as_secs_f64()
}

fn append(path: &Path, line: &str) {
    let mut text = std::fs::read_to_string(path).expect("example file");
    text.push_str(line);
    std::fs::write(path, text).expect("writable copy");
}

/// A fresh copy of the example to change files in.
fn fresh_copy() -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/django-tailwind");
    let dst = std::env::temp_dir().join("leaven-bench-django");
    let _ = std::fs::remove_dir_all(&dst);
    let status = Command::new("cp").arg("-a").arg(&src).arg(&dst).status();
    assert!(status.is_ok_and(|s| s.success()), "cannot copy the example");
    dst
}

/// Cold, no-op, code change, dependency change: seconds each.
fn scenarios(file: &str) -> [f64; 4] {
    let dir = fresh_copy();
    // Cold: no build cache and no cache mounts (package downloads included).
    run(&["builder", "prune", "-af"], &dir);
    let cold = build(&dir, file);
    let noop = build(&dir, file);
    append(&dir.join("pages/views.py"), "\n# a code-only change\n");
    let code = build(&dir, file);
    append(&dir.join("requirements.txt"), "# a dependency change\n");
    let deps = build(&dir, file);
    [cold, noop, code, deps]
}

fn main() {
    println!("Django + Tailwind release image on Docker 28 (seconds; ratio = hand-written / leaven)");
    let leaven = scenarios("app.hcl");
    let handwritten = scenarios("Dockerfile");
    println!("{:<22} {:>10} {:>12} {:>8}", "scenario", "leaven", "hand-written", "ratio");
    for (i, name) in ["cold", "no-op", "code-only change", "dependency change"].iter().enumerate() {
        println!("{:<22} {:>10.2} {:>12.2} {:>7.2}x", name, leaven[i], handwritten[i], handwritten[i] / leaven[i]);
    }
}
