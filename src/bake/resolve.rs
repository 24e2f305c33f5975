//! From a `Config` to the targets a command acts on: `--set` overrides, target
//! selection (groups, globs), `inherits`, defaults and `target:` links — the
//! steps of buildx's `ReadTargets`, in its order.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::model::{Attrs, Config, Group, Target};
use crate::hcl::limits::MAX_DEPTH;

/// One `--set` key for one target, after repeated keys are combined.
#[derive(Debug, Clone, Default)]
struct Override {
    value: String,
    /// List keys collect every value given; the last operator decides append or replace.
    values: Vec<String>,
    append: bool,
}

/// Overrides per target name, keys in first-given order.
#[derive(Debug, Default)]
pub struct Overrides(BTreeMap<String, Vec<(String, Override)>>);

/// The `--set` keys whose values accumulate into a list.
const LIST_KEYS: &[&str] =
    &["output", "cache-to", "cache-from", "tags", "platform", "secrets", "ssh", "attest", "entitlements", "network", "annotations"];

/// `path.Match` for target patterns: `*`, `?` and `[…]` classes. Matching
/// backtracks only to the last `*`, so it takes at most pattern × name steps.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // Where to resume after the last `*`: the pattern after it, the name position it has reached.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if p.get(pi) == Some(&'*') {
            star = Some((pi + 1, ni));
            pi += 1;
            continue;
        }
        if let Some(len) = match_one(&p[pi..], n[ni]) {
            pi += len;
            ni += 1;
            continue;
        }
        let Some((after, reached)) = star else { return false };
        pi = after;
        ni = reached + 1;
        star = Some((after, reached + 1));
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// How much of `pattern` matches the one character `c`: a literal, `?`, or a class.
fn match_one(pattern: &[char], c: char) -> Option<usize> {
    match pattern.split_first()? {
        ('?', _) => Some(1),
        ('[', rest) => {
            let end = rest.iter().position(|&c| c == ']')?;
            let (negate, class) = match rest[..end].split_first() {
                Some(('^', class)) => (true, class),
                _ => (false, &rest[..end]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            (hit != negate).then_some(end + 2)
        }
        (&literal, _) => (literal == c).then_some(1),
    }
}

/// Chains of groups, parents and links are walked recursively: bounded, they
/// cannot overflow the stack (buildx, in Go, has no bound).
fn too_deep(depth: usize, what: &str, name: &str) -> Result<(), String> {
    if depth >= MAX_DEPTH {
        return Err(format!("{what} nest more than {MAX_DEPTH} levels deep at {name}, leaven's limit"));
    }
    Ok(())
}

/// A context buildx fetches rather than reads from disk: URLs, git remotes, images.
fn is_remote(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}

fn is_glob(name: &str) -> bool {
    name.contains(['*', '?', '['])
}

/// Parses `--set pattern.key[.sub][+]=value` flags against the config's targets.
pub fn parse_overrides(config: &Config, flags: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Overrides, String> {
    let mut overrides = Overrides::default();
    for flag in flags {
        let (lhs, value) = match flag.split_once('=') {
            Some((l, v)) => (l, Some(v)),
            None => (flag.as_str(), None),
        };
        let append = lhs.ends_with('+');
        let keys: Vec<&str> = lhs.trim_end_matches('+').splitn(3, '.').collect();
        if keys.len() < 2 {
            return Err(format!("invalid override key {lhs}, expected target.name"));
        }
        if value.is_none() && keys[1] != "args" {
            return Err(format!("invalid override {flag}, expected target.name=value"));
        }
        let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).filter(|n| glob_match(keys[0], n)).collect();
        if names.is_empty() {
            return Err(format!("could not find any target matching '{}'", keys[0]));
        }
        let key = keys[1..].join(".");
        for name in names {
            let list = overrides.0.entry(name.to_string()).or_default();
            let index = match list.iter().position(|(k, _)| *k == key) {
                Some(i) => i,
                None => {
                    list.push((key.clone(), Override::default()));
                    list.len() - 1
                }
            };
            let o = &mut list[index].1;
            if LIST_KEYS.contains(&keys[1]) {
                if let Some(v) = value {
                    o.append = append;
                    o.values.push(v.to_string());
                }
                continue;
            }
            if matches!(keys[1], "args" | "contexts") && keys.len() != 3 {
                return Err(format!("invalid key {lhs}, {} requires name", keys[1]));
            }
            match value {
                Some(v) => o.value = v.to_string(),
                // `--set t.args.K` takes K from the environment, or does nothing.
                None => match env(keys[2]) {
                    Some(v) => o.value = v,
                    None => {
                        list.remove(index);
                    }
                },
            }
        }
    }
    Ok(overrides)
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid value {value} for boolean key {key}")),
    }
}

fn parse_list(values: &[String], parse: fn(&str) -> Result<Vec<Attrs>, String>) -> Result<Vec<Attrs>, String> {
    Ok(values.iter().map(|v| parse(v)).collect::<Result<Vec<_>, _>>()?.concat())
}

/// buildx's `Target.AddOverrides`.
fn apply_overrides(t: &mut Target, overrides: &[(String, Override)]) -> Result<(), String> {
    for (key, o) in overrides {
        let value = o.value.clone();
        let (head, sub) = match key.split_once('.') {
            Some((h, s)) => (h, Some(s.to_string())),
            None => (key.as_str(), None),
        };
        let sub = || sub.clone().ok_or_else(|| format!("{head} require name"));
        let set_list = |into: &mut Option<Vec<String>>| {
            if o.append {
                into.get_or_insert_with(Vec::new).extend(o.values.iter().cloned());
            } else {
                *into = Some(o.values.clone());
            }
        };
        match head {
            "context" => t.context = Some(value),
            "dockerfile" => t.dockerfile = Some(value),
            "args" => {
                t.args.insert(sub()?, Some(value));
            }
            "contexts" => {
                t.contexts.insert(sub()?, value);
            }
            "labels" => {
                t.labels.insert(sub()?, Some(value));
            }
            "extra-hosts" => {
                t.extra_hosts.insert(sub()?, Some(value));
            }
            "tags" => set_list(&mut t.tags),
            "platform" => set_list(&mut t.platforms),
            "cache-from" | "cache-to" | "output" => {
                let parsed = parse_list(&o.values, if head == "output" { super::evaluate::parse_output } else { super::evaluate::parse_cache })?;
                let field = match head {
                    "cache-from" => &mut t.cache_from,
                    "cache-to" => &mut t.cache_to,
                    _ => &mut t.output,
                };
                if o.append {
                    field.get_or_insert_with(Vec::new).extend(parsed);
                } else {
                    *field = Some(parsed);
                }
            }
            "secrets" | "ssh" => {
                let mut later = Target::default();
                let values = hcl::Value::from(o.values.clone());
                if head == "secrets" {
                    later.secret = super::evaluate::secrets_from(&values)?;
                } else {
                    later.ssh = super::evaluate::ssh_from(&values)?;
                }
                if !o.append {
                    if head == "secrets" {
                        t.secret = Some(Vec::new());
                    } else {
                        t.ssh = Some(Vec::new());
                    }
                }
                t.merge(&later);
            }
            "attest" => {
                let later = Target { attest: Some(parse_list(&o.values, super::evaluate::parse_attest)?), ..Target::default() };
                t.merge(&later);
            }
            "entitlements" => t.entitlements.get_or_insert_with(Vec::new).extend(o.values.iter().cloned()),
            "annotations" => t.annotations.get_or_insert_with(Vec::new).extend(o.values.iter().cloned()),
            "target" => t.target = Some(value),
            "call" => t.call = Some(value),
            "no-cache" => t.no_cache = Some(parse_bool("no-cache", &value)?),
            "pull" => t.pull = Some(parse_bool("pull", &value)?),
            // Quirks kept from buildx: these take the list value, which a plain `=` leaves empty.
            "no-cache-filter" => t.no_cache_filter = Some(o.values.clone()),
            "ulimits" => t.ulimits = Some(o.values.clone()),
            "network" => t.network = Some(value),
            "shm-size" => t.shm_size = Some(value),
            "push" => {
                let push = parse_bool("push", &value)?;
                set_push(t.output.get_or_insert_with(Vec::new), push);
            }
            "load" => {
                let load = parse_bool("load", &value)?;
                set_load(t.output.get_or_insert_with(Vec::new), load);
            }
            other => return Err(format!("unknown key: {other}")),
        }
    }
    Ok(())
}

fn set_push(outputs: &mut Vec<Attrs>, push: bool) {
    if !push {
        let mut i = 0;
        while i < outputs.len() {
            match outputs[i].get("type").map(String::as_str) {
                Some("registry") => {
                    outputs.swap_remove(i);
                    continue;
                }
                Some("image") => {
                    outputs[i].insert("push".into(), "false".into());
                }
                _ => {}
            }
            i += 1;
        }
        return;
    }
    let mut found = false;
    for o in outputs.iter_mut() {
        match o.get("type").map(String::as_str) {
            // A registry export always pushes; buildx leaves it as written.
            Some("registry") => found = true,
            Some("image") => {
                o.insert("push".into(), "true".into());
                found = true;
            }
            _ => {}
        }
    }
    if !found {
        outputs.push(Attrs::from([("type".into(), "image".into()), ("push".into(), "true".into())]));
    }
}

fn set_load(outputs: &mut Vec<Attrs>, load: bool) {
    if !load {
        return;
    }
    for o in outputs.iter() {
        match o.get("type").map(String::as_str) {
            Some("image" | "registry" | "oci") => {}
            _ => return,
        }
    }
    outputs.push(Attrs::from([("type".into(), "docker".into())]));
}

/// What a command acts on: the resolved targets by name, and the groups met.
pub struct Selection {
    /// The names asked for, globs expanded, in order.
    pub names: Vec<String>,
    pub targets: BTreeMap<String, Target>,
    pub groups: BTreeMap<String, Group>,
}

/// Lookups by name over a config, for resolving many targets at once.
struct Resolver<'c> {
    config: &'c Config,
    targets: HashMap<&'c str, &'c Target>,
    groups: HashMap<&'c str, &'c Group>,
    overrides: &'c Overrides,
}

impl<'c> Resolver<'c> {
    fn new(config: &'c Config, overrides: &'c Overrides) -> Resolver<'c> {
        Resolver {
            config,
            targets: config.targets.iter().map(|t| (t.name.as_str(), t)).collect(),
            groups: config.groups.iter().map(|g| (g.name.as_str(), g)).collect(),
            overrides,
        }
    }

    /// Names (targets and groups) a CLI name stands for: itself, or every name a glob matches.
    fn expand_name(&self, name: &str) -> Result<Vec<String>, String> {
        let name = name.replace('.', "_");
        if !is_glob(&name) {
            return Ok(vec![name]);
        }
        let mut seen = HashSet::new();
        let names: Vec<String> = self
            .config
            .groups
            .iter()
            .map(|g| &g.name)
            .chain(self.config.targets.iter().map(|t| &t.name))
            .filter(|n| glob_match(&name, n) && seen.insert(n.as_str()))
            .cloned()
            .collect();
        if names.is_empty() {
            return Err(format!("could not find any target matching \"{name}\""));
        }
        Ok(names)
    }

    /// Targets and groups a name reaches; a group shadows a target of its name,
    /// except inside itself (`group "foo" { targets = ["foo"] }`).
    fn resolve_group(
        &self,
        name: &str,
        targets: &mut Vec<String>,
        seen: &mut HashSet<String>,
        groups: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), String> {
        let Some(group) = self.groups.get(name) else {
            if seen.insert(name.to_string()) {
                targets.push(name.to_string());
            }
            return Ok(());
        };
        if groups.iter().any(|g| g == name) {
            return Ok(());
        }
        too_deep(depth, "groups", name)?;
        groups.push(name.to_string());
        for member in &group.targets {
            if member == name {
                if seen.insert(name.to_string()) {
                    targets.push(name.to_string());
                }
            } else {
                self.resolve_group(member, targets, seen, groups, depth + 1)?;
            }
        }
        Ok(())
    }

    /// How many `inherits` edges point at each target reachable from `name`:
    /// once a parent has been merged into all its children it can be moved, not copied.
    fn inherit_uses(&self, name: &str) -> HashMap<String, usize> {
        let mut uses = HashMap::new();
        let mut seen = HashSet::new();
        let mut pending = vec![name];
        while let Some(name) = pending.pop() {
            if !seen.insert(name) {
                continue;
            }
            for parent in self.targets.get(name).map(|t| t.inherits.as_slice()).unwrap_or_default() {
                *uses.entry(parent.clone()).or_default() += 1;
                pending.push(parent);
            }
        }
        uses
    }

    /// `inherits` resolved depth-first into `memo` (parents merged in order, then
    /// the block, then its overrides); `visited` makes cycles stop silently, as in buildx.
    fn inherit(
        &self,
        name: &str,
        visited: &mut HashSet<String>,
        memo: &mut HashMap<String, Target>,
        uses: &mut HashMap<String, usize>,
        depth: usize,
    ) -> Result<bool, String> {
        if memo.contains_key(name) {
            return Ok(true);
        }
        if !visited.insert(name.to_string()) {
            return Ok(false);
        }
        too_deep(depth, "inherits", name)?;
        let own = self.targets.get(name).ok_or_else(|| format!("failed to find target {name}"))?;
        let mut t = Target { name: name.to_string(), ..Target::default() };
        for (i, parent) in own.inherits.iter().enumerate() {
            if !self.inherit(parent, visited, memo, uses, depth + 1)? {
                continue;
            }
            let left = uses.get_mut(parent.as_str()).map(|n| {
                *n -= 1;
                *n
            });
            match (i, left) {
                // The first parent, needed by no one else: it becomes this target.
                (0, Some(0)) => {
                    t = memo.remove(parent.as_str()).expect("resolved above");
                    t.name = name.to_string();
                }
                _ => t.merge(&memo[parent.as_str()]),
            }
        }
        t.merge(own);
        t.inherits.clear();
        if let Some(o) = self.overrides.0.get(name) {
            apply_overrides(&mut t, o)?;
        }
        t.normalize();
        memo.insert(name.to_string(), t);
        Ok(true)
    }

    /// A target fully resolved, with the default context and Dockerfile.
    fn resolve_target(&self, name: &str) -> Result<Target, String> {
        let mut memo = HashMap::new();
        let mut uses = self.inherit_uses(name);
        self.inherit(name, &mut HashSet::new(), &mut memo, &mut uses, 0)?;
        let mut t = memo.remove(name).ok_or_else(|| format!("failed to find target {name}"))?;
        let context = t.context.take().unwrap_or_else(|| ".".into());
        t.context = Some(match context.strip_prefix("cwd://") {
            Some(local) => crate::hcl::functions::clean_path(local),
            None if is_remote(&context) => context,
            None => crate::hcl::functions::clean_path(&context),
        });
        if t.dockerfile.as_deref().is_none_or(str::is_empty) {
            t.dockerfile = Some("Dockerfile".into());
        }
        Ok(t)
    }

    fn load_links(&self, name: &str, t: &Target, all: &mut BTreeMap<String, Target>, visited: &mut Vec<String>) -> Result<(), String> {
        too_deep(visited.len(), "target links", name)?;
        visited.push(name.to_string());
        for value in t.contexts.values() {
            let Some(linked) = value.strip_prefix("target:") else { continue };
            if linked == name {
                return Err(format!("target {linked} cannot link to itself"));
            }
            if visited.iter().any(|v| v == linked) {
                return Err(format!("infinite loop from {name} to {linked}"));
            }
            let t2 = match all.get(linked) {
                Some(t2) => t2.clone(),
                None => {
                    let mut t2 = self.resolve_target(linked)?;
                    t2.output = Some(vec![Attrs::from([("type".into(), "cacheonly".into())])]);
                    all.insert(linked.to_string(), t2.clone());
                    t2
                }
            };
            self.load_links(linked, &t2, all, visited)?;
            let (p1, p2) = (t.platforms.clone().unwrap_or_default(), t2.platforms.clone().unwrap_or_default());
            if p1.len() > 1 && p2.len() > 1 {
                let missing: Vec<&str> = p1.iter().filter(|p| !p2.contains(p)).map(String::as_str).collect();
                if !missing.is_empty() {
                    return Err(format!("target {linked} can't be used by {name} because it is missing platforms {}", missing.join(" ")));
                }
            }
        }
        visited.pop();
        Ok(())
    }
}

impl Config {
    /// buildx's `ReadTargets`: the named targets (globs and groups expanded), their
    /// groups, and the targets they link to through `target:` contexts.
    pub fn select(&self, names: &[String], overrides: &Overrides) -> Result<Selection, String> {
        let resolver = Resolver::new(self, overrides);
        let mut targets = BTreeMap::new();
        let mut groups = BTreeMap::new();
        let mut expanded = Vec::new();
        let mut seen = HashSet::new();
        for cli_name in names {
            for name in resolver.expand_name(cli_name)? {
                if seen.insert(name.clone()) {
                    expanded.push(name.clone());
                }
                let (mut ts, mut gs) = (Vec::new(), Vec::new());
                resolver.resolve_group(&name, &mut ts, &mut HashSet::new(), &mut gs, 0)?;
                for t in ts {
                    if let std::collections::btree_map::Entry::Vacant(slot) = targets.entry(t) {
                        let resolved = resolver.resolve_target(slot.key())?;
                        slot.insert(resolved);
                    }
                }
                for g in gs {
                    if let Some(group) = resolver.groups.get(g.as_str()) {
                        groups.insert(g, (*group).clone());
                    }
                }
            }
        }
        let linking: Vec<(String, Target)> = targets
            .iter()
            .filter(|(_, t)| t.contexts.values().any(|v| v.starts_with("target:")))
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect();
        for (name, t) in linking {
            resolver.load_links(&name, &t, &mut targets, &mut Vec::new())?;
        }
        Ok(Selection { names: expanded, targets, groups })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_go_path_match() {
        assert!(glob_match("mtx-a-*", "mtx-a-1"));
        assert!(glob_match("t?", "t1"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[^a-c]x", "bx"));
        assert!(!glob_match("a*", "ba"));
        assert!(glob_match("*a*b", "xxaxxb"));
        assert!(!glob_match("[a-", "a"));
        assert!(glob_match("", ""));
        assert!(!glob_match("?", ""));
    }

    #[test]
    fn globs_with_many_stars_take_linear_time() {
        let name = "a".repeat(10_000);
        let pattern = format!("{}b", "*a".repeat(50));
        let started = std::time::Instant::now();
        assert!(!glob_match(&pattern, &name));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
