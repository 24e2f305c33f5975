//! Build progress on stderr, as `docker buildx bake` shows it.
//!
//! Every target's solve has a `Control.Status` stream. Target tasks send each
//! message through a [`ProgressHandle`] to one [`Printer`], which draws the
//! display [`resolve_display`] picked from `--progress` and `BUILDKIT_PROGRESS`:
//!
//! - **plain**: progressui's text (`#1 [web 1/3] FROM …`, `#1 DONE 0.3s`),
//! - **tty**: a live frame redrawn in place, left on screen at the end,
//! - **rawjson**: each update as BuildKit's Go client encodes it,
//! - **quiet**: nothing.
//!
//! With several targets every vertex name gets buildx's `[target …]` prefix, and
//! a vertex two targets share (same digest) shows once, under the first.
//!
//! ```ignore
//! let display = resolve_display(&flag, std::env::var("BUILDKIT_PROGRESS").ok().as_deref(), std::io::stderr().is_terminal())?;
//! let printer = Printer::start(
//!     PrinterOptions { display, description: ProgressDescription::for_builder("default", "docker"), multi_target: targets.len() > 1 },
//!     std::io::stderr(),
//! );
//! // per target: while let Some(status) = stream.message().await? { handle.send(&name, status).await }
//! let warnings = printer.finish().await;
//! write_target_summary(&mut std::io::stderr(), &outcomes)?;
//! ```
//!
//! Where this differs from progressui on purpose:
//! - the plain display's failure summary keeps whole lines (progressui keeps only
//!   the continuation of a line that arrived in pieces, and can repeat an
//!   unfinished last line); an empty log message is ignored rather than leaving
//!   the last line open, and a sub-status that restarts is not listed twice;
//! - choices progressui leaves to Go's random map order (which of several
//!   equally busy vertices to show, which open vertex to put on screen) follow
//!   the order vertices were reported or started;
//! - a shared vertex's logs and warnings come from the target that reported it
//!   first (buildx keeps the first target's logs but every target's warnings);
//! - timestamps are shown as the daemon sent them (buildx shifts each target's
//!   times to its own start, which only matters for rawjson);
//! - tty: the log tail keeps the last lines of text instead of running a VT100
//!   emulator; indicatif fits lines to the width, so a sub-status's byte counts
//!   sit next to its time and narrow terminals cut names rather than drop rows;
//!   indicatif does not expose the height, so the live frame is laid out for 24
//!   lines; `BUILDKIT_COLORS`, `BUILDKIT_TTY_LOG_LINES` and `TTY_DISPLAY_RATE` are not read.

mod mode;
mod plain;
mod printer;
mod rawjson;
mod report;
mod targets;
mod time;
mod trace;
mod tty;
mod units;

#[cfg(test)]
mod fixtures;

pub use mode::{resolve_display, ProgressDisplay, ProgressMode, ProgressModeError};
pub use printer::{Printer, PrinterOptions, ProgressDescription, ProgressHandle};
pub use report::{write_target_summary, TargetOutcome, TargetResult};
