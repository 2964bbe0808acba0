//! The manager: all units, their state machines and jobs. Pure: events in,
//! actions out; no syscalls, no clock reads.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::control::protocol::{Reply, Request};
use crate::unit::UnitDef;

/// Identifies a control connection so that a reply can be routed back.
pub type ClientId = u64;

/// The time an event is handled at: monotonic for deadlines, wall clock for records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Now {
    pub mono: Duration,
    pub unix_secs: f64,
}

/// How a process ended, as decoded from waitpid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled { signal: i32, core_dumped: bool },
}

/// Why fork/exec of a unit failed, e.g. stage "changing to user www-data",
/// error "no such user".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnFailure {
    pub stage: String,
    pub error: String,
}

/// One sd_notify datagram, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifyMessage {
    pub ready: bool,
    pub stopping: bool,
    pub reloading: bool,
    pub status: Option<String>,
    pub main_pid: Option<i32>,
}

/// Which final state the machine goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Poweroff,
    Reboot,
    Halt,
    /// Supervisor mode only: stop everything and exit.
    Exit,
}

/// Everything the shell tells the manager.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Bring up the boot target.
    Boot,
    /// Result of an `Action::Spawn`, fed back at once by the shell.
    Spawned {
        unit: String,
        result: Result<i32, SpawnFailure>,
    },
    /// A child (unit or orphan) was reaped.
    ChildExited { pid: i32, status: ExitStatus },
    /// A datagram on the notify socket from `pid`.
    Notify { pid: i32, message: NotifyMessage },
    /// Result of an `Action::ReadPidFile`.
    PidFile {
        unit: String,
        result: Result<i32, String>,
    },
    /// The deadline from `next_deadline` has passed.
    Timer,
    /// An authorized control request.
    Request { client: ClientId, request: Request },
    /// The units directory was re-read (for `reload` / SIGHUP).
    Reloaded {
        units: BTreeMap<String, UnitDef>,
        diagnostics: Vec<String>,
        client: Option<ClientId>,
    },
    /// Stop everything, then take the power action.
    Shutdown { action: PowerAction, force: bool },
}

/// Log severity, mapped to kmsg priorities by the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Info,
    Debug,
}

/// Everything the manager asks the shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// fork/exec the unit's main process; answer with `Event::Spawned`.
    Spawn {
        unit: String,
        def: Box<UnitDef>,
    },
    /// kill(2) the pid, or its process group when `group`.
    Kill {
        pid: i32,
        signal: i32,
        group: bool,
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
    Log {
        level: Level,
        message: String,
    },
    /// Every unit is stopped; the shell finishes the power action.
    PowerOff(PowerAction),
}
