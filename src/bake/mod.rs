//! `leaven bake`: reads bake files exactly as `docker buildx bake` does.
//!
//! The pipeline: `load` finds and parses the files (HCL, HCL-JSON, Compose),
//! `compose` turns Compose services into targets, `evaluate` runs the HCL
//! (variables, functions, matrices) into a `model::Config`, `resolve` applies
//! `--set`, selection, `inherits` and links, `check` makes the checks buildx
//! makes of build options, and `print` writes what buildx writes.

pub mod check;
pub mod compose;
pub mod entitlements;
mod error;
pub mod evaluate;
pub mod file_relative;
pub mod load;
pub mod model;
pub mod print;
pub mod remote;
pub mod resolve;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::hcl::SourceFile;
pub use error::BakeError;
use load::Definition;
use model::Config;

/// One `bake` invocation's inputs. The environment is passed in, not read, so
/// evaluation is a pure function of the request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub cwd: PathBuf,
    /// `-f` files, in order; empty means the default lookup.
    pub files: Vec<String>,
    /// Target or group names and globs; empty means `default`.
    pub targets: Vec<String>,
    /// `--set` flags.
    pub set: Vec<String>,
    /// `--var NAME=VALUE` flags.
    pub vars: Vec<(String, String)>,
    pub env: BTreeMap<String, String>,
    /// The remote definition (`bake URL …`) and the command context after it
    /// (`BAKE_CMD_CONTEXT`; `None` is `cwd://`).
    pub url: Option<String>,
    pub cmd_context: Option<String>,
}

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Print,
    /// `--list targets`; `true` for `format=json`.
    ListTargets(bool),
    ListVariables(bool),
}

/// The command-line flags buildx turns into `--set` overrides on every target.
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    pub push: bool,
    pub load: bool,
    pub no_cache: bool,
    pub pull: bool,
    /// `--call`'s value (`--check` is `--call check`).
    pub call: Option<String>,
    /// `--sbom` and `--provenance`: a boolean, or attestation options.
    pub sbom: Option<String>,
    pub provenance: Option<String>,
    /// `--policy` flags: `disabled`, `strict`, `log-level` for every target.
    pub policy: Vec<String>,
}

impl FlagOverrides {
    /// The `--set` flags these stand for, appended after the user's, in buildx's order.
    pub fn to_set(&self) -> Result<Vec<String>, BakeError> {
        let mut set = Vec::new();
        for (on, flag) in [(self.push, "*.push=true"), (self.load, "*.load=true")] {
            if on {
                set.push(flag.to_string());
            }
        }
        if let Some(call) = &self.call {
            // The format option only shapes how results print; `check` is the lint method.
            let method = call.split(',').next().unwrap_or_default();
            set.push(format!("*.call={}", if method == "check" { "lint" } else { method }));
        }
        for (on, flag) in [(self.no_cache, "*.no-cache=true"), (self.pull, "*.pull=true")] {
            if on {
                set.push(flag.to_string());
            }
        }
        for (kind, value) in [("sbom", &self.sbom), ("provenance", &self.provenance)] {
            if let Some(attest) = value.as_deref().and_then(|v| canonical_attest(kind, v)) {
                set.push(format!("*.attest={attest}"));
            }
        }
        set.extend(policy_overrides(&self.policy).map_err(BakeError::Flag)?);
        Ok(set)
    }
}

/// buildx's `CanonicalizeAttest`: `--sbom=true|false` turns the attestation on
/// or off; anything else is its options.
pub fn canonical_attest(kind: &str, value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    Some(match model::parse_go_bool(value) {
        Some(on) => format!("type={kind},disabled={}", !on),
        None => format!("type={kind},{value}"),
    })
}

/// `--policy` flags as overrides: options append to every target's policies;
/// `disabled=true`, alone, replaces them all.
fn policy_overrides(flags: &[String]) -> Result<Vec<String>, String> {
    let mut set = Vec::new();
    for flag in flags {
        let policy = evaluate::parse_policy(flag)?;
        if !policy.files.is_empty() {
            return Err("--policy does not accept filename; define policy files in the bake definition".into());
        }
        if policy.reset {
            return Err("--policy does not accept reset; define policy composition in the bake definition".into());
        }
        if policy.disabled {
            if policy.strict.is_some() || policy.log_level.is_some() || flags.len() > 1 {
                return Err("disabled policy cannot be combined with other policy flags".into());
            }
            return Ok(vec!["*.policy=disabled=true".into()]);
        }
        set.push(format!("*.policy+={flag}"));
    }
    Ok(set)
}

/// Checks `--allow` entitlements as buildx parses them (before reading any
/// file): `network.host`, `security.insecure`, `ssh`, `buildx.local.delete`,
/// `device[=name]`, `fs[.read|.write]=path`, `image[.push|.load]=ref`.
pub fn check_allow(flags: &[String]) -> Result<(), BakeError> {
    for flag in flags {
        if matches!(flag.as_str(), "network.host" | "security.insecure" | "ssh" | "buildx.local.delete") {
            continue;
        }
        let (key, value) = flag.split_once('=').unwrap_or((flag, ""));
        match key {
            "device" if !value.is_empty() => {
                evaluate::csv_fields(value).map_err(|e| BakeError::Flag(format!("failed to parse device entitlement {value:?}: {e}")))?;
            }
            "device" | "fs.read" | "fs.write" | "fs" | "image.push" | "image.load" | "image" => {}
            "buildx.local.delete" => return Err(BakeError::Flag("buildx.local.delete does not accept a value".into())),
            _ => return Err(BakeError::Flag(format!("unknown entitlement key {key:?}"))),
        }
    }
    Ok(())
}

/// Parses `--list`'s value: `targets`, `variables`, or `type=…[,format=json|table]`.
pub fn list_output(spec: &str) -> Result<Output, BakeError> {
    let mut kind = "";
    let mut json = false;
    for field in spec.split(',') {
        match field.split_once('=') {
            None => kind = field,
            Some(("type", v)) => kind = v,
            Some(("format", "json")) => json = true,
            Some(("format", "table")) => json = false,
            Some(_) => return Err(BakeError::Flag(format!("invalid list option {field:?}"))),
        }
    }
    match kind {
        "targets" => Ok(Output::ListTargets(json)),
        "variables" => Ok(Output::ListVariables(json)),
        other => Err(BakeError::Flag(format!("invalid list type {other:?}"))),
    }
}

/// The platform buildx reports as `BAKE_LOCAL_PLATFORM` on this machine.
pub fn local_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm/v7",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("linux/{arch}")
}

/// Reads and evaluates the request's files into a config.
pub fn load_config(request: &Request) -> Result<Config, BakeError> {
    let env = |k: &str| request.env.get(k).cloned();
    let files = load::find_files(&request.cwd, &request.files, &env)?;
    config_of(request, files)
}

/// The config of a remote definition: the files fetched from it, then the
/// `-f cwd://…` files beside it (buildx reads them in that order).
pub fn load_remote_config(request: &Request, fetched: Vec<SourceFile>) -> Result<Config, BakeError> {
    let env = |k: &str| request.env.get(k).cloned();
    let local: Vec<String> = request.files.iter().filter(|f| f.starts_with("cwd://")).cloned().collect();
    let mut files = fetched;
    if !local.is_empty() {
        files.extend(load::find_files(&request.cwd, &local, &env)?);
    }
    if files.is_empty() {
        return Err(BakeError::NoDefinition);
    }
    config_of(request, files)
}

/// The `-f` names a remote definition is read with: those not marked `cwd://`.
pub fn remote_file_names(request: &Request) -> Vec<String> {
    request.files.iter().filter(|f| !f.starts_with("cwd://")).cloned().collect()
}

/// Evaluates files already read (named as `-f` would name them) into a config;
/// the request's own file list is not consulted.
pub fn config_of(request: &Request, files: Vec<SourceFile>) -> Result<Config, BakeError> {
    let env = |k: &str| request.env.get(k).cloned();
    let mut hcl_files = Vec::new();
    let mut compose_files = Vec::new();
    for file in files {
        match load::parse(file).map_err(BakeError::At)? {
            Definition::Hcl { file, body } => hcl_files.push((file, body)),
            Definition::Compose { file, yaml } => compose_files.push((file, yaml)),
        }
    }
    let vars: Vec<(String, String)> = request.vars.clone();
    let cmd_context = request.cmd_context.clone().unwrap_or_else(|| "cwd://".into());
    let file_relative = file_relative::enabled(request.env.get("BUILDX_BAKE_FILE_RELATIVE_PATHS").map(String::as_str))?;
    let inputs = evaluate::Inputs { env: &env, vars: &vars, local_platform: local_platform(), cmd_context, file_relative };
    let mut config = compose::targets(&compose_files, &request.cwd, &env, &vars)?;
    if let Some(base) = compose_files.first().and_then(|(file, _)| file_relative::file_dir(&file.name)).filter(|_| file_relative) {
        for t in &mut config.targets {
            if let Some(context) = t.context.as_mut() {
                *context = file_relative::rebase(&base, context);
            }
            for value in t.contexts.values_mut() {
                *value = file_relative::rebase(&base, value);
            }
            t.default_context_base = Some(base.clone());
        }
    }
    // Templates in JSON strings are parsed on their own, so their positions are not
    // the file's: errors from JSON files name the file only.
    let evaluated = evaluate::evaluate(&hcl_files, &inputs)
        .map_err(|d| if d.file.to_lowercase().ends_with(".json") { BakeError::InJson(d) } else { BakeError::At(d) })?;
    // HCL is decoded on top of Compose: same-named targets merge, HCL winning.
    let mut by_name: std::collections::HashMap<String, usize> =
        config.targets.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
    for t in evaluated.targets {
        match by_name.get(&t.name) {
            Some(&i) => config.targets[i].merge(&t),
            None => {
                by_name.insert(t.name.clone(), config.targets.len());
                config.targets.push(t);
            }
        }
    }
    for g in evaluated.groups {
        match config.groups.iter_mut().find(|c| c.name == g.name) {
            Some(existing) => existing.add_targets(g.targets),
            None => config.groups.push(g),
        }
    }
    config.variables = evaluated.variables;
    Ok(config)
}

/// Runs a request: the text buildx would print, or its error message.
pub fn run(request: &Request, output: Output) -> Result<String, BakeError> {
    render(request, &load_config(request)?, output, None)
}

/// [`run`] over files already read (tests and fuzzing use it: no disk).
pub fn run_files(request: &Request, files: Vec<SourceFile>, output: Output) -> Result<String, BakeError> {
    render(request, &config_of(request, files)?, output, None)
}

/// [`run`] for a remote definition, over the files fetched from it.
pub fn run_remote(request: &Request, fetched: Vec<SourceFile>, input: &remote::Input, output: Output) -> Result<String, BakeError> {
    render(request, &load_remote_config(request, fetched)?, output, Some(input))
}

fn render(request: &Request, config: &Config, output: Output, input: Option<&remote::Input>) -> Result<String, BakeError> {
    match output {
        Output::ListTargets(json) => return Ok(print::list_targets(config, json)),
        Output::ListVariables(json) => return Ok(print::list_variables(config, json)),
        Output::Print => {}
    }
    let selection = select(request, config, input)?;
    // buildx prints only once the targets have become build options.
    let env = |k: &str| request.env.get(k).cloned();
    check::check_selection(&selection, &request.cwd, &env, &check::LocalDisk)?;
    Ok(print::print(&selection))
}

/// The targets a request builds (or prints), fully resolved: `--set`, groups,
/// globs, `inherits`, links, and `SOURCE_DATE_EPOCH` from the environment;
/// contexts point into the remote definition `input` came from, if any.
pub fn select(request: &Request, config: &Config, input: Option<&remote::Input>) -> Result<resolve::Selection, BakeError> {
    let env = |k: &str| request.env.get(k).cloned();
    let overrides = resolve::parse_overrides(config, &request.set, &env)?;
    let requested = if request.targets.is_empty() { vec!["default".to_string()] } else { request.targets.clone() };
    let mut selection = config.select(&requested, &overrides, input)?;
    if let Some(epoch) = request.env.get("SOURCE_DATE_EPOCH") {
        for t in selection.targets.values_mut() {
            t.args.entry("SOURCE_DATE_EPOCH".into()).or_insert_with(|| Some(epoch.clone()));
        }
    }
    Ok(selection)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `--print` (or a list) over files written to a fresh directory.
    fn bake(files: &[(&str, &str)], targets: &[&str], env: &[(&str, &str)], output: Output) -> Result<String, String> {
        let dir = std::env::temp_dir().join(format!("leaven-bake-unit-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let request = Request {
            cwd: dir.clone(),
            targets: targets.iter().map(|t| t.to_string()).collect(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Request::default()
        };
        let result = run(&request, output).map_err(|e| e.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn target(out: &str, name: &str) -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(out).unwrap()["target"][name].clone()
    }

    #[test]
    fn errors_name_the_file_line_and_column_with_a_code_frame() {
        let hcl = "variable \"V\" { default = null }\ntarget \"default\" {\n  tags = [\"x-${V}\"]\n}\n";
        let err = bake(&[("docker-bake.hcl", hcl)], &[], &[], Output::Print).unwrap_err();
        assert!(err.starts_with("docker-bake.hcl:3:16: Invalid template interpolation value"), "{err}");
        assert!(err.contains("3 |   tags = [\"x-${V}\"]"), "{err}");
    }

    #[test]
    fn a_cycle_through_two_variables_is_an_error() {
        // buildx names either variable (Go map order); leaven names the one it
        // re-entered first, the same every run.
        let hcl = "variable \"A\" { default = B }\nvariable \"B\" { default = A }\ntarget \"default\" { args = { A = A } }\n";
        let err = bake(&[("docker-bake.hcl", hcl)], &[], &[], Output::Print).unwrap_err();
        assert!(err.starts_with("docker-bake.hcl:2:26: variable cycle not allowed for A"), "{err}");
    }

    #[test]
    fn environment_overrides_are_typed_after_the_default() {
        let hcl = "variable \"N\" { default = 1 }\nvariable \"L\" { type = list(string) }\ntarget \"default\" { args = { N = N + 1, L = join(\"|\", L) } }\n";
        let out = bake(&[("docker-bake.hcl", hcl)], &[], &[("N", "41"), ("L", "a,b")], Output::Print).unwrap();
        assert_eq!(target(&out, "default")["args"], serde_json::json!({"L": "a|b", "N": "42"}));
        let err = bake(&[("docker-bake.hcl", hcl)], &[], &[("N", "x")], Output::Print).unwrap_err();
        assert!(err.contains("failed to parse N as number"), "{err}");
    }

    #[test]
    fn var_flags_beat_the_environment_but_not_builtins() {
        let dir = std::env::temp_dir().join(format!("leaven-bake-var-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hcl = "variable \"V\" { default = \"d\" }\ntarget \"default\" { args = { V = V, P = BAKE_CMD_CONTEXT } }\n";
        std::fs::write(dir.join("docker-bake.hcl"), hcl).unwrap();
        let request = Request {
            cwd: dir.clone(),
            vars: vec![("V".into(), "flag".into()), ("BAKE_CMD_CONTEXT".into(), "x".into())],
            env: [("V".to_string(), "env".to_string())].into(),
            ..Request::default()
        };
        let out = run(&request, Output::Print).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(target(&out, "default")["args"], serde_json::json!({"P": "cwd://", "V": "flag"}));
    }

    #[test]
    fn json_strings_are_templates() {
        let json = r#"{"variable": {"T": {"default": "v1"}}, "target": {"default": {"tags": ["app:${T}", "f(T)"]}}}"#;
        let out = bake(&[("docker-bake.json", json)], &[], &[], Output::Print).unwrap();
        assert_eq!(target(&out, "default")["tags"], serde_json::json!(["app:v1", "f(T)"]));
    }

    #[test]
    fn errors_in_json_name_the_file_only() {
        let json = r#"{"target": {"default": {"tags": ["x-${nope}"]}}}"#;
        let err = bake(&[("docker-bake.json", json)], &[], &[], Output::Print).unwrap_err();
        assert!(err.starts_with("docker-bake.json: Unknown variable"), "{err}");
    }

    #[test]
    fn linked_targets_print_as_cacheonly() {
        let hcl = "target \"base\" {}\ntarget \"default\" { contexts = { b = \"target:base\" } }\n";
        let out = bake(&[("docker-bake.hcl", hcl)], &[], &[], Output::Print).unwrap();
        assert_eq!(target(&out, "base")["output"], serde_json::json!([{"type": "cacheonly"}]));
    }

    #[test]
    fn list_variables_is_a_tab_table() {
        let hcl = "variable \"TAG\" {\n  default = \"latest\"\n  description = \"the tag\"\n}\nvariable \"N\" { default = null }\n";
        let out = bake(&[("docker-bake.hcl", hcl)], &[], &[], Output::ListVariables(false)).unwrap();
        assert_eq!(out, "VARIABLE\tTYPE\tVALUE\tDESCRIPTION\nN\t\t\t<null>\t\nTAG\t\t\tlatest\tthe tag\n");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let bodies = [
            "target \"default\" { args = { A = cidrsubnet(\"::/0\", 129, 1) } }",
            "target \"default\" { args = { A = jsonencode(cidrsubnets(\"10.0.0.0/31\", 1, 1, 1)) } }",
            "target \"default\" { args = { A = timeadd(\"2024-01-01T00:00:00Z\", \"99999999999h\") } }",
            "target \"default\" { args = { A = element([], 1) } }",
            "target \"default\" { args = { A = [1][5] } }",
            "target \"default\" { args = { A = format(\"%\") } }",
            "target \"default\" {\n  matrix = { a = \"x\" }\n}",
            "target \"default\" { inherits = [1, [2]] }",
            "variable \"V\" { type = list(list(list())) }",
        ];
        for body in bodies {
            assert!(bake(&[("docker-bake.hcl", body)], &[], &[], Output::Print).is_err(), "{body}");
        }
        let json = r#"{"function": {"f": {"params": ["not an ident"], "result": "x"}}}"#;
        assert!(bake(&[("docker-bake.json", json)], &[], &[], Output::Print).is_err());
    }

    /// Long chains of inherits, groups and links resolve without deep
    /// recursion (a test thread has a 2 MiB stack).
    #[test]
    fn long_chains_resolve() {
        let depth = 1000;
        let mut hcl = String::from("target \"c0\" { tags = [\"t\"] }\ngroup \"g0\" { targets = [\"c0\"] }\n");
        for i in 1..depth {
            hcl.push_str(&format!("target \"c{i}\" {{\n  inherits = [\"c{}\"]\n  contexts = {{ up = \"target:c{}\" }}\n}}\n", i - 1, i - 1));
            hcl.push_str(&format!("group \"g{i}\" {{ targets = [\"g{}\"] }}\n", i - 1));
        }
        let last = format!("c{}", depth - 1);
        let out = bake(&[("docker-bake.hcl", &hcl)], &[&last, &format!("g{}", depth - 1)], &[], Output::Print).unwrap();
        assert_eq!(target(&out, &last)["tags"], serde_json::json!(["t"]));
        assert_eq!(target(&out, "c1")["output"], serde_json::json!([{"type": "cacheonly"}]));
    }

    /// `--print` with `BUILDX_BAKE_FILE_RELATIVE_PATHS=1` over files in subdirectories
    /// (newer than buildx 0.29, which ignores the variable: expected prints from bake.md).
    #[test]
    fn file_relative_paths_join_each_files_directory() {
        let dir = std::env::temp_dir().join(format!("leaven-bake-relative-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let sub = "target \"app\" {\n  context = \"./app\"\n  contexts = { lib = \"../lib\", img = \"docker-image://alpine\" }\n}\ntarget \"plain\" {}\ntarget \"abs\" {\n  context = \"/srv/x\"\n}\n";
        std::fs::write(dir.join("sub/docker-bake.hcl"), sub).unwrap();
        let top = "target \"same\" {\n  context = target.app.context\n}\ntarget \"child\" {\n  inherits = [\"plain\"]\n}\n";
        std::fs::write(dir.join("top.hcl"), top).unwrap();
        std::fs::write(dir.join("sub/compose.yaml"), "services:\n  web:\n    build:\n      context: web\n").unwrap();
        let print = |files: &[&str], set: &[&str], relative: &str| {
            let request = Request {
                cwd: dir.clone(),
                files: files.iter().map(|f| f.to_string()).collect(),
                targets: vec!["app".into(), "plain".into(), "abs".into(), "same".into(), "child".into()],
                set: set.iter().map(|s| s.to_string()).collect(),
                env: [("BUILDX_BAKE_FILE_RELATIVE_PATHS".to_string(), relative.to_string())].into(),
                ..Request::default()
            };
            run(&request, Output::Print).map_err(|e| e.to_string())
        };
        let out = print(&["sub/docker-bake.hcl", "top.hcl"], &[], "1").unwrap();
        assert_eq!(target(&out, "app")["context"], "sub/app");
        assert_eq!(target(&out, "app")["contexts"], serde_json::json!({"img": "docker-image://alpine", "lib": "lib"}));
        assert_eq!(target(&out, "plain")["context"], "sub");
        assert_eq!(target(&out, "abs")["context"], "/srv/x");
        // `target.app.context` is app's path as written there, so it joins app's directory.
        assert_eq!(target(&out, "same")["context"], "sub/app");
        // The default context is the directory of the file defining the target itself.
        assert_eq!(target(&out, "child")["context"], ".");
        // `--set` values are relative to the working directory.
        let out = print(&["sub/docker-bake.hcl", "top.hcl"], &["app.context=mine"], "true").unwrap();
        assert_eq!(target(&out, "app")["context"], "mine");
        // Off, the working directory as before.
        let out = print(&["sub/docker-bake.hcl", "top.hcl"], &[], "0").unwrap();
        assert_eq!(target(&out, "app")["context"], "app");
        assert_eq!(target(&out, "plain")["context"], ".");
        let err = print(&["sub/docker-bake.hcl"], &[], "yes").unwrap_err();
        assert!(err.starts_with("failed to parse BUILDX_BAKE_FILE_RELATIVE_PATHS value \"yes\""), "{err}");
        // Compose targets join the first Compose file's directory.
        let request = Request {
            cwd: dir.clone(),
            files: vec!["sub/compose.yaml".into()],
            targets: vec!["web".into()],
            env: [("BUILDX_BAKE_FILE_RELATIVE_PATHS".to_string(), "1".to_string())].into(),
            ..Request::default()
        };
        let out = run(&request, Output::Print).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(target(&out, "web")["context"], "sub/web");
    }

    #[test]
    fn no_definition_is_an_error() {
        assert_eq!(bake(&[], &[], &[], Output::Print).unwrap_err(), "couldn't find a bake definition");
    }
}
