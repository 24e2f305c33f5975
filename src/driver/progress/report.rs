//! What is printed once the build is over: the output of failed vertices and
//! the warnings (as buildx prints them), and one line per target.

use std::io::{self, Write};
use std::time::Duration;

use crate::proto::control::VertexWarning;

use super::trace::{NodeId, Trace};

/// progressui's `printErrorLogs`: every failed (not cancelled) vertex, in the
/// order they started, with the output `lines_of` gives for it.
pub(crate) fn write_failures<'a>(
    out: &mut dyn Write,
    trace: &'a Trace,
    lines_of: impl Fn(NodeId) -> Vec<&'a [u8]>,
) -> io::Result<()> {
    for &id in trace.started() {
        let node = trace.node(id);
        if !node.failed() {
            continue;
        }
        writeln!(out, "------")?;
        writeln!(out, " > {}:", node.name)?;
        for line in lines_of(id) {
            out.write_all(line)?;
            writeln!(out)?;
        }
        writeln!(out, "------")?;
    }
    Ok(())
}

/// buildx's warning list, each warning once whichever vertex (or target) reported it.
pub(crate) fn distinct_warnings(warnings: Vec<VertexWarning>) -> Vec<VertexWarning> {
    let mut seen: Vec<VertexWarning> = Vec::new();
    let mut distinct = Vec::new();
    for warning in warnings {
        let mut key = warning.clone();
        key.vertex.clear();
        if let Some(info) = key.info.as_mut() {
            info.definition = None;
        }
        if !seen.contains(&key) {
            seen.push(key);
            distinct.push(warning);
        }
    }
    distinct
}

/// buildx's `printWarnings` (without its hint about `docker --debug`, which
/// leaven does not have): a yellow count, then one line per warning.
pub(crate) fn write_warnings(out: &mut dyn Write, warnings: &[VertexWarning], colored: bool) -> io::Result<()> {
    if warnings.is_empty() {
        return Ok(());
    }
    let count = match warnings.len() {
        1 => "1 warning found:\n".to_string(),
        n => format!("{n} warnings found:\n"),
    };
    write!(out, "\n ")?;
    if colored {
        write!(out, "\x1b[33m{count}\x1b[0m")?;
    } else {
        write!(out, "{count}")?;
    }
    for warning in warnings {
        writeln!(out, " - {}", String::from_utf8_lossy(&warning.short))?;
    }
    Ok(())
}

/// How a bake target ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetResult {
    /// Solved, with at least one step run.
    Built,
    /// Solved from cache alone.
    Cached,
    Failed,
    /// Stopped because another target failed or the user interrupted.
    Canceled,
}

impl TargetResult {
    fn word(self) -> &'static str {
        match self {
            Self::Built => "built",
            Self::Cached => "cached",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }
}

/// The longest result word.
const RESULT_WIDTH: usize = "canceled".len();

/// One target's end, for [`write_target_summary`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetOutcome {
    pub name: String,
    pub result: TargetResult,
    pub duration: Duration,
    /// Why it failed; only its first line is printed.
    pub error: Option<String>,
    /// The node it ran on, when the run had several.
    pub node: Option<String>,
}

/// One aligned line per target, sorted by name so the order does not depend on
/// which target finished first:
///
/// ```text
/// leaven: api     cached     0.4s
/// leaven: web     built      3.2s
/// leaven: worker  failed    12.0s  process "/bin/sh -c make" did not complete successfully: exit code: 2
/// ```
///
/// The driver prints it after the printer finished, except in quiet and rawjson modes.
pub fn write_target_summary(out: &mut dyn Write, outcomes: &[TargetOutcome]) -> io::Result<()> {
    let mut sorted: Vec<&TargetOutcome> = outcomes.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let times: Vec<String> = sorted.iter().map(|outcome| format!("{:.1}s", outcome.duration.as_secs_f64())).collect();
    let name_width = sorted.iter().map(|outcome| outcome.name.chars().count()).max().unwrap_or(0);
    let time_width = times.iter().map(String::len).max().unwrap_or(0);
    for (outcome, time) in sorted.iter().zip(&times) {
        let mut line = format!(
            "leaven: {:name_width$}  {:RESULT_WIDTH$}  {time:>time_width$}",
            outcome.name,
            outcome.result.word()
        );
        if let Some(node) = &outcome.node {
            line.push_str("  on ");
            line.push_str(node);
        }
        if let Some(first_line) = outcome.error.as_deref().and_then(|error| error.lines().next()) {
            line.push_str("  ");
            line.push_str(first_line);
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str, result: TargetResult, millis: u64, error: Option<&str>) -> TargetOutcome {
        TargetOutcome { name: name.into(), result, duration: Duration::from_millis(millis), error: error.map(String::from), node: None }
    }

    #[test]
    fn target_summary_is_sorted_and_aligned() {
        let outcomes = [
            outcome("worker", TargetResult::Failed, 12_040, Some("process \"/bin/sh -c make\" did not complete\nstack")),
            outcome("web", TargetResult::Built, 3_210, None),
            outcome("api", TargetResult::Cached, 400, None),
            outcome("docs", TargetResult::Canceled, 1_000, Some("context canceled")),
        ];
        let mut out = Vec::new();
        write_target_summary(&mut out, &outcomes).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(
                "leaven: api     cached     0.4s\n",
                "leaven: docs    canceled   1.0s  context canceled\n",
                "leaven: web     built      3.2s\n",
                "leaven: worker  failed    12.0s  process \"/bin/sh -c make\" did not complete\n",
            )
        );
    }

    #[test]
    fn no_targets_print_nothing() {
        let mut out = Vec::new();
        write_target_summary(&mut out, &[]).unwrap();
        assert!(out.is_empty());
    }

    fn warning(vertex: &str, short: &str) -> VertexWarning {
        VertexWarning { vertex: vertex.into(), short: short.as_bytes().to_vec(), level: 1, ..Default::default() }
    }

    #[test]
    fn warnings_are_listed_once() {
        let warnings = distinct_warnings(vec![warning("a", "JSONArgsRecommended"), warning("b", "JSONArgsRecommended"), warning("a", "Other")]);
        let mut out = Vec::new();
        write_warnings(&mut out, &warnings, true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\n \x1b[33m2 warnings found:\n\x1b[0m - JSONArgsRecommended\n - Other\n"
        );
        let mut plain = Vec::new();
        write_warnings(&mut plain, &warnings[..1], false).unwrap();
        assert_eq!(String::from_utf8(plain).unwrap(), "\n 1 warning found:\n - JSONArgsRecommended\n");
    }
}
