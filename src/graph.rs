//! The static dependency graph of the loaded units. (Skeleton: the loader
//! helper fills this in.)

use std::collections::BTreeMap;

use crate::unit::UnitDef;

/// Precomputed adjacency of the unit set; built once per load/reload.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// name -> units that must be up (or failed) before it starts: its `after`
    /// plus every unit that lists it in `before`.
    pub start_after: BTreeMap<String, Vec<String>>,
    /// Reverse of `start_after`: units that wait for it.
    pub start_before: BTreeMap<String, Vec<String>>,
    /// name -> units it pulls in: `wants` + `requires` + (for targets) units wanted_by it.
    pub pulls: BTreeMap<String, Vec<String>>,
    /// name -> units it `requires`.
    pub requires: BTreeMap<String, Vec<String>>,
    /// Reverse of `requires`: units that must stop when it stops or fails.
    pub required_by: BTreeMap<String, Vec<String>>,
}

impl Graph {
    /// Build from units that already passed validation (no unknown names, no cycles).
    pub fn build(units: &BTreeMap<String, UnitDef>) -> Graph {
        let mut g = Graph::default();
        let known = |n: &String| units.contains_key(n);
        for (name, def) in units {
            for a in def.after.iter().filter(|n| known(n)) {
                g.start_after
                    .entry(name.clone())
                    .or_default()
                    .push(a.clone());
                g.start_before
                    .entry(a.clone())
                    .or_default()
                    .push(name.clone());
            }
            for b in def.before.iter().filter(|n| known(n)) {
                g.start_after
                    .entry(b.clone())
                    .or_default()
                    .push(name.clone());
                g.start_before
                    .entry(name.clone())
                    .or_default()
                    .push(b.clone());
            }
            for w in def.wants.iter().chain(&def.requires).filter(|n| known(n)) {
                g.pulls.entry(name.clone()).or_default().push(w.clone());
            }
            for r in def.requires.iter().filter(|n| known(n)) {
                g.requires.entry(name.clone()).or_default().push(r.clone());
                g.required_by
                    .entry(r.clone())
                    .or_default()
                    .push(name.clone());
            }
            for t in def.wanted_by.iter().filter(|n| known(n)) {
                g.pulls.entry(t.clone()).or_default().push(name.clone());
            }
        }
        for map in [
            &mut g.start_after,
            &mut g.start_before,
            &mut g.pulls,
            &mut g.requires,
            &mut g.required_by,
        ] {
            for v in map.values_mut() {
                v.sort();
                v.dedup();
            }
        }
        g
    }

    /// Every unit transitively pulled in by `root`, `root` included.
    pub fn closure(&self, root: &str) -> Vec<String> {
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = vec![root.to_string()];
        while let Some(n) = stack.pop() {
            if seen.insert(n.clone()) {
                if let Some(next) = self.pulls.get(&n) {
                    stack.extend(next.iter().cloned());
                }
            }
        }
        seen.into_iter().collect()
    }
}
