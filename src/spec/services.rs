//! `service` blocks: how the app runs under compose. Each service is one of the
//! spec's images (web, worker, beat) or a backing service's image (Postgres,
//! Redis) with a pinned tag. What a service's values refer to (`service.db.host`)
//! is what it depends on, so compose waits for it.

use std::ops::Range;

use hcl::Value;

use crate::hcl::syntax::{for_each_traversal, Attribute, Block, Body, Expr, Op};
use crate::hcl::{Diagnostic, Scope};

use super::model::*;
use super::parse::{closest, cycle_in, Checker};
use super::values::{reference_problem, unpinned};

const SERVICE_ATTRS: &[&str] = &[
    "image", "command", "entrypoint", "user", "on_start", "env", "env_file", "secrets", "ports", "profiles", "depends_on",
];
const SERVICE_BLOCKS: &[&str] = &["healthcheck", "bind", "volume"];
const BIND_ATTRS: &[&str] = &["source", "target", "read_only"];
const VOLUME_ATTRS: &[&str] = &["name", "target", "read_only"];

/// What `service.NAME` is in expressions: its name and the host name other
/// containers reach it by.
pub(super) fn service_values(names: &[&str]) -> Value {
    let map: hcl::Map<String, Value> = names
        .iter()
        .map(|&n| {
            let fields: hcl::Map<String, Value> =
                [("service", n), ("name", n), ("host", n)].into_iter().map(|(k, v)| (k.to_string(), Value::from(v))).collect();
            (n.to_string(), Value::Object(fields))
        })
        .collect();
    Value::Object(map)
}

/// Why `name` cannot name a service (a compose service and a host name), if it cannot.
fn service_name_problem(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    (!starts_well || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'))
        .then_some("service names are lowercase letters, digits, '-' and '_', starting with a letter (they are host names other services reach it by)")
}

/// Compose's names of secrets, volumes and profiles: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn compose_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric()) && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// `[[IP:]HOST:]CONTAINER[/PROTOCOL]`, ports or ranges; text compose
/// interpolates (`${WEB_PORT:-8000}:8000`) is compose's to check.
fn port_mapping_ok(text: &str) -> bool {
    if text.contains('$') {
        return true;
    }
    let (ports, proto) = text.rsplit_once('/').unwrap_or((text, "tcp"));
    let range = |p: &str| {
        let (a, b) = p.split_once('-').unwrap_or((p, p));
        a.parse::<u16>().is_ok() && b.parse::<u16>().is_ok()
    };
    let parts: Vec<&str> = ports.rsplitn(3, ':').collect();
    let container_ok = parts.first().is_some_and(|p| range(p) && !p.starts_with('0'));
    let host_ok = parts.get(1).is_none_or(|p| p.is_empty() || range(p));
    let ip_ok = parts.get(2).is_none_or(|p| p.chars().all(|c| c.is_ascii_digit() || c == '.') || (p.starts_with('[') && p.ends_with(']')));
    container_ok && host_ok && ip_ok && matches!(proto, "tcp" | "udp" | "sctp")
}

/// The services a body's expressions refer to (`service.NAME…`), with where.
fn references(body: &Body) -> Vec<(String, Option<Range<usize>>)> {
    let mut found = Vec::new();
    for_each_traversal(body, &mut |root, operators| {
        if let (Expr::Variable(root), Some(first)) = (&root.expr, operators.first()) {
            if let (true, Op::GetAttr(name)) = (root == "service", &first.op) {
                found.push((name.to_string(), first.span()));
            }
        }
    });
    found
}

impl Checker<'_> {
    pub(super) fn service(&self, block: &Block, scope: &Scope, stages: &[Stage]) -> Result<Service, Diagnostic> {
        let name = self.one_label(block, "service")?;
        if let Some(why) = service_name_problem(&name) {
            return Err(self.error(block.span(), format!("\"{name}\" is not a valid service name")).with_hint(why));
        }
        let context = format!("service \"{name}\"");
        self.check_names(&block.body, &context, SERVICE_ATTRS, SERVICE_BLOCKS)?;
        let Some(image_attr) = block.body.get_attribute("image") else {
            return Err(self
                .error(block.span(), format!("{context} has no \"image\""))
                .with_hint("set image = image.NAME for one of the spec's images, or a pinned image like \"postgres:16-bookworm\""));
        };
        let image = self.service_image(scope, image_attr, stages)?;
        let mut service = Service {
            name,
            image,
            command: None,
            entrypoint: None,
            user: None,
            on_start: None,
            env: Vec::new(),
            env_files: Vec::new(),
            secrets: Vec::new(),
            ports: Vec::new(),
            profiles: Vec::new(),
            depends_on: Vec::new(),
            healthcheck: None,
            mounts: Vec::new(),
            pos: self.pos(block.span()),
        };
        for attr in block.body.attributes() {
            match attr.key.as_str() {
                "image" => {}
                "command" => service.command = Some(self.nonempty_list(scope, attr)?),
                "entrypoint" => service.entrypoint = Some(self.list(scope, attr)?),
                "user" => service.user = Some(self.service_user(scope, attr, &service.image)?),
                "on_start" => service.on_start = Some(self.boolean(scope, attr)?),
                "env" => service.env = self.env(scope, attr)?,
                "env_file" => service.env_files = self.relative_paths(scope, attr, ".env")?,
                "secrets" => service.secrets = self.compose_names(scope, attr, "secret", "db_password")?,
                "profiles" => service.profiles = self.compose_names(scope, attr, "profile", "tools")?,
                "ports" => service.ports = self.ports(scope, attr)?,
                _ => service.depends_on = self.depends_on(scope, attr)?,
            }
        }
        for b in block.body.blocks() {
            match b.ident.as_str() {
                "healthcheck" => {
                    if service.healthcheck.is_some() {
                        return Err(self.error(b.span(), format!("{context} has two healthchecks")).with_hint("keep one healthcheck block"));
                    }
                    let check = self.healthcheck(b, scope)?;
                    if check.start_interval != 0 && check.start_period == 0 {
                        // The engine would check at start_interval for no time at all; compose refuses it.
                        return Err(self
                            .error(b.span(), format!("{context}'s healthcheck sets start_interval without start_period"))
                            .with_hint("start_interval is how often it checks during start_period: set start_period = \"30s\" too"));
                    }
                    service.healthcheck = Some(check);
                }
                kind => service.mounts.push(self.service_mount(b, scope, kind)?),
            }
        }
        let mut targets: Vec<&str> = service.mounts.iter().map(ServiceMount::target).collect();
        targets.sort_unstable();
        if let Some(twice) = targets.windows(2).find(|w| w[0] == w[1]) {
            return Err(self.error(block.span(), format!("{context} mounts two things at {}", twice[0])).with_hint("give each bind and volume its own target"));
        }
        // What its values refer to, it depends on, after what depends_on lists.
        for (used, span) in references(&block.body) {
            if used == service.name {
                return Err(self.error(span, format!("{context} refers to itself")).with_hint("a service reaches itself as localhost"));
            }
            if !service.depends_on.contains(&used) {
                service.depends_on.push(used);
            }
        }
        if service.on_start == Some(true) {
            self.check_on_start(block, &service, stages)?;
        }
        self.check_own_healthcheck(block, &service, stages)?;
        Ok(service)
    }

    fn service_image(&self, scope: &Scope, attr: &Attribute, stages: &[Stage]) -> Result<ServiceImage, Diagnostic> {
        let at = attr.value.span();
        match self.eval(scope, &attr.value)? {
            Value::Object(o) if o.get("stage").is_some_and(Value::is_string) => {
                let name = o["stage"].as_str().unwrap_or_default().to_string();
                match stages.iter().find(|s| s.name == name) {
                    Some(s) if s.kind == StageKind::Image => Ok(ServiceImage::App(name)),
                    _ => Err(self
                        .error(at, format!("stage \"{name}\" is not an image: a service runs an image"))
                        .with_hint("name one of the spec's images (image.NAME); a variant is chosen with leaven compose --variant")),
                }
            }
            Value::String(reference) => {
                if let Some(why) = reference_problem(&reference) {
                    return Err(self
                        .error(at, format!("\"{reference}\" is not an image reference: {why}"))
                        .with_hint("write image.NAME, or an image like \"postgres:16-bookworm\""));
                }
                if let Some(why) = unpinned(&reference) {
                    let name = reference.split(['@']).next().unwrap_or(&reference).rsplit_once(':').map_or(reference.as_str(), |(n, _)| n);
                    return Err(self
                        .error(at, format!("image \"{reference}\" {why}: the stack would change whenever it moves"))
                        .with_hint(format!("pin a version, like \"{name}:16-bookworm\", or a digest")));
                }
                Ok(ServiceImage::Image(reference))
            }
            other => Err(self
                .error(at, format!("image must be image.NAME or an image reference, not {}", super::parse::describe(&other)))
                .with_hint("write image = image.release, or image = \"redis:7-bookworm\"")),
        }
    }

    /// Who the container runs as: for the spec's images, as an image's `user`;
    /// for other images, an account of theirs (read from the image when needed) or ids.
    fn service_user(&self, scope: &Scope, attr: &Attribute, image: &ServiceImage) -> Result<String, Diagnostic> {
        if let ServiceImage::App(_) = image {
            return self.user_name(scope, attr);
        }
        let text = self.string(scope, attr)?;
        let ids = |t: &str| t.split(':').all(|p| p.parse::<u32>().is_ok()) && t.split(':').count() <= 2;
        let account = |t: &str| t.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && t.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c));
        if ids(&text) || account(&text) {
            Ok(text)
        } else {
            Err(self
                .error(attr.value.span(), format!("\"{text}\" is not an account or UID[:GID]"))
                .with_hint("write user = \"postgres\" (an account of the image) or user = \"999:999\""))
        }
    }

    fn nonempty_list(&self, scope: &Scope, attr: &Attribute) -> Result<Vec<String>, Diagnostic> {
        let list = self.list(scope, attr)?;
        if list.is_empty() {
            return Err(self
                .error(attr.value.span(), format!("{} must not be empty", attr.key.as_str()))
                .with_hint("leave it out to run the image's own, or write [\"celery\", \"-A\", \"config\", \"worker\"]"));
        }
        Ok(list)
    }

    fn relative_paths(&self, scope: &Scope, attr: &Attribute, example: &str) -> Result<Vec<String>, Diagnostic> {
        let paths = self.strings(scope, attr)?;
        if let Some(bad) = paths.iter().find(|p| p.trim().is_empty()) {
            return Err(self.error(attr.value.span(), format!("{} holds an empty path \"{bad}\"", attr.key.as_str())).with_hint(format!("for example [\"{example}\"]")));
        }
        Ok(paths)
    }

    fn compose_names(&self, scope: &Scope, attr: &Attribute, what: &str, example: &str) -> Result<Vec<String>, Diagnostic> {
        let names = self.strings(scope, attr)?;
        match names.iter().find(|n| !compose_name_ok(n)) {
            None => Ok(names),
            Some(bad) => Err(self
                .error(attr.value.span(), format!("\"{bad}\" is not a {what} name"))
                .with_hint(format!("{what} names are letters, digits, '_', '.' and '-', starting with a letter or digit, like \"{example}\""))),
        }
    }

    fn ports(&self, scope: &Scope, attr: &Attribute) -> Result<Vec<String>, Diagnostic> {
        let ports = match self.eval(scope, &attr.value)? {
            Value::Number(n) => vec![n.to_string()],
            _ => self.strings(scope, attr)?,
        };
        match ports.iter().find(|p| !port_mapping_ok(p)) {
            None => Ok(ports),
            Some(bad) => Err(self
                .error(attr.value.span(), format!("\"{bad}\" is not a port mapping"))
                .with_hint("write ports = [\"8000:8000\"], [\"127.0.0.1:5432:5432\"] or [\"$${WEB_PORT:-8000}:8000\"]")),
        }
    }

    fn depends_on(&self, scope: &Scope, attr: &Attribute) -> Result<Vec<String>, Diagnostic> {
        let one = |v: &Value| match v {
            Value::Object(o) => o.get("service").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        let wrong = || {
            self.error(attr.value.span(), "depends_on must be a list of services")
                .with_hint("write depends_on = [service.web]")
        };
        match self.eval(scope, &attr.value)? {
            Value::Array(items) => items.iter().map(|v| one(v).ok_or_else(wrong)).collect(),
            v => one(&v).map(|name| vec![name]).ok_or_else(wrong),
        }
    }

    fn service_mount(&self, block: &Block, scope: &Scope, kind: &str) -> Result<ServiceMount, Diagnostic> {
        self.no_label(block, kind)?;
        let bind = kind == "bind";
        self.check_names(&block.body, kind, if bind { BIND_ATTRS } else { VOLUME_ATTRS }, &[])?;
        let get = |name: &str| block.body.get_attribute(name);
        let required = |name: &str, example: &str| {
            get(name).ok_or_else(|| self.error(block.span(), format!("{kind} has no \"{name}\"")).with_hint(format!("set {name} = \"{example}\"")))
        };
        let target = required("target", "/var/lib/postgresql/data")?;
        let target = self.absolute(target, self.string(scope, target)?, "/var/lib/postgresql/data")?;
        let read_only = get("read_only").map(|a| self.boolean(scope, a)).transpose()?.unwrap_or(false);
        if bind {
            let source = required("source", "data/postgres")?;
            let source_text = self.string(scope, source)?;
            if source_text.trim().is_empty() || source_text.contains('$') {
                return Err(self
                    .error(source.value.span(), format!("bind source \"{source_text}\" is not a directory"))
                    .with_hint("write a directory relative to the spec, like \"data/postgres\" (leaven host-prep makes it)"));
            }
            Ok(ServiceMount::Bind { source: source_text, target, read_only })
        } else {
            let name = required("name", "pgdata")?;
            let text = self.string(scope, name)?;
            if !compose_name_ok(&text) {
                return Err(self
                    .error(name.value.span(), format!("\"{text}\" is not a volume name"))
                    .with_hint("volume names are letters, digits, '_', '.' and '-', starting with a letter or digit, like \"pgdata\""));
            }
            Ok(ServiceMount::Volume { name: text, target, read_only })
        }
    }

    /// `on_start = true` belongs on one service of an image that has start-up
    /// tasks, one that `compose up` starts.
    fn check_on_start(&self, block: &Block, service: &Service, stages: &[Stage]) -> Result<(), Diagnostic> {
        let at = block.body.get_attribute("on_start").and_then(|a| a.value.span());
        let ServiceImage::App(image) = &service.image else {
            return Err(self
                .error(at, format!("service \"{}\" runs no image of this spec: it has no start-up tasks", service.name))
                .with_hint("set on_start = true on a service with image = image.NAME, or drop this line"));
        };
        let tasks = stages.iter().find(|s| &s.name == image).is_some_and(|s| !s.settings.on_start.is_empty());
        if !tasks {
            return Err(self
                .error(at, format!("image \"{image}\" has no on_start tasks for service \"{}\" to run", service.name))
                .with_hint(format!("set on_start = [\"python manage.py migrate --noinput\"] on image \"{image}\", or drop this line")));
        }
        if !service.profiles.is_empty() {
            return Err(self
                .error(at, format!("service \"{}\" runs the start-up tasks but only in profile {}", service.name, service.profiles.join(", ")))
                .with_hint("compose up without the profile would run no migrations: pick a service that always starts"));
        }
        Ok(())
    }

    /// A service that replaces its image's command needs a healthcheck of its
    /// own when the image has one: the image's tests the command it replaced (a
    /// worker would never be healthy), and compose cannot wait for a service
    /// whose check is switched off.
    fn check_own_healthcheck(&self, block: &Block, service: &Service, stages: &[Stage]) -> Result<(), Diagnostic> {
        let ServiceImage::App(image) = &service.image else { return Ok(()) };
        let image_checks = stages.iter().find(|s| &s.name == image).and_then(|s| s.settings.healthcheck.as_ref()).is_some_and(|c| c.test.first().is_none_or(|t| t != "NONE"));
        if service.command.is_none() || service.healthcheck.is_some() || !image_checks {
            return Ok(());
        }
        let at = block.body.get_attribute("command").and_then(|a| a.value.span());
        Err(self
            .error(at, format!("service \"{}\" replaces the command of image \"{image}\", whose healthcheck tests that command", service.name))
            .with_hint("give the service a healthcheck block of its own, e.g. test = [\"CMD\", \"celery\", \"-A\", \"config\", \"inspect\", \"ping\"] for a Celery worker"))
    }

    /// Across services: names once, references to services that exist, one
    /// service running each image's start-up tasks, and no dependency cycle.
    pub(super) fn check_services(&self, blocks: &[&Block], services: &[Service]) -> Result<(), Diagnostic> {
        let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
        for (service, block) in services.iter().zip(blocks) {
            if services.iter().filter(|s| s.name == service.name).count() > 1 {
                return Err(self.error(block.span(), format!("service \"{}\" is defined twice", service.name)).with_hint("give each service its own name"));
            }
            if let Some(missing) = service.depends_on.iter().find(|d| !names.contains(&d.as_str())) {
                let hint = match closest(missing, names.iter()) {
                    Some(near) => format!("did you mean service.{near}?"),
                    None => format!("it has: {}", names.join(", ")),
                };
                return Err(self.error(block.span(), format!("service \"{}\" depends on \"{missing}\", which the spec does not have", service.name)).with_hint(hint));
            }
            let runs_tasks = |s: &Service| s.on_start == Some(true) && s.image == service.image;
            if runs_tasks(service) && services.iter().filter(|s| runs_tasks(s)).count() > 1 {
                let ServiceImage::App(image) = &service.image else { unreachable!("on_start was checked to be on an app image") };
                let all: Vec<&str> = services.iter().filter(|s| runs_tasks(s)).map(|s| s.name.as_str()).collect();
                return Err(self
                    .error(block.span(), format!("services {} all run the start-up tasks of image \"{image}\"", all.join(", ")))
                    .with_hint("set on_start = true on one of them: migrations run once"));
            }
        }
        if let Some(cycle) = dependency_cycle(services) {
            let at = services.iter().position(|s| s.name == cycle[0]).map(|i| blocks[i].span());
            return Err(self
                .error(at.flatten(), format!("services depend on each other in a cycle: {}", cycle.join(" → ")))
                .with_hint("compose starts a service after those it depends on: break the cycle"));
        }
        Ok(())
    }
}

/// A chain of services that leads back to its start, if any.
fn dependency_cycle(services: &[Service]) -> Option<Vec<String>> {
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    cycle_in(&names, |name| services.iter().find(|s| s.name == name).map(|s| s.depends_on.iter().map(String::as_str).collect()).unwrap_or_default())
}

impl ServiceMount {
    pub fn target(&self) -> &str {
        match self {
            ServiceMount::Bind { target, .. } | ServiceMount::Volume { target, .. } => target,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_mappings() {
        for good in ["8000", "8000:8000", "127.0.0.1:5432:5432", "127.0.0.1::8000", "53:53/udp", "${WEB_PORT:-8000}:8000", "9000-9001:9000-9001"] {
            assert!(port_mapping_ok(good), "{good}");
        }
        for bad in ["http", "8000:", "1:2:3:4", "70000:80", "8000/xyz", "0"] {
            assert!(!port_mapping_ok(bad), "{bad}");
        }
    }

    #[test]
    fn names_of_services_and_compose_objects() {
        assert_eq!(service_name_problem("web-2"), None);
        assert!(service_name_problem("Web").is_some());
        assert!(service_name_problem("2web").is_some());
        assert!(compose_name_ok("db_password") && compose_name_ok("pg.data") && !compose_name_ok("-x") && !compose_name_ok("a b"));
    }
}
