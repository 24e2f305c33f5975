//! A compose file for one variant of a spec: its `service` blocks with what a
//! careful team writes by hand: pinned images, healthchecks, `depends_on` that
//! waits for health, start-up tasks in one container, secrets and settings from
//! files beside the spec, and for a variant that mounts the source, the mount,
//! the host's UID, and the stage outputs kept visible under it.
//!
//! The output is plain compose-spec YAML (`docker compose config` reads it), so
//! other tools (`leaven host-prep`, `leaven bake -f`) read it as compose does.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::compile::{self, PlannedStage, PlannedStep, Target};
use crate::llb;
use crate::spec::{Healthcheck, Service, ServiceImage, ServiceMount, Source, SourceMode, Spec, Variant};

use super::write::GENERATED_MARK;

/// Where the compose file lives relative to the spec, and what it builds with.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The spec's file name (`app.hcl`): the `dockerfile` of every build.
    pub spec_file: String,
    /// The spec's directory as seen from the compose file's (`.`, `../app`):
    /// the build context, and what the spec's relative paths are relative to.
    pub context: String,
    /// Names the compose project (`NAME-VARIANT`) and the app's images (`NAME/IMAGE:VARIANT`).
    pub project: String,
    /// Build args the spec was read with (`--build-arg`): the builds get them too.
    pub build_args: BTreeMap<String, String>,
}

/// What `leaven compose` writes files for: `release` (the images as written),
/// then the spec's variants.
pub fn variant_names(spec: &Spec) -> Vec<String> {
    let mut names = vec!["release".to_string()];
    names.extend(spec.variants.iter().map(|v| v.name.clone()).filter(|n| n != "release"));
    names
}

/// Why a spec has no compose file for a variant; `file` is the spec's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error("{file}: the spec has no variant \"{name}\"; it has {}", .names.join(", "))]
    NoVariant { file: String, name: String, names: Vec<String> },
    #[error("{file}: the spec has no service blocks: add one per container, e.g. service \"web\" {{ image = image.release }}")]
    NoServices { file: String },
    #[error("cannot write the compose file as YAML: {0}")]
    Yaml(String),
}

/// The compose file (YAML, with leaven's header) for `variant` (`release` or one
/// of the spec's variants).
pub fn compose_file(spec: &Spec, variant: &str, layout: &Layout) -> Result<String, ComposeError> {
    let chosen = match variant {
        "release" => spec.variant("release"),
        name => Some(spec.variant(name).ok_or_else(|| ComposeError::NoVariant {
            file: spec.file.clone(),
            name: name.to_string(),
            names: variant_names(spec),
        })?),
    };
    if spec.services.is_empty() {
        return Err(ComposeError::NoServices { file: spec.file.clone() });
    }
    let file = ComposeFile { spec, variant: chosen, variant_name: variant, layout };
    let mut services = Map::new();
    for service in &spec.services {
        services.insert(service.name.clone(), file.service(service));
    }
    let mut root = Map::new();
    root.insert("name".into(), json!(format!("{}-{variant}", layout.project)));
    root.insert("services".into(), Value::Object(services));
    let volumes: Map<String, Value> = spec
        .services
        .iter()
        .flat_map(|s| &s.mounts)
        .filter_map(|m| match m {
            ServiceMount::Volume { name, .. } => Some((name.clone(), json!({}))),
            ServiceMount::Bind { .. } => None,
        })
        .collect();
    if !volumes.is_empty() {
        root.insert("volumes".into(), Value::Object(volumes));
    }
    let secrets: Map<String, Value> = spec
        .services
        .iter()
        .flat_map(|s| &s.secrets)
        .map(|name| (name.clone(), json!({ "file": file.path(&format!("secrets/{name}")) })))
        .collect();
    if !secrets.is_empty() {
        root.insert("secrets".into(), Value::Object(secrets));
    }
    let yaml = serde_yaml_ng::to_string(&Value::Object(root)).map_err(|e| ComposeError::Yaml(e.to_string()))?;
    Ok(format!(
        "{GENERATED_MARK} compose from {} (variant {variant}); `leaven compose` rewrites it: edit the spec instead.\n{yaml}",
        layout.spec_file
    ))
}

struct ComposeFile<'a> {
    spec: &'a Spec,
    /// The variant this file runs, if it is one of the spec's.
    variant: Option<&'a Variant>,
    /// What the file is for (`release`, `dev`, …): the tag of the app's images.
    variant_name: &'a str,
    layout: &'a Layout,
}

/// How one of the spec's images is built and run in this file.
struct AppImage<'a> {
    /// The build target: the variant's name for the image it varies, else the image's.
    target: String,
    planned: PlannedStage<'a>,
    /// The source is mounted at run time (a `source = "mount"` variant).
    mounted: bool,
    /// The image's user follows `HOST_UID` (then so does the container's).
    host_ids: bool,
}

impl<'a> ComposeFile<'a> {
    /// A path of the spec's (relative to it, or absolute) as the compose file sees it.
    fn path(&self, path: &str) -> String {
        join_relative(&self.layout.context, path)
    }

    fn app_image(&self, image: &str) -> AppImage<'a> {
        let stage = self.spec.stage(image).expect("services name checked images");
        let variant = self.variant.filter(|v| v.image == image);
        let target = Target { stage, variant };
        let plan = compile::plan(self.spec, &target);
        let planned = plan.stages.into_iter().last().expect("a plan ends with its target");
        let host_ids = matches!(&planned.runs_as, compile::RunAs::User { ids, .. } if ids.host_uid);
        AppImage {
            target: variant.map_or_else(|| image.to_string(), |v| v.name.clone()),
            mounted: target.source_mode() == SourceMode::Mount,
            planned,
            host_ids,
        }
    }

    fn service(&self, service: &Service) -> Value {
        let mut out = Map::new();
        let app = match &service.image {
            ServiceImage::App(image) => Some((image.as_str(), self.app_image(image))),
            ServiceImage::Image(_) => None,
        };
        match (&service.image, &app) {
            (ServiceImage::Image(reference), _) => {
                out.insert("image".into(), json!(reference));
            }
            (ServiceImage::App(image), Some((_, built))) => {
                out.insert("image".into(), json!(format!("{}/{image}:{}", self.layout.project, self.variant_name)));
                out.insert("build".into(), self.build(&built.target));
            }
            (ServiceImage::App(_), None) => unreachable!("app images are planned above"),
        }
        if let Some(entrypoint) = &service.entrypoint {
            out.insert("entrypoint".into(), json!(entrypoint));
        }
        if let Some(command) = &service.command {
            out.insert("command".into(), json!(command));
        }
        let user = match (&service.user, &app) {
            (Some(user), _) => Some(user.clone()),
            // The container runs as the developer, whose tree is mounted.
            (None, Some((_, built))) if built.mounted && built.host_ids => Some("${HOST_UID:-1000}:${HOST_GID:-1000}".to_string()),
            _ => None,
        };
        if let Some(user) = user {
            out.insert("user".into(), json!(user));
        }
        let mut env = Map::new();
        if let Some((image, built)) = &app {
            if !built.planned.settings.on_start.is_empty() && !runs_on_start(self.spec, service, image) {
                env.insert("LEAVEN_SKIP_ON_START".into(), json!("1"));
            }
        }
        for (k, v) in &service.env {
            env.insert(k.clone(), json!(v));
        }
        if !env.is_empty() {
            out.insert("environment".into(), Value::Object(env));
        }
        if !service.env_files.is_empty() {
            // Settings files are the deployment's, not the repository's: absent is fine.
            let files: Vec<Value> = service.env_files.iter().map(|f| json!({ "path": self.path(f), "required": false })).collect();
            out.insert("env_file".into(), json!(files));
        }
        if !service.secrets.is_empty() {
            out.insert("secrets".into(), json!(service.secrets));
        }
        if !service.ports.is_empty() {
            out.insert("ports".into(), json!(service.ports));
        }
        if !service.profiles.is_empty() {
            out.insert("profiles".into(), json!(service.profiles));
        }
        if !service.depends_on.is_empty() {
            let deps: Map<String, Value> = service
                .depends_on
                .iter()
                .map(|name| {
                    let used = self.spec.service(name).expect("references were checked");
                    let condition = if self.has_healthcheck(used) { "service_healthy" } else { "service_started" };
                    (name.clone(), json!({ "condition": condition }))
                })
                .collect();
            out.insert("depends_on".into(), Value::Object(deps));
        }
        // Without one of its own, the service has its image's (the spec makes a
        // service that replaces the checked command bring its own).
        if let Some(check) = &service.healthcheck {
            out.insert("healthcheck".into(), healthcheck(check));
        }
        let mut volumes: Vec<Value> = Vec::new();
        if let Some((_, built)) = &app {
            if built.mounted {
                volumes.extend(self.source_mounts(&built.planned));
            }
        }
        for mount in &service.mounts {
            volumes.push(match mount {
                ServiceMount::Bind { source, target, read_only, .. } => {
                    let mut bind = json!({ "type": "bind", "source": self.path(source), "target": target });
                    if *read_only {
                        bind["read_only"] = json!(true);
                    }
                    bind
                }
                ServiceMount::Volume { name, target, read_only } => {
                    let mut volume = json!({ "type": "volume", "source": name, "target": target });
                    if *read_only {
                        volume["read_only"] = json!(true);
                    }
                    volume
                }
            });
        }
        if !volumes.is_empty() {
            out.insert("volumes".into(), json!(volumes));
        }
        Value::Object(out)
    }

    /// `build:` for one of the spec's images: the spec itself (its `# syntax=`
    /// line picks leaven) with the target and the build args, the host's ids from
    /// the environment.
    fn build(&self, target: &str) -> Value {
        let mut args = Map::new();
        for name in ["HOST_UID", "HOST_GID"] {
            if !self.layout.build_args.contains_key(name) {
                args.insert(name.into(), json!(format!("${{{name}:-1000}}")));
            }
        }
        for (k, v) in &self.layout.build_args {
            args.insert(k.clone(), json!(v.replace('$', "$$")));
        }
        json!({
            "context": self.layout.context,
            "dockerfile": self.layout.spec_file,
            "target": target,
            "args": args,
        })
    }

    /// The source tree mounted where the image would have copied it, and an
    /// anonymous volume for every stage output under it (static files, built
    /// CSS): the volume starts with the image's files, so the mount hides none.
    fn source_mounts(&self, planned: &PlannedStage) -> Vec<Value> {
        let cwd = planned.workdir.as_ref().map_or("/", |w| w.path);
        let mut mounts = Vec::new();
        let mut points = Vec::new();
        for step in &planned.steps {
            if let PlannedStep::MountPoint { copy, .. } = step {
                let dest = llb::join_path(cwd, &copy.dest);
                for source in &copy.sources {
                    // `copy { source = "pages" dest = "/src/" }` puts the directory itself there.
                    let target = match (source.as_str(), copy.dest.ends_with('/') && copy.sources.len() > 1) {
                        ("." | "./", _) | (_, false) => dest.clone(),
                        (_, true) => llb::join_path(&dest, source.trim_end_matches('/').rsplit('/').next().unwrap_or(source)),
                    };
                    mounts.push(json!({ "type": "bind", "source": self.path(source), "target": target }));
                    points.push(target);
                }
            }
        }
        for step in &planned.steps {
            if let PlannedStep::Copy { copy, .. } = step {
                let dest = llb::join_path(cwd, &copy.dest);
                let under = points.iter().any(|p| dest != *p && dest.starts_with(&format!("{}/", p.trim_end_matches('/'))));
                if copy.from != Source::Context && under {
                    mounts.push(json!({ "type": "volume", "target": dest }));
                }
            }
        }
        mounts
    }

    /// Whether compose can wait for `service` to be healthy: it has a
    /// healthcheck, or runs an image of the spec's with one.
    fn has_healthcheck(&self, service: &Service) -> bool {
        if let Some(check) = &service.healthcheck {
            return check.test.first().is_none_or(|t| t != "NONE");
        }
        match &service.image {
            ServiceImage::App(image) => {
                self.app_image(image).planned.settings.healthcheck.as_ref().is_some_and(|c| c.test.first().is_none_or(|t| t != "NONE"))
            }
            ServiceImage::Image(_) => false,
        }
    }
}

/// `path` (relative to `base`, or absolute) from where `base` is relative to:
/// `("..", "data")` is `../data`, `(".", ".")` is `.`; compose reads `./x` as a
/// path where `x` could be a volume's name.
fn join_relative(base: &str, path: &str) -> String {
    if path.starts_with('/') {
        return llb::clean_path(path);
    }
    if base.starts_with('/') {
        return llb::clean_path(&format!("{base}/{path}"));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(path.split('/')) {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    match parts.first() {
        None => ".".into(),
        Some(&"..") => parts.join("/"),
        Some(_) => format!("./{}", parts.join("/")),
    }
}

/// Whether `service` runs its image's start-up tasks (migrations): the one that
/// says `on_start = true`, else the first service of the image that always
/// starts (no profiles) and does not say `on_start = false`. Every other
/// service of the image skips them, so they run once.
pub fn runs_on_start(spec: &Spec, service: &Service, image: &str) -> bool {
    let of_image: Vec<&Service> = spec.services.iter().filter(|s| s.image == ServiceImage::App(image.to_string())).collect();
    let chosen = of_image
        .iter()
        .find(|s| s.on_start == Some(true))
        .or_else(|| of_image.iter().find(|s| s.on_start.is_none() && s.profiles.is_empty()));
    chosen.is_some_and(|s| s.name == service.name)
}

fn healthcheck(check: &Healthcheck) -> Value {
    let mut out = Map::new();
    out.insert("test".into(), json!(check.test));
    for (key, n) in [
        ("interval", check.interval),
        ("timeout", check.timeout),
        ("start_period", check.start_period),
        ("start_interval", check.start_interval),
    ] {
        if n != 0 {
            out.insert(key.into(), json!(duration(n)));
        }
    }
    if check.retries != 0 {
        out.insert("retries".into(), json!(check.retries));
    }
    Value::Object(out)
}

/// Nanoseconds as a compose duration: `30s`, `500ms`, `1500us`.
fn duration(ns: i64) -> String {
    match ns {
        n if n % 1_000_000_000 == 0 => format!("{}s", n / 1_000_000_000),
        n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
        n if n % 1_000 == 0 => format!("{}us", n / 1_000),
        n => format!("{n}ns"),
    }
}

/// A compose project name from a directory's: lowercase letters, digits, `-` and `_`.
pub fn project_name(dir_name: &str) -> String {
    let name: String = dir_name
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect();
    let name = name.trim_start_matches(['-', '_']).to_string();
    if name.is_empty() {
        "app".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_compose_writes_them() {
        assert_eq!(duration(30_000_000_000), "30s");
        assert_eq!(duration(500_000_000), "500ms");
        assert_eq!(duration(1_500_000), "1500us");
    }

    #[test]
    fn spec_paths_from_the_compose_files_directory() {
        assert_eq!(join_relative(".", "."), ".");
        assert_eq!(join_relative(".", ".env"), "./.env");
        assert_eq!(join_relative("..", "."), "..");
        assert_eq!(join_relative("..", "secrets/key"), "../secrets/key");
        assert_eq!(join_relative("../app", "../data"), "../data");
        assert_eq!(join_relative("/srv/app", "data/pg"), "/srv/app/data/pg");
        assert_eq!(join_relative("..", "/var/data"), "/var/data");
    }

    #[test]
    fn backing_services_get_their_mounts_healthchecks_and_profiles() {
        let text = "image \"a\" {\n  from = \"x\"\n}\nservice \"db\" {\n  image = \"postgres:16\"\n  user = \"postgres\"\n  profiles = [\"data\"]\n  bind {\n    source = \"data/pg\"\n    target = \"/var/lib/postgresql/data\"\n  }\n  volume {\n    name = \"dumps\"\n    target = \"/dumps\"\n    read_only = true\n  }\n  healthcheck {\n    test = [\"CMD-SHELL\", \"pg_isready\"]\n    interval = \"500ms\"\n  }\n}\nservice \"web\" {\n  image = image.a\n  env = { DB = service.db.host }\n}\n";
        let spec = crate::spec::parse_spec(&crate::hcl::SourceFile::new("app.hcl", text), &BTreeMap::new()).unwrap();
        let layout = Layout { spec_file: "app.hcl".into(), context: "..".into(), project: "shop".into(), build_args: BTreeMap::new() };
        let yaml = compose_file(&spec, "release", &layout).unwrap();
        for want in [
            "name: shop-release\n",
            "    image: postgres:16\n    user: postgres\n    profiles:\n    - data\n",
            "      interval: 500ms\n",
            "    - type: bind\n      source: ../data/pg\n      target: /var/lib/postgresql/data\n",
            "    - type: volume\n      source: dumps\n      target: /dumps\n      read_only: true\n",
            "    image: shop/a:release\n    build:\n      context: ..\n      dockerfile: app.hcl\n      target: a\n",
            "    depends_on:\n      db:\n        condition: service_healthy\n",
            "volumes:\n  dumps: {}\n",
        ] {
            assert!(yaml.contains(want), "{want:?} in\n{yaml}");
        }
    }

    #[test]
    fn project_names_are_what_compose_accepts() {
        assert_eq!(project_name("Django Tailwind"), "django-tailwind");
        assert_eq!(project_name("_x.y"), "x-y");
        assert_eq!(project_name(""), "app");
    }
}
