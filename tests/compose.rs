//! `leaven compose`: the files it writes, what it refuses, and the example's
//! stack running from them on Docker Engine 28 (its compose plugin), in the
//! dev and release variants. Images are built by `leaven bake --load` from the
//! compose files themselves (in-process compile, no frontend image).
//!
//! Runs without libtest so each check says what it ran on. A missing engine
//! is a failure, never a skip: `make test` provisions it.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{engines, expect, ok, repo, run, tail, Engine, Report};

const LEAVEN: &str = env!("CARGO_BIN_EXE_leaven");
const HOST_UID: &str = "4321";

/// The stand-ins provision.sh makes for the backing services, and the Python
/// and Node ones the example builds on.
const BUILD_ARGS: [&str; 5] = [
    "PYTHON=leaven-test/python:3.11-bookworm",
    "NODE=leaven-test/node:bookworm",
    "PYTHONPATH=/usr/local/local/lib/python3.11/dist-packages",
    "POSTGRES=leaven-test/postgres:16",
    "REDIS=leaven-test/redis:7",
];

fn leaven(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    run(Path::new(LEAVEN), args, dir, env)
}

/// `leaven compose` with the test's build args; its stdout, or its stderr as the error.
fn compose(dir: &Path, extra: &[&str]) -> Result<String, String> {
    let mut args = vec!["compose", "app.hcl"];
    for arg in &BUILD_ARGS {
        args.extend(["--build-arg", arg]);
    }
    args.extend_from_slice(extra);
    let out = leaven(&args, dir, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    } else {
        Err(stderr)
    }
}

/// What a refused `leaven compose` said (an error when it was not refused).
fn refused(dir: &Path, extra: &[&str]) -> Result<String, String> {
    match compose(dir, extra) {
        Ok(out) => Err(format!("leaven compose succeeded: {out}")),
        Err(stderr) => Ok(stderr),
    }
}

/// A copy of the example, owned by HOST_UID as a developer's checkout is, with
/// the settings and secret files a developer keeps beside the spec.
fn example_copy(name: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("leaven-compose-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let copied = Command::new("cp").arg("-a").arg(repo().join("examples/django-tailwind")).arg(&dir).status();
    if !copied.is_ok_and(|s| s.success()) {
        return Err(format!("cannot copy the example to {}", dir.display()));
    }
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).and_then(|()| std::fs::write(&path, text)).map_err(|e| format!("{}: {e}", path.display()))
    };
    write("db.env", "POSTGRES_PASSWORD=compose-test\n")?;
    write("secrets/django_secret_key", "a-key-only-the-test-knows\n")?;
    let owned = Command::new("chown").args(["-R", &format!("{HOST_UID}:{HOST_UID}")]).arg(&dir).status();
    if !owned.is_ok_and(|s| s.success()) {
        return Err(format!("cannot chown {}", dir.display()));
    }
    Ok(dir)
}

/// A free port on loopback for the web service.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(18999)
}

/// `GET path` on the published port: status code and body.
fn get(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect :{port}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| format!("GET {path}: {e}"))?;
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("GET {path}: no status in {response:?}"))?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

fn answers_200(port: u16, path: &str) -> Result<String, String> {
    match get(port, path)? {
        (200, body) => Ok(body),
        (status, body) => Err(format!("GET {path}: {status}\n{}", tail(&body))),
    }
}

/// A running stack of one variant, taken down (with its volumes) when dropped.
struct Stack<'a> {
    engine: &'a Engine,
    dir: PathBuf,
    file: String,
    env: Vec<(String, String)>,
}

impl Stack<'_> {
    fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    fn compose(&self, args: &[&str]) -> Output {
        let mut all = vec!["compose", "-f", &self.file];
        all.extend_from_slice(args);
        run(&self.engine.docker, &all, &self.dir, &self.env())
    }

    fn compose_ok(&self, args: &[&str]) -> Result<String, String> {
        let out = self.compose(args);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if out.status.success() { Ok(text) } else { Err(format!("docker compose {}:\n{}", args.join(" "), tail(&text))) }
    }

    fn logs(&self, service: &str) -> String {
        self.compose_ok(&["logs", "--no-log-prefix", service]).unwrap_or_else(|e| e)
    }
}

impl Drop for Stack<'_> {
    /// Down with its volumes, and the app's images this run built (named after
    /// the copy's directory; the stand-ins stay).
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans", "--timeout", "2"]);
        let ours = format!("{}/", self.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let images = String::from_utf8_lossy(&self.compose(&["config", "--images"]).stdout).to_string();
        for image in images.lines().filter(|i| i.starts_with(&ours)) {
            let _ = run(&self.engine.docker, &["image", "rm", "-f", image], &self.dir, &[]);
        }
    }
}

/// Builds a variant's images with `leaven bake -f compose.VARIANT.yaml --load`,
/// starts the stack and waits for it to be healthy.
fn start<'a>(engine: &'a Engine, dir: &Path, variant: &str, port: u16) -> Result<Stack<'a>, String> {
    let file = format!("compose.{variant}.yaml");
    let socket = "unix:///run/leaven-test/docker-28.sock";
    let env = [("DOCKER_HOST", socket), ("HOST_UID", HOST_UID), ("HOST_GID", HOST_UID)];
    let built = Instant::now();
    let secret = "*.secrets=id=ca,src=/etc/ssl/certs/ca-certificates.crt";
    // The CA bundle lies outside the project: reading it is an entitlement, as with buildx.
    let out = leaven(&["bake", "--allow=fs.read=/etc/ssl/certs/ca-certificates.crt", "-f", &file, "--load", "--progress=plain", "--set", secret], dir, &env);
    if !out.status.success() {
        return Err(format!("leaven bake -f {file} --load failed:\n{}", tail(&String::from_utf8_lossy(&out.stderr))));
    }
    println!("      (built {variant} in {:.1}s)", built.elapsed().as_secs_f64());
    let port = port.to_string();
    let stack = Stack {
        engine,
        dir: dir.to_path_buf(),
        file,
        env: [("HOST_UID", HOST_UID), ("HOST_GID", HOST_UID), ("WEB_PORT", port.as_str())].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    };
    let started = Instant::now();
    stack.compose_ok(&["up", "-d", "--wait", "--wait-timeout", "180"]).map_err(|e| format!("{e}\nweb:\n{}", tail(&stack.logs("web"))))?;
    println!("      (up --wait took {:.1}s)", started.elapsed().as_secs_f64());
    Ok(stack)
}

/// `/` and `/healthz` answer; migrations ran in web, and not in the worker.
fn stack_checks(report: &mut Report, engine: &Engine, stack: &Stack, variant: &str, port: u16) {
    report.check(engine, &format!("{variant}: / and /healthz answer 200"), (|| {
        expect("/", &answers_200(port, "/")?, "Built by leaven")?;
        expect("/healthz", &answers_200(port, "/healthz")?, "ok")
    })());
    report.check(engine, &format!("{variant}: migrations ran once, in web; the worker's log shows no migrate"), (|| {
        let web = stack.logs("web");
        let worker = stack.logs("worker");
        expect("web log", &web, "Applying contenttypes.0001_initial... OK")?;
        expect("worker log", &worker, "worker: redis at cache:6379 says +PONG")?;
        if worker.contains("migrat") || worker.contains("Applying") {
            return Err(format!("the worker migrated:\n{worker}"));
        }
        Ok(())
    })());
}

/// What is checked without an engine's daemon: the files, `docker compose
/// config`, leaven.mk's recipes, and every refusal.
fn file_checks(report: &mut Report, engine: &Engine) {
    let d = &engine.docker;
    let dir = match example_copy("files") {
        Ok(dir) => dir,
        Err(e) => return report.check(engine, "copy the example", Err(e)),
    };
    report.check(engine, "leaven compose writes one file per variant and leaven.mk, each marked as leaven's", (|| {
        let said = compose(&dir, &[])?;
        for name in ["compose.release.yaml", "compose.dev.yaml", "compose.ci.yaml", "leaven.mk"] {
            expect("output", &said, &format!("wrote {}", dir.join(name).display()))?;
            let text = std::fs::read_to_string(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
            if !text.starts_with("# Generated by leaven compose from app.hcl") {
                return Err(format!("{name} has no header: {}", tail(&text)));
            }
        }
        Ok(())
    })());
    report.check(engine, "docker compose config accepts every generated file", (|| {
        for variant in ["release", "dev", "ci"] {
            let file = format!("compose.{variant}.yaml");
            ok(d, &["compose", "-f", &file, "config", "-q"], &dir, &[])?;
        }
        Ok(())
    })());
    report.check(engine, "dev: pinned images, healthy dependencies, the source mount, HOST_UID, stage outputs in a volume, migrations once", (|| {
        let config = ok(d, &["compose", "-f", "compose.dev.yaml", "config", "--format", "json"], &dir, &[("HOST_UID", "1234"), ("HOST_GID", "1234")])?;
        let config: serde_json::Value = serde_json::from_str(&config).map_err(|e| e.to_string())?;
        let services = &config["services"];
        let web = &services["web"];
        let problems: Vec<&str> = [
            (services["db"]["image"] == "leaven-test/postgres:16", "db's image is not the pinned one"),
            (services["db"]["healthcheck"]["test"][1] == "pg_isready -U app -d app", "db has no pg_isready check"),
            (services["cache"]["healthcheck"]["test"] == serde_json::json!(["CMD", "redis-cli", "ping"]), "cache has no redis-cli ping check"),
            (web["depends_on"]["db"]["condition"] == "service_healthy", "web does not wait for a healthy db"),
            (web["depends_on"]["cache"]["condition"] == "service_healthy", "web does not wait for a healthy cache"),
            (web["user"] == "1234:1234", "web does not run as HOST_UID:HOST_GID"),
            (web["build"]["target"] == "dev" && web["build"]["dockerfile"] == "app.hcl", "web is not built from app.hcl's dev target"),
            (web["build"]["args"]["HOST_UID"] == "1234", "the build does not get HOST_UID"),
            (web["volumes"][0]["type"] == "bind" && web["volumes"][0]["target"] == "/src", "the source is not bind-mounted at /src"),
            (web["volumes"][1]["type"] == "volume" && web["volumes"][1]["target"] == "/src/staticfiles", "static files are not kept in a volume"),
            (web["environment"].get("LEAVEN_SKIP_ON_START").is_none(), "web skips the start-up tasks"),
            (services["worker"]["environment"]["LEAVEN_SKIP_ON_START"] == "1", "the worker does not skip them"),
            (web["secrets"][0]["source"] == "django_secret_key", "web does not get the secret"),
            (services["db"]["environment"]["POSTGRES_PASSWORD"] == "compose-test", "db does not get POSTGRES_PASSWORD from db.env"),
        ]
        .into_iter()
        .filter(|(good, _)| !good)
        .map(|(_, why)| why)
        .collect();
        if !problems.is_empty() {
            return Err(format!("{}\n{config:#}", problems.join("; ")));
        }
        // A checkout without the settings file still starts.
        let raw = std::fs::read_to_string(dir.join("compose.dev.yaml")).map_err(|e| e.to_string())?;
        expect("compose.dev.yaml", &raw, "env_file:\n    - path: ./db.env\n      required: false")
    })());
    report.check(engine, "release and ci: no source mount and no HOST_UID user", (|| {
        for variant in ["release", "ci"] {
            let file = format!("compose.{variant}.yaml");
            let config = ok(d, &["compose", "-f", &file, "config", "--format", "json"], &dir, &[])?;
            let config: serde_json::Value = serde_json::from_str(&config).map_err(|e| e.to_string())?;
            let web = &config["services"]["web"];
            if web.get("user").is_some() || web.get("volumes").is_some() || web["build"]["target"] != variant {
                return Err(format!("{variant}: {web:#}"));
            }
        }
        Ok(())
    })());
    report.check(engine, "leaven.mk: build, up, down, logs, test (ci variant), ci and bake", (|| {
        std::fs::write(dir.join("Makefile"), "include leaven.mk\n").map_err(|e| e.to_string())?;
        let out = Command::new("make").args(["-n", "build", "up", "down", "logs", "test", "bake", "HOST_UID=1234", "HOST_GID=1234"]).current_dir(&dir).output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        for line in [
            "docker compose -f ./compose.dev.yaml build",
            "docker compose -f ./compose.dev.yaml up -d --wait --renew-anon-volumes",
            "docker compose -f ./compose.dev.yaml down",
            "docker compose -f ./compose.dev.yaml logs -f",
            "docker compose -f ./compose.ci.yaml run --rm web python manage.py test --noinput",
            "docker compose -f ./compose.ci.yaml down -v",
            "leaven bake -f ./compose.dev.yaml --load",
        ] {
            expect("make -n", &text, line)?;
        }
        let release = Command::new("make").args(["-n", "up", "LEAVEN_VARIANT=release"]).current_dir(&dir).output().map_err(|e| e.to_string())?;
        expect("make -n up LEAVEN_VARIANT=release", &String::from_utf8_lossy(&release.stdout), "docker compose -f ./compose.release.yaml up -d --wait \n")?;
        let ci = Command::new("make").args(["-n", "ci"]).current_dir(&dir).output().map_err(|e| e.to_string())?;
        expect("make -n ci", &String::from_utf8_lossy(&ci.stdout), "leaven bake -f ./compose.ci.yaml --load")
    })());
    report.check(engine, "-o DIR: paths and the build context point back at the spec", (|| {
        compose(&dir, &["-o", "deploy", "--variant", "dev"])?;
        let config = ok(d, &["compose", "-f", "deploy/compose.dev.yaml", "config", "--format", "json"], &dir, &[])?;
        let config: serde_json::Value = serde_json::from_str(&config).map_err(|e| e.to_string())?;
        let web = &config["services"]["web"];
        let spec_dir = dir.display().to_string();
        if web["build"]["context"] != spec_dir.as_str() || web["volumes"][0]["source"] != spec_dir.as_str() {
            return Err(format!("context and mount should be {spec_dir}: {web:#}"));
        }
        expect("secret", &config["secrets"]["django_secret_key"]["file"].to_string(), &format!("{spec_dir}/secrets/django_secret_key"))
    })());
    report.check(engine, "refuses to replace a file leaven did not write, naming it; --force replaces it", (|| {
        let file = dir.join("compose.dev.yaml");
        std::fs::write(&file, "services: {}\n").map_err(|e| e.to_string())?;
        let said = refused(&dir, &["--variant", "dev"])?;
        expect("refusal", &said, &format!("{}: exists and was not written by leaven", file.display()))?;
        expect("refusal", &said, "pass --force to replace it")?;
        if std::fs::read_to_string(&file).map_err(|e| e.to_string())? != "services: {}\n" {
            return Err("the file was changed".into());
        }
        compose(&dir, &["--variant", "dev", "--force"])?;
        expect("forced", &std::fs::read_to_string(&file).map_err(|e| e.to_string())?, "# Generated by leaven")
    })());
    report.check(engine, "refuses a variant the spec lacks, writing nothing", (|| {
        let said = refused(&dir, &["--variant", "staging", "-o", "nothing"])?;
        expect("refusal", &said, "app.hcl: the spec has no variant \"staging\"; it has release, dev, ci")?;
        if dir.join("nothing/leaven.mk").exists() { Err("leaven.mk was written".into()) } else { Ok(()) }
    })());
    report.check(engine, "refuses a bad service block with its place, writing nothing", (|| {
        let spec = std::fs::read_to_string(dir.join("app.hcl")).map_err(|e| e.to_string())?;
        let bad = spec.replace("image = REDIS", "image = \"redis:latest\"");
        let line = bad.lines().position(|l| l.contains("redis:latest")).unwrap_or(0) + 1;
        let bad_dir = dir.join("bad");
        std::fs::create_dir_all(&bad_dir).and_then(|()| std::fs::write(bad_dir.join("app.hcl"), bad)).map_err(|e| e.to_string())?;
        let out = leaven(&["compose", "app.hcl"], &bad_dir, &[]);
        let said = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return Err("it was accepted".into());
        }
        expect("refusal", &said, &format!("app.hcl:{line}:11: image \"redis:latest\" is tagged latest: the stack would change whenever it moves"))?;
        if bad_dir.join("compose.dev.yaml").exists() { Err("a compose file was written".into()) } else { Ok(()) }
    })());
    report.check(engine, "refuses a spec without services", (|| {
        let plain = dir.join("plain");
        std::fs::create_dir_all(&plain).map_err(|e| e.to_string())?;
        std::fs::copy(repo().join("examples/hello/app.hcl"), plain.join("app.hcl")).map_err(|e| e.to_string())?;
        let out = leaven(&["compose", "app.hcl"], &plain, &[]);
        expect("refusal", &String::from_utf8_lossy(&out.stderr), "app.hcl: the spec has no service blocks")
    })());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A copy of the example with its compose files, and the variant's stack
/// started from them, checked as every variant is; `None` when it did not start.
fn started<'a>(report: &mut Report, engine: &'a Engine, variant: &str) -> Option<(PathBuf, u16, Stack<'a>)> {
    let dir = match example_copy(variant).and_then(|dir| compose(&dir, &["--variant", variant]).map(|_| dir)) {
        Ok(dir) => dir,
        Err(e) => {
            report.check(engine, &format!("{variant}: leaven compose"), Err(e));
            return None;
        }
    };
    let port = free_port();
    let what = format!("{variant}: the stack builds and starts (up -d --wait)");
    let stack = match start(engine, &dir, variant, port) {
        Ok(stack) => stack,
        Err(e) => {
            report.check(engine, &what, Err(e));
            let _ = std::fs::remove_dir_all(&dir);
            return None;
        }
    };
    report.check(engine, &what, Ok(()));
    stack_checks(report, engine, &stack, variant, port);
    Some((dir, port, stack))
}

fn dev_checks(report: &mut Report, engine: &Engine) {
    let Some((dir, port, stack)) = started(report, engine, "dev") else { return };
    report.check(engine, "dev: a template edited on the host shows on the next request", (|| {
        let template = dir.join("pages/templates/pages/home.html");
        let text = std::fs::read_to_string(&template).map_err(|e| e.to_string())?;
        std::fs::write(&template, text.replace("Built by leaven", "Edited on the host")).map_err(|e| e.to_string())?;
        expect("/", &answers_200(port, "/")?, "Edited on the host")
    })());
    report.check(engine, "dev: the image's static files (the built CSS) stay visible under the source mount, and are served", (|| {
        let out = stack.compose_ok(&["exec", "-T", "web", "sh", "-c", "ls /src/manage.py && grep -c text-emerald-700 /src/staticfiles/css/app.css"])?;
        expect("static files", &out, "/src/manage.py\n1")?;
        expect("/static/css/app.css", &answers_200(port, "/static/css/app.css")?, "text-emerald-700")
    })());
    report.check(engine, "dev: a file the app writes into the mounted tree belongs to HOST_UID", (|| {
        let meta = std::fs::metadata(dir.join("db.sqlite3")).map_err(|e| format!("db.sqlite3: {e}"))?;
        let owner = std::os::unix::fs::MetadataExt::uid(&meta);
        if owner.to_string() == HOST_UID { Ok(()) } else { Err(format!("db.sqlite3 belongs to UID {owner}")) }
    })());
    report.check(engine, "dev: a tree owned by another UID than HOST_UID gets one line naming both", {
        let mut env = stack.env();
        env.retain(|(k, _)| *k != "HOST_UID");
        env.push(("HOST_UID", "4322"));
        let args = ["compose", "-f", "compose.dev.yaml", "run", "--rm", "--no-deps", "-e", "LEAVEN_SKIP_ON_START=1", "web", "true"];
        let out = run(&engine.docker, &args, &dir, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("leaven:")).collect();
        match lines.as_slice() {
            [line] if line.contains("belongs to UID 4321, but this container runs as UID 4322") => Ok(()),
            _ => Err(format!("wanted one line naming UIDs 4321 and 4322:\n{stderr}")),
        }
    });
    drop(stack);
    let _ = std::fs::remove_dir_all(&dir);
}

fn release_checks(report: &mut Report, engine: &Engine) {
    let Some((dir, _, stack)) = started(report, engine, "release") else { return };
    drop(stack);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `make ci` from a Makefile that includes leaven.mk: the ci images built by
/// leaven, then the app's tests with the services they need, then nothing left.
fn ci_checks(report: &mut Report, engine: &Engine) {
    let dir = match example_copy("ci").and_then(|dir| compose(&dir, &[]).map(|_| dir)) {
        Ok(dir) => dir,
        Err(e) => return report.check(engine, "ci: leaven compose", Err(e)),
    };
    let guard = Stack { engine, dir: dir.clone(), file: "compose.ci.yaml".into(), env: Vec::new() };
    report.check(engine, "make ci: leaven bake builds the ci images, then the app's tests run in them", (|| {
        std::fs::write(dir.join("Makefile"), "include leaven.mk\n").map_err(|e| e.to_string())?;
        let docker = format!("DOCKER={}", engine.docker.display());
        let started = Instant::now();
        let out = Command::new("make")
            .args(["ci", &format!("LEAVEN={LEAVEN}"), &docker])
            .env("DOCKER_HOST", "unix:///run/leaven-test/docker-28.sock")
            .current_dir(&dir)
            .output()
            .map_err(|e| e.to_string())?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        println!("      (make ci took {:.1}s)", started.elapsed().as_secs_f64());
        if !out.status.success() {
            return Err(format!("make ci failed:\n{}", tail(&text)));
        }
        expect("make ci", &text, "Ran 0 tests")?;
        let left = ok(&engine.docker, &["compose", "-f", "compose.ci.yaml", "ps", "-a", "-q"], &dir, &[])?;
        if left.is_empty() { Ok(()) } else { Err(format!("containers left after make test: {left}")) }
    })());
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let started = Instant::now();
    let mut report = Report { passed: 0, failed: 0 };
    match engines() {
        Ok(engines) => {
            for engine in engines.iter().filter(|e| e.tag == "28") {
                println!("engine: {} ({})", engine.label, engine.docker.display());
                file_checks(&mut report, engine);
                dev_checks(&mut report, engine);
                release_checks(&mut report, engine);
                ci_checks(&mut report, engine);
            }
        }
        Err(why) => {
            report.failed += 1;
            println!("FAIL  {why}");
        }
    }
    println!("\n{} passed, {} failed ({:.0}s)", report.passed, report.failed, started.elapsed().as_secs_f64());
    if report.failed > 0 {
        std::process::exit(1);
    }
}
