//! The static dependency graph of the loaded units: who pulls whom in, who
//! waits for whom, and the ordering cycles that make a set unbootable.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use crate::unit::UnitDef;

/// A unit name as the graph keeps it: one allocation per unit, shared by
/// every list that mentions it (a target of N units lists N names).
pub type Name = Rc<str>;

/// Precomputed adjacency of the unit set; built once per load/reload.
/// Only units with edges have an entry (a missing entry is an empty list:
/// most units of a large system have few edges, and vigil's memory matters);
/// lists are sorted.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// Every unit of the set.
    pub units: BTreeSet<Name>,
    /// name -> units that must be up (or failed) before it starts: its `after`
    /// plus every unit that lists it in `before`.
    pub start_after: BTreeMap<Name, Vec<Name>>,
    /// Reverse of `start_after`: units that wait for it.
    pub start_before: BTreeMap<Name, Vec<Name>>,
    /// name -> units it pulls in: `wants` + `requires` + units whose
    /// `wanted_by` names it.
    pub pulls: BTreeMap<Name, Vec<Name>>,
    /// name -> units it `requires`.
    pub requires: BTreeMap<Name, Vec<Name>>,
    /// Reverse of `requires`: units that must stop when it stops or fails.
    pub required_by: BTreeMap<Name, Vec<Name>>,
}

/// The shared name of every unit, by name.
type Names<'a> = BTreeMap<&'a str, Name>;

/// A key of a map of units: an owned name (a fresh load) or an already
/// shared one (the manager's, whose graph then shares its names with it).
pub trait UnitKey: Ord + Borrow<str> {
    /// The name as the graph keeps it.
    fn shared(&self) -> Name;
}

impl UnitKey for String {
    fn shared(&self) -> Name {
        Name::from(self.as_str())
    }
}

impl UnitKey for Name {
    fn shared(&self) -> Name {
        Rc::clone(self)
    }
}

fn intern<K: UnitKey, D>(units: &BTreeMap<K, D>) -> Names<'_> {
    units.keys().map(|k| (k.borrow(), k.shared())).collect()
}

/// Adds `to` under `from`, creating the entry; only for names in `names`.
fn add_edge(map: &mut BTreeMap<Name, BTreeSet<Name>>, names: &Names, from: &str, to: &str) {
    if let (Some(from), Some(to)) = (names.get(from), names.get(to)) {
        map.entry(Rc::clone(from))
            .or_default()
            .insert(Rc::clone(to));
    }
}

/// Turns sets into the sorted lists `Graph` exposes, for units with edges.
fn finish(sets: BTreeMap<Name, BTreeSet<Name>>) -> BTreeMap<Name, Vec<Name>> {
    sets.into_iter()
        .filter(|(_, set)| !set.is_empty())
        .map(|(name, set)| (name, set.into_iter().collect()))
        .collect()
}

/// x -> units x starts after (its `after` plus reverse `before`), among `units`.
fn ordering<K: UnitKey, D: Borrow<UnitDef>>(
    units: &BTreeMap<K, D>,
    names: &Names,
) -> BTreeMap<Name, BTreeSet<Name>> {
    let mut after = BTreeMap::new();
    for (name, def) in units {
        let name: &str = name.borrow();
        let def: &UnitDef = def.borrow();
        for a in &def.after {
            add_edge(&mut after, names, name, a);
        }
        for b in &def.before {
            add_edge(&mut after, names, b, name);
        }
    }
    after
}

impl Graph {
    /// Build from units that already passed validation. References to unknown
    /// units are ignored rather than trusted.
    /// (Over owned or shared definitions: a resumed manager builds it from
    /// the `Rc`s its services hold, without copying them.)
    pub fn build<K: UnitKey, D: Borrow<UnitDef>>(units: &BTreeMap<K, D>) -> Graph {
        let names = intern(units);
        let after = ordering(units, &names);
        let mut before = BTreeMap::new();
        for (name, deps) in &after {
            for d in deps {
                add_edge(&mut before, &names, d, name);
            }
        }
        let mut pulls = BTreeMap::new();
        let mut requires = BTreeMap::new();
        let mut required_by = BTreeMap::new();
        for (name, def) in units {
            let name: &str = name.borrow();
            let def: &UnitDef = def.borrow();
            for w in &def.wants {
                add_edge(&mut pulls, &names, name, w);
            }
            for r in &def.requires {
                add_edge(&mut pulls, &names, name, r);
                add_edge(&mut requires, &names, name, r);
                add_edge(&mut required_by, &names, r, name);
            }
            for t in &def.wanted_by {
                add_edge(&mut pulls, &names, t, name);
            }
        }
        Graph {
            start_after: finish(after),
            start_before: finish(before),
            pulls: finish(pulls),
            requires: finish(requires),
            required_by: finish(required_by),
            units: names.into_values().collect(),
        }
    }

    /// The list for `name` in one of the maps (empty when it has no entry).
    pub fn edges<'a>(map: &'a BTreeMap<Name, Vec<Name>>, name: &str) -> &'a [Name] {
        map.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every unit transitively pulled in by `root`, `root` included, sorted by
    /// name. Empty if `root` is not a unit.
    pub fn closure(&self, root: &str) -> Vec<String> {
        if !self.units.contains(root) {
            return Vec::new();
        }
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut queue: VecDeque<&str> = VecDeque::from([root]);
        while let Some(name) = queue.pop_front() {
            if !seen.insert(name) {
                continue;
            }
            for next in self.pulls.get(name).into_iter().flatten() {
                if !seen.contains(&**next) {
                    queue.push_back(next);
                }
            }
        }
        seen.into_iter().map(str::to_string).collect()
    }
}

/// Ordering cycles among `units`, where `a -> b` means a starts after b
/// (declared as `a.after = [b]` or `b.before = [a]`). One cycle per strongly
/// connected component, starting at its smallest name, as the shortest path
/// back to it: `["a", "b", "c"]` reads "a -> b -> c -> a". Dropping those units
/// and calling again finds any cycle that remains.
pub fn find_cycles(units: &BTreeMap<String, UnitDef>) -> Vec<Vec<String>> {
    let names: Vec<&String> = units.keys().collect();
    let index: BTreeMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let edges = ordering(units, &intern(units));
    let adj: Vec<Vec<usize>> = names
        .iter()
        .map(|n| {
            edges
                .get(n.as_str())
                .into_iter()
                .flatten()
                .filter_map(|d| index.get(&**d).copied())
                .collect()
        })
        .collect();
    let mut cycles = Vec::new();
    for comp in strongly_connected(&adj) {
        let Some(&start) = comp.iter().min() else {
            continue;
        };
        let members: BTreeSet<usize> = comp.iter().copied().collect();
        if let Some(path) = shortest_cycle(&adj, &members, start) {
            cycles.push(
                path.iter()
                    .filter_map(|i| names.get(*i).map(|n| (*n).clone()))
                    .collect(),
            );
        }
    }
    cycles.sort();
    cycles
}

/// Kosaraju's algorithm, iterative so deep chains cannot overflow the stack.
fn strongly_connected(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = adj.len();
    let mut visited = vec![false; n];
    let mut finish = Vec::with_capacity(n);
    for root in 0..n {
        if visited.get(root).copied().unwrap_or(true) {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        if let Some(v) = visited.get_mut(root) {
            *v = true;
        }
        while let Some((node, child)) = stack.pop() {
            match adj.get(node).and_then(|c| c.get(child)) {
                Some(&next) => {
                    stack.push((node, child + 1));
                    if let Some(v) = visited.get_mut(next) {
                        if !*v {
                            *v = true;
                            stack.push((next, 0));
                        }
                    }
                }
                None => finish.push(node),
            }
        }
    }
    let mut radj = vec![Vec::new(); n];
    for (from, tos) in adj.iter().enumerate() {
        for &to in tos {
            if let Some(r) = radj.get_mut(to) {
                r.push(from);
            }
        }
    }
    let mut assigned = vec![false; n];
    let mut comps = Vec::new();
    for &root in finish.iter().rev() {
        if assigned.get(root).copied().unwrap_or(true) {
            continue;
        }
        let mut comp = Vec::new();
        let mut stack = vec![root];
        if let Some(a) = assigned.get_mut(root) {
            *a = true;
        }
        while let Some(node) = stack.pop() {
            comp.push(node);
            for &prev in radj.get(node).into_iter().flatten() {
                if let Some(a) = assigned.get_mut(prev) {
                    if !*a {
                        *a = true;
                        stack.push(prev);
                    }
                }
            }
        }
        comps.push(comp);
    }
    comps
}

/// Shortest path start -> ... -> start inside `members` (None if the
/// component is a single node without a self-loop).
fn shortest_cycle(
    adj: &[Vec<usize>],
    members: &BTreeSet<usize>,
    start: usize,
) -> Option<Vec<usize>> {
    let mut parent: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &next in adj.get(node).into_iter().flatten() {
            if next == start {
                let mut path = vec![node];
                let mut cur = node;
                while cur != start {
                    cur = *parent.get(&cur)?;
                    path.push(cur);
                }
                path.reverse();
                return Some(path);
            }
            if members.contains(&next) && !parent.contains_key(&next) {
                parent.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::UnitKind;

    fn unit(name: &str, f: impl FnOnce(&mut UnitDef)) -> (String, UnitDef) {
        let mut u = UnitDef::new(name);
        f(&mut u);
        (name.to_string(), u)
    }

    fn s<C: FromIterator<String>>(v: &[&str]) -> C {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn n(v: &[&str]) -> Vec<Name> {
        v.iter().map(|x| Name::from(*x)).collect()
    }

    #[test]
    fn build_fills_every_map() {
        let units: BTreeMap<_, _> = [
            unit("default", |u| u.kind = UnitKind::Target),
            unit("db", |u| u.wanted_by = s(&["default"])),
            unit("web", |u| {
                u.requires = s(&["db"]);
                u.wants = s(&["cache"]);
                u.after = s(&["db"]);
                u.wanted_by = s(&["default"]);
            }),
            unit("cache", |u| u.before = s(&["web", "web"])),
            unit("log", |_| {}),
        ]
        .into_iter()
        .collect();
        let g = Graph::build(&units);
        assert_eq!(Graph::edges(&g.start_after, "web"), n(&["cache", "db"]));
        assert_eq!(Graph::edges(&g.start_before, "db"), n(&["web"]));
        assert_eq!(Graph::edges(&g.start_before, "cache"), n(&["web"]));
        assert_eq!(Graph::edges(&g.pulls, "default"), n(&["db", "web"]));
        assert_eq!(Graph::edges(&g.pulls, "web"), n(&["cache", "db"]));
        assert_eq!(Graph::edges(&g.requires, "web"), n(&["db"]));
        assert_eq!(Graph::edges(&g.required_by, "db"), n(&["web"]));
        assert!(Graph::edges(&g.pulls, "log").is_empty());
        assert_eq!(
            g.closure("default"),
            s::<Vec<String>>(&["cache", "db", "default", "web"])
        );
        assert_eq!(g.closure("log"), s::<Vec<String>>(&["log"]));
        assert!(g.closure("nope").is_empty());
    }

    #[test]
    fn unknown_references_are_ignored() {
        let units: BTreeMap<_, _> = [unit("a", |u| {
            u.after = s(&["ghost"]);
            u.wants = s(&["ghost"]);
        })]
        .into_iter()
        .collect();
        let g = Graph::build(&units);
        assert!(Graph::edges(&g.start_after, "a").is_empty());
        assert!(Graph::edges(&g.pulls, "a").is_empty());
        assert!(!g.start_after.contains_key("ghost"));
    }

    #[test]
    fn cycles_are_named_by_path() {
        // a after b, b after c, c after a (declared from the other side).
        let units: BTreeMap<_, _> = [
            unit("a", |u| u.after = s(&["b"])),
            unit("b", |u| u.after = s(&["c"])),
            unit("c", |u| u.before = s(&["b"])),
            unit("d", |u| u.before = s(&["c"])),
            unit("x", |u| u.after = s(&["x"])),
        ]
        .into_iter()
        .collect();
        // c.before = [b] is the same edge as b.after = [c]; no cycle yet.
        assert_eq!(find_cycles(&units), vec![s::<Vec<String>>(&["x"])]);
        let mut units = units;
        units.get_mut("c").unwrap().after = s(&["a"]);
        assert_eq!(
            find_cycles(&units),
            vec![s::<Vec<String>>(&["a", "b", "c"]), s::<Vec<String>>(&["x"])]
        );
    }

    #[test]
    fn one_cycle_per_component_shortest_first() {
        // a <-> b and a -> c -> d -> a share a component.
        let units: BTreeMap<_, _> = [
            unit("a", |u| u.after = s(&["b", "c"])),
            unit("b", |u| u.after = s(&["a"])),
            unit("c", |u| u.after = s(&["d"])),
            unit("d", |u| u.after = s(&["a"])),
        ]
        .into_iter()
        .collect();
        assert_eq!(find_cycles(&units), vec![s::<Vec<String>>(&["a", "b"])]);
    }

    #[test]
    fn long_chain_has_no_cycle_and_does_not_overflow() {
        let units: BTreeMap<_, _> = (0..20_000)
            .map(|i| {
                let name = format!("u{i:05}");
                unit(&name, |u| {
                    if i > 0 {
                        u.after = thin_vec::thin_vec![format!("u{:05}", i - 1)];
                    }
                })
            })
            .collect();
        assert!(find_cycles(&units).is_empty());
    }
}
