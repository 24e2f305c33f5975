//! Ejecting: the equivalent Dockerfile for a target, for teams that leave.
//!
//! It builds the same image with the stock frontend (Docker 23+: heredocs,
//! `COPY --exclude`): same stages, cache ids, mounts, owners and config. Users are
//! created with a shell step that applies the same take-over policy to the
//! account files, so the base needs `/bin/sh`, `awk` and `mkdir`.

use std::fmt::Write;

use crate::spec::{
    Base, Command, Copy, Network, Owner, Run, RunMount, Sharing, Source, SourceMode, Spec, Stage, StageKind, Step,
};

use super::{cache_identity, config, plan, step_uid, Target};

/// The Dockerfile text for `target`.
pub fn dockerfile(spec: &Spec, target: &Target) -> String {
    let plan = plan(spec, target);
    let fixed_ids = target.variant.is_some_and(|v| v.uid.is_some() || v.gid.is_some());
    let mut out = String::new();
    let _ = writeln!(out, "# Ejected from {} by `leaven dockerfile --target {}`.", spec.file, target.name());
    let _ = writeln!(out, "# Builds the same image with the stock Dockerfile frontend (Docker 23+).\n");
    if !fixed_ids {
        let _ = writeln!(out, "ARG HOST_UID=1000\nARG HOST_GID=1000");
    }
    let eject = Eject { spec, target, users: &plan.users, fixed_ids };
    for name in &plan.stages {
        let stage = spec.stage(name).expect("planned stages exist");
        eject.stage(&mut out, stage);
    }
    out
}

struct Eject<'a> {
    spec: &'a Spec,
    target: &'a Target<'a>,
    users: &'a [crate::spec::User],
    /// A variant fixed the ids: write numbers, not `HOST_UID`.
    fixed_ids: bool,
}

impl Eject<'_> {
    /// `uid:gid` of a spec user, as the Dockerfile spells it: users whose ids
    /// follow the host stay parameterised by `HOST_UID`/`HOST_GID`.
    fn ids(&self, name: &str) -> Option<String> {
        let user = self.users.iter().find(|u| u.name == name)?;
        let follows_host = self.spec.user(name).is_some_and(|u| u.follows_host);
        Some(if follows_host && !self.fixed_ids {
            "${HOST_UID}:${HOST_GID}".to_string()
        } else {
            format!("{}:{}", user.uid, user.gid)
        })
    }

    fn owner(&self, owner: &Owner) -> String {
        match owner {
            Owner::Ids { uid, gid } => format!("{uid}:{gid}"),
            Owner::User(name) => self.ids(name).unwrap_or_else(|| name.clone()),
        }
    }

    fn stage(&self, out: &mut String, stage: &Stage) {
        let from = match &stage.from {
            Base::Image(r) => r.clone(),
            Base::Stage(s) => s.clone(),
            Base::Scratch => "scratch".into(),
        };
        let _ = writeln!(out, "\nFROM {from} AS {}", stage.name);
        let runs_as = super::image_user_name(self.spec, stage);
        if stage.kind == StageKind::Image && !self.users.is_empty() {
            if !self.fixed_ids {
                let _ = writeln!(out, "ARG HOST_UID\nARG HOST_GID");
            }
            self.create_users(out);
        }
        for (k, v) in &stage.settings.env {
            let _ = writeln!(out, "ENV {k}={}", quote(v));
        }
        if let Some(dir) = &stage.settings.workdir {
            // An image's workdir belongs to its user, as leaven makes it.
            if let Some(ids) = runs_as.as_deref().and_then(|u| self.ids(u)) {
                let _ = writeln!(out, "RUN mkdir -p {dir} && chown {ids} {dir}");
            }
            let _ = writeln!(out, "WORKDIR {dir}");
        }
        let mounted = stage.name == self.target.stage.name && self.target.variant.is_some_and(|v| v.source == SourceMode::Mount);
        for step in &stage.steps {
            match step {
                Step::Run(run) => self.run(out, run),
                Step::Copy(copy) if mounted && copy.from == Source::Context => {
                    let owner = copy.owner.as_ref().map(|o| self.owner(o)).or_else(|| runs_as.as_deref().and_then(|u| self.ids(u)));
                    let _ = write!(out, "RUN mkdir -p {}", copy.dest);
                    if let Some(owner) = owner {
                        let _ = write!(out, " && chown {owner} {}", copy.dest);
                    }
                    let _ = writeln!(out, " # the source is mounted here at run time");
                }
                Step::Copy(copy) => self.copy(out, copy),
            }
        }
        self.config(out, stage, runs_as.as_deref());
    }

    fn create_users(&self, out: &mut String) {
        let mut script = String::from("RUN set -e");
        for user in self.users {
            let ids = self.ids(&user.name).unwrap_or_default();
            let (uid, gid) = ids.split_once(':').unwrap_or(("", ""));
            let _ = write!(
                script,
                "; \\\n    awk -F: -v n={name} -v i={uid} '$1 != n && $3 != i' /etc/passwd > /tmp/passwd; \\\n    echo \"{name}:x:{uid}:{gid}::{home}:{shell}\" >> /tmp/passwd; mv /tmp/passwd /etc/passwd; \\\n    awk -F: -v n={name} -v i={gid} '$1 != n && $3 != i' /etc/group > /tmp/group; \\\n    echo \"{name}:x:{gid}:\" >> /tmp/group; mv /tmp/group /etc/group; \\\n    mkdir -p {home}; chown {uid}:{gid} {home}",
                name = user.name,
                home = user.home,
                shell = user.shell,
            );
        }
        let _ = writeln!(out, "{script}");
    }

    fn run(&self, out: &mut String, run: &Run) {
        let mut line = String::from("RUN");
        let uid_of_step = step_uid(self.users, run);
        for mount in &run.mounts {
            line.push_str(" \\\n    --mount=");
            line.push_str(&match mount {
                RunMount::Cache { target, id, sharing, owner, mode } => {
                    let (id, sharing) = cache_identity(target, id, *sharing, uid_of_step);
                    let sharing = match sharing {
                        Sharing::Shared => "shared",
                        Sharing::Private => "private",
                        Sharing::Locked => "locked",
                    };
                    let mut m = format!("type=cache,target={target},id={id},sharing={sharing}");
                    let owner = owner.clone().or_else(|| run.user.clone().map(Owner::User));
                    if let Some(owner) = owner {
                        let ids = self.owner(&owner);
                        let (u, g) = ids.split_once(':').unwrap_or((&ids, &ids));
                        let _ = write!(m, ",uid={u},gid={g}");
                    }
                    if *mode != 0o755 {
                        let _ = write!(m, ",mode={mode:o}");
                    }
                    m
                }
                RunMount::Bind { from, source, target, rw } => {
                    let mut m = format!("type=bind,source={source},target={}", target.clone().unwrap_or_else(|| source.clone()));
                    match from {
                        Source::Context => {}
                        Source::Stage(s) => {
                            let _ = write!(m, ",from={s}");
                        }
                        Source::Image(r) => {
                            let _ = write!(m, ",from={r}");
                        }
                    }
                    if *rw {
                        m.push_str(",rw");
                    }
                    m
                }
                RunMount::Secret { id, target, env, required, mode, .. } => {
                    let mut m = format!("type=secret,id={id}");
                    if let Some(t) = target {
                        let _ = write!(m, ",target={t}");
                    }
                    if let Some(e) = env {
                        let _ = write!(m, ",env={e}");
                    }
                    if *required {
                        m.push_str(",required=true");
                    }
                    if *mode != 0o400 {
                        let _ = write!(m, ",mode={mode:o}");
                    }
                    m
                }
                RunMount::Ssh { id, target, required } => {
                    let mut m = format!("type=ssh,id={id}");
                    if let Some(t) = target {
                        let _ = write!(m, ",target={t}");
                    }
                    if *required {
                        m.push_str(",required=true");
                    }
                    m
                }
                RunMount::Tmpfs { target, size } => match size {
                    Some(size) => format!("type=tmpfs,target={target},size={size}"),
                    None => format!("type=tmpfs,target={target}"),
                },
            });
        }
        match run.network {
            Network::Default => {}
            Network::None => line.push_str(" \\\n    --network=none"),
            Network::Host => line.push_str(" \\\n    --network=host"),
        }
        let user_switch = run.user.as_deref().map(|u| self.ids(u).unwrap_or_else(|| u.to_string()));
        if let Some(user) = &user_switch {
            let _ = writeln!(out, "USER {user}");
        }
        // The step's own directory and env, without changing the stage's: exported
        // first, so they hold for every command of a shell line.
        let cd = run.workdir.as_ref().map(|d| format!("cd {d} && ")).unwrap_or_default();
        let env: Vec<String> = run.env.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
        let export = if env.is_empty() { String::new() } else { format!("export {} && ", env.join(" ")) };
        let command = match &run.command {
            Command::Shell(text) => format!("{export}{cd}{}", text.replace('\n', " \\\n    ")),
            Command::Exec(args) if export.is_empty() && cd.is_empty() => json_list(args),
            Command::Exec(args) => format!("{export}{cd}exec {}", shell_words(args)),
        };
        let _ = writeln!(out, "{line} \\\n    {command}");
        if user_switch.is_some() {
            let _ = writeln!(out, "USER root");
        }
    }

    fn copy(&self, out: &mut String, copy: &Copy) {
        if !copy.include.is_empty() {
            // COPY cannot filter by inclusion: it copies a superset, which builds
            // the same files but reruns later steps more often.
            let _ = writeln!(out, "# leaven copies only {} of this (COPY has no include filter)", copy.include.join(" "));
        }
        let mut line = String::from("COPY");
        match &copy.from {
            Source::Context => {}
            Source::Stage(s) => {
                let _ = write!(line, " --from={s}");
            }
            Source::Image(r) => {
                let _ = write!(line, " --from={r}");
            }
        }
        if let Some(owner) = &copy.owner {
            let _ = write!(line, " --chown={}", self.owner(owner));
        }
        if let Some(mode) = copy.mode {
            let _ = write!(line, " --chmod={mode:o}");
        }
        for pattern in &copy.exclude {
            let _ = write!(line, " --exclude={pattern}");
        }
        if copy.link {
            line.push_str(" --link");
        }
        let dest = if copy.sources.len() > 1 && !copy.dest.ends_with('/') { format!("{}/", copy.dest) } else { copy.dest.clone() };
        let _ = writeln!(out, "{line} {} {dest}", copy.sources.join(" "));
    }

    fn config(&self, out: &mut String, stage: &Stage, runs_as: Option<&str>) {
        let s = &stage.settings;
        if !s.on_start.is_empty() {
            let script = config::entrypoint_script(&s.on_start);
            let _ = writeln!(out, "COPY --chmod=755 <<'LEAVEN_ENTRYPOINT' {}\n{script}LEAVEN_ENTRYPOINT", config::ENTRYPOINT_HELPER);
        }
        if stage.kind != StageKind::Image {
            return;
        }
        if let Some(user) = runs_as.or(s.user.as_deref()) {
            let _ = writeln!(out, "USER {user}");
        }
        let mut labels: Vec<(String, String)> = s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if let Some(url) = &s.source_url {
            labels.push(("org.opencontainers.image.source".into(), url.clone()));
        }
        if let Some(revision) = &s.revision {
            labels.push(("org.opencontainers.image.revision".into(), revision.clone()));
        }
        if let Some(created) = self.spec.source_date_epoch.and_then(config::rfc3339) {
            labels.push(("org.opencontainers.image.created".into(), created));
        }
        for (k, v) in labels {
            let _ = writeln!(out, "LABEL {}={}", quote(&k), quote(&v));
        }
        for port in &s.expose {
            let _ = writeln!(out, "EXPOSE {port}");
        }
        if !s.volumes.is_empty() {
            let _ = writeln!(out, "VOLUME {}", json_list(&s.volumes));
        }
        if let Some(signal) = &s.stop_signal {
            let _ = writeln!(out, "STOPSIGNAL {signal}");
        }
        if let Some(check) = &s.healthcheck {
            let mut line = String::from("HEALTHCHECK");
            for (flag, ns) in [
                ("interval", check.interval),
                ("timeout", check.timeout),
                ("start-period", check.start_period),
                ("start-interval", check.start_interval),
            ] {
                if ns != 0 {
                    let _ = write!(line, " --{flag}={}", duration(ns));
                }
            }
            if check.retries != 0 {
                let _ = write!(line, " --retries={}", check.retries);
            }
            let test = match check.test.first().map(String::as_str) {
                Some("NONE") => "NONE".to_string(),
                Some("CMD-SHELL") => format!("CMD {}", check.test[1..].join(" ")),
                _ => format!("CMD {}", json_list(&check.test[1..])),
            };
            let _ = writeln!(out, "{line} {test}");
        }
        let mut entrypoint = s.entrypoint.clone();
        if !s.on_start.is_empty() {
            let mut with_helper = vec![config::ENTRYPOINT_HELPER.to_string()];
            with_helper.extend(entrypoint.unwrap_or_default());
            entrypoint = Some(with_helper);
        }
        if let Some(e) = entrypoint {
            let _ = writeln!(out, "ENTRYPOINT {}", json_list(&e));
        }
        if let Some(cmd) = &s.cmd {
            let _ = writeln!(out, "CMD {}", json_list(cmd));
        }
    }
}

fn shell_words(args: &[String]) -> String {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{}'", a.replace('\'', "'\\''"))).collect();
    quoted.join(" ")
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("strings serialize")
}

/// A value for ENV/LABEL: quoted when it has spaces or quotes.
fn quote(value: &str) -> String {
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c)) {
        value.to_string()
    } else {
        serde_json::to_string(value).expect("strings serialize")
    }
}

/// Nanoseconds as the shortest Go duration text (`30s`, `1m30s`, `500ms`).
fn duration(ns: i64) -> String {
    if ns % 1_000_000_000 != 0 {
        return format!("{}ms", ns / 1_000_000);
    }
    let secs = ns / 1_000_000_000;
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(duration(30_000_000_000), "30s");
        assert_eq!(duration(90_000_000_000), "1m30s");
        assert_eq!(duration(500_000_000), "500ms");
        assert_eq!(duration(120_000_000_000), "2m");
    }
}
