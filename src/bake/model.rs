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

/// An `ssh` entry: printed as `{id, paths?}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ssh {
    pub id: String,
    pub paths: Vec<String>,
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
    pub attest: Option<Vec<Attrs>>,
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
    pub call: Option<String>,
    pub entitlements: Option<Vec<String>>,
    pub extra_hosts: BTreeMap<String, Option<String>>,
    pub inherits: Vec<String>,
    /// The block that defined the target last (its own, after `inherits`); `None` from compose.
    pub position: Option<Position>,
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
            for a in later {
                list.retain(|e| e.get("type") != a.get("type"));
                list.push(a.clone());
            }
        }
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
        if later.description.as_deref().is_some_and(|d| !d.is_empty()) {
            self.description.clone_from(&later.description);
        }
        extend(&mut self.entitlements, &later.entitlements);
        merge_map(&mut self.extra_hosts, &later.extra_hosts);
        self.inherits.extend(later.inherits.iter().cloned());
        replace(&mut self.position, &later.position);
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
            let mut kept: Vec<Attrs> = Vec::with_capacity(list.len());
            for a in list.drain(..) {
                kept.retain(|e| e.get("type") != a.get("type"));
                kept.push(a);
            }
            *list = kept;
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
