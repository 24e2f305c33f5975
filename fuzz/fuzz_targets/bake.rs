//! A bake file, as `leaven bake --print` and `--list` read it: the input is one
//! file, read as HCL, and also as JSON or Compose when it looks like one.
//! Errors are fine; panics, overflows, hangs and huge allocations are not.
#![no_main]

use leaven::bake::{run_files, Output, Request};
use leaven::hcl::SourceFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut names = vec!["docker-bake.hcl"];
    if text.trim_start().starts_with(['{', '[']) {
        names.push("docker-bake.json");
    }
    if text.contains("services") {
        names.push("compose.yaml");
    }
    // No files are read from disk; the cwd only names contexts.
    let request = Request { cwd: "/nonexistent".into(), ..Request::default() };
    for name in names {
        let files = || vec![SourceFile::new(name, text)];
        if run_files(&request, files(), Output::Print).is_err() {
            let all = Request { targets: vec!["*".into()], ..request.clone() };
            let _ = run_files(&all, files(), Output::Print);
        }
        let _ = run_files(&request, files(), Output::ListTargets(false));
        let _ = run_files(&request, files(), Output::ListVariables(true));
    }
});
