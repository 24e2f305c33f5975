//! What a bake file describes once evaluated: targets and groups, field by
//! field as buildx's `Target` struct has them (the print order is this order).

use std::collections::BTreeMap;

/// `key=value` attributes of a composable entry (`type=registry,ref=x`); printed
/// as a JSON object with sorted keys.
pub type Attrs = BTreeMap<String, String>;

/// A `secret` entry: printed as `{id, src?, env?}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Secret {
    pub id: String,
    pub src: Option<String>,
    pub env: Option<String>,
}

/// Where a build reads a secret from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretFrom {
    /// An environment variable, by name.
    Env(String),
    /// A file, by path (relative to the working directory).
    File(String),
}

impl Secret {
    /// BuildKit's secret store: `env` wins over `src`; with neither, the
    /// variable named like the id if it is set, else a file of that name.
    pub fn source(&self, env_is_set: impl Fn(&str) -> bool) -> SecretFrom {
        match (self.env.as_deref().filter(|e| !e.is_empty()), self.src.as_deref().filter(|s| !s.is_empty())) {
            (Some(env), _) => SecretFrom::Env(env.to_string()),
            (None, Some(src)) => SecretFrom::File(src.to_string()),
            (None, None) if env_is_set(&self.id) => SecretFrom::Env(self.id.clone()),
            (None, None) => SecretFrom::File(self.id.clone()),
        }
    }
}

/// An `ssh` entry: printed as `{id, paths?}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ssh {
    pub id: String,
    pub paths: Vec<String>,
}

/// An `attest` entry, as buildx's `buildflags.Attest`: its type, whether it is
/// turned off (`disabled` prints as a JSON boolean), and its other attributes.
/// The driver sends these as frontend attributes ([`Attest::frontend_attrs`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attest {
    pub kind: String,
    pub disabled: bool,
    pub attrs: Attrs,
}

impl Attest {
    /// buildx's `Attests.ToMap`: `attest:<type>` for each type (the first entry
    /// of a type wins), valued `type=<type>,<attrs sorted>` CSV; `None` marks a
    /// disabled one, which is not sent (and stops the default provenance).
    pub fn frontend_attrs(list: &[Attest]) -> BTreeMap<String, Option<String>> {
        let mut out = BTreeMap::new();
        for a in list {
            let key = format!("attest:{}", a.kind);
            if out.contains_key(&key) {
                continue;
            }
            if a.disabled {
                out.insert(key, None);
                continue;
            }
            let mut fields = Vec::with_capacity(a.attrs.len() + 1);
            if !a.kind.is_empty() {
                fields.push(csv_pair("type", &a.kind));
            }
            fields.extend(a.attrs.iter().map(|(k, v)| csv_pair(k, v)));
            out.insert(key, Some(fields.join(",")));
        }
        out
    }
}

/// One `key=value` CSV field, quoted as Go's csv writer quotes it when it holds
/// a comma or a quote.
fn csv_pair(key: &str, value: &str) -> String {
    let pair = format!("{key}={value}");
    if pair.contains([',', '"']) {
        format!("\"{}\"", pair.replace('"', "\"\""))
    } else {
        pair
    }
}

/// `resources`: cgroup limits for `RUN` steps, merged field by field; the
/// `cpu-*` fields are numbers (printed as JSON numbers).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resources {
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub cpu_shares: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
}

impl Resources {
    /// The keys, in print order.
    pub const KEYS: [&'static str; 7] = ["memory", "memory-swap", "cpu-shares", "cpu-period", "cpu-quota", "cpuset-cpus", "cpuset-mems"];

    /// `later`'s set fields win.
    pub fn merge(&mut self, later: &Resources) {
        replace(&mut self.memory, &later.memory);
        replace(&mut self.memory_swap, &later.memory_swap);
        replace(&mut self.cpu_shares, &later.cpu_shares);
        replace(&mut self.cpu_period, &later.cpu_period);
        replace(&mut self.cpu_quota, &later.cpu_quota);
        replace(&mut self.cpuset_cpus, &later.cpuset_cpus);
        replace(&mut self.cpuset_mems, &later.cpuset_mems);
    }

    /// Sets one field from text (`--set t.resources.<key>=…`), as buildx's `SetField`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let number = || value.parse::<i64>().map_err(|_| format!("invalid value {value} for int64 key resources.{key}"));
        match key {
            "memory" => self.memory = Some(value.to_string()),
            "memory-swap" => self.memory_swap = Some(value.to_string()),
            "cpu-shares" => self.cpu_shares = Some(number()?),
            "cpu-period" => self.cpu_period = Some(number()?),
            "cpu-quota" => self.cpu_quota = Some(number()?),
            "cpuset-cpus" => self.cpuset_cpus = Some(value.to_string()),
            "cpuset-mems" => self.cpuset_mems = Some(value.to_string()),
            _ => return Err(format!("unknown resources key {key}")),
        }
        Ok(())
    }

    /// The set fields as `(key, text)`, in print order.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        let fields = [
            self.memory.clone(),
            self.memory_swap.clone(),
            self.cpu_shares.map(|n| n.to_string()),
            self.cpu_period.map(|n| n.to_string()),
            self.cpu_quota.map(|n| n.to_string()),
            self.cpuset_cpus.clone(),
            self.cpuset_mems.clone(),
        ];
        Self::KEYS.iter().zip(fields).filter_map(|(k, v)| v.map(|v| (*k, v))).collect()
    }
}

/// A `policy` entry (`--policy` keys): a Rego file to add, whether to drop the
/// policies before it (`reset`), to turn policy off, strictness and log level.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Policy {
    pub files: Vec<String>,
    pub reset: bool,
    pub disabled: bool,
    pub strict: Option<bool>,
    /// logrus's name for the level (`warn` is `warning`).
    pub log_level: Option<String>,
}

impl Policy {
    /// buildx's `parsePolicyFields` over `key=value` fields.
    pub fn from_fields<'a>(fields: impl IntoIterator<Item = &'a str>) -> Result<Policy, String> {
        let mut p = Policy::default();
        for field in fields {
            let (key, value) = field.split_once('=').ok_or_else(|| format!("invalid value {field}"))?;
            let flag = || parse_go_bool(value).ok_or_else(|| format!("invalid value {field}: strconv.ParseBool: parsing {value:?}: invalid syntax"));
            match key.trim().to_lowercase().as_str() {
                "filename" if !value.is_empty() => p.files.push(value.to_string()),
                "reset" => p.reset = flag()?,
                "disabled" => p.disabled = flag()?,
                "strict" => p.strict = Some(flag()?),
                "log-level" => {
                    let level = match value.to_lowercase().as_str() {
                        "panic" => "panic",
                        "fatal" => "fatal",
                        "error" => "error",
                        "warn" | "warning" => "warning",
                        "info" => "info",
                        "debug" => "debug",
                        "trace" => "trace",
                        _ => return Err(format!("invalid value {field}: not a valid logrus Level: {value:?}")),
                    };
                    p.log_level = Some(level.to_string());
                }
                _ => return Err(format!("invalid value {field}")),
            }
        }
        Ok(p)
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Where a target block is written: what errors about the target point at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Position {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One target. `None` means "not set" (so a merge keeps the earlier value);
/// `Some(vec![])` is an explicit empty list, which replaces.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Target {
    pub name: String,
    pub description: Option<String>,
    pub annotations: Option<Vec<String>>,
    pub attest: Option<Vec<Attest>>,
    pub context: Option<String>,
    pub contexts: BTreeMap<String, String>,
    pub dockerfile: Option<String>,
    pub dockerfile_inline: Option<String>,
    /// A `None` value is a null arg: it never overrides and is never printed.
    pub args: BTreeMap<String, Option<String>>,
    pub labels: BTreeMap<String, Option<String>>,
    pub tags: Option<Vec<String>>,
    pub cache_from: Option<Vec<Attrs>>,
    pub cache_to: Option<Vec<Attrs>>,
    pub target: Option<String>,
    pub secret: Option<Vec<Secret>>,
    pub ssh: Option<Vec<Ssh>>,
    pub platforms: Option<Vec<String>>,
    pub output: Option<Vec<Attrs>>,
    pub pull: Option<bool>,
    pub no_cache: Option<bool>,
    pub network: Option<String>,
    pub no_cache_filter: Option<Vec<String>>,
    pub shm_size: Option<String>,
    pub ulimits: Option<Vec<String>>,
    pub resources: Option<Resources>,
    pub call: Option<String>,
    pub entitlements: Option<Vec<String>>,
    pub extra_hosts: BTreeMap<String, Option<String>>,
    pub policy: Option<Vec<Policy>>,
    pub inherits: Vec<String>,
    /// The block that defined the target last (its own, after `inherits`); `None` from compose.
    pub position: Option<Position>,
    /// With `BUILDX_BAKE_FILE_RELATIVE_PATHS`: the directory of the file that
    /// defined the target last, which the default context `.` is relative to.
    pub default_context_base: Option<String>,
}

/// A `group`: names of targets or other groups, in the order written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    pub name: String,
    pub description: Option<String>,
    pub targets: Vec<String>,
}

/// A declared variable as `--list variables` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct VariableInfo {
    pub name: String,
    pub type_name: Option<String>,
    pub value: hcl::Value,
    pub description: Option<String>,
}

/// Everything the files define, targets and groups in first-definition order.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub targets: Vec<Target>,
    pub groups: Vec<Group>,
    pub variables: Vec<VariableInfo>,
}

impl Group {
    /// Adds the targets not already in the group, in order.
    pub fn add_targets(&mut self, targets: Vec<String>) {
        let mut present: std::collections::HashSet<String> = self.targets.iter().cloned().collect();
        self.targets.extend(targets.into_iter().filter(|t| present.insert(t.clone())));
    }
}

impl Config {
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }
}

fn extend<T: Clone>(into: &mut Option<Vec<T>>, more: &Option<Vec<T>>) {
    if let Some(more) = more {
        into.get_or_insert_with(Vec::new).extend(more.iter().cloned());
    }
}

fn replace<T: Clone>(into: &mut Option<T>, later: &Option<T>) {
    if later.is_some() {
        into.clone_from(later);
    }
}

fn merge_map(into: &mut BTreeMap<String, Option<String>>, later: &BTreeMap<String, Option<String>>) {
    for (k, v) in later {
        if v.is_some() {
            into.insert(k.clone(), v.clone());
        }
    }
}

/// buildx's `removeAttestDupes`: one entry per type, where the type first
/// appears, holding the last entry of that type.
fn dedupe_attests(list: &mut Vec<Attest>) {
    let mut kept: Vec<Attest> = Vec::with_capacity(list.len());
    for a in list.drain(..) {
        match kept.iter_mut().find(|e| e.kind == a.kind) {
            Some(e) => *e = a,
            None => kept.push(a),
        }
    }
    *list = kept;
}

impl Target {
    /// buildx's `Target.Merge`: `later` wins for scalars and the "replace" lists
    /// (tags, platforms, output, cache-to); maps merge per key (nulls skipped);
    /// the other lists append, secrets/ssh by id and attests by type.
    pub fn merge(&mut self, later: &Target) {
        replace(&mut self.context, &later.context);
        replace(&mut self.dockerfile, &later.dockerfile);
        replace(&mut self.dockerfile_inline, &later.dockerfile_inline);
        for (k, v) in &later.contexts {
            self.contexts.insert(k.clone(), v.clone());
        }
        merge_map(&mut self.args, &later.args);
        extend(&mut self.annotations, &later.annotations);
        merge_map(&mut self.labels, &later.labels);
        replace(&mut self.tags, &later.tags);
        replace(&mut self.target, &later.target);
        replace(&mut self.call, &later.call);
        if let Some(later) = &later.attest {
            let list = self.attest.get_or_insert_with(Vec::new);
            list.extend(later.iter().cloned());
            dedupe_attests(list);
        }
        extend(&mut self.policy, &later.policy);
        if let Some(later) = &later.secret {
            let list = self.secret.get_or_insert_with(Vec::new);
            for s in later {
                match list.iter_mut().find(|e| e.id == s.id) {
                    Some(e) => *e = s.clone(),
                    None => list.push(s.clone()),
                }
            }
        }
        if let Some(later) = &later.ssh {
            let list = self.ssh.get_or_insert_with(Vec::new);
            for s in later {
                match list.iter_mut().find(|e| e.id == s.id) {
                    Some(e) => *e = s.clone(),
                    None => list.push(s.clone()),
                }
            }
        }
        replace(&mut self.platforms, &later.platforms);
        extend(&mut self.cache_from, &later.cache_from);
        replace(&mut self.cache_to, &later.cache_to);
        replace(&mut self.output, &later.output);
        replace(&mut self.pull, &later.pull);
        replace(&mut self.no_cache, &later.no_cache);
        replace(&mut self.network, &later.network);
        extend(&mut self.no_cache_filter, &later.no_cache_filter);
        replace(&mut self.shm_size, &later.shm_size);
        extend(&mut self.ulimits, &later.ulimits);
        if let Some(later) = &later.resources {
            self.resources.get_or_insert_with(Resources::default).merge(later);
        }
        if later.description.as_deref().is_some_and(|d| !d.is_empty()) {
            self.description.clone_from(&later.description);
        }
        extend(&mut self.entitlements, &later.entitlements);
        merge_map(&mut self.extra_hosts, &later.extra_hosts);
        self.inherits.extend(later.inherits.iter().cloned());
        replace(&mut self.position, &later.position);
        replace(&mut self.default_context_base, &later.default_context_base);
    }

    /// buildx's `normalize`: duplicates and empty strings leave the string lists,
    /// duplicate cache/output entries move to their last position, empty
    /// contexts are removed.
    pub fn normalize(&mut self) {
        if self.network.as_deref() == Some("host") {
            self.entitlements.get_or_insert_with(Vec::new).push("network.host".into());
        }
        for list in [
            &mut self.annotations,
            &mut self.tags,
            &mut self.platforms,
            &mut self.no_cache_filter,
            &mut self.ulimits,
            &mut self.entitlements,
        ]
        .into_iter()
        .flatten()
        {
            // Lists are short: comparing with the kept prefix beats hashing.
            let mut kept = 0;
            for i in 0..list.len() {
                if !list[i].is_empty() && !list[..kept].contains(&list[i]) {
                    list.swap(kept, i);
                    kept += 1;
                }
            }
            list.truncate(kept);
        }
        for list in [&mut self.cache_from, &mut self.cache_to, &mut self.output].into_iter().flatten() {
            let mut out: Vec<Attrs> = Vec::with_capacity(list.len());
            for entry in list.drain(..) {
                out.retain(|e| *e != entry);
                out.push(entry);
            }
            *list = out;
        }
        // Entries keyed by type or id keep the last of each, as merging would.
        if let Some(list) = &mut self.attest {
            dedupe_attests(list);
        }
        if let Some(list) = self.secret.take() {
            self.secret = Some(Vec::new());
            self.merge(&Target { secret: Some(list), ..Target::default() });
        }
        if let Some(list) = self.ssh.take() {
            self.ssh = Some(Vec::new());
            self.merge(&Target { ssh: Some(list), ..Target::default() });
        }
        self.contexts.retain(|_, v| !v.is_empty());
    }
}
