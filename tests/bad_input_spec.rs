//! A table of bad specs a user writes, each with the exact message and
//! position the user sees (as `leaven plan` and the frontend show them:
//! `file:line:column: message`, then the hint). Build-arg errors are not in
//! the spec and carry no position; warnings are shown as the build shows them.

use std::collections::BTreeMap;

use leaven::hcl::SourceFile;

/// What a user sees for `text` built with `args`: the first error, or the
/// warnings of a spec that builds (`accepted` when there are none).
fn outcome(text: &str, args: &[(&str, &str)]) -> String {
    let args: BTreeMap<String, String> = args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if let Err(e) = leaven::spec::check_build_args(&args) {
        return e.to_string();
    }
    let file = SourceFile::new("app.hcl", text);
    let spec = match leaven::spec::parse_spec(&file, &args) {
        Ok(spec) => spec,
        Err(d) => return shown(&d),
    };
    let target = match leaven::compile::select_target(&spec, None) {
        Ok(target) => target,
        Err(e) => return e.to_string(),
    };
    let plan = leaven::compile::plan(&spec, &target);
    if let Err(e) = leaven::cli::compile_offline(&plan, Vec::new()) {
        return shown(&e.diagnostic(&file));
    }
    let cx = leaven::compile::lint::LintContext { build_args: &args, named_contexts: Vec::new(), text };
    let warnings: Vec<String> = leaven::compile::lint::lint(&spec, &cx).iter().map(|w| format!("warning: {}", w.short())).collect();
    if warnings.is_empty() { "accepted".into() } else { warnings.join("\n") }
}

fn shown(d: &leaven::hcl::Diagnostic) -> String {
    match &d.hint {
        Some(hint) => format!("{} | hint: {hint}", d.headline()),
        None => d.headline(),
    }
}

/// A spec of one user and one image (lines 1 to 3), with `body` from line 4.
fn image(body: &str) -> String {
    format!("user \"app\" {{}}\nimage \"a\" {{\n  from = \"python:3.13\"\n{body}\n}}\n")
}

/// `image("")` (lines 1 to 5), then `services` from line 6.
fn service(services: &str) -> String {
    format!("{}{services}\n", image(""))
}

/// `image(…)` with a run block (line 4) holding `body` from line 5.
fn run(body: &str) -> String {
    image(&format!("  run \"make\" {{\n{body}\n  }}"))
}

/// A spec's text, its build args, and what the user sees.
type Case = (String, Vec<(&'static str, &'static str)>, &'static str);

fn cases() -> Vec<Case> {
    let none = Vec::new;
    vec![
        // The file as a whole.
        ("".into(), none(), "app.hcl:1:1: app.hcl has nothing to build | hint: declare an image: image \"app\" { from = \"python:3.13-slim\" }"),
        ("# only a comment\n\n".into(), none(), "app.hcl:1:1: app.hcl has nothing to build | hint: declare an image: image \"app\" { from = \"python:3.13-slim\" }"),
        ("\u{feff}stge \"a\" {}\n".into(), none(), "app.hcl:1:1: unknown block \"stge\" in the spec | hint: did you mean \"stage\"?"),
        ("\u{feff}image \"a\" {\n  form = \"x\"\n}\n".into(), none(), "app.hcl:2:3: unknown attribute \"form\" in image \"a\" | hint: did you mean \"from\"?"),
        ("from = \"python\"\n".into(), none(), "app.hcl:1:1: unknown attribute \"from\" in the spec | hint: the spec takes no attributes"),
        ("image \"a\" {\n  from =\n}\n".into(), none(), "app.hcl:2:9: Invalid expression: found a newline; expected an expression (a value, a name, a function call, a list or an object)."),
        ("user \"app\" {}\nimage \"a\" {\n  from = \"python\n  cmd  = [\"x\"]\n}\n".into(), none(), "app.hcl:3:10: this string has no closing quote | hint: close it on the same line; for several lines use a heredoc (<<EOT … EOT)"),
        ("image \"a\" {\n  from = \"python:3\"\n".into(), none(), "app.hcl:1:11: Unclosed configuration block: there is no closing `}` for this block's `{`."),
        // Names.
        ("image {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:1:1: an image block takes exactly one name | hint: write image \"NAME\" { … }"),
        ("image \"a\" \"b\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:1:1: an image block takes exactly one name | hint: write image \"NAME\" { … }"),
        ("stage \"my stage\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:1:1: \"my stage\" is not a valid stage name | hint: names are letters, digits, '_', '.' and '-', starting with a letter (they are --target values and stages of the ejected Dockerfile)"),
        ("stage \"2fast\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:1:1: \"2fast\" is not a valid stage name | hint: names are letters, digits, '_', '.' and '-', starting with a letter (they are --target values and stages of the ejected Dockerfile)"),
        ("stage \"scratch\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:1:1: \"scratch\" is not a valid stage name | hint: \"scratch\" means the empty filesystem: pick another name"),
        ("stage \"a\" {\n  from = \"x\"\n}\nimage \"a\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:4:1: stage \"a\" is defined twice | hint: give each stage and image its own name"),
        (format!("{}variant \"a\" {{}}\n", image("")), none(), "app.hcl:6:1: target name \"a\" is used twice | hint: variants, stages and images share one set of target names"),
        (format!("{}variant \"my variant\" {{}}\n", image("")), none(), "app.hcl:6:1: \"my variant\" is not a valid variant name | hint: names are letters, digits, '_', '.' and '-', starting with a letter (they are --target values and stages of the ejected Dockerfile)"),
        // Variables.
        ("variable \"PYTHON\" {\n  default = \"python:3\"\n}\nimage \"a\" {\n  from = PYTHN\n}\n".into(), none(), "app.hcl:5:10: unknown variable \"PYTHN\" | hint: did you mean PYTHON?"),
        ("variable \"BASE\" {}\nimage \"a\" {\n  from = SOMETHING_ELSE\n}\n".into(), none(), "app.hcl:3:10: unknown variable \"SOMETHING_ELSE\" | hint: declare it with variable \"SOMETHING_ELSE\" { default = … }; the spec has HOST_UID, HOST_GID, BASE"),
        ("variable \"A\" {\n  defualt = 1\n}\nimage \"a\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:2:3: unknown attribute \"defualt\" in variable \"A\" | hint: a variable has default and description"),
        ("variable {\n  default = 1\n}\nimage \"a\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:1:1: a variable block takes exactly one name | hint: write variable \"NAME\" { default = \"…\" }"),
        ("variable \"A\" {\n  default = B\n}\nvariable \"B\" {}\nimage \"a\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:2:13: variable \"B\" is used before it is declared | hint: move variable \"B\" above the variable that uses it"),
        // Users.
        ("user \"App\" {}\nimage \"a\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:1:1: \"App\" is not a valid user name | hint: use lowercase letters, digits, '_' and '-', starting with a letter or '_'"),
        ("user \"app\" {\n  uid = 0\n}\nimage \"a\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:2:9: user \"app\" would have UID 0, which is root | hint: leave uid unset (HOST_UID, default 1000), pick a non-zero UID, or set allow_root = true"),
        (image(""), vec![("HOST_UID", "0")], "app.hcl:1:1: user \"app\" would have UID 0 (from HOST_UID), which is root | hint: pass a non-zero HOST_UID (--build-arg HOST_UID=$(id -u)), or set allow_root = true"),
        (image(""), vec![("HOST_UID", "-1")], "app.hcl:1:1: HOST_UID must be a whole number from 0 to 4294967294, not the number -1 | hint: user \"app\" takes its id from HOST_UID: pass --build-arg HOST_UID=$(id -u)"),
        (image(""), vec![("HOST_UID", "4294967295")], "app.hcl:1:1: HOST_UID must be a whole number from 0 to 4294967294, not the number 4294967295 | hint: user \"app\" takes its id from HOST_UID: pass --build-arg HOST_UID=$(id -u)"),
        (image(""), vec![("HOST_GID", "abc")], "app.hcl:1:1: HOST_GID must be a whole number from 0 to 4294967294, not the string \"abc\" | hint: user \"app\" takes its id from HOST_GID: pass --build-arg HOST_GID=$(id -g)"),
        ("user \"app\" {\n  uid = \"x\"\n}\nimage \"a\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:2:9: uid must be a whole number from 0 to 4294967294, not the string \"x\""),
        ("user \"app\" {\n  uid = 4294967295\n}\nimage \"a\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:2:9: uid must be a whole number from 0 to 4294967294, not the number 4294967295"),
        ("user \"app\" {\n  home = \"home/app\"\n}\nimage \"a\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:2:10: home must be an absolute path other than /, not \"home/app\" | hint: for example \"/home/app\""),
        ("user \"app\" {\n  shel = \"/bin/bash\"\n}\nimage \"a\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:2:3: unknown attribute \"shel\" in user \"app\" | hint: did you mean \"shell\"?"),
        ("user \"app\" {}\nuser \"app\" {}\nimage \"a\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:2:1: user \"app\" is defined twice | hint: give each user its own name"),
        (image("  user = user.ap"), none(), "app.hcl:4:14: the spec has no user \"ap\" | hint: did you mean user.app?"),
        (image("  env = { U = user.app.nme }"), none(), "app.hcl:4:23: a user has no \"nme\" | hint: did you mean user.app.name?"),
        ("user \"app\" {}\nuser \"web\" {}\nimage \"a\" {\n  from = \"x\"\n}\n".into(), none(), "app.hcl:3:1: image \"a\" must say which user it runs as | hint: the spec declares several users: set user = user.NAME"),
        (run("    user = \"nobody2\""), none(), "app.hcl:5:12: unknown user \"nobody2\" | hint: declare it with a user block, or use root or a UID"),
        (run("    user = \"ap\""), none(), "app.hcl:5:12: unknown user \"ap\" | hint: did you mean user.app?"),
        // Stages and images.
        ("image \"a\" {\n  cmd = []\n}\n".into(), none(), "app.hcl:1:1: image \"a\" has no \"from\" | hint: set from = \"IMAGE\", from = stage.NAME or from = \"scratch\""),
        ("stage \"base\" {\n  from = \"x\"\n}\nimage \"a\" {\n  from = stage.bsae\n}\n".into(), none(), "app.hcl:5:15: the spec has no stage or image \"bsae\" | hint: did you mean stage.base?"),
        ("image \"a\" {\n  from = \"Not A Ref!!\"\n}\n".into(), none(), "app.hcl:2:10: \"Not A Ref!!\" is not an image reference: it has spaces | hint: write stage.NAME, or an image like \"python:3.13-slim\" or \"ghcr.io/org/app:1.2\""),
        ("image \"a\" {\n  from = \"Python:3\"\n}\n".into(), none(), "app.hcl:2:10: \"Python:3\" is not an image reference: repository names are lowercase | hint: write stage.NAME, or an image like \"python:3.13-slim\" or \"ghcr.io/org/app:1.2\""),
        ("image \"a\" {\n  from = \"\"\n}\n".into(), none(), "app.hcl:2:10: from must be stage.NAME or an image reference, not the string \"\""),
        ("image \"a\" {\n  from = \"context\"\n}\n".into(), none(), "app.hcl:2:10: a stage cannot be built from the context | hint: copy it in instead"),
        ("image \"a\" {\n  from = 3\n}\n".into(), none(), "app.hcl:2:10: from must be stage.NAME or an image reference, not the number 3"),
        ("stage \"a\" {\n  from = stage.b\n}\nstage \"b\" {\n  from = stage.a\n}\n".into(), none(), "app.hcl:1:1: stages depend on each other in a cycle: a → b → a"),
        (image("  workdir = \"\""), none(), "app.hcl:4:13: workdir must not be empty | hint: for example workdir = \"/src\""),
        (image("  env = { \"\" = \"x\" }"), none(), "app.hcl:4:9: env name \"\" is not a variable name: it is empty | hint: write env = { NAME = \"value\" }"),
        (image("  env = { \"A=B\" = \"1\" }"), none(), "app.hcl:4:9: env name \"A=B\" is not a variable name: a name cannot hold \"=\" | hint: write env = { NAME = \"value\" }"),
        (image("  env = { A = [\"x\"] }"), none(), "app.hcl:4:9: env must be a map of strings, not a list"),
        (image("  cmd = \"run\""), none(), "app.hcl:4:9: cmd must be a list of strings, not the string \"run\""),
        (image("  entrypoint = 5"), none(), "app.hcl:4:16: entrypoint must be a list of strings, not the number 5"),
        (image("  labels = { \"\" = \"x\" }"), none(), "app.hcl:4:12: a label name must not be empty | hint: write labels = { \"org.example.team\" = \"web\" }"),
        (image("  expose = [\"http\"]"), none(), "app.hcl:4:12: \"http\" is not a port: a port is a number from 1 to 65535, optionally with /tcp, /udp or /sctp | hint: write expose = [8000, \"53/udp\"]"),
        (image("  expose = [70000]"), none(), "app.hcl:4:12: \"70000\" is not a port: a port is a number from 1 to 65535, optionally with /tcp, /udp or /sctp | hint: write expose = [8000, \"53/udp\"]"),
        (image("  expose = true"), none(), "app.hcl:4:12: expose must be a port or a list of ports | hint: write expose = [8000, \"53/udp\"]"),
        (image("  volumes = [\"data\"]"), none(), "app.hcl:4:13: volume \"data\" must be an absolute path | hint: write volumes = [\"/data\"]"),
        (image("  stop_signal = \"SIGFOO\""), none(), "app.hcl:4:17: \"SIGFOO\" is not a signal | hint: write a name like \"SIGTERM\", \"SIGINT\" or \"SIGQUIT\", or a number from 1 to 64"),
        (image("  on_start = 5"), none(), "app.hcl:4:14: on_start must be a string or a list of strings, not the number 5"),
        (image("  healthcheck {\n    test = \"true\"\n  }\n  healthcheck {\n    test = \"true\"\n  }"), none(), "app.hcl:7:3: image \"a\" has two healthchecks | hint: keep one healthcheck block"),
        (image("  healthcheck {}"), none(), "app.hcl:4:3: healthcheck has no \"test\" | hint: set test = [\"CMD\", \"curl\", \"-f\", \"http://localhost/\"]"),
        (image("  healthcheck {\n    test = []\n  }"), none(), "app.hcl:5:12: test must not be empty"),
        (image("  healthcheck {\n    test = \"true\"\n    interval = \"soon\"\n  }"), none(), "app.hcl:6:16: interval must be a duration like \"10s\", \"1m30s\" or \"500ms\", not the string \"soon\""),
        (image("  healthcheck {\n    test = \"true\"\n    retries = -1\n  }"), none(), "app.hcl:6:15: retries must be a whole number from 0 to 2147483647, not the number -1"),
        (image("  runn \"make\" {}"), none(), "app.hcl:4:3: unknown block \"runn\" in image \"a\" | hint: did you mean \"run\"?"),
        // Copies.
        (image("  copy {}"), none(), "app.hcl:4:3: copy has no \"source\" | hint: set source = \"PATH\" (or a list of paths)"),
        (image("  copy { source = [] }"), none(), "app.hcl:4:3: copy has no \"source\" | hint: list at least one path"),
        (image("  copy { source = \"../x\" }"), none(), "app.hcl:4:3: copy source \"../x\" leaves the build context | hint: sources are paths inside the context"),
        (image("  copy {\n    source = \"x\"\n    dest = \"\"\n  }"), none(), "app.hcl:6:12: dest must not be empty | hint: for example dest = \"/src\""),
        (image("  copy {\n    source = \"x\"\n    chown = \"a:b\"\n  }"), none(), "app.hcl:6:13: chown must be user.NAME, root, a UID or \"UID:GID\", not the string \"a:b\""),
        (image("  copy {\n    source = \"x\"\n    mode = \"999\"\n  }"), none(), "app.hcl:6:12: mode must be octal permission bits from \"0000\" to \"7777\", like \"0644\", not the string \"999\""),
        (image("  copy {\n    source = \"x\"\n    link = \"yes\"\n  }"), none(), "app.hcl:6:12: link must be true or false, not the string \"yes\""),
        (image("  copy {\n    source = \"x\"\n    include = \"*.py\"\n  }"), none(), "app.hcl:6:15: include must be a list of strings, not the string \"*.py\""),
        (image("  copy {\n    source = \"x\"\n    from = stage.nope\n  }"), none(), "app.hcl:6:17: the spec has no stage or image \"nope\" | hint: it has: a"),
        (image("  copy {\n    source = [\"a\", \"b\"]\n    link = true\n  }"), none(), "app.hcl:4:3: a linked copy takes one source | hint: split it into one copy per source"),
        (image("  copy \"x\" {\n    source = \"x\"\n  }"), none(), "app.hcl:4:3: a copy block takes no label | hint: write copy { … }"),
        // Runs.
        (image("  run \"make\" {\n    command = [\"make\"]\n  }"), none(), "app.hcl:4:3: a run block takes its command as its label, or as command = [...] without a label | hint: write run \"pip install -r requirements.txt\" { … } or run { command = [\"pip\", \"install\"] }"),
        (image("  run \"\" {}"), none(), "app.hcl:4:3: a run block takes its command as its label, or as command = [...] without a label | hint: write run \"pip install -r requirements.txt\" { … } or run { command = [\"pip\", \"install\"] }"),
        (image("  run {\n    command = []\n  }"), none(), "app.hcl:5:15: command must not be empty"),
        (image("  run \"python manage.py migrate\" {}"), none(), "app.hcl:4:3: `manage.py migrate` must not run at build time | hint: images are built without a database; set on_start = [\"python manage.py migrate --noinput\"] on the image"),
        (run("    network = \"bridge\""), none(), "app.hcl:5:15: unknown network \"bridge\" | hint: network is \"default\", \"none\" or \"host\""),
        (run("    workdir = \"\""), none(), "app.hcl:5:15: workdir must not be empty | hint: for example workdir = \"/src\""),
        (run("    env = { \"A=B\" = \"1\" }"), none(), "app.hcl:5:11: env name \"A=B\" is not a variable name: a name cannot hold \"=\" | hint: write env = { NAME = \"value\" }"),
        (run("    cache {}"), none(), "app.hcl:5:5: cache has no \"target\" | hint: set target = …"),
        (run("    cache { target = \"tmp/c\" }"), none(), "app.hcl:5:22: target must be an absolute path other than /, not \"tmp/c\" | hint: for example \"/root/.cache/pip\""),
        (run("    cache {\n      target = \"/c\"\n      sharing = \"exclusive\"\n    }"), none(), "app.hcl:7:17: unknown sharing \"exclusive\" | hint: sharing is \"shared\", \"private\" or \"locked\""),
        (run("    cache {\n      target = \"/c\"\n      mode = \"0999\"\n    }"), none(), "app.hcl:7:14: mode must be octal permission bits from \"0000\" to \"7777\", like \"0644\", not the string \"0999\""),
        (run("    cache { target = \"/c\" }\n    tmpfs { target = \"/c\" }"), none(), "app.hcl:4:3: two mounts at /c | hint: give each mount its own target"),
        (run("    bind { source = \"../secret\" }"), none(), "app.hcl:5:5: bind source \"../secret\" leaves the build context | hint: bind a path inside the context, or one of a stage with from = stage.NAME"),
        (run("    bind { target = \"/x\" }"), none(), "app.hcl:5:5: bind has no \"source\" | hint: set source = …"),
        (run("    secret { target = \"/run/secrets/x\" }"), none(), "app.hcl:5:5: secret has no \"id\" | hint: set id = …"),
        (run("    secret {\n      id = \"token\"\n      env = \"A B\"\n    }"), none(), "app.hcl:7:13: env name \"A B\" is not a variable name: a name cannot hold spaces | hint: write env = \"TOKEN\""),
        (run("    secret {\n      id = \"token\"\n      target = \"token\"\n    }"), none(), "app.hcl:7:16: target must be an absolute path other than /, not \"token\" | hint: for example \"/run/secrets/token\""),
        (run("    tmpfs {\n      target = \"/t\"\n      size = \"lots\"\n    }"), none(), "app.hcl:7:14: size must be a size like \"64m\" or a number of bytes, not the string \"lots\""),
        (run("    ssh { target = \"agent\" }"), none(), "app.hcl:5:20: target must be an absolute path other than /, not \"agent\" | hint: for example \"/run/buildkit/ssh_agent.0\""),
        (run("    cache \"pip\" { target = \"/c\" }"), none(), "app.hcl:5:5: a cache block takes no label | hint: write cache { … }"),
        (run("    volume { target = \"/c\" }"), none(), "app.hcl:5:5: unknown block \"volume\" in run | hint: run takes cache, bind, secret, ssh, tmpfs"),
        // Variants.
        (format!("{}variant \"ci\" {{\n  uid = 0\n}}\n", image("")), none(), "app.hcl:7:9: variant \"ci\" would run image \"a\" as root (uid 0) | hint: pick a non-zero uid, or set allow_root = true on user \"app\""),
        (format!("{}variant \"ci\" {{\n  image = \"python\"\n}}\n", image("")), none(), "app.hcl:7:11: image must be image.NAME | hint: a variant varies an image of this spec"),
        (format!("{}variant \"dev\" {{\n  source = \"bind\"\n}}\n", image("")), none(), "app.hcl:7:12: unknown source mode \"bind\" | hint: source is \"copy\" (CI, release) or \"mount\" (dev)"),
        (format!("stage \"deps\" {{\n  from = \"x\"\n}}\n{}variant \"ci\" {{\n  image = stage.deps\n}}\n", image("")), none(), "app.hcl:9:1: variant \"ci\" varies stage \"deps\", which is not an image | hint: set image = image.NAME to one of the spec's images"),
        ("image \"a\" {\n  from = \"x\"\n}\nvariant \"staging\" {\n  uid = 2000\n}\n".into(), none(), "app.hcl:5:3: variant \"staging\" sets uid, but image \"a\" runs as no spec user | hint: declare a user block for the image to run as"),
        ("stage \"s\" {\n  from = \"x\"\n}\nvariant \"ci\" {}\n".into(), none(), "app.hcl:4:1: variant \"ci\" has no image to vary | hint: declare an image block, or set image = image.NAME"),
        // Presets.
        (image("  pip {\n    requirement = \"r.txt\"\n  }"), none(), "app.hcl:5:5: unknown attribute \"requirement\" in pip | hint: did you mean \"requirements\"?"),
        (image("  npm {\n    lockfil = \"a\"\n  }"), none(), "app.hcl:5:5: unknown attribute \"lockfil\" in npm | hint: did you mean \"lockfile\"?"),
        (image("  node_toolchain {}"), none(), "app.hcl:4:3: node_toolchain has no \"from\" | hint: set from = \"node:22-bookworm-slim\""),
        (image("  node_toolchain { from = \"context\" }"), none(), "app.hcl:4:27: node_toolchain comes from an image or a stage"),
        (image("  collectstatic {\n    env = { \"\" = \"x\" }\n  }"), none(), "app.hcl:5:11: env name \"\" is not a variable name: it is empty | hint: write env = { NAME = \"value\" }"),
        (image("  pip \"x\" {}"), none(), "app.hcl:4:3: a pip block takes no label | hint: write pip { … }"),
        // Services: how the app runs under compose (line 6 on).
        (service("service \"web\" {\n  image = image.b\n}"), none(), "app.hcl:7:16: the spec has no stage or image \"b\" | hint: did you mean image.a?"),
        (format!("stage \"s\" {{\n  from = \"x\"\n}}\n{}", service("service \"web\" {\n  image = stage.s\n}")), none(), "app.hcl:10:11: stage \"s\" is not an image: a service runs an image | hint: name one of the spec's images (image.NAME); a variant is chosen with leaven compose --variant"),
        (service("service \"db\" {\n  image = \"postgres:latest\"\n}"), none(), "app.hcl:7:11: image \"postgres:latest\" is tagged latest: the stack would change whenever it moves | hint: pin a version, like \"postgres:16-bookworm\", or a digest"),
        (service("service \"db\" {\n  image = \"postgres\"\n}"), none(), "app.hcl:7:11: image \"postgres\" has no tag: the stack would change whenever it moves | hint: pin a version, like \"postgres:16-bookworm\", or a digest"),
        (service("service \"db\" {\n  image = \"Postgres:16\"\n}"), none(), "app.hcl:7:11: \"Postgres:16\" is not an image reference: repository names are lowercase | hint: write image.NAME, or an image like \"postgres:16-bookworm\""),
        (service("service \"web\" {\n  image = image.a\n  depends_on = [service.db]\n}\nservice \"db\" {\n  image = \"postgres:16\"\n  env = { APP = service.web.host }\n}"), none(), "app.hcl:6:1: services depend on each other in a cycle: web → db → web | hint: compose starts a service after those it depends on: break the cycle"),
        (service("service \"web\" {\n  image = image.a\n  env = { DB = service.dbb.host }\n}\nservice \"db\" {\n  image = \"postgres:16\"\n}"), none(), "app.hcl:8:23: the spec has no service \"dbb\" | hint: did you mean service.db?"),
        (service("service \"web\" {\n  image = image.a\n  env = { DB = service.db.hots }\n}\nservice \"db\" {\n  image = \"postgres:16\"\n}"), none(), "app.hcl:8:26: a service has no \"hots\" | hint: did you mean service.db.host?"),
        (service("service \"web\" {\n  image = image.a\n  env = { SELF = service.web.host }\n}"), none(), "app.hcl:8:25: service \"web\" refers to itself | hint: a service reaches itself as localhost"),
        (service("service \"web\" {\n  command = [\"x\"]\n}"), none(), "app.hcl:6:1: service \"web\" has no \"image\" | hint: set image = image.NAME for one of the spec's images, or a pinned image like \"postgres:16-bookworm\""),
        (service("service \"Web\" {\n  image = image.a\n}"), none(), "app.hcl:6:1: \"Web\" is not a valid service name | hint: service names are lowercase letters, digits, '-' and '_', starting with a letter (they are host names other services reach it by)"),
        (service("service \"web\" {\n  image = image.a\n}\nservice \"web\" {\n  image = image.a\n}"), none(), "app.hcl:6:1: service \"web\" is defined twice | hint: give each service its own name"),
        (service("service \"web\" {\n  image = image.a\n  imgae = 1\n}"), none(), "app.hcl:8:3: unknown attribute \"imgae\" in service \"web\" | hint: did you mean \"image\"?"),
        (service("service \"web\" {\n  image = image.a\n  ports = [\"http\"]\n}"), none(), "app.hcl:8:11: \"http\" is not a port mapping | hint: write ports = [\"8000:8000\"], [\"127.0.0.1:5432:5432\"] or [\"$${WEB_PORT:-8000}:8000\"]"),
        (service("service \"web\" {\n  image = image.a\n  depends_on = [\"db\"]\n}"), none(), "app.hcl:8:16: depends_on must be a list of services | hint: write depends_on = [service.web]"),
        (service("service \"db\" {\n  image = \"postgres:16\"\n  on_start = true\n}"), none(), "app.hcl:8:14: service \"db\" runs no image of this spec: it has no start-up tasks | hint: set on_start = true on a service with image = image.NAME, or drop this line"),
        (service("service \"web\" {\n  image = image.a\n  on_start = true\n}"), none(), "app.hcl:8:14: image \"a\" has no on_start tasks for service \"web\" to run | hint: set on_start = [\"python manage.py migrate --noinput\"] on image \"a\", or drop this line"),
        (service("service \"db\" {\n  image = \"postgres:16\"\n  bind {\n    source = \"data\"\n  }\n}"), none(), "app.hcl:8:3: bind has no \"target\" | hint: set target = \"/var/lib/postgresql/data\""),
        (service("service \"web\" {\n  image = image.a\n  secrets = [\"db password\"]\n}"), none(), "app.hcl:8:13: \"db password\" is not a secret name | hint: secret names are letters, digits, '_', '.' and '-', starting with a letter or digit, like \"db_password\""),
        (format!("user \"app\" {{}}\nimage \"a\" {{\n  from = \"x\"\n  on_start = [\"migrate\"]\n}}\n{}", "service \"web\" {\n  image = image.a\n  on_start = true\n}\nservice \"web2\" {\n  image = image.a\n  on_start = true\n}\n"), none(), "app.hcl:6:1: services web, web2 all run the start-up tasks of image \"a\" | hint: set on_start = true on one of them: migrations run once"),
        (format!("user \"app\" {{}}\nimage \"a\" {{\n  from = \"x\"\n  healthcheck {{\n    test = [\"CMD\", \"true\"]\n  }}\n}}\n{}", "service \"worker\" {\n  image = image.a\n  command = [\"celery\", \"worker\"]\n}\n"), none(), "app.hcl:10:13: service \"worker\" replaces the command of image \"a\", whose healthcheck tests that command | hint: give the service a healthcheck block of its own, e.g. test = [\"CMD\", \"celery\", \"-A\", \"config\", \"inspect\", \"ping\"] for a Celery worker"),
        (service("service \"cache\" {\n  image = \"redis:7\"\n  healthcheck {\n    test = [\"CMD\", \"redis-cli\", \"ping\"]\n    start_interval = \"1s\"\n  }\n}"), none(), "app.hcl:8:3: service \"cache\"'s healthcheck sets start_interval without start_period | hint: start_interval is how often it checks during start_period: set start_period = \"30s\" too"),
        (format!("{}variant \"ci\" {{\n  test = \"make test\"\n}}\n", image("")), none(), "app.hcl:7:10: test must be a list of strings, not the string \"make test\""),
        // Build args.
        (image(""), vec![("SOURCE_DATE_EPOCH", "abc")], "build arg SOURCE_DATE_EPOCH is \"abc\": it must be a whole number of seconds since 1970, from 0 to 9223372036 (for example $(git log -1 --format=%ct))"),
        (image(""), vec![("SOURCE_DATE_EPOCH", "-5")], "build arg SOURCE_DATE_EPOCH is \"-5\": it must be a whole number of seconds since 1970, from 0 to 9223372036 (for example $(git log -1 --format=%ct))"),
        (image(""), vec![("SOURCE_DATE_EPOCH", "99999999999")], "build arg SOURCE_DATE_EPOCH is \"99999999999\": it must be a whole number of seconds since 1970, from 0 to 9223372036 (for example $(git log -1 --format=%ct))"),
        (image(""), vec![("HOST_UDI", "5")], "warning: UnusedBuildArg: build arg HOST_UDI is not used: app.hcl declares no variable \"HOST_UDI\" (did you mean HOST_UID?)"),
    ]
}

#[test]
fn each_bad_input_gets_its_message_at_its_place() {
    let table = cases();
    assert!(table.len() >= 75, "the table has {} cases", table.len());
    let print = std::env::var_os("LEAVEN_PRINT").is_some();
    let mut wrong = Vec::new();
    for (i, (text, args, want)) in table.iter().enumerate() {
        let got = outcome(text, args);
        if print {
            println!("{i}: {got}");
        }
        if got != *want {
            wrong.push(format!("case {i}:\n{text}\nwant {want}\n got {got}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases differ:\n\n{}", wrong.len(), table.len(), wrong.join("\n\n"));
}

#[test]
fn ports_may_be_numbers_alone_or_in_a_list() {
    for expose in ["8000", "[8000, \"53/udp\"]", "\"8000/tcp\""] {
        assert_eq!(outcome(&image(&format!("  expose = {expose}")), &[]), "accepted", "expose = {expose}");
    }
}

/// A run of several lines is several commands: the ejected Dockerfile keeps
/// them apart in a heredoc instead of joining them into one command line.
#[test]
fn an_ejected_multi_line_run_keeps_its_lines() {
    let text = image("  run \"apt-get update\\napt-get install -y curl\" {\n    env = { DEBIAN_FRONTEND = \"noninteractive\" }\n  }");
    let file = SourceFile::new("app.hcl", text);
    let spec = leaven::spec::parse_spec(&file, &BTreeMap::new()).unwrap();
    let target = leaven::compile::select_target(&spec, None).unwrap();
    let dockerfile = leaven::compile::dockerfile(&leaven::compile::plan(&spec, &target));
    let want = "RUN <<'LEAVEN_RUN'\nexport DEBIAN_FRONTEND=noninteractive && apt-get update\napt-get install -y curl\nLEAVEN_RUN\n";
    assert!(dockerfile.contains(want), "{dockerfile}");
}
