//! What is printed once the build is over: the output of failed vertices and
//! the warnings, as buildx prints them.

use std::io::{self, Write};

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

#[cfg(test)]
mod tests {
    use super::*;

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
