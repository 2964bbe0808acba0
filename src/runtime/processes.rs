//! The shell's handles on unit processes: one pidfd per process a unit
//! claims (spawned, adopted through MAINPID= or a pid file, or a group's
//! witness). Every signal to a unit goes through here, and only through a
//! handle: a process is signalled through its pidfd, a process group only
//! while its witness is still an unreaped child of vigil in that group.
//! The rules of who may be claimed are the manager's (`manager::trust`);
//! this module only gathers facts and carries out signals.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::manager::{ProcessFacts, SignalTarget, Then};
use crate::runtime::pidfd;

/// A held process handle.
#[derive(Debug)]
struct Held {
    fd: OwnedFd,
    /// Registered with epoll to learn of the exit of a process that is not
    /// vigil's child.
    watched: bool,
}

/// Why a signal was not sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignalError {
    #[error("not signalling pid {0}: vigil holds no handle on it")]
    NoHandle(i32),
    #[error(
        "not signalling process group {pgid}: pid {witness} no longer proves it is the unit's"
    )]
    Unproven { pgid: i32, witness: i32 },
    #[error("sending {signal} to {target}: {error}")]
    Failed {
        target: String,
        signal: String,
        error: String,
    },
}

/// One held handle as it crosses a re-exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeldHandle {
    pub pid: i32,
    pub fd: RawFd,
    pub watched: bool,
}

/// Every held handle, by pid.
#[derive(Debug, Default)]
pub struct ProcessTable {
    held: BTreeMap<i32, Held>,
    /// Handles opened to gather facts, kept until the manager decides.
    pending: BTreeMap<i32, OwnedFd>,
}

impl ProcessTable {
    /// Holds the pidfd of a process vigil just spawned (its child).
    pub fn insert_spawned(&mut self, pid: i32, fd: OwnedFd) {
        self.held.insert(pid, Held { fd, watched: false });
    }

    /// How many handles are held (the state dump).
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether no handle is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// What can be known about `pid` for a claim: opens (and keeps, until
    /// `adopt` or `clear_pending`) a pidfd, and reads the owner and group
    /// while holding it, so the facts are about that very process.
    pub fn facts(&mut self, pid: i32) -> ProcessFacts {
        let dead = ProcessFacts {
            pid,
            alive: false,
            uid: None,
            child: false,
            pgid: None,
        };
        let fd = match self.held.get(&pid) {
            Some(held) => match held.fd.try_clone() {
                Ok(fd) => fd,
                Err(_) => return dead,
            },
            None => match pidfd::open(pid) {
                Ok(fd) => fd,
                Err(_) => return dead,
            },
        };
        let uid = process_uid(pid);
        let pgid = pidfd::process_group(pid);
        let child = pidfd::is_unreaped_child(&fd);
        // Read after the facts: if the process died meanwhile (and its pid
        // was taken by another), the facts may be someone else's.
        if !pidfd::is_alive(&fd) {
            return dead;
        }
        self.pending.insert(pid, fd);
        ProcessFacts {
            pid,
            alive: true,
            uid,
            child,
            pgid,
        }
    }

    /// Keeps the handle `facts` opened for `pid`: it is a unit's now.
    /// Returns the descriptor to watch with epoll when `watch`.
    pub fn adopt(&mut self, pid: i32, watch: bool) -> Option<RawFd> {
        let fd = self.pending.remove(&pid)?;
        if let Some(old) = self.held.get_mut(&pid) {
            // Already held (a spawned child named again): keep that handle
            // (the one from `facts` closes here).
            let register = watch && !old.watched;
            old.watched |= watch;
            return register.then(|| old.fd.as_raw_fd());
        }
        let raw = fd.as_raw_fd();
        self.held.insert(pid, Held { fd, watched: watch });
        watch.then_some(raw)
    }

    /// Every held handle as (pid, descriptor, watched), for a re-exec:
    /// the descriptors stay owned here until the exec replaces the image.
    pub fn handover(&self) -> Vec<HeldHandle> {
        self.held
            .iter()
            .map(|(pid, h)| HeldHandle {
                pid: *pid,
                fd: h.fd.as_raw_fd(),
                watched: h.watched,
            })
            .collect()
    }

    /// The table of a re-exec'd vigil: `handles` came across execve, each
    /// still the pidfd the previous image held (an inherited descriptor
    /// stays open, so no file this image opened can have its number).
    pub fn resume(handles: &[HeldHandle]) -> ProcessTable {
        let mut table = ProcessTable::default();
        for h in handles {
            let Some(fd) = crate::runtime::fds::take_inherited(h.fd) else {
                continue;
            };
            table.held.insert(
                h.pid,
                Held {
                    fd,
                    watched: h.watched,
                },
            );
        }
        table
    }

    /// The watched handles, to register with epoll after a re-exec.
    pub fn watched(&self) -> Vec<(i32, RawFd)> {
        self.held
            .iter()
            .filter(|(_, h)| h.watched)
            .map(|(pid, h)| (*pid, h.fd.as_raw_fd()))
            .collect()
    }

    /// Drops the handles no claim took.
    pub fn clear_pending(&mut self) {
        self.pending.clear();
    }

    /// Forgets `pid` (reaped, or its watched exit seen). Returns its
    /// descriptor if it was watched, to remove from epoll before it closes.
    pub fn forget(&mut self, pid: i32) -> Option<OwnedFd> {
        let held = self.held.remove(&pid)?;
        held.watched.then_some(held.fd)
    }

    /// Whether `pid`'s watched handle says it has exited; a process that
    /// became vigil's zombie child meanwhile is left to the reaper, which
    /// gets its real status.
    pub fn watched_exit_is_final(&self, pid: i32) -> bool {
        match self.held.get(&pid) {
            Some(held) => !pidfd::is_zombie_child(&held.fd),
            None => false,
        }
    }

    /// Sends `signal` to `target`, through handles only, then what `then`
    /// says under the same proof: the witness is vigil's unreaped child,
    /// and nothing is reaped in between.
    pub fn signal(
        &self,
        target: SignalTarget,
        signal: i32,
        then: Then,
    ) -> Result<bool, SignalError> {
        let signals: &[i32] = match then {
            Then::Continue => &[signal, libc::SIGCONT],
            Then::Nothing => &[signal],
        };
        match target {
            SignalTarget::Process(pid) => {
                let held = self.held.get(&pid).ok_or(SignalError::NoHandle(pid))?;
                let mut delivered = false;
                for &sig in signals {
                    delivered =
                        pidfd::send_signal(&held.fd, sig).map_err(|e| SignalError::Failed {
                            target: format!("pid {pid}"),
                            signal: crate::exit::signal_name(sig),
                            error: e.to_string(),
                        })?;
                    if !delivered {
                        break;
                    }
                }
                Ok(delivered)
            }
            SignalTarget::Group { pgid, witness } => {
                let mut delivered = false;
                for (i, &sig) in signals.iter().enumerate() {
                    // A group led by its witness keeps its id while the
                    // witness is unreaped: proven once. A witness that is
                    // only a member may have left it: proven again.
                    if (i == 0 || pgid != witness) && !self.group_is_witnessed(pgid, witness) {
                        return Err(SignalError::Unproven { pgid, witness });
                    }
                    delivered = kill_group(pgid, sig)?;
                    if !delivered {
                        break;
                    }
                }
                Ok(delivered)
            }
        }
    }

    /// Whether `witness` is an unreaped child of vigil in group `pgid`:
    /// then that group id cannot name anyone else's processes.
    fn group_is_witnessed(&self, pgid: i32, witness: i32) -> bool {
        pgid > 1
            && self.held.get(&witness).is_some_and(|held| {
                pidfd::is_unreaped_child(&held.fd) && pidfd::process_group(witness) == Some(pgid)
            })
    }

    /// After `gone` (a group's witness) was reaped: another unreaped child
    /// of vigil still in `pgid`, held from now on, if there is one. The
    /// group id cannot have been reused while a member remains, and that
    /// member, as vigil's child, keeps it until vigil reaps it.
    pub fn next_witness(&mut self, pgid: i32, gone: i32) -> Option<i32> {
        if !pidfd::group_has_members(pgid) {
            return None;
        }
        for pid in own_children() {
            if pid == gone || pidfd::process_group(pid) != Some(pgid) {
                continue;
            }
            let Ok(fd) = pidfd::open(pid) else {
                continue;
            };
            if pidfd::is_unreaped_child(&fd) && pidfd::process_group(pid) == Some(pgid) {
                self.held.insert(pid, Held { fd, watched: false });
                return Some(pid);
            }
        }
        None
    }
}

/// kill(-pgid, signal) for a proven group: Ok(false) once it is empty.
fn kill_group(pgid: i32, signal: i32) -> Result<bool, SignalError> {
    // SAFETY: plain syscall; callers prove pgid > 1, so never kill(0)/kill(-1).
    if unsafe { libc::kill(-pgid, signal) } == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        return Ok(false);
    }
    Err(SignalError::Failed {
        target: format!("process group {pgid}"),
        signal: crate::exit::signal_name(signal),
        error: err.to_string(),
    })
}

/// The owner of a process, when its real, effective and saved uids agree
/// (a process in the middle of a credential change belongs to root only).
fn process_uid(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    let ids: Vec<u32> = line
        .split_whitespace()
        .skip(1)
        .take(3)
        .filter_map(|f| f.parse().ok())
        .collect();
    match ids.as_slice() {
        [real, effective, saved] if real == effective && real == saved => Some(*real),
        _ => None,
    }
}

/// vigil's children (it is single-threaded: its own task lists them all),
/// or every process when the kernel has no children file (the caller
/// checks each one).
fn own_children() -> Vec<i32> {
    let me = std::process::id();
    if let Ok(text) = std::fs::read_to_string(format!("/proc/self/task/{me}/children")) {
        return text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
    }
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}
