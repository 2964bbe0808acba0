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
        let _ = units;
        Graph::default()
    }

    /// Every unit transitively pulled in by `root`, `root` included.
    pub fn closure(&self, root: &str) -> Vec<String> {
        vec![root.to_string()]
    }
}
