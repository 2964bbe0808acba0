//! What differs per unit type (simple, notify, forking, oneshot, target):
//! one home for those rules, in the spirit of dinit's per-class services.
//! The lifecycle code asks these questions and never branches on the type
//! itself.

use crate::exit::ExitStatus;
use crate::unit::model::SuccessStatus;
use crate::unit::{UnitDef, UnitKind};

/// Whether the start is complete as soon as the process has exec'd.
pub(super) fn up_on_exec(kind: UnitKind) -> bool {
    kind == UnitKind::Simple
}

/// Whether `start_timeout` bounds the start (the types whose start waits
/// for something the service does: READY=1, a launcher's exit and pid
/// file, a oneshot's exit).
pub(super) fn start_timeout_applies(kind: UnitKind) -> bool {
    matches!(
        kind,
        UnitKind::Notify | UnitKind::Forking | UnitKind::Oneshot
    )
}

/// Whether READY=1 completes the start.
pub(super) fn up_on_ready(kind: UnitKind) -> bool {
    kind == UnitKind::Notify
}

/// Whether the unit has no process at all (it is up once its pulls are).
pub(super) fn is_target(kind: UnitKind) -> bool {
    kind == UnitKind::Target
}

/// What the main process's exit during the start means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StartExit {
    /// A forking unit's launcher exited 0: the daemon is on its own now;
    /// read the pid file.
    HandOff,
    /// A oneshot exited 0: its start is complete.
    Finished,
    /// The start failed, for this reason.
    Failed(String),
}

/// The meaning of an exit (`outcome` is its description) while starting.
/// (A forking unit's launcher hands off with exit 0 only:
/// `success_exit_status` is about the main process.)
pub(super) fn exit_during_start(def: &UnitDef, status: &ExitStatus, outcome: String) -> StartExit {
    match (def.kind, status) {
        (UnitKind::Forking, ExitStatus::Exited(0)) => StartExit::HandOff,
        (UnitKind::Oneshot, _) if clean_exit(def, status) => StartExit::Finished,
        (UnitKind::Notify, _) => StartExit::Failed(format!("{outcome} before READY=1")),
        _ => StartExit::Failed(outcome),
    }
}

/// Whether the main process's end is a success: exit 0, or an exit code
/// or signal its `success_exit_status` lists (systemd's
/// `SuccessExitStatus=`). The one rule for what counts as a failure of a
/// run (`restart = "on-failure"`, the failed state).
pub(super) fn clean_exit(def: &UnitDef, status: &ExitStatus) -> bool {
    let listed = &def.extra().success_exit_status;
    match status {
        ExitStatus::Exited(0) => true,
        ExitStatus::Exited(code) => listed.contains(&SuccessStatus::Code(*code)),
        ExitStatus::Signaled { signal, .. } => listed.contains(&SuccessStatus::Signal(*signal)),
        // vigil cannot tell it succeeded.
        ExitStatus::Unknown => false,
    }
}

/// Whether what the unit left behind in its process group stays after it
/// finished successfully (a oneshot with `remain_after_exit` may have
/// started something meant to outlive it, stopped with the unit).
pub(super) fn keeps_group_after_success(def: &UnitDef) -> bool {
    def.kind == UnitKind::Oneshot && def.remain_after_exit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_during_the_start_means_what_the_type_says() {
        let ok = ExitStatus::Exited(0);
        let bad = ExitStatus::Exited(2);
        let said = |k, s: &ExitStatus| {
            let mut def = UnitDef::new("u");
            def.kind = k;
            exit_during_start(&def, s, "exited N".into())
        };
        assert_eq!(said(UnitKind::Forking, &ok), StartExit::HandOff);
        assert_eq!(said(UnitKind::Oneshot, &ok), StartExit::Finished);
        assert_eq!(
            said(UnitKind::Notify, &ok),
            StartExit::Failed("exited N before READY=1".into())
        );
        assert_eq!(
            said(UnitKind::Forking, &bad),
            StartExit::Failed("exited N".into())
        );
    }
}
