//! `make bench-drive`: `leaven bake` building against `docker buildx bake`
//! building, same files, same engine (Docker 28), in one run:
//!
//! - 10 Dockerfile targets, cold (build cache pruned before every run) and no-op
//!   (everything cached);
//! - the Django example as a leaven spec target (compiled in-process by leaven
//!   bake) against its hand-written Dockerfile through `docker buildx bake`,
//!   fully cached.
//!
//! Prints medians of whole-process wall times and their ratios; asserts nothing
//! about timing. Goals (issue 7): no-op ≤ 0.5×, cold ≤ 1.0×, cached spec ≤ 1.0×.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const TARGETS: usize = 10;
const RUNS: usize = 5;

fn engines() -> PathBuf {
    PathBuf::from(std::env::var("LEAVEN_ENGINES").unwrap_or_else(|_| "/var/lib/leaven-engines".into()))
}

fn docker() -> PathBuf {
    engines().join("bin/docker-28")
}

fn leaven() -> PathBuf {
    // The release binary `make bench-drive` builds.
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(target).join("release/leaven");
    assert!(path.exists(), "{} is missing: run `make bench-drive`", path.display());
    path
}

fn run(mut command: Command) -> Duration {
    let started = Instant::now();
    let out = command.output().expect("the command runs");
    let took = started.elapsed();
    assert!(out.status.success(), "{command:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    took
}

fn leaven_bake(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(leaven());
    c.arg("bake").args(args).current_dir(dir);
    c.env("DOCKER_HOST", "unix:///run/leaven-test/docker-28.sock").env_remove("DOCKER_CONTEXT").env("DOCKER_CONFIG", engines().join("config-28"));
    // Both tools read the Django files outside the bake file's directory without asking.
    c.env("BUILDX_BAKE_ENTITLEMENTS_FS", "0");
    c
}

fn buildx_bake(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(docker());
    c.args(["buildx", "bake"]).args(args).current_dir(dir);
    // The Django files live outside the bake file's directory; buildx, like leaven,
    // would ask for `--allow=fs.read=…` first.
    c.env("BUILDX_BAKE_ENTITLEMENTS_FS", "0");
    c
}

fn prune() {
    let out = Command::new(docker()).args(["builder", "prune", "-af"]).output().expect("docker runs");
    assert!(out.status.success(), "prune failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Ten targets, each its own Dockerfile with a run step and a copy.
fn ten_targets(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let mut bake = String::from("group \"default\" {\n  targets = [");
    bake.push_str(&(0..TARGETS).map(|i| format!("\"t{i}\"")).collect::<Vec<_>>().join(", "));
    bake.push_str("]\n}\n");
    for i in 0..TARGETS {
        let context = dir.join(format!("t{i}"));
        std::fs::create_dir_all(&context).unwrap();
        std::fs::write(context.join("Dockerfile"), format!("FROM leaven-test/debian:bookworm\nRUN echo target {i} > /target\nCOPY file.txt /file.txt\n")).unwrap();
        std::fs::write(context.join("file.txt"), format!("file of target {i}\n")).unwrap();
        bake.push_str(&format!("target \"t{i}\" {{\n  context = \"t{i}\"\n  tags = [\"leaven-bench/drive-t{i}\"]\n  output = [\"type=docker\"]\n}}\n"));
    }
    std::fs::write(dir.join("docker-bake.hcl"), bake).unwrap();
}

fn compare(label: &str, ours: Duration, theirs: Duration, goal: f64) {
    let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
    let verdict = if ratio <= goal { "meets" } else { "misses" };
    println!(
        "{label:<44} leaven {:>8.1} ms   buildx {:>8.1} ms   ratio {ratio:.2}× ({verdict} the ≤ {goal}× goal)",
        ours.as_secs_f64() * 1000.0,
        theirs.as_secs_f64() * 1000.0
    );
}

fn main() {
    let scratch = std::env::temp_dir().join("leaven-bench-drive");
    ten_targets(&scratch);
    let progress = ["--progress", "quiet"];

    // Cold: nothing cached, each side in turn.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        prune();
        ours.push(run(leaven_bake(&scratch, &progress)));
        prune();
        theirs.push(run(buildx_bake(&scratch, &progress)));
    }
    compare("10 Dockerfile targets, cold", median(ours), median(theirs), 1.0);

    // No-op: everything cached (the last run above left it so).
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    run(leaven_bake(&scratch, &progress));
    for _ in 0..RUNS {
        ours.push(run(leaven_bake(&scratch, &progress)));
        theirs.push(run(buildx_bake(&scratch, &progress)));
    }
    compare("10 Dockerfile targets, no-op", median(ours), median(theirs), 0.5);

    // The Django example: spec in-process against its Dockerfile under buildx, cached.
    let django = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/django-tailwind");
    let bake = scratch.join("django-bake.hcl");
    let args = "PYTHON = \"leaven-test/python:3.11-bookworm\"\n    NODE = \"leaven-test/node:bookworm\"\n    PYTHONPATH = \"/usr/local/local/lib/python3.11/dist-packages\"";
    std::fs::write(
        &bake,
        format!(
            "target \"spec\" {{\n  context = \"{dir}\"\n  dockerfile = \"app.hcl\"\n  args = {{\n    {args}\n  }}\n  secret = [\"id=ca,src=/etc/ssl/certs/ca-certificates.crt\"]\n  tags = [\"leaven-bench/drive-django-spec\"]\n  output = [\"type=docker\"]\n}}\n\
             target \"dockerfile\" {{\n  context = \"{dir}\"\n  args = {{\n    {args}\n  }}\n  secret = [\"id=ca,src=/etc/ssl/certs/ca-certificates.crt\"]\n  tags = [\"leaven-bench/drive-django-dockerfile\"]\n  output = [\"type=docker\"]\n}}\n",
            dir = django.display()
        ),
    )
    .unwrap();
    let file = bake.display().to_string();
    run(leaven_bake(&scratch, &["-f", &file, "spec", "--progress", "quiet"]));
    run(buildx_bake(&scratch, &["-f", &file, "dockerfile", "--progress", "quiet"]));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        ours.push(run(leaven_bake(&scratch, &["-f", &file, "spec", "--progress", "quiet"])));
        theirs.push(run(buildx_bake(&scratch, &["-f", &file, "dockerfile", "--progress", "quiet"])));
    }
    compare("Django: spec in-process vs its Dockerfile, cached", median(ours), median(theirs), 1.0);
    let _ = std::fs::remove_dir_all(&scratch);
}
