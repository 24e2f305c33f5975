//! A spec, as `leaven plan`, `leaven llb` and `leaven dockerfile` take it:
//! parse and check, select the default target, plan, compile against stand-in
//! base images and marshal, and eject a Dockerfile. Errors are fine; panics,
//! overflows, hangs and huge allocations are not.
#![no_main]

use std::collections::BTreeMap;

use leaven::cli::Loaded;
use leaven::hcl::SourceFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let file = SourceFile::new("app.hcl", text);
    let Ok(spec) = leaven::spec::parse_spec(&file, &BTreeMap::new()) else { return };
    let loaded = Loaded { file, spec };
    let _ = leaven::cli::plan(&loaded, None);
    let _ = leaven::cli::llb_json(&loaded, None, vec!["node_modules".into()]);
    let _ = leaven::cli::dockerfile(&loaded, None);
});
