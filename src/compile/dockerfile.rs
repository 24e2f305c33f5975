//! Ejecting: the equivalent Dockerfile for a target, for teams that leave.
//!
//! It builds the same image with the stock frontend (Docker 23+: heredocs,
//! `COPY --exclude`) from the same [`Plan`] the compiler reads: same stages,
//! users, cache ids, mounts, owners and config. Ids that follow the host stay
//! `HOST_UID`/`HOST_GID` build args. Users are created with a shell step that
//! applies the same take-over policy to the account files, so the base needs
//! `/bin/sh`, `awk` and `mkdir`.

use std::fmt::Write;

use crate::llb;
use crate::spec::{Base, Command, Network, Sharing, Source};

use super::plan::{CacheId, ConfigUser, Ids, Plan, PlannedMount, PlannedRun, PlannedStage, PlannedStep, RunAs};
use super::config;

/// The Dockerfile text for a target's plan.
pub fn dockerfile(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Ejected from {} by `leaven dockerfile --target {}`.", plan.spec.file, plan.target.name());
    let _ = writeln!(out, "# Builds the same image with the stock Dockerfile frontend (Docker 23+).\n");
    // The defaults are the ids this plan was made with.
    if let Some(user) = plan.users.iter().find(|u| u.uid_from_host) {
        let _ = writeln!(out, "ARG HOST_UID={}", user.uid);
    }
    if let Some(user) = plan.users.iter().find(|u| u.gid_from_host) {
        let _ = writeln!(out, "ARG HOST_GID={}", user.gid);
    }
    let eject = Eject { plan };
    for planned in &plan.stages {
        eject.stage(&mut out, planned);
    }
    out
}

struct Eject<'a> {
    plan: &'a Plan<'a>,
}

/// `uid:gid` as the Dockerfile spells it: host ids stay build args.
fn ids_text(ids: Ids) -> String {
    format!("{}:{}", uid_text(ids), gid_text(ids))
}

fn uid_text(ids: Ids) -> String {
    if ids.host_uid { "${HOST_UID}".to_string() } else { ids.uid.to_string() }
}

fn gid_text(ids: Ids) -> String {
    if ids.host_gid { "${HOST_GID}".to_string() } else { ids.gid.to_string() }
}

/// `USER` for a step's user. A base image's own user is assumed to be root.
fn user_text(user: &RunAs) -> String {
    match user {
        RunAs::Base | RunAs::Root => "root".into(),
        RunAs::Uid(ids) | RunAs::User { ids, .. } => ids_text(*ids),
    }
}

impl Eject<'_> {
    fn stage(&self, out: &mut String, planned: &PlannedStage) {
        let stage = planned.stage;
        let from = match &stage.from {
            Base::Image(r) => r.clone(),
            Base::Stage(s) => s.clone(),
            Base::Scratch => "scratch".into(),
        };
        let mut body = String::new();
        if planned.creates_users {
            self.create_users(&mut body);
        }
        for (k, v) in &planned.settings.env {
            let _ = writeln!(body, "ENV {k}={}", quote(v));
        }
        if let Some(workdir) = &planned.workdir {
            if workdir.owner.is_some() || workdir.mode != 0o755 {
                let _ = writeln!(body, "RUN {}", make_dir(workdir.path, workdir.owner, workdir.mode));
            }
            let _ = writeln!(body, "WORKDIR {}", workdir.path);
        }
        for step in &planned.steps {
            match step {
                PlannedStep::Run(run) => self.run(&mut body, run, &planned.starts_as),
                PlannedStep::MountPoint { copy, owner } => {
                    let _ = writeln!(body, "RUN {} # the source is mounted here at run time", make_dir(&copy.dest, *owner, 0o755));
                }
                PlannedStep::Dir { dir, owner } => {
                    let _ = writeln!(body, "RUN {}", make_dir(&dir.path, *owner, dir.mode));
                }
                PlannedStep::Copy { copy, owner } => {
                    if !copy.include.is_empty() {
                        // COPY cannot filter by inclusion: it copies a superset, which builds
                        // the same files but reruns later steps more often.
                        let _ = writeln!(body, "# leaven copies only {} of this (COPY has no include filter)", copy.include.join(" "));
                    }
                    let mut line = String::from("COPY");
                    match &copy.from {
                        Source::Context => {}
                        Source::Stage(s) | Source::Image(s) => {
                            let _ = write!(line, " --from={s}");
                        }
                    }
                    if let Some(owner) = owner {
                        let _ = write!(line, " --chown={}", ids_text(*owner));
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
                    let many = copy.sources.len() > 1 && !copy.dest.ends_with('/');
                    let dest = if many { format!("{}/", copy.dest) } else { copy.dest.clone() };
                    let _ = writeln!(body, "{line} {} {dest}", copy.sources.join(" "));
                }
            }
        }
        self.config(&mut body, planned);
        let _ = writeln!(out, "\nFROM {from} AS {}", stage.name);
        // A stage sees a global ARG only when it declares it; only those that use
        // the ids do, so the others' steps do not rebuild when they change.
        for arg in ["HOST_UID", "HOST_GID"] {
            if body.contains(&format!("${{{arg}}}")) {
                let _ = writeln!(out, "ARG {arg}");
            }
        }
        out.push_str(&body);
    }

    fn create_users(&self, out: &mut String) {
        let mut script = String::from("RUN set -e");
        for user in &self.plan.users {
            let ids = Ids { uid: user.uid, gid: user.gid, host_uid: user.uid_from_host, host_gid: user.gid_from_host };
            let (uid, gid) = (uid_text(ids), gid_text(ids));
            let _ = write!(
                script,
                "; \\\n    awk -F: -v n={name} -v i={uid} '$1 != n && $3 != i' /etc/passwd > /tmp/passwd; \\\n    echo \"{name}:x:{uid}:{gid}::{home}:{shell}\" >> /tmp/passwd; mv /tmp/passwd /etc/passwd; \\\n    awk -F: -v n={name} -v i={gid} '$1 != n && $3 != i' /etc/group > /tmp/group; \\\n    echo \"{name}:x:{gid}:\" >> /tmp/group; mv /tmp/group /etc/group; \\\n    for f in shadow:!::::::: gshadow:!::; do file=/etc/${{f%%:*}}; [ -f $file ] || continue; \\\n      awk -F: -v n={name} '$1 != n' $file > /tmp/accounts; echo \"{name}:${{f#*:}}\" >> /tmp/accounts; cat /tmp/accounts > $file; rm /tmp/accounts; done; \\\n    mkdir -p {home}; if [ -d /etc/skel ]; then cp -a /etc/skel/. {home}/; fi; chown -R {uid}:{gid} {home}",
                name = user.name,
                home = user.home,
                shell = user.shell,
            );
        }
        let _ = writeln!(out, "{script}");
    }

    fn run(&self, out: &mut String, planned: &PlannedRun, stage_user: &RunAs) {
        let run = planned.run;
        let mut line = String::from("RUN");
        for mount in &planned.mounts {
            line.push_str(" \\\n    --mount=");
            line.push_str(&mount_text(mount, run.workdir.as_deref()));
        }
        match run.network {
            Network::Default => {}
            Network::None => line.push_str(" \\\n    --network=none"),
            Network::Host => line.push_str(" \\\n    --network=host"),
        }
        let switch = planned.user != *stage_user;
        if switch {
            let _ = writeln!(out, "USER {}", user_text(&planned.user));
        }
        // The step's own directory and env, without changing the stage's: exported
        // first, so they hold for every command of a shell line.
        let cd = run.workdir.as_ref().map(|d| format!("cd {d} && ")).unwrap_or_default();
        let env: Vec<String> = planned.env.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
        let export = if env.is_empty() { String::new() } else { format!("export {} && ", env.join(" ")) };
        let _ = match &run.command {
            // Several lines stay several commands: a heredoc is a script for the shell.
            Command::Shell(text) if text.contains('\n') => {
                writeln!(out, "{line} <<'LEAVEN_RUN'\n{export}{cd}{}\nLEAVEN_RUN", run.shell_line(text.trim_end_matches('\n')))
            }
            Command::Shell(text) => writeln!(out, "{line} \\\n    {export}{cd}{}", run.shell_line(text)),
            Command::Exec(args) if export.is_empty() && cd.is_empty() => writeln!(out, "{line} \\\n    {}", json_list(args)),
            Command::Exec(args) => writeln!(out, "{line} \\\n    {export}{cd}exec {}", shell_words(args)),
        };
        if switch {
            let _ = writeln!(out, "USER {}", user_text(stage_user));
        }
    }

    fn config(&self, out: &mut String, planned: &PlannedStage) {
        let stage = planned.stage;
        let s = &*planned.settings;
        if let Some(script) = planned.entrypoint_helper() {
            let _ = writeln!(out, "COPY --chmod=755 <<'LEAVEN_ENTRYPOINT' {}\n{script}LEAVEN_ENTRYPOINT", config::ENTRYPOINT_HELPER);
        }
        match planned.config_user() {
            Some(ConfigUser::Name(name)) => {
                let _ = writeln!(out, "USER {name}");
            }
            Some(ConfigUser::Ids(ids)) => {
                let _ = writeln!(out, "USER {}", ids_text(ids));
            }
            None => {}
        }
        let mut labels: Vec<(String, String)> = s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if let Some(url) = &s.source_url {
            labels.push(("org.opencontainers.image.source".into(), url.clone()));
        }
        if let Some(revision) = &s.revision {
            labels.push(("org.opencontainers.image.revision".into(), revision.clone()));
        }
        let is_target = stage.name == self.plan.target.stage.name;
        if let (true, Some(created)) = (is_target, self.plan.spec.source_date_epoch.and_then(config::rfc3339)) {
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
        if let Some(e) = planned.entrypoint() {
            let _ = writeln!(out, "ENTRYPOINT {}", json_list(&e));
        }
        if let Some(cmd) = &s.cmd {
            let _ = writeln!(out, "CMD {}", json_list(cmd));
        }
    }
}

/// A shell line making a directory (and its parents) with its owner and mode.
fn make_dir(path: &str, owner: Option<Ids>, mode: u32) -> String {
    let mut line = format!("mkdir -p {path}");
    if let Some(owner) = owner {
        let _ = write!(line, " && chown {} {path}", ids_text(owner));
    }
    if mode != 0o755 {
        let _ = write!(line, " && chmod {mode:o} {path}");
    }
    line
}

/// One `--mount=` value. A bind without a target goes where leaven puts it: the
/// source path under the step's workdir (WORKDIR when the step sets none).
fn mount_text(mount: &PlannedMount, step_workdir: Option<&str>) -> String {
    match mount {
        PlannedMount::Cache { target, id, sharing, owner, mode } => {
            let id = match id {
                CacheId::Given(id) => id.clone(),
                CacheId::Default { tool, owner } => format!("leaven/{tool}-{}", uid_text(*owner)),
            };
            let sharing = match sharing {
                Sharing::Shared => "shared",
                Sharing::Private => "private",
                Sharing::Locked => "locked",
            };
            let mut m = format!("type=cache,target={target},id={id},sharing={sharing}");
            if !owner.is_root() {
                let _ = write!(m, ",uid={},gid={}", uid_text(*owner), gid_text(*owner));
            }
            if *mode != 0o755 {
                let _ = write!(m, ",mode={mode:o}");
            }
            m
        }
        PlannedMount::Bind { from, source, target, rw } => {
            let target = match (target, step_workdir) {
                (Some(t), _) => t.to_string(),
                (None, Some(dir)) if dir.starts_with('/') => llb::join_path(dir, source),
                (None, Some(dir)) => format!("{}/{source}", dir.trim_end_matches('/')),
                (None, None) => source.to_string(),
            };
            let mut m = format!("type=bind,source={source},target={target}");
            match from {
                Source::Context => {}
                Source::Stage(s) | Source::Image(s) => {
                    let _ = write!(m, ",from={s}");
                }
            }
            if *rw {
                m.push_str(",rw");
            }
            m
        }
        PlannedMount::Secret { id, target, env, required, mode, owner } => {
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
            if !owner.is_root() {
                let _ = write!(m, ",uid={},gid={}", uid_text(*owner), gid_text(*owner));
            }
            m
        }
        PlannedMount::Ssh { id, target, required, owner } => {
            let mut m = format!("type=ssh,id={id},target={target}");
            if *required {
                m.push_str(",required=true");
            }
            if !owner.is_root() {
                let _ = write!(m, ",uid={},gid={}", uid_text(*owner), gid_text(*owner));
            }
            m
        }
        PlannedMount::Tmpfs { target, size } => match size {
            Some(size) => format!("type=tmpfs,target={target},size={size}"),
            None => format!("type=tmpfs,target={target}"),
        },
    }
}

fn shell_words(args: &[String]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        config::push_shell_quoted(&mut out, arg);
    }
    out
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
