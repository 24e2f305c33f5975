//! Golden LLB: what `leaven llb` prints for the examples, compared with reviewed
//! files in tests/golden. After a deliberate change, regenerate with
//! `LEAVEN_BLESS=1 cargo test --test golden` and review the diff before committing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const CASES: &[(&str, &str)] = &[
    ("hello", "app"),
    ("webapp", "release"),
    ("webapp", "dev"),
    ("webapp", "ci"),
    ("django-tailwind", "release"),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn llb_for(example: &str, target: &str) -> String {
    let spec = repo().join("examples").join(example).join("app.hcl");
    let loaded = leaven::cli::load(&spec, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    leaven::cli::llb_json(&loaded, Some(target), leaven::cli::ignore_beside(&spec)).unwrap_or_else(|e| panic!("{e}"))
}

fn golden_path(example: &str, target: &str) -> PathBuf {
    repo().join("tests/golden").join(format!("{example}.{target}.json"))
}

#[test]
fn examples_compile_to_the_reviewed_llb() {
    let bless = std::env::var_os("LEAVEN_BLESS").is_some();
    let mut differing = Vec::new();
    for (example, target) in CASES {
        let got = llb_for(example, target);
        let path = golden_path(example, target);
        if bless {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if got != want {
            let actual = path.with_extension("actual.json");
            std::fs::write(&actual, &got).unwrap();
            differing.push(format!("{} (now written to {})", path.display(), actual.display()));
        }
    }
    assert!(differing.is_empty(), "LLB differs from the reviewed golden files:\n{}", differing.join("\n"));
}

#[test]
fn compiling_twice_gives_identical_llb() {
    assert_eq!(llb_for("webapp", "release"), llb_for("webapp", "release"));
}

#[test]
fn variants_differ_only_where_they_should() {
    let release = llb_for("webapp", "release");
    let dev = llb_for("webapp", "dev");
    let ci = llb_for("webapp", "ci");
    assert!(release.contains("create users app (1000:1000)"));
    assert!(ci.contains("create users app (9500:9500)"));
    assert!(dev.contains("mount point /src (source mounted at run time)"));
    assert!(!dev.contains("copy . → /src"), "dev copies no source");
    assert!(Path::new(&golden_path("webapp", "dev")).exists());
}
