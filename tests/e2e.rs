//! End-to-end: real `docker build` / `docker buildx bake` runs through the
//! `leaven:dev` frontend image on both test engines (Docker 20.10 and 28.x).
//!
//! Runs without libtest so each check can say which engine and version it ran
//! on. A missing engine is a failure, never a skip: `make test` provisions them.

mod common;

use common::{engines, expect, nonce, ok, repo, run, saved_image_contains, Engine, Report};

fn build_hello(engine: &Engine, image: &str, extra: &[&str]) -> Result<(), String> {
    let dir = repo().join("examples/hello");
    let mut args = vec!["build", "-f", "app.hcl", "-t", image];
    args.extend_from_slice(extra);
    args.push(".");
    ok(&engine.docker, &args, &dir, &[]).map(drop)
}

fn hello_checks(report: &mut Report, engine: &Engine) {
    let d = &engine.docker;
    let here = repo();
    let image = format!("leaven-e2e/hello:{}", engine.tag);
    let first_nonce = format!("NONCE={}", nonce());
    let built = build_hello(engine, &image, &["--build-arg", &first_nonce]);
    let is_built = built.is_ok();
    report.check(engine, "docker build -f app.hcl . with # syntax=leaven:dev", built);
    if !is_built {
        return;
    }

    report.check(engine, "`id` in the image is uid=1000(app)", (|| {
        expect("id", &ok(d, &["run", "--rm", &image, "id"], &here, &[])?, "uid=1000(app) gid=1000(app)")
    })());

    report.check(engine, "the copied file belongs to app", (|| {
        let owner = ok(d, &["run", "--rm", &image, "stat", "-c", "%U:%G %a", "/app/hello.txt"], &here, &[])?;
        expect("owner", &owner, "app:app")
    })());

    report.check(engine, "the image's cmd runs as configured", (|| {
        expect("output", &ok(d, &["run", "--rm", &image], &here, &[])?, "Hello from an image built by leaven.")
    })());

    report.check(engine, "config has user, workdir, env and cmd; no build args", (|| {
        let json = ok(d, &["image", "inspect", &image, "--format", "{{json .Config}}"], &here, &[])?;
        let config: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
        let env: Vec<&str> = config["Env"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
        let problems: Vec<String> = [
            (config["User"] == "app", "User is not app"),
            (config["WorkingDir"] == "/app", "WorkingDir is not /app"),
            (env.contains(&"APP_ENV=production"), "Env lacks APP_ENV=production"),
            (env.iter().any(|e| e.starts_with("PATH=")), "Env lacks PATH"),
            (!env.iter().any(|e| e.starts_with("NONCE=") || e.starts_with("HOST_UID=")), "a build arg leaked into Env"),
            (config["Cmd"] == serde_json::json!(["cat", "/app/hello.txt"]), "Cmd is not [cat /app/hello.txt]"),
        ]
        .into_iter()
        .filter(|(good, _)| !good)
        .map(|(_, why)| why.to_string())
        .collect();
        if problems.is_empty() { Ok(()) } else { Err(format!("{}: {json}", problems.join("; "))) }
    })());

    report.check(engine, "the cache mount keeps files from one build to the next", (|| {
        let before: u64 = ok(d, &["run", "--rm", &image, "cat", "/build-runs"], &here, &[])?
            .parse()
            .map_err(|e| format!("/build-runs: {e}"))?;
        let again = format!("{image}-again");
        build_hello(engine, &again, &["--build-arg", &format!("NONCE={}", nonce())])?;
        let after: u64 = ok(d, &["run", "--rm", &again, "cat", "/build-runs"], &here, &[])?
            .parse()
            .map_err(|e| format!("/build-runs: {e}"))?;
        if after == before + 1 { Ok(()) } else { Err(format!("runs recorded: {before} then {after}")) }
    })());

    report.check(engine, "--build-arg HOST_UID=1234 gives uid=1234(app)", (|| {
        let other = format!("{image}-1234");
        build_hello(engine, &other, &["--build-arg", "HOST_UID=1234", "--build-arg", "HOST_GID=1234"])?;
        expect("id", &ok(d, &["run", "--rm", &other, "id"], &here, &[])?, "uid=1234(app) gid=1234(app)")
    })());

    report.check(engine, "a bad spec fails naming the file, line and column", (|| {
        let out = run(d, &["build", "-f", "tests/fixtures/bad.hcl", "-t", "leaven-e2e/bad", "tests/fixtures"], &here, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return Err("the build succeeded".into());
        }
        expect("error", &stderr, "bad.hcl:6:3: unknown attribute \"workdri\"")?;
        expect("error", &stderr, "did you mean \"workdir\"?")?;
        if engine.modern {
            // The engine got the spec's text with the error and shows the line.
            expect("code frame", &stderr, ">>>   workdri = \"/app\"")?;
        }
        Ok(())
    })());

    if engine.modern {
        report.check(engine, "docker buildx bake builds through the frontend", (|| {
            let tag = "leaven-e2e/bake:4321";
            let env = [("HOST_UID", "4321"), ("TAG", tag)];
            ok(d, &["buildx", "bake", "-f", "tests/docker-bake.hcl"], &here, &env)?;
            expect("id", &ok(d, &["run", "--rm", tag, "id"], &here, &[])?, "uid=4321(app)")
        })());
    }
}

/// What the engine gets right only when the definition says it right: mount
/// stubs, reproducible file ops, subrequests and build warnings.
fn wire_checks(report: &mut Report, engine: &Engine) {
    let d = &engine.docker;
    let here = repo();
    let fixtures = here.join("tests/fixtures");

    let image = format!("leaven-e2e/stubs:{}", engine.tag);
    report.check(engine, "a run's mount targets leave no stub directories in the layer", (|| {
        let secret = std::env::temp_dir().join(format!("leaven-e2e-token-{}", engine.tag));
        std::fs::write(&secret, "s3cr3t").map_err(|e| e.to_string())?;
        let secret = format!("id=token,src={}", secret.display());
        ok(d, &["build", "-f", "app.hcl", "-t", &image, "--secret", &secret, "."], &fixtures.join("stubs"), &[])?;
        let left = ok(d, &["run", "--rm", &image], &here, &[])?;
        match (engine.modern, left.as_str()) {
            (true, "none") => Ok(()),
            (true, _) => Err(format!("stubs left: {left}")),
            // Docker 20.10 (BuildKit 0.8) has no recursive stub removal: left as it was.
            (false, _) => Ok(()),
        }
    })());

    if !engine.modern {
        return;
    }
    report.check(engine, "two builds at different times with one SOURCE_DATE_EPOCH give one image", (|| {
        let dir = fixtures.join("epoch");
        let build = |tag: &str, extra: &[&str]| -> Result<String, String> {
            let mut args = vec!["build", "-f", "app.hcl", "-t", tag, "--build-arg", "SOURCE_DATE_EPOCH=1700000000"];
            args.extend_from_slice(extra);
            args.push(".");
            ok(d, &args, &dir, &[])?;
            ok(d, &["image", "inspect", "--format", "{{.Id}}", tag], &here, &[])
        };
        let first = build("leaven-e2e/epoch:first", &[])?;
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = build("leaven-e2e/epoch:second", &["--no-cache"])?;
        if first == second { Ok(()) } else { Err(format!("{first} then {second}")) }
    })());

    let webapp = here.join("examples/webapp");
    report.check(engine, "docker build --call=targets lists the spec's targets", (|| {
        let out = ok(d, &["build", "--call=targets", "-f", "app.hcl", "."], &webapp, &[])?;
        expect("targets", &out, "release (default)")?;
        expect("targets", &out, "dev")?;
        expect("targets", &out, "Static files are built at image time, in their own stage.")
    })());
    report.check(engine, "docker build --call=outline shows a target's build args", (|| {
        let out = ok(d, &["build", "--call=outline", "--target", "dev", "-f", "app.hcl", "."], &webapp, &[])?;
        expect("outline", &out, "TARGET:")?;
        expect("outline", &out, "GIT_REVISION")?;
        expect("outline", &out, "HOST_UID")
    })());
    report.check(engine, "docker build --call=check passes a clean spec and fails one with warnings", (|| {
        let out = ok(d, &["build", "--call=check", "-f", "app.hcl", "."], &webapp, &[])?;
        expect("check", &out, "Check complete, no warnings found.")?;
        let failed = run(d, &["build", "--call=check", "-f", "lint.hcl", "."], &fixtures, &[]);
        let text = format!("{}{}", String::from_utf8_lossy(&failed.stdout), String::from_utf8_lossy(&failed.stderr));
        if failed.status.success() {
            return Err(format!("check passed: {text}"));
        }
        expect("check", &text, "WARNING: UnpinnedBaseImage")?;
        expect("check", &text, "WARNING: ImageRunsAsRoot")?;
        expect("check", &text, ">>>")
    })());
    report.check(engine, "a build arg the spec does not declare is warned about", (|| {
        let out = run(d, &["build", "--build-arg", "HOST_UDI=5", "-f", "app.hcl", "-t", "leaven-e2e/udi", "."], &here.join("examples/hello"), &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!("the build failed: {stderr}"));
        }
        expect("warning", &stderr, "UnusedBuildArg: build arg HOST_UDI is not used")?;
        expect("warning", &stderr, "did you mean HOST_UID?")
    })());
}

/// What a new user could not say before (9.4): built on Docker 28, whose test
/// images include Python.
fn spec_features_checks(report: &mut Report, engine: &Engine) {
    let d = &engine.docker;
    let here = repo();
    let dir = here.join("tests/fixtures/presets");
    let image = format!("leaven-e2e/presets:{}", engine.tag);
    report.check(engine, "pip into a venv without the optional CA secret; dir owners; /etc/skel; gshadow", (|| {
        ok(d, &["build", "-f", "app.hcl", "-t", &image, "."], &dir, &[])?;
        let out = ok(d, &["run", "--rm", &image], &here, &[])?;
        expect("owners", &out, "root /src\napp /src/data")?;
        expect("skeleton", &out, ".bashrc")?;
        expect("venv", &out, "/venv\n/venv/bin/pip")?;
        // gshadow is root's to read, as the base had it.
        let gshadow = ok(d, &["run", "--rm", "-u", "0", &image, "sh", "-c", "grep -c '^app:!::$' /etc/gshadow; stat -c %a:%G /etc/gshadow"], &here, &[])?;
        expect("gshadow entry", &gshadow, "1\n640:shadow")
    })());
}

/// A change to a view reruns neither the installs nor collectstatic: the
/// presets take only what they read from the context.
fn code_change_check(report: &mut Report, engine: &Engine, build_args: &[&str], secret: &[&str]) {
    let d = &engine.docker;
    report.check(engine, "django-tailwind: a view change reruns no install and no collectstatic", (|| {
        let copy = std::env::temp_dir().join(format!("leaven-e2e-django-{}", engine.tag));
        let _ = std::fs::remove_dir_all(&copy);
        let status = std::process::Command::new("cp").arg("-a").arg(repo().join("examples/django-tailwind")).arg(&copy).status();
        if !status.is_ok_and(|s| s.success()) {
            return Err("cannot copy the example".into());
        }
        let views = copy.join("pages/views.py");
        let mut text = std::fs::read_to_string(&views).map_err(|e| e.to_string())?;
        text.push_str(&format!("\n# changed {}\n", nonce()));
        std::fs::write(&views, text).map_err(|e| e.to_string())?;
        let mut args = vec!["build", "--progress=plain", "-f", "app.hcl", "-t", "leaven-e2e/django:changed"];
        for arg in build_args {
            args.extend(["--build-arg", arg]);
        }
        args.extend_from_slice(secret);
        args.push(".");
        let out = run(d, &args, &copy, &[]);
        let log = String::from_utf8_lossy(&out.stderr).to_string();
        let _ = std::fs::remove_dir_all(&copy);
        if !out.status.success() {
            return Err(common::tail(&log));
        }
        // Each vertex that ran prints DONE; a cached one, CACHED.
        for step in ["pip install", "npm ci", "collectstatic --noinput"] {
            let line = log.lines().find(|l| l.contains(step) && l.contains("#")).ok_or_else(|| format!("no {step} in the log"))?;
            let id = line.split_whitespace().next().unwrap_or("");
            if !log.lines().any(|l| l.starts_with(&format!("{id} CACHED"))) {
                return Err(format!("{step} ran again:\n{}", common::tail(&log)));
            }
        }
        Ok(())
    })());
}

/// How the webapp image is built: through the leaven frontend, or from the
/// Dockerfile `leaven dockerfile` ejects, on the engine's stock frontend.
#[derive(Clone, Copy, PartialEq)]
enum How {
    Frontend,
    Ejected,
}

fn build_webapp(engine: &Engine, how: How, image: &str, target: Option<&str>, build_args: &[&str]) -> Result<(), String> {
    build_example(engine, "webapp", how, image, target, build_args, &[])
}

/// Builds an example through the frontend or from its ejected Dockerfile.
fn build_example(
    engine: &Engine,
    example: &str,
    how: How,
    image: &str,
    target: Option<&str>,
    build_args: &[&str],
    extra: &[&str],
) -> Result<(), String> {
    let dir = repo().join("examples").join(example);
    let mut args: Vec<String> = vec!["build".into(), "-t".into(), image.into()];
    for arg in build_args {
        args.extend(["--build-arg".to_string(), arg.to_string()]);
    }
    match how {
        How::Frontend => {
            args.extend(["-f".to_string(), "app.hcl".to_string()]);
            if let Some(t) = target {
                args.extend(["--target".to_string(), t.to_string()]);
            }
        }
        How::Ejected => {
            let parsed: std::collections::BTreeMap<String, String> = build_args
                .iter()
                .filter_map(|a| a.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                .collect();
            let loaded = leaven::cli::load(&dir.join("app.hcl"), &parsed).map_err(|e| e.to_string())?;
            let text = leaven::cli::dockerfile(&loaded, target).map_err(|e| e.to_string())?;
            let path = std::env::temp_dir().join(format!("leaven-e2e-{}-{example}-{}.Dockerfile", engine.tag, target.unwrap_or("release")));
            std::fs::write(&path, text).map_err(|e| e.to_string())?;
            args.extend(["-f".to_string(), path.display().to_string()]);
        }
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(".".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&engine.docker, &args, &dir, &[]).map(drop)
}

/// The Django + Tailwind example: real packages from PyPI and npm (through the
/// network's intercepting proxy, whose CA bundle goes in as a build secret).
fn django_checks(report: &mut Report, engine: &Engine, how: How) {
    let d = &engine.docker;
    let here = repo();
    let label = match how {
        How::Frontend => "django-tailwind",
        How::Ejected => "ejected django-tailwind Dockerfile",
    };
    let name = |what: &str| format!("{label}: {what}");
    let build_args = [
        "PYTHON=leaven-test/python:3.11-bookworm",
        "NODE=leaven-test/node:bookworm",
        // Debian's python puts pip --prefix installs under local/lib/python3.11/dist-packages.
        "PYTHONPATH=/usr/local/local/lib/python3.11/dist-packages",
    ];
    // The proxy's CA bundle with a line no image may hold: the preset's ca_secret must not leak.
    let marker = format!("leaven-secret-marker-{}", nonce());
    let bundle = std::env::temp_dir().join(format!("leaven-e2e-ca-{}.pem", engine.tag));
    let ca = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    if let Err(e) = std::fs::write(&bundle, format!("{ca}\n# {marker}\n")) {
        report.check(engine, &name("write the CA secret"), Err(e.to_string()));
        return;
    }
    let secret_arg = format!("id=ca,src={}", bundle.display());
    let secret = ["--secret", secret_arg.as_str()];
    let tag = |target: &str| format!("leaven-e2e/django:{target}-{}{}", engine.tag, if how == How::Ejected { "-ejected" } else { "" });
    for (target, uid, has_source) in [("release", 1000, true), ("ci", 9500, true), ("dev", 1000, false)] {
        let image = tag(target);
        let selected = (target != "release").then_some(target);
        let built = build_example(engine, "django-tailwind", how, &image, selected, &build_args, &secret);
        let is_built = built.is_ok();
        report.check(engine, &name(&format!("--target {target} builds")), built);
        if !is_built {
            continue;
        }
        report.check(engine, &name(&format!("{target}: runs as app with UID {uid}")), (|| {
            let out = ok(d, &["run", "--rm", "-e", "LEAVEN_SKIP_ON_START=1", &image, "sh", "-c", "whoami; id -u"], &here, &[])?;
            expect("whoami/id", &out, &format!("app\n{uid}"))
        })());
        if has_source {
            report.check(engine, &name(&format!("{target}: check and migrate --check pass as app; static files belong to app")), (|| {
                let script = "python manage.py check && python manage.py migrate --check && stat -c '%U' /src/manage.py /src/staticfiles/css/app.css && grep -c text-emerald-700 /src/staticfiles/css/app.css";
                let out = ok(d, &["run", "--rm", &image, "sh", "-c", script], &here, &[])?;
                expect("check", &out, "System check identified no issues")?;
                expect("owners and tailwind output", &out, "app\napp\n1")
            })());
        } else {
            report.check(engine, &name("dev: no source in the image; runs with the tree mounted"), (|| {
                let out = ok(d, &["run", "--rm", "-e", "LEAVEN_SKIP_ON_START=1", &image, "sh", "-c", "ls /src; stat -c %U /src"], &here, &[])?;
                if out.contains("manage.py") {
                    return Err(format!("dev has the source: {out}"));
                }
                let mount = format!("{}:/src", repo().join("examples/django-tailwind").display());
                // The tree here belongs to root, not to the image's UID: the dev
                // database it keeps in the tree cannot be made, so no migrate.
                let checked = ok(d, &["run", "--rm", "-e", "LEAVEN_SKIP_ON_START=1", "-v", &mount, &image, "python", "manage.py", "check"], &here, &[])?;
                expect("mounted check", &checked, "System check identified no issues")
            })());
        }
        if target == "release" {
            report.check(engine, &name("release: the ca_secret is nowhere in the saved image"), (|| {
                // Built CSS the image does hold, so that the search is known to see into layers.
                let known = "text-emerald-700";
                let found = saved_image_contains(engine, &image, &[known, &marker])?;
                if found == [known] { Ok(()) } else { Err(format!("of {known:?} and the secret's marker, the image holds {found:?}")) }
            })());
            report.check(engine, &name("release has no compiler and no node"), (|| {
                let out = ok(d, &["run", "--rm", "-e", "LEAVEN_SKIP_ON_START=1", &image, "sh", "-c", "command -v gcc cc node npm || echo none"], &here, &[])?;
                if out == "none" { Ok(()) } else { Err(format!("found: {out}")) }
            })());
        }
    }
    if how == How::Frontend {
        // After the release build above, a view change must find everything else cached.
        code_change_check(report, engine, &build_args, &secret);
    }
}

/// The webapp example: stages in parallel, outputs copied into the release
/// image, start-up migrations, and the dev and CI variants.
fn webapp_checks(report: &mut Report, engine: &Engine, how: How) {
    let d = &engine.docker;
    let here = repo();
    let (label, suffix) = match how {
        How::Frontend => ("webapp", ""),
        How::Ejected => ("ejected webapp Dockerfile", "-ejected"),
    };
    let name = |what: &str| format!("{label}: {what}");
    let release = format!("leaven-e2e/webapp:release-{}{suffix}", engine.tag);
    let built = build_webapp(engine, how, &release, None, &["GIT_REVISION=abc123", "SOURCE_DATE_EPOCH=1700000000"]);
    let is_built = built.is_ok();
    report.check(engine, &name("release image builds (assets and deps stages)"), built);
    if !is_built {
        return;
    }
    report.check(engine, &name("start-up runs migrations, then the command"), (|| {
        let out = ok(d, &["run", "--rm", &release], &here, &[])?;
        expect("output", &out, "migrations applied\nmigrated\n<h1>webapp</h1> deps=django==5.2,gunicorn==23.0 static ok")
    })());
    report.check(engine, &name("source and static files belong to app; build inputs left out"), (|| {
        let script = "id; stat -c '%U %n' /src/manage.py /src/webapp/views.py /src/static/app.css; ls /src";
        let out = ok(d, &["run", "--rm", "-e", "LEAVEN_SKIP_ON_START=1", &release, "sh", "-c", script], &here, &[])?;
        expect("id", &out, "uid=1000(app)")?;
        expect("owners", &out, "app /src/manage.py\napp /src/webapp/views.py\napp /src/static/app.css")?;
        if out.contains("build_assets.py") || out.contains("app.hcl") || out.contains("assets\n") {
            return Err(format!("excluded files were copied: {out}"));
        }
        Ok(())
    })());
    report.check(engine, &name("config has healthcheck, port, entrypoint helper and labels"), (|| {
        let json = ok(d, &["image", "inspect", &release, "--format", "{{json .Config}}"], &here, &[])?;
        let config: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
        let labels = &config["Labels"];
        let good = config["Healthcheck"]["Test"] == serde_json::json!(["CMD", "python3", "manage.py", "check"])
            && config["ExposedPorts"].get("8000/tcp").is_some()
            && config["Entrypoint"] == serde_json::json!(["/usr/local/bin/leaven-entrypoint"])
            && labels["org.opencontainers.image.revision"] == "abc123"
            && labels["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
            && !json.contains("GIT_REVISION");
        if good { Ok(()) } else { Err(json) }
    })());
    report.check(engine, &name("--target ci has UID 9500 and the source"), (|| {
        let image = format!("leaven-e2e/webapp:ci-{}{suffix}", engine.tag);
        build_webapp(engine, how, &image, Some("ci"), &[])?;
        let out = ok(d, &["run", "--rm", "-e", "LEAVEN_SKIP_ON_START=1", &image, "sh", "-c", "id; ls /src"], &here, &[])?;
        expect("id", &out, "uid=9500(app) gid=9500(app)")?;
        expect("source", &out, "manage.py")
    })());
    report.check(engine, &name("--target dev has the host UID, no source, and runs with it mounted"), (|| {
        let image = format!("leaven-e2e/webapp:dev-{}{suffix}", engine.tag);
        build_webapp(engine, how, &image, Some("dev"), &["HOST_UID=1234", "HOST_GID=1234"])?;
        let out = ok(d, &["run", "--rm", "-e", "LEAVEN_SKIP_ON_START=1", &image, "sh", "-c", "id; stat -c '%U' /src; ls -A /src"], &here, &[])?;
        expect("id", &out, "uid=1234(app) gid=1234(app)")?;
        // Stage outputs (static files) stay; the app's own source does not.
        let lines: Vec<&str> = out.lines().collect();
        if lines.get(1) != Some(&"app") || lines.iter().any(|l| *l == "manage.py" || *l == "webapp") {
            return Err(format!("/src should belong to app and hold no source: {out}"));
        }
        let source = repo().join("examples/webapp");
        let mount = format!("{}:/src", source.display());
        expect("mounted run", &ok(d, &["run", "--rm", "-v", &mount, &image], &here, &[])?, "migrations applied")
    })());
}

fn main() {
    // libtest-style filtering: `cargo test --lib` style args are ignored here.
    let mut report = Report { passed: 0, failed: 0 };
    match engines() {
        Ok(engines) => {
            for engine in &engines {
                println!("engine: {} ({})", engine.label, engine.docker.display());
                hello_checks(&mut report, engine);
                wire_checks(&mut report, engine);
                webapp_checks(&mut report, engine, How::Frontend);
                if engine.modern {
                    // The stock frontend of Docker 23+ reads what `leaven dockerfile` writes.
                    webapp_checks(&mut report, engine, How::Ejected);
                    spec_features_checks(&mut report, engine);
                    django_checks(&mut report, engine, How::Frontend);
                    django_checks(&mut report, engine, How::Ejected);
                }
            }
        }
        Err(why) => {
            report.failed += 1;
            println!("FAIL  engines: {why}");
        }
    }
    report.finish("e2e");
}
