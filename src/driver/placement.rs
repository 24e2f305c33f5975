//! Which node builds a target: a pure function of what can build it and how
//! loaded each node is, so it is tested (and replayed by `make bench-pool`)
//! without engines.
//!
//! buildx places by platform only (a target with no platform goes to the first
//! node); leaven spreads targets over every node that can build them, least
//! loaded first, and keeps a `target:` link's parent and child on one node
//! (BuildKit builds a linked result only in the daemon that has it).

use std::collections::HashMap;

/// What placement knows of a node at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLoad {
    /// Solves running there now.
    pub in_flight: usize,
    /// At most this many at once; 0 means no limit.
    pub limit: usize,
    /// Still reachable (a node that went away takes no more targets).
    pub up: bool,
}

impl NodeLoad {
    fn has_room(&self) -> bool {
        self.up && (self.limit == 0 || self.in_flight < self.limit)
    }

    /// How busy, comparable across nodes with different limits.
    fn busyness(&self) -> f64 {
        if self.limit == 0 {
            self.in_flight as f64
        } else {
            self.in_flight as f64 / self.limit as f64
        }
    }
}

/// Where a target goes now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Node(usize),
    /// Every node that could take it is full: ask again when a solve ends.
    Wait,
    /// No node that can build it is up.
    Nowhere,
}

/// The node for a target that `candidates` (node indexes) can build, given the
/// node its link group is already pinned to, if any: the pinned node when it is
/// up (waiting for room there), else the least busy candidate with room
/// (the first of equals, in node order).
pub fn choose(candidates: &[usize], pinned: Option<usize>, nodes: &[NodeLoad]) -> Choice {
    let load = |i: usize| nodes.get(i).copied().unwrap_or(NodeLoad { in_flight: 0, limit: 0, up: false });
    if let Some(node) = pinned {
        return match (load(node).up, load(node).has_room()) {
            (false, _) => Choice::Nowhere,
            (true, true) => Choice::Node(node),
            (true, false) => Choice::Wait,
        };
    }
    let up: Vec<usize> = candidates.iter().copied().filter(|&i| load(i).up).collect();
    if up.is_empty() {
        return Choice::Nowhere;
    }
    let best = up
        .iter()
        .copied()
        .filter(|&i| load(i).has_room())
        .min_by(|&a, &b| load(a).busyness().total_cmp(&load(b).busyness()).then(a.cmp(&b)));
    match best {
        Some(node) => Choice::Node(node),
        None => Choice::Wait,
    }
}

/// A share of one target's platforms, built together on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformGroup {
    /// In the target's order.
    pub platforms: Vec<String>,
    /// Nodes (indexes, in node order) that build every platform of the group.
    pub candidates: Vec<usize>,
}

/// How a target's platforms go to nodes, given the platforms each node builds
/// (`nodes[i]`, normalized as the target's): one group of them all when some
/// node builds every one (or the target names none), with every such node a
/// candidate; else as few groups as a greedy cover gives, each the platforms
/// the node that builds most of the rest builds (the first of equals). This
/// is where buildx splits too: it sends each platform to the first node that
/// builds it and recombines platforms that land on one node.
///
/// A platform no node lists counts as built by every node: the engine then
/// decides (buildx likewise sends it to its first node), so a stage without
/// `run` still builds for a platform the engine cannot execute.
pub fn platform_groups(platforms: &[String], nodes: &[Vec<String>]) -> Vec<PlatformGroup> {
    let all: Vec<usize> = (0..nodes.len()).collect();
    let builders = |platform: &String| -> Vec<usize> {
        let listing: Vec<usize> = all.iter().copied().filter(|&i| nodes[i].contains(platform)).collect();
        if listing.is_empty() { all.clone() } else { listing }
    };
    let common = |group: &[String]| -> Vec<usize> {
        let per_platform: Vec<Vec<usize>> = group.iter().map(builders).collect();
        all.iter().copied().filter(|i| per_platform.iter().all(|b| b.contains(i))).collect()
    };
    let every = common(platforms);
    if !every.is_empty() || platforms.is_empty() {
        return vec![PlatformGroup { platforms: platforms.to_vec(), candidates: every }];
    }
    let mut rest: Vec<String> = platforms.to_vec();
    let mut groups = Vec::new();
    while !rest.is_empty() {
        let covers = |node: usize| rest.iter().filter(|p| builders(p).contains(&node)).count();
        // `rest` is not empty and each platform has a builder, so some node covers one.
        let Some(best) = all.iter().copied().max_by(|&a, &b| covers(a).cmp(&covers(b)).then(b.cmp(&a))) else { break };
        let (group, left): (Vec<String>, Vec<String>) = rest.into_iter().partition(|p| builders(p).contains(&best));
        rest = left;
        groups.push(PlatformGroup { candidates: common(&group), platforms: group });
    }
    groups
}

/// Targets connected by `target:` links, as groups that must share a node:
/// for each target (by index) the index of its group's first member.
pub fn link_groups(names: &[String], links: &[Vec<String>]) -> Vec<usize> {
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let mut parent: Vec<usize> = (0..names.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (child, targets) in links.iter().enumerate() {
        for target in targets {
            if let Some(&linked) = index.get(target.as_str()) {
                let (a, b) = (root(&mut parent, child), root(&mut parent, linked));
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    (0..names.len()).map(|i| root(&mut parent, i)).collect()
}

/// One target of a replayed run: how long it took, and the targets it waits for.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub name: String,
    pub seconds: f64,
    pub links: Vec<String>,
}

/// The makespan of a run replayed over `nodes` equal nodes, each running one
/// solve at a time, placed by [`choose`]; `first_node_only` places as buildx
/// does for targets without platforms (all on the first node).
pub fn replay(run: &[Recorded], nodes: usize, first_node_only: bool) -> f64 {
    let names: Vec<String> = run.iter().map(|r| r.name.clone()).collect();
    let links: Vec<Vec<String>> = run.iter().map(|r| r.links.clone()).collect();
    let groups = link_groups(&names, &links);
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let mut loads = vec![NodeLoad { in_flight: 0, limit: 1, up: true }; nodes.max(1)];
    let mut pinned: HashMap<usize, usize> = HashMap::new();
    let mut finished_at: Vec<Option<f64>> = vec![None; run.len()];
    let mut started = vec![false; run.len()];
    // (end time, target, node) of running solves.
    let mut running: Vec<(f64, usize, usize)> = Vec::new();
    let mut now = 0.0_f64;
    let candidates: Vec<usize> = if first_node_only { vec![0] } else { (0..loads.len()).collect() };
    let order = start_order(&names, &links, &groups);
    loop {
        // Start every ready target that finds a node, in the scheduler's order.
        for &t in &order {
            let ready = !started[t] && run[t].links.iter().all(|l| index.get(l.as_str()).is_none_or(|&p| finished_at[p].is_some()));
            if !ready {
                continue;
            }
            if let Choice::Node(node) = choose(&candidates, pinned.get(&groups[t]).copied(), &loads) {
                started[t] = true;
                pinned.insert(groups[t], node);
                loads[node].in_flight += 1;
                running.push((now + run[t].seconds, t, node));
            }
        }
        // Advance to the next solve that ends.
        let Some(next) = running.iter().enumerate().min_by(|a, b| a.1 .0.total_cmp(&b.1 .0)).map(|(i, _)| i) else { break };
        let (end, t, node) = running.swap_remove(next);
        now = end;
        finished_at[t] = Some(end);
        loads[node].in_flight -= 1;
    }
    now
}

/// The order the scheduler offers ready targets to the nodes: targets others
/// link to first (their dependents can only start after them, on their node),
/// then the rest, each in the run's order. Only the links are known before a
/// run, not the durations.
pub fn start_order(names: &[String], links: &[Vec<String>], groups: &[usize]) -> Vec<usize> {
    let linked: std::collections::HashSet<&str> = links.iter().flatten().map(String::as_str).collect();
    let mut group_sizes: HashMap<usize, usize> = HashMap::new();
    for g in groups {
        *group_sizes.entry(*g).or_default() += 1;
    }
    let in_group = |t: usize| groups.get(t).and_then(|g| group_sizes.get(g)).is_some_and(|n| *n > 1);
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|&t| (!linked.contains(names[t].as_str()), !in_group(t)));
    order
}

/// The best a run can do on `nodes` nodes: all the work spread evenly, or its
/// longest chain of links, whichever is longer.
pub fn ideal(run: &[Recorded], nodes: usize) -> f64 {
    let total: f64 = run.iter().map(|r| r.seconds).sum();
    let index: HashMap<&str, usize> = run.iter().enumerate().map(|(i, r)| (r.name.as_str(), i)).collect();
    let mut chain: Vec<Option<f64>> = vec![None; run.len()];
    fn longest(t: usize, run: &[Recorded], index: &HashMap<&str, usize>, chain: &mut Vec<Option<f64>>, depth: usize) -> f64 {
        if let Some(c) = chain[t] {
            return c;
        }
        // Links have no cycles (bake refuses them); the depth bound keeps bad input finite.
        let before = if depth > run.len() {
            0.0
        } else {
            run[t].links.iter().filter_map(|l| index.get(l.as_str())).map(|&p| longest(p, run, index, chain, depth + 1)).fold(0.0, f64::max)
        };
        let c = before + run[t].seconds;
        chain[t] = Some(c);
        c
    }
    let critical = (0..run.len()).map(|t| longest(t, run, &index, &mut chain, 0)).fold(0.0, f64::max);
    (total / nodes.max(1) as f64).max(critical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(in_flight: usize, limit: usize) -> NodeLoad {
        NodeLoad { in_flight, limit, up: true }
    }

    #[test]
    fn the_least_busy_node_with_room_wins() {
        assert_eq!(choose(&[0, 1], None, &[load(2, 0), load(1, 0)]), Choice::Node(1));
        assert_eq!(choose(&[0, 1], None, &[load(1, 0), load(1, 0)]), Choice::Node(0), "ties go to the first");
        assert_eq!(choose(&[0, 1], None, &[load(2, 2), load(2, 2)]), Choice::Wait);
        assert_eq!(choose(&[1], None, &[load(0, 0), load(3, 0)]), Choice::Node(1), "only candidates count");
        // Busyness is relative to the limit: 2 of 8 is less busy than 1 of 2.
        assert_eq!(choose(&[0, 1], None, &[load(1, 2), load(2, 8)]), Choice::Node(1));
    }

    #[test]
    fn a_pinned_group_waits_for_its_node_and_a_node_that_went_away_takes_nothing() {
        assert_eq!(choose(&[0, 1], Some(1), &[load(0, 1), load(1, 1)]), Choice::Wait);
        assert_eq!(choose(&[0, 1], Some(1), &[load(0, 1), load(0, 1)]), Choice::Node(1));
        let down = NodeLoad { in_flight: 0, limit: 0, up: false };
        assert_eq!(choose(&[0, 1], None, &[down, load(5, 0)]), Choice::Node(1));
        assert_eq!(choose(&[0], None, &[down]), Choice::Nowhere);
        assert_eq!(choose(&[0, 1], Some(0), &[down, load(0, 0)]), Choice::Nowhere);
    }

    #[test]
    fn platforms_split_only_when_no_node_builds_them_all() {
        let p = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<String>>();
        let both = p(&["linux/amd64", "linux/arm64"]);
        // Both nodes build both: one group, either node.
        let groups = platform_groups(&both, &[both.clone(), both.clone()]);
        assert_eq!(groups, vec![PlatformGroup { platforms: both.clone(), candidates: vec![0, 1] }]);
        // Each builds one: a group per node.
        let groups = platform_groups(&both, &[p(&["linux/amd64"]), p(&["linux/arm64", "linux/riscv64"])]);
        assert_eq!(
            groups,
            vec![
                PlatformGroup { platforms: p(&["linux/amd64"]), candidates: vec![0] },
                PlatformGroup { platforms: p(&["linux/arm64"]), candidates: vec![1] },
            ]
        );
        // The node that builds most of them takes them; the rest go where they can.
        let three = p(&["linux/amd64", "linux/arm64", "linux/s390x"]);
        let groups = platform_groups(&three, &[p(&["linux/s390x"]), p(&["linux/amd64", "linux/arm64"]), p(&["linux/arm64"])]);
        assert_eq!(
            groups,
            vec![
                PlatformGroup { platforms: p(&["linux/amd64", "linux/arm64"]), candidates: vec![1] },
                PlatformGroup { platforms: p(&["linux/s390x"]), candidates: vec![0] },
            ]
        );
        // A platform no node lists is left to any node.
        let groups = platform_groups(&p(&["linux/amd64", "linux/mips64"]), &[p(&["linux/arm64"]), p(&["linux/amd64"])]);
        assert_eq!(groups, vec![PlatformGroup { platforms: p(&["linux/amd64", "linux/mips64"]), candidates: vec![1] }]);
        // No platform: every node.
        assert_eq!(platform_groups(&[], &[p(&["linux/amd64"]), vec![]]), vec![PlatformGroup { platforms: vec![], candidates: vec![0, 1] }]);
    }

    #[test]
    fn linked_targets_form_one_group() {
        let names: Vec<String> = ["base", "app", "worker", "docs"].map(String::from).to_vec();
        let links = vec![vec![], vec!["base".into()], vec!["app".into()], vec![]];
        assert_eq!(link_groups(&names, &links), vec![0, 0, 0, 3]);
    }

    #[test]
    fn replays_spread_work_and_keep_links_in_order() {
        let r = |name: &str, seconds: f64, links: &[&str]| Recorded { name: name.into(), seconds, links: links.iter().map(|l| l.to_string()).collect() };
        let run: Vec<Recorded> = (0..8).map(|i| r(&format!("t{i}"), 1.0, &[])).collect();
        assert_eq!(replay(&run, 1, false), 8.0);
        assert_eq!(replay(&run, 4, false), 2.0);
        assert_eq!(replay(&run, 4, true), 8.0, "buildx puts everything on the first node");
        assert_eq!(ideal(&run, 4), 2.0);
        let chain = vec![r("a", 2.0, &[]), r("b", 3.0, &["a"]), r("c", 1.0, &[])];
        assert_eq!(ideal(&chain, 8), 5.0, "the longest chain bounds it");
        assert_eq!(replay(&chain, 8, false), 5.0);
    }
}
