//! End-to-end bake checks that need an engine:
//! - remote definitions (`leaven bake URL …`) read through Docker 28 from a git
//!   repository served over smart HTTP on loopback (the engine's git source
//!   fetches from the host network), compared with `docker buildx bake --print`
//!   on the same URL, and builds from them;
//! - `--sbom`, `--provenance` and `attest` built on Docker 28 with the
//!   containerd image store and pushed to the loopback registry, whose index
//!   then holds the attestation manifest (the SBOM comes from a stand-in
//!   scanner image built here: the real one cannot be pulled offline);
//! - `BUILDX_BAKE_FILE_RELATIVE_PATHS=1` builds from the defining file's
//!   directory, which (outside the working directory) needs `--allow fs.read`.
//!
//! Runs without libtest so each check says what it ran on. A missing engine is
//! a failure, never a skip.

mod common;
#[path = "bake_engine/githttp.rs"]
mod githttp;

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use common::{expect, nonce, ok, tail, Engine, Report};
use githttp::GitHttp;

const TOKEN: &str = "leaven-remote-t0ken";
const HEADER: &str = "Bearer leaven-remote-header";

fn engine() -> Result<Engine, String> {
    common::engines()?.into_iter().find(|e| e.tag == "28").ok_or_else(|| "no Docker 28 engine".to_string())
}

fn sh(script: &str, dir: &Path) -> Result<String, String> {
    let out = Command::new("sh").arg("-c").arg(script).current_dir(dir).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("`{script}`: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// The repository the engine clones: a bake file, a Dockerfile at the root and
/// one in `sub/`, served as `repo.git` and (behind auth) `private/repo.git`.
fn make_repository(root: &Path, tag: &str) -> Result<(), String> {
    let work = root.join("work");
    std::fs::create_dir_all(work.join("sub")).map_err(|e| e.to_string())?;
    let bake = format!(
        r#"variable "TAG" {{ default = "{tag}" }}
target "default" {{
  tags = ["leaven-test/remote-root:${{TAG}}"]
}}
target "sub" {{
  context = "sub"
  contexts = {{ extra = "sub" }}
  tags = ["leaven-test/remote-sub:${{TAG}}"]
}}
target "cmd" {{
  context = BAKE_CMD_CONTEXT
}}
"#
    );
    let write = |path: &str, text: &str| std::fs::write(work.join(path), text).map_err(|e| e.to_string());
    write("docker-bake.hcl", &bake)?;
    write("Dockerfile", "FROM leaven-test/debian:bookworm\nCOPY hello.txt /hello.txt\n")?;
    write("hello.txt", "hello from the repository root\n")?;
    write("sub/Dockerfile", "FROM leaven-test/debian:bookworm\nCOPY note.txt /note.txt\nCOPY --from=extra note.txt /extra.txt\n")?;
    write("sub/note.txt", "hello from sub\n")?;
    sh(
        "git init -q -b main . && git add -A && git -c user.name=t -c user.email=t@t commit -q -m one \
         && git clone -q --bare . ../repo.git && mkdir -p ../private && git clone -q --bare . ../private/repo.git",
        &work,
    )?;
    std::fs::create_dir_all(root.join("files")).map_err(|e| e.to_string())?;
    std::fs::write(root.join("files/docker-bake.hcl"), format!("target \"default\" {{\n  tags = [\"leaven-test/remote-file:{tag}\"]\n}}\n"))
        .map_err(|e| e.to_string())
}

fn leaven(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leaven"));
    cmd.arg("bake").args(args).current_dir(dir);
    cmd.env_remove("DOCKER_CONTEXT").env_remove("BUILDKIT_HOST").env_remove("BUILDX_BAKE_GIT_AUTH_TOKEN").env_remove("BUILDX_BAKE_GIT_AUTH_HEADER");
    cmd.env("DOCKER_HOST", "unix:///run/leaven-test/docker-28.sock");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap_or_else(|e| panic!("cannot run leaven: {e}"))
}

fn buildx(engine: &Engine, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(&engine.docker);
    cmd.args(["buildx", "bake"]).args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", engine.docker.display()))
}

fn stdout_of(out: &Output) -> Result<String, String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("exit {:?}:\n{}", out.status.code(), tail(&String::from_utf8_lossy(&out.stderr))))
    }
}

fn failed_with(out: &Output, wanted: &str) -> Result<(), String> {
    if out.status.success() {
        return Err(format!("succeeded, wanted an error with {wanted:?}"));
    }
    expect("stderr", &String::from_utf8_lossy(&out.stderr), wanted)
}

/// The same print from leaven and buildx (buildx reads the definition through its builder too).
fn same_print(engine: &Engine, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
    same_print_but(engine, dir, args, env, &[])
}

/// [`same_print`] where buildx 0.36 (which leaven follows) differs from the 0.29
/// we can run: each `(ours, 0.29's)` pair is replaced in our print before comparing.
fn same_print_but(engine: &Engine, dir: &Path, args: &[&str], env: &[(&str, &str)], newer: &[(String, String)]) -> Result<String, String> {
    let ours = stdout_of(&leaven(dir, args, env))?;
    let theirs = stdout_of(&buildx(engine, dir, args, env)).map_err(|e| format!("buildx: {e}"))?;
    let mut as_029 = ours.clone();
    for (new, old) in newer {
        if !as_029.contains(new.as_str()) {
            return Err(format!("leaven printed no {new:?}:\n{ours}"));
        }
        as_029 = as_029.replace(new.as_str(), old);
    }
    if as_029 != theirs {
        return Err(format!("leaven printed\n{ours}\nbuildx printed\n{theirs}"));
    }
    Ok(ours)
}

fn run_image(engine: &Engine, image: &str, command: &str) -> Result<String, String> {
    ok(&engine.docker, &["run", "--rm", image, "sh", "-c", command], &common::repo(), &[])
}

fn checks(report: &mut Report, engine: &Engine, scratch: &Path) {
    let tag = nonce();
    let root = scratch.join("served");
    if let Err(why) = make_repository(&root, &tag) {
        report.check(engine, "make the served repository", Err(why));
        return;
    }
    let basic = format!("basic {}", base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{TOKEN}")));
    let server = GitHttp::start(root.clone(), vec![basic, HEADER.to_string()]);
    let repo = server.url("repo.git");
    let private = server.url("private/repo.git");
    let here = scratch.join("here");
    let _ = std::fs::create_dir_all(here.join("local-ctx"));

    // Newer than 0.29: buildx 0.36 prints a subdirectory context as the URL of
    // that subdirectory (`remoteURLWithSubdir`); 0.29 printed it as written.
    let subdir = |url: &str| vec![(format!("\"context\": \"{url}:sub\""), "\"context\": \"sub\"".to_string())];
    report.check(engine, "--print of a git definition is buildx's: `.` is the URL, subdirectories join the fragment (newer than 0.29)", (|| {
        let printed = same_print_but(engine, &here, &[&repo, "default", "sub", "cmd", "--print"], &[], &subdir(&format!("{repo}#")))?;
        expect("print", &printed, &format!("\"context\": \"{repo}\""))?;
        expect("print", &printed, "\"context\": \".\"")
    })());

    report.check(engine, "--print with a ref, a command context URL and a cwd:// file beside the remote one", (|| {
        std::fs::write(here.join("local.hcl"), "target \"local\" {\n  context = \"cwd://local-ctx\"\n}\n").map_err(|e| e.to_string())?;
        let with_ref = format!("{repo}#main");
        let other = server.url("other.git#v1");
        let args = [with_ref.as_str(), other.as_str(), "-f", "docker-bake.hcl", "-f", "cwd://local.hcl", "sub", "cmd", "local", "--print"];
        let printed = same_print_but(engine, &here, &args, &[], &subdir(&with_ref))?;
        expect("print", &printed, &format!("\"context\": \"{}\"", server.url("other.git#v1")))?;
        expect("print", &printed, "\"context\": \"local-ctx\"")
    })());

    report.check(engine, "--print of a definition fetched as a single https file keeps contexts local", (|| {
        let printed = same_print(engine, &here, &[&server.url("files/docker-bake.hcl"), "--print"], &[])?;
        expect("print", &printed, "\"context\": \".\"")?;
        expect("print", &printed, &format!("leaven-test/remote-file:{tag}"))
    })());

    report.check(engine, "builds the repository's targets: the root context and a subdirectory with a named context", (|| {
        stdout_of(&leaven(&here, &[&repo, "default", "sub", "--progress", "plain"], &[]))?;
        expect("root image", &run_image(engine, &format!("leaven-test/remote-root:{tag}"), "cat /hello.txt")?, "hello from the repository root")?;
        let sub = run_image(engine, &format!("leaven-test/remote-sub:{tag}"), "cat /note.txt /extra.txt")?;
        expect("sub image", &sub, "hello from sub\nhello from sub")
    })());

    let unauthorized = failed_with(&leaven(&here, &[&private, "--print"], &[]), &format!("cannot read the remote bake definition {private}"));
    report.check(engine, "a private repository without credentials fails naming the definition", unauthorized);

    report.check(engine, "BUILDX_BAKE_GIT_AUTH_TOKEN reads (--print, same as buildx) and builds a private repository", (|| {
        let env = [("BUILDX_BAKE_GIT_AUTH_TOKEN", TOKEN)];
        let printed = same_print(engine, &here, &[&private, "--print"], &env)?;
        expect("print", &printed, &format!("\"context\": \"{private}\""))?;
        stdout_of(&leaven(&here, &[&private, "--set", &format!("*.tags=leaven-test/remote-private:{tag}")], &env))?;
        expect("private image", &run_image(engine, &format!("leaven-test/remote-private:{tag}"), "cat /hello.txt")?, "hello from the repository root")
    })());

    report.check(engine, "BUILDX_BAKE_GIT_AUTH_HEADER reads a private repository", (|| {
        let printed = stdout_of(&leaven(&here, &[&private, "--print"], &[("BUILDX_BAKE_GIT_AUTH_HEADER", HEADER)]))?;
        expect("print", &printed, &format!("\"context\": \"{private}\""))
    })());

    report.check(engine, "an unreachable source and an unreachable engine are errors naming the source", (|| {
        let gone = "http://127.0.0.1:9/gone.git";
        failed_with(&leaven(&here, &[gone, "--print"], &[]), &format!("cannot read the remote bake definition {gone}"))?;
        let out = leaven(&here, &[&repo, "--print"], &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]);
        failed_with(&out, &format!("cannot read the remote bake definition {repo}"))
    })());

    let missing = failed_with(&leaven(&here, &[&repo, "-f", "nope.hcl", "--print"], &[]), "nope.hcl");
    report.check(engine, "a -f file that is not in the repository is an error", missing);

    for image in ["remote-root", "remote-sub", "remote-private"] {
        let _ = ok(&engine.docker, &["rmi", &format!("leaven-test/{image}:{tag}")], &common::repo(), &[]);
    }
}

fn file_relative_checks(report: &mut Report, engine: &Engine, scratch: &Path) {
    let tag = nonce();
    let work = scratch.join("relative/work");
    let other = scratch.join("relative/other");
    let image = format!("leaven-test/bake-engine-relative:{tag}");
    let setup = (|| {
        std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(other.join("ctx")).map_err(|e| e.to_string())?;
        let bake = format!("target \"default\" {{\n  contexts = {{ extra = \"ctx\" }}\n  tags = [\"{image}\"]\n}}\n");
        std::fs::write(other.join("docker-bake.hcl"), bake).map_err(|e| e.to_string())?;
        std::fs::write(other.join("Dockerfile"), "FROM leaven-test/debian:bookworm\nCOPY --from=extra note.txt /note.txt\n").map_err(|e| e.to_string())?;
        std::fs::write(other.join("ctx/note.txt"), "beside the bake file\n").map_err(|e| e.to_string())
    })();
    if let Err(why) = setup {
        report.check(engine, "write the file-relative layout", Err(why));
        return;
    }
    let relative = [("BUILDX_BAKE_FILE_RELATIVE_PATHS", "1")];
    report.check(engine, "a file-relative context outside the working directory needs --allow fs.read (buildx's message)", (|| {
        let out = leaven(&work, &["-f", "../other/docker-bake.hcl"], &relative);
        failed_with(&out, "ERROR: additional privileges requested")?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        expect("stderr", &stderr, " - Read access to path ../other\n")?;
        expect("stderr", &stderr, "Pass \"--allow=fs.read=../other\" to grant requested privileges.")
    })());
    report.check(engine, "with --allow fs.read=../other it builds from the file's directory and its named context", (|| {
        stdout_of(&leaven(&work, &["-f", "../other/docker-bake.hcl", "--allow", "fs.read=../other"], &relative))?;
        expect("image", &run_image(engine, &image, "cat /note.txt")?, "beside the bake file")?;
        let _ = ok(&engine.docker, &["rmi", &image], &common::repo(), &[]);
        Ok(())
    })());
}

/// A stand-in for docker/buildkit-syft-scanner, following BuildKit's scanner
/// protocol: the image to scan is mounted at `$BUILDKIT_SCAN_SOURCE`, and every
/// file left in `$BUILDKIT_SCAN_DESTINATION` is an in-toto statement.
const SCANNER: &str = r#"#!/bin/sh
set -eu
files=$(cd "$BUILDKIT_SCAN_SOURCE" && find . -type f | wc -l)
cat > "$BUILDKIT_SCAN_DESTINATION/sbom.spdx.json" <<JSON
{"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://spdx.dev/Document", "subject": [],
 "predicate": {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": "leaven-stand-in-scan",
  "documentNamespace": "https://leaven.invalid/sbom/stand-in", "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: leaven-stand-in-scanner"]},
  "packages": [{"name": "scanned-files", "SPDXID": "SPDXRef-scanned", "downloadLocation": "NOASSERTION", "filesAnalyzed": false, "comment": "$files files"}]}}
JSON
"#;

/// A manifest or blob of the loopback registry, as JSON.
fn registry_json(path: &str) -> Result<serde_json::Value, String> {
    let accept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";
    let url = format!("http://127.0.0.1:25000/v2/{path}");
    let out = Command::new("curl").args(["-sf", "-H", &format!("Accept: {accept}"), &url]).output().map_err(|e| format!("curl: {e}"))?;
    if !out.status.success() {
        return Err(format!("GET {url} failed"));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{url}: {e}"))
}

fn attestation_checks(report: &mut Report, engine: &Engine, scratch: &Path) {
    let tag = nonce();
    let dir = scratch.join("attest");
    let scanner = "leaven-test/bake-engine-scanner:1";
    let repository = "leaven-test/bake-engine-attest";
    let setup = (|| {
        std::fs::create_dir_all(dir.join("scanner")).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("scanner/scan.sh"), SCANNER).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("scanner/Dockerfile"), "FROM leaven-test/debian:bookworm\nCOPY scan.sh /scan.sh\nCMD [\"sh\", \"/scan.sh\"]\n")
            .map_err(|e| e.to_string())?;
        ok(&engine.docker, &["build", "-q", "-t", scanner, "."], &dir.join("scanner"), &[])?;
        std::fs::write(dir.join("Dockerfile"), format!("FROM leaven-test/debian:bookworm\nRUN echo {tag} > /built.txt\n")).map_err(|e| e.to_string())?;
        let bake = format!(
            "target \"default\" {{\n  tags = [\"127.0.0.1:25000/{repository}:{tag}\"]\n  attest = [\"type=provenance,mode=max\"]\n  output = [\"type=image,push=true\"]\n}}\n"
        );
        std::fs::write(dir.join("docker-bake.hcl"), bake).map_err(|e| e.to_string())
    })();
    if let Err(why) = setup {
        report.check(engine, "build the stand-in SBOM scanner image", Err(why));
        return;
    }
    let bake = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_leaven"));
        cmd.arg("bake").args(args).current_dir(&dir).env_remove("DOCKER_CONTEXT").env_remove("BUILDKIT_HOST");
        cmd.env("DOCKER_HOST", "unix:///run/leaven-test/docker-28c.sock");
        cmd.output().unwrap_or_else(|e| panic!("cannot run leaven: {e}"))
    };
    report.check(engine, "--sbom generator=<local scanner> and attest provenance mode=max: the pushed index has both attestations", (|| {
        stdout_of(&bake(&["--sbom", &format!("generator={scanner}"), "--progress", "plain"]))?;
        let index = registry_json(&format!("{repository}/manifests/{tag}"))?;
        let manifests = index["manifests"].as_array().ok_or("the image is not an index")?;
        let image = manifests.iter().find(|m| m["platform"]["os"] == "linux").ok_or("no linux manifest in the index")?;
        let attestation = manifests
            .iter()
            .find(|m| m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest")
            .ok_or_else(|| format!("no attestation manifest in {index}"))?;
        if attestation["annotations"]["vnd.docker.reference.digest"] != image["digest"] {
            return Err(format!("the attestation manifest refers to {} instead of the image {}", attestation["annotations"], image["digest"]));
        }
        let digest = attestation["digest"].as_str().unwrap_or_default();
        let layers = registry_json(&format!("{repository}/manifests/{digest}"))?["layers"].clone();
        let layers = layers.as_array().ok_or("the attestation manifest has no layers")?;
        let predicate = |kind: &str| layers.iter().find(|l| l["annotations"]["in-toto.io/predicate-type"].as_str().is_some_and(|t| t.starts_with(kind)));
        let sbom = predicate("https://spdx.dev/Document").ok_or_else(|| format!("no SPDX layer in {layers:?}"))?;
        let provenance = predicate("https://slsa.dev/provenance/").ok_or_else(|| format!("no provenance layer in {layers:?}"))?;
        let sbom = registry_json(&format!("{repository}/blobs/{}", sbom["digest"].as_str().unwrap_or_default()))?;
        expect("the SBOM statement", &sbom.to_string(), "leaven-stand-in-scan")?;
        let provenance = registry_json(&format!("{repository}/blobs/{}", provenance["digest"].as_str().unwrap_or_default()))?;
        // mode=max records the build's definition; mode=min does not.
        expect("the provenance statement", &provenance.to_string(), "\"buildConfig\"")
    })());
    report.check(engine, "--provenance false and attest disabled leave a plain image", (|| {
        let plain = format!("127.0.0.1:25000/{repository}:{tag}-plain");
        stdout_of(&bake(&["--provenance", "false", "--set", &format!("*.tags={plain}")]))?;
        let index = registry_json(&format!("{repository}/manifests/{tag}-plain"))?;
        if index.to_string().contains("attestation-manifest") {
            return Err(format!("an attestation was pushed: {index}"));
        }
        Ok(())
    })());
}

fn main() {
    let mut report = Report { passed: 0, failed: 0 };
    let scratch = std::env::temp_dir().join(format!("leaven-remote-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let _ = std::fs::create_dir_all(&scratch);
    match engine() {
        Ok(engine) => {
            println!("engine: {} ({})", engine.label, engine.docker.display());
            checks(&mut report, &engine, &scratch);
            file_relative_checks(&mut report, &engine, &scratch);
            let docker = engine.docker.with_file_name("docker-28c");
            match ok(&docker, &["version", "--format", "{{.Server.Version}}"], &common::repo(), &[]) {
                Ok(version) => {
                    let containerd = Engine { label: format!("Docker Engine {version}, containerd store"), docker, modern: true, tag: "28c" };
                    attestation_checks(&mut report, &containerd, &scratch);
                }
                Err(why) => report.check(&engine, "the containerd-store engine docker-28c is running", Err(why)),
            }
        }
        Err(why) => {
            report.failed += 1;
            println!("FAIL  engines: {why}");
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    report.finish("bake_engine");
}
