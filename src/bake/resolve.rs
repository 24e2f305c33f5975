//! From a `Config` to the targets a command acts on: `--set` overrides, target
//! selection (groups, globs), `inherits`, defaults and `target:` links — the
//! steps of buildx's `ReadTargets`, in its order.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::model::{Attrs, Config, Group, Target};
use super::remote::Input;
use super::BakeError;

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
    &["output", "cache-to", "cache-from", "tags", "platform", "secrets", "ssh", "attest", "entitlements", "network", "annotations", "policy"];

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

/// A context buildx fetches rather than reads from disk: URLs, git remotes, images.
fn is_remote(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}

fn is_glob(name: &str) -> bool {
    name.contains(['*', '?', '['])
}

/// Parses `--set pattern.key[.sub][+]=value` flags against the config's targets.
pub fn parse_overrides(config: &Config, flags: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Overrides, BakeError> {
    let mut overrides = Overrides::default();
    for flag in flags {
        let (lhs, value) = match flag.split_once('=') {
            Some((l, v)) => (l, Some(v)),
            None => (flag.as_str(), None),
        };
        let append = lhs.ends_with('+');
        let keys: Vec<&str> = lhs.trim_end_matches('+').splitn(3, '.').collect();
        if keys.len() < 2 {
            return Err(BakeError::Resolve(format!("invalid override key {lhs}, expected target.name")));
        }
        if value.is_none() && keys[1] != "args" {
            return Err(BakeError::Resolve(format!("invalid override {flag}, expected target.name=value")));
        }
        let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).filter(|n| glob_match(keys[0], n)).collect();
        if names.is_empty() {
            return Err(BakeError::Resolve(format!("could not find any target matching '{}'", keys[0])));
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
            if matches!(keys[1], "resources" | "secret") {
                if keys.len() != 3 {
                    return Err(BakeError::Resolve(format!("invalid key {lhs}, {} requires name", keys[1])));
                }
                if append {
                    return Err(BakeError::Resolve(format!("invalid key {lhs}, {} does not support append", keys[1])));
                }
            }
            if matches!(keys[1], "args" | "contexts") && keys.len() != 3 {
                return Err(BakeError::Resolve(format!("invalid key {lhs}, {} requires name", keys[1])));
            }
            match value {
                Some(v) => o.value = v.to_string(),
                // `--set t.args.K` takes K from the environment (when variables may
                // read it), or does nothing.
                None => match env(keys[2]).filter(|_| super::evaluate::env_lookup_allowed(env)) {
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
    super::model::parse_go_bool(value).ok_or_else(|| format!("invalid value {value} for boolean key {key}"))
}

fn parse_list(values: &[String], parse: fn(&str) -> Result<Vec<Attrs>, String>) -> Result<Vec<Attrs>, String> {
    Ok(values.iter().map(|v| parse(v)).collect::<Result<Vec<_>, _>>()?.concat())
}

/// buildx's `Target.AddOverrides`; `secret.<id>` re-points declared secrets
/// once the other keys are applied.
fn apply_overrides(t: &mut Target, overrides: &[(String, Override)]) -> Result<(), String> {
    let mut secret_overrides = Vec::new();
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
                let parsed = o.values.iter().map(|v| super::evaluate::parse_attest(v)).collect::<Result<Vec<_>, _>>();
                let parsed = parsed.map_err(|e| format!("invalid value for attest: {e}"))?.concat();
                t.merge(&Target { attest: Some(parsed), ..Target::default() });
            }
            "policy" => {
                let parsed = o.values.iter().map(|v| super::evaluate::parse_policy(v)).collect::<Result<Vec<_>, _>>()?;
                match &mut t.policy {
                    Some(list) if o.append => list.extend(parsed),
                    _ => t.policy = Some(parsed),
                }
            }
            "resources" => t.resources.get_or_insert_with(Default::default).set(&sub()?, &value)?,
            "secret" => secret_overrides.push((sub()?, value)),
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
    for (id, value) in secret_overrides {
        update_secret(t, &id, &value)?;
    }
    Ok(())
}

/// `--set t.secret.<id>=src=…|env=…`: a new source for a secret the target declares.
fn update_secret(t: &mut Target, id: &str, value: &str) -> Result<(), String> {
    let Some(declared) = t.secret.iter_mut().flatten().find(|s| s.id == id) else {
        return Err(format!("secret {id:?} must be declared before it can be overridden"));
    };
    let parsed = super::evaluate::secrets_from(&hcl::Value::from(vec![value.to_string()]))?.unwrap_or_default();
    let next = parsed.into_iter().next().unwrap_or_default();
    if !next.id.is_empty() && next.id != id {
        return Err(format!("secret override id {:?} does not match declared secret {id:?}", next.id));
    }
    declared.src = next.src;
    declared.env = next.env;
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
    // Only outputs that all go to the local docker (or none) get an image push
    // added; any other export is left to the user (a registry one pushes already).
    let mut add = true;
    for o in outputs.iter_mut() {
        match o.get("type").map(String::as_str) {
            Some("docker") => {}
            Some("image") => {
                o.insert("push".into(), "true".into());
                add = false;
            }
            _ => add = false,
        }
    }
    if add {
        outputs.push(Attrs::from([("type".into(), "image".into()), ("push".into(), "true".into())]));
    }
}

fn set_load(outputs: &mut Vec<Attrs>, load: bool) {
    if !load {
        return;
    }
    for o in outputs.iter() {
        match o.get("type").map(String::as_str) {
            // A docker export to the engine (no file) already loads.
            Some("docker") if !o.contains_key("dest") => return,
            Some("docker" | "image" | "registry" | "oci") => {}
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
    /// The remote definition the config came from, whose tree contexts point into.
    input: Option<&'c Input>,
}

impl<'c> Resolver<'c> {
    fn new(config: &'c Config, overrides: &'c Overrides, input: Option<&'c Input>) -> Resolver<'c> {
        Resolver {
            input,
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

    /// Targets and groups a name reaches, depth first; a group shadows a target
    /// of its name, except inside itself (`group "foo" { targets = ["foo"] }`).
    /// The walk keeps its own stack: groups may nest arbitrarily deep.
    fn resolve_group(&self, name: &str, targets: &mut Vec<String>, seen: &mut HashSet<String>, groups: &mut Vec<String>) {
        let mut add_target = |name: &str| {
            if seen.insert(name.to_string()) {
                targets.push(name.to_string());
            }
        };
        // Each open group and the index of its next member.
        let mut open: Vec<(&Group, usize)> = Vec::new();
        let mut next = Some(name);
        loop {
            if let Some(name) = next.take() {
                match self.groups.get(name) {
                    None => add_target(name),
                    Some(group) if !groups.iter().any(|g| g == name) => {
                        groups.push(name.to_string());
                        open.push((group, 0));
                    }
                    Some(_) => {}
                }
            }
            let Some((group, index)) = open.last_mut() else { return };
            match group.targets.get(*index) {
                None => {
                    open.pop();
                }
                Some(member) => {
                    *index += 1;
                    if *member == group.name {
                        add_target(member);
                    } else {
                        next = Some(member);
                    }
                }
            }
        }
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
    /// the block, then its overrides); `visited` makes cycles stop silently, as in
    /// buildx. The walk keeps its own stack: chains may be arbitrarily long.
    fn inherit(&self, name: &str, memo: &mut HashMap<String, Target>, uses: &mut HashMap<String, usize>) -> Result<(), String> {
        /// A target being resolved: the parents merged so far, and the one
        /// being resolved now (its index in `inherits`).
        struct Open<'c> {
            own: &'c Target,
            merged: Target,
            next: usize,
            waiting: Option<usize>,
        }
        let mut visited = HashSet::new();
        let open_target = |name: &str| -> Result<Open<'c>, String> {
            let own = self.targets.get(name).ok_or_else(|| format!("failed to find target {name}"))?;
            Ok(Open { own, merged: Target { name: name.to_string(), ..Target::default() }, next: 0, waiting: None })
        };
        if memo.contains_key(name) {
            return Ok(());
        }
        visited.insert(name.to_string());
        let mut stack = vec![open_target(name)?];
        while let Some(top) = stack.last_mut() {
            if let Some(parent) = top.own.inherits.get(top.next) {
                let index = top.next;
                top.next += 1;
                if !memo.contains_key(parent.as_str()) {
                    if !visited.insert(parent.clone()) {
                        continue;
                    }
                    top.waiting = Some(index);
                    stack.push(open_target(parent)?);
                    continue;
                }
                merge_parent(top, index, parent, memo, uses);
                continue;
            }
            let done = stack.pop().expect("the loop holds one");
            let mut t = done.merged;
            t.merge(done.own);
            t.inherits.clear();
            if let Some(o) = self.overrides.0.get(t.name.as_str()) {
                apply_overrides(&mut t, o)?;
            }
            t.normalize();
            let name = t.name.clone();
            memo.insert(name.clone(), t);
            if let Some(child) = stack.last_mut() {
                let index = child.waiting.take().expect("a child waits for its parent");
                merge_parent(child, index, &name, memo, uses);
            }
        }
        return Ok(());

        /// Merges a resolved parent into the target inheriting it; the first
        /// parent, needed by no one else, is moved rather than copied.
        fn merge_parent(child: &mut Open, index: usize, parent: &str, memo: &mut HashMap<String, Target>, uses: &mut HashMap<String, usize>) {
            let left = uses.get_mut(parent).map(|n| {
                *n -= 1;
                *n
            });
            match (index, left) {
                (0, Some(0)) => {
                    let name = std::mem::take(&mut child.merged.name);
                    child.merged = memo.remove(parent).expect("resolved");
                    child.merged.name = name;
                }
                _ => child.merged.merge(&memo[parent]),
            }
        }
    }

    /// A target fully resolved, with the default context and Dockerfile.
    fn resolve_target(&self, name: &str) -> Result<Target, BakeError> {
        let mut memo = HashMap::new();
        let mut uses = self.inherit_uses(name);
        self.inherit(name, &mut memo, &mut uses).map_err(BakeError::Resolve)?;
        let mut t = memo.remove(name).ok_or_else(|| BakeError::Resolve(format!("failed to find target {name}")))?;
        let default_context = t.default_context_base.as_deref().map_or_else(|| ".".into(), |base| super::file_relative::rebase(base, "."));
        let mut context = t.context.take().unwrap_or(default_context);
        if let Some(input) = self.input {
            if let Some(remote) = super::remote::context_in(input, &context, name)? {
                context = remote;
            }
        }
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

    /// Adds the targets `t` links to (`target:` contexts), and theirs, as
    /// cacheonly; a link back into the chain is an error. The walk keeps its own
    /// stack: chains may be arbitrarily long.
    fn load_links(&self, name: &str, t: &Target, all: &mut BTreeMap<String, Target>) -> Result<(), BakeError> {
        /// A target whose links are being followed, and the next one to follow.
        struct Open {
            name: String,
            target: Target,
            links: Vec<String>,
            next: usize,
        }
        let open = |name: &str, target: Target| {
            let links = target.contexts.values().filter_map(|v| v.strip_prefix("target:")).map(str::to_string).collect();
            Open { name: name.to_string(), target, links, next: 0 }
        };
        let mut stack = vec![open(name, t.clone())];
        while let Some(top) = stack.last_mut() {
            let Some(linked) = top.links.get(top.next).cloned() else {
                let done = stack.pop().expect("the loop holds one");
                if let Some(dependent) = stack.last_mut() {
                    // A dependent is entitled to what its links are.
                    let inherited: Vec<String> = done.target.entitlements.iter().flatten().cloned().collect();
                    for target in [Some(&mut dependent.target), all.get_mut(&dependent.name)].into_iter().flatten() {
                        let own = target.entitlements.get_or_insert_with(Vec::new);
                        for e in &inherited {
                            if !own.contains(e) {
                                own.push(e.clone());
                            }
                        }
                    }
                    check_platforms(&dependent.name, &dependent.target, &done.name, &done.target).map_err(BakeError::Resolve)?;
                }
                continue;
            };
            top.next += 1;
            if linked == top.name {
                return Err(BakeError::Resolve(format!("target {linked} cannot link to itself")));
            }
            if stack.iter().any(|o| o.name == linked) {
                return Err(BakeError::Resolve(format!("infinite loop from {} to {linked}", stack.last().expect("not empty").name)));
            }
            let t2 = match all.get(&linked) {
                Some(t2) => t2.clone(),
                None => {
                    let mut t2 = self.resolve_target(&linked)?;
                    t2.output = Some(vec![Attrs::from([("type".into(), "cacheonly".into())])]);
                    all.insert(linked.clone(), t2.clone());
                    t2
                }
            };
            stack.push(open(&linked, t2));
        }
        Ok(())
    }
}

/// A multi-platform target can only use a multi-platform link that has all its platforms.
fn check_platforms(name: &str, t: &Target, linked: &str, t2: &Target) -> Result<(), String> {
    let (p1, p2) = (t.platforms.clone().unwrap_or_default(), t2.platforms.clone().unwrap_or_default());
    if p1.len() > 1 && p2.len() > 1 {
        let missing: Vec<&str> = p1.iter().filter(|p| !p2.contains(p)).map(String::as_str).collect();
        if !missing.is_empty() {
            return Err(format!("target {linked} can't be used by {name} because it is missing platforms {}", missing.join(" ")));
        }
    }
    Ok(())
}

impl Config {
    /// buildx's `ReadTargets`: the named targets (globs and groups expanded), their
    /// groups, and the targets they link to through `target:` contexts.
    /// `input` is the remote definition the config was read from, if any.
    pub fn select(&self, names: &[String], overrides: &Overrides, input: Option<&Input>) -> Result<Selection, BakeError> {
        let resolver = Resolver::new(self, overrides, input);
        let mut targets = BTreeMap::new();
        let mut groups = BTreeMap::new();
        let mut expanded = Vec::new();
        let mut seen = HashSet::new();
        for cli_name in names {
            for name in resolver.expand_name(cli_name).map_err(BakeError::Resolve)? {
                if seen.insert(name.clone()) {
                    expanded.push(name.clone());
                }
                let (mut ts, mut gs) = (Vec::new(), Vec::new());
                resolver.resolve_group(&name, &mut ts, &mut HashSet::new(), &mut gs);
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
            resolver.load_links(&name, &t, &mut targets)?;
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
