//! Applying a re-read units directory: add, change and remove units
//! without losing the state of the ones that stay.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use crate::control::protocol::{Reply, ReplyBody};
use crate::diagnostic::Diagnostic;
use crate::graph::{Graph, Name};
use crate::log::Level;
use crate::service::{Phase, Service};
use crate::unit::UnitDef;

use super::goals::BootState;
use super::jobs::StartOrigin;
use super::{Action, ClientId, Manager};

impl Manager {
    pub(super) fn on_reloaded(
        &mut self,
        units: BTreeMap<String, UnitDef>,
        diagnostics: Vec<Diagnostic>,
        broken: Vec<String>,
        client: Option<ClientId>,
    ) {
        for d in &diagnostics {
            self.actions.push(Action::LogUntagged {
                level: d.level(),
                message: format!("reload: {d}"),
            });
        }
        let old_closure: BTreeSet<String> = self.graph.closure(&self.target).into_iter().collect();
        let mut added = Vec::new();
        let mut changed = Vec::new();
        let mut removed = Vec::new();
        let now = self.now.mono;
        for (name, def) in units.iter() {
            self.doomed.remove(name);
            match self.services.get_mut(name.as_str()) {
                Some(svc) => {
                    if **svc.latest_def() != *def {
                        let def = Rc::new(def.clone());
                        if svc.mid_start() {
                            // The start finishes under the definition it
                            // began with: a forking unit reading its pid
                            // file turned simple would wait forever.
                            svc.next_def = Some(def);
                        } else {
                            svc.next_def = None;
                            svc.def = def;
                        }
                        changed.push(name.clone());
                    }
                }
                None => {
                    self.services.insert(
                        super::shared_key(name.clone(), def),
                        Box::new(Service::new(def.clone(), now)),
                    );
                    added.push(name.clone());
                }
            }
        }
        let gone: Vec<String> = self
            .services
            .keys()
            .filter(|n| {
                let n: &str = n;
                !units.contains_key(n) && !broken.iter().any(|b| b == n)
            })
            .map(|n| n.to_string())
            .collect();
        for name in gone {
            if self.doomed.insert(name.clone()) {
                removed.push(name.clone());
                self.queue_stop(&name);
            }
        }
        self.rebuild_graph();
        if self.boot != BootState::NotStarted && self.shutdown.is_none() {
            let new_closure = self.graph.closure(&self.target);
            for name in new_closure {
                if old_closure.contains(&name) {
                    continue;
                }
                let idle = self
                    .services
                    .get(name.as_str())
                    .is_some_and(|s| s.phase == Phase::Inactive && s.job.is_none());
                if idle {
                    self.queue_start(&name, StartOrigin::Dependency);
                }
            }
        }
        self.log(
            Level::Info,
            format!(
                "reloaded units: {} added, {} removed, {} changed, {} kept after errors",
                added.len(),
                removed.len(),
                changed.len(),
                broken.len()
            ),
        );
        if let Some(client) = client {
            let body = ReplyBody::Reload {
                diagnostics: diagnostics.iter().map(ToString::to_string).collect(),
                added,
                removed,
                changed,
            };
            self.reply(client, Reply::ok(body));
        }
    }

    pub(super) fn reap_doomed(&mut self) {
        let gone: Vec<String> = self
            .doomed
            .iter()
            .filter(|n| {
                self.services.get(n.as_str()).is_none_or(|s| {
                    s.job.is_none() && s.main_pid.is_none() && s.phase != Phase::Stopping
                })
            })
            .cloned()
            .collect();
        if gone.is_empty() {
            return;
        }
        for name in gone {
            self.doomed.remove(&name);
            self.services.remove(name.as_str());
        }
        self.rebuild_graph();
    }

    pub(super) fn rebuild_graph(&mut self) {
        let defs: BTreeMap<Name, UnitDef> = self
            .services
            .iter()
            .map(|(n, s)| (n.clone(), UnitDef::clone(s.latest_def())))
            .collect();
        self.graph = Graph::build(&defs);
    }
}
