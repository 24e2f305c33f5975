//! `make bench-bake`: `leaven bake --print` against `docker buildx bake --print`
//! on the same generated files — 2000 flat targets, a 900-variant matrix, a
//! 500-deep inherits chain. Prints both times (median of several runs, whole
//! processes) and the ratio; it asserts nothing about timing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

fn flat_targets() -> String {
    let mut text = String::from("variable \"TAG\" { default = \"latest\" }\n");
    for i in 0..2000 {
        text.push_str(&format!(
            "target \"t{i}\" {{\n  context = \"svc/{i}\"\n  tags = [\"registry.example/t{i}:${{TAG}}\"]\n  args = {{ INDEX = \"{i}\", NAME = upper(\"t{i}\") }}\n  platforms = [\"linux/amd64\", \"linux/arm64\"]\n}}\n"
        ));
    }
    text
}

/// One key of 900 values: with several keys buildx orders variants by Go's random
/// map iteration, and the printed outputs could not be compared.
fn matrix() -> String {
    let values = (0..900).map(|i| format!("\"v{i}\"")).collect::<Vec<_>>().join(", ");
    format!("target \"m\" {{\n  matrix = {{ ver = [{values}] }}\n  name = \"m-${{ver}}\"\n  args = {{ VER = ver }}\n  tags = [\"m:${{ver}}\"]\n}}\n")
}

fn inherits_chain() -> String {
    let mut text = String::from("target \"c0\" {\n  args = { DEPTH = \"0\" }\n  tags = [\"c:0\"]\n}\n");
    for i in 1..500 {
        text.push_str(&format!("target \"c{i}\" {{\n  inherits = [\"c{}\"]\n  args = {{ L{i} = \"{i}\" }}\n}}\n", i - 1));
    }
    text
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Median wall time of `RUNS` runs; the first output is kept to check both agree.
fn time(mut make: impl FnMut() -> Command) -> (Duration, Vec<u8>) {
    let mut times = Vec::new();
    let mut first = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = make().output().expect("runs");
        times.push(start.elapsed());
        assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
        first.get_or_insert(out.stdout);
    }
    (median(times), first.unwrap())
}

fn docker() -> PathBuf {
    let engines = std::env::var("LEAVEN_ENGINES").unwrap_or_else(|_| "/var/lib/leaven-engines".into());
    Path::new(&engines).join("bin/docker-28")
}

fn main() {
    let leaven = env!("CARGO_BIN_EXE_leaven");
    let root = std::env::temp_dir().join(format!("leaven-bench-bake-{}", std::process::id()));
    let cases = [("2000 flat targets", flat_targets(), "*"), ("900-variant matrix", matrix(), "m"), ("500-deep inherits", inherits_chain(), "c499")];
    println!("{:<20} {:>12} {:>12} {:>8}", "case", "leaven", "buildx", "ratio");
    for (name, text, target) in cases {
        let dir = root.join(name.replace(' ', "-"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("docker-bake.hcl"), text).unwrap();
        let (ours, our_out) = time(|| {
            let mut c = Command::new(leaven);
            c.args(["bake", "--print", target]).current_dir(&dir).env_clear();
            c
        });
        let (theirs, their_out) = time(|| {
            let mut c = Command::new(docker());
            c.args(["buildx", "bake", "--print", target]).current_dir(&dir).env_clear().env("PATH", "/usr/bin:/bin").env("HOME", &dir);
            c
        });
        let same = if our_out == their_out { "" } else { "  (outputs differ!)" };
        println!(
            "{name:<20} {:>10.1}ms {:>10.1}ms {:>7.1}×{same}",
            ours.as_secs_f64() * 1e3,
            theirs.as_secs_f64() * 1e3,
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}
