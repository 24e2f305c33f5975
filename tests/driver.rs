//! End-to-end: `leaven bake` building `tests/driver/docker-bake.hcl` over the
//! control API on both test engines (Docker 20.10 and 28.x), through each
//! transport (unix socket with the `/session` upgrade, `Control.Session`, TCP
//! with mutual TLS), and `docker buildx bake` on the same file for comparison.
//!
//! Runs without libtest so each check says which engine it ran on. A missing
//! engine is a failure, never a skip: `make test` provisions them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{engines, expect, ok, repo, saved_image_contains, tail, Engine, Report};

/// The environment variable the bake file's `envtok` secret reads.
const ENV_SECRET: &str = "an-environment-s3cr3t";

fn dir() -> PathBuf {
    repo().join("tests/driver")
}

fn leaven() -> &'static str {
    env!("CARGO_BIN_EXE_leaven")
}

fn socket(engine: &Engine) -> String {
    format!("unix:///run/leaven-test/docker-{}.sock", engine.tag)
}

/// An SSH agent holding one key, for the bake file's `ssh = ["default"]`.
struct Agent {
    socket: PathBuf,
    pid: String,
}

impl Agent {
    fn start(scratch: &Path) -> Result<Agent, String> {
        let socket = scratch.join("agent.sock");
        let _ = std::fs::remove_file(&socket);
        let key = scratch.join("key");
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(key.with_extension("pub"));
        let sh = |script: &str, env: &[(&str, &str)]| -> Result<String, String> {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(script);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let out = cmd.output().map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!("`{script}`: {}", String::from_utf8_lossy(&out.stderr)));
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let started = sh(&format!("ssh-agent -a {} -s", socket.display()), &[])?;
        let pid = started
            .split(';')
            .find_map(|part| part.trim().strip_prefix("SSH_AGENT_PID="))
            .ok_or_else(|| format!("ssh-agent said: {started}"))?
            .to_string();
        sh(&format!("ssh-keygen -q -t ed25519 -N '' -C leaven-e2e-key -f {}", key.display()), &[])?;
        let sock = socket.display().to_string();
        sh(&format!("ssh-add -q {}", key.display()), &[("SSH_AUTH_SOCK", &sock)])?;
        Ok(Agent { socket, pid })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(&self.pid).status();
    }
}

/// How `leaven bake` reaches the engine in one pass of the checks.
struct Route {
    label: &'static str,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

fn routes(engine: &Engine) -> Vec<Route> {
    let mut routes = vec![Route { label: "unix socket, /session upgrade", env: vec![("DOCKER_HOST".into(), socket(engine))], args: vec![] }];
    routes.push(Route {
        label: "unix socket, Control.Session",
        env: vec![("DOCKER_HOST".into(), socket(engine))],
        args: vec!["--session-transport".into(), "control".into()],
    });
    if engine.modern {
        let certs = std::env::var("LEAVEN_ENGINES").unwrap_or_else(|_| "/var/lib/leaven-engines".into()) + "/tls/client";
        routes.push(Route {
            label: "tcp://127.0.0.1:23760 with mutual TLS",
            env: vec![
                ("DOCKER_HOST".into(), "tcp://127.0.0.1:23760".into()),
                ("DOCKER_TLS_VERIFY".into(), "1".into()),
                ("DOCKER_CERT_PATH".into(), certs),
            ],
            args: vec![],
        });
    }
    routes
}

/// Runs `leaven bake` in tests/driver with the route's environment.
fn bake(route: &Route, agent: &Agent, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(leaven());
    cmd.arg("bake").args(&route.args).args(args).current_dir(dir());
    cmd.env_remove("DOCKER_CONTEXT").env_remove("BUILDKIT_HOST");
    cmd.env("SSH_AUTH_SOCK", &agent.socket).env("LEAVEN_TEST_TOKEN", ENV_SECRET);
    for (k, v) in &route.env {
        cmd.env(k, v);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap_or_else(|e| panic!("cannot run leaven: {e}"))
}

fn succeeded(out: &Output) -> Result<String, String> {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(stderr)
    } else {
        Err(format!("leaven bake exited {:?}:\n{}", out.status.code(), tail(&stderr)))
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

fn run_image(engine: &Engine, image: &str) -> Result<String, String> {
    ok(&engine.docker, &["run", "--rm", image], &repo(), &[])
}

fn shell(engine: &Engine, image: &str, script: &str) -> Result<String, String> {
    ok(&engine.docker, &["run", "--rm", "--entrypoint", "sh", image, "-c", script], &repo(), &[])
}

/// The image config, without what differs from build to build.
fn config_of(engine: &Engine, image: &str) -> Result<serde_json::Value, String> {
    let json = ok(&engine.docker, &["image", "inspect", image, "--format", "{{json .Config}}"], &repo(), &[])?;
    serde_json::from_str(&json).map_err(|e| format!("{image}: {e}"))
}

fn build_checks(report: &mut Report, engine: &Engine, route: &Route, agent: &Agent, prefix: &str) {
    let out_dir = dir().join("out").join(prefix.replace('/', "_"));
    let _ = std::fs::remove_dir_all(&out_dir);
    let out_var = out_dir.display().to_string();
    let vars = [("PREFIX", prefix), ("OUT", out_var.as_str())];
    let mut targets = vec!["default"];
    if engine.modern {
        targets.push("modern");
    }
    let what = |w: &str| format!("{}: {w}", route.label);
    let metadata = out_dir.with_extension("metadata.json");
    let metadata_arg = metadata.display().to_string();
    let built = succeeded(&bake(route, agent, &[&targets[..], &["--progress", "plain", "--metadata-file", &metadata_arg]].concat(), &vars));
    let is_built = built.is_ok();
    report.check(engine, &what("leaven bake builds the Dockerfile, spec, linked and file-output targets"), built.map(drop));
    if !is_built {
        return;
    }
    let image = |name: &str, tag: &str| format!("{prefix}/{name}:{tag}");
    report.check(engine, &what("--load tags the image with both tags; it runs its cmd"), (|| {
        expect("web:1", &run_image(engine, &image("web", "1"))?, "a message from the web target")?;
        expect("web:latest", &run_image(engine, &image("web", "latest"))?, "a message from the web target")
    })());
    report.check(engine, &what("secrets from a file and from the environment reached the step"), (|| {
        let sums = shell(engine, &image("web", "1"), "cat /srv/secrets.sha256")?;
        let file = std::fs::read(dir().join("secret.txt")).map_err(|e| e.to_string())?;
        expect("file secret", &sums, &sha256_hex(&file))?;
        expect("env secret", &sums, &sha256_hex(ENV_SECRET.as_bytes()))
    })());
    report.check(engine, &what("the ssh mount reached the client's agent and its key"), (|| {
        expect("agent", &shell(engine, &image("web", "1"), "cat /srv/agent.txt")?, "1 leaven-e2e-key")
    })());
    report.check(engine, &what("the secrets are nowhere in the saved image: layers, config, history"), (|| {
        let file_secret = std::fs::read_to_string(dir().join("secret.txt")).map_err(|e| e.to_string())?;
        // A file the image does hold, so that the search is known to see into layers.
        let known = "a message from the web target";
        let found = saved_image_contains(engine, &image("web", "1"), &[known, file_secret.trim(), ENV_SECRET])?;
        if found != [known] {
            return Err(format!("of {known:?} and the two secrets, the saved image holds {found:?}"));
        }
        Ok(())
    })());
    report.check(engine, &what("build args reach the Dockerfile"), (|| {
        expect("greeting", &shell(engine, &image("web", "1"), "cat /srv/greeting")?, "hello from bake")
    })());
    report.check(engine, &what("the spec target is compiled in-process and runs as its user"), (|| {
        expect("cmd", &run_image(engine, &image("app", "1"))?, "hello from the app spec")?;
        expect("id", &shell(engine, &image("app", "latest"), "id -un; stat -c %U /app/hello.txt")?, "app\napp")
    })());
    report.check(engine, &what("a spec target builds on the spec target through target: contexts"), (|| {
        expect("extra", &run_image(engine, &image("extra", "1"))?, "hello from the app spec\napp")
    })());
    if engine.modern {
        report.check(engine, &what("a Dockerfile target builds FROM the linked spec target, with local and image named contexts"), (|| {
            let out = run_image(engine, &image("extra-df", "1"))?;
            expect("extra-df", &out, "hello from the app spec")?;
            expect("named local context", &out, "a note from a named local context")?;
            expect("docker-image:// context", &out, "from a docker-image:// named context")
        })());
    }
    if engine.modern {
        report.check(engine, &what("a spec step got both secrets and the agent; none of the secrets is in the saved image"), vault_check(engine, &image("vault", "1")));
        report.check(engine, &what("one build with two file outputs writes both"), (|| {
            let message = std::fs::read_to_string(out_dir.join("both-dir/srv/message.txt")).map_err(|e| format!("both-dir: {e}"))?;
            expect("local output", &message, "a message from the web target")?;
            let listing = Command::new("tar").arg("-tf").arg(out_dir.join("both.tar")).output().map_err(|e| e.to_string())?;
            expect("tar output", &String::from_utf8_lossy(&listing.stdout), "srv/message.txt")
        })());
    }
    report.check(engine, &what("a Dockerfile's own # syntax= line is honoured"), (|| {
        expect("syntaxed", &run_image(engine, &image("syntaxed", "1"))?, "built by the frontend the syntax line names")
    })());
    report.check(engine, &what("--metadata-file has each target's image digest and build ref; identical targets built once"), (|| {
        let text = std::fs::read_to_string(&metadata).map_err(|e| format!("{}: {e}", metadata.display()))?;
        let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let web = &doc["web"];
        if !web["containerimage.digest"].as_str().is_some_and(|d| d.starts_with("sha256:")) {
            return Err(format!("web has no image digest: {web}"));
        }
        let build_ref = |t: &str| doc[t]["buildx.build.ref"].as_str().map(str::to_string);
        if build_ref("web").is_none() || build_ref("web") != build_ref("web-again") {
            return Err(format!("build refs: web {:?}, web-again {:?}", build_ref("web"), build_ref("web-again")));
        }
        Ok(())
    })());
    report.check(engine, &what("type=local and type=tar outputs hold the image's files, nothing partial left"), (|| {
        let message = std::fs::read_to_string(out_dir.join("web-dir/srv/message.txt")).map_err(|e| format!("web-dir: {e}"))?;
        expect("local output", &message, "a message from the web target")?;
        let listing = Command::new("tar").arg("-tf").arg(out_dir.join("web.tar")).output().map_err(|e| e.to_string())?;
        expect("tar output", &String::from_utf8_lossy(&listing.stdout), "srv/message.txt")?;
        let left: Vec<String> = std::fs::read_dir(&out_dir)
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.contains("leaven"))
            .collect();
        if left.is_empty() { Ok(()) } else { Err(format!("staging files left: {left:?}")) }
    })());
}

/// The vault spec target's image: its step saw the file secret, the environment
/// secret and the agent (their digests and the agent's answer are in the image),
/// and `docker save` holds neither secret anywhere, with a positive control.
fn vault_check(engine: &Engine, image: &str) -> Result<(), String> {
    let file_secret = std::fs::read_to_string(dir().join("secret.txt")).map_err(|e| e.to_string())?;
    let seen = run_image(engine, image)?;
    expect("file secret", &seen, &sha256_hex(file_secret.as_bytes()))?;
    expect("env secret", &seen, &sha256_hex(ENV_SECRET.as_bytes()))?;
    expect("agent", &seen, "1 leaven-e2e-key")?;
    let known = "leaven-e2e-key";
    let found = saved_image_contains(engine, image, &[known, file_secret.trim(), ENV_SECRET])?;
    if found != [known] {
        return Err(format!("of {known:?} and the two secrets, the saved image holds {found:?}"));
    }
    Ok(())
}

/// `docker buildx bake` on the same file: the images' configs must match leaven's.
fn buildx_comparison(report: &mut Report, engine: &Engine, agent: &Agent) {
    let sock = agent.socket.display().to_string();
    let env = [("PREFIX", "buildx-drive"), ("SSH_AUTH_SOCK", sock.as_str()), ("LEAVEN_TEST_TOKEN", ENV_SECRET), ("OUT", "out/buildx")];
    let built = ok(&engine.docker, &["buildx", "bake", "--allow=ssh", "--progress", "plain", "web", "app", "vault"], &dir(), &env);
    let is_built = built.is_ok();
    report.check(engine, "docker buildx bake builds web, app and vault from the same file", built.map(drop));
    if !is_built {
        return;
    }
    report.check(engine, "through the leaven:dev frontend, a spec step got both secrets and the agent; none is in the saved image", vault_check(engine, "buildx-drive/vault:1"));
    for name in ["web", "app"] {
        report.check(engine, &format!("{name}: same image config from leaven bake and docker buildx bake"), (|| {
            let ours = config_of(engine, &format!("leaven-drive-{}/{name}:1", engine.tag))?;
            let theirs = config_of(engine, &format!("buildx-drive/{name}:1"))?;
            if ours == theirs { Ok(()) } else { Err(format!("leaven: {ours}\nbuildx: {theirs}")) }
        })());
    }
}

fn failure_checks(report: &mut Report, engine: &Engine, agent: &Agent) {
    let route = &routes(engine)[0];
    let prefix = format!("leaven-drive-{}", engine.tag);
    let vars = [("PREFIX", prefix.as_str())];
    report.check(engine, "a failing spec step: exit 1, the target, the step and the spec line", (|| {
        let out = bake(route, agent, &["broken", "--progress", "plain"], &vars);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(1) {
            return Err(format!("exit {:?}:\n{}", out.status.code(), tail(&stderr)));
        }
        expect("target", &stderr, "target broken")?;
        expect("step", &stderr, "run echo about to fail && exit 3")?;
        expect("spec line", &stderr, "app.hcl:6:3")?;
        expect("step output", &stderr, "about to fail")
    })());
    report.check(engine, "--keep-going builds the other targets and lists the failed one", (|| {
        let out = bake(route, agent, &["broken", "app", "--keep-going", "--progress", "plain"], &vars);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(1) {
            return Err(format!("exit {:?}:\n{}", out.status.code(), tail(&stderr)));
        }
        expect("summary of app", &stderr, "leaven: app")?;
        let app_line = stderr.lines().find(|l| l.starts_with("leaven: app")).unwrap_or_default();
        if !(app_line.contains("built") || app_line.contains("cached")) {
            return Err(format!("app was not built: {app_line}"));
        }
        let broken_line = stderr.lines().find(|l| l.starts_with("leaven: broken")).unwrap_or_default();
        expect("broken failed", broken_line, "failed")
    })());
    report.check(engine, "a push to an unreachable registry fails that target only (--keep-going)", (|| {
        let out = bake(route, agent, &["unreachable", "app", "--keep-going", "--progress", "plain"], &vars);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(1) {
            return Err(format!("exit {:?}:\n{}", out.status.code(), tail(&stderr)));
        }
        let line = |name: &str| stderr.lines().find(|l| l.starts_with(&format!("leaven: {name} "))).unwrap_or_default().to_string();
        expect("unreachable failed", &line("unreachable"), "failed")?;
        expect("names the push", &stderr, "127.0.0.1:9")?;
        let app = line("app");
        if app.contains("built") || app.contains("cached") { Ok(()) } else { Err(format!("app: {app}")) }
    })());
    report.check(engine, "a missing secret file names the target and its bake file position, before building", (|| {
        let out = bake(route, agent, &["web", "--set", "web.secrets=id=token,src=does-not-exist.txt"], &vars);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return Err("it built".into());
        }
        expect("error", &stderr, "docker-bake.hcl:29:8: target \"web\": secret token: the file")?;
        expect("error", &stderr, "does-not-exist.txt does not exist")
    })());
    report.check(engine, "an unreachable engine names the address and how it was chosen", (|| {
        let gone = Route { label: "", env: vec![("DOCKER_HOST".into(), "unix:///run/leaven-test/nothing-here.sock".into())], args: vec![] };
        let out = bake(&gone, agent, &["app"], &vars);
        let stderr = String::from_utf8_lossy(&out.stderr);
        expect("error", &stderr, "unix:///run/leaven-test/nothing-here.sock")?;
        expect("error", &stderr, "DOCKER_HOST")
    })());
}

/// Push with an inline cache, prune, and build again from the registry: the step is a cache hit.
fn cache_checks(report: &mut Report, engine: &Engine, agent: &Agent) {
    let route = &routes(engine)[0];
    let prefix = format!("leaven-drive-{}", engine.tag);
    let vars = [("PREFIX", prefix.as_str())];
    let pushed = succeeded(&bake(route, agent, &["cached", "--progress", "plain"], &vars));
    let is_pushed = pushed.is_ok();
    report.check(engine, "push to the local registry", pushed.map(drop));
    if !is_pushed {
        return;
    }
    report.check(engine, "after pruning, a cache-from of the registry reuses the steps", (|| {
        let reference = format!("127.0.0.1:25000/{prefix}/cached:1");
        let stamp = shell(engine, &reference, "cat /stamp");
        ok(&engine.docker, &["image", "rm", "-f", &reference], &repo(), &[])?;
        ok(&engine.docker, &["builder", "prune", "-af"], &repo(), &[])?;
        let out = succeeded(&bake(route, agent, &["cached-again", "--progress", "plain"], &vars))?;
        let cached_run = out.lines().collect::<Vec<_>>().windows(2).any(|w| w[0].contains("RUN date") && w[1].ends_with("CACHED"))
            || out.contains("CACHED");
        if !cached_run {
            return Err(format!("no CACHED step:\n{}", tail(&out)));
        }
        if let Ok(before) = stamp {
            expect("same stamp", &shell(engine, &reference, "cat /stamp")?, &before)?;
        }
        Ok(())
    })());
}

/// Ctrl-C in the middle of a step: exit 130 and the step's process is gone.
fn interrupt_checks(report: &mut Report, engine: &Engine, agent: &Agent) {
    report.check(engine, "SIGINT mid-build: exit 130, no build left running in the engine", (|| {
        let route = &routes(engine)[0];
        let mut cmd = Command::new(leaven());
        cmd.args(["bake", "slow", "--progress", "plain", "--no-cache"]).current_dir(dir()).stderr(Stdio::piped()).stdout(Stdio::null());
        cmd.env("SSH_AUTH_SOCK", &agent.socket);
        for (k, v) in &route.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let running = || Command::new("pgrep").args(["-f", "sleep 271828"]).output().map(|o| o.status.success()).unwrap_or(false);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !running() {
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("the slow step never started".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.code() != Some(130) {
            return Err(format!("exit {:?}:\n{}", out.status.code(), tail(&String::from_utf8_lossy(&out.stderr))));
        }
        let gone_by = Instant::now() + Duration::from_secs(15);
        while running() {
            if Instant::now() > gone_by {
                return Err("the step's process still runs 15 s after Ctrl-C".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    })());
}

fn main() {
    let mut report = Report { passed: 0, failed: 0 };
    let scratch = std::env::temp_dir().join(format!("leaven-driver-e2e-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&scratch);
    let agent = match Agent::start(&scratch) {
        Ok(a) => a,
        Err(why) => {
            println!("FAIL  ssh-agent: {why}");
            std::process::exit(1);
        }
    };
    match engines() {
        Ok(engines) => {
            for engine in &engines {
                println!("engine: {} ({})", engine.label, engine.docker.display());
                // The syntaxed target names the frontend image under another name.
                if let Err(why) = ok(&engine.docker, &["tag", "leaven:dev", "leaven-e2e/other-frontend:1"], &repo(), &[]) {
                    report.check(engine, "tag leaven:dev as leaven-e2e/other-frontend:1", Err(why));
                }
                for (index, route) in routes(engine).iter().enumerate() {
                    // The first route's images are the ones compared with buildx's.
                    let prefix = if index == 0 { format!("leaven-drive-{}", engine.tag) } else { format!("leaven-drive-{}-{index}", engine.tag) };
                    build_checks(&mut report, engine, route, &agent, &prefix);
                }
                if engine.modern {
                    buildx_comparison(&mut report, engine, &agent);
                }
                failure_checks(&mut report, engine, &agent);
                cache_checks(&mut report, engine, &agent);
                interrupt_checks(&mut report, engine, &agent);
            }
        }
        Err(why) => {
            report.failed += 1;
            println!("FAIL  engines: {why}");
        }
    }
    drop(agent);
    let _ = std::fs::remove_dir_all(&scratch);
    report.finish("driver");
}
