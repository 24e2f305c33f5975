//! The terminal display: progressui's frame (header, one row per vertex,
//! sub-status rows, a log tail under busy vertices), drawn with indicatif.
//!
//! The frame is built as plain lines here; indicatif fits each line to the
//! terminal width (the name is cut, times stay right-aligned) and redraws them
//! in place. indicatif does not tell its users the terminal height, so the live
//! frame is laid out for [`LIVE_HEIGHT`] lines, as progressui lays it out for
//! the real height; the final frame has every row.

use std::collections::HashMap;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::time::UnixNanos;
use super::trace::{NodeId, Trace, LOG_TAIL_LINES};
use super::units;

/// Lines the live frame is laid out for (header included).
const LIVE_HEIGHT: usize = 24;
/// A log tail takes its lines plus this many rows of room it needs around it.
const LOG_TAIL_ROOM: usize = LOG_TAIL_LINES + 3;
/// Times below this read 0.0s, as in progressui.
const SHORTEST_SHOWN: f64 = 0.05;

/// How a frame line looks: its colour, or the header and log-tail roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Look {
    Header,
    Running,
    Done,
    Failed,
    Canceled,
    LogTail,
}

/// One line of a frame: `text` on the left, `right` against the right edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FrameLine {
    pub(crate) look: Look,
    pub(crate) text: String,
    pub(crate) right: String,
}

/// A row before layout: a vertex, one of its sub-statuses, or a warning.
#[derive(Debug)]
struct Job {
    name: String,
    /// Sub-status progress, shown before the time.
    amount: String,
    seconds: f64,
    completed: bool,
    look_when_completed: Look,
    /// The vertex whose log tail may show under this row.
    logs_of: Option<NodeId>,
    show_logs: bool,
}

/// Builds frames; remembers how often each vertex's log tail was shown, which
/// progressui uses to keep showing the same tails rather than flicker between them.
#[derive(Debug)]
pub(crate) struct TtyFrames {
    phase: String,
    console_description: String,
    tail_shown: HashMap<NodeId, usize>,
}

impl TtyFrames {
    pub(crate) fn new(console_description: &str) -> Self {
        Self { phase: "Building".to_string(), console_description: console_description.to_string(), tail_shown: HashMap::new() }
    }

    /// The frame at `now` (local clock); `last` is the frame that stays on screen.
    pub(crate) fn frame(&mut self, trace: &Trace, now: UnixNanos, last: bool) -> Vec<FrameLine> {
        let mut jobs = jobs(trace, now);
        self.choose_log_tails(trace, &mut jobs);
        let hidden_by_tails: usize =
            jobs.iter().filter(|job| job.show_logs).filter_map(|job| job.logs_of).map(|id| trace.node(id).tail.lines().count()).sum();
        if !last {
            jobs = wrap_height(jobs, LIVE_HEIGHT as isize - 2 - hidden_by_tails as isize);
        }

        let (completed, total) = trace.counts();
        let elapsed = now.since(trace.local_start().unwrap_or(now)).seconds();
        let finished = if last && completed > 0 && completed == total { " FINISHED" } else { "" };
        let header = format!("[+] {} {elapsed:.1}s ({completed}/{total}){finished}", self.phase);
        let mut lines = vec![FrameLine { look: Look::Header, text: header, right: self.console_description.clone() }];
        for job in jobs {
            let seconds = if job.seconds < SHORTEST_SHOWN { 0.0 } else { job.seconds };
            let right = if job.amount.is_empty() { format!("{seconds:.1}s") } else { format!("{} {seconds:.1}s", job.amount) };
            let look = if job.completed { job.look_when_completed } else { Look::Running };
            lines.push(FrameLine { look, text: format!(" => {}", job.name), right });
            if let (true, Some(id)) = (job.show_logs, job.logs_of) {
                let tail = trace.node(id).tail.lines().map(|line| FrameLine {
                    look: Look::LogTail,
                    text: format!(" => => # {line}"),
                    right: String::new(),
                });
                lines.extend(tail);
                *self.tail_shown.entry(id).or_default() += 1;
            }
        }
        lines
    }

    /// progressui's `setupTerminals`: the busiest running vertices get a log
    /// tail while the frame has room for one more.
    fn choose_log_tails(&self, trace: &Trace, jobs: &mut [Job]) {
        let running = jobs.iter().filter(|job| !job.completed).count();
        let weight = |job: &Job| {
            job.logs_of.map_or(0, |id| trace.node(id).log_bytes + self.tail_shown.get(&id).copied().unwrap_or(0) * 50)
        };
        let mut candidates: Vec<usize> = (0..jobs.len())
            .filter(|&i| !jobs[i].completed && jobs[i].logs_of.is_some_and(|id| trace.node(id).log_bytes > 0))
            .collect();
        candidates.sort_by_key(|&i| std::cmp::Reverse(weight(&jobs[i])));
        let mut free = LIVE_HEIGHT as isize - 2 - running as isize;
        for i in candidates {
            if free <= LOG_TAIL_ROOM as isize {
                break;
            }
            jobs[i].show_logs = true;
            free -= LOG_TAIL_ROOM as isize;
        }
    }
}

/// The rows of every started vertex, in start order (progressui's `displayInfo`).
fn jobs(trace: &Trace, now: UnixNanos) -> Vec<Job> {
    let offset = trace.local_offset();
    let local = |at: UnixNanos| at.plus(offset);
    let mut jobs = Vec::new();
    for &id in trace.started() {
        let node = trace.node(id);
        let mut name = node.name.replace('\t', " ");
        let mut look_when_completed = Look::Done;
        if node.is_canceled() {
            name = format!("CANCELED {name}");
            look_when_completed = Look::Canceled;
        } else if !node.error.is_empty() {
            name = format!("ERROR {name}");
            look_when_completed = Look::Failed;
        }
        if node.cached {
            name = format!("CACHED {name}");
        }
        let seconds = node.merged().iter().map(|interval| interval.shifted(offset).duration(now).seconds()).sum();
        jobs.push(Job {
            name,
            amount: String::new(),
            seconds,
            completed: node.merged().iter().all(|interval| interval.stop.is_some()),
            look_when_completed,
            logs_of: Some(id),
            show_logs: false,
        });
        for sub in &node.statuses {
            let amount = if sub.total != 0 {
                format!("{} / {}", units::bytes(sub.current), units::bytes(sub.total))
            } else if sub.current != 0 {
                units::bytes(sub.current)
            } else {
                String::new()
            };
            let seconds = sub.started.map_or(0.0, |start| sub.completed.map_or(now, local).since(local(start)).seconds());
            jobs.push(Job {
                name: format!("=> {}", sub.id),
                amount,
                seconds,
                completed: sub.completed.is_some(),
                look_when_completed: Look::Done,
                logs_of: None,
                show_logs: false,
            });
        }
        let last_run = node.most_recent_interval().map(|interval| interval.shifted(offset));
        for warning in &node.warnings {
            jobs.push(Job {
                name: format!("WARN: {}", String::from_utf8_lossy(&warning.short)),
                amount: String::new(),
                seconds: last_run.map_or(0.0, |interval| interval.duration(now).seconds()),
                // progressui never counts warning rows as completed, so they stay uncoloured.
                completed: false,
                look_when_completed: Look::Running,
                logs_of: None,
                show_logs: false,
            });
        }
    }
    jobs
}

/// progressui's `wrapHeight`: keep the last `limit` rows, but bring running
/// rows that fell off the top back in place of the first completed ones.
fn wrap_height(jobs: Vec<Job>, limit: isize) -> Vec<Job> {
    let Ok(limit) = usize::try_from(limit) else {
        return Vec::new();
    };
    if jobs.len() <= limit {
        return jobs;
    }
    let mut jobs = jobs;
    let kept = jobs.split_off(jobs.len() - limit);
    let mut cut_running: Vec<Job> = jobs.into_iter().filter(|job| !job.completed).collect();
    if cut_running.is_empty() {
        return kept;
    }
    // Drop completed rows among the first `cut_running.len()` kept ones.
    let kept_len = kept.len();
    let rewrapped: Vec<Job> =
        kept.into_iter().enumerate().filter(|(i, job)| !job.completed || *i >= cut_running.len()).map(|(_, job)| job).collect();
    let room = kept_len - rewrapped.len();
    let mut wrapped = cut_running.split_off(cut_running.len() - room);
    wrapped.extend(rewrapped);
    wrapped
}

fn style(look: Look) -> ProgressStyle {
    let template = match look {
        Look::Header | Look::Running => "{wide_msg} {prefix}",
        Look::Done => "{wide_msg:.blue} {prefix:.blue}",
        Look::Failed => "{wide_msg:.red} {prefix:.red}",
        Look::Canceled => "{wide_msg:.yellow} {prefix:.yellow}",
        Look::LogTail => "{wide_msg:.dim}",
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_for(line: &FrameLine) -> ProgressBar {
    ProgressBar::hidden().with_style(style(line.look)).with_message(line.text.clone()).with_prefix(line.right.clone())
}

/// The lines on the terminal, one indicatif bar per line.
pub(crate) struct Screen {
    multi: MultiProgress,
    rows: Vec<(ProgressBar, FrameLine)>,
}

impl Screen {
    pub(crate) fn on_stderr() -> Self {
        Self { multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()), rows: Vec::new() }
    }

    /// Redraws with `frame`, touching only the lines that changed.
    pub(crate) fn show(&mut self, mut frame: Vec<FrameLine>) {
        while self.rows.len() > frame.len() {
            if let Some((bar, _)) = self.rows.pop() {
                self.multi.remove(&bar);
            }
        }
        // New lines join without drawing; the header's redraw below shows them.
        for line in frame.split_off(self.rows.len()) {
            let bar = self.multi.add(bar_for(&line));
            self.rows.push((bar, line));
        }
        // Every change draws (as indicatif's rate allows); the header goes last
        // so that its draw, which happens every frame, has all the others.
        let mut header_drawn = false;
        for (i, line) in frame.into_iter().enumerate().rev() {
            let Some((bar, shown)) = self.rows.get_mut(i) else { continue };
            if *shown == line {
                continue;
            }
            if shown.look != line.look {
                bar.set_style(style(line.look));
            }
            if shown.text != line.text {
                bar.set_message(line.text.clone());
            }
            if shown.right != line.right {
                bar.set_prefix(line.right.clone());
            }
            header_drawn |= i == 0;
            *shown = line;
        }
        if let (false, Some((header, _))) = (header_drawn, self.rows.first()) {
            header.tick();
        }
    }

    /// Replaces the live lines with `frame`, left on screen for good. Each line
    /// is drawn and let go on its own, so frames taller than the terminal scroll.
    pub(crate) fn keep(mut self, frame: Vec<FrameLine>) {
        // Clearing may fail on a closed terminal; there is nothing to recover.
        let _ = self.multi.clear();
        for (bar, _) in self.rows.drain(..) {
            self.multi.remove(&bar);
        }
        for line in frame {
            self.multi.add(bar_for(&line)).finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, completed: bool) -> Job {
        Job {
            name: name.to_string(),
            amount: String::new(),
            seconds: 0.0,
            completed,
            look_when_completed: Look::Done,
            logs_of: None,
            show_logs: false,
        }
    }

    fn names(jobs: &[Job]) -> Vec<&str> {
        jobs.iter().map(|job| job.name.as_str()).collect()
    }

    #[test]
    fn wrapping_keeps_running_rows_that_fell_off() {
        let jobs = vec![job("a", false), job("b", true), job("c", true), job("d", true), job("e", false)];
        assert_eq!(names(&wrap_height(jobs, 3)), ["a", "d", "e"]);
        let all_done = vec![job("a", true), job("b", true), job("c", false)];
        assert_eq!(names(&wrap_height(all_done, 2)), ["b", "c"]);
        assert!(wrap_height(vec![job("a", true)], -1).is_empty());
    }
}

#[cfg(test)]
mod frame_tests {
    use super::*;
    use crate::driver::progress::fixtures::*;
    use crate::proto::control::StatusResponse;

    fn feed(trace: &mut Trace, now: i64, status: StatusResponse) {
        trace.apply(&status, local(now));
    }

    fn lines(frame: &[FrameLine]) -> Vec<String> {
        frame.iter().map(|line| format!("{:?}|{}|{}", line.look, line.text, line.right)).collect()
    }

    #[test]
    fn frames_show_rows_sub_statuses_and_log_tails() {
        let mut trace = Trace::default();
        let trace = &mut trace;
        feed(trace, 0, vertexes(vec![cached("sha256:1", "[internal] load metadata for docker.io/library/alpine:3.20", 0)]));
        feed(trace, 100, vertexes(vec![started("sha256:2", "[1/3] FROM docker.io/library/alpine:3.20", 100)]));
        feed(trace, 200, vertexes(vec![started("sha256:3", "[2/3] RUN\tmake", 200)]));
        feed(trace, 300, vertexes(vec![failed("sha256:4", "[3/3] RUN false", 300, 400, "exit code: 1")]));
        feed(trace, 900, statuses(vec![transfer("sha256:2", "sha256:abc", (1_200_000, 3_400_000), 900, 100, None)]));
        feed(trace, 1000, logs(vec![log("sha256:3", 1000, "compiling\nlinking\n")]));

        let mut frames = TtyFrames::new("docker:default");
        assert_eq!(
            lines(&frames.frame(trace, local(1500), false)),
            [
                "Header|[+] Building 1.5s (2/4)|docker:default",
                "Done| => CACHED [internal] load metadata for docker.io/library/alpine:3.20|0.0s",
                "Running| => [1/3] FROM docker.io/library/alpine:3.20|1.4s",
                "Running| => => sha256:abc|1.20MB / 3.40MB 1.4s",
                "Running| => [2/3] RUN make|1.3s",
                "LogTail| => => # compiling|",
                "LogTail| => => # linking|",
                "Failed| => ERROR [3/3] RUN false|0.1s",
            ]
        );

        feed(trace, 1800, statuses(vec![transfer("sha256:2", "sha256:abc", (3_400_000, 3_400_000), 1800, 100, Some(1800))]));
        feed(trace, 1900, vertexes(vec![done("sha256:2", "[1/3] FROM docker.io/library/alpine:3.20", 100, 1900)]));
        feed(trace, 2000, vertexes(vec![done("sha256:3", "[2/3] RUN\tmake", 200, 2000)]));
        assert_eq!(
            lines(&frames.frame(trace, local(2100), true)),
            [
                "Header|[+] Building 2.1s (4/4) FINISHED|docker:default",
                "Done| => CACHED [internal] load metadata for docker.io/library/alpine:3.20|0.0s",
                "Done| => [1/3] FROM docker.io/library/alpine:3.20|1.8s",
                "Done| => => sha256:abc|3.40MB / 3.40MB 1.7s",
                "Done| => [2/3] RUN make|1.8s",
                "Failed| => ERROR [3/3] RUN false|0.1s",
            ]
        );
    }

    #[test]
    fn live_frames_keep_the_newest_rows() {
        let mut trace = Trace::default();
        for i in 0..40 {
            let digest = format!("sha256:{i}");
            trace.apply(&vertexes(vec![done(&digest, &format!("step {i}"), i * 10, i * 10 + 5)]), local(i * 10));
        }
        trace.apply(&vertexes(vec![started("sha256:run", "[web] still running", 0)]), local(400));
        let mut frames = TtyFrames::new("");
        let live = frames.frame(&trace, local(500), false);
        assert_eq!(live.len(), LIVE_HEIGHT - 1, "the header and the rows that fit");
        assert_eq!(live[1].text, " => step 19");
        assert_eq!(live.last().map(|line| line.text.as_str()), Some(" => [web] still running"));
        assert_eq!(frames.frame(&trace, local(500), true).len(), 42, "the last frame has every row");
    }
}
