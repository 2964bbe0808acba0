//! What the manager hears and what it asks for: the vocabulary between the
//! pure core and the shell (docs/architecture.md).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use crate::control::protocol::{Reply, Request};
use crate::diagnostic::Diagnostic;
use crate::exit::ExitStatus;
use crate::graph::Name;
use crate::log::Level;
use crate::power::PowerAction;
use crate::unit::UnitDef;

/// Names one control request so that its reply can be routed back (the
/// control server maps it to the connection it came on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The time an event is handled at: monotonic for deadlines, wall clock for records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Now {
    pub mono: Duration,
    pub unix_secs: f64,
}

/// Why fork/exec of a unit failed, e.g. stage "changing to user www-data",
/// error "no such user".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnFailure {
    pub stage: String,
    pub error: String,
}

/// Why a forking unit's pid file gave no pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidFileError {
    /// Missing, empty or stale: the daemon may not have written it yet; retried.
    NotReady(String),
    /// Untrustworthy (names another user's process): the start fails at once.
    Refused(String),
}

/// What the shell found out about a process someone asked vigil to adopt
/// as a unit's main process (MAINPID=, a pid file). Facts only: whether to
/// trust them is `manager::trust`'s rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessFacts {
    pub pid: i32,
    /// The shell holds a pidfd on it: it was running when asked about, and
    /// the pidfd names that very process from now on.
    pub alive: bool,
    /// Its owner (real uid), read while the pidfd was held.
    pub uid: Option<u32>,
    /// An unreaped child of vigil (its exit comes with SIGCHLD; otherwise
    /// vigil watches its pidfd and learns of the exit without a status).
    pub child: bool,
    /// Its process group.
    pub pgid: Option<i32>,
}

/// A pid file that held a pid, with its owner (read from the descriptor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidFileFacts {
    pub owner: u32,
    pub process: ProcessFacts,
}

/// The settings the manager's rules depend on, from the command line and
/// vigil.toml (updated by a reload that applies vigil.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// vigil is the machine's init (power actions are the machine's).
    pub pid1: bool,
    /// vigil's own pid, which no unit may claim as its main process.
    pub self_pid: i32,
    /// What SIGTERM to PID 1 does.
    pub sigterm: PowerAction,
    /// What Ctrl-Alt-Del (SIGINT to PID 1) does; None ignores it.
    pub ctrl_alt_del: Option<PowerAction>,
    /// The whole stop phase of a shutdown may take this long; then the
    /// rest is killed and the power action goes on, so one stuck unit never
    /// hangs the machine.
    pub shutdown_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            pid1: false,
            self_pid: 1,
            sigterm: PowerAction::Poweroff,
            ctrl_alt_del: Some(PowerAction::Reboot),
            shutdown_timeout: Duration::from_secs(90),
        }
    }
}

/// Which processes a signal goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalTarget {
    /// One process, through the pidfd the shell holds for it (never by a
    /// bare pid that the kernel may have reused).
    Process(i32),
    /// A process group, only if `witness` (a process of the unit, through
    /// its pidfd) is still an unreaped child of vigil in that group.
    Group { pgid: i32, witness: i32 },
}

/// What follows a signal, under the same proof of its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// The signal alone.
    Nothing,
    /// SIGCONT: a stopped (SIGSTOP) service can act on a stop signal
    /// instead of waiting for SIGKILL.
    Continue,
}

/// One sd_notify datagram, parsed (only what vigil acts on).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifyMessage {
    pub ready: bool,
    pub stopping: bool,
    pub reloading: bool,
    pub status: Option<String>,
    pub main_pid: Option<i32>,
}

/// Everything the shell tells the manager.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Bring up the boot target.
    Boot,
    /// Instead of `Spawned`: a condition of the unit did not hold, so the
    /// shell started nothing (`condition` says which).
    Skipped { unit: String, condition: String },
    /// Result of an `Action::SpawnControl`, fed back at once by the shell.
    ControlSpawned {
        unit: String,
        result: Result<i32, SpawnFailure>,
    },
    /// Result of an `Action::Spawn`, fed back at once by the shell.
    Spawned {
        unit: String,
        result: Result<i32, SpawnFailure>,
    },
    /// A child (unit or orphan) was reaped, or a watched process that is
    /// not vigil's child ended (`ExitStatus::Unknown`). When the pid was a
    /// group's witness (`Manager::witnessed_group`), `next_witness` is
    /// another unreaped child of vigil still in that group, if the shell
    /// found one.
    ChildExited {
        pid: i32,
        status: ExitStatus,
        next_witness: Option<i32>,
    },
    /// A datagram on the notify socket from `pid` (kernel-checked, as is
    /// `uid`); `session` is the sender's session id when the shell could
    /// read it (a helper such as systemd-notify run by the service's shell
    /// shares its session). `main_pid` has the facts about the process a
    /// MAINPID= names.
    Notify {
        pid: i32,
        uid: Option<u32>,
        session: Option<i32>,
        message: NotifyMessage,
        main_pid: Option<ProcessFacts>,
    },
    /// Result of an `Action::ReadPidFile`.
    PidFile {
        unit: String,
        result: Result<PidFileFacts, PidFileError>,
    },
    /// A signal vigil handles (other than SIGCHLD, which the shell turns
    /// into exits): its meaning is the manager's rule.
    Signal(i32),
    /// The deadline from `next_deadline` has passed.
    Timer,
    /// An authorized control request.
    Request { client: ClientId, request: Request },
    /// The units directory was re-read (for `reload` / SIGHUP).
    /// `broken` names units whose files exist but did not load: they keep
    /// their previous definition.
    Reloaded {
        units: BTreeMap<String, UnitDef>,
        /// vigil.toml's problems, then the unit files', each with its own severity.
        diagnostics: Vec<Diagnostic>,
        broken: Vec<String>,
        client: Option<ClientId>,
        /// vigil.toml's settings, when it had no problems (otherwise the
        /// running settings stay).
        settings: Option<Settings>,
    },
    /// Stop everything, then take the power action.
    Shutdown { action: PowerAction, force: bool },
}

/// Everything the manager asks the shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// fork/exec the unit's main process; answer with `Event::Spawned`.
    Spawn {
        /// The manager's own name of the unit (no copy per start).
        unit: Name,
        /// Shared with the unit's record: no copy of the definition per start.
        def: Rc<UnitDef>,
    },
    /// Run one command of the unit's exec_start_pre, exec_start_post,
    /// exec_stop or exec_reload (its control process) with the unit's
    /// environment, output and credentials, and $MAINPID when `main_pid`;
    /// answer with `Event::ControlSpawned`.
    SpawnControl {
        unit: String,
        def: Rc<UnitDef>,
        argv: Vec<String>,
        main_pid: Option<i32>,
    },
    /// Send `signal` to `target`, through pidfds (see `SignalTarget`),
    /// and SIGCONT after it when `then` says so.
    Signal {
        target: SignalTarget,
        signal: i32,
        then: Then,
    },
    /// Keep the pidfd opened for `pid`'s `ProcessFacts`: it is now a unit's
    /// main process. `watch`: it is not vigil's child, so the shell watches
    /// the pidfd to learn of its exit.
    Adopt {
        pid: i32,
        watch: bool,
    },
    /// Read the pid file; answer with `Event::PidFile`.
    ReadPidFile {
        unit: String,
        path: PathBuf,
    },
    Reply {
        client: ClientId,
        reply: Reply,
    },
    /// Re-read the units directory; answer with `Event::Reloaded`.
    Reload {
        client: Option<ClientId>,
    },
    /// Check the binary vigil started from, then exec it with this state
    /// (`Manager::handover`); the new image answers `client`.
    Reexec {
        client: ClientId,
    },
    Log {
        level: Level,
        message: String,
    },
    /// A message that already says its severity (a unit-file diagnostic,
    /// `FILE:LINE:COL: error: ...`): logged without a second level tag.
    LogUntagged {
        level: Level,
        message: String,
    },
    /// The unit is down: remove its runtime directories (absolute paths
    /// under /run, from `runtime_directory`).
    RemoveRuntimeDirectories {
        unit: String,
        paths: Vec<PathBuf>,
    },
    /// Every unit is stopped; the shell finishes the power action.
    PowerOff(PowerAction),
    /// Add the shell's own lines (clients, timers) to a state dump.
    DumpShell,
}
