//! Whether a unit may make vigil treat a process as its main process: the
//! one rule for MAINPID= and pid files. vigil signals a unit's main process
//! on stop, as root, so a service must not be able to point it at a process
//! it could not signal itself, at another unit's process, or at vigil.

use super::ProcessFacts;

/// Who names the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Claimant {
    /// A MAINPID= datagram from a sender with this (kernel-checked) uid.
    Notify { uid: Option<u32> },
    /// A pid file owned by this uid.
    PidFile { owner: u32 },
}

/// Why a claim is refused, in words for the log and the unit's reason.
pub(super) type Refusal = String;

/// The verdict on `claimant` naming `facts.pid` for `unit`. `self_pid` is
/// vigil's own pid; `owner` is the unit whose main process the pid already
/// is, if any.
pub(super) fn check_claim(
    claimant: Claimant,
    facts: &ProcessFacts,
    self_pid: i32,
    owner: Option<&str>,
    unit: &str,
) -> Result<(), Refusal> {
    let pid = facts.pid;
    if pid <= 1 || pid == self_pid {
        return Err(format!("pid {pid} is vigil itself"));
    }
    if let Some(owner) = owner.filter(|o| *o != unit) {
        return Err(format!("pid {pid} is the main process of {owner}"));
    }
    if !facts.alive {
        return Err(format!("pid {pid} is not running"));
    }
    let uid = match claimant {
        Claimant::Notify { uid: None } => {
            return Err("the sender's credentials are unknown".to_string())
        }
        Claimant::Notify { uid: Some(uid) } => uid,
        Claimant::PidFile { owner } => owner,
    };
    if uid != 0 && facts.uid != Some(uid) {
        return Err(format!(
            "pid {pid} is not a process of uid {uid}, which named it"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(pid: i32, uid: u32) -> ProcessFacts {
        ProcessFacts {
            pid,
            alive: true,
            uid: Some(uid),
            child: false,
            pgid: Some(pid),
        }
    }

    #[test]
    fn vigil_itself_is_never_a_main_process() {
        let root = Claimant::Notify { uid: Some(0) };
        assert!(check_claim(root, &facts(77, 0), 77, None, "u").is_err());
        assert!(check_claim(root, &facts(1, 0), 77, None, "u").is_err());
        assert!(check_claim(root, &facts(78, 0), 77, None, "u").is_ok());
    }

    #[test]
    fn another_units_process_is_refused_for_mainpid_and_pid_files() {
        let f = facts(300, 0);
        let root_file = Claimant::PidFile { owner: 0 };
        let err = check_claim(root_file, &f, 1, Some("db"), "web").unwrap_err();
        assert_eq!(err, "pid 300 is the main process of db");
        assert!(check_claim(root_file, &f, 1, Some("web"), "web").is_ok());
    }

    #[test]
    fn non_root_may_name_only_its_own_processes() {
        let user = Claimant::Notify { uid: Some(1000) };
        assert!(check_claim(user, &facts(300, 1000), 1, None, "u").is_ok());
        assert!(check_claim(user, &facts(300, 0), 1, None, "u").is_err());
        let file = Claimant::PidFile { owner: 1000 };
        assert!(check_claim(file, &facts(300, 0), 1, None, "u").is_err());
        let unknown = Claimant::Notify { uid: None };
        assert!(check_claim(unknown, &facts(300, 0), 1, None, "u").is_err());
        let dead = ProcessFacts {
            alive: false,
            ..facts(300, 1000)
        };
        assert!(check_claim(user, &dead, 1, None, "u").is_err());
    }
}
