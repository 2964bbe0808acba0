//! Per-unit runtime record: state, pids, deadlines, exit history, and the
//! restart rules (back-off and start limit). Pure: times come in as arguments.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::control::protocol::{ExitRecord, UnitState};
use crate::unit::UnitDef;

/// How many exits `vigilctl status` can show.
pub const EXIT_HISTORY: usize = 10;

/// Where a starting unit is in its start sequence; decides what an exit or a
/// notification means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartPhase {
    /// Queued: waiting for ordering dependencies.
    Waiting,
    /// Waiting for the restart delay to pass.
    AutoRestart,
    /// Running `exec_start_pre` commands, before the main process.
    Pre,
    /// Main process runs; waiting for READY=1 / exit 0 / the forking parent.
    Launched,
    /// Forking: parent exited 0; reading the pid file (retried until the start timeout).
    ReadingPidFile,
    /// Up, running `exec_start_post` commands before it counts as running.
    Post,
}

/// Which command list a unit's control process comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlStage {
    StartPre,
    StartPost,
    Stop,
    StopPost,
    Reload,
}

/// The command of `exec_start_pre`, `exec_start_post`, `exec_stop` or
/// `exec_reload` a unit runs now (its "control process", as systemd
/// calls it), and its pid once spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    pub stage: ControlStage,
    pub index: usize,
    pub pid: Option<i32>,
    /// exec_start_post of a oneshot: the main process has already exited
    /// (successfully), so the unit is finished, not running, afterwards.
    pub finished: bool,
}

/// What a pending deadline will do when it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DeadlineKind {
    /// Restart delay over: launch again.
    Restart,
    /// Start timeout: give up the start.
    StartTimeout,
    /// Retry reading a forking unit's pid file.
    PidFileRetry,
    /// Stop timeout: escalate to SIGKILL.
    StopKill,
    /// SIGKILL sent and still no exit: give up on the process.
    StopAbandon,
    /// An `exec_reload` command ran for longer than `stop_timeout`.
    ReloadTimeout,
}

/// The fine-grained state; `UnitState` is its public projection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Inactive,
    Starting(StartPhase),
    Running,
    Stopping,
    Exited,
    Failed,
}

/// A job the manager is carrying out on the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Job {
    Start,
    Stop,
    /// Stop, then start.
    Restart,
}

/// One unit's runtime record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Service {
    pub def: Rc<UnitDef>,
    pub phase: Phase,
    pub job: Option<Job>,
    /// What a run seldom has (why it failed, its STATUS= text, ...):
    /// boxed, and the box only while one of them is set.
    pub notes: Notes,
    /// The main process: the spawned one, or what MAINPID= or the pid
    /// file named (each adoption checked by `manager::trust`).
    pub main_pid: Option<i32>,
    /// The process vigil spawned, until its exit is reaped. It leads its own
    /// session and process group (spawn calls setsid), and while it is
    /// unreaped its pid cannot be reused: it proves that group and session.
    pub leader: Option<i32>,
    /// The process groups a stop may signal, each with the process that
    /// proves it still belongs to the unit (see `Group`).
    pub groups: Vec<Group>,
    /// When the current phase was entered (monotonic).
    pub since: Duration,
    /// When the current process started (monotonic), for runtimes.
    pub started_at: Option<Duration>,
    #[serde(with = "exit_history")]
    pub exits: VecDeque<ExitRecord>,
    /// Automatic restarts since the last manual start.
    pub restarts: u32,
    /// Consecutive failed runs; drives the exponential back-off.
    pub failures_in_row: u32,
    /// Recent start times, for the start limit.
    pub start_times: VecDeque<Duration>,
    /// Why the current stop happens: a stop asked for (its exit is not a
    /// failure), or a start that failed (the restart policy applies).
    pub stop_cause: Option<StopCause>,
    /// A definition a reload brought while the unit was half-way through
    /// its start: the start finishes under the definition it began with
    /// (a forking unit reading its pid file stays forking), and this one
    /// applies as soon as the start is over.
    pub next_def: Option<Rc<UnitDef>>,
    /// When the current (or last) run was asked for, exec'd, came up and
    /// ended: the boot timeline (`vigilctl analyze`).
    pub times: RunTimes,
    /// exec_stop_post is still to run for the current run: set when the
    /// unit is launched, cleared when its commands start (once per run).
    pub stop_post_due: bool,
}

/// The parts of a unit's runtime record that most units, most of the
/// time, do not have: 144 bytes that 1000 quiet units would otherwise each
/// carry inline (issue 8's footprint at N = 1000).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteFields {
    /// Why the unit failed (shown in `list` and `status`).
    pub reason: Option<String>,
    /// Last STATUS= text from the service.
    pub status_text: Option<String>,
    /// The condition that did not hold at the last start: the unit was
    /// skipped (inactive, and its start job succeeded).
    pub skipped: Option<String>,
    /// The command the unit runs besides its main process, if any.
    pub control: Option<Control>,
    /// How the run ended, held while exec_stop_post runs and settled after.
    pub ending: Option<RunEnd>,
}

static NO_NOTES: NoteFields = NoteFields {
    reason: None,
    status_text: None,
    skipped: None,
    control: None,
    ending: None,
};

/// `NoteFields` behind a box that exists only while a field is set.
/// Reading an absent box reads the defaults; writing through `DerefMut`
/// makes the box, so clearing and taking go through `existing_mut`, which
/// never does (every start and stop clears some); `tidy` drops the box
/// once every field is back at its default: `Service::set_phase` calls
/// it, so a unit that is not failed, not mid-command and says nothing
/// holds no box.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notes(Option<Box<NoteFields>>);

impl Notes {
    /// Drop the box if it holds only defaults.
    pub fn tidy(&mut self) {
        if self.0.as_deref() == Some(&NO_NOTES) {
            self.0 = None;
        }
    }

    /// The fields, to clear or take one, if the box exists (if it does
    /// not, every field is already clear).
    pub fn existing_mut(&mut self) -> Option<&mut NoteFields> {
        self.0.as_deref_mut()
    }

    /// Whether the box exists (for the footprint test).
    pub fn is_boxed(&self) -> bool {
        self.0.is_some()
    }
}

impl std::ops::Deref for Notes {
    type Target = NoteFields;
    fn deref(&self) -> &NoteFields {
        self.0.as_deref().unwrap_or(&NO_NOTES)
    }
}

impl std::ops::DerefMut for Notes {
    fn deref_mut(&mut self) -> &mut NoteFields {
        self.0.get_or_insert_with(Box::default)
    }
}

/// The end of a run that waits for exec_stop_post: a stop, or a run that
/// ended by itself (its restart policy decides once the commands ran).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunEnd {
    Stopped,
    Ended {
        runtime: Duration,
        failed: bool,
        reason: String,
    },
}

/// The moments of one run of a unit (monotonic). A new run (a start, or a
/// restart after an exit) starts a new record. Each moment is a `Stamp`
/// (8 bytes, where an `Option<Duration>` takes 16): every unit has one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTimes {
    requested: Stamp,
    exec: Stamp,
    ready: Stamp,
    ended: Stamp,
}

/// A moment that may not have happened yet: nanoseconds plus one, 0 for
/// none (monotonic readings stay far below 2^64 ns, 584 years).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp(u64);

impl Stamp {
    fn at(t: Duration) -> Stamp {
        Stamp(
            u64::try_from(t.as_nanos())
                .unwrap_or(u64::MAX - 1)
                .saturating_add(1),
        )
    }

    fn get(self) -> Option<Duration> {
        self.0.checked_sub(1).map(Duration::from_nanos)
    }

    fn is_none(self) -> bool {
        self.0 == 0
    }

    /// Set to `t` unless already set.
    fn or_at(&mut self, t: Duration) {
        if self.is_none() {
            *self = Stamp::at(t);
        }
    }
}

impl RunTimes {
    /// When the run was asked for.
    pub fn requested(&self) -> Option<Duration> {
        self.requested.get()
    }

    /// When its main process was exec'd.
    pub fn exec(&self) -> Option<Duration> {
        self.exec.get()
    }

    /// When it came up.
    pub fn ready(&self) -> Option<Duration> {
        self.ready.get()
    }

    /// When it ended.
    pub fn ended(&self) -> Option<Duration> {
        self.ended.get()
    }

    /// The one rule for the timeline: what a phase change means for it.
    fn record(&mut self, from: &Phase, to: &Phase, now: Duration) {
        match to {
            Phase::Starting(StartPhase::Waiting | StartPhase::AutoRestart)
                if !matches!(from, Phase::Starting(_)) =>
            {
                *self = RunTimes {
                    requested: Stamp::at(now),
                    ..RunTimes::default()
                };
            }
            Phase::Starting(StartPhase::Launched) => {
                self.requested.or_at(now);
                self.exec = Stamp::at(now);
                self.ready = Stamp::default();
                self.ended = Stamp::default();
            }
            Phase::Running | Phase::Exited => {
                self.requested.or_at(now);
                self.ready.or_at(now);
            }
            Phase::Failed | Phase::Inactive if !self.requested.is_none() => {
                if *to == Phase::Inactive && *from == Phase::Starting(StartPhase::Launched) {
                    // A oneshot that exited 0 without remain_after_exit: done.
                    self.ready.or_at(now);
                }
                self.ended = Stamp::at(now);
            }
            _ => {}
        }
    }
}

/// The exit history in vigil's own serializations of its state: every
/// field always present (`ExitRecord` leaves empty ones out of replies,
/// which a binary format such as the re-exec's cannot read back).
mod exit_history {
    use super::*;
    use serde::{Deserializer, Serializer};

    type Saved = (f64, i32, String, Option<i32>, Option<String>, u64);

    pub fn serialize<S: Serializer>(v: &VecDeque<ExitRecord>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|e| {
            (
                e.at_unix,
                e.pid,
                &e.outcome,
                e.code,
                e.signal.as_ref(),
                e.runtime_ms,
            )
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<VecDeque<ExitRecord>, D::Error> {
        let saved: Vec<Saved> = Vec::deserialize(d)?;
        Ok(saved
            .into_iter()
            .map(
                |(at_unix, pid, outcome, code, signal, runtime_ms)| ExitRecord {
                    at_unix,
                    pid,
                    outcome,
                    code,
                    signal,
                    runtime_ms,
                },
            )
            .collect())
    }
}

/// Why a unit is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopCause {
    /// `vigilctl stop`, a shutdown, a requirement going down, a reload.
    Requested,
    /// The start failed (start timeout, a refused pid file): a failed run.
    StartFailed,
}

/// A process group that vigil may signal, and its witness: a process of the
/// unit that is an unreaped child of vigil and a member of the group. While
/// the witness is unreaped its membership holds the group's id, so the
/// group cannot have been reused by a stranger; the shell re-checks that
/// the witness is still an unreaped member before it signals the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub pgid: i32,
    pub witness: i32,
}

impl Service {
    /// A unit that has never run.
    pub fn new(def: UnitDef, now: Duration) -> Self {
        Service {
            def: Rc::new(def),
            phase: Phase::Inactive,
            job: None,
            notes: Notes::default(),
            main_pid: None,
            leader: None,
            groups: Vec::new(),
            since: now,
            started_at: None,
            exits: VecDeque::new(),
            restarts: 0,
            failures_in_row: 0,
            start_times: VecDeque::new(),
            stop_cause: None,
            next_def: None,
            times: RunTimes::default(),
            stop_post_due: false,
        }
    }

    /// The state users see.
    pub fn state(&self) -> UnitState {
        match self.phase {
            Phase::Inactive => UnitState::Inactive,
            Phase::Starting(_) => UnitState::Starting,
            Phase::Running => UnitState::Running,
            Phase::Stopping => UnitState::Stopping,
            Phase::Exited => UnitState::Exited,
            Phase::Failed => UnitState::Failed,
        }
    }

    /// Enter `phase` at `now`. A definition held back by a reload during
    /// the start applies once the start is over.
    pub fn set_phase(&mut self, phase: Phase, now: Duration) {
        if self.phase != phase {
            self.since = now;
            self.times.record(&self.phase, &phase, now);
        }
        self.phase = phase;
        self.notes.tidy();
        if !self.mid_start() {
            if let Some(def) = self.next_def.take() {
                self.def = def;
            }
        }
    }

    /// Between launch and the end of the start: the phase in which the
    /// unit's type decides what the next exit or message means.
    pub fn mid_start(&self) -> bool {
        matches!(
            self.phase,
            Phase::Starting(
                StartPhase::Pre
                    | StartPhase::Launched
                    | StartPhase::ReadingPidFile
                    | StartPhase::Post
            )
        )
    }

    /// The definition the next start will use (the newest one loaded).
    pub fn latest_def(&self) -> &Rc<UnitDef> {
        self.next_def.as_ref().unwrap_or(&self.def)
    }

    /// Whether vigil still claims `pid` for this unit in any role.
    pub fn claims(&self, pid: i32) -> bool {
        self.main_pid == Some(pid)
            || self.leader == Some(pid)
            || self.groups.iter().any(|g| g.witness == pid)
            || self.notes.control.and_then(|c| c.pid) == Some(pid)
    }

    /// Up for dependency purposes: running, or finished successfully.
    pub fn is_up(&self) -> bool {
        matches!(self.phase, Phase::Running | Phase::Exited)
    }

    /// Has a live main process that a stop must end.
    pub fn has_process(&self) -> bool {
        self.main_pid.is_some()
    }

    /// Delay before the next automatic restart: `restart_delay` doubled per
    /// consecutive failure, capped at `restart_delay_max`.
    pub fn backoff_delay(&self) -> Duration {
        let base = self.def.restart_delay;
        let cap = self.def.extra().restart_delay_max.max(base);
        let shift = self.failures_in_row.saturating_sub(1).min(30);
        base.checked_mul(1u32 << shift).unwrap_or(cap).min(cap)
    }

    /// Account for a run that just ended: a run longer than the start limit
    /// interval was healthy and resets the back-off.
    pub fn note_run_ended(&mut self, runtime: Duration, failed: bool) {
        if runtime >= self.def.extra().start_limit_interval || !failed {
            self.failures_in_row = 0;
        }
        if failed {
            self.failures_in_row = self.failures_in_row.saturating_add(1);
        }
    }

    /// Record a start attempt; false when the start limit is hit (more than
    /// `start_limit_burst` starts within `start_limit_interval`).
    pub fn admit_start(&mut self, now: Duration) -> bool {
        let window = self.def.extra().start_limit_interval;
        while let Some(first) = self.start_times.front() {
            if now.saturating_sub(*first) >= window {
                self.start_times.pop_front();
            } else {
                break;
            }
        }
        if self.start_limit_hit(now) {
            return false;
        }
        if self.start_times.capacity() == 0 {
            // Room for the one start most units ever make (a first push
            // would make room for four).
            self.start_times.reserve_exact(1);
        }
        self.start_times.push_back(now);
        true
    }

    /// Whether a start now would be refused by the start limit (records
    /// nothing): the one rule `admit_start` applies.
    pub fn start_limit_hit(&self, now: Duration) -> bool {
        let window = self.def.extra().start_limit_interval;
        let burst = self.def.extra().start_limit_burst as usize;
        burst > 0
            && self
                .start_times
                .iter()
                .filter(|t| now.saturating_sub(**t) < window)
                .count()
                >= burst
    }

    /// Forget the start limit and back-off (a manual start).
    pub fn reset_limits(&mut self) {
        self.start_times.clear();
        self.failures_in_row = 0;
        self.restarts = 0;
    }

    /// Append to the bounded exit history.
    pub fn record_exit(&mut self, record: ExitRecord) {
        if self.exits.len() >= EXIT_HISTORY {
            self.exits.pop_front();
        }
        self.exits.push_back(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc() -> Service {
        let mut def = UnitDef::new("t");
        def.restart_delay = Duration::from_millis(100);
        def.extra_mut().restart_delay_max = Duration::from_secs(1);
        Service::new(def, Duration::ZERO)
    }

    #[test]
    fn run_times_keep_a_moment_at_zero_apart_from_none() {
        let ms = Duration::from_millis;
        let waiting = Phase::Starting(StartPhase::Waiting);
        let launched = Phase::Starting(StartPhase::Launched);
        let mut t = RunTimes::default();
        t.record(&Phase::Inactive, &waiting, Duration::ZERO);
        t.record(&waiting, &launched, ms(5));
        assert_eq!(
            (t.requested(), t.exec(), t.ready()),
            (Some(Duration::ZERO), Some(ms(5)), None)
        );
        t.record(&launched, &Phase::Running, ms(7));
        t.record(&Phase::Running, &Phase::Failed, ms(9));
        assert_eq!((t.ready(), t.ended()), (Some(ms(7)), Some(ms(9))));
        t.record(&Phase::Failed, &waiting, ms(20));
        assert_eq!(
            (t.requested(), t.exec(), t.ended()),
            (Some(ms(20)), None, None)
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut s = svc();
        let mut delays = Vec::new();
        for _ in 0..6 {
            s.note_run_ended(Duration::from_millis(10), true);
            delays.push(s.backoff_delay().as_millis());
        }
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn healthy_run_resets_backoff() {
        let mut s = svc();
        for _ in 0..4 {
            s.note_run_ended(Duration::from_millis(10), true);
        }
        assert_eq!(s.backoff_delay(), Duration::from_millis(800));
        s.note_run_ended(Duration::from_secs(60), true);
        assert_eq!(s.backoff_delay(), Duration::from_millis(100));
    }

    #[test]
    fn start_limit_counts_within_window() {
        let mut s = svc();
        Rc::make_mut(&mut s.def).extra_mut().start_limit_burst = 3;
        Rc::make_mut(&mut s.def).extra_mut().start_limit_interval = Duration::from_secs(10);
        let t = Duration::from_secs;
        assert!(s.admit_start(t(0)));
        assert!(s.admit_start(t(1)));
        assert!(s.admit_start(t(2)));
        assert!(!s.admit_start(t(3)));
        // The window slides: the start at 0s has aged out at 10s.
        assert!(s.admit_start(t(10)));
    }
}
