//! End-to-end: `leaven bake` over a pool of two Docker 28 engines (docker-28,
//! classic image store, and docker-28c, containerd image store; docker-28d, a
//! second containerd-store engine, for the split checks): targets are
//! spread over both, a registry cache written on one node is a hit on
//! another containerd-store node, and a node that goes away mid-run fails its targets with its name, or
//! with `--retry-on-other-node` they are built on the other node. And a spec
//! built for two platforms at once, by `leaven bake` and through the frontend;
//! and targets whose platforms span nodes, split per platform and joined.
//!
//! `cargo test --test pool -- NAME…` runs only the groups named (spread,
//! shared-cache, lost-node, multi-platform, split).
//!
//! Runs without libtest so each check prints what it checked. A missing engine
//! is a failure, never a skip: `make test` provisions them.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{expect, ok, provision, repo, stderr, tail, Report};

const NODE_A: &str = "a=unix:///run/leaven-test/docker-28.sock";
const NODE_B: &str = "b=unix:///run/leaven-test/docker-28c.sock";

fn engines_dir() -> PathBuf {
    PathBuf::from(std::env::var("LEAVEN_ENGINES").unwrap_or_else(|_| "/var/lib/leaven-engines".into()))
}

fn docker(tag: &str) -> PathBuf {
    engines_dir().join("bin").join(format!("docker-{tag}"))
}

fn bake(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leaven"));
    cmd.arg("bake").args(args).current_dir(repo().join("tests/pool"));
    cmd.env_remove("DOCKER_CONTEXT").env_remove("BUILDKIT_HOST").env_remove("DOCKER_HOST");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap_or_else(|e| panic!("cannot run leaven: {e}"))
}

/// The summary lines (`leaven: t3  built  1.2s  on b`) by target.
fn summary(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("leaven: "))
        .filter_map(|l| l.split_once(' ').map(|(name, rest)| (name.to_string(), rest.to_string())))
        .collect()
}

/// Which node the summary says a target ran on.
fn node_of(text: &str, target: &str) -> Option<String> {
    summary(text).into_iter().find(|(n, _)| n == target).and_then(|(_, rest)| rest.split_once(" on ").map(|(_, node)| node.split_whitespace().next().unwrap_or_default().to_string()))
}

fn config(tag: &str, image: &str) -> Result<serde_json::Value, String> {
    let json = ok(&docker(tag), &["image", "inspect", image, "--format", "{{json .Config}}"], &repo(), &[])?;
    serde_json::from_str(&json).map_err(|e| format!("{image}: {e}"))
}

fn check(report: &mut Report, what: &str, result: Result<(), String>) {
    let engine = common::Engine { label: "pool docker-28 + docker-28c".into(), docker: docker("28"), modern: true, tag: "28" };
    report.check(&engine, what, result);
}

fn spread_checks(report: &mut Report) {
    let run = bake(&["--node", NODE_A, "--node", NODE_B, "--progress", "plain", "--no-cache"], &[("PREFIX", "leaven-pool")]);
    let text = stderr(&run);
    let built = if run.status.success() { Ok(()) } else { Err(format!("exit {:?}:\n{}", run.status.code(), tail(&text))) };
    let is_built = built.is_ok();
    check(report, "8 targets over a pool of two engines build", built);
    if !is_built {
        return;
    }
    check(report, "both nodes build targets, and each has the images it built", (|| {
        let mut on_a = Vec::new();
        let mut on_b = Vec::new();
        for i in 0..8 {
            let target = format!("t{i}");
            match node_of(&text, &target).as_deref() {
                Some("a") => on_a.push(target),
                Some("b") => on_b.push(target),
                other => return Err(format!("{target} ran on {other:?}:\n{}", tail(&text))),
            }
        }
        if on_a.is_empty() || on_b.is_empty() {
            return Err(format!("a built {on_a:?}, b built {on_b:?}"));
        }
        for (tag, targets) in [("28", &on_a), ("28c", &on_b)] {
            for target in targets {
                let out = ok(&docker(tag), &["run", "--rm", &format!("leaven-pool/{target}:1")], &repo(), &[])?;
                expect(target, &out, &format!("target {}", &target[1..]))?;
            }
        }
        Ok(())
    })());
    check(report, "the images are the same as one node builds", (|| {
        let single = bake(&["--progress", "quiet"], &[("PREFIX", "leaven-single"), ("DOCKER_HOST", "unix:///run/leaven-test/docker-28c.sock")]);
        if !single.status.success() {
            return Err(tail(&stderr(&single)));
        }
        for i in 0..8 {
            let on = if node_of(&text, &format!("t{i}")).as_deref() == Some("a") { "28" } else { "28c" };
            let pooled = config(on, &format!("leaven-pool/t{i}:1"))?;
            let alone = config("28c", &format!("leaven-single/t{i}:1"))?;
            if pooled != alone {
                return Err(format!("t{i}: pool {pooled} vs one node {alone}"));
            }
        }
        Ok(())
    })());
}

/// `--share-cache`: the node with the containerd store exports each target's
/// cache to the registry; another containerd-store node (docker-28d, pruned)
/// builds the same target from it. The classic-store node imports it too, but
/// the engine keys a local image's layers differently from a pulled one's, so
/// there a hit is not promised (plain `docker buildx build --cache-from` misses
/// the same way): what it gives is printed as a note.
fn shared_cache_checks(report: &mut Report) {
    let cache = "127.0.0.1:25000/leaven-pool/cache";
    let run = bake(&["--node", NODE_A, "--node", NODE_B, "--progress", "plain", "--no-cache", "--share-cache", cache], &[("PREFIX", "leaven-shared")]);
    let text = stderr(&run);
    let pushed = if run.status.success() { Ok(()) } else { Err(tail(&text)) };
    let is_pushed = pushed.is_ok();
    check(report, "a pool run with --share-cache builds and exports the caches", pushed);
    if !is_pushed {
        return;
    }
    let Some(target) = (0..8).map(|i| format!("t{i}")).find(|t| node_of(&text, t).as_deref() == Some("b")) else {
        check(report, "a target built on b is CACHED on the pruned node docker-28d", Err("no target ran on b".to_string()));
        return;
    };
    check(report, "a target built on b is CACHED on the pruned node docker-28d", run_step_cached(&target, "28d", cache));
    match run_step_cached(&target, "28", cache) {
        Ok(()) => println!("note  the classic-store node a also found {target}'s RUN step in the shared cache"),
        Err(why) => println!("note  the classic-store node a imported the shared cache but rebuilt {target}'s RUN step ({})", why.lines().next().unwrap_or_default()),
    }
}

/// Builds `target` alone on engine `tag` after removing its image and pruning
/// the engine's build cache, importing `cache`: Ok when its RUN step is CACHED.
fn run_step_cached(target: &str, tag: &str, cache: &str) -> Result<(), String> {
    let image = format!("leaven-shared/{target}:1");
    let _ = ok(&docker(tag), &["image", "rm", "-f", &image], &repo(), &[]);
    ok(&docker(tag), &["builder", "prune", "-af"], &repo(), &[])?;
    let host = format!("unix:///run/leaven-test/docker-{tag}.sock");
    let again = bake(&[target, "--progress", "plain", "--share-cache", cache], &[("PREFIX", "leaven-shared"), ("DOCKER_HOST", host.as_str())]);
    let out = stderr(&again);
    if !again.status.success() {
        return Err(tail(&out));
    }
    let lines: Vec<&str> = out.lines().collect();
    let run_step = lines.iter().position(|l| l.contains("] RUN echo")).ok_or_else(|| format!("no RUN step:\n{}", tail(&out)))?;
    let number = lines[run_step].split_whitespace().next().unwrap_or_default();
    if lines.iter().any(|l| *l == format!("{number} CACHED")) { Ok(()) } else { Err(format!("the RUN step was not CACHED:\n{}", tail(&out))) }
}

/// Stops docker-28c once its part of a slow run is running, runs `leaven bake`
/// with `extra` flags, and starts docker-28c again.
fn run_losing_b(extra: &[&str]) -> Result<Output, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leaven"));
    cmd.args(["bake", "t0", "t1", "t2", "t3", "--node", NODE_A, "--node", NODE_B, "--progress", "plain", "--no-cache"])
        .args(extra)
        .current_dir(repo().join("tests/pool"))
        .env("PREFIX", "leaven-lost")
        .env("PAUSE", "20")
        .env_remove("DOCKER_HOST")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| e.to_string())?;
    // Both nodes are running steps once four `sleep 20` processes are there.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let count = Command::new("pgrep").args(["-c", "-f", "^sleep 20$"]).output().map(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<usize>().unwrap_or(0)).unwrap_or(0);
        if count >= 4 {
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let stopped = provision(&["stop", "28c"]);
    let out = child.wait_with_output().map_err(|e| e.to_string());
    provision(&[])?;
    stopped?;
    out
}

fn lost_node_checks(report: &mut Report) {
    check(report, "a node stopped mid-run: the run fails, naming it", (|| {
        let out = run_losing_b(&[])?;
        let text = stderr(&out);
        if out.status.code() != Some(1) {
            return Err(format!("exit {:?}:\n{}", out.status.code(), tail(&text)));
        }
        expect("names the node", &text, "node b went away")
    })());
    check(report, "a node stopped mid-run with --retry-on-other-node: every target is built on the other", (|| {
        let out = run_losing_b(&["--retry-on-other-node"])?;
        let text = stderr(&out);
        if !out.status.success() {
            return Err(format!("exit {:?}:\n{}", out.status.code(), tail(&text)));
        }
        expect("says so", &text, "went away")?;
        for i in 0..4 {
            let node = node_of(&text, &format!("t{i}"));
            if node.as_deref() != Some("a") {
                return Err(format!("t{i} ended on {node:?}:\n{}", tail(&text)));
            }
        }
        Ok(())
    })());
}

/// The pushed index has linux/amd64 and linux/arm64, each config its own architecture.
fn both_platforms(image: &str) -> Result<(), String> {
    let raw = ok(&docker("28c"), &["buildx", "imagetools", "inspect", "--raw", image], &repo(), &[])?;
    let index: serde_json::Value = serde_json::from_str(&raw).map_err(|e| e.to_string())?;
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["platform"]["architecture"].as_str().map(str::to_string))
        .collect();
    if !(platforms.contains(&"amd64".to_string()) && platforms.contains(&"arm64".to_string())) {
        return Err(format!("platforms in the index: {platforms:?}"));
    }
    for arch in ["amd64", "arm64"] {
        let format = format!("{{{{json (index .Image \"linux/{arch}\").Architecture}}}}");
        let got = ok(&docker("28c"), &["buildx", "imagetools", "inspect", image, "--format", &format], &repo(), &[])?;
        expect(&format!("linux/{arch} config"), &got, &format!("\"{arch}\""))?;
    }
    Ok(())
}

/// Pulled from the registry, the image prints aarch64 as linux/arm64 (under emulation) and x86_64 as linux/amd64.
fn runs_as_each_platform(image: &str) -> Result<(), String> {
    for (platform, machine) in [("linux/arm64", "aarch64"), ("linux/amd64", "x86_64")] {
        let out = ok(&docker("28c"), &["run", "--rm", "--pull", "always", "--platform", platform, image], &repo(), &[])?;
        expect(platform, &out, machine)?;
    }
    Ok(())
}

/// A spec with two platforms: one image index with both, each config its own
/// architecture; where emulation works, the arm64 image runs and says aarch64.
fn multi_platform_checks(report: &mut Report) {
    let emulation = std::path::Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists();
    let spec = if emulation { "app.hcl" } else { "no-run.hcl" };
    if !emulation {
        println!("note  no arm64 emulation here (binfmt_misc has no qemu-aarch64): the two-platform spec has no run step");
    }
    let vars = [("PREFIX", "leaven-multi"), ("MULTI_SPEC", spec), ("DOCKER_HOST", "unix:///run/leaven-test/docker-28c.sock")];
    let run = bake(&["multi", "--progress", "plain"], &vars);
    let built = if run.status.success() { Ok(()) } else { Err(tail(&stderr(&run))) };
    let is_built = built.is_ok();
    check(report, "leaven bake builds a spec for linux/amd64 and linux/arm64 and pushes it", built);
    let pushed = "127.0.0.1:25000/leaven-multi/multi:1";
    let index_checks = |report: &mut Report, image: &str, how: &str| {
        check(report, &format!("{how}: the pushed index has both platforms, each config its own architecture"), both_platforms(image));
        if emulation {
            check(report, &format!("{how}: docker run --platform linux/arm64 prints aarch64, linux/amd64 x86_64"), runs_as_each_platform(image));
        }
    };
    if is_built {
        index_checks(report, pushed, "leaven bake");
    }
    let through_frontend = "127.0.0.1:25000/leaven-multi/frontend:1";
    let dir = repo().join("tests/pool/multi");
    let frontend = ok(
        &docker("28c"),
        &["buildx", "build", "--platform", "linux/amd64,linux/arm64", "-f", spec, "-t", through_frontend, "--push", "."],
        &dir,
        &[],
    );
    let is_built = frontend.is_ok();
    check(report, "docker buildx build --platform linux/amd64,linux/arm64 through the leaven frontend", frontend.map(drop));
    if is_built {
        index_checks(report, through_frontend, "the frontend");
    }
    check(report, "two platforms on the classic image store are refused before building", (|| {
        let classic = bake(&["multi"], &[("PREFIX", "leaven-multi"), ("MULTI_SPEC", spec), ("DOCKER_HOST", "unix:///run/leaven-test/docker-28.sock")]);
        let text = stderr(&classic);
        if classic.status.success() {
            return Err("it built".into());
        }
        expect("error", &text, "building for several platforms (linux/amd64, linux/arm64) needs an engine that can")
    })());
}

/// Two nodes that each declare one platform: a target for both is split, each
/// part pushed by digest, and the parts joined into one index under its tags.
/// The nodes are docker-28c and docker-28d, the engines here whose image store
/// can push by digest (the classic store cannot, as the last checks show).
fn split_checks(report: &mut Report) {
    let amd = "a=unix:///run/leaven-test/docker-28c.sock,platforms=linux/amd64";
    let arm = "b=unix:///run/leaven-test/docker-28d.sock,platforms=linux/arm64";
    let engine = common::Engine { label: "pool docker-28c + docker-28d".into(), docker: docker("28c"), modern: true, tag: "28c" };
    let check = |report: &mut Report, what: &str, result: Result<(), String>| report.check(&engine, what, result);
    let dir = std::env::temp_dir().join(format!("leaven-split-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let metadata = dir.join("metadata.json");
    let metadata_arg = metadata.to_string_lossy().into_owned();
    let started = Instant::now();
    let run = bake(
        &["split", "multi", "--node", amd, "--node", arm, "--progress", "plain", "--no-cache", "--metadata-file", &metadata_arg],
        &[("PREFIX", "leaven-test/split"), ("MULTI_SPEC", "app.hcl")],
    );
    let text = stderr(&run);
    println!("note  the split run took {:.1}s", started.elapsed().as_secs_f64());
    let built = if run.status.success() { Ok(()) } else { Err(format!("exit {:?}:\n{}", run.status.code(), tail(&text))) };
    let is_built = built.is_ok();
    check(report, "a Dockerfile target and a spec for linux/amd64 + linux/arm64 over nodes that each build one: split and built", built);
    if !is_built {
        return;
    }
    for target in ["split", "multi"] {
        let image = format!("127.0.0.1:25000/leaven-test/split/{target}:1");
        check(report, &format!("{target}: the summary says where each platform ran"), (|| {
            let line = summary(&text).into_iter().find(|(n, _)| n == target).map(|(_, rest)| rest).ok_or_else(|| tail(&text))?;
            expect("summary", &line, "on a (linux/amd64), b (linux/arm64)")
        })());
        check(report, &format!("{target}: the joined index has both platforms, each config its own architecture, and its digest is the metadata's"), (|| {
            both_platforms(&image)?;
            let digest = ok(&docker("28c"), &["buildx", "imagetools", "inspect", &image, "--format", "{{json .Manifest.Digest}}"], &repo(), &[])?;
            let written: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&metadata).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
            let entry = &written[target];
            expect("metadata digest", &digest, entry["containerimage.digest"].as_str().unwrap_or("(none)"))?;
            if entry["leaven.nodes"] != serde_json::json!({ "linux/amd64": "a", "linux/arm64": "b" }) {
                return Err(format!("leaven.nodes in the metadata: {}", entry["leaven.nodes"]));
            }
            Ok(())
        })());
        check(report, &format!("{target}: docker run --platform linux/arm64 prints aarch64, linux/amd64 x86_64"), runs_as_each_platform(&image));
    }
    check(report, "every tag of a split target names the joined index", (|| {
        let one = ok(&docker("28c"), &["buildx", "imagetools", "inspect", "127.0.0.1:25000/leaven-test/split/split:1", "--format", "{{json .Manifest.Digest}}"], &repo(), &[])?;
        let latest = ok(&docker("28c"), &["buildx", "imagetools", "inspect", "127.0.0.1:25000/leaven-test/split/split:latest", "--format", "{{json .Manifest.Digest}}"], &repo(), &[])?;
        if one == latest { Ok(()) } else { Err(format!(":1 is {one}, :latest is {latest}")) }
    })());
    let _ = std::fs::remove_dir_all(&dir);
    check(report, "a split target with provenance keeps each part's attestation manifest in the joined index", (|| {
        let out = bake(
            &["split", "--node", amd, "--node", arm, "--progress", "quiet", "--set", "split.attest=type=provenance,mode=min"],
            &[("PREFIX", "leaven-test/split-attest")],
        );
        if !out.status.success() {
            return Err(tail(&stderr(&out)));
        }
        let raw = ok(&docker("28c"), &["buildx", "imagetools", "inspect", "--raw", "127.0.0.1:25000/leaven-test/split-attest/split:1"], &repo(), &[])?;
        let index: serde_json::Value = serde_json::from_str(&raw).map_err(|e| e.to_string())?;
        let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
        let attestations = manifests.iter().filter(|m| m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest").count();
        if attestations != 2 || manifests.len() != 4 {
            return Err(format!("{attestations} attestation manifests of {} in {raw}", manifests.len()));
        }
        Ok(())
    })());

    check(report, "a split that needs the classic image store to push by digest is refused before building, naming the target and nodes", (|| {
        let classic = "a=unix:///run/leaven-test/docker-28.sock,platforms=linux/amd64";
        let out = bake(&["split", "--node", classic, "--node", arm], &[("PREFIX", "leaven-test/split")]);
        let text = stderr(&out);
        if out.status.success() {
            return Err("it built".into());
        }
        expect("error", &text, "target \"split\": its platforms span nodes (linux/amd64 on a; linux/arm64 on b)")?;
        expect("why", &text, "has the classic image store, which cannot push by digest")?;
        if text.contains("#1 ") { Err(format!("something was built:\n{}", tail(&text))) } else { Ok(()) }
    })());
    check(report, "a split target whose output cannot be joined (a load) is refused before building", (|| {
        let out = bake(&["split", "--node", amd, "--node", arm, "--set", "split.output=type=docker"], &[("PREFIX", "leaven-test/split")]);
        let text = stderr(&out);
        if out.status.success() {
            return Err("it built".into());
        }
        expect("error", &text, "target \"split\": its platforms span nodes (linux/amd64 on a; linux/arm64 on b), which only a registry push")?;
        expect("why", &text, "its output is type=docker")
    })());
}

/// A group of checks, run by name.
type Checks = fn(&mut Report);

fn main() {
    let mut report = Report { passed: 0, failed: 0 };
    for tag in ["28", "28c", "28d"] {
        if let Err(why) = ok(&docker(tag), &["version", "--format", "{{.Server.Version}}"], &repo(), &[]) {
            println!("FAIL  engine docker-{tag} is not running; run `make engines`\n      {why}");
            std::process::exit(1);
        }
    }
    let wanted: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let groups: [(&str, Checks); 5] = [
        ("spread", spread_checks),
        ("shared-cache", shared_cache_checks),
        ("lost-node", lost_node_checks),
        ("multi-platform", multi_platform_checks),
        ("split", split_checks),
    ];
    for (name, checks) in groups {
        if wanted.is_empty() || wanted.iter().any(|w| w == name) {
            checks(&mut report);
        }
    }
    report.finish("pool");
}
