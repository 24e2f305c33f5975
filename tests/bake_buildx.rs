//! Side by side with the real `docker buildx bake --print` (Debian's
//! docker-buildx, provisioned by `tests/engines/provision.sh`): generated cases
//! — one or more per stdlib function, per `--set` key, per merge rule and per
//! error class — must print the same bytes, or both fail.
//!
//! A missing buildx is a failure, never a skip: `make test` provisions it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use leaven::bake::{run, FlagOverrides, Output, Request};

/// Cases where buildx's order of a target's outputs changes from run to run
/// (`--push --load` adds both through a Go map): the outputs compare as a set.
const UNORDERED_OUTPUTS: &[&str] = &["load: with --push"];

/// The print with every target's outputs sorted, for [`UNORDERED_OUTPUTS`].
fn outputs_sorted(print: &str) -> Option<serde_json::Value> {
    let mut value: serde_json::Value = serde_json::from_str(print).ok()?;
    for target in value.get_mut("target")?.as_object_mut()?.values_mut() {
        if let Some(outputs) = target.get_mut("output").and_then(|o| o.as_array_mut()) {
            outputs.sort_by_key(|o| o.to_string());
        }
    }
    Some(value)
}

/// Functions buildx added after Debian's docker-buildx (0.29), with what buildx
/// 0.36 prints for the case's `R` arg: that buildx 0.29 reports them unknown,
/// leaven prints the recorded value.
const NEWER_FUNCTIONS: &[(&str, &str)] = &[
    ("function formattimestamp", "\"2024-03-05\""),
    ("function semvercmp", "[true,false]"),
    ("function unixtimestampparse", "\"2024-01-01T00:00:00Z\""),
];

/// One invocation: files written to an empty directory, then `bake --print ARGS`.
struct Case {
    name: String,
    files: Vec<(&'static str, String)>,
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
}

fn case(name: impl Into<String>, hcl: impl Into<String>, args: &[&str]) -> Case {
    Case { name: name.into(), files: vec![("docker-bake.hcl", hcl.into())], args: args.iter().map(|a| a.to_string()).collect(), env: Vec::new() }
}

/// A case with several files and an environment.
fn files_case(name: &str, files: Vec<(&'static str, String)>, args: &[&str], env: Vec<(&'static str, &'static str)>) -> Case {
    Case { name: name.into(), files, args: args.iter().map(|a| a.to_string()).collect(), env }
}

/// A `docker-bake.hcl` case with an environment.
fn env_case(name: &str, hcl: &str, args: &[&str], env: Vec<(&'static str, &'static str)>) -> Case {
    Case { env, ..case(name, hcl, args) }
}

fn docker() -> PathBuf {
    let engines = std::env::var("LEAVEN_ENGINES").unwrap_or_else(|_| "/var/lib/leaven-engines".into());
    Path::new(&engines).join("bin/docker-28")
}

/// A stdlib call, printed through `jsonencode` so every result type compares.
fn function_cases() -> Vec<Case> {
    let calls: &[(&str, &str)] = &[
        ("absolute", "absolute(-3.5)"),
        ("add", "add(1, \"2\")"),
        ("and", "and(true, false)"),
        ("base64decode", "base64decode(\"aGVsbG8=\")"),
        ("base64encode", "base64encode(\"hello\")"),
        ("basename", "basename(\"/a/b/c.txt\")"),
        ("bcrypt", "strlen(bcrypt(\"x\"))"),
        ("byteslen", "byteslen(\"héllo\")"),
        ("bytesslice", "bytesslice(\"hello\", 1, 3)"),
        ("can", "[can(nope.x), can(1)]"),
        ("ceil", "ceil(1.2)"),
        ("chomp", "chomp(\"x\\n\\n\")"),
        ("chunklist", "chunklist([\"a\",\"b\",\"c\"], 2)"),
        ("cidrhost", "cidrhost(\"10.12.0.0/16\", 34)"),
        ("cidrnetmask", "cidrnetmask(\"172.16.0.0/12\")"),
        ("cidrsubnet", "cidrsubnet(\"10.1.0.0/16\", 8, 2)"),
        ("cidrsubnets", "cidrsubnets(\"10.1.0.0/16\", 4, 4, 8, 4)"),
        ("coalesce", "coalesce(null, \"b\", \"c\")"),
        ("coalescelist", "coalescelist([], [\"x\"])"),
        ("compact", "compact([\"a\", \"\", \"b\"])"),
        ("concat", "concat([\"a\"], [\"b\", \"c\"])"),
        ("contains", "contains([\"a\", \"b\"], \"b\")"),
        ("convert", "convert(\"5\", number)"),
        ("csvdecode", "csvdecode(\"a,b\\n1,2\\n3,4\")"),
        ("dirname", "dirname(\"/a/b/c.txt\")"),
        ("distinct", "distinct([\"a\", \"b\", \"a\"])"),
        ("divide", "divide(7, 2)"),
        ("element", "element([\"a\", \"b\"], 3)"),
        ("equal", "equal(1, 1)"),
        ("flatten", "flatten([[\"a\"], [[\"b\"]], []])"),
        ("floor", "floor(-1.5)"),
        ("format", "format(\"%s-%03d-%.2f-%t\", \"x\", 7, 1.5, true)"),
        ("formattimestamp", "formattimestamp(\"YYYY-MM-DD\", \"2024-03-05T07:08:09Z\")"),
        ("formatdate", "formatdate(\"YYYY-MM-DD hh:mm:ss EEE MMM\", \"2024-03-05T07:08:09Z\")"),
        ("formatlist", "formatlist(\"%s=%s\", [\"a\", \"b\"], \"v\")"),
        ("greaterthan", "greaterthan(2, 1)"),
        ("greaterthanorequalto", "greaterthanorequalto(1, 1)"),
        ("hasindex", "[hasindex([\"a\"], 0), hasindex([\"a\"], 1)]"),
        ("homedir", "strlen(homedir()) > 0"),
        ("indent", "indent(2, \"a\\nb\")"),
        ("index", "index([\"a\", \"b\"], 1)"),
        ("indexof", "indexof([\"a\", \"b\"], \"b\")"),
        ("int", "int(2.7)"),
        ("join", "join(\"-\", [\"a\", \"b\"], [\"c\"])"),
        ("jsondecode", "jsondecode(\"{\\\"b\\\":[1,true],\\\"a\\\":null}\")"),
        ("jsonencode", "jsonencode({b = 1, a = [\"x\"]})"),
        ("keys", "keys({b = 1, a = 2})"),
        ("length", "length([1, 2])"),
        ("length of an object", "length({a = 1})"),
        ("length of a string", "length(\"héllo\")"),
        ("lessthan", "lessthan(1, 2)"),
        ("lessthanorequalto", "lessthanorequalto(2, 2)"),
        ("log", "log(8, 2)"),
        ("lookup", "[lookup({a = \"x\"}, \"a\", \"d\"), lookup({a = \"x\"}, \"b\", \"d\")]"),
        ("lower", "lower(\"AbC\")"),
        ("max", "max(1, 5, 3)"),
        ("md5", "md5(\"hello\")"),
        ("merge", "merge({a = 1, b = 2}, {b = 3})"),
        ("min", "min(4, 2, 8)"),
        ("modulo", "modulo(7, 3)"),
        ("multiply", "multiply(3, 4)"),
        ("negate", "negate(5)"),
        ("not", "not(true)"),
        ("notequal", "notequal(\"a\", \"b\")"),
        ("or", "or(false, true)"),
        ("parseint", "parseint(\"ff\", 16)"),
        ("pow", "pow(2, 10)"),
        ("range", "[range(3), range(1, 4), range(0, 10, 3)]"),
        ("regex_replace", "regex_replace(\"v1.2.3\", \"^v([0-9]+).*\", \"major-$1\")"),
        ("regex", "regex(\"([a-z]+)-([0-9]+)\", \"abc-123\")"),
        ("regexall", "regexall(\"[0-9]+\", \"a1b22c333\")"),
        ("replace", "replace(\"a.b.c\", \".\", \"-\")"),
        ("reverse", "reverse(\"abc\")"),
        ("reverselist", "reverselist([\"a\", \"b\", \"c\"])"),
        ("sanitize", "sanitize(\"a/b:c.d e\")"),
        ("semvercmp", "[semvercmp(\"1.2.3\", \">= 1.2.0\"), semvercmp(\"2.0.0\", \"< 2.0.0\")]"),
        ("sethaselement", "sethaselement([\"a\"], \"a\")"),
        ("setintersection", "setintersection([\"a\", \"b\"], [\"b\", \"c\"])"),
        ("setproduct", "setproduct([\"a\", \"b\"], [\"x\"])"),
        ("setsubtract", "setsubtract([\"a\", \"b\"], [\"b\"])"),
        ("setsymmetricdifference", "setsymmetricdifference([\"a\", \"b\"], [\"b\", \"c\"])"),
        ("setunion", "setunion([\"b\"], [\"a\", \"b\"])"),
        ("sha1", "sha1(\"hello\")"),
        ("sha256", "sha256(\"hello\")"),
        ("sha512", "sha512(\"hello\")"),
        ("signum", "[signum(-3), signum(0), signum(2)]"),
        ("slice", "slice([\"a\", \"b\", \"c\"], 1, 3)"),
        ("sort", "sort([\"b\", \"a\", \"c\"])"),
        ("split", "split(\",\", \"a,b,c\")"),
        ("strlen", "strlen(\"héllo\")"),
        ("substr", "substr(\"hello world\", 1, 4)"),
        ("subtract", "subtract(5, 7)"),
        ("timeadd", "timeadd(\"2024-01-01T00:00:00Z\", \"1h30m\")"),
        ("timestamp", "can(formatdate(\"YYYY\", timestamp()))"),
        ("title", "title(\"hello world\")"),
        ("trim", "trim(\"?!hi?!\", \"!?\")"),
        ("trimprefix", "trimprefix(\"v1.2\", \"v\")"),
        ("trimspace", "trimspace(\"  x \\n\")"),
        ("trimsuffix", "trimsuffix(\"a.hcl\", \".hcl\")"),
        ("try", "try(nope.x, \"fallback\")"),
        ("unixtimestampparse", "unixtimestampparse(1704067200).rfc3339"),
        ("upper", "upper(\"abc\")"),
        ("urlencode", "urlencode(\"a b/c?d=e\")"),
        ("uuidv4", "strlen(uuidv4())"),
        ("uuidv5", "uuidv5(\"dns\", \"example.com\")"),
        ("values", "values({b = 1, a = 2})"),
        ("zipmap", "zipmap([\"a\", \"b\"], [1, 2])"),
    ];
    calls
        .iter()
        .map(|(name, expr)| case(format!("function {name}"), format!("target \"default\" {{\n  args = {{ R = jsonencode({expr}) }}\n}}\n"), &[]))
        .collect()
}

const BASE: &str = r#"
target "base" {
  args = { A = "1", B = "2" }
  labels = { L = "x" }
  tags = ["base:1"]
  platforms = ["linux/amd64"]
  cache-from = ["type=registry,ref=base"]
  output = ["type=docker"]
}
target "app" {
  inherits = ["base"]
  context = "app"
  dockerfile = "app.Dockerfile"
  args = { B = "3", C = null }
  secret = ["id=a,src=/dev/null"]
  ssh = ["default"]
}
"#;

fn set_cases() -> Vec<Case> {
    let sets: &[&str] = &[
        "app.context=other",
        "app.dockerfile=x.Dockerfile",
        "app.args.NEW=v",
        "app.args.A=over",
        "app.labels.L2=y",
        "app.contexts.dep=docker-image://alpine",
        "app.tags=t:1",
        "app.tags+=t:2",
        "app.platform=linux/arm64",
        "app.platform+=linux/arm64",
        "app.cache-from=type=gha",
        "app.cache-from+=user/cache",
        "app.cache-to=type=inline",
        "app.output=type=local,dest=out",
        "app.output+=./dir",
        "app.target=builder",
        "app.call=check",
        "app.secrets=id=b,env=B",
        "app.secrets+=id=c,src=/dev/null",
        "app.ssh=other",
        "app.attest=type=sbom",
        "app.annotations=a=b",
        "app.entitlements=network.host",
        "app.no-cache=true",
        "app.pull=false",
        "app.no-cache-filter=stage",
        "app.shm-size=128m",
        "app.ulimits=nofile=1024",
        "app.network=host",
        "app.extra-hosts.db=10.0.0.1",
        "app.push=true",
        "app.load=true",
        "*.args.ALL=1",
        "a*.tags=glob",
    ];
    let mut cases: Vec<Case> = sets.iter().map(|s| case(format!("--set {s}"), BASE, &["app", "--set", s])).collect();
    let flags: &[&[&str]] = &[&["--push"], &["--load"], &["--no-cache"], &["--pull"], &["--call", "outline"], &["--check"], &["--call", "targets,format=json"]];
    for f in flags {
        let args: Vec<&str> = ["app"].iter().chain(f.iter()).copied().collect();
        cases.push(case(format!("--set flag {}", f.join(" ")), BASE, &args));
    }
    cases.push(case("--set --push on a registry output", "target \"default\" { output = [\"type=registry\", \"type=image,name=x\"] }\n", &["--push"]));
    cases.push(case("--set repeated: last operator decides", BASE, &["app", "--set", "app.platform+=linux/a", "--set", "app.platform=linux/b"]));
    cases.push(case("--set on a parent flows to the child", BASE, &["app", "--set", "base.args.Z=z", "--set", "base.args.B=no"]));
    cases
}

fn merge_cases() -> Vec<Case> {
    let two = |name: &str, first: &str, second: &str, args: &[&str]| Case {
        name: name.into(),
        files: vec![("docker-bake.hcl", first.into()), ("docker-bake.override.hcl", second.into())],
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
    };
    vec![
        two(
            "files merge: scalars and replace-lists from the later file",
            "target \"default\" {\n tags = [\"a\"]\n platforms = [\"linux/amd64\"]\n context = \"x\"\n args = { A = \"1\" }\n cache-from = [\"a\"]\n}\n",
            "target \"default\" {\n tags = [\"b\"]\n context = \"y\"\n args = { B = \"2\" }\n cache-from = [\"b\"]\n}\n",
            &[],
        ),
        two("files merge: later variable block replaces", "variable \"V\" { default = \"a\" }\ntarget \"default\" { args = { V = V } }\n", "variable \"V\" { default = \"b\" }\n", &[]),
        two("files merge: global attribute replaces a default", "variable \"V\" { default = \"a\" }\ntarget \"default\" { args = { V = V } }\n", "V = \"global\"\n", &[]),
        two("files merge: groups union", "group \"default\" { targets = [\"a\"] }\ntarget \"a\" {}\ntarget \"b\" {}\n", "group \"default\" { targets = [\"b\", \"a\"] }\n", &[]),
        Case {
            name: "files merge: JSON over HCL".into(),
            files: vec![
                ("docker-bake.hcl", "target \"default\" {\n tags = [\"hcl\"]\n args = { A = \"1\" }\n}\n".into()),
                ("docker-bake.override.json", r#"{"target": {"default": {"tags": ["json-${BAKE_LOCAL_PLATFORM}"]}}}"#.into()),
            ],
            args: vec![],
            env: Vec::new(),
        },
        case("files merge: same target twice in one file", "target \"x\" {\n tags = [\"a\"]\n args = { A = \"1\" }\n}\ntarget \"x\" {\n args = { B = \"2\" }\n}\n", &["x"]),
        case("inherits: last parent wins", "target \"a\" { args = { V = \"a\" } }\ntarget \"b\" { args = { V = \"b\" } }\ntarget \"c\" { inherits = [\"a\", \"b\"] }\n", &["c"]),
        case(
            "inherits: diamond re-applies the shared parent",
            "target \"a\" { args = { bar = \"234\" } }\ntarget \"b\" {\n inherits = [\"a\"]\n args = { bar = \"567\" }\n}\ntarget \"c\" { inherits = [\"a\"] }\ntarget \"d\" { inherits = [\"b\", \"c\"] }\n",
            &["d"],
        ),
        case("inherits: a target inheriting itself is tolerated", "target \"a\" {\n inherits = [\"a\"]\n tags = [\"x\"]\n}\n", &["a"]),
        case("templates: a leading byte order mark is skipped", "\u{feff}target \"default\" { tags = [\"a\"] }\n", &[]),
        case(
            "templates: integer edge cases",
            "target \"default\" { args = { D = -9223372036854775808 / -1, M = -9223372036854775808 % -1, P = parseint(\"1\", 37), Z = parseint(\"Z\", 62) } }\n",
            &[],
        ),
        case("inherits: cycles are tolerated", "target \"a\" {\n inherits = [\"b\"]\n tags = [\"a\"]\n}\ntarget \"b\" {\n inherits = [\"a\"]\n args = { B = \"1\" }\n}\n", &["a"]),
        case("inherits: interpolated parent name", "variable \"T\" { default = \"x\" }\ntarget \"base-x\" { args = { P = \"x\" } }\ntarget \"default\" { inherits = [\"base-${T}\"] }\n", &[]),
        case("inherits: explicit empty list replaces", "target \"a\" { platforms = [\"linux/amd64\", \"linux/arm64\"] }\ntarget \"b\" {\n inherits = [\"a\"]\n platforms = []\n}\n", &["b"]),
        case("inherits: null args keep the parent's", "target \"a\" { args = { X = \"1\" } }\ntarget \"b\" {\n inherits = [\"a\"]\n args = { X = null }\n}\n", &["b"]),
        case("inherits: attest merges by type", "target \"a\" { attest = [\"type=sbom\", \"type=provenance,mode=min\"] }\ntarget \"b\" {\n inherits = [\"a\"]\n attest = [{type = \"provenance\", mode = \"max\"}]\n}\n", &["b"]),
        case("inherits: secrets merge by id", "target \"a\" { secret = [\"id=x,env=A\", \"id=y,env=B\"] }\ntarget \"b\" {\n inherits = [\"a\"]\n secret = [\"id=x,env=C\"]\n}\n", &["b"]),
        case("selection: groups nest and a group shadows a target", "group \"default\" { targets = [\"g\"] }\ngroup \"g\" { targets = [\"a\", \"g2\"] }\ngroup \"g2\" { targets = [\"b\"] }\ntarget \"a\" {}\ntarget \"b\" {}\ntarget \"g\" {}\n", &[]),
        case("links: target links print the dependency as cacheonly", "target \"base\" { tags = [\"b\"] }\ntarget \"default\" { contexts = { base = \"target:base\" } }\n", &[]),
        // One key only: with several, buildx orders variants by Go's random map iteration.
        case("matrix: label is a group, name renames", "target \"m\" {\n matrix = { v = [\"a\", \"b\"] }\n name = \"m-${v}\"\n}\n", &["m"]),
        case("matrix: values from objects", "target \"m\" {\n matrix = { item = [{n = \"a\", v = 1}, {n = \"b\", v = 2}] }\n name = \"m-${item.n}\"\n args = { V = item.v }\n}\n", &["m"]),
        case("matrix: glob over generated names", "target \"m\" {\n matrix = { v = [\"a\", \"b\"] }\n name = \"mtx-${v}\"\n}\n", &["mtx-*"]),
        case("references: target.x.attr and group.g.targets", "target \"a\" { context = \"ctx\" }\ntarget \"b\" {\n context = target.a.context\n tags = [target.b.context, target.a.name]\n}\ngroup \"g\" { targets = [\"a\"] }\ntarget \"c\" { tags = group.g.targets }\n", &["b", "c"]),
        case("selection: globs select groups and targets, sorted default", "group \"gz\" { targets = [\"t1\"] }\ntarget \"t2\" {}\ntarget \"t1\" {}\n", &["*"]),
        case("templates: null unwrap, escapes, heredoc", "variable \"N\" { default = null }\ntarget \"default\" {\n args = { N = \"${N}\", E = \"$${x} %%{y} $V\" }\n dockerfile-inline = <<-EOT\n  FROM alpine\n  RUN echo $${HOME}\n  EOT\n labels = { \"a<b\" = \"x&y\" }\n}\n", &[]),
        case("templates: numbers print like cty", "target \"default\" { args = { A = 1.50, B = 1e3, C = 0.1 + 0.2, D = 9007199254740993, E = 7 / 2 } }\n", &[]),
        case("templates: empty strings drop from lists and outputs", "variable \"D\" { default = \"\" }\ntarget \"default\" {\n tags = [\"a\", \"\", \"a\"]\n output = [\"${D}\"]\n contexts = { x = \"\" }\n}\n", &[]),
        case("leniency: unknown attributes and blocks are ignored", "target \"default\" {\n provenance = false\n platfrom = nope.x\n args { A = 1 }\n}\nfoo \"bar\" {}\n", &[]),
        case("functions: user functions with params and variadic", "function \"inner\" {\n params = [x]\n result = upper(x)\n}\nfunction \"f\" {\n params = [a]\n variadic_params = rest\n result = \"${inner(a)}-${join(\",\", rest)}\"\n}\ntarget \"default\" { args = { R = f(\"x\", \"y\", \"z\") } }\n", &[]),
        case("variables: typed, with validation", "variable \"L\" {\n type = list(string)\n default = [\"a\"]\n}\nvariable \"N\" {\n type = number\n default = \"5\"\n validation {\n condition = N > 1\n error_message = \"too small\"\n }\n}\ntarget \"default\" {\n tags = L\n args = { N = N }\n}\n", &[]),
        case("variables: BAKE_CMD_CONTEXT and BAKE_LOCAL_PLATFORM", "target \"default\" {\n context = BAKE_CMD_CONTEXT\n platforms = [BAKE_LOCAL_PLATFORM]\n}\n", &[]),
        case("templates: a null inside a longer template is an error", "variable \"N\" { default = null }\ntarget \"default\" { tags = [\"x-${N}\"] }\n", &[]),
        Case {
            name: "variables: environment overrides, typed".into(),
            files: vec![("docker-bake.hcl", "variable \"S\" { default = \"a\" }\nvariable \"N\" { default = 1 }\nvariable \"B\" { default = false }\nvariable \"L\" { type = list(string) }\nvariable \"M\" { type = map(number) }\nvariable \"J\" { type = list(number) }\nvariable \"U\" {}\ntarget \"default\" { args = { S = S, N = N + 1, B = B, L = jsonencode(L), M = jsonencode(M), J = jsonencode(J), U = U } }\n".into())],
            args: vec![],
            env: vec![("S", "env"), ("N", "41"), ("B", "1"), ("L", "x,\"y,z\""), ("M", "a:1,b:2"), ("J_JSON", "[3,1]"), ("U_JSON", "\"raw\"")],
        },
        Case {
            name: "variables: SOURCE_DATE_EPOCH joins the args".into(),
            files: vec![("docker-bake.hcl", "target \"default\" { args = { A = \"1\" } }\n".into())],
            args: vec![],
            env: vec![("SOURCE_DATE_EPOCH", "1700000000")],
        },
    ]
}

const COMPOSE: &str = r#"
services:
  web:
    image: example/web:${TAG:-dev}
    build:
      context: ./web
      dockerfile: web.Dockerfile
      args:
        A: "1"
        B:
        C: ${TAG:-x}
      labels:
        l: v
      target: prod
      cache_from: [type=gha]
      platforms: [linux/amd64]
      x-bake:
        tags: [a/b:1, a/b:2]
        output: type=docker
        no-cache-filter: [s1]
    ports: ["80:80"]
    depends_on: [db]
  db:
    image: postgres
  worker.x:
    build: ./worker
    image: example/worker
"#;

fn compose_and_list_cases() -> Vec<Case> {
    let compose = files_case;
    let listed = "variable \"TAG\" {\n default = \"latest\"\n description = \"the tag\"\n}\nvariable \"N\" { default = null }\nvariable \"L\" {\n type = list(string)\n default = [\"a\", \"b\"]\n}\nvariable \"NUM\" { default = 1.5 }\ngroup \"default\" { targets = [\"app\", \"_priv\"] }\ngroup \"other\" {\n description = \"Other things\"\n targets = [\"app\"]\n}\ntarget \"app\" {\n description = \"The app\"\n tags = [\"x:${TAG}\"]\n}\ntarget \"_priv\" {}\ntarget \"zzz\" {}\ntarget \"m\" {\n matrix = { v = [\"1\", \"2\"] }\n name = \"m${v}\"\n}\n";
    vec![
        compose("compose: services become targets", vec![("compose.yaml", COMPOSE.into())], &[], vec![]),
        compose("compose: interpolation from the environment", vec![("compose.yaml", COMPOSE.into())], &["web"], vec![("TAG", "v9")]),
        compose(
            "compose: HCL wins over compose whatever the order",
            vec![("docker-bake.hcl", "target \"web\" {\n tags = [\"hcl\"]\n args = { D = \"4\" }\n}\n".into()), ("compose.yaml", COMPOSE.into())],
            &["-f", "docker-bake.hcl", "-f", "compose.yaml", "web"],
            vec![],
        ),
        compose("compose: .env feeds interpolation", vec![("compose.yaml", COMPOSE.into()), (".env", "TAG=fromdotenv\n".into())], &["web"], vec![]),
        compose(
            "files: default lookup reads every default file, compose first",
            vec![
                ("compose.yaml", COMPOSE.into()),
                ("docker-bake.hcl", "target \"web\" { args = { H = \"hcl\" } }\n".into()),
                ("docker-bake.override.hcl", "target \"web\" { tags = [\"override\"] }\n".into()),
            ],
            &["web"],
            vec![],
        ),
        compose(
            "files: BUILDX_BAKE_FILE replaces the default lookup",
            vec![("docker-bake.hcl", "target \"default\" { tags = nope }\n".into()), ("one.hcl", "target \"default\" { tags = [\"one\"] }\n".into())],
            &[],
            vec![("BUILDX_BAKE_FILE", "one.hcl")],
        ),
        compose("list: targets", vec![("docker-bake.hcl", listed.into())], &["--list", "targets"], vec![]),
        compose("list: variables", vec![("docker-bake.hcl", listed.into())], &["--list", "variables"], vec![]),
        compose("list: targets as JSON", vec![("docker-bake.hcl", listed.into())], &["--list", "type=targets,format=json"], vec![]),
        compose("list: variables as JSON", vec![("docker-bake.hcl", listed.into())], &["--list", "type=variables,format=json"], vec![]),
        compose(
            "json: blocks as arrays, functions, templates",
            vec![(
                "docker-bake.json",
                r#"{"variable": {"V": {"default": "v"}}, "function": {"f": {"params": ["inp"], "result": "<${upper(inp)}>"}}, "target": [{"default": [{"tags": ["${f(V)}", "f(V)"], "args": {"N": null, "B": true, "X": 1.5}}]}]}"#.into(),
            )],
            &[],
            vec![],
        ),
    ]
}

/// The 2026 issue's items that Debian's buildx 0.29 already has: typed
/// attestations, `--sbom`/`--provenance`, `--push`/`--load` over outputs, the
/// checks `--print` makes of build options, and Compose's own keys.
fn parity_cases() -> Vec<Case> {
    let compose = files_case;
    let attests = "target \"a\" { attest = [\"type=sbom\", \"type=provenance,mode=min\"] }\ntarget \"default\" {\n inherits = [\"a\"]\n attest = [\"type=sbom,disabled=true\", {type = \"provenance\", mode = \"max\", disabled = \"false\"}, {type = \"custom\", disabled = true, Key = \"V\"}]\n}\n";
    let outputs = |output: &str| format!("target \"default\" {{ output = [{output}] }}\n");
    vec![
        case("attest: disabled is a boolean, entries keep their place by type", attests, &[]),
        case("attest: --sbom true", attests, &["--sbom", "true"]),
        case("attest: --sbom false", "target \"default\" {}\n", &["--sbom", "false"]),
        case("attest: --sbom with options", "target \"default\" {}\n", &["--sbom", "generator=docker/scout-sbom-indexer:1"]),
        case("attest: --provenance mode=max with --sbom", attests, &["--provenance", "mode=max", "--sbom", "true"]),
        case("attest: --set attest disables by type", attests, &["--set", "default.attest=type=sbom,disabled=true"]),
        case("error: attest without a type", "target \"default\" { attest = [\"mode=max\"] }\n", &[]),
        case("error: attest disabled that is not a boolean", "target \"default\" { attest = [\"type=sbom,disabled=maybe\"] }\n", &[]),
        case("push: a local output gets no image", outputs("\"type=local,dest=out\""), &["--push"]),
        case("push: docker outputs get an image push", outputs("\"type=docker\""), &["--push"]),
        case("push: image outputs are set to push", outputs("\"type=image,name=x\", \"type=cacheonly\""), &["--push"]),
        case("push: --set push=false drops registry outputs", outputs("\"type=registry,ref=x\", \"type=image,name=y\", \"type=docker\""), &["--set", "default.push=false"]),
        case("load: a docker output to a file still gets a load", outputs("\"type=docker,dest=out.tar\""), &["--load"]),
        case("load: with --push", "target \"default\" {}\n", &["--push", "--load"]),
        case("error: --push with a local output without dest", outputs("\"type=local\""), &["--push"]),
        case("error: a local output to stdout", outputs("\"type=local,dest=-\""), &[]),
        case("error: two outputs to stdout", outputs("\"type=tar\", \"-\""), &[]),
        case("error: a local output onto a file", outputs("\"type=local,dest=docker-bake.hcl\""), &[]),
        case("error: a tar output onto a directory", outputs("\"type=tar,dest=.\""), &[]),
        case("error: a secret file that does not exist", "target \"default\" { secret = [\"id=a,src=/nope/x\"] }\n", &[]),
        case("error: a secret with only an id and no such file or variable", "target \"default\" { secret = [\"id=nothere\"] }\n", &[]),
        env_case("secrets: an id alone names a set variable", "target \"default\" { secret = [\"id=TOKEN\", \"id=e,env=NOT_SET_EITHER\"] }\n", &[], vec![("TOKEN", "t")]),
        env_case("error: no SSH agent", "target \"default\" { ssh = [\"default\"] }\n", &[], vec![("SSH_AUTH_SOCK", "")]),
        case("error: an SSH key that does not exist", "target \"default\" { ssh = [\"k=/nope/key\"] }\n", &[]),
        case("error: an SSH key file that holds no key", "target \"default\" { ssh = [\"k=docker-bake.hcl\"] }\n", &[]),
        case("error: shm-size that is not a size", "target \"default\" { shm-size = \"lots\" }\n", &[]),
        case("links: a dependent inherits its links' entitlements", "target \"base\" {\n network = \"host\"\n entitlements = [\"security.insecure\"]\n}\ntarget \"mid\" { contexts = { b = \"target:base\" } }\ntarget \"default\" {\n entitlements = [\"device=x\"]\n contexts = { m = \"target:mid\" }\n}\n", &[]),
        case("allow: entitlements that parse", "target \"default\" {}\n", &["--allow", "fs.read=/tmp", "--allow", "device=nvidia.com/gpu=all"]),
        case("error: an unknown entitlement", "target \"default\" {}\n", &["--allow", "root"]),
        case("error: context from stdin", "target \"default\" { context = \"-\" }\n", &[]),
        compose("compose: extends, env_file, environment, profiles, anchors, x-bake", vec![("compose.yaml", COMPOSE_KEYS.into()), ("web.env", "FROM_ENVFILE=ef\nSVC_ENV=from-envfile\n".into())], &["web"], vec![("SET_V", "1"), ("EMPTY_V", ""), ("PROC", "proc")]),
        compose("compose: sbom and provenance", vec![("compose.yaml", "services:\n  a:\n    build:\n      context: .\n      sbom: true\n      provenance: mode=max\n".into())], &[], vec![]),
        compose("compose: x-bake merges into build", vec![("compose.yaml", "services:\n  a:\n    image: img\n    build:\n      context: .\n      tags: [t1]\n      cache_from: [type=gha]\n      cache_to: [type=inline]\n      ssh: [default]\n      x-bake:\n        tags: [t1, t2]\n        cache-from: [user/c]\n        cache-to: type=local,dest=c\n        ssh: [mm]\n        secret: [\"id=s,env=S\"]\n        no-cache: true\n        no-cache-filter: [a, b]\n".into())], &[], vec![]),
        compose("error: compose required variable with a message", vec![("compose.yaml", "services:\n  a:\n    build:\n      context: .\n      args:\n        X: ${NOPE?you must set NOPE}\n".into())], &[], vec![]),
        compose("error: compose required variable without a message", vec![("compose.yaml", "services:\n  a:\n    build:\n      context: .\n      args:\n        X: ${NOPE:?}\n".into())], &[], vec![]),
        compose("compose: nested defaults and escapes", vec![("compose.yaml", "services:\n  a:\n    build:\n      context: .\n      args:\n        X: ${A:-${B:-inner}}-$${lit}\n        Y: ${B:-${A}}\n".into())], &[], vec![("A", "a")]),
        compose("error: compose env_file that does not exist", vec![("compose.yaml", "services:\n  a:\n    env_file: missing.env\n    build: .\n".into())], &[], vec![]),
        compose("compose: an optional env_file may be missing", vec![("compose.yaml", "services:\n  a:\n    env_file:\n      - path: missing.env\n        required: false\n    build:\n      context: .\n      args:\n        K:\n".into())], &[], vec![("K", "from-env")]),
        compose("error: compose extends a service that does not exist", vec![("compose.yaml", "services:\n  a:\n    extends: nope\n    build: .\n".into())], &[], vec![]),
        compose("error: compose extends in a circle", vec![("compose.yaml", "services:\n  a:\n    extends:\n      service: b\n    build:\n      tags: [x]\n  b:\n    extends: a\n    build: .\n".into())], &[], vec![]),
        compose("compose: extends from another file", vec![("compose.yaml", "services:\n  a:\n    extends:\n      file: common.yaml\n      service: base\n    build:\n      args:\n        OWN: \"1\"\n".into()), ("common.yaml", "services:\n  base:\n    build:\n      context: shared\n      args:\n        BASE: \"1\"\n".into())], &["-f", "compose.yaml"], vec![]),
    ]
}

/// Compose's own keys together; buildx 0.29 prints this as 0.36 does.
const COMPOSE_KEYS: &str = r#"
x-common: &common
  platforms: [linux/arm64]
services:
  base:
    build:
      context: base
      args:
        FROM_BASE: "1"
  web:
    extends: base
    profiles: [debug]
    env_file: [web.env]
    environment:
      SVC_ENV: from-environment
    build:
      context: ./web
      <<: *common
      args:
        FROM_ENVFILE:
        SVC_ENV:
        PROC:
        MISSING:
        DEF: ${UNSET_V:-dflt}
        DEF2: ${EMPTY_V-d2}
        ALT: ${SET_V:+alt}
      x-bake:
        tags: a b
        platforms: linux/amd64
        output: [type=docker]
        cache-from: user/cache
        contexts:
          dep: service:base
        pull: true
    x-bake:
      tags: [ignored]
"#;

/// What buildx 0.36 does that 0.29 does not: a print (the targets, all of them
/// requested) or an error that leaven's message must contain.
enum Expected {
    Print(serde_json::Value),
    Error(&'static str),
}

/// A print of `targets` (name → target), all of them in the `default` group.
fn expected_print(targets: serde_json::Value) -> String {
    let names: Vec<String> = targets.as_object().unwrap().keys().cloned().collect();
    leaven::bake::print::go_json(&serde_json::json!({ "group": { "default": { "targets": names } }, "target": targets }))
}

/// The 2026 additions (buildx 0.30–0.36), each against what 0.36 prints,
/// recorded from its source at 461836b: `resources`, `policy` and `--policy`,
/// `secret.<id>` overrides, `--var`, `BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP`,
/// `semvercmp` and `formattimestamp`.
fn newer_cases() -> Vec<(Case, Expected)> {
    use serde_json::json;
    use Expected::{Error, Print};
    let resources = "target \"base\" {\n resources = { memory = \"512m\", cpu-shares = 512, unknown = 1 }\n}\ntarget \"app\" {\n inherits = [\"base\"]\n ulimits = [\"nofile=1024\"]\n call = \"build\"\n resources = { cpu-shares = \"1024\", cpuset-cpus = \"0-1\", cpu-quota = 50000 }\n}\n";
    let secret = "target \"app\" { secret = [\"id=tok,env=A\", \"id=f,src=/dev/null\"] }\n";
    let plain = |more: serde_json::Value| {
        let mut t = json!({"context": ".", "dockerfile": "Dockerfile"});
        t.as_object_mut().unwrap().extend(more.as_object().unwrap().clone());
        t
    };
    let policy = |files: Option<&str>, strict: Option<bool>, level: Option<&str>, disabled: bool| {
        json!({"Files": files.map(|f| json!([{"Filename": f, "Data": null}])), "Reset": false, "Disabled": disabled, "Strict": strict, "LogLevel": level})
    };
    let variable = "variable \"V\" { default = \"d\" }\nvariable \"L\" { type = list(string) }\ntarget \"app\" { args = { V = V, L = jsonencode(L) } }\n";
    vec![
        (
            case("resources: merged field by field, cpu-* as numbers", resources, &["app"]),
            Print(json!({"app": plain(json!({"ulimits": ["nofile=1024"], "resources": {"memory": "512m", "cpu-shares": 1024, "cpu-quota": 50000, "cpuset-cpus": "0-1"}, "call": "build"}))})),
        ),
        (
            case("resources: --set resources.<key>", resources, &["app", "--set", "app.resources.memory=1g", "--set", "app.resources.cpu-period=100000"]),
            Print(json!({"app": plain(json!({"ulimits": ["nofile=1024"], "resources": {"memory": "1g", "cpu-shares": 1024, "cpu-period": 100000, "cpu-quota": 50000, "cpuset-cpus": "0-1"}, "call": "build"}))})),
        ),
        (case("error: --set resources.cpu-shares not a number", resources, &["app", "--set", "app.resources.cpu-shares=lots"]), Error("invalid value lots for int64 key resources.cpu-shares")),
        (case("error: --set an unknown resources key", resources, &["app", "--set", "app.resources.gpu=1"]), Error("unknown resources key gpu")),
        (case("error: --set resources+=", resources, &["app", "--set", "app.resources.memory+=1g"]), Error("invalid key app.resources.memory+, resources does not support append")),
        (case("error: resources memory that is not a size", "target \"app\" { resources = { memory = \"lots\" } }\n", &["app"]), Error("docker-bake.hcl:1:8: target \"app\": invalid value \"lots\" for resource memory: invalid size: 'lots'")),
        (case("error: resources cpu-shares that is not whole", "target \"app\" { resources = { cpu-shares = 1.5 } }\n", &["app"]), Error("docker-bake.hcl:1:28: Unsuitable value for \"resources\": attribute \"cpu-shares\": value must be a whole number")),
        (
            case("policy: entries as objects and CSV, inherited entries first", "target \"base\" { policy = [{ filename = \"base.rego\", reset = false }] }\ntarget \"app\" {\n inherits = [\"base\"]\n policy = [\"strict=true,log-level=warn\"]\n}\n", &["app"]),
            Print(json!({"app": plain(json!({"policy": [policy(Some("base.rego"), None, None, false), policy(None, Some(true), Some("warning"), false)]}))})),
        ),
        (
            case("policy: --policy appends to every target", "target \"app\" { policy = [\"filename=a.rego\"] }\n", &["app", "--policy", "strict=false"]),
            Print(json!({"app": plain(json!({"policy": [policy(Some("a.rego"), None, None, false), policy(None, Some(false), None, false)]}))})),
        ),
        (
            case("policy: --policy disabled=true replaces them", "target \"app\" { policy = [\"filename=a.rego\"] }\n", &["app", "--policy", "disabled=true"]),
            Print(json!({"app": plain(json!({"policy": [policy(None, None, None, true)]}))})),
        ),
        (case("error: --policy with a filename", "target \"app\" {}\n", &["app", "--policy", "filename=x.rego"]), Error("--policy does not accept filename; define policy files in the bake definition")),
        (case("error: --policy disabled with other flags", "target \"app\" {}\n", &["app", "--policy", "disabled=true", "--policy", "strict=true"]), Error("disabled policy cannot be combined with other policy flags")),
        (case("error: policy log-level that is not one", "target \"app\" { policy = [\"log-level=loud\"] }\n", &["app"]), Error("docker-bake.hcl:1:25: Unsuitable value for \"policy\": invalid value log-level=loud: not a valid logrus Level: \"loud\"")),
        (
            case("secrets: --set secret.<id> re-points a declared secret", secret, &["app", "--set", "app.secret.tok=env=B", "--set", "app.secret.f=src=/dev/zero"]),
            Print(json!({"app": plain(json!({"secret": [{"id": "tok", "env": "B"}, {"id": "f", "src": "/dev/zero"}]}))})),
        ),
        (case("error: --set secret.<id> of an undeclared secret", secret, &["app", "--set", "app.secret.nope=env=X"]), Error("secret \"nope\" must be declared before it can be overridden")),
        (case("error: --set secret.<id> naming another id", secret, &["app", "--set", "app.secret.tok=id=other,env=X"]), Error("secret override id \"other\" does not match declared secret \"tok\"")),
        (
            env_case("variables: --var beats the environment, NAME_JSON too", variable, &["app", "--var", "V=flag", "--var", "L_JSON=[\"j\"]"], vec![("V", "env"), ("L", "e1,e2")]),
            Print(json!({"app": plain(json!({"args": {"L": "[\"j\"]", "V": "flag"}}))})),
        ),
        (
            env_case("variables: BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP", variable, &["app", "--set", "app.args.HOME"], vec![("V", "env"), ("L_JSON", "[\"x\"]"), ("BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP", "1")]),
            Print(json!({"app": plain(json!({"args": {"L": "null", "V": "d"}}))})),
        ),
        (case("error: --var that does not parse as the default's type", "variable \"N\" { default = 1 }\ntarget \"app\" { args = { N = N } }\n", &["app", "--var", "N=abc"]), Error("failed to parse N as number")),
        (
            Case { name: "compose: --var feeds interpolation, env lookup off".into(), files: vec![("compose.yaml", "services:\n  app:\n    image: x:${TAG:-dev}\n    build:\n      context: .\n      args:\n        E: ${E:-unset}\n".into())], args: vec!["--var".into(), "TAG=v2".into()], env: vec![("E", "from-env"), ("BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP", "true")] },
            Print(json!({"app": plain(json!({"args": {"E": "unset"}, "tags": ["x:v2"]}))})),
        ),
        (
            case("functions: semvercmp pre-releases, ranges, wildcards", "target \"app\" {\n args = { R = jsonencode([semvercmp(\"1.2.3-beta.1\", \">= 1.2.0\"), semvercmp(\"1.2.3-beta.1\", \">= 1.2.0-0\"), semvercmp(\"1.4.5\", \"1.2 - 1.4.5\"), semvercmp(\"1.3.0\", \"1.2.x\"), semvercmp(\"0.3.1\", \"^0.2\")]) }\n}\n", &["app"]),
            Print(json!({"app": plain(json!({"args": {"R": "[false,true,true,false,false]"}}))})),
        ),
        (
            case("functions: formattimestamp of a unix time, and X", "target \"app\" {\n args = { A = formattimestamp(\"YYYY-MM-DD hh:mm\", 1704067200), B = formattimestamp(\"X\", \"2024-03-05T07:08:09Z\") }\n}\n", &["app"]),
            Print(json!({"app": plain(json!({"args": {"A": "2024-01-01 00:00", "B": "1709622489"}}))})),
        ),
        (case("error: semvercmp of a version that is not one", "target \"app\" {\n args = { A = semvercmp(\"nope\", \">1\") }\n}\n", &["app"]), Error("docker-bake.hcl:2:15: Error in function call: Call to function \"semvercmp\" failed: Invalid Semantic Version")),
        (case("error: formattimestamp X of text that is not RFC 3339", "target \"app\" {\n args = { A = formattimestamp(\"X\", \"yesterday\") }\n}\n", &["app"]), Error("docker-bake.hcl:2:15: Error in function call: Call to function \"formattimestamp\" failed: timestamp string must be RFC3339")),
    ]
}

fn error_cases() -> Vec<Case> {
    let errors: &[(&str, &str, &[&str])] = &[
        ("syntax error", "target \"default\" {\n  tags = [\n}\n", &[]),
        ("unknown variable", "target \"default\" { tags = [nope] }\n", &[]),
        ("unknown function", "target \"default\" { tags = [nope()] }\n", &[]),
        // A variable that refers to itself: with two (A → B → A), which one buildx
        // names depends on Go's map order and changes from run to run.
        ("variable cycle", "variable \"A\" { default = A }\ntarget \"default\" { args = { A = A } }\n", &[]),
        ("reference cycle", "target \"default\" { context = target.default.context }\n", &[]),
        ("a variable default referencing a target", "target \"a\" { context = \"x\" }\nvariable \"V\" { default = target.a.context }\ntarget \"default\" { args = { V = V } }\n", &[]),
        ("function cycle", "function \"f\" {\n params = []\n result = f()\n}\ntarget \"default\" { args = { A = f() } }\n", &[]),
        ("missing target", "target \"a\" {}\n", &["nope"]),
        ("missing default", "target \"a\" {}\n", &[]),
        ("unknown parent", "target \"default\" { inherits = [\"zz\"] }\n", &[]),
        ("glob matches nothing", "target \"a\" {}\n", &["nomatch*"]),
        ("--set on a group", "group \"g\" { targets = [\"a\"] }\ntarget \"a\" {}\n", &["a", "--set", "g.args.X=1"]),
        ("--set unknown key", "target \"a\" {}\n", &["a", "--set", "a.nope=1"]),
        ("--set bad bool", "target \"a\" {}\n", &["a", "--set", "a.no-cache=maybe"]),
        ("tags must be a list", "target \"default\" { tags = \"x\" }\n", &[]),
        ("list where a string is required", "target \"default\" { args = { A = [\"x\"] } }\n", &[]),
        ("validation failure", "variable \"V\" {\n default = \"\"\n validation {\n condition = V != \"\"\n error_message = \"V is required\"\n }\n}\ntarget \"default\" {}\n", &[]),
        ("bad type keyword", "variable \"V\" { type = boolean }\ntarget \"default\" {}\n", &[]),
        ("typed default that does not convert", "variable \"V\" {\n type = number\n default = \"x\"\n}\ntarget \"default\" {}\n", &[]),
        ("self link", "target \"default\" { contexts = { a = \"target:default\" } }\n", &[]),
        ("matrix must be a map", "target \"m\" {\n matrix = [1]\n name = \"m\"\n}\n", &["m"]),
        ("duplicate matrix name", "target \"m\" {\n matrix = { v = [\"a\", \"b\"] }\n name = \"same\"\n}\n", &["same"]),
        ("name requires matrix", "target \"m\" { name = \"x\" }\n", &["m"]),
        ("matrix on a group", "group \"g\" {\n matrix = { a = [1] }\n targets = []\n}\ntarget \"default\" {}\n", &[]),
        ("bad target name", "target \"a.b c\" {}\n", &["a_b c"]),
        ("function without params", "function \"f\" { result = 1 }\ntarget \"default\" { args = { A = f() } }\n", &[]),
        ("a group with target instead of targets", "group \"default\" {\n target = [\"a\"]\n}\ntarget \"a\" {}\n", &[]),
        ("a group without targets", "group \"g\" {}\ntarget \"default\" {}\n", &[]),
        ("too many arguments to a builtin", "target \"default\" {\n args = { A = upper(\"a\", \"b\") }\n}\n", &[]),
        ("too few arguments to a builtin", "target \"default\" {\n args = { A = upper() }\n}\n", &[]),
        ("too many arguments to a user function", "function \"f\" {\n params = [x]\n result = x\n}\ntarget \"default\" { args = { A = f(\"a\", \"b\") } }\n", &[]),
        ("too few arguments to a user function", "function \"f\" {\n params = [x, y]\n result = x\n}\ntarget \"default\" { args = { A = f(\"a\") } }\n", &[]),
        ("a variable with two names", "variable \"A\" \"B\" {}\ntarget \"default\" {}\n", &[]),
        ("a variable without a name", "variable {}\ntarget \"default\" {}\n", &[]),
        ("a function with two names", "function \"f\" \"g\" {\n params = []\n result = 1\n}\ntarget \"default\" {}\n", &[]),
        ("a link loop", "target \"a\" { contexts = { x = \"target:b\" } }\ntarget \"b\" { contexts = { x = \"target:a\" } }\n", &["a"]),
        ("number override that does not parse", "variable \"N\" { default = 1 }\ntarget \"default\" { args = { N = N } }\n", &[]),
    ];
    let mut cases: Vec<Case> = errors.iter().map(|(name, hcl, args)| case(format!("error: {name}"), *hcl, args)).collect();
    cases.last_mut().unwrap().env.push(("N", "abc"));
    cases
}

/// The heart of a buildx error, which leaven's message must contain: the detail
/// after the summary, first sentence, without buildx's diagnostic count. Syntax
/// errors come from different parsers and are only required to fail.
fn error_detail(case: &Case, buildx: &str) -> Option<String> {
    if case.name.contains("syntax") {
        return None;
    }
    let message = buildx.trim_start_matches("ERROR: ");
    let message = message.split(", and ").next().unwrap_or(message);
    let detail = message.split_once("; ").map(|(_, d)| d).unwrap_or(message);
    let detail = detail.strip_prefix("Unsuitable value: ").unwrap_or(detail);
    Some(detail.split(". ").next().unwrap_or(detail).trim_end_matches('.').to_string())
}

/// What a run printed, or `Err` with its message when it failed.
type Outcome = Result<String, String>;

/// `--print` opens the SSH agent of `ssh` entries: a bound socket is enough.
fn buildx(case: &Case, dir: &Path, agent: &Path) -> Outcome {
    let mut command = Command::new(docker());
    command.env_clear().env("PATH", "/usr/bin:/bin").env("HOME", dir).env("SSH_AUTH_SOCK", agent).current_dir(dir);
    command.args(["buildx", "bake"]);
    if !case.args.iter().any(|a| a == "--list") {
        command.arg("--print");
    }
    command.args(&case.args);
    for (k, v) in &case.env {
        command.env(k, v);
    }
    let out = command.output().unwrap_or_else(|e| panic!("cannot run {}: {e}; provision with tests/engines/provision.sh", docker().display()));
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.starts_with("ERROR")).collect::<Vec<_>>().join("\n"))
    }
}

fn ours(case: &Case, dir: &Path) -> Outcome {
    let mut request = Request { cwd: dir.to_path_buf(), env: BTreeMap::new(), ..Request::default() };
    request.env.insert("HOME".into(), dir.display().to_string());
    request.env.insert("SSH_AUTH_SOCK".into(), dir.parent().unwrap().join("agent.sock").display().to_string());
    for (k, v) in &case.env {
        request.env.insert(k.to_string(), v.to_string());
    }
    let mut args = case.args.iter();
    let mut output = Output::Print;
    let mut flags = FlagOverrides::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => output = leaven::bake::list_output(args.next().unwrap()).map_err(|e| e.to_string())?,
            "--set" => request.set.push(args.next().unwrap().clone()),
            "-f" => request.files.push(args.next().unwrap().clone()),
            "--push" => flags.push = true,
            "--load" => flags.load = true,
            "--no-cache" => flags.no_cache = true,
            "--pull" => flags.pull = true,
            "--check" => flags.call = Some("check".into()),
            "--call" => flags.call = args.next().cloned(),
            "--sbom" => flags.sbom = args.next().cloned(),
            "--provenance" => flags.provenance = args.next().cloned(),
            "--policy" => flags.policy.push(args.next().unwrap().clone()),
            "--allow" => leaven::bake::check_allow(&[args.next().unwrap().clone()]).map_err(|e| e.to_string())?,
            "--var" => {
                let (k, v) = args.next().unwrap().split_once('=').unwrap();
                request.vars.push((k.to_string(), v.to_string()));
            }
            other => request.targets.push(other.to_string()),
        }
    }
    request.set.extend(flags.to_set().map_err(|e| e.to_string())?);
    run(&request, output).map_err(|e| e.to_string())
}

#[test]
fn prints_like_the_real_buildx() {
    assert!(docker().exists(), "{} is missing: run `bash tests/engines/provision.sh` (make test does)", docker().display());
    let cases: Vec<Case> =
        [function_cases(), set_cases(), merge_cases(), compose_and_list_cases(), parity_cases(), error_cases()].into_iter().flatten().collect();
    let root = std::env::temp_dir().join(format!("leaven-bake-sbs-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let agent = root.join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&agent).unwrap();
    let mut disagreements = Vec::new();
    let mut newer = 0;
    let mut agreed = BTreeMap::<&str, usize>::new();
    let write = |i: usize, case: &Case| {
        let dir = root.join(i.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in &case.files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    };
    for (i, case) in cases.iter().enumerate() {
        let dir = write(i, case);
        let (theirs, ours) = (buildx(case, &dir, &agent), ours(case, &dir));
        // The category is the name's first word (`function`, `--set`, `error:`, `inherits:` …).
        let kind = case.name.split([' ', ':']).next().unwrap_or_default();
        let newer_function = NEWER_FUNCTIONS.iter().find(|(name, _)| *name == case.name);
        match (&theirs, &ours) {
            (Err(e), Ok(out)) if newer_function.is_some() && e.contains("There is no function named") => {
                let (_, value) = newer_function.expect("matched");
                let recorded = expected_print(serde_json::json!({"default": {"context": ".", "dockerfile": "Dockerfile", "args": {"R": value}}}));
                if *out == recorded {
                    newer += 1;
                } else {
                    disagreements.push(format!("{} (newer than 0.29):\n  recorded: {recorded}\n  leaven: {out}", case.name));
                }
            }
            (Ok(a), Ok(b)) if a == b => *agreed.entry(kind).or_default() += 1,
            (Ok(a), Ok(b)) if UNORDERED_OUTPUTS.contains(&case.name.as_str()) && outputs_sorted(a).is_some() && outputs_sorted(a) == outputs_sorted(b) => {
                *agreed.entry(kind).or_default() += 1
            }
            (Err(a), Err(b)) => match error_detail(case, a) {
                Some(detail) if !b.contains(&detail) => {
                    disagreements.push(format!("{}: both fail, but leaven does not say {detail:?}:\n  buildx: {a}\n  leaven: {b}", case.name))
                }
                _ => *agreed.entry(kind).or_default() += 1,
            },
            _ => disagreements.push(format!("{}:\n  buildx: {theirs:?}\n  leaven: {ours:?}", case.name)),
        }
    }
    // Newer than 0.29: leaven against the recorded 0.36 behaviour; buildx 0.29
    // runs too, and must not already behave so (else the case belongs above).
    let newer_cases = newer_cases();
    for (i, (case, expected)) in newer_cases.iter().enumerate() {
        let dir = write(cases.len() + i, case);
        let (theirs, ours) = (buildx(case, &dir, &agent), ours(case, &dir));
        let (agrees, already) = match expected {
            Expected::Print(targets) => {
                let recorded = expected_print(targets.clone());
                (ours.as_ref() == Ok(&recorded), theirs.as_ref() == Ok(&recorded))
            }
            Expected::Error(message) => (ours.as_ref().is_err_and(|e| e.contains(message)), theirs.as_ref().is_err_and(|e| e.contains(message))),
        };
        match (agrees, already) {
            (true, false) => newer += 1,
            (true, true) => disagreements.push(format!("{}: buildx 0.29 already does this; move it to the side-by-side cases", case.name)),
            (false, _) => disagreements.push(format!("{} (newer than 0.29):\n  recorded: {}\n  leaven: {ours:?}", case.name, match expected {
                Expected::Print(t) => expected_print(t.clone()),
                Expected::Error(m) => format!("an error saying {m:?}"),
            })),
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    println!(
        "{} of {} cases agree with buildx 0.29 ({agreed:?}); {newer} newer than 0.29 agree with what 0.36 prints",
        agreed.values().sum::<usize>(),
        cases.len() + newer_cases.len()
    );
    assert!(disagreements.is_empty(), "{} disagree:\n{}", disagreements.len(), disagreements.join("\n"));
}
