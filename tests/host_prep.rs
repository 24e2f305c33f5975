//! End-to-end: `leaven host-prep` on the userns-remapped engine (docker-28u,
//! `userns-remap=default`, container root = host UID 100000). A compose stack
//! of the postgres and redis stand-ins bind-mounting host dirs fails before
//! host-prep (their entrypoints cannot chown the dirs), is healthy after it,
//! and a second run changes nothing. Then each refusal, with its message.
//!
//! Runs without libtest so each check prints what it checked. A missing engine
//! is a failure, never a skip: `make test` provisions them.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{expect, nonce, tail, Engine, Report};

fn engines_dir() -> PathBuf {
    PathBuf::from(std::env::var("LEAVEN_ENGINES").unwrap_or_else(|_| "/var/lib/leaven-engines".into()))
}

const HOST_28U: &str = "unix:///run/leaven-test/docker-28u.sock";
const HOST_28: &str = "unix:///run/leaven-test/docker-28.sock";

const STACK: &str = "services:
  db:
    image: leaven-test/postgres:16
    environment:
      POSTGRES_PASSWORD: secret
      POSTGRES_DB: app
    volumes:
      - ./data/pg:/var/lib/postgresql/data
    healthcheck:
      test: [\"CMD\", \"pg_isready\", \"-U\", \"postgres\", \"-d\", \"app\"]
      interval: 1s
      retries: 30
  cache:
    image: leaven-test/redis:7
    volumes:
      - ./data/redis:/data
      - ./redis.conf:/etc/redis/extra.conf:ro
    healthcheck:
      test: [\"CMD\", \"redis-cli\", \"ping\"]
      interval: 1s
      retries: 30
";

/// An app container running as the host user, writing into a dir it mounts.
const WRITER: &str = "services:
  writer:
    image: leaven-test/debian:bookworm
    user: \"${HOST_UID:-1000}\"
    command: [\"sh\", \"-c\", \"echo written > /out/by-writer && exec sleep infinity\"]
    volumes:
      - ./out:/out
    healthcheck:
      test: [\"CMD\", \"test\", \"-f\", \"/out/by-writer\"]
      interval: 1s
      retries: 30
";

/// What `${HOST_UID:-1000}` is for compose and for host-prep here.
const HOST_UID: &str = "1234";

/// A temp dir the remapped root can pass through (mode 755), removed at the end.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The project's stack on docker-28u through the Docker 28 CLI's compose plugin
/// (the docker-28u wrapper: that CLI with DOCKER_HOST at docker-28u's socket).
struct Stack {
    dir: PathBuf,
    project: String,
}

impl Stack {
    fn compose(&self, args: &[&str]) -> Output {
        Command::new(engines_dir().join("bin/docker-28u"))
            .args(["compose", "-p", &self.project])
            .args(args)
            .current_dir(&self.dir)
            .env("HOST_UID", HOST_UID)
            .output()
            .expect("docker compose runs")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--timeout", "1"]);
    }
}

fn host_prep(dir: &Path, docker_host: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leaven"))
        .arg("host-prep")
        .args(args)
        .current_dir(dir)
        .env_remove("DOCKER_CONTEXT")
        .env("DOCKER_HOST", docker_host)
        .env_remove("LEAVEN_SUBUID")
        .env_remove("LEAVEN_SUBGID")
        .env("HOST_UID", HOST_UID)
        .output()
        .expect("leaven runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn succeeded(what: &str, out: &Output) -> Result<String, String> {
    if out.status.success() {
        Ok(text(out))
    } else {
        Err(format!("{what} failed:\n{}", tail(&text(out))))
    }
}

fn failed(what: &str, out: &Output) -> Result<String, String> {
    if out.status.success() {
        Err(format!("{what} succeeded, but should have failed:\n{}", tail(&text(out))))
    } else {
        Ok(text(out))
    }
}

fn owner(path: &Path) -> String {
    std::fs::metadata(path).map(|m| format!("{}:{}", m.uid(), m.gid())).unwrap_or_else(|e| format!("({e})"))
}

fn same(what: &str, got: &str, wanted: &str) -> Result<(), String> {
    if got == wanted {
        Ok(())
    } else {
        Err(format!("{what}: {got}, wanted {wanted}"))
    }
}

fn main() {
    let mut report = Report { passed: 0, failed: 0 };
    let docker = engines_dir().join("bin/docker-28u");
    let version = match common::ok(&docker, &["version", "--format", "{{.Server.Version}}"], Path::new("/"), &[]) {
        Ok(version) => version,
        Err(why) => {
            println!("FAIL  engine docker-28u is not running; run `make engines`\n      {why}");
            std::process::exit(1);
        }
    };
    let engine = Engine { label: format!("Docker Engine {version}, userns-remap"), docker, modern: true, tag: "28u" };
    let scratch = Scratch(PathBuf::from(format!("/tmp/leaven-host-prep-{}", nonce())));
    std::fs::create_dir_all(&scratch.0).expect("temp dir");
    std::fs::set_permissions(&scratch.0, std::fs::Permissions::from_mode(0o755)).expect("temp dir mode");
    stack_checks(&mut report, &engine, &scratch.0);
    writer_checks(&mut report, &engine, &scratch.0);
    spec_checks(&mut report, &engine, &scratch.0);
    refusal_checks(&mut report, &engine, &scratch.0);
    drop(scratch);
    report.finish("host-prep");
}

fn stack_checks(report: &mut Report, engine: &Engine, scratch: &Path) {
    let dir = scratch.join("stack");
    std::fs::create_dir_all(&dir).expect("stack dir");
    std::fs::write(dir.join("compose.yaml"), STACK).expect("compose.yaml");
    std::fs::write(dir.join("redis.conf"), "# read-only: host-prep leaves it\n").expect("redis.conf");
    let stack = Stack { dir: dir.clone(), project: format!("leaven-hostprep-{}", nonce()) };
    let daemon = engines_dir().join("etc/daemon-28u.json");
    let daemon = daemon.to_str().expect("utf-8 path");
    let (pg, redis) = (dir.join("data/pg"), dir.join("data/redis"));

    // The dirs exist already, host root's (made by hand, by provisioning, or by a run before the
    // remap). A missing one dockerd would make itself, owned by the remapped root.
    for data in [&pg, &redis] {
        std::fs::create_dir_all(data).expect("data dir");
    }
    report.check(engine, "before host-prep: postgres cannot chown its root-owned data dir, the stack does not come up", (|| {
        failed("compose up -d --wait", &stack.compose(&["up", "-d", "--wait", "--wait-timeout", "60"]))?;
        let logs = text(&stack.compose(&["logs", "db"]));
        expect("db's log", &logs, "chown: changing ownership of '/var/lib/postgresql/data': Operation not permitted")?;
        succeeded("compose down", &stack.compose(&["down", "-v", "--timeout", "1"]))?;
        same("data/pg's owner", &owner(&pg), "0:0")
    })());

    report.check(engine, "host-prep --dry-run prints the plan and changes nothing (nor leaves a container or volume)", (|| {
        let leftovers = || common::ok(&engine.docker, &["ps", "-aq"], &dir, &[]).and_then(|ps| Ok(ps + &common::ok(&engine.docker, &["volume", "ls", "-q"], &dir, &[])?));
        let before = leftovers()?;
        let out = succeeded("host-prep --dry-run", &host_prep(&dir, HOST_28U, &["--dry-run", "--daemon-config", daemon]))?;
        same("containers and volumes after reading the images", &leftovers()?, &before)?;
        expect("the remap", &out, "userns-remap dockremap")?;
        expect("the plan", &out, &format!("would chown {} from 0:0 to 100999:100999: db /var/lib/postgresql/data (image leaven-test/postgres:16 gives /var/lib/postgresql/data to 999:999)", pg.display()))?;
        expect("the read-only file", &out, &format!("leave {}: not a directory", dir.join("redis.conf").display()))?;
        expect("the summary", &out, "dry run: 0 to create, 2 to chown, 0 already right; nothing changed")?;
        same("data/pg's owner", &owner(&pg), "0:0")
    })());

    report.check(engine, "host-prep gives the dirs to subordinate start + the container's ids (postgres 999 → 100999)", (|| {
        let out = succeeded("host-prep", &host_prep(&dir, HOST_28U, &["--daemon-config", daemon]))?;
        expect("the plan", &out, &format!("chown {} from 0:0 to 100999:100999", pg.display()))?;
        expect("the summary", &out, "0 created, 2 chowned, 0 already right")?;
        same("data/pg's owner", &owner(&pg), "100999:100999")?;
        same("data/redis's owner", &owner(&redis), "100999:100999")
    })());

    report.check(engine, "after host-prep the stack is healthy: pg_isready and redis-cli ping answer", (|| {
        succeeded("compose up -d --wait", &stack.compose(&["up", "-d", "--wait", "--wait-timeout", "60"]))?;
        let ready = succeeded("pg_isready", &stack.compose(&["exec", "-T", "db", "pg_isready", "-U", "postgres", "-d", "app"]))?;
        expect("pg_isready", &ready, "accepting connections")?;
        let pong = succeeded("redis-cli ping", &stack.compose(&["exec", "-T", "cache", "redis-cli", "ping"]))?;
        expect("redis-cli ping", &pong, "PONG")?;
        // The database's files are postgres's in the container: 100999 on the host.
        same("PG_VERSION's owner", &owner(&pg.join("PG_VERSION")), "100999:100999")
    })());

    report.check(engine, "a second host-prep run changes nothing and says so", (|| {
        let out = succeeded("host-prep", &host_prep(&dir, HOST_28U, &["--daemon-config", daemon]))?;
        expect("the plan", &out, &format!("ok {} is owned by 100999:100999", pg.display()))?;
        expect("the summary", &out, "nothing to change: 2 directories already owned as the containers need")?;
        same("data/pg's owner", &owner(&pg), "100999:100999")
    })());
}

fn writer_checks(report: &mut Report, engine: &Engine, scratch: &Path) {
    let dir = scratch.join("writer");
    std::fs::create_dir_all(&dir).expect("writer dir");
    std::fs::write(dir.join("compose.yaml"), WRITER).expect("compose.yaml");
    let stack = Stack { dir: dir.clone(), project: format!("leaven-hostprep-w-{}", nonce()) };
    let daemon = engines_dir().join("etc/daemon-28u.json");
    let out = dir.join("out");

    report.check(engine, "before host-prep: a service with user: ${HOST_UID:-1000} cannot write its mount (Permission denied)", (|| {
        failed("compose up -d --wait", &stack.compose(&["up", "-d", "--wait", "--wait-timeout", "60"]))?;
        expect("writer's log", &text(&stack.compose(&["logs", "writer"])), "cannot create /out/by-writer: Permission denied")?;
        succeeded("compose down", &stack.compose(&["down", "-v", "--timeout", "1"]))?;
        // dockerd made the missing dir, for the remapped root: not the service's user.
        same("out's owner", &owner(&out), "100000:100000")
    })());

    report.check(engine, "after host-prep (uid from HOST_UID, gid 0 as docker gives a uid the image lacks) it writes, as host uid 100000+HOST_UID", (|| {
        let prep = succeeded("host-prep", &host_prep(&dir, HOST_28U, &["--daemon-config", daemon.to_str().unwrap()]))?;
        expect("the plan", &prep, &format!("chown {} from 100000:100000 to 101234:100000: writer /out (user: 1234)", out.display()))?;
        succeeded("compose up -d --wait", &stack.compose(&["up", "-d", "--wait", "--wait-timeout", "60"]))?;
        same("by-writer's owner", &owner(&out.join("by-writer")), "101234:100000")
    })());
}

/// A service built from a spec: its mount belongs to the user the spec's image runs as.
const FROM_SPEC: &str = "services:
  web:
    build:
      context: .
      dockerfile: app.hcl
      args:
        HOST_UID: ${HOST_UID:-1000}
    image: leaven-test/hostprep-never-built
    volumes:
      - ./media:/app/media
";

fn spec_checks(report: &mut Report, engine: &Engine, scratch: &Path) {
    let dir = scratch.join("spec");
    std::fs::create_dir_all(&dir).expect("spec dir");
    std::fs::write(dir.join("compose.yaml"), FROM_SPEC).expect("compose.yaml");
    let spec = common::repo().join("examples/hello/app.hcl");
    report.check(engine, "a service built from the spec: the mount is the spec user's (uid from the build's HOST_UID, gid the default 1000), no image needed", (|| {
        let daemon = engines_dir().join("etc/daemon-28u.json");
        let out = host_prep(&dir, HOST_28U, &["--dry-run", "--daemon-config", daemon.to_str().unwrap(), spec.to_str().unwrap()]);
        let out = succeeded("host-prep --dry-run SPEC", &out)?;
        expect(
            "the plan",
            &out,
            &format!("would create {} owned by 101234:101000: web /app/media ({} app runs as the spec's user app)", dir.join("media").display(), spec.display()),
        )
    })());
}

fn refusal_checks(report: &mut Report, engine: &Engine, scratch: &Path) {
    let dir = scratch.join("refusals");
    std::fs::create_dir_all(&dir).expect("refusals dir");
    std::fs::write(dir.join("compose.yaml"), STACK).expect("compose.yaml");
    let (pg, redis) = (dir.join("data/pg"), dir.join("data/redis"));

    report.check(engine, "a daemon without userns-remap: host-prep says so and creates the dirs owned by the container ids", (|| {
        // docker-28's own config, which has no remap; the images' owners come from docker-28.
        let daemon = engines_dir().join("etc/daemon-28.json");
        let out = succeeded("host-prep", &host_prep(&dir, HOST_28, &["--daemon-config", daemon.to_str().unwrap()]))?;
        expect("the message", &out, &format!("no userns-remap in {}: the directories get the containers' own ids", daemon.display()))?;
        expect("the plan", &out, &format!("create {} owned by 999:999", pg.display()))?;
        same("data/pg's owner", &owner(&pg), "999:999")
    })());
    let _ = std::fs::remove_dir_all(dir.join("data"));

    let remapped = dir.join("remapped.json");
    std::fs::write(&remapped, "{\n  \"userns-remap\": \"default\"\n}\n").expect("daemon config");
    let remapped = remapped.to_str().unwrap().to_string();

    report.check(engine, "missing subordinate ranges are refused at the daemon's setting", (|| {
        let empty = dir.join("subuid");
        std::fs::write(&empty, "someone:200000:65536\n").expect("subuid");
        let out = failed("host-prep", &host_prep(&dir, HOST_28U, &["--daemon-config", &remapped, "--subuid", empty.to_str().unwrap()]))?;
        expect("the message", &out, &format!("{remapped}:2:3: userns-remap names dockremap, which has no subordinate uid range in {}", empty.display()))?;
        expect("the hint", &out, "hint: dockerd adds dockremap:100000:65536")?;
        same("data/pg", &owner(&pg), "(No such file or directory (os error 2))")
    })());

    report.check(engine, "a dir of an unrelated user is refused, and nothing is changed", (|| {
        std::fs::create_dir_all(&pg).expect("pg dir");
        std::os::unix::fs::chown(&pg, Some(1000), Some(1000)).expect("chown to 1000");
        let out = failed("host-prep", &host_prep(&dir, HOST_28U, &["--daemon-config", &remapped]))?;
        expect(
            "the message",
            &out,
            &format!(
                "leaven host-prep: refused: {}:8:9: {} belongs to 1000:1000, neither root nor the container's (100999:100999 for db's /var/lib/postgresql/data)",
                dir.join("compose.yaml").display(),
                pg.display()
            ),
        )?;
        same("data/pg's owner", &owner(&pg), "1000:1000")?;
        same("data/redis (not created)", &owner(&redis), "(No such file or directory (os error 2))")
    })());

    report.check(engine, "a bad subordinate id file says where", (|| {
        let bad = dir.join("subgid");
        std::fs::write(&bad, "dockremap:100000:65536\ndockremap:lots\n").expect("subgid");
        let out = failed("host-prep", &host_prep(&dir, HOST_28U, &["--daemon-config", &remapped, "--subgid", bad.to_str().unwrap()]))?;
        expect("the message", &out, &format!("{}:2:1: \"dockremap:lots\" is not a subordinate id range", bad.display()))
    })());
}
