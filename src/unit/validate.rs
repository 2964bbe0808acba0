//! Whole-set checks after every file parsed: enablement links, unknown
//! dependencies and ordering cycles, applied until nothing more changes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::enable::Link;
use super::load::{Diagnostic, Severity};
use super::model::{UnitDef, UnitKind};
use super::schema::{DepField, Parsed};
use super::span::Pos;
use super::suggest::did_you_mean;
use crate::graph::find_cycles;

/// Where a dependency entry came from: a line in a unit file or a link.
#[derive(Debug, Clone)]
struct Loc {
    file: PathBuf,
    pos: Option<Pos>,
}

/// (unit, field, referenced name) -> where it was written.
type Locs = BTreeMap<(String, DepField, String), Loc>;

fn diag(severity: Severity, loc: &Loc, message: String) -> Diagnostic {
    Diagnostic {
        severity,
        file: loc.file.clone(),
        line: loc.pos.map(|p| p.line),
        column: loc.pos.map(|p| p.column),
        message,
    }
}

/// The target every boot starts when no file defines `default`.
pub fn implicit_default() -> UnitDef {
    let mut def = UnitDef::new("default");
    def.kind = UnitKind::Target;
    def.description = "Default target".to_string();
    def
}

/// Resolve the parsed units into a loadable set. `failed` names units whose
/// file exists but did not parse, so messages can say "failed to load"
/// rather than "does not exist".
pub fn resolve(
    parsed: BTreeMap<String, Parsed>,
    failed: &BTreeSet<String>,
    links: &[Link],
) -> (BTreeMap<String, UnitDef>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut locs = Locs::new();
    let mut alive: BTreeMap<String, UnitDef> = BTreeMap::new();
    for (name, p) in parsed {
        let file = p.def.path.clone().unwrap_or_default();
        for ((field, dep), pos) in p.refs {
            let loc = Loc {
                file: file.clone(),
                pos: Some(pos),
            };
            locs.insert((name.clone(), field, dep), loc);
        }
        alive.insert(name, p.def);
    }
    if !alive.contains_key("default") {
        alive.insert("default".to_string(), implicit_default());
    }
    resolve_aliases(&mut alive, &mut locs, &mut diags);
    let mut gone: BTreeSet<String> = failed.clone();
    apply_links(&mut alive, &mut locs, &gone, links, &mut diags);

    loop {
        let mut dropped = drop_missing_requires(&mut alive, &locs, &gone, &mut diags);
        if dropped.is_empty() {
            dropped = drop_cycles(&mut alive, &locs, &mut diags);
        }
        if dropped.is_empty() {
            break;
        }
        gone.extend(dropped);
    }
    prune_soft_refs(&mut alive, &locs, &gone, &mut diags);
    (alive, diags)
}

/// Each unit's `aliases` claim names: one that is another unit's name or
/// an earlier unit's alias is dropped with a warning. Dependencies written
/// with an alias then point at the unit itself, so the graph has one name
/// per unit.
fn resolve_aliases(
    alive: &mut BTreeMap<String, UnitDef>,
    locs: &mut Locs,
    diags: &mut Vec<Diagnostic>,
) {
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    let names: BTreeSet<String> = alive.keys().cloned().collect();
    for def in alive.values_mut() {
        if def.extra().aliases.is_empty() {
            continue;
        }
        let mut kept = Vec::new();
        for alias in def.extra().aliases.clone() {
            let here = loc_of(locs, def, DepField::Alias, &alias);
            let taken = if names.contains(&alias) {
                Some(format!("a unit is named `{alias}`"))
            } else {
                owner
                    .get(&alias)
                    .map(|o| format!("it is already an alias of `{o}`"))
            };
            match taken {
                Some(why) => diags.push(diag(
                    Severity::Warning,
                    &here,
                    format!("`{}`: alias `{alias}` is not used: {why}", def.name),
                )),
                None => {
                    owner.insert(alias.clone(), def.name.to_string());
                    kept.push(alias);
                }
            }
        }
        def.extra_mut().aliases = kept.into();
    }
    if owner.is_empty() {
        return;
    }
    for def in alive.values_mut() {
        for field in [
            DepField::Wants,
            DepField::Requires,
            DepField::After,
            DepField::Before,
            DepField::WantedBy,
            DepField::OnFailure,
        ] {
            let name = def.name.to_string();
            if !field.list(def).iter().any(|d| owner.contains_key(d)) {
                continue;
            }
            let list = field.list_mut(def);
            let mut rewritten = Vec::with_capacity(list.len());
            for dep in list.drain(..) {
                let Some(real) = owner.get(&dep) else {
                    rewritten.push(dep);
                    continue;
                };
                if let Some(loc) = locs.remove(&(name.clone(), field, dep.clone())) {
                    locs.entry((name.clone(), field, real.clone()))
                        .or_insert(loc);
                }
                // An alias of the unit itself orders nothing.
                if *real != name {
                    rewritten.push(real.clone());
                }
            }
            rewritten.sort();
            rewritten.dedup();
            *list = rewritten.into();
        }
    }
}

/// Why `name` is not in `alive`, with a hint when it looks like a typo.
fn missing_reason(gone: &BTreeSet<String>, known: &[&str], name: &str) -> String {
    if gone.contains(name) {
        return "failed to load".to_string();
    }
    match did_you_mean(name, known) {
        Some(hint) => format!("does not exist (did you mean `{hint}`?)"),
        None => "does not exist".to_string(),
    }
}

/// wanted_by(T) = file's wanted_by ∪ links in T.wants − masks.
fn apply_links(
    alive: &mut BTreeMap<String, UnitDef>,
    locs: &mut Locs,
    gone: &BTreeSet<String>,
    links: &[Link],
    diags: &mut Vec<Diagnostic>,
) {
    for link in links {
        let key = (link.unit.clone(), DepField::WantedBy, link.target.clone());
        let here = Loc {
            file: link.path.clone(),
            pos: None,
        };
        let Some(def) = alive.get_mut(&link.unit) else {
            if !link.mask {
                let msg = format!(
                    "link enables `{}` for `{}`, but `{}` {}; ignoring",
                    link.unit,
                    link.target,
                    link.unit,
                    missing_reason(
                        gone,
                        &alive.keys().map(String::as_str).collect::<Vec<_>>(),
                        &link.unit
                    )
                );
                diags.push(diag(Severity::Warning, &here, msg));
            }
            continue;
        };
        if link.mask {
            def.wanted_by.retain(|t| *t != link.target);
            locs.remove(&key);
        } else if link.target == link.unit {
            diags.push(diag(
                Severity::Warning,
                &here,
                format!("`{}` cannot want itself; ignoring", link.unit),
            ));
        } else if !def.wanted_by.contains(&link.target) {
            def.wanted_by.push(link.target.clone());
            def.wanted_by.sort();
            locs.insert(key, here);
        }
    }
}

/// Where `unit` wrote `field = [dep]`, else just its file.
fn loc_of(locs: &Locs, def: &UnitDef, field: DepField, dep: &str) -> Loc {
    locs.get(&(def.name.to_string(), field, dep.to_string()))
        .cloned()
        .unwrap_or_else(|| Loc {
            file: def.path.clone().unwrap_or_default(),
            pos: None,
        })
}

/// Drops every unit that `requires` a unit not in `alive`, and then the
/// units requiring those, in one pass over reverse edges (a chain of N
/// requirements costs O(N), not N passes); returns their names.
fn drop_missing_requires(
    alive: &mut BTreeMap<String, UnitDef>,
    locs: &Locs,
    gone: &BTreeSet<String>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let known: Vec<String> = alive.keys().cloned().collect();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let mut required_by: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, def) in alive.iter() {
        for r in &def.requires {
            required_by
                .entry(r.as_str())
                .or_default()
                .push(name.as_str());
        }
    }
    // (unit, the requirement that is missing), in name order.
    let mut queue: std::collections::VecDeque<(String, String)> = alive
        .iter()
        .flat_map(|(name, def)| {
            def.requires
                .iter()
                .filter(|r| !alive.contains_key(*r))
                .map(|r| (name.clone(), r.clone()))
        })
        .collect();
    let mut dropped: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    while let Some((name, r)) = queue.pop_front() {
        let Some(def) = alive.get(&name) else {
            continue;
        };
        let loc = loc_of(locs, def, DepField::Requires, &r);
        let reason = if dropped.contains(&r) {
            "which failed to load".to_string()
        } else {
            format!("which {}", missing_reason(gone, &known, &r))
        };
        let msg = format!("`{name}` requires `{r}`, {reason}; `{name}` is not loaded");
        if def.path.is_some() {
            diags.push(diag(Severity::Error, &loc, msg));
        }
        if dropped.insert(name.clone()) {
            order.push(name.clone());
            for dependent in required_by.get(name.as_str()).into_iter().flatten() {
                if !dropped.contains(*dependent) {
                    queue.push_back((dependent.to_string(), name.clone()));
                }
            }
        }
    }
    for name in &order {
        alive.remove(name);
    }
    order
}

/// A cycle path as written in messages: the whole path when short, else
/// its first and last names with the count between (one diagnostic stays
/// bounded whatever the cycle's length).
fn cycle_path(cycle: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut names: Vec<&str> = cycle.iter().map(String::as_str).collect();
    if let Some(first) = cycle.first() {
        names.push(first);
    }
    if names.len() <= SHOWN + 2 {
        return names.join(" -> ");
    }
    let head = names.get(..SHOWN).unwrap_or_default().join(" -> ");
    let tail = names
        .get(names.len() - 2..)
        .unwrap_or_default()
        .join(" -> ");
    let skipped = names.len() - SHOWN - 2;
    format!("{head} -> ... ({skipped} more) -> {tail}")
}

/// Drops every unit on an ordering cycle, one error per unit file naming the
/// whole path.
fn drop_cycles(
    alive: &mut BTreeMap<String, UnitDef>,
    locs: &Locs,
    diags: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let mut dropped = Vec::new();
    for cycle in find_cycles(alive) {
        let msg = format!(
            "ordering cycle {} (each starts after the next; {} units); none of these units is loaded",
            cycle_path(&cycle),
            cycle.len()
        );
        // The whole message once, at the first unit with a file; the others
        // point there, so a cycle of N units costs O(N) text, not O(N^2).
        let mut reported: Option<String> = None;
        let n = cycle.len();
        for (i, unit) in cycle.iter().enumerate() {
            let next = cycle.get((i + 1) % n).map_or("", String::as_str);
            let prev = cycle.get((i + n - 1) % n).map_or("", String::as_str);
            let Some(def) = alive.get(unit) else {
                continue;
            };
            let Some(file) = def.path.clone() else {
                continue;
            };
            // Point at this file's half of an edge if it declares one.
            let loc = if def.after.iter().any(|a| a == next) {
                loc_of(locs, def, DepField::After, next)
            } else if def.before.iter().any(|b| b == prev) {
                loc_of(locs, def, DepField::Before, prev)
            } else {
                Loc { file, pos: None }
            };
            let d = match &reported {
                None => diag(Severity::Error, &loc, msg.clone()),
                Some(first) => diag(
                    Severity::Error,
                    &loc,
                    format!("`{unit}` is on the ordering cycle reported at {first}; not loaded"),
                ),
            };
            if reported.is_none() {
                let at = diag(Severity::Error, &loc, String::new()).to_string();
                reported = Some(at.trim_end_matches(": error: ").to_string());
            }
            diags.push(d);
        }
        dropped.extend(cycle);
    }
    for name in &dropped {
        alive.remove(name);
    }
    dropped
}

/// wants/after/before/wanted_by naming a unit that is not loaded: a warning,
/// and the reference is dropped (systemd semantics).
fn prune_soft_refs(
    alive: &mut BTreeMap<String, UnitDef>,
    locs: &Locs,
    gone: &BTreeSet<String>,
    diags: &mut Vec<Diagnostic>,
) {
    let names: BTreeSet<String> = alive.keys().cloned().collect();
    let known: Vec<&str> = names.iter().map(String::as_str).collect();
    for def in alive.values_mut() {
        let name = def.name.clone();
        for field in [
            DepField::Wants,
            DepField::After,
            DepField::Before,
            DepField::WantedBy,
            DepField::OnFailure,
        ] {
            let missing: Vec<String> = field
                .list(def)
                .iter()
                .filter(|d| !names.contains(*d))
                .cloned()
                .collect();
            for dep in &missing {
                let loc = loc_of(locs, def, field, dep);
                let msg = format!(
                    "`{name}` {} `{dep}`, which {}; ignoring",
                    field.verb(),
                    missing_reason(gone, &known, dep)
                );
                diags.push(diag(Severity::Warning, &loc, msg));
            }
            if !missing.is_empty() {
                field.list_mut(def).retain(|d| names.contains(d));
            }
        }
    }
}
