//! The plain display, line for line as progressui's `textMux` prints it.
//!
//! Each vertex gets a number (`#N`) the first time it is printed. Output of
//! several running vertices is interleaved in blocks: the printer stays on one
//! vertex and switches when another finishes, has been silent for
//! [`MAX_DELAY`], or has earned its share of the screen (progressui's rules).

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};

use super::time::{Span, UnixNanos};
use super::trace::{NodeId, Trace};
use super::units;

/// A vertex waiting longer than this is shown even if the current one is busy.
const MAX_DELAY: Span = Span::from_secs(10);
/// The current vertex keeps the screen at least this long, scaled by its share of activity.
const ANTI_FLICKER: Span = Span::from_secs(5);
/// A running sub-status is reprinted once it moved this fraction of its total…
const MIN_PROGRESS_DELTA: f64 = 0.05;
/// …or this long after it was last printed.
const MIN_TIME_DELTA: Span = Span::from_secs(5);
/// Output lines of a vertex kept for the summary of failed vertices.
const RECENT_LOG_LINES: usize = 10;
/// Name length with `PROGRESS_NO_TRUNC=0`.
const TRUNCATED_NAME: usize = 72;

/// A sub-status as it was last printed, keyed by its id across all vertices, as progressui does.
#[derive(Clone, Copy, Debug)]
struct PrintedStatus {
    current: i64,
    timestamp: UnixNanos,
}

/// What the plain display remembers of one vertex.
#[derive(Clone, Debug, Default)]
struct PlainVertex {
    /// `#N`; 0 until first printed.
    number: u32,
    /// Bytes of the open log line already printed without a line end.
    open_line_printed: usize,
    warnings_printed: usize,
    recent_logs: VecDeque<Vec<u8>>,
    /// Whether the newest of `recent_logs` is still open (and will be replaced when it grows).
    recent_open: bool,
}

impl PlainVertex {
    fn remember(&mut self, line: &[u8], open: bool) {
        if std::mem::replace(&mut self.recent_open, open) {
            self.recent_logs.pop_back();
        }
        self.recent_logs.push_back(line.to_vec());
        if self.recent_logs.len() > RECENT_LOG_LINES {
            self.recent_logs.pop_front();
        }
    }
}

#[derive(Debug)]
pub(crate) struct PlainRenderer {
    /// Printed as `#0 <description>` before anything else; nothing when empty.
    description: String,
    truncate_names: bool,
    current: Option<NodeId>,
    printed_statuses: HashMap<String, PrintedStatus>,
    printed_anything: bool,
    last_number: u32,
    vertices: Vec<PlainVertex>,
}

impl PlainRenderer {
    pub(crate) fn new(description: &str, truncate_names: bool) -> Self {
        Self {
            description: description.to_string(),
            truncate_names,
            current: None,
            printed_statuses: HashMap::new(),
            printed_anything: false,
            last_number: 0,
            vertices: Vec::new(),
        }
    }

    fn vertex(&mut self, id: NodeId) -> &mut PlainVertex {
        if self.vertices.len() <= id {
            self.vertices.resize_with(id + 1, PlainVertex::default);
        }
        &mut self.vertices[id]
    }

    /// The output lines of a vertex to repeat in the failure summary: the last
    /// ones printed, then any not printed yet.
    pub(crate) fn failure_lines<'a>(&'a self, trace: &'a Trace, id: NodeId) -> Vec<&'a [u8]> {
        let pending = trace.node(id).logs.iter().map(Vec::as_slice);
        let Some(vertex) = self.vertices.get(id) else {
            return pending.collect();
        };
        // An open line printed so far is still pending, and whole there.
        let settled = vertex.recent_logs.len() - usize::from(vertex.recent_open);
        vertex.recent_logs.iter().take(settled).map(Vec::as_slice).chain(pending).collect()
    }

    /// Prints what changed since the last call (progressui's `textMux.print`).
    pub(crate) fn render(&mut self, trace: &mut Trace, now: UnixNanos, out: &mut dyn Write) -> io::Result<()> {
        let (mut completed, rest): (Vec<NodeId>, Vec<NodeId>) = trace
            .updated()
            .into_iter()
            .filter(|&id| !trace.node(id).hidden)
            .partition(|&id| trace.node(id).is_completed());
        let current = self.current;

        // Finished vertices first, the one on screen before the others.
        if let Some(id) = current.filter(|id| completed.contains(id)) {
            self.print_vertex(trace, id, now, out)?;
        }
        completed.sort_by_key(|&id| trace.node(id).most_recent_interval().and_then(|interval| interval.stop));
        for &id in completed.iter().filter(|&&id| Some(id) != current) {
            self.print_vertex(trace, id, now, out)?;
        }

        if rest.is_empty() {
            if current.is_some_and(|id| trace.node(id).is_started() && !trace.node(id).is_completed()) {
                return Ok(());
            }
            // Put some running vertex on screen, so its later output has a header.
            let running = trace.started().iter().copied().find(|&id| {
                let node = trace.node(id);
                node.is_started() && !node.is_completed() && !node.hidden
            });
            return match running {
                Some(id) => self.print_vertex(trace, id, now, out),
                None => Ok(()),
            };
        }

        if let Some(id) = current.filter(|id| rest.contains(id)) {
            self.print_vertex(trace, id, now, out)?;
        }

        let mut contenders = rest.clone();
        if let Some(id) = current.filter(|id| !contenders.contains(id)) {
            contenders.push(id);
        }
        let stats: Vec<Activity> = contenders.iter().filter_map(|&id| Activity::of(trace, id, current, now)).collect();
        let total_speed: f64 = stats.iter().map(|stat| stat.speed).sum();
        let mut busiest: Option<&Activity> = None;
        for stat in &stats {
            if stat.overdue || busiest.is_none_or(|best| best.speed < stat.speed) {
                busiest = Some(stat);
            }
        }
        let Some(busiest) = busiest.map(|stat| stat.id) else {
            return Ok(());
        };

        if current.is_none_or(|id| completed.contains(&id)) {
            return self.print_vertex(trace, busiest, now, out);
        }
        if let Some(overdue) = stats.iter().find(|stat| stat.overdue) {
            return self.print_vertex(trace, overdue.id, now, out);
        }
        // Fair share: the busier the current vertex, the longer it keeps the screen.
        if let Some(on_screen) = stats.iter().find(|stat| Some(stat.id) == current) {
            let share = on_screen.speed / total_speed;
            if 1.0 / (1.0 - share) * ANTI_FLICKER.seconds() < on_screen.waiting.seconds() {
                return self.print_vertex(trace, busiest, now, out);
            }
        }
        Ok(())
    }

    /// Prints one vertex's news, switching to it first if another is on screen
    /// (progressui's `printVtx`).
    fn print_vertex(&mut self, trace: &mut Trace, id: NodeId, now: UnixNanos, out: &mut dyn Write) -> io::Result<()> {
        if self.vertex(id).number == 0 {
            self.last_number += 1;
            let number = self.last_number;
            self.vertex(id).number = number;
        }
        let number = self.vertex(id).number;

        if self.current != Some(id) {
            if let Some(previous) = self.current {
                if trace.node(previous).logs_partial {
                    writeln!(out)?;
                }
                let left = self.vertex(previous);
                left.open_line_printed = 0;
                let left_number = left.number;
                trace.node_mut(previous).activity = 0;
                writeln!(out, "#{left_number} ...")?;
            }
            if self.printed_anything {
                writeln!(out)?;
            } else {
                if !self.description.is_empty() {
                    write!(out, "#0 {}\n\n", self.description)?;
                }
                self.printed_anything = true;
            }
            let name = &trace.node(id).name;
            writeln!(out, "#{number} {}", if self.truncate_names { truncated(name) } else { name.clone() })?;
        }

        let open_status = self.print_statuses(trace, id, number, out)?;

        let node = trace.node_mut(id);
        let vertex = self.vertex(id);
        for warning in node.warnings.iter().skip(vertex.warnings_printed) {
            writeln!(out, "#{number} WARN: {}", String::from_utf8_lossy(&warning.short))?;
        }
        vertex.warnings_printed = node.warnings.len();

        let last = node.logs.len().saturating_sub(1);
        for (i, line) in node.logs.iter().enumerate() {
            if i == 0 && vertex.open_line_printed != 0 {
                out.write_all(line.get(vertex.open_line_printed..).unwrap_or_default())?;
            } else {
                write!(out, "#{number} ")?;
                out.write_all(line)?;
            }
            let open = i == last && node.logs_partial;
            if !open {
                writeln!(out)?;
            }
            vertex.remember(line, open);
        }
        if !node.logs.is_empty() {
            if node.logs_partial {
                node.logs.drain(..last);
                vertex.open_line_printed = node.logs[0].len();
            } else {
                node.logs.clear();
                vertex.open_line_printed = 0;
            }
        }

        self.current = Some(id);
        if node.is_completed() && !open_status {
            self.current = None;
            node.activity = 0;
            if node.logs_partial {
                writeln!(out)?;
            }
            if node.is_canceled() {
                writeln!(out, "#{number} CANCELED")?;
            } else if !node.error.is_empty() {
                writeln!(out, "#{number} ERROR: {}", node.error)?;
            } else if node.cached {
                writeln!(out, "#{number} CACHED")?;
            } else {
                // Summed as floats, interval by interval, as progressui does.
                let seconds: f64 = node.merged().iter().map(|interval| interval.duration(now).seconds()).sum();
                writeln!(out, "#{number} DONE {seconds:.1}s")?;
            }
        }
        trace.clear_updated(id);
        Ok(())
    }

    /// Prints the sub-statuses updated since last time, skipping running ones
    /// that barely moved; returns whether one still running was printed.
    fn print_statuses(&mut self, trace: &mut Trace, id: NodeId, number: u32, out: &mut dyn Write) -> io::Result<bool> {
        let mut open_status = false;
        for sub in trace.node_mut(id).statuses.iter_mut().filter(|sub| sub.fresh) {
            sub.fresh = false;
            if let (Some(last), None) = (self.printed_statuses.get(&sub.id), sub.completed) {
                let progress = if sub.total > 0 {
                    (i128::from(sub.current) - i128::from(last.current)) as f64 / sub.total as f64
                } else {
                    0.0
                };
                if progress < MIN_PROGRESS_DELTA && sub.timestamp.since(last.timestamp) < MIN_TIME_DELTA {
                    continue;
                }
            }
            self.printed_statuses.insert(sub.id.clone(), PrintedStatus { current: sub.current, timestamp: sub.timestamp });

            let amount = if sub.total != 0 {
                format!(" {} / {}", units::bytes(sub.current), units::bytes(sub.total))
            } else if sub.current != 0 {
                format!(" {}", units::bytes(sub.current))
            } else {
                String::new()
            };
            let mut time = String::new();
            if let Some(started) = sub.started {
                let seconds = sub.completed.unwrap_or(sub.timestamp).since(started).seconds();
                if seconds > 0.01 {
                    time = format!(" {seconds:.1}s");
                }
            }
            if sub.completed.is_some() {
                time.push_str(" done");
            } else {
                open_status = true;
            }
            writeln!(out, "#{number} {}{amount}{time}", sub.id)?;
        }
        Ok(open_status)
    }
}

/// How much a running vertex has to say, for choosing which one to show.
#[derive(Clone, Copy, Debug)]
struct Activity {
    id: NodeId,
    /// How long its news has been waiting.
    waiting: Span,
    /// Updates per second of waiting.
    speed: f64,
    /// Waited past [`MAX_DELAY`] while another vertex was on screen.
    overdue: bool,
}

impl Activity {
    fn of(trace: &Trace, id: NodeId, current: Option<NodeId>, now: UnixNanos) -> Option<Self> {
        let node = trace.node(id);
        let waiting = now.since(node.last_block?);
        Some(Self {
            id,
            waiting,
            speed: f64::from(node.activity) / waiting.seconds(),
            overdue: waiting > MAX_DELAY && Some(id) != current,
        })
    }
}

fn truncated(name: &str) -> String {
    match name.char_indices().nth(TRUNCATED_NAME) {
        Some((end, _)) => format!("{}...", &name[..end]),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::progress::fixtures::*;
    use crate::driver::progress::report::write_failures;
    use crate::driver::progress::targets::TargetRouter;
    use crate::proto::control::StatusResponse;

    const DESCRIPTION: &str = r#"building with "default" instance using docker driver"#;

    /// A plain display fed one update at a time, drawing after each, as the
    /// printer does when updates are at least 100 ms apart.
    struct PlainRun {
        router: TargetRouter,
        trace: Trace,
        plain: PlainRenderer,
        out: Vec<u8>,
    }

    impl PlainRun {
        fn new(multi_target: bool) -> Self {
            Self {
                router: TargetRouter::new(multi_target),
                trace: Trace::default(),
                plain: PlainRenderer::new(DESCRIPTION, false),
                out: Vec::new(),
            }
        }

        fn feed(&mut self, now: i64, target: &str, status: StatusResponse) -> &mut Self {
            let status = self.router.route(target, status);
            self.trace.apply(&status, local(now));
            self.plain.render(&mut self.trace, local(now), &mut self.out).unwrap();
            self
        }

        /// The last draw and the failure summary, as `Printer::finish` prints them.
        fn finish(&mut self, now: i64) -> String {
            self.plain.render(&mut self.trace, local(now), &mut self.out).unwrap();
            write_failures(&mut self.out, &self.trace, |id| self.plain.failure_lines(&self.trace, id)).unwrap();
            String::from_utf8_lossy(&std::mem::take(&mut self.out)).into_owned()
        }
    }

    #[test]
    fn one_target() {
        let output = PlainRun::new(false)
            .feed(0, "web", vertexes(vec![started("sha256:1", "[internal] load build definition from Dockerfile", 0)]))
            .feed(100, "web", vertexes(vec![
                done("sha256:1", "[internal] load build definition from Dockerfile", 0, 100),
                started("sha256:2", "[1/2] FROM docker.io/library/alpine:3.20", 100),
            ]))
            .feed(150, "web", statuses(vec![transfer("sha256:2", "resolve docker.io/library/alpine:3.20", (0, 0), 150, 100, Some(150))]))
            .feed(300, "web", vertexes(vec![done("sha256:2", "[1/2] FROM docker.io/library/alpine:3.20", 100, 300)]))
            .feed(300, "web", vertexes(vec![started("sha256:3", "[2/2] RUN echo hi", 300)]))
            .feed(350, "web", logs(vec![log("sha256:3", 350, "hi\n")]))
            .feed(1300, "web", vertexes(vec![done("sha256:3", "[2/2] RUN echo hi", 300, 1300)]))
            .finish(1300);
        assert_eq!(
            output,
            r#"#0 building with "default" instance using docker driver

#1 [internal] load build definition from Dockerfile
#1 DONE 0.1s

#2 [1/2] FROM docker.io/library/alpine:3.20
#2 resolve docker.io/library/alpine:3.20 0.1s done
#2 DONE 0.2s

#3 [2/2] RUN echo hi
#3 0.050 hi
#3 DONE 1.0s
"#
        );
    }

    #[test]
    fn two_targets_are_prefixed_and_share_vertices() {
        let load = "[internal] load build definition from Dockerfile";
        let from = "[1/2] FROM docker.io/library/alpine:3.20";
        let output = PlainRun::new(true)
            .feed(0, "web", vertexes(vec![started("sha256:w1", load, 0)]))
            .feed(0, "api", vertexes(vec![started("sha256:a1", load, 0)]))
            .feed(50, "web", vertexes(vec![done("sha256:w1", load, 0, 50)]))
            .feed(60, "api", vertexes(vec![done("sha256:a1", load, 0, 60)]))
            .feed(100, "web", vertexes(vec![started("sha256:s", from, 100)]))
            .feed(100, "api", vertexes(vec![started("sha256:s", from, 100)]))
            .feed(400, "api", vertexes(vec![done("sha256:s", from, 100, 400)]))
            .feed(400, "web", vertexes(vec![done("sha256:s", from, 100, 400)]))
            .feed(500, "web", vertexes(vec![done("sha256:w2", "exporting to image", 500, 700)]))
            .finish(700);
        // Each target reports the shared vertex's completion, and progressui
        // prints every completion report: #3 ends twice, under its first name.
        assert_eq!(
            output,
            r#"#0 building with "default" instance using docker driver

#1 [web internal] load build definition from Dockerfile
#1 DONE 0.1s

#2 [api internal] load build definition from Dockerfile
#2 DONE 0.1s

#3 [web 1/2] FROM docker.io/library/alpine:3.20
#3 DONE 0.3s

#3 [web 1/2] FROM docker.io/library/alpine:3.20
#3 DONE 0.3s

#4 [web] exporting to image
#4 DONE 0.2s
"#
        );
    }

    #[test]
    fn interleaved_targets_switch_after_ten_seconds_of_silence() {
        let make = "[2/2] RUN make";
        let npm = "[2/2] RUN npm ci";
        let output = PlainRun::new(true)
            .feed(1000, "web", vertexes(vec![started("sha256:w", make, 1000)]))
            .feed(1000, "api", vertexes(vec![started("sha256:a", npm, 1000)]))
            .feed(1100, "web", logs(vec![log("sha256:w", 1100, "compiling\n")]))
            .feed(1200, "api", logs(vec![log("sha256:a", 1200, "added 10 packages\n")]))
            .feed(7000, "web", logs(vec![log("sha256:w", 7000, "linking\n")]))
            .feed(12_000, "web", logs(vec![log("sha256:w", 12_000, "testing\n")]))
            .feed(13_000, "web", vertexes(vec![done("sha256:w", make, 1000, 13_000)]))
            .feed(14_000, "api", vertexes(vec![done("sha256:a", npm, 1000, 14_000)]))
            .finish(14_000);
        assert_eq!(
            output,
            r#"#0 building with "default" instance using docker driver

#1 [web 2/2] RUN make
#1 0.100 compiling
#1 6.000 linking
#1 11.00 testing
#1 ...

#2 [api 2/2] RUN npm ci
#2 0.200 added 10 packages
#2 ...

#1 [web 2/2] RUN make
#1 DONE 12.0s

#2 [api 2/2] RUN npm ci
#2 DONE 13.0s
"#
        );
    }

    #[test]
    fn cached_vertices_and_warnings() {
        let output = PlainRun::new(false)
            .feed(0, "web", vertexes(vec![cached("sha256:1", "[1/3] FROM docker.io/library/python:3.12", 0)]))
            .feed(10, "web", vertexes(vec![started("sha256:2", "[internal] load build definition from Dockerfile", 10)]))
            .feed(20, "web", StatusResponse { warnings: vec![warning("sha256:2", "JSONArgsRecommended: JSON arguments recommended for CMD")], ..Default::default() })
            .feed(30, "web", vertexes(vec![done("sha256:2", "[internal] load build definition from Dockerfile", 10, 30)]))
            .finish(30);
        assert_eq!(
            output,
            r#"#0 building with "default" instance using docker driver

#1 [1/3] FROM docker.io/library/python:3.12
#1 CACHED

#2 [internal] load build definition from Dockerfile
#2 WARN: JSONArgsRecommended: JSON arguments recommended for CMD
#2 DONE 0.0s
"#
        );
    }

    #[test]
    fn failures_end_with_their_last_ten_lines() {
        let make = "[2/2] RUN make";
        let mut run = PlainRun::new(true);
        run.feed(0, "web", vertexes(vec![started("sha256:w", make, 0)]));
        let lines: String = (1..=12).map(|i| format!("step {i}\n")).collect();
        run.feed(500, "web", logs(vec![log("sha256:w", 500, &lines)]));
        run.feed(600, "web", logs(vec![log("sha256:w", 600, "make: *** [all] Error 2")]));
        let error = r#"process "/bin/sh -c make" did not complete successfully: exit code: 2"#;
        run.feed(700, "web", vertexes(vec![failed("sha256:w", make, 0, 700, error)]));
        run.feed(800, "api", vertexes(vec![failed("sha256:a", "[2/2] RUN npm ci", 100, 800, "context canceled")]));
        let output = run.finish(800);
        assert_eq!(
            output,
            r#"#0 building with "default" instance using docker driver

#1 [web 2/2] RUN make
#1 0.500 step 1
#1 0.500 step 2
#1 0.500 step 3
#1 0.500 step 4
#1 0.500 step 5
#1 0.500 step 6
#1 0.500 step 7
#1 0.500 step 8
#1 0.500 step 9
#1 0.500 step 10
#1 0.500 step 11
#1 0.500 step 12
#1 0.600 make: *** [all] Error 2
#1 ERROR: process "/bin/sh -c make" did not complete successfully: exit code: 2

#2 [api 2/2] RUN npm ci
#2 CANCELED
------
 > [web 2/2] RUN make:
0.500 step 4
0.500 step 5
0.500 step 6
0.500 step 7
0.500 step 8
0.500 step 9
0.500 step 10
0.500 step 11
0.500 step 12
0.600 make: *** [all] Error 2
------
"#
        );
    }

    #[test]
    fn byte_counters_are_rate_limited() {
        let pull = "[1/1] FROM docker.io/library/node:22";
        let layer = "sha256:4f4fb700ef54";
        let output = PlainRun::new(false)
            .feed(0, "web", vertexes(vec![started("sha256:1", pull, 0)]))
            .feed(0, "web", statuses(vec![transfer("sha256:1", layer, (0, 10_000_000), 0, 0, None)]))
            .feed(100, "web", statuses(vec![transfer("sha256:1", layer, (100_000, 10_000_000), 100, 0, None)]))
            .feed(200, "web", statuses(vec![transfer("sha256:1", layer, (600_000, 10_000_000), 200, 0, None)]))
            .feed(6000, "web", statuses(vec![transfer("sha256:1", layer, (700_000, 10_000_000), 6000, 0, None)]))
            .feed(7000, "web", statuses(vec![
                transfer("sha256:1", layer, (10_000_000, 10_000_000), 7000, 0, Some(7000)),
                transfer("sha256:1", "transferring context", (2346, 0), 7000, 6900, None),
            ]))
            .feed(7100, "web", vertexes(vec![done("sha256:1", pull, 0, 7100)]))
            .finish(7100);
        assert_eq!(
            output,
            r#"#0 building with "default" instance using docker driver

#1 [1/1] FROM docker.io/library/node:22
#1 sha256:4f4fb700ef54 0B / 10.00MB
#1 sha256:4f4fb700ef54 600.00kB / 10.00MB 0.2s
#1 sha256:4f4fb700ef54 700.00kB / 10.00MB 6.0s
#1 sha256:4f4fb700ef54 10.00MB / 10.00MB 7.0s done
#1 transferring context 2.35kB 0.1s
#1 DONE 7.1s
"#
        );
    }

    #[test]
    fn log_times_and_unfinished_lines() {
        let run_step = "[1/1] RUN ./slow";
        let output = PlainRun::new(false)
            .feed(0, "web", vertexes(vec![started("sha256:1", run_step, 0)]))
            .feed(500, "web", logs(vec![log("sha256:1", 500, "abc")]))
            .feed(600, "web", logs(vec![log("sha256:1", 600, "def\nghi\n")]))
            .feed(12_340, "web", logs(vec![log("sha256:1", 12_340, "twelve\n")]))
            .feed(123_400, "web", logs(vec![log("sha256:1", 123_400, "later\n\n")]))
            .feed(123_500, "web", logs(vec![log("sha256:1", 123_500, "tail")]))
            .feed(124_000, "web", vertexes(vec![done("sha256:1", run_step, 0, 124_000)]))
            .finish(124_000);
        assert_eq!(
            output,
            r#"#0 building with "default" instance using docker driver

#1 [1/1] RUN ./slow
#1 0.500 abcdef
#1 0.600 ghi
#1 12.34 twelve
#1 123.4 later
#1 123.4 
#1 123.5 tail
#1 DONE 124.0s
"#
        );
    }

    #[test]
    fn progress_groups_show_as_one_vertex() {
        use crate::proto::control::Vertex;
        use crate::proto::pb::ProgressGroup;
        let member = |vertex: Vertex| Vertex {
            progress_group: Some(ProgressGroup { id: "pg".into(), name: "[auth] sharing credentials".into(), weak: false }),
            ..vertex
        };
        let output = PlainRun::new(false)
            .feed(0, "web", vertexes(vec![member(started("sha256:m1", "[auth] token for a", 0))]))
            .feed(100, "web", vertexes(vec![member(done("sha256:m1", "[auth] token for a", 0, 100)), member(started("sha256:m2", "[auth] token for b", 50))]))
            .feed(200, "web", vertexes(vec![member(done("sha256:m2", "[auth] token for b", 50, 200))]))
            .finish(200);
        assert_eq!(
            output,
            r#"#0 building with "default" instance using docker driver

#1 [auth] sharing credentials
#1 DONE 0.2s
"#
        );
    }

    #[test]
    fn malformed_updates_do_not_crash() {
        use crate::proto::control::{Vertex, VertexLog, VertexStatus};
        let mut run = PlainRun::new(true);
        run.feed(0, "web", StatusResponse::default());
        run.feed(0, "web", StatusResponse {
            vertexes: vec![
                Vertex::default(),
                Vertex { digest: "sha256:done-only".into(), completed: at(5), ..Default::default() },
                Vertex { digest: "sha256:far".into(), name: "far".into(), started: at(i64::MAX / 2), completed: at(i64::MIN / 2), ..Default::default() },
            ],
            statuses: vec![
                VertexStatus { id: "orphan".into(), vertex: "sha256:unknown".into(), ..Default::default() },
                VertexStatus { id: "no-time".into(), vertex: "sha256:far".into(), current: i64::MAX, total: i64::MIN, ..Default::default() },
            ],
            logs: vec![
                VertexLog { vertex: "sha256:unknown".into(), msg: b"lost\n".to_vec(), ..Default::default() },
                VertexLog { vertex: "sha256:far".into(), msg: b"\xff\xfe not utf-8\n".to_vec(), ..Default::default() },
                VertexLog { vertex: "sha256:far".into(), ..Default::default() },
            ],
            warnings: vec![warning("sha256:unknown", "nobody's")],
        });
        let output = run.finish(10);
        assert!(output.starts_with("#0 building with"), "{output}");
        assert!(output.contains("[web] far"), "{output}");
        assert!(!output.contains("lost") && !output.contains("nobody"), "{output}");
    }
}
