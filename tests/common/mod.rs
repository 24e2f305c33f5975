//! What the end-to-end test programs share: the test engines, running a
//! command, and a report that says which engine each check ran on.
//! (Each test program uses a different part of it.)
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

pub struct Engine {
    pub label: String,
    pub docker: PathBuf,
    pub modern: bool,
    pub tag: &'static str,
}

pub struct Report {
    pub passed: usize,
    pub failed: usize,
}

impl Report {
    pub fn check(&mut self, engine: &Engine, what: &str, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.passed += 1;
                println!("ok    [{}] {what}", engine.label);
            }
            Err(why) => {
                self.failed += 1;
                println!("FAIL  [{}] {what}\n      {}", engine.label, why.replace('\n', "\n      "));
            }
        }
    }
}

impl Report {
    /// Ends the test program: the totals, and exit status 1 if any check failed.
    pub fn finish(&self, program: &str) {
        println!("{program}: {} passed, {} failed", self.passed, self.failed);
        if self.failed > 0 {
            std::process::exit(1);
        }
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn run(docker: &Path, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(docker);
    cmd.args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", docker.display()))
}

/// Stdout of a command that must succeed; its stderr on failure.
pub fn ok(docker: &Path, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Result<String, String> {
    let out = run(docker, args, dir, env);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!("`docker {}` failed:\n{}", args.join(" "), tail(&String::from_utf8_lossy(&out.stderr))))
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs tests/engines/provision.sh with `args` (`stop 28c`, or none to start them all).
pub fn provision(args: &[&str]) -> Result<(), String> {
    let out = Command::new("bash").arg(repo().join("tests/engines/provision.sh")).args(args).output().map_err(|e| e.to_string())?;
    if out.status.success() { Ok(()) } else { Err(format!("provision.sh {}: {}", args.join(" "), tail(&stderr(&out)))) }
}

pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

pub fn expect(what: &str, got: &str, wanted: &str) -> Result<(), String> {
    if got.contains(wanted) {
        Ok(())
    } else {
        Err(format!("{what}: wanted {wanted:?} in {got:?}"))
    }
}

pub fn engines() -> Result<Vec<Engine>, String> {
    let root = std::env::var("LEAVEN_ENGINES").unwrap_or_else(|_| "/var/lib/leaven-engines".into());
    let mut engines = Vec::new();
    for (tag, modern) in [("20", false), ("28", true)] {
        let docker = Path::new(&root).join("bin").join(format!("docker-{tag}"));
        let version = ok(&docker, &["version", "--format", "{{.Server.Version}}"], &repo(), &[])
            .map_err(|e| format!("engine docker-{tag} is not running ({}); run `make engines`\n{e}", docker.display()))?;
        engines.push(Engine { label: format!("Docker Engine {version}"), docker, modern, tag });
    }
    Ok(engines)
}

pub fn nonce() -> String {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos().to_string()).unwrap_or_default()
}


/// Which of `needles` occur anywhere in `docker save` of an image: every layer
/// (decompressed where it is compressed), the config (env, history) and the manifests.
pub fn saved_image_contains(engine: &Engine, image: &str, needles: &[&str]) -> Result<Vec<String>, String> {
    let saved = std::env::temp_dir().join(format!("leaven-save-{}-{}.tar", std::process::id(), engine.tag));
    let path = saved.display().to_string();
    ok(&engine.docker, &["save", "-o", &path, image], &repo(), &[])?;
    let listing = Command::new("tar").args(["-tf", &path]).output().map_err(|e| e.to_string())?;
    let mut contents = Vec::new();
    for entry in String::from_utf8_lossy(&listing.stdout).lines().filter(|e| !e.ends_with('/')) {
        let raw = Command::new("tar").args(["-xOf", &path, entry]).output().map_err(|e| e.to_string())?.stdout;
        let data = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut gunzip = Command::new("gzip").arg("-dc").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().map_err(|e| e.to_string())?;
            let mut stdin = gunzip.stdin.take().ok_or("gzip has no stdin")?;
            let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &raw));
            let out = gunzip.wait_with_output().map_err(|e| e.to_string())?.stdout;
            let _ = writer.join();
            out
        } else {
            raw
        };
        contents.push(data);
    }
    let _ = std::fs::remove_file(&saved);
    Ok(needles
        .iter()
        .filter(|needle| contents.iter().any(|data| data.windows(needle.len()).any(|w| w == needle.as_bytes())))
        .map(|n| n.to_string())
        .collect())
}

