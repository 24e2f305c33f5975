//! `--progress` values and the display they resolve to, as buildx resolves them.

use std::fmt;
use std::str::FromStr;

/// A `--progress` value (or a `BUILDKIT_PROGRESS` value) as the user wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A terminal display when stderr is one, plain text otherwise.
    Auto,
    /// The live terminal display; an error when stderr is not a terminal.
    Tty,
    /// Plain text, one line per event.
    Plain,
    /// Nothing.
    Quiet,
    /// One JSON object per status update, as BuildKit's Go client encodes it.
    RawJson,
}

/// What is drawn on stderr once the mode is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressDisplay {
    Tty,
    Plain,
    Quiet,
    RawJson,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgressModeError {
    #[error("invalid progress mode {0}")]
    Invalid(String),
    /// progressui's wording, which wraps containerd's `ErrNotAConsole`.
    #[error("failed to get console: provided file is not a console")]
    NotATerminal,
}

impl FromStr for ProgressMode {
    type Err = ProgressModeError;

    /// Case-sensitive, as progressui compares them; an empty value means `auto`.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "" | "auto" => Ok(Self::Auto),
            "tty" => Ok(Self::Tty),
            "plain" => Ok(Self::Plain),
            "quiet" => Ok(Self::Quiet),
            "rawjson" => Ok(Self::RawJson),
            other => Err(ProgressModeError::Invalid(other.to_string())),
        }
    }
}

impl fmt::Display for ProgressMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Tty => "tty",
            Self::Plain => "plain",
            Self::Quiet => "quiet",
            Self::RawJson => "rawjson",
        })
    }
}

/// The display for `--progress <flag>` with `BUILDKIT_PROGRESS=<env>`.
///
/// As in buildx, the environment only counts when the flag is `auto` (its
/// default), and only when it is not empty; an invalid value from either is an
/// error, and so is `tty` when stderr is not a terminal.
pub fn resolve_display(flag: &str, env: Option<&str>, stderr_is_terminal: bool) -> Result<ProgressDisplay, ProgressModeError> {
    let mut mode = flag.parse::<ProgressMode>()?;
    if mode == ProgressMode::Auto {
        if let Some(env) = env.filter(|env| !env.is_empty()) {
            mode = env.parse()?;
        }
    }
    Ok(match mode {
        ProgressMode::Auto if stderr_is_terminal => ProgressDisplay::Tty,
        ProgressMode::Auto | ProgressMode::Plain => ProgressDisplay::Plain,
        ProgressMode::Tty if stderr_is_terminal => ProgressDisplay::Tty,
        ProgressMode::Tty => return Err(ProgressModeError::NotATerminal),
        ProgressMode::Quiet => ProgressDisplay::Quiet,
        ProgressMode::RawJson => ProgressDisplay::RawJson,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_the_terminal() {
        assert_eq!(resolve_display("auto", None, true), Ok(ProgressDisplay::Tty));
        assert_eq!(resolve_display("auto", None, false), Ok(ProgressDisplay::Plain));
        assert_eq!(resolve_display("", None, false), Ok(ProgressDisplay::Plain));
    }

    #[test]
    fn the_environment_counts_only_under_auto() {
        assert_eq!(resolve_display("auto", Some("rawjson"), true), Ok(ProgressDisplay::RawJson));
        assert_eq!(resolve_display("auto", Some("plain"), true), Ok(ProgressDisplay::Plain));
        assert_eq!(resolve_display("auto", Some(""), true), Ok(ProgressDisplay::Tty));
        assert_eq!(resolve_display("plain", Some("tty"), true), Ok(ProgressDisplay::Plain));
        assert_eq!(resolve_display("quiet", Some("bogus"), true), Ok(ProgressDisplay::Quiet));
    }

    #[test]
    fn tty_needs_a_terminal() {
        assert_eq!(resolve_display("tty", None, true), Ok(ProgressDisplay::Tty));
        assert_eq!(resolve_display("tty", None, false), Err(ProgressModeError::NotATerminal));
        assert_eq!(resolve_display("auto", Some("tty"), false), Err(ProgressModeError::NotATerminal));
        assert_eq!(
            ProgressModeError::NotATerminal.to_string(),
            "failed to get console: provided file is not a console"
        );
    }

    #[test]
    fn unknown_values_are_errors_with_buildx_wording() {
        assert_eq!(resolve_display("fancy", None, true), Err(ProgressModeError::Invalid("fancy".into())));
        assert_eq!(resolve_display("auto", Some("none"), true), Err(ProgressModeError::Invalid("none".into())));
        assert_eq!(resolve_display("Plain", None, true).unwrap_err().to_string(), "invalid progress mode Plain");
    }
}
