//! The printer: one task that every target's status stream feeds, drawing the
//! chosen display on stderr (progressui's `Display.UpdateFrom` loop).

use std::io::Write;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::proto::control::{StatusResponse, VertexWarning};

use super::mode::ProgressDisplay;
use super::plain::PlainRenderer;
use super::rawjson;
use super::report;
use super::targets::TargetRouter;
use super::time::UnixNanos;
use super::trace::Trace;
use super::tty::{Screen, TtyFrames};

/// Text displays redraw at most this often on updates…
const DRAW_INTERVAL: Duration = Duration::from_millis(100);
/// …and this long after the last update when none comes (running times move on).
const REFRESH_INTERVAL: Duration = Duration::from_millis(150);
/// Updates queued before target tasks wait for the printer.
const QUEUE: usize = 256;

/// How the builder is named in the progress output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgressDescription {
    /// The plain display's first line, after `#0 `.
    pub text: String,
    /// Right-aligned in the terminal display's header.
    pub console: String,
}

impl ProgressDescription {
    /// buildx bake's wording: `building with "default" instance using docker driver`, and `docker:default`.
    pub fn for_builder(builder: &str, driver: &str) -> Self {
        Self { text: format!("building with {builder:?} instance using {driver} driver"), console: format!("{driver}:{builder}") }
    }
}

#[derive(Clone, Debug)]
pub struct PrinterOptions {
    pub display: ProgressDisplay,
    pub description: ProgressDescription,
    /// More than one target is built: names get the `[target …]` prefix.
    pub multi_target: bool,
}

#[derive(Debug)]
enum Event {
    Status { target: String, status: StatusResponse },
    Finish,
}

/// What target tasks hold to report progress; cheap to clone.
#[derive(Clone, Debug)]
pub struct ProgressHandle {
    events: mpsc::Sender<Event>,
}

impl ProgressHandle {
    /// Shows one `Control.Status` message of `target`'s solve. Waits while the
    /// printer is behind; after [`Printer::finish`] the update is dropped.
    pub async fn send(&self, target: &str, status: StatusResponse) {
        // Err only once the printer is gone: late progress has nowhere to go.
        let _ = self.events.send(Event::Status { target: target.to_string(), status }).await;
    }
}

/// The running printer. Create it with [`Printer::start`], give each target a
/// [`ProgressHandle`], and call [`Printer::finish`] once every target is done.
#[derive(Debug)]
pub struct Printer {
    handle: ProgressHandle,
    task: JoinHandle<Vec<VertexWarning>>,
}

impl Printer {
    /// Starts the printer task on the current tokio runtime, writing to `out`
    /// (stderr in leaven; the tty display draws on the terminal itself and uses
    /// `out` only for what stays after it). Must be called within a tokio runtime.
    pub fn start(options: PrinterOptions, out: impl Write + Send + 'static) -> Self {
        let (events, queue) = mpsc::channel(QUEUE);
        let display = Display::new(&options, Box::new(out));
        let task = tokio::spawn(run(queue, display, TargetRouter::new(options.multi_target)));
        Self { handle: ProgressHandle { events }, task }
    }

    pub fn handle(&self) -> ProgressHandle {
        self.handle.clone()
    }

    /// Shows what was sent before, draws the last frame, prints the output of
    /// failed vertices and the warnings, and returns the warnings (each once)
    /// for the metadata file.
    pub async fn finish(self) -> Vec<VertexWarning> {
        let _ = self.handle.events.send(Event::Finish).await;
        // A printer that panicked has printed what it could; there are no warnings to give.
        self.task.await.unwrap_or_default()
    }
}

async fn run(mut queue: mpsc::Receiver<Event>, mut display: Display, mut router: TargetRouter) -> Vec<VertexWarning> {
    let mut warnings = Vec::new();
    let mut last_draw: Option<Instant> = None;
    let mut refresh_at = Instant::now() + REFRESH_INTERVAL;
    loop {
        tokio::select! {
            event = queue.recv() => {
                let Some(Event::Status { target, status }) = event else { break };
                let status = router.route(&target, status);
                warnings.extend(status.warnings.iter().cloned());
                display.update(&status, UnixNanos::now());
                let now = Instant::now();
                if last_draw.is_none_or(|last| now.duration_since(last) >= DRAW_INTERVAL) {
                    last_draw = Some(now);
                    display.refresh(UnixNanos::now());
                }
                refresh_at = now + REFRESH_INTERVAL;
            }
            () = tokio::time::sleep_until(refresh_at) => {
                display.refresh(UnixNanos::now());
                refresh_at = Instant::now() + REFRESH_INTERVAL;
            }
        }
    }
    let warnings = report::distinct_warnings(warnings);
    display.finish(UnixNanos::now(), &warnings);
    warnings
}

/// The plain and terminal displays read the same trace.
enum TextView {
    Plain(PlainRenderer),
    Tty { frames: TtyFrames, screen: Option<Screen> },
}

struct TextDisplay {
    trace: Trace,
    view: TextView,
    out: Box<dyn Write + Send>,
}

enum Display {
    Text(Box<TextDisplay>),
    RawJson(Box<dyn Write + Send>),
    Quiet,
}

// Progress output is best effort: a closed or full stderr must not fail the
// build, so write errors below are dropped.
impl Display {
    fn new(options: &PrinterOptions, out: Box<dyn Write + Send>) -> Self {
        let view = match options.display {
            ProgressDisplay::Quiet => return Display::Quiet,
            ProgressDisplay::RawJson => return Display::RawJson(out),
            ProgressDisplay::Plain => {
                let truncate_names = std::env::var("PROGRESS_NO_TRUNC").is_ok_and(|value| value == "0");
                TextView::Plain(PlainRenderer::new(&options.description.text, truncate_names))
            }
            ProgressDisplay::Tty => TextView::Tty { frames: TtyFrames::new(&options.description.console), screen: None },
        };
        Display::Text(Box::new(TextDisplay { trace: Trace::default(), view, out }))
    }

    fn update(&mut self, status: &StatusResponse, now: UnixNanos) {
        match self {
            Display::Text(text) => text.trace.apply(status, now),
            Display::RawJson(out) => {
                if let Some(line) = rawjson::encode(status) {
                    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
                }
            }
            Display::Quiet => {}
        }
    }

    fn refresh(&mut self, now: UnixNanos) {
        let Display::Text(text) = self else { return };
        let TextDisplay { trace, view, out } = text.as_mut();
        match view {
            TextView::Plain(plain) => {
                let mut text = Vec::new();
                let _ = plain.render(trace, now, &mut text);
                let _ = out.write_all(&text).and_then(|()| out.flush());
            }
            TextView::Tty { frames, screen } => {
                let frame = frames.frame(trace, now, false);
                screen.get_or_insert_with(Screen::on_stderr).show(frame);
            }
        }
    }

    fn finish(self, now: UnixNanos, warnings: &[VertexWarning]) {
        let Display::Text(text) = self else { return };
        let TextDisplay { mut trace, view, mut out } = *text;
        let mut text = Vec::new();
        // Colour only on a terminal (the tty display), and not with NO_COLOR.
        let colored = matches!(view, TextView::Tty { .. }) && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
        match view {
            TextView::Plain(mut plain) => {
                let _ = plain.render(&mut trace, now, &mut text);
                let _ = report::write_failures(&mut text, &trace, |id| plain.failure_lines(&trace, id));
            }
            TextView::Tty { mut frames, screen } => {
                let frame = frames.frame(&trace, now, true);
                screen.unwrap_or_else(Screen::on_stderr).keep(frame);
                // The terminal display never takes log lines: a failed vertex shows all its output.
                let _ = report::write_failures(&mut text, &trace, |id| trace.node(id).logs.iter().map(Vec::as_slice).collect());
            }
        }
        let _ = report::write_warnings(&mut text, warnings, colored);
        let _ = out.write_all(&text).and_then(|()| out.flush());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::driver::progress::fixtures::*;

    /// Stands in for stderr, readable after the printer is done.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            let bytes = self.0.lock().map(|bytes| bytes.clone()).unwrap_or_default();
            String::from_utf8_lossy(&bytes).replace("\x1b[33m", "").replace("\x1b[0m", "")
        }
    }

    fn options(display: ProgressDisplay) -> PrinterOptions {
        PrinterOptions { display, description: ProgressDescription::for_builder("default", "docker"), multi_target: true }
    }

    /// Each target finishes its vertex in one update, so the output does not
    /// depend on how the printer batches updates between draws.
    async fn build_two_targets(printer: &Printer) {
        let web = printer.handle();
        let api = printer.handle();
        let from = "[1/1] FROM docker.io/library/alpine";
        web.send("web", vertexes(vec![done("sha256:w", from, 0, 100)])).await;
        let run = "[1/1] RUN false";
        let error = r#"process "/bin/sh -c false" did not complete successfully: exit code: 1"#;
        api.send(
            "api",
            StatusResponse {
                vertexes: vec![failed("sha256:a", run, 200, 300, error)],
                logs: vec![log("sha256:a", 250, "boom\n")],
                warnings: vec![warning("sha256:a", "something")],
                ..Default::default()
            },
        )
        .await;
    }

    #[tokio::test]
    async fn plain_printer_shows_every_target_then_the_failures_and_warnings() {
        let out = Captured::default();
        let printer = Printer::start(options(ProgressDisplay::Plain), out.clone());
        build_two_targets(&printer).await;
        let warnings = printer.finish().await;
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            out.text(),
            r#"#0 building with "default" instance using docker driver

#1 [web 1/1] FROM docker.io/library/alpine
#1 DONE 0.1s

#2 [api 1/1] RUN false
#2 WARN: something
#2 0.050 boom
#2 ERROR: process "/bin/sh -c false" did not complete successfully: exit code: 1
------
 > [api 1/1] RUN false:
0.050 boom
------

 1 warning found:
 - something
"#
        );
    }

    #[tokio::test]
    async fn rawjson_printer_writes_one_line_per_update() {
        let out = Captured::default();
        let printer = Printer::start(options(ProgressDisplay::RawJson), out.clone());
        build_two_targets(&printer).await;
        printer.finish().await;
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with(r#"{"vertexes":[{"digest":"sha256:w","name":"[web 1/1] FROM docker.io/library/alpine","#));
        assert!(lines[1].contains(r#""logs":[{"vertex":"sha256:a","stream":1,"data":"Ym9vbQo=","#), "{text}");
    }

    #[tokio::test]
    async fn quiet_printer_prints_nothing_but_keeps_warnings() {
        let out = Captured::default();
        let printer = Printer::start(options(ProgressDisplay::Quiet), out.clone());
        build_two_targets(&printer).await;
        assert_eq!(printer.finish().await.len(), 1);
        assert_eq!(out.text(), "");
    }

    #[tokio::test]
    async fn updates_after_finish_are_dropped() {
        let printer = Printer::start(options(ProgressDisplay::Plain), Captured::default());
        let late = printer.handle();
        printer.finish().await;
        late.send("web", vertexes(vec![started("sha256:x", "late", 0)])).await;
    }

    #[test]
    fn descriptions_read_as_buildx_bake() {
        let description = ProgressDescription::for_builder("default", "docker");
        assert_eq!(description.text, r#"building with "default" instance using docker driver"#);
        assert_eq!(description.console, "docker:default");
    }
}
