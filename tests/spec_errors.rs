//! Every class of spec error names the file, line and column, says what is
//! wrong and what would be right, as `leaven plan`/`llb` and the frontend show it.

use std::collections::BTreeMap;

use leaven::hcl::SourceFile;

/// The error for `text`, as its one-line headline plus hint.
fn error_of(text: &str) -> String {
    let file = SourceFile::new("app.hcl", text);
    match leaven::spec::parse_spec(&file, &BTreeMap::new()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(d) => format!("{} | hint: {}", d.headline(), d.hint.unwrap_or_default()),
    }
}

const BASE: &str = "user \"app\" {}\n";

#[test]
fn each_error_class_is_located_and_explained() {
    let cases: &[(&str, &str)] = &[
        ("stge \"a\" {}\n", "app.hcl:1:1: unknown block \"stge\" in the spec | hint: did you mean \"stage\"?"),
        ("image \"a\" {\n  from = \"x\"\n  cmnd = [\"a\"]\n}\n", "app.hcl:3:3: unknown attribute \"cmnd\" in image \"a\" | hint: did you mean \"cmd\"?"),
        ("image \"a\" {\n  from = \"x\"\n  cmd = \"run\"\n}\n", "app.hcl:3:9: cmd must be a list of strings, not the string \"run\""),
        ("image \"a\" {\n  from = stage.b\n}\n", "app.hcl:2:15: the spec has no stage or image \"b\" | hint: did you mean stage.a?"),
        ("stage \"a\" {\n  from = stage.b\n}\nstage \"b\" {\n  from = stage.a\n}\n", "app.hcl:1:1: stages depend on each other in a cycle: a → b → a"),
        ("image \"a\" {\n  from = \"x\"\n  run \"make\" {\n    cache { target = \"tmp/c\" }\n  }\n}\n", "app.hcl:4:22: target must be an absolute path other than /, not \"tmp/c\""),
        ("image \"a\" {\n  from = \"x\"\n  run \"make\" {\n    bind { source = \"../secret\" }\n  }\n}\n", "app.hcl:4:5: bind source \"../secret\" leaves the build context"),
        ("user \"app\" {\n  uid = 0\n}\n", "app.hcl:2:9: user \"app\" would have UID 0, which is root | hint: leave uid unset"),
        ("image \"a\" {\n  from = \"x\"\n  run \"python manage.py migrate\" {}\n}\n", "app.hcl:3:3: `manage.py migrate` must not run at build time | hint: images are built without a database; set on_start"),
        ("image \"a\" {\n  from = \"x\"\n}\nstage \"a\" {\n  from = \"y\"\n}\n", "app.hcl:4:1: stage \"a\" is defined twice"),
        ("image \"a\" {\n  from = \"x\"\n  run \"id\" {\n    user = \"nobody2\"\n  }\n}\n", "app.hcl:4:12: unknown user \"nobody2\" | hint: declare it with a user block, or use root or a UID"),
        ("image \"a\" {\n  cmd = []\n}\n", "app.hcl:1:1: image \"a\" has no \"from\""),
        ("image \"a\" {\n  from = \"x\"\n  healthcheck {\n    test = [\"CMD\", \"true\"]\n    interval = \"soon\"\n  }\n}\n", "app.hcl:5:16: interval must be a duration"),
        ("stage \"s\" {\n  from = \"x\"\n}\nvariant \"ci\" {}\n", "app.hcl:4:1: variant \"ci\" has no image to vary"),
        ("image \"a\" {\n  from = \"x\"\n  run \"make\" {\n    cache { target = \"/c\" }\n    tmpfs { target = \"/c\" }\n  }\n}\n", "app.hcl:3:3: two mounts at /c"),
        ("image \"a\" {\n  from = \"x\"\n  expose = [\"http\"]\n}\n", "app.hcl:3:12: \"http\" is not a port"),
    ];
    let mut wrong = Vec::new();
    for (text, want) in cases {
        let text = format!("{BASE}{text}");
        // Cases are written without the leading user line: shift expected lines by one.
        let want = shift_line(want);
        let got = error_of(&text);
        if !got.starts_with(&want) && !got.contains(&want) {
            wrong.push(format!("want {want}\n got {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

fn shift_line(want: &str) -> String {
    let rest = want.strip_prefix("app.hcl:").expect("cases start with the file");
    let (line, tail) = rest.split_once(':').expect("line number");
    format!("app.hcl:{}:{tail}", line.parse::<usize>().unwrap() + 1)
}

#[test]
fn cli_errors_show_a_code_frame() {
    let file = SourceFile::new("app.hcl", "image \"a\" {\n  form = \"x\"\n}\n");
    let shown = leaven::spec::parse_spec(&file, &BTreeMap::new()).unwrap_err().to_string();
    assert!(shown.contains("2 |   form = \"x\"\n  |   ^"), "{shown}");
    assert!(shown.contains("= hint: did you mean \"from\"?"), "{shown}");
}

#[test]
fn uid_zero_is_allowed_only_when_asked() {
    let file = SourceFile::new("app.hcl", "user \"root2\" {\n  uid = 0\n  allow_root = true\n}\nimage \"a\" {\n  from = \"x\"\n}\n");
    assert!(leaven::spec::parse_spec(&file, &BTreeMap::new()).is_ok());
}
