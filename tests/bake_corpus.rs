//! Conformance: every real-world bake file in `../shared/corpus/bake` printed by
//! `leaven bake --print` (default selection and `'*'`) must equal what
//! `docker buildx bake --print` printed, recorded in `expected/`. Timestamps
//! (files calling `timestamp()`) are masked; the manifest's notes say which
//! environment and extra files each case needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use leaven::bake::{run, Output, Request};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/bake")
}

/// RFC 3339 timestamps become `<time>`: `timestamp()` differs on every run.
fn mask_timestamps(text: &str) -> String {
    let re = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)").unwrap();
    re.replace_all(text, "<time>").into_owned()
}

/// The environment of the recorded invocation (its `buildx_print_invocation`).
fn environment(invocation: &str) -> BTreeMap<String, String> {
    invocation
        .split_whitespace()
        .take_while(|w| *w != "buildx")
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The target names of the recorded command line (`… --print -f F -f G linux   (and '*')`).
fn selected_targets(invocation: &str) -> Vec<String> {
    let command = invocation.split("   ").next().unwrap_or_default();
    let mut words = command.split_whitespace().skip_while(|w| *w != "--print").skip(1);
    let mut targets = Vec::new();
    while let Some(word) = words.next() {
        if word == "-f" {
            words.next();
        } else {
            targets.push(word.to_string());
        }
    }
    targets
}

struct Case {
    name: String,
    request: Request,
    expected: String,
}

fn cases() -> Vec<Case> {
    let root = corpus();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("manifest.json")).expect("the corpus (../shared/corpus/bake) is missing"),
    )
    .unwrap();
    let mut cases = Vec::new();
    for entry in manifest.as_array().unwrap() {
        let Some(prints) = entry["buildx_print"].as_object() else { continue };
        let file = entry["file"].as_str().unwrap().trim_start_matches("files/").to_string();
        let invocation = entry["buildx_print_invocation"].as_str().unwrap_or_default();
        let mut files = vec![file.clone()];
        // A companion file (`…__docker-bake.override.json`) is loaded after its main file.
        let stem = file.rsplit_once('.').map(|(s, _)| s).unwrap_or(&file).to_string();
        let companion = format!("{stem}__docker-bake.override.json");
        if root.join("files").join(&companion).exists() {
            files.push(companion);
        }
        // The invocation names a default selection when the file has no `default` group.
        let default_targets = selected_targets(invocation);
        for (mode, print) in prints {
            let targets = if mode == "all" { vec!["*".to_string()] } else { default_targets.clone() };
            let expected_name = print["expected_print_file"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
            let expected = std::fs::read_to_string(root.join("expected").join(&expected_name)).unwrap();
            let request = Request {
                cwd: root.join("files"),
                files: files.clone(),
                targets,
                env: environment(invocation),
                ..Request::default()
            };
            cases.push(Case { name: format!("{file} ({mode})"), request, expected });
        }
    }
    cases
}

#[test]
fn corpus_prints_like_buildx() {
    let cases = cases();
    assert!(cases.len() >= 38, "expected the whole corpus, found {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        match run(&case.request, Output::Print) {
            Ok(out) if mask_timestamps(&out) == mask_timestamps(&case.expected) => {}
            Ok(out) => {
                let first = mask_timestamps(&out)
                    .lines()
                    .zip(mask_timestamps(&case.expected).lines())
                    .enumerate()
                    .find(|(_, (a, b))| a != b)
                    .map(|(i, (a, b))| format!("line {}: ours {a:?}, buildx {b:?}", i + 1))
                    .unwrap_or_else(|| "lengths differ".into());
                failures.push(format!("{}: {first}", case.name));
            }
            Err(e) => failures.push(format!("{}: error: {e}", case.name)),
        }
    }
    println!("{} of {} corpus cases identical to buildx", cases.len() - failures.len(), cases.len());
    assert!(failures.is_empty(), "{} differ:\n{}", failures.len(), failures.join("\n"));
}
