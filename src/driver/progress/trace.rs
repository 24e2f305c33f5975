//! What the status streams have said so far, vertex by vertex: the model both
//! text displays read (progressui's `trace`).
//!
//! Vertices are keyed by digest, so a vertex reported by several targets is one
//! vertex. A vertex in a progress group is folded into one node for the group.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::proto::control::{StatusResponse, Vertex, VertexStatus, VertexWarning};
use crate::proto::pb::ProgressGroup;

use super::time::{Span, UnixNanos};

/// Index of a [`Node`] in its [`Trace`].
pub(crate) type NodeId = usize;

/// One stretch of time a vertex ran (a vertex can start more than once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Interval {
    pub(crate) start: UnixNanos,
    pub(crate) stop: Option<UnixNanos>,
}

impl Interval {
    /// How long it ran; an interval still open runs until `now`.
    pub(crate) fn duration(&self, now: UnixNanos) -> Span {
        self.stop.unwrap_or(now).since(self.start)
    }

    pub(crate) fn shifted(self, by: Span) -> Interval {
        Interval { start: self.start.plus(by), stop: self.stop.map(|stop| stop.plus(by)) }
    }
}

/// progressui's `mergeIntervals` over intervals sorted by start: overlapping
/// ones become one, and one that never stops swallows everything after it.
fn merge_intervals(mut sorted: impl Iterator<Item = Interval>) -> Vec<Interval> {
    let mut merged = Vec::new();
    let Some(mut current) = sorted.next() else {
        return merged;
    };
    for next in sorted {
        let Some(current_stop) = current.stop else {
            break;
        };
        if current_stop < next.start {
            merged.push(current);
            current = next;
            continue;
        }
        match next.stop {
            None => {
                current = Interval { start: current.start, stop: None };
                break;
            }
            Some(next_stop) if next_stop > current_stop => current.stop = Some(next_stop),
            Some(_) => {}
        }
    }
    merged.push(current);
    merged
}

/// A sub-progress line of a vertex (a layer pull, a context transfer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SubStatus {
    pub(crate) id: String,
    pub(crate) current: i64,
    pub(crate) total: i64,
    pub(crate) timestamp: UnixNanos,
    pub(crate) started: Option<UnixNanos>,
    pub(crate) completed: Option<UnixNanos>,
    /// Updated since the plain display last looked.
    pub(crate) fresh: bool,
}

impl SubStatus {
    fn of(status: &VertexStatus) -> Self {
        Self {
            id: status.id.clone(),
            current: status.current,
            total: status.total,
            timestamp: UnixNanos::from_proto_or_epoch(status.timestamp.as_ref()),
            started: status.started.as_ref().map(UnixNanos::from_proto),
            completed: status.completed.as_ref().map(UnixNanos::from_proto),
            fresh: true,
        }
    }
}

/// How many lines of a running vertex's output the terminal display shows.
pub(crate) const LOG_TAIL_LINES: usize = 6;

/// The last lines of a vertex's output roughly as a terminal would show them:
/// carriage returns overwrite the line, escape sequences and other control
/// characters are dropped. (progressui runs a VT100 emulator for this.)
#[derive(Clone, Debug, Default)]
pub(crate) struct LogTail {
    lines: VecDeque<String>,
    line_open: bool,
    carriage_return: bool,
    escape: Escape,
}

/// Where the tail is in an escape sequence (they can span updates).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Escape {
    #[default]
    Outside,
    /// Just after ESC: one more character, unless it opens a CSI sequence.
    Started,
    /// In `ESC [ …`, which ends with a character from `@` to `~`.
    Csi,
}

impl LogTail {
    fn push(&mut self, data: &[u8]) {
        for c in String::from_utf8_lossy(data).chars() {
            match self.escape {
                Escape::Outside => {}
                Escape::Started => {
                    self.escape = if c == '[' { Escape::Csi } else { Escape::Outside };
                    continue;
                }
                Escape::Csi => {
                    if ('@'..='~').contains(&c) {
                        self.escape = Escape::Outside;
                    }
                    continue;
                }
            }
            if std::mem::take(&mut self.carriage_return) && c != '\n' {
                if let Some(line) = self.lines.back_mut().filter(|_| self.line_open) {
                    line.clear();
                }
            }
            match c {
                '\n' => {
                    self.open_line();
                    self.line_open = false;
                }
                '\r' => self.carriage_return = true,
                '\u{1b}' => self.escape = Escape::Started,
                '\t' => self.write(' '),
                c if c.is_control() => {}
                c => self.write(c),
            }
        }
    }

    fn open_line(&mut self) {
        if !self.line_open {
            self.lines.push_back(String::new());
            self.line_open = true;
            if self.lines.len() > LOG_TAIL_LINES {
                self.lines.pop_front();
            }
        }
    }

    fn write(&mut self, c: char) {
        self.open_line();
        if let Some(line) = self.lines.back_mut() {
            line.push(c);
        }
    }

    /// The non-blank lines, oldest first.
    pub(crate) fn lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(String::as_str).filter(|line| !line.trim().is_empty())
    }
}

/// The fields of a vertex report that decide whether it is news.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Report {
    name: String,
    started: Option<UnixNanos>,
    cached: bool,
    error: String,
}

/// The latest report of one member of a progress group.
#[derive(Clone, Debug)]
struct Member {
    digest: String,
    started: Option<UnixNanos>,
    completed: Option<UnixNanos>,
    cached: bool,
    error: String,
    weak: bool,
}

/// One vertex, or one progress group standing for its members.
#[derive(Debug, Default)]
pub(crate) struct Node {
    /// The name it was first reported with.
    pub(crate) name: String,
    pub(crate) cached: bool,
    pub(crate) error: String,
    /// Start → stop, one entry per time the vertex started.
    intervals: BTreeMap<UnixNanos, Option<UnixNanos>>,
    merged: Vec<Interval>,
    last_report: Option<Report>,
    /// Sub-progress in the order each first started; never-started ones are not kept.
    pub(crate) statuses: Vec<SubStatus>,
    pub(crate) warnings: Vec<VertexWarning>,
    /// Formatted log lines (`<secs> <text>`) not yet taken by the plain display
    /// (the terminal display never takes them); the last one may be unfinished.
    pub(crate) logs: Vec<Vec<u8>>,
    pub(crate) logs_partial: bool,
    pub(crate) tail: LogTail,
    pub(crate) log_bytes: usize,
    /// Updates since the plain display last switched to this node, and when
    /// the first of them came (local clock): what its scheduler weighs.
    pub(crate) activity: u32,
    pub(crate) last_block: Option<UnixNanos>,
    /// A progress group none of whose strong members has started.
    pub(crate) hidden: bool,
    members: Vec<Member>,
    updated: bool,
}

impl Node {
    pub(crate) fn merged(&self) -> &[Interval] {
        &self.merged
    }

    pub(crate) fn most_recent_interval(&self) -> Option<Interval> {
        self.merged.last().copied()
    }

    pub(crate) fn is_started(&self) -> bool {
        !self.merged.is_empty()
    }

    pub(crate) fn is_completed(&self) -> bool {
        self.most_recent_interval().is_some_and(|interval| interval.stop.is_some())
    }

    /// BuildKit reports a cancelled vertex with an error ending in Go's `context.Canceled` text.
    pub(crate) fn is_canceled(&self) -> bool {
        self.error.ends_with("context canceled")
    }

    pub(crate) fn failed(&self) -> bool {
        !self.error.is_empty() && !self.is_canceled()
    }

    fn remerge(&mut self) {
        self.merged = merge_intervals(self.intervals.iter().map(|(&start, &stop)| Interval { start, stop }));
    }

    fn bump(&mut self, now: UnixNanos) {
        if self.activity == 0 {
            self.last_block = Some(now);
        }
        self.activity = self.activity.saturating_add(1);
    }

    fn record_status(&mut self, status: &VertexStatus) {
        let sub = SubStatus::of(status);
        match self.statuses.iter_mut().find(|known| known.id == sub.id) {
            Some(known) => *known = sub,
            None if sub.started.is_some() => self.statuses.push(sub),
            None => {}
        }
    }

    /// Splits output into lines stamped with seconds since the vertex started:
    /// three decimals below 10 s, two below 100 s, else one. Text after the last
    /// newline stays open and the next output continues it.
    fn append_log(&mut self, data: &[u8], at: UnixNanos) {
        let since_start = self.most_recent_interval().map_or(Span::default(), |interval| at.since(interval.start));
        let secs = since_start.seconds();
        let precision = if secs < 10.0 {
            3
        } else if secs < 100.0 {
            2
        } else {
            1
        };
        let complete = data.ends_with(b"\n");
        let body = if complete { &data[..data.len() - 1] } else { data };
        for (i, piece) in body.split(|&b| b == b'\n').enumerate() {
            match self.logs.last_mut() {
                Some(open) if i == 0 && self.logs_partial => open.extend_from_slice(piece),
                _ => {
                    let mut line = format!("{secs:.precision$} ").into_bytes();
                    line.extend_from_slice(piece);
                    self.logs.push(line);
                }
            }
        }
        self.logs_partial = !complete;
    }
}

#[derive(Debug, Default)]
pub(crate) struct Trace {
    nodes: Vec<Node>,
    /// Vertex digests and progress-group ids → node; group members map to the group.
    by_digest: HashMap<String, NodeId>,
    groups: HashMap<String, NodeId>,
    /// Nodes in the order they started (or, for groups, were revealed).
    started: Vec<NodeId>,
    /// Nodes with news the plain display has not printed, oldest first.
    updated: Vec<NodeId>,
    first_started: Option<UnixNanos>,
    /// Local clock minus daemon clock, taken when the first vertex started.
    local_offset: Option<Span>,
}

impl Trace {
    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id]
    }

    pub(crate) fn started(&self) -> &[NodeId] {
        &self.started
    }

    pub(crate) fn updated(&self) -> Vec<NodeId> {
        self.updated.clone()
    }

    pub(crate) fn clear_updated(&mut self, id: NodeId) {
        if std::mem::take(&mut self.nodes[id].updated) {
            self.updated.retain(|&other| other != id);
        }
    }

    pub(crate) fn local_offset(&self) -> Span {
        self.local_offset.unwrap_or_default()
    }

    /// When the first vertex started, on the local clock.
    pub(crate) fn local_start(&self) -> Option<UnixNanos> {
        self.first_started.map(|start| start.plus(self.local_offset()))
    }

    /// `(completed, total)` as progressui's header counts them: every known
    /// digest that is not in a hidden group, group members included.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let visible = self.by_digest.values().map(|&id| &self.nodes[id]).filter(|node| !node.hidden);
        visible.fold((0, 0), |(completed, total), node| (completed + usize::from(node.is_completed()), total + 1))
    }

    fn mark_updated(&mut self, id: NodeId) {
        if !std::mem::replace(&mut self.nodes[id].updated, true) {
            self.updated.push(id);
        }
    }

    fn node_for(&mut self, key: &str, name: &str, hidden: bool) -> NodeId {
        if let Some(&id) = self.by_digest.get(key) {
            return id;
        }
        self.nodes.push(Node { name: name.to_string(), hidden, ..Node::default() });
        let id = self.nodes.len() - 1;
        self.by_digest.insert(key.to_string(), id);
        id
    }

    fn group_for(&mut self, group: &ProgressGroup) -> NodeId {
        if let Some(&id) = self.groups.get(&group.id) {
            return id;
        }
        let id = self.node_for(&group.id, &group.name, true);
        self.groups.insert(group.id.clone(), id);
        id
    }

    /// Takes in one status update; `now` is the local clock.
    pub(crate) fn apply(&mut self, status: &StatusResponse, now: UnixNanos) {
        let mut touched_groups = Vec::new();
        for vertex in &status.vertexes {
            let started = vertex.started.as_ref().map(UnixNanos::from_proto);
            if self.first_started.is_none() {
                self.first_started = started;
            }
            match &vertex.progress_group {
                Some(group) => {
                    let id = self.group_for(group);
                    if !touched_groups.contains(&id) {
                        touched_groups.push(id);
                    }
                    self.record_member(id, vertex, started, group.weak);
                }
                None => self.record_vertex(vertex, started, now),
            }
        }
        for id in touched_groups {
            self.refresh_group(id, now);
        }
        for sub in &status.statuses {
            let Some(&id) = self.by_digest.get(&sub.vertex) else { continue };
            let node = &mut self.nodes[id];
            node.record_status(sub);
            node.bump(now);
            self.mark_updated(id);
        }
        for warning in &status.warnings {
            let Some(&id) = self.by_digest.get(&warning.vertex) else { continue };
            let node = &mut self.nodes[id];
            node.warnings.push(warning.clone());
            node.bump(now);
        }
        for log in &status.logs {
            let Some(&id) = self.by_digest.get(&log.vertex) else { continue };
            if log.msg.is_empty() {
                continue;
            }
            let node = &mut self.nodes[id];
            node.log_bytes = node.log_bytes.saturating_add(log.msg.len());
            node.tail.push(&log.msg);
            node.append_log(&log.msg, UnixNanos::from_proto_or_epoch(log.timestamp.as_ref()));
            node.bump(now);
            self.mark_updated(id);
        }
    }

    fn record_vertex(&mut self, vertex: &Vertex, started: Option<UnixNanos>, now: UnixNanos) {
        let id = self.node_for(&vertex.digest, &vertex.name, false);
        let completed = vertex.completed.as_ref().map(UnixNanos::from_proto);
        let node = &mut self.nodes[id];
        let was_started = node.is_started();
        if let Some(start) = started {
            let report = Report { name: vertex.name.clone(), started, cached: vertex.cached, error: vertex.error.clone() };
            // progressui counts every report with a completion time as news.
            let news = completed.is_some() || node.last_report.as_ref() != Some(&report);
            node.last_report = Some(report);
            node.cached = vertex.cached;
            node.error = vertex.error.clone();
            node.intervals.insert(start, completed);
            node.remerge();
            if news {
                node.bump(now);
                self.mark_updated(id);
            }
            if !was_started {
                self.started.push(id);
                self.local_offset.get_or_insert(now.since(start));
            }
        } else if !was_started {
            // Once started, an unstarted repeat of the first report must not undo what is known.
            node.cached = vertex.cached;
            node.error = vertex.error.clone();
        }
    }

    fn record_member(&mut self, id: NodeId, vertex: &Vertex, started: Option<UnixNanos>, weak: bool) {
        let member = Member {
            digest: vertex.digest.clone(),
            started,
            completed: vertex.completed.as_ref().map(UnixNanos::from_proto),
            cached: vertex.cached,
            error: vertex.error.clone(),
            weak,
        };
        let members = &mut self.nodes[id].members;
        match members.iter_mut().find(|known| known.digest == member.digest) {
            Some(known) => *known = member,
            None => members.push(member),
        }
        self.by_digest.insert(vertex.digest.clone(), id);
    }

    /// progressui's `vertexGroup.refresh`: the group ran whenever a member ran,
    /// is cached when all are, fails with the first member error, and shows
    /// once a strong member starts (or a second member is looked at after an error).
    fn refresh_group(&mut self, id: NodeId, now: UnixNanos) {
        let node = &mut self.nodes[id];
        let already_started = node.is_started();
        let was_hidden = node.hidden;
        let mut changed = false;
        let mut cached = true;
        let mut error = String::new();
        for member in &node.members {
            if let Some(start) = member.started {
                changed |= node.intervals.get(&start) != Some(&member.completed);
                node.intervals.insert(start, member.completed);
                node.hidden &= member.weak;
            }
            cached &= member.cached;
            if error.is_empty() {
                error.clone_from(&member.error);
            } else {
                node.hidden = false;
            }
        }
        changed |= node.cached != cached || node.error != error;
        node.cached = cached;
        node.error = error;
        node.remerge();
        let revealed = was_hidden && !node.hidden;
        if let (false, Some(first)) = (already_started, node.merged.first()) {
            self.local_offset.get_or_insert(now.since(first.start));
        }
        if node.hidden {
            return;
        }
        if revealed {
            self.started.push(id);
        }
        if changed || revealed {
            node.bump(now);
            self.mark_updated(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: i128, stop: Option<i128>) -> Interval {
        Interval { start: UnixNanos(start), stop: stop.map(UnixNanos) }
    }

    #[test]
    fn merges_overlapping_intervals() {
        let merged = merge_intervals([span(0, Some(5)), span(3, Some(8)), span(10, Some(12))].into_iter());
        assert_eq!(merged, vec![span(0, Some(8)), span(10, Some(12))]);
        let open = merge_intervals([span(0, Some(5)), span(4, None), span(20, Some(30))].into_iter());
        assert_eq!(open, vec![span(0, None)]);
        let touching = merge_intervals([span(0, Some(5)), span(5, Some(6))].into_iter());
        assert_eq!(touching, vec![span(0, Some(6))]);
        assert_eq!(merge_intervals([span(0, None), span(1, Some(2))].into_iter()), vec![span(0, None)]);
    }

    #[test]
    fn log_tail_keeps_what_a_terminal_shows() {
        let mut tail = LogTail::default();
        tail.push(b"one\r\ntwo\n\x1b[31mred\x1b[0m\n\x1b7saved\x1b[");
        tail.push(b"2Kcleared\n");
        tail.push(b"10%\r50%\r100%");
        tail.push(b" done\n\n");
        assert_eq!(tail.lines().collect::<Vec<_>>(), ["one", "two", "red", "savedcleared", "100% done"]);
        for i in 0..10 {
            tail.push(format!("line {i}\n").as_bytes());
        }
        assert_eq!(tail.lines().count(), LOG_TAIL_LINES);
        assert_eq!(tail.lines().last(), Some("line 9"));
    }
}
