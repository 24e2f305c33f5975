//! The image config a stage produces: what `docker run` sees.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::image::{Fields, ImageConfig};
use crate::llb::{Platform, State};
use super::PlannedStage;
use crate::spec::ImageSettings;

/// Where the entrypoint helper lives in images that run start-up tasks.
pub const ENTRYPOINT_HELPER: &str = "/usr/local/bin/leaven-entrypoint";

/// The shell a shell-form run uses: the image's `Shell`, else `/bin/sh -c`.
pub fn shell(config: &ImageConfig) -> Vec<String> {
    config
        .config
        .rest
        .get("Shell")
        .and_then(|s| serde_json::from_str::<Vec<String>>(s.get()).ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

/// A POSIX shell script that runs the start-up tasks, then the command. Tasks
/// (migrations) run when the container starts, never when the image builds;
/// `LEAVEN_SKIP_ON_START=1` skips them, e.g. for a second worker container.
/// Where the source is mounted (`mounts`), it first says, in one line, when the
/// tree belongs to another UID than the container's: the files the app writes
/// there would not be the developer's, or could not be written at all.
pub fn entrypoint_script(tasks: &[String], mounts: &[String]) -> String {
    // Written into one buffer, with room for the fixed text and each part.
    let mut script = String::with_capacity(640 + tasks.iter().chain(mounts).map(|t| t.len() + 16).sum::<usize>());
    script.push_str("#!/bin/sh\n# Written by leaven: run the image's start-up tasks, then its command.\nset -e\n");
    if !mounts.is_empty() {
        script.push_str("for dir in");
        for mount in mounts {
            script.push(' ');
            push_shell_quoted(&mut script, mount);
        }
        script.push_str("; do\n  owner=$(stat -c %u \"$dir\" 2>/dev/null) || continue\n  if [ \"$owner\" != \"$(id -u)\" ]; then\n    fix=\"set HOST_UID=$owner (and HOST_GID) to match the tree, or chown the tree\"\n    [ \"$owner\" != 0 ] || fix=\"chown the tree to your user\"\n    echo \"leaven: $dir (the mounted source) belongs to UID $owner, but this container runs as UID $(id -u): $fix\" >&2\n    break\n  fi\ndone\n");
    }
    if !tasks.is_empty() {
        script.push_str("if [ \"${LEAVEN_SKIP_ON_START:-}\" != \"1\" ]; then\n");
        for task in tasks {
            script.push_str("  sh -c ");
            push_shell_quoted(&mut script, task);
            script.push('\n');
        }
        script.push_str("fi\n");
    }
    script.push_str("exec \"$@\"\n");
    script
}

/// `text` single-quoted for a POSIX shell, written onto `out`.
pub fn push_shell_quoted(out: &mut String, text: &str) {
    out.push('\'');
    for (i, part) in text.split('\'').enumerate() {
        if i > 0 {
            out.push_str("'\\''");
        }
        out.push_str(part);
    }
    out.push('\'');
}

/// The entrypoint a stage sets: its own `entrypoint`, with the start-up helper
/// in front when it has one ([`PlannedStage::entrypoint_helper`](super::PlannedStage::entrypoint_helper)).
/// Either replaces the base image's entrypoint (and, unless `cmd` is set, its
/// command), as ENTRYPOINT does.
pub fn entrypoint(settings: &ImageSettings, helper: bool) -> Option<Vec<String>> {
    if !helper {
        return settings.entrypoint.clone();
    }
    let own = settings.entrypoint.iter().flatten().cloned();
    Some(std::iter::once(ENTRYPOINT_HELPER.to_string()).chain(own).collect())
}

/// Applies what a stage sets to the config it inherited; `user` is the
/// stage's own (see [`PlannedStage::config_user`](super::PlannedStage::config_user)).
pub fn apply(config: &mut ImageConfig, planned: &PlannedStage, state: &State, user: Option<String>) {
    let s = &*planned.settings;
    config.set_env(state.env_list());
    config.config.working_dir = state.get_cwd().to_string();
    if let Some(user) = user {
        config.config.user = user;
    }
    if let Some(entrypoint) = planned.entrypoint() {
        config.config.entrypoint = Some(entrypoint);
        // As in a Dockerfile, a new entrypoint drops the base image's command.
        if s.cmd.is_none() {
            config.config.cmd = None;
        }
    }
    if let Some(cmd) = &s.cmd {
        config.config.cmd = Some(cmd.clone());
    }
    let mut labels = config.config.labels.take().unwrap_or_default();
    labels.extend(s.labels.clone());
    if let Some(url) = &s.source_url {
        labels.insert("org.opencontainers.image.source".into(), url.clone());
    }
    if let Some(revision) = &s.revision {
        labels.insert("org.opencontainers.image.revision".into(), revision.clone());
    }
    config.config.labels = Some(labels).filter(|l| !l.is_empty());
    let rest = &mut config.config.rest;
    let set_of = |items: &[String]| items.iter().map(|i| (i.clone(), json!({}))).collect::<Map<_, _>>();
    if !s.expose.is_empty() {
        merge_object(rest, "ExposedPorts", set_of(&s.expose));
    }
    if !s.volumes.is_empty() {
        merge_object(rest, "Volumes", set_of(&s.volumes));
    }
    if let Some(signal) = &s.stop_signal {
        rest.insert("StopSignal", signal);
    }
    if let Some(check) = &s.healthcheck {
        let mut value = json!({ "Test": check.test });
        for (key, n) in [
            ("Interval", check.interval),
            ("Timeout", check.timeout),
            ("StartPeriod", check.start_period),
            ("StartInterval", check.start_interval),
            ("Retries", check.retries),
        ] {
            if n != 0 {
                value[key] = json!(n);
            }
        }
        rest.insert("Healthcheck", &value);
    }
}

/// History entries for the layers a stage adds, made at SOURCE_DATE_EPOCH.
/// The exporter adds entries for layers the history lacks, at the time of the
/// build; ours keep a rebuild's image identical.
pub fn add_history(config: &mut ImageConfig, layers: &[String], epoch: i64) {
    #[derive(Serialize)]
    struct Entry<'a> {
        created: &'a str,
        created_by: &'a str,
        comment: &'a str,
    }
    let Some(created) = rfc3339(epoch) else { return };
    let entries: Vec<Entry> = layers.iter().map(|name| Entry { created: &created, created_by: name, comment: "leaven" }).collect();
    config.rest.extend_array("history", &entries);
}

/// Sets the object `key` to `add` merged into what it was (an object a base
/// set), or to `add` where it was none.
fn merge_object(rest: &mut Fields, key: &str, add: Map<String, Value>) {
    let mut merged = rest.get(key).and_then(|old| serde_json::from_str::<Map<String, Value>>(old.get()).ok()).unwrap_or_default();
    merged.extend(add);
    rest.insert(key, &merged);
}

/// What every returned config carries: the platform, and a build time only
/// when SOURCE_DATE_EPOCH gives one (so rebuilds are reproducible).
pub fn finish(config: &mut ImageConfig, platform: &Platform, source_date_epoch: Option<i64>) {
    config.architecture = platform.architecture.clone();
    config.os = platform.os.clone();
    config.variant = platform.variant.clone();
    config.rest.remove("created");
    if let Some(created) = source_date_epoch.and_then(rfc3339) {
        config.rest.insert("created", &created);
        config
            .config
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert("org.opencontainers.image.created".into(), created);
    }
}

/// Seconds since 1970 as an RFC 3339 UTC timestamp.
pub fn rfc3339(seconds: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(seconds, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_to_rfc3339() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000).unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn on_start_puts_the_helper_before_the_specs_entrypoint() {
        let mut settings = ImageSettings { entrypoint: Some(vec!["tini".into(), "--".into()]), ..Default::default() };
        assert_eq!(entrypoint(&settings, false), Some(vec!["tini".to_string(), "--".into()]));
        assert_eq!(entrypoint(&settings, true), Some(vec![ENTRYPOINT_HELPER.to_string(), "tini".into(), "--".into()]));
        settings.entrypoint = None;
        assert_eq!(entrypoint(&settings, true), Some(vec![ENTRYPOINT_HELPER.to_string()]), "the base's entrypoint is replaced");
    }

    #[test]
    fn entrypoint_runs_tasks_then_the_command() {
        let script = entrypoint_script(&["python manage.py migrate --noinput".into(), "echo 'hi'".into()], &[]);
        assert!(script.contains("  sh -c 'python manage.py migrate --noinput'\n"));
        assert!(script.contains("  sh -c 'echo '\\''hi'\\'''\n"));
        assert!(script.ends_with("exec \"$@\"\n"));
        assert!(!script.contains("stat"), "no owner check without a mounted source");
    }

    #[test]
    fn a_mounted_source_gets_one_line_when_its_owner_is_not_the_container() {
        let script = entrypoint_script(&[], &["/src".into()]);
        assert!(script.contains("for dir in '/src'; do"), "{script}");
        assert!(script.contains("belongs to UID $owner, but this container runs as UID $(id -u)"), "{script}");
        assert!(script.contains("    break\n"), "one line, however many mounts: {script}");
        assert!(!script.contains("LEAVEN_SKIP_ON_START"), "no tasks, no skip switch: {script}");
    }

    #[test]
    fn source_date_epoch_history_is_appended_to_the_bases_as_it_came() {
        let base = br#"{"history":[{"created":"2025-08-11T00:00:00Z","created_by":"RUN a 2\u003e/dev/null","comment":"\t"}],"rootfs":{"type":"layers"}}"#;
        let mut config = ImageConfig::parse(base).unwrap();
        add_history(&mut config, &["[app] copy \"x\"".into(), "[app] dir /data".into()], 0);
        assert_eq!(
            String::from_utf8(config.to_json()).unwrap(),
            concat!(
                r#"{"config":{},"history":[{"created":"2025-08-11T00:00:00Z","created_by":"RUN a 2\u003e/dev/null","comment":"\t"},"#,
                r#"{"created":"1970-01-01T00:00:00Z","created_by":"[app] copy \"x\"","comment":"leaven"},"#,
                r#"{"created":"1970-01-01T00:00:00Z","created_by":"[app] dir /data","comment":"leaven"}],"rootfs":{"type":"layers"}}"#
            )
        );
        let mut scratch = ImageConfig::default();
        add_history(&mut scratch, &["[app] dir /data".into()], 0);
        add_history(&mut scratch, &[], 0);
        assert_eq!(
            scratch.rest.get("history").unwrap().get(),
            r#"[{"created":"1970-01-01T00:00:00Z","created_by":"[app] dir /data","comment":"leaven"}]"#
        );
        let mut odd = ImageConfig::parse(br#"{"history":{"not":"an array"}}"#).unwrap();
        add_history(&mut odd, &["[app] dir /data".into()], 0);
        assert_eq!(odd.rest.get("history").unwrap().get(), r#"{"not":"an array"}"#, "left as it was");
    }

    #[test]
    fn exposed_ports_merge_into_the_bases() {
        let add = |ports: &[&str]| ports.iter().map(|p| (p.to_string(), json!({}))).collect::<Map<_, _>>();
        let mut config = ImageConfig::parse(br#"{"config":{"ExposedPorts":{"80/tcp":{},"8000/tcp":{}},"Volumes":null}}"#).unwrap();
        merge_object(&mut config.config.rest, "ExposedPorts", add(&["8000/tcp", "9000/tcp"]));
        merge_object(&mut config.config.rest, "Volumes", add(&["/data"]));
        assert_eq!(
            String::from_utf8(config.to_json()).unwrap(),
            r#"{"config":{"ExposedPorts":{"80/tcp":{},"8000/tcp":{},"9000/tcp":{}},"Volumes":{"/data":{}}}}"#
        );
    }
}
