//! The validated in-memory form of a unit file. Every other module consumes
//! this type; only `unit::load` produces it (and `boot` for generated units such
//! as gettys and udev).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thin_vec::ThinVec;

/// How vigil decides that a unit's start has completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// Up as soon as exec succeeded.
    #[default]
    Simple,
    /// Up when the service sends READY=1 on $NOTIFY_SOCKET.
    Notify,
    /// Up when the started process exits 0 and the pid file names the daemon.
    Forking,
    /// Runs to completion; up when it exits 0.
    Oneshot,
    /// No process: groups other units.
    Target,
}

/// When a unit whose main process ended is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    Always,
    OnFailure,
    #[default]
    Never,
}

/// Which processes a stop signals (systemd's `KillMode=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum KillMode {
    /// The stop signal and the final SIGKILL go to the whole process group.
    #[default]
    Group,
    /// Only the main process is signalled; what else it started is left
    /// running (sshd: a restart must not end the users' sessions).
    Process,
    /// The stop signal to the main process, the final SIGKILL to the group.
    Mixed,
}

/// What a path condition tests (systemd's `ConditionPath*=` family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PathTest {
    /// `condition_path_exists`: it exists.
    Exists,
    /// `condition_path_is_directory`: it is a directory.
    IsDirectory,
    /// `condition_directory_not_empty`: a directory with an entry in it.
    DirectoryNotEmpty,
    /// `condition_file_not_empty`: a regular file of one byte or more.
    FileNotEmpty,
    /// `condition_file_is_executable`: a regular file with an x bit.
    FileIsExecutable,
    /// `condition_path_is_symbolic_link`: a symbolic link.
    IsSymbolicLink,
}

/// The unit-file key of each test and systemd's directive for it.
pub const PATH_TESTS: &[(PathTest, &str, &str)] = &[
    (
        PathTest::Exists,
        "condition_path_exists",
        "ConditionPathExists",
    ),
    (
        PathTest::IsDirectory,
        "condition_path_is_directory",
        "ConditionPathIsDirectory",
    ),
    (
        PathTest::DirectoryNotEmpty,
        "condition_directory_not_empty",
        "ConditionDirectoryNotEmpty",
    ),
    (
        PathTest::FileNotEmpty,
        "condition_file_not_empty",
        "ConditionFileNotEmpty",
    ),
    (
        PathTest::FileIsExecutable,
        "condition_file_is_executable",
        "ConditionFileIsExecutable",
    ),
    (
        PathTest::IsSymbolicLink,
        "condition_path_is_symbolic_link",
        "ConditionPathIsSymbolicLink",
    ),
];

impl PathTest {
    /// The test a unit-file key names, if it is a path condition's.
    pub fn from_key(key: &str) -> Option<PathTest> {
        PATH_TESTS
            .iter()
            .find(|(_, k, _)| *k == key)
            .map(|(t, _, _)| *t)
    }

    /// The test systemd's directive (`ConditionPathExists`) names.
    pub fn from_directive(directive: &str) -> Option<PathTest> {
        PATH_TESTS
            .iter()
            .find(|(_, _, d)| *d == directive)
            .map(|(t, _, _)| *t)
    }

    /// systemd's directive for it (`ConditionPathExists`).
    pub fn directive(self) -> &'static str {
        PATH_TESTS
            .iter()
            .find(|(t, _, _)| *t == self)
            .map_or("Condition", |(_, _, d)| d)
    }

    /// The unit-file key (`condition_path_exists`).
    pub fn key(self) -> &'static str {
        PATH_TESTS
            .iter()
            .find(|(t, _, _)| *t == self)
            .map_or("condition", |(_, key, _)| key)
    }
}

/// Linux's capabilities by number (linux/capability.h), as
/// `condition_capability` and systemd's `ConditionCapability=` name them.
pub const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// A capability, by its number (an index into `CAPABILITIES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability(pub u8);

impl Capability {
    /// `CAP_SYS_ADMIN`, `cap_sys_admin` or `SYS_ADMIN`, as systemd and
    /// capsh write them.
    pub fn from_name(name: &str) -> Option<Capability> {
        let upper = name.to_ascii_uppercase();
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        let index = CAPABILITIES.iter().position(|c| *c == full)?;
        u8::try_from(index).ok().map(Capability)
    }

    /// Its name as linux/capability.h writes it.
    pub fn name(self) -> &'static str {
        CAPABILITIES
            .get(usize::from(self.0))
            .copied()
            .unwrap_or("CAP_?")
    }
}

/// What a condition looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Check {
    /// A property of an absolute path, tested at each start (not at load).
    Path { test: PathTest, path: PathBuf },
    /// `condition_capability`: the capability is in vigil's bounding set
    /// (in a container that dropped it, units that need it are skipped).
    Capability(Capability),
}

/// A condition checked before each start: when it does not hold, the
/// unit is skipped (inactive, not failed), as systemd's Condition*=.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// What is tested.
    pub check: Check,
    /// Written with a leading `!`: the test must fail.
    pub negate: bool,
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bang = if self.negate { "!" } else { "" };
        match &self.check {
            Check::Path { test, path } => {
                write!(f, "{} = \"{bang}{}\"", test.key(), path.display())
            }
            Check::Capability(cap) => {
                write!(f, "condition_capability = \"{bang}{}\"", cap.name())
            }
        }
    }
}

/// A command of `exec_start_pre`, `exec_start_post`, `exec_stop` or
/// `exec_reload`: run to completion, in order; a failure of an `optional`
/// one (systemd's `-` prefix) is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecCommand {
    pub argv: Vec<String>,
    pub optional: bool,
}

/// One entry of `success_exit_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SuccessStatus {
    /// The main process exited with this code.
    Code(i32),
    /// The main process was killed by this signal.
    Signal(i32),
}

/// Where a service's stdout or stderr goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Output {
    /// /dev/null.
    Null,
    /// vigil's own stdout/stderr (the console when PID 1).
    Inherit,
    /// Captured by vigil into `LOG_DIR/NAME.log` (docs/logs.md).
    #[default]
    Log,
    /// Appended to this file (created 0644 if missing).
    File(PathBuf),
    /// The unit's `tty` (its default when `tty` is set).
    Tty,
}

/// An environment file reference; `optional` files (written with a leading
/// `-`, as in systemd) may be missing without failing the start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentFile {
    pub path: PathBuf,
    pub optional: bool,
}

/// The less common keys of a unit (see `UnitDef::extra`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extras {
    /// Resource limits set before exec (`limits`), in file order.
    pub limits: Vec<super::limits::ResourceLimit>,
    /// Scheduling priority, -20 (most favoured) to 19.
    pub nice: Option<i32>,
    /// /proc/PID/oom_score_adj, -1000 (never killed) to 1000.
    pub oom_score_adj: Option<i32>,
    /// Directories made before each start and removed when the unit stops
    /// (absolute, under /run), owned by the unit's user and group.
    pub runtime_directory: Vec<PathBuf>,
    pub runtime_directory_mode: u32,
    /// Directories made before each start and kept (under /var/lib).
    pub state_directory: Vec<PathBuf>,
    pub state_directory_mode: u32,
    /// Checked before each start, all of them.
    pub conditions: Vec<Condition>,
    /// What `vigilctl reload NAME` sends the main process (systemd's
    /// `ExecReload=kill -HUP $MAINPID`); None: the unit cannot reload.
    pub reload_signal: Option<i32>,
    /// Run before the main process; a failing one fails the start.
    pub exec_start_pre: Vec<ExecCommand>,
    /// Run once the unit is up, before it counts as running.
    pub exec_start_post: Vec<ExecCommand>,
    /// Run to stop the unit, before `stop_signal` goes to what is left.
    pub exec_stop: Vec<ExecCommand>,
    /// What `vigilctl reload NAME` runs (with $MAINPID).
    pub exec_reload: Vec<ExecCommand>,
    /// Run after the unit stopped, whether it stopped cleanly, failed or
    /// never started (systemd's `ExecStopPost=`); failures are logged only.
    pub exec_stop_post: Vec<ExecCommand>,
    /// Other names of the unit (systemd's `Alias=`): `vigilctl reload sshd`
    /// acts on `ssh`, and dependencies may name it.
    pub aliases: ThinVec<String>,
    /// Units started when this one fails for good (systemd's
    /// `OnFailure=`): an alert, a cleanup, a fallback.
    pub on_failure: ThinVec<String>,
    /// The terminal the main process gets as stdin and controlling
    /// terminal (systemd's `StandardInput=tty` with `TTYPath=`): a getty
    /// imported from systemd runs `agetty -` on it.
    pub tty: Option<PathBuf>,
    /// Hang the terminal up before each start (systemd's `TTYVHangup=`):
    /// what a previous session left holding it loses it, so it cannot read
    /// the next login.
    pub tty_vhangup: bool,
    /// Exits of the main process that count as success besides exit 0
    /// (systemd's `SuccessExitStatus=`): an exit code, or death by a signal.
    pub success_exit_status: Vec<SuccessStatus>,
    pub pid_file: Option<PathBuf>,
    pub environment: BTreeMap<String, String>,
    pub environment_file: Vec<EnvironmentFile>,
    pub working_directory: Option<PathBuf>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub supplementary_groups: Vec<String>,
    pub umask: Option<u32>,
    /// Rotation of the unit's log file; None: vigil.toml's `log_max_size`.
    pub log_max_size: Option<u64>,
    /// Rotated files kept; None: vigil.toml's `log_keep`.
    pub log_keep: Option<u32>,
    /// A device the unit cannot run without (set for generated getty units,
    /// not a unit-file key): a start while it is missing fails with a clear
    /// reason ("opening /dev/ttyS9: No such file or directory") instead of
    /// the program's own error, and the restart back-off applies.
    pub needs_device: Option<PathBuf>,
    pub restart_delay_max: Duration,
    /// More than `start_limit_burst` starts within `start_limit_interval` marks
    /// the unit failed until a manual start. A run longer than the interval
    /// counts as healthy and resets the back-off.
    pub start_limit_burst: u32,
    pub start_limit_interval: Duration,
}

impl Default for Extras {
    fn default() -> Self {
        NO_EXTRAS.clone()
    }
}

/// What `UnitDef::extra()` reads when no key of `Extras` is set.
static NO_EXTRAS: Extras = Extras {
    limits: Vec::new(),
    nice: None,
    oom_score_adj: None,
    runtime_directory: Vec::new(),
    runtime_directory_mode: 0o755,
    state_directory: Vec::new(),
    state_directory_mode: 0o755,
    conditions: Vec::new(),
    reload_signal: None,
    exec_start_pre: Vec::new(),
    exec_start_post: Vec::new(),
    exec_stop: Vec::new(),
    exec_reload: Vec::new(),
    exec_stop_post: Vec::new(),
    aliases: ThinVec::new(),
    on_failure: ThinVec::new(),
    tty: None,
    tty_vhangup: false,
    success_exit_status: Vec::new(),
    pid_file: None,
    environment: BTreeMap::new(),
    environment_file: Vec::new(),
    working_directory: None,
    user: None,
    group: None,
    supplementary_groups: Vec::new(),
    umask: None,
    log_max_size: None,
    log_keep: None,
    needs_device: None,
    restart_delay_max: Duration::from_secs(30),
    start_limit_burst: 5,
    start_limit_interval: Duration::from_secs(10),
};

/// One loaded, validated unit.
// Serialize/Deserialize only for `runtime::heap::compact_units` (vigil's own round trip).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitDef {
    // (The lists are `ThinVec`s: one pointer, and no allocation when
    // empty, where a `Vec` takes three words; most lists of most units are
    // empty, and every unit has six.)
    /// File stem; unique key of the unit. Shared (an `Rc<str>`) with
    /// every table of the manager that names the unit.
    pub name: crate::graph::Name,
    /// File it was loaded from (None for generated units).
    pub path: Option<PathBuf>,
    pub description: String,
    pub kind: UnitKind,
    /// argv; empty only for targets.
    pub exec: ThinVec<String>,
    pub remain_after_exit: bool,
    pub restart: RestartPolicy,
    /// First restart delay; doubles per consecutive failure up to `restart_delay_max`.
    pub restart_delay: Duration,
    /// How long notify/forking/oneshot units may take to become ready.
    pub start_timeout: Duration,
    pub wants: ThinVec<String>,
    pub requires: ThinVec<String>,
    pub after: ThinVec<String>,
    pub before: ThinVec<String>,
    /// Targets that pull this unit in (in the file, plus `NAME.wants/` links).
    pub wanted_by: ThinVec<String>,
    /// Signal number sent first on stop (default SIGTERM).
    pub stop_signal: i32,
    /// Then SIGKILL to the process group.
    pub stop_timeout: Duration,
    pub stdout: Output,
    pub stderr: Output,
    pub kill_mode: KillMode,
    /// `vigilctl mask` made it unstartable (a link in `UNITS/masked/`, not a
    /// unit-file key): no start, asked for or pulled in, happens.
    pub masked: bool,
    /// The keys most units never set (commands beyond `exec`, accounts,
    /// environment, limits, directories, conditions, log rotation, the
    /// start limit): behind one box, absent when all are at their
    /// defaults, so 1000 plain units do not pay for them (a plain unit's
    /// definition is 336 bytes instead of 592).
    /// (No skip_serializing_if: postcard, which vigil's own state uses,
    /// cannot skip fields.)
    #[serde(default)]
    pub extra: Option<Box<Extras>>,
}

impl UnitDef {
    /// The less common keys (their defaults when none is set).
    pub fn extra(&self) -> &Extras {
        self.extra.as_deref().unwrap_or(&NO_EXTRAS)
    }

    /// The less common keys, to set one.
    pub fn extra_mut(&mut self) -> &mut Extras {
        self.extra.get_or_insert_with(Box::default)
    }

    /// A unit with every key at its documented default; loaders and tests fill in the rest.
    pub fn new(name: impl Into<crate::graph::Name>) -> Self {
        UnitDef {
            name: name.into(),
            path: None,
            description: String::new(),
            kind: UnitKind::Simple,
            exec: ThinVec::new(),
            remain_after_exit: false,
            restart: RestartPolicy::Never,
            restart_delay: Duration::from_millis(100),
            start_timeout: Duration::from_secs(90),
            wants: ThinVec::new(),
            requires: ThinVec::new(),
            after: ThinVec::new(),
            before: ThinVec::new(),
            wanted_by: ThinVec::new(),
            stop_signal: libc::SIGTERM,
            stop_timeout: Duration::from_secs(10),
            stdout: Output::Log,
            stderr: Output::Log,
            kill_mode: KillMode::Group,
            extra: None,
            masked: false,
        }
    }
}
