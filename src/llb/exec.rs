//! Exec ops: a process run on a state, with its mounts.

use std::sync::Arc;

use crate::proto::pb;

use super::caps::LlbCap;
use super::state::{clean_path_owned, Body, InputList, Output, Platform, State, Vertex, VertexMeta};

/// How cache mounts with the same id are shared between concurrent builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheSharing {
    /// Everyone writes the same directory at once.
    #[default]
    Shared,
    /// A concurrent build gets its own fresh directory.
    Private,
    /// A concurrent build waits (apt and npm caches are not safe to share).
    Locked,
}

impl CacheSharing {
    fn to_pb(self) -> pb::CacheSharingOpt {
        match self {
            CacheSharing::Shared => pb::CacheSharingOpt::Shared,
            CacheSharing::Private => pb::CacheSharingOpt::Private,
            CacheSharing::Locked => pb::CacheSharingOpt::Locked,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// The engine's default network (with access to the outside).
    #[default]
    Sandbox,
    Host,
    None,
}

/// What is mounted at one path of a run.
#[derive(Debug, Clone)]
pub enum MountKind {
    /// A state's filesystem (or a subpath of it). Read-only unless `readonly` is false;
    /// a writable bind produces an output unless `discard_writes` is set.
    Bind { source: State, selector: Option<String>, readonly: bool, discard_writes: bool },
    /// A persistent directory kept by the engine across builds, keyed by `id`.
    /// `base` seeds it (the Dockerfile frontend uses this for owner and mode).
    Cache { id: String, sharing: CacheSharing, base: Option<(State, String)> },
    Tmpfs { size: Option<i64> },
    Secret { id: String, uid: u32, gid: u32, mode: u32, optional: bool },
    Ssh { id: String, uid: u32, gid: u32, mode: u32, optional: bool },
}

#[derive(Debug, Clone)]
pub struct Mount {
    pub dest: String,
    pub kind: MountKind,
}

/// A process to run on a state. Fields left `None` come from the state.
#[derive(Debug, Clone, Default)]
pub struct Exec {
    pub args: Vec<String>,
    /// Variables added on top of the state's environment for this run only.
    pub env: Vec<(String, String)>,
    pub cwd: Option<String>,
    pub user: Option<String>,
    pub network: NetworkMode,
    pub mounts: Vec<Mount>,
    /// Secrets given to the process as environment variables (`exec.secretenv`).
    pub secret_env: Vec<SecretEnv>,
    /// Remove the directories the engine made for mount targets (`/run/secrets`,
    /// a bind's parents), not only the target itself, so they stay out of the
    /// layer. Only on BuildKit 0.11+: an older engine drops the field, and its
    /// digest of the op would then differ from ours.
    pub remove_mount_stubs: bool,
    pub meta: VertexMeta,
}

/// A secret exposed as an environment variable rather than a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEnv {
    pub name: String,
    pub id: String,
    pub optional: bool,
}

/// The result of a run: its root filesystem and any writable bind outputs.
#[derive(Debug, Clone)]
pub struct ExecState {
    base: State,
    vertex: Arc<Vertex>,
}

impl ExecState {
    /// The root filesystem after the run, with the base state's defaults.
    pub fn root(&self) -> State {
        self.mount("/").expect("every run has a writable root")
    }

    /// The filesystem of a writable bind mount after the run.
    pub fn mount(&self, dest: &str) -> Option<State> {
        // The op's mounts say which has which output.
        let Body::Op(pb::op::Op::Exec(exec)) = &self.vertex.body else { return None };
        let index = exec.mounts.iter().find(|m| m.output >= 0 && m.dest == dest)?.output;
        Some(self.base.with_output(Some(Output { vertex: self.vertex.clone(), index })))
    }
}

/// One mount as it will be marshalled, before inputs get their indexes. It
/// owns the mount: what the op keeps (ids, paths) is moved into it.
struct PendingMount {
    dest: String,
    source: Option<Output>,
    selector: String,
    readonly: bool,
    has_output: bool,
    kind: MountKind,
}

impl State {
    /// Runs a process on this state. The state's filesystem is mounted writable at `/`.
    pub fn run(&self, exec: Exec) -> ExecState {
        // Taken apart, so that what the op keeps is moved into it, not copied.
        let Exec { args, env: extra_env, cwd, user, network, mounts: exec_mounts, secret_env, remove_mount_stubs, mut meta } = exec;
        let root = MountKind::Bind {
            source: self.clone(),
            selector: None,
            readonly: false,
            discard_writes: false,
        };
        let mut pending: Vec<PendingMount> = Vec::with_capacity(1 + exec_mounts.len());
        pending.push(pending_mount("/".to_string(), root));
        pending.extend(exec_mounts.into_iter().map(|m| pending_mount(clean_path_owned(m.dest), m.kind)));
        // Go's llb sorts mounts by destination; outputs are numbered in that order.
        // Secrets and ssh sockets go last, as BuildKit's own client puts them.
        pending.sort_by(|a, b| {
            let late = |m: &PendingMount| matches!(m.kind, MountKind::Secret { .. } | MountKind::Ssh { .. });
            late(a).cmp(&late(b)).then_with(|| a.dest.cmp(&b.dest))
        });

        meta.caps.insert(LlbCap::ExecMetaBase);
        let mut inputs = InputList::default();
        let mut outputs = 0;
        let mut mounts = Vec::with_capacity(pending.len());
        for m in pending {
            let input = inputs.index_of(m.source.as_ref());
            let output = if m.has_output {
                outputs += 1;
                outputs - 1
            } else {
                -1
            };
            mounts.push(mount_to_pb(m, input, output, &mut meta));
        }

        let env = merged_env(self.env_list(), &extra_env);
        let network_mode = match network {
            NetworkMode::Sandbox => pb::NetMode::Unset,
            NetworkMode::Host => pb::NetMode::Host,
            NetworkMode::None => pb::NetMode::None,
        };
        if network != NetworkMode::Sandbox {
            meta.caps.insert(LlbCap::ExecMetaNetwork);
        }
        let cwd = cwd.unwrap_or_else(|| self.get_cwd().to_string());
        if !secret_env.is_empty() {
            meta.caps.insert(LlbCap::ExecSecretEnv);
        }
        let secretenv = secret_env.into_iter().map(|s| pb::SecretEnv { id: s.id, name: s.name, optional: s.optional }).collect();
        let op = pb::ExecOp {
            meta: Some(pb::Meta {
                args,
                env,
                cwd,
                user: user.or_else(|| self.get_user().map(str::to_string)).unwrap_or_default(),
                remove_mount_stubs_recursive: remove_mount_stubs,
                ..Default::default()
            }),
            mounts,
            network: network_mode as i32,
            secretenv,
            ..Default::default()
        };
        let platform = self.get_shared_platform().cloned().unwrap_or_else(|| Arc::new(Platform::linux_amd64()));
        let vertex = Vertex::new(inputs.into_outputs(), pb::op::Op::Exec(op), Some(platform), meta);
        ExecState { base: self.clone(), vertex }
    }
}

fn pending_mount(dest: String, mut kind: MountKind) -> PendingMount {
    let (source, selector, readonly, has_output) = match &mut kind {
        MountKind::Bind { source, selector, readonly, discard_writes } => (
            source.output().cloned(),
            selector.take().unwrap_or_default(),
            *readonly,
            !*readonly && !*discard_writes,
        ),
        MountKind::Cache { base, .. } => match base {
            Some((state, selector)) => (state.output().cloned(), std::mem::take(selector), false, false),
            None => (None, String::new(), false, false),
        },
        MountKind::Tmpfs { .. } => (None, String::new(), false, false),
        MountKind::Secret { .. } | MountKind::Ssh { .. } => (None, String::new(), true, false),
    };
    PendingMount { dest, source, selector, readonly, has_output, kind }
}

fn mount_to_pb(m: PendingMount, input: i64, output: i64, meta: &mut VertexMeta) -> pb::Mount {
    if !m.selector.is_empty() {
        meta.caps.insert(LlbCap::ExecMountSelector);
    }
    let mut mount = pb::Mount { input, output, readonly: m.readonly, ..Default::default() };
    match m.kind {
        MountKind::Bind { discard_writes, readonly, .. } => {
            mount.mount_type = pb::MountType::Bind as i32;
            if m.dest != "/" {
                meta.caps.insert(LlbCap::ExecMountBind);
            }
            if discard_writes && !readonly {
                meta.caps.insert(LlbCap::ExecMountBindReadWriteNoOutput);
            }
        }
        MountKind::Cache { id, sharing, .. } => {
            mount.mount_type = pb::MountType::Cache as i32;
            mount.cache_opt = Some(pb::CacheOpt { id, sharing: sharing.to_pb() as i32 });
            meta.caps.insert(LlbCap::ExecMountCache);
            meta.caps.insert(LlbCap::ExecMountCacheSharing);
        }
        MountKind::Tmpfs { size } => {
            mount.mount_type = pb::MountType::Tmpfs as i32;
            // Size needs a v0.10 cap; without a size the mount works everywhere.
            if let Some(size) = size {
                mount.tmpfs_opt = Some(pb::TmpfsOpt { size });
                meta.caps.insert(LlbCap::ExecMountTmpfsSize);
            }
            meta.caps.insert(LlbCap::ExecMountTmpfs);
        }
        MountKind::Secret { id, uid, gid, mode, optional } => {
            mount.mount_type = pb::MountType::Secret as i32;
            mount.secret_opt = Some(pb::SecretOpt { id, uid, gid, mode, optional });
            meta.caps.insert(LlbCap::ExecMountSecret);
        }
        MountKind::Ssh { id, uid, gid, mode, optional } => {
            mount.mount_type = pb::MountType::Ssh as i32;
            mount.ssh_opt = Some(pb::SshOpt { id, uid, gid, mode, optional });
            meta.caps.insert(LlbCap::ExecMountSsh);
        }
    }
    mount.selector = m.selector;
    mount.dest = m.dest;
    mount
}

/// The state's environment with this run's additions (added keys replace),
/// as `KEY=value` lines in first-set order.
fn merged_env(base: &[(Arc<str>, Arc<str>)], extra: &[(String, String)]) -> Vec<String> {
    let line = |k: &str, v: &str| [k, "=", v].concat();
    // An added key set twice has its last value, at its first place.
    let added = |k: &str| extra.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let mut env = Vec::with_capacity(base.len() + extra.len());
    env.extend(base.iter().map(|(k, v)| line(k, added(k).unwrap_or(v))));
    for (i, (k, v)) in extra.iter().enumerate() {
        if !base.iter().any(|(key, _)| &**key == k) && !extra[..i].iter().any(|(key, _)| key == k) {
            env.push(line(k, added(k).unwrap_or(v)));
        }
    }
    env
}
