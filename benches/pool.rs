//! `make bench-pool`: recorded bake runs (each target's measured build time and
//! its `target:` links, `benches/fixtures/pool-*.json`) replayed through
//! leaven's placement for 1, 2, 4 and 8 equal nodes, and through buildx's
//! (every target without a platform on the first node). Prints each makespan
//! and its ratio to the ideal (all the work spread evenly, or the longest chain
//! of links if that is longer). Two engines on two cores cannot show a speed-up
//! here: this is the plan past one machine. Asserts nothing.

use leaven::driver::placement::{ideal, replay, Recorded};

#[derive(serde::Deserialize)]
struct Fixture {
    recorded: String,
    targets: Vec<Target>,
}

#[derive(serde::Deserialize)]
struct Target {
    name: String,
    seconds: f64,
    #[serde(default)]
    links: Vec<String>,
}

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("benches/fixtures exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("pool-")))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("a fixture reads");
        let fixture: Fixture = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let run: Vec<Recorded> = fixture.targets.into_iter().map(|t| Recorded { name: t.name, seconds: t.seconds, links: t.links }).collect();
        let total: f64 = run.iter().map(|r| r.seconds).sum();
        println!("{} ({} targets, {total:.1} s of work)\n  recorded: {}", path.file_name().unwrap_or_default().to_string_lossy(), run.len(), fixture.recorded);
        println!("  {:>5}  {:>10}  {:>10}  {:>7}  {:>12}  {:>7}", "nodes", "ideal", "leaven", "ratio", "buildx", "ratio");
        for nodes in [1, 2, 4, 8] {
            let best = ideal(&run, nodes);
            let ours = replay(&run, nodes, false);
            let theirs = replay(&run, nodes, true);
            println!("  {nodes:>5}  {best:>9.1}s  {ours:>9.1}s  {:>6.2}×  {theirs:>11.1}s  {:>6.2}×", ours / best, theirs / best);
        }
        println!();
    }
}
