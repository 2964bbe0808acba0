//! What the manager hears and what it asks for: the vocabulary between the
//! pure core and the shell (docs/architecture.md).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use crate::control::protocol::{Reply, Request};
use crate::diagnostic::Diagnostic;
use crate::exit::ExitStatus;
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

/// One sd_notify datagram, parsed.
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
    /// Result of an `Action::Spawn`, fed back at once by the shell.
    Spawned {
        unit: String,
        result: Result<i32, SpawnFailure>,
    },
    /// A child (unit or orphan) was reaped.
    ChildExited { pid: i32, status: ExitStatus },
    /// A datagram on the notify socket from `pid`; `session` is the sender's
    /// session id when the shell could read it (a helper such as
    /// systemd-notify run by the service's shell shares its session).
    Notify {
        pid: i32,
        session: Option<i32>,
        message: NotifyMessage,
    },
    /// Result of an `Action::ReadPidFile`.
    PidFile {
        unit: String,
        result: Result<i32, PidFileError>,
    },
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
    },
    /// Stop everything, then take the power action.
    Shutdown { action: PowerAction, force: bool },
}

/// Everything the manager asks the shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// fork/exec the unit's main process; answer with `Event::Spawned`.
    Spawn {
        unit: String,
        /// Shared with the unit's record: no copy of the definition per start.
        def: Rc<UnitDef>,
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
    /// A message that already says its severity (a unit-file diagnostic,
    /// `FILE:LINE:COL: error: ...`): logged without a second level tag.
    LogUntagged {
        level: Level,
        message: String,
    },
    /// Every unit is stopped; the shell finishes the power action.
    PowerOff(PowerAction),
}
