//! The control protocol shared by vigil and vigilctl: one JSON object per
//! line over a Unix stream socket. Every request and reply carries `version`
//! so that a newer vigilctl can refuse an older vigil cleanly.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change to `Request` or `Reply`.
pub const PROTOCOL_VERSION: u32 = 1;
/// Longest request line vigil accepts; longer ones get an error and a close.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Default socket path.
pub const DEFAULT_SOCKET: &str = "/run/vigil/control";

/// One request line: `{"version":1,"verb":"status","names":["sshd"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    pub version: u32,
    #[serde(flatten)]
    pub request: Request,
}

/// What a client asks for. Only `List` and `Status` are allowed to
/// unprivileged peers (see `Request::is_read_only`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "snake_case")]
pub enum Request {
    List,
    /// Empty `names`: the system status (booted, degraded, failed units).
    Status {
        #[serde(default)]
        names: Vec<String>,
    },
    Start {
        names: Vec<String>,
        /// Reply at once instead of when the jobs have finished.
        #[serde(default)]
        no_block: bool,
    },
    Stop {
        names: Vec<String>,
        #[serde(default)]
        no_block: bool,
    },
    Restart {
        names: Vec<String>,
        #[serde(default)]
        no_block: bool,
    },
    /// Re-read the units directory and apply the difference (`vigilctl
    /// enable/disable` edit the directory themselves, then send this).
    Reload,
    /// Power commands; `force` skips the service stop phase.
    Poweroff {
        #[serde(default)]
        force: bool,
    },
    Reboot {
        #[serde(default)]
        force: bool,
    },
    Halt {
        #[serde(default)]
        force: bool,
    },
    /// Where the logs of `names` are (`vigil` is vigil's own log) and
    /// what of them still waits in memory. vigilctl reads the files itself.
    Logs {
        names: Vec<String>,
    },
    /// The boot timeline (`vigilctl analyze`).
    Analyze,
    /// Exec vigil's binary in place, every service kept running (`vigilctl
    /// daemon-reexec`). Answered by the new image once it serves.
    DaemonReexec,
    /// Send `signal` to each unit's processes, its state unchanged
    /// (`vigilctl kill`).
    Kill {
        names: Vec<String>,
        signal: i32,
    },
    /// Failed units (all of them when `names` is empty) back to inactive,
    /// their start limit forgotten (`vigilctl reset-failed`).
    ResetFailed {
        #[serde(default)]
        names: Vec<String>,
    },
    /// Ask running units to reload their configuration: their
    /// `reload_signal` to the main process (`vigilctl reload NAME...`).
    ReloadUnits {
        names: Vec<String>,
    },
}

impl Request {
    /// The unit names the request acts on, if it names units: where an
    /// alias is replaced by the unit's name before the request is handled.
    pub fn unit_names_mut(&mut self) -> Option<&mut Vec<String>> {
        match self {
            Request::Status { names }
            | Request::Start { names, .. }
            | Request::Stop { names, .. }
            | Request::Restart { names, .. }
            | Request::Kill { names, .. }
            | Request::ResetFailed { names }
            | Request::ReloadUnits { names }
            | Request::Logs { names } => Some(names),
            _ => None,
        }
    }

    /// Whether any local user may issue this request.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Request::List | Request::Status { .. } | Request::Analyze
        )
    }
}

/// One reply line. `ok == false` always comes with `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub version: u32,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<ReplyBody>,
}

impl Reply {
    /// A success, with what the verb answers.
    pub fn ok(body: ReplyBody) -> Self {
        Reply {
            version: PROTOCOL_VERSION,
            ok: true,
            error: None,
            body: Some(body),
        }
    }
    /// A refusal or failure; vigilctl prints `message` and exits non-zero.
    pub fn error(message: impl Into<String>) -> Self {
        Reply {
            version: PROTOCOL_VERSION,
            ok: false,
            error: Some(message.into()),
            body: None,
        }
    }
}

/// The payload of a successful (or partly successful) reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReplyBody {
    List {
        units: Vec<UnitSummary>,
    },
    Status {
        units: Vec<UnitStatus>,
        unknown: Vec<String>,
    },
    System(SystemStatus),
    /// Per-unit outcome of start/stop/restart/enable/disable.
    Jobs {
        results: Vec<JobResult>,
    },
    Reload {
        diagnostics: Vec<String>,
        added: Vec<String>,
        removed: Vec<String>,
        changed: Vec<String>,
    },
    Check {
        diagnostics: Vec<String>,
    },
    Timeline(Timeline),
    Logs {
        /// The log directory.
        dir: PathBuf,
        units: Vec<LogSource>,
    },
    /// The new image is serving (`daemon-reexec`).
    Reexec(ReexecReport),
    Done,
}

/// What a re-exec did, as the new image reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReexecReport {
    /// The binary now running.
    pub binary: PathBuf,
    /// The version of the image that wrote the state, and of this one.
    pub from_version: String,
    pub to_version: String,
    /// Every unit kept exactly (false: the state could not be read whole,
    /// the units were loaded again and the running processes adopted).
    pub exact: bool,
    /// Units handed over (exact) or adopted (fallback).
    pub units: usize,
    /// From the request to the new image serving, in seconds.
    pub took_secs: f64,
    /// What the new image could not carry over, one line each.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// The state names users see; `Failed` carries the reason in `UnitSummary::reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitState {
    Inactive,
    Starting,
    Running,
    Stopping,
    Exited,
    Failed,
}

impl UnitState {
    /// The word `list`, `status` and `is-active` print (systemctl's words).
    pub fn as_str(self) -> &'static str {
        match self {
            UnitState::Inactive => "inactive",
            UnitState::Starting => "starting",
            UnitState::Running => "running",
            UnitState::Stopping => "stopping",
            UnitState::Exited => "exited",
            UnitState::Failed => "failed",
        }
    }
}

/// A row of `vigilctl list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitSummary {
    pub name: String,
    pub kind: String,
    pub state: UnitState,
    /// Why it failed, or the service's STATUS= text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub description: String,
}

/// One exit of a unit's main process, kept in a bounded history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Wall-clock time of the exit, seconds since the epoch.
    pub at_unix: f64,
    pub pid: i32,
    /// `exited 3`, `killed by SIGKILL (core dumped)`, `could not start: ...`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    pub runtime_ms: u64,
}

/// `vigilctl status NAME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitStatus {
    pub summary: UnitSummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Seconds since the current state was entered.
    pub since_secs: f64,
    pub restarts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
    pub exits: Vec<ExitRecord>,
    pub wanted_by: Vec<String>,
    /// A unit waiting to restart: seconds until the next attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_start_in_secs: Option<f64>,
    /// The unit's other names (`aliases`); a request may use any of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

impl UnitStatus {
    /// Whether `name` is this unit's name or one of its aliases.
    pub fn is_named(&self, name: &str) -> bool {
        self.summary.name == name || self.aliases.iter().any(|a| a == name)
    }
}

/// `vigilctl status` with no name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemStatus {
    /// "starting", "running", "degraded", "stopping".
    pub state: String,
    pub pid1: bool,
    pub target: String,
    pub uptime_secs: f64,
    pub units: usize,
    pub failed: Vec<String>,
}

/// Where boot time went. Every time is seconds on CLOCK_MONOTONIC, which
/// for vigil as PID 1 counts from the kernel's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub pid1: bool,
    /// CLOCK_BOOTTIME when vigil started: the kernel's part of the boot.
    pub kernel_secs: f64,
    /// When vigil started.
    pub started_secs: f64,
    /// Early-boot steps, in order (PID 1 only).
    pub steps: Vec<StepTime>,
    pub target: String,
    /// When the target's start was asked for and when its job ended.
    pub target_requested_secs: Option<f64>,
    pub target_done_secs: Option<f64>,
    pub units: Vec<UnitTimes>,
    /// When the reply was made, for runs that have not ended.
    pub now_secs: f64,
}

/// One early-boot step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTime {
    pub name: String,
    pub start_secs: f64,
    pub duration_secs: f64,
    pub ok: bool,
}

/// One unit's last run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitTimes {
    pub name: String,
    /// simple, notify, forking, oneshot, target.
    pub kind: String,
    pub state: UnitState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_secs: Option<f64>,
    /// The units it is ordered after (its `after` and others' `before`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

/// One log that `vigilctl logs` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogSource {
    pub name: String,
    /// Its current file (rotated ones are `FILE.1`, `FILE.2`, ...).
    pub file: PathBuf,
    /// Whether vigil knows a unit of that name (its log may outlive it).
    pub known: bool,
    /// Records not on disk yet (the directory was not writable), oldest
    /// first, in the file format; bytes that are not UTF-8 are replaced.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub waiting: String,
}

/// Outcome of a job on one unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub name: String,
    pub ok: bool,
    pub message: String,
}
