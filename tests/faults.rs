//! Load and faults on real engines: 16 concurrent `docker build`s through the
//! frontend on Docker 28 sharing one cache mount, and an engine stopped in the
//! middle of a build, through the frontend and through `leaven bake`: the build
//! fails with a clear message, the next one succeeds, and nothing of leaven's
//! is left behind (no half-tagged image, no frontend process, no staging file).
//!
//! Runs without libtest so each check says which engine it ran on. A missing
//! engine is a failure, never a skip: `make test` provisions them.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{engines, expect, nonce, ok, provision, repo, run, stderr, tail, Engine, Report};

const BUILDS: usize = 16;

fn dir() -> PathBuf {
    repo().join("tests/faults")
}

fn spawn_build(engine: &Engine, spec_dir: &str, tag: &str, args: &[(&str, &str)]) -> Result<Child, String> {
    let mut cmd = Command::new(&engine.docker);
    cmd.args(["build", "-q", "-f", "app.hcl", "-t", tag]);
    for (k, v) in args {
        cmd.arg("--build-arg").arg(format!("{k}={v}"));
    }
    cmd.arg(".").current_dir(dir().join(spec_dir)).stdout(Stdio::null()).stderr(Stdio::piped());
    cmd.spawn().map_err(|e| format!("cannot run {}: {e}", engine.docker.display()))
}

fn finished(child: Child) -> Result<Output, String> {
    child.wait_with_output().map_err(|e| e.to_string())
}

fn load_checks(report: &mut Report, engine: &Engine) {
    let started = Instant::now();
    let children: Vec<Result<Child, String>> = (0..BUILDS)
        .map(|n| spawn_build(engine, "load", &format!("leaven-faults/load:{n}"), &[("N", &n.to_string())]))
        .collect();
    let outcomes: Vec<Result<Output, String>> = children.into_iter().map(|c| c.and_then(finished)).collect();
    let seconds = started.elapsed().as_secs_f64();
    report.check(engine, &format!("{BUILDS} concurrent docker builds through the frontend, one shared cache mount: all succeed ({seconds:.1} s)"), (|| {
        for (n, outcome) in outcomes.iter().enumerate() {
            let out = outcome.as_ref().map_err(|e| format!("build {n}: {e}"))?;
            if !out.status.success() {
                return Err(format!("build {n} exited {:?}:\n{}", out.status.code(), tail(&stderr(out))));
            }
        }
        Ok(())
    })());
    report.check(engine, &format!("each of the {BUILDS} images holds its own build arg"), (|| {
        for n in 0..BUILDS {
            let got = ok(&engine.docker, &["run", "--rm", &format!("leaven-faults/load:{n}")], &repo(), &[])?;
            if got != n.to_string() {
                return Err(format!("leaven-faults/load:{n} says {got:?}"));
            }
        }
        Ok(())
    })());
}

/// Processes whose command line holds `pattern`, as `pgrep -f` sees them.
fn processes(pattern: &str) -> usize {
    Command::new("pgrep")
        .args(["-c", "-f", pattern])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().parse().unwrap_or(0))
        .unwrap_or(0)
}

/// Starts a build of the slow spec, stops the engine once its step runs, waits
/// for the build to end, and starts the engines again.
fn interrupted(engine: &Engine, step: &str, build: impl FnOnce() -> Result<Child, String>) -> Result<Output, String> {
    let child = build()?;
    let deadline = Instant::now() + Duration::from_secs(90);
    while processes(step) == 0 {
        if Instant::now() > deadline {
            let _ = finished(child);
            return Err("the slow step never started".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let stopped = provision(&["stop", engine.tag]);
    let out = finished(child);
    provision(&[])?;
    stopped?;
    out
}

fn image_exists(engine: &Engine, image: &str) -> bool {
    run(&engine.docker, &["image", "inspect", image], &repo(), &[]).status.success()
}

/// What a stopped engine may leave of leaven's: the image tag, the frontend.
/// (Docker 20.10 leaves the step's own process running; that is the engine's.)
fn nothing_left(engine: &Engine, image: &str) -> Result<(), String> {
    if image_exists(engine, image) {
        return Err(format!("{image} was tagged by the interrupted build"));
    }
    // The frontend runs as `/leaven frontend` in a container of the engine.
    let frontends = processes("^/leaven frontend");
    if frontends > 0 {
        return Err(format!("{frontends} frontend processes outlived the engine"));
    }
    Ok(())
}

fn restart_checks(report: &mut Report, engine: &Engine) {
    let tag = "leaven-faults/slow-frontend:1";
    let _ = run(&engine.docker, &["rmi", "-f", tag], &repo(), &[]);
    let first = nonce();
    let out = interrupted(engine, "^sleep 47$", || spawn_build(engine, "slow", tag, &[("NONCE", &first), ("SLEEP", "47")]));
    report.check(engine, "docker build through the frontend, engine stopped mid-step: the build fails", (|| {
        let out = out?;
        if out.status.success() {
            return Err("the build succeeded".into());
        }
        Ok(())
    })());
    report.check(engine, "after the restart: no half-tagged image and no frontend process left", nothing_left(engine, tag));
    report.check(engine, "after the restart, the same build through the frontend succeeds", (|| {
        let again = nonce();
        let out = finished(spawn_build(engine, "slow", tag, &[("NONCE", &again), ("SLEEP", "0")])?)?;
        if !out.status.success() {
            return Err(format!("exit {:?}:\n{}", out.status.code(), tail(&stderr(&out))));
        }
        expect("the image", &ok(&engine.docker, &["run", "--rm", tag], &repo(), &[])?, &again)
    })());

    let tag = "leaven-faults/slow-driver:1";
    let _ = run(&engine.docker, &["rmi", "-f", tag], &repo(), &[]);
    let bake = |nonce: &str, sleep: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_leaven"));
        cmd.args(["bake", "--progress", "plain", "slow"])
            .current_dir(dir())
            .env("DOCKER_HOST", format!("unix:///run/leaven-test/docker-{}.sock", engine.tag))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("BUILDKIT_HOST")
            .env("NONCE", nonce)
            .env("SLEEP", sleep)
            .env("TAG", tag)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd.spawn().map_err(|e| e.to_string())
    };
    let first = nonce();
    let out = interrupted(engine, "^sleep 48$", || bake(&first, "48"));
    report.check(engine, "leaven bake, engine stopped mid-step: exit 1, naming the target and the lost engine", (|| {
        let out = out?;
        let text = stderr(&out);
        if out.status.code() != Some(1) {
            return Err(format!("exit {:?}:\n{}", out.status.code(), tail(&text)));
        }
        let last = text.lines().rev().find(|l| l.starts_with("ERROR")).unwrap_or_default();
        expect("the error", last, "slow")?;
        expect("the error", &text.to_lowercase(), "engine")
    })());
    report.check(engine, "after the restart: leaven bake left no half-tagged image and no frontend process", nothing_left(engine, tag));
    report.check(engine, "after the restart, the same leaven bake succeeds", (|| {
        let again = nonce();
        let out = finished(bake(&again, "0")?)?;
        if !out.status.success() {
            return Err(format!("exit {:?}:\n{}", out.status.code(), tail(&stderr(&out))));
        }
        expect("the image", &ok(&engine.docker, &["run", "--rm", tag], &repo(), &[])?, &again)
    })());
}

fn main() {
    let mut report = Report { passed: 0, failed: 0 };
    match engines() {
        Ok(engines) => {
            for engine in &engines {
                println!("engine: {} ({})", engine.label, engine.docker.display());
                if engine.modern {
                    load_checks(&mut report, engine);
                } else {
                    // Test programs run one after another, so stopping this engine
                    // disturbs no other test's build.
                    restart_checks(&mut report, engine);
                    // The steps the stopped engine left running.
                    let _ = Command::new("pkill").args(["-f", "^sleep 4[78]$"]).status();
                }
            }
        }
        Err(why) => {
            report.failed += 1;
            println!("FAIL  engines: {why}");
        }
    }
    report.finish("faults");
}
