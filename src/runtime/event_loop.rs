//! The one event loop: epoll over the signalfd, the timerfd, the notify
//! socket, the control socket and its clients, and the pidfds of watched
//! processes, each registered under a `Token`. It turns readiness into
//! `manager::Event`s (gathering the facts the manager's rules need) and
//! carries out the manager's `Action`s. Single-threaded; it sleeps in
//! epoll_wait with no timeout unless a deadline is due.

use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{CtrlAltDel, SigtermAction, SystemConfig};
use crate::control::protocol::{LogSource, Reply, ReplyBody, Request};
use crate::control::server::{ConnId, ControlServer, FdChange};
use crate::exit::ExitStatus;
use crate::log::Logger;
use crate::logs::record::Stream;
use crate::logs::store::{LogLimits, StoreProblem};
use crate::manager::{
    Action, BootRecord, ClientId, Event, Manager, Now, PidFileError, PidFileFacts, Settings,
};
use crate::power::PowerAction;
use crate::runtime::capture::LogCapture;
use crate::runtime::heap;
use crate::runtime::instance_lock::{InstanceLock, LockError};
use crate::runtime::notify::NotifySocket;
use crate::runtime::pidfile::read_pid_file;
use crate::runtime::poller::{Interest, Poller, Ready};
use crate::runtime::processes::{ProcessTable, SignalError};
use crate::runtime::reap::{reap_all, reap_pid};
use crate::runtime::signals::SignalFd;
use crate::runtime::sources::Token;
use crate::runtime::spawn::{spawn, SpawnContext};
use crate::runtime::timer::{monotonic_now, Timer};
use crate::unit::{self, UnitDef};

/// The signals vigil takes through its signalfd.
pub const HANDLED_SIGNALS: [i32; 8] = [
    libc::SIGCHLD,
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGPWR,
    libc::SIGQUIT,
];

/// Everything the loop needs to know that does not change while it runs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LoopOptions {
    pub units_dir: PathBuf,
    /// vigil.toml: re-read on reload; the settings that can apply live do.
    pub config_path: PathBuf,
    pub socket_path: PathBuf,
    pub notify_path: PathBuf,
    pub target: String,
    pub admin_gid: Option<u32>,
    /// Environment every service starts with.
    pub base_env: Vec<(String, String)>,
    /// Units generated from configuration (gettys, udev); kept across reloads.
    /// (Not in a re-exec's header: the exact state carries them, and the
    /// fallback generates them again.)
    #[serde(skip)]
    pub generated: Vec<UnitDef>,
    /// The manager's settings (`settings_from_config`).
    pub settings: Settings,
    /// Where service logs and vigil.log are written (`log_dir_for`).
    pub log_dir: PathBuf,
    /// vigil.toml's default rotation.
    pub log_limits: LogLimits,
    /// vigil's start and early boot, for the timeline.
    pub boot_record: BootRecord,
    /// Instances of template units started by request (`vigilctl start
    /// getty@tty2`): loaded on every reload from then on.
    #[serde(default)]
    pub instances: std::collections::BTreeSet<String>,
}

/// The log directory: vigil.toml's `log_dir` or `--log-dir` when given;
/// else /var/log/vigil for PID 1 (of the machine or of a container) and
/// for a supervisor on the default socket, and `log/` beside the control
/// socket for any other supervisor (a test, a user trying vigil out).
pub fn log_dir_for(configured: Option<&Path>, pid1: bool, socket: &Path) -> PathBuf {
    if let Some(dir) = configured {
        return dir.to_path_buf();
    }
    if pid1 || socket == Path::new(crate::control::protocol::DEFAULT_SOCKET) {
        return PathBuf::from(crate::logs::DEFAULT_LOG_DIR);
    }
    socket.with_file_name("log")
}

/// Why the loop could not even start.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error("setting up the event loop: {0}")]
    Setup(String),
    #[error(transparent)]
    AlreadyRunning(#[from] LockError),
}

/// The manager's settings from vigil.toml, for vigil as the machine's init
/// (`pid1`) or as a supervisor.
pub fn settings_from_config(config: &SystemConfig, pid1: bool) -> Settings {
    Settings {
        pid1,
        self_pid: i32::try_from(std::process::id()).unwrap_or(1),
        sigterm: match config.sigterm {
            SigtermAction::Poweroff => PowerAction::Poweroff,
            SigtermAction::Reboot => PowerAction::Reboot,
        },
        ctrl_alt_del: match config.ctrl_alt_del {
            CtrlAltDel::Reboot => Some(PowerAction::Reboot),
            CtrlAltDel::Poweroff => Some(PowerAction::Poweroff),
            CtrlAltDel::Ignore => None,
        },
        shutdown_timeout: config.shutdown_timeout,
    }
}

/// The imperative shell around the manager.
struct Shell<'a> {
    opts: LoopOptions,
    log: &'a mut Logger,
    poller: Poller,
    signals: SignalFd,
    timer: Timer,
    notify: Option<NotifySocket>,
    server: Option<ControlServer>,
    manager: Manager,
    processes: ProcessTable,
    spawn_ctx: SpawnContext,
    armed: Option<Duration>,
    power: Option<PowerAction>,
    /// Whether the image's boot pages were given back (once, after boot).
    image_released: bool,
    /// Held while the loop runs: one vigil per control socket.
    instance_lock: Option<InstanceLock>,
    /// The binary vigil runs from and its command line, for a re-exec.
    binary: PathBuf,
    argv: Vec<std::ffi::OsString>,
    /// A `daemon-reexec` whose probe of the new binary runs.
    reexec: Option<PendingReexec>,
    /// vigil's stderr descriptor while it is watched for writability.
    log_watch: Option<RawFd>,
    /// The units' log pipes and files, and vigil.log.
    capture: LogCapture,
}

/// A re-exec waiting for the probe of the new binary (`reexec::CHECK_FLAG`).
struct PendingReexec {
    client: ClientId,
    probe: std::process::Child,
    deadline: Duration,
    requested_at: Duration,
}

/// The pid a unit's log lines are stamped with: its main process, or the
/// one that ran last.
fn log_pid(manager: &Manager, unit: &str) -> Option<i32> {
    let svc = manager.service(unit)?;
    svc.main_pid
        .or(svc.leader)
        .or_else(|| svc.exits.back().map(|e| e.pid))
}

/// Whether a unit's start condition holds now (a fact for the manager,
/// which decides that a unit whose condition fails is skipped).
fn condition_holds(c: &crate::unit::Condition) -> bool {
    use crate::unit::model::{Check, PathTest};
    use std::os::unix::fs::PermissionsExt;
    let holds = match &c.check {
        Check::Path { test, path } => match test {
            PathTest::Exists => path.exists(),
            PathTest::IsDirectory => path.is_dir(),
            PathTest::DirectoryNotEmpty => {
                std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some())
            }
            PathTest::FileNotEmpty => {
                std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0)
            }
            PathTest::FileIsExecutable => std::fs::metadata(path)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0),
            PathTest::IsSymbolicLink => {
                std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
            }
        },
        Check::Capability(cap) => crate::runtime::capabilities::in_bounding_set(*cap),
    };
    holds != c.negate
}

/// Replies at least this large trigger a heap trim before they are sent.
const TRIM_AFTER_REPLY_BYTES: usize = 64 * 1024;

/// The time now, for the manager.
pub fn now() -> Now {
    let unix_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    Now {
        mono: monotonic_now(),
        unix_secs,
    }
}

/// Load the units directory plus generated units and the template
/// instances started by request.
pub fn load_units(
    dir: &Path,
    generated: &[UnitDef],
    instances: &std::collections::BTreeSet<String>,
) -> unit::LoadResult {
    unit::load::load_dir_with_instances(dir, generated, instances)
}

/// The unit files that exist but did not load: on a reload they keep the
/// definition they had.
fn broken_files(result: &unit::LoadResult) -> Vec<String> {
    result
        .files
        .iter()
        .filter(|name| !result.units.contains_key(*name))
        .cloned()
        .collect()
}

/// The order of a turn's readiness reports (a stable sort keeps epoll's
/// order within a rank): connections before the listener, so a client that
/// hung up frees its descriptor before the next one is accepted (at the
/// descriptor limit that is the difference between serving it and refusing
/// it); log pipes last, so a request that arrives during a flood waits for
/// no pipe read of this turn.
fn dispatch_rank(ready: &Ready) -> u8 {
    match Token::decode(ready.token) {
        Some(Token::Listener) => 1,
        Some(Token::LogPipe { .. }) => 2,
        _ => 0,
    }
}

/// Run until the manager asks for a power action; returns it.
pub fn run(mut opts: LoopOptions, log: &mut Logger) -> Result<PowerAction, LoopError> {
    // Before anything else: one vigil per control socket. The machine's
    // init goes on without the lock (it must never exit, and on a fresh
    // /run nobody else can hold it).
    let instance_lock = match InstanceLock::acquire(&opts.socket_path) {
        Ok(lock) => Some(lock),
        Err(e) if opts.settings.pid1 => {
            log.error(&format!("{e}; going on as the machine's init"));
            None
        }
        Err(e) => return Err(e.into()),
    };
    // A pidfd per unit (docs/architecture.md, "Descriptors").
    let service_nofile = match crate::runtime::fdlimit::raise() {
        Ok((original, now)) => {
            log.debug(&format!(
                "descriptor limit {}:{} (services get {}:{})",
                now.0, now.1, original.0, original.1
            ));
            Some(original)
        }
        Err(e) => {
            log.warn(&format!("reading or raising RLIMIT_NOFILE: {e}"));
            None
        }
    };
    let (signals, timer, poller) = open_sources()?;
    // The notify and control sockets are not fatal: vigil supervises without them.
    if let Some(dir) = opts.notify_path.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            log.error(&format!("creating {}: {e}", dir.display()));
        }
    }
    let notify = match NotifySocket::bind(&opts.notify_path) {
        Ok(sock) => {
            let token = Token::Notify.encode();
            if let Err(e) = poller.add(sock.as_raw_fd(), token, Interest::READABLE) {
                log.error(&format!("notify socket: {e}"));
            }
            Some(sock)
        }
        Err(e) => {
            log.error(&format!(
                "notify socket {}: {e}; notify units cannot become ready",
                opts.notify_path.display()
            ));
            None
        }
    };
    let server = match ControlServer::bind(&opts.socket_path, opts.admin_gid) {
        Ok(server) => {
            let token = Token::Listener.encode();
            if let Err(e) = poller.add(server.listener_fd(), token, Interest::READABLE) {
                log.error(&format!("control socket: {e}"));
            }
            log.debug(&format!("control socket at {}", opts.socket_path.display()));
            Some(server)
        }
        Err(e) => {
            log.error(&format!(
                "control socket {}: {e}; vigilctl will not reach this vigil",
                opts.socket_path.display()
            ));
            None
        }
    };

    // The load's other results (diagnostics, the file names) are dropped
    // here, before the units are compacted: kept to the end of `run` they
    // held scattered memory the compaction could not give back.
    let units = {
        let loaded = load_units(&opts.units_dir, &opts.generated, &opts.instances);
        for d in &loaded.diagnostics {
            log.log_untagged(d.level(), &d.to_string());
        }
        loaded.units
    };
    log.info(&format!(
        "loaded {} units from {}",
        units.len(),
        opts.units_dir.display()
    ));
    let units = match heap::compact_units(units) {
        Ok(units) => units,
        Err(e) => {
            log.error(&format!("{e}; loading the units again"));
            load_units(&opts.units_dir, &opts.generated, &opts.instances).units
        }
    };
    let mut manager = Manager::new(units, &opts.target, opts.settings, now());
    manager.set_boot_record(std::mem::take(&mut opts.boot_record));
    let capture = LogCapture::new(opts.log_dir.clone(), opts.admin_gid, opts.log_limits);
    if let Err(e) = crate::runtime::spawn::warm_up() {
        log.error(&format!("opening /dev/null for services' stdin: {e}"));
    }
    let spawn_ctx = SpawnContext {
        base_env: opts.base_env.clone(),
        notify_socket: notify.as_ref().map(|n| n.path().to_path_buf()),
        service_nofile,
    };
    let mut shell = Shell {
        opts,
        log,
        poller,
        signals,
        timer,
        notify,
        server,
        manager,
        processes: ProcessTable::default(),
        spawn_ctx,
        armed: None,
        power: None,
        image_released: false,
        instance_lock,
        binary: crate::runtime::reexec::own_binary(),
        argv: std::env::args_os().collect(),
        reexec: None,
        log_watch: None,
        capture,
    };
    // From here on vigil's own output never blocks it (a slow console).
    shell.log.set_nonblocking(true);
    shell.feed(Event::Boot);
    Ok(shell.serve())
}

/// The event sources every loop has, new in each image.
fn open_sources() -> Result<(SignalFd, Timer, Poller), LoopError> {
    let setup = |what: &str, e: String| LoopError::Setup(format!("{what}: {e}"));
    let signals = SignalFd::new(&HANDLED_SIGNALS).map_err(|e| setup("signalfd", e.to_string()))?;
    let timer = Timer::new().map_err(|e| setup("timerfd", e.to_string()))?;
    let poller = Poller::new().map_err(|e| setup("epoll", e.to_string()))?;
    poller
        .add(
            signals.as_raw_fd(),
            Token::Signals.encode(),
            Interest::READABLE,
        )
        .map_err(|e| setup("epoll", e.to_string()))?;
    poller
        .add(timer.as_raw_fd(), Token::Timer.encode(), Interest::READABLE)
        .map_err(|e| setup("epoll", e.to_string()))?;
    Ok((signals, timer, poller))
}

/// Go on from the state a previous image handed over (`vigil --resume`):
/// the descriptors it left open, its manager (or, when only the header
/// could be read, the units loaded again and the running processes that
/// can be proven adopted), and the answer to the `daemon-reexec` request.
pub fn resume(
    header: crate::runtime::reexec::Header,
    full: Option<crate::runtime::reexec::Full>,
    why_partial: Option<String>,
    log: &mut Logger,
) -> Result<PowerAction, LoopError> {
    use crate::runtime::fds::take_inherited;
    let started = now();
    let mut opts = header.opts;
    opts.generated = match full.as_ref() {
        Some(f) => f.generated.clone(),
        None if opts.settings.pid1 => {
            let (config, _) = crate::config::load_config(&opts.config_path);
            crate::boot::boot_output_of_running_system(&crate::boot::RealSyscall, &config)
                .generated_units
        }
        None => Vec::new(),
    };
    let mut notes = Vec::new();
    let instance_lock = match header.lock.and_then(take_inherited) {
        Some(fd) => Some(InstanceLock::from_fd(fd)),
        None => match InstanceLock::acquire(&opts.socket_path) {
            Ok(lock) => Some(lock),
            Err(e) => {
                log.warn(&format!("{e}; going on (this vigil was re-executed)"));
                None
            }
        },
    };
    let (signals, timer, poller) = open_sources()?;
    let notify = match header.notify.and_then(take_inherited) {
        Some(fd) => Some(NotifySocket::from_fd(fd, &opts.notify_path)),
        None => NotifySocket::bind(&opts.notify_path)
            .map_err(|e| log.error(&format!("notify socket: {e}")))
            .ok(),
    };
    if let Some(n) = notify.as_ref() {
        if let Err(e) = poller.add(n.as_raw_fd(), Token::Notify.encode(), Interest::READABLE) {
            log.error(&format!("notify socket: {e}"));
        }
    }
    let server = match header.listener.and_then(take_inherited) {
        Some(fd) => Some(ControlServer::from_listener(
            fd,
            &opts.socket_path,
            opts.admin_gid,
        )),
        None => ControlServer::bind(&opts.socket_path, opts.admin_gid)
            .map_err(|e| log.error(&format!("control socket: {e}")))
            .ok(),
    };
    if let Some(s) = server.as_ref() {
        if let Err(e) = poller.add(
            s.listener_fd(),
            Token::Listener.encode(),
            Interest::READABLE,
        ) {
            log.error(&format!("control socket: {e}"));
        }
    }
    let mut processes = ProcessTable::resume(&header.processes);
    let (manager_state, capture_state) = match full {
        Some(f) => (Some(f.manager), Some(f.capture)),
        None => (None, None),
    };
    let capture = LogCapture::resume(
        opts.log_dir.clone(),
        opts.admin_gid,
        opts.log_limits,
        &header.pipes,
        capture_state,
        started.mono,
    );
    let exact = manager_state.is_some();
    let (manager, units) = match manager_state {
        Some(state) => {
            let manager = Manager::resume(state, started);
            let n = manager.unit_count();
            (manager, n)
        }
        None => {
            if let Some(why) = &why_partial {
                notes.push(why.clone());
            }
            let loaded = load_units(&opts.units_dir, &opts.generated, &opts.instances);
            for d in &loaded.diagnostics {
                log.log_untagged(d.level(), &d.to_string());
            }
            let mut manager = Manager::new(loaded.units, &opts.target, opts.settings, started);
            manager.set_now(started);
            let mut adopted = 0;
            for s in &header.survivors {
                let facts = processes.facts(s.main_pid);
                if facts.alive
                    && facts.child
                    && manager.adopt_survivor(&s.unit, s.main_pid, facts.pgid)
                {
                    processes.adopt(s.main_pid, false);
                    adopted += 1;
                } else {
                    notes.push(format!(
                        "{}: pid {} not adopted (not a running child of vigil, or no such unit now); left alone",
                        s.unit, s.main_pid
                    ));
                }
            }
            processes.clear_pending();
            (manager, adopted)
        }
    };
    let watched = processes.watched();
    let spawn_ctx = SpawnContext {
        base_env: opts.base_env.clone(),
        notify_socket: notify.as_ref().map(|n| n.path().to_path_buf()),
        service_nofile: header.service_nofile,
    };
    if let Err(e) = crate::runtime::spawn::warm_up() {
        log.error(&format!("opening /dev/null for services' stdin: {e}"));
    }
    let binary = crate::runtime::reexec::own_binary();
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The --resume of this start is not part of vigil's own command line.
    if let Some(at) = argv
        .iter()
        .rposition(|a| a == crate::runtime::reexec::RESUME_FLAG)
    {
        argv.truncate(at);
    }
    let mut shell = Shell {
        opts,
        log,
        poller,
        signals,
        timer,
        notify,
        server,
        manager,
        processes,
        spawn_ctx,
        armed: None,
        power: None,
        image_released: false,
        instance_lock,
        binary: binary.clone(),
        argv,
        reexec: None,
        log_watch: None,
        capture,
    };
    for (pid, fd) in watched {
        shell.register(fd, Token::Process(pid), Interest::READABLE);
    }
    shell.watch_new_pipes();
    shell.log.set_nonblocking(true);
    let done = now();
    let report = crate::control::protocol::ReexecReport {
        binary,
        from_version: header.vigil_version.clone(),
        to_version: env!("CARGO_PKG_VERSION").to_string(),
        exact,
        units,
        took_secs: done.mono.saturating_sub(header.requested_at).as_secs_f64(),
        notes,
    };
    shell.log.info(&format!(
        "re-executed {} (vigil {} -> {}) in {:.1} ms: {} {}",
        report.binary.display(),
        report.from_version,
        report.to_version,
        report.took_secs * 1000.0,
        report.units,
        if exact {
            "units kept"
        } else {
            "processes adopted; state not read whole"
        },
    ));
    for note in &report.notes {
        shell.log.warn(&format!("re-exec: {note}"));
    }
    let client = match (
        header.client.and_then(take_inherited),
        shell.server.as_mut(),
    ) {
        (Some(fd), Some(server)) => server.adopt_pending(fd, done.mono),
        _ => None,
    };
    if let Some(client) = client {
        shell.send(client, Reply::ok(ReplyBody::Reexec(report)));
    }
    if !exact {
        // Start what the target wants and is not running.
        shell.feed(Event::Boot);
    }
    Ok(shell.serve())
}

impl Shell<'_> {
    /// The loop: until the manager asks for a power action; returns it.
    fn serve(mut self) -> PowerAction {
        // From here on, log lines are written once per loop turn. (Not during
        // the boot feed: it spawns the whole target, and its lines should come
        // out as it goes.)
        self.log.set_batching(true);
        // Children may have exited before the signalfd existed (a container's
        // leftovers, boot helpers, or exits during a re-exec): reap them now.
        self.reap(None);
        loop {
            if let Some(action) = self.power {
                self.finish_logs();
                self.remove_sockets();
                self.log.set_batching(false);
                self.log.set_nonblocking(false);
                return action;
            }
            self.write_own_log();
            self.arm_timer();
            self.log.flush();
            self.watch_log_output();
            if !self.image_released && self.manager.boot_finished() {
                // Like the kernel's freeing of its init code: once the boot
                // is done and its lines are out (writing a thousand of them
                // runs code too), the image's pages go back, just before
                // vigil first waits with nothing left to do.
                // The heap first: loading and the boot burst (its spawns
                // and lines included) leave freed memory behind, and the
                // trim's own code must not be faulted back in after.
                self.image_released = true;
                heap::release_free_heap();
                crate::runtime::image_pages::release_boot_pages();
            }
            let ready = match self.poller.wait(None) {
                Ok(r) => r,
                Err(e) => {
                    self.log.error(&format!("epoll_wait: {e}"));
                    continue;
                }
            };
            let mut ready = ready;
            ready.sort_by_key(dispatch_rank);
            for r in ready {
                self.dispatch(r);
            }
        }
    }

    /// Feed an event and carry out the actions, including the events they
    /// produce synchronously (spawn results, pid files, reloads).
    fn feed(&mut self, event: Event) {
        let mut queue = std::collections::VecDeque::from([event]);
        let mut reloaded = false;
        while let Some(ev) = queue.pop_front() {
            reloaded |= matches!(ev, Event::Reloaded { .. });
            let actions = self.manager.handle(ev, now());
            for action in actions {
                if let Some(next) = self.execute(action) {
                    queue.push_back(next);
                }
            }
        }
        // Handles opened for facts (of the events just handled) that no
        // claim took are dropped.
        self.processes.clear_pending();
        if reloaded {
            let manager = &self.manager;
            let pid_of = |unit: &str| log_pid(manager, unit);
            self.capture.retain(
                &|unit| manager.service(unit).is_some(),
                &pid_of,
                monotonic_now(),
            );
            // A reload re-reads every unit file and rebuilds the graph: give
            // that peak back (1000 units left 2.6 MiB behind).
            heap::release_free_heap();
        }
    }

    fn execute(&mut self, action: Action) -> Option<Event> {
        match action {
            Action::Spawn { unit, def } => {
                if let Some(condition) = def.extra().conditions.iter().find(|c| !condition_holds(c))
                {
                    return Some(Event::Skipped {
                        unit: unit.to_string(),
                        condition: condition.to_string(),
                    });
                }
                for why in self.capture.prepare(&def) {
                    self.log.warn(&why);
                }
                self.watch_new_pipes();
                let result =
                    spawn(&def, &self.spawn_ctx, self.capture.fds_of(&def.name)).map(|child| {
                        self.processes.insert_spawned(child.pid, child.pidfd);
                        child.pid
                    });
                Some(Event::Spawned {
                    unit: unit.to_string(),
                    result,
                })
            }
            Action::SpawnControl {
                unit,
                def,
                argv,
                main_pid,
            } => {
                // The unit's own environment, output and credentials, with
                // this command as argv and $MAINPID.
                let mut control = (*def).clone();
                control.exec = argv.into();
                control.kind = crate::unit::UnitKind::Simple;
                // The terminal is the main process's: a command writes to it
                // but does not take it as its controlling terminal. It must
                // exist (an output file is created when missing: a device
                // path must not become a regular file).
                if let Some(tty) = control.extra_mut().tty.take() {
                    for out in [&mut control.stdout, &mut control.stderr] {
                        if *out == crate::unit::Output::Tty {
                            *out = crate::unit::Output::File(tty.clone());
                        }
                    }
                    control.extra_mut().needs_device.get_or_insert(tty);
                }
                if let Some(pid) = main_pid {
                    control
                        .extra_mut()
                        .environment
                        .insert("MAINPID".to_string(), pid.to_string());
                }
                for why in self.capture.prepare(&control) {
                    self.log.warn(&why);
                }
                self.watch_new_pipes();
                let result =
                    spawn(&control, &self.spawn_ctx, self.capture.fds_of(&unit)).map(|child| {
                        self.processes.insert_spawned(child.pid, child.pidfd);
                        child.pid
                    });
                Some(Event::ControlSpawned { unit, result })
            }
            Action::Signal {
                target,
                signal,
                then,
            } => {
                match self.processes.signal(target, signal, then) {
                    Ok(_) => {}
                    // Expected once a group's members are all gone.
                    Err(e @ SignalError::Unproven { .. }) => self.log.debug(&e.to_string()),
                    Err(e) => self.log.warn(&e.to_string()),
                }
                None
            }
            Action::Adopt { pid, watch } => {
                if let Some(fd) = self.processes.adopt(pid, watch) {
                    self.register(fd, Token::Process(pid), Interest::READABLE);
                }
                None
            }
            Action::ReadPidFile { unit, path } => {
                let result = match read_pid_file(&path) {
                    Ok(file) => Ok(PidFileFacts {
                        owner: file.owner,
                        process: self.processes.facts(file.pid),
                    }),
                    Err(why) => Err(PidFileError::NotReady(why)),
                };
                Some(Event::PidFile { unit, result })
            }
            Action::Reply { client, reply } => {
                self.send(client, reply);
                None
            }
            Action::Reload { client } => self.reload(client),
            Action::Reexec { client } => {
                self.start_reexec(client);
                None
            }
            Action::LogUntagged { level, message } => {
                self.log.log_untagged(level, &message);
                None
            }
            Action::Log { level, message } => {
                self.log.log(level, &message);
                None
            }
            Action::PowerOff(action) => {
                self.power = Some(action);
                None
            }
            Action::RemoveRuntimeDirectories { unit, paths } => {
                for path in paths {
                    match std::fs::remove_dir_all(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => self.log.warn(&format!(
                            "{unit}: removing its runtime directory {}: {e}",
                            path.display()
                        )),
                    }
                }
                None
            }
            Action::DumpShell => {
                let clients = self.server.as_ref().map(|s| s.client_count()).unwrap_or(0);
                self.log.info(&format!(
                    "  control clients: {clients}; process handles: {}; log pipe descriptors: {}; log bytes waiting: {}; timer armed at {:?}",
                    self.processes.len(),
                    self.capture.fd_count(),
                    self.capture.store().waiting_bytes(),
                    self.armed
                ));
                None
            }
        }
    }

    /// One readiness report, to the handler of its source (in the order of
    /// `dispatch_rank` within a turn).
    fn dispatch(&mut self, ready: Ready) {
        match Token::decode(ready.token) {
            Some(Token::Signals) => self.on_signals(),
            Some(Token::Timer) => self.on_timer(),
            Some(Token::Notify) => self.on_notify(),
            Some(Token::Listener) => self.on_listener(),
            Some(Token::Client(conn)) => self.on_client(conn, ready),
            Some(Token::Process(pid)) => self.on_process_exit(pid),
            Some(Token::LogOutput) => self.log.flush(),
            Some(Token::LogPipe { slot, stream }) => self.on_log_pipe(slot, stream),
            None => self
                .log
                .warn(&format!("epoll reported unknown token {:#x}", ready.token)),
        }
    }

    /// Watch vigil's stderr for writability exactly while lines wait for it.
    fn watch_log_output(&mut self) {
        let wanted = self.log.waiting_output();
        if wanted == self.log_watch {
            return;
        }
        if let Some(fd) = self.log_watch.take() {
            let _ = self.poller.delete(fd);
        }
        if let Some(fd) = wanted {
            if self
                .poller
                .add(fd, Token::LogOutput.encode(), Interest::WRITABLE)
                .is_ok()
            {
                self.log_watch = Some(fd);
            }
        }
    }

    /// Watches `fd` as `token`; a failure is logged (the source then stays
    /// silent, which the message says).
    fn register(&mut self, fd: RawFd, token: Token, interest: Interest) {
        if let Err(e) = self.poller.add(fd, token.encode(), interest) {
            self.log.warn(&format!("watching {token:?}: {e}"));
        }
    }

    /// Watch the pipes the capture made since the last call.
    fn watch_new_pipes(&mut self) {
        for pipe in self.capture.take_new_pipes() {
            let token = Token::LogPipe {
                slot: pipe.slot,
                stream: pipe.stream,
            };
            self.register(pipe.fd, token, Interest::READABLE);
        }
    }

    /// A unit wrote to its log pipe: one read, into its log.
    fn on_log_pipe(&mut self, slot: u32, stream: Stream) {
        let manager = &self.manager;
        let pid_of = |unit: &str| log_pid(manager, unit);
        let problem = self
            .capture
            .pump(slot, stream, &pid_of, false, monotonic_now());
        self.report_store(problem.into_iter());
    }

    /// Log a log file's trouble (once per reason: the store says when).
    fn report_store(&mut self, problems: impl Iterator<Item = StoreProblem>) {
        for p in problems {
            self.log.warn(&format!("log of {}: {}", p.name, p.message));
        }
    }

    /// vigil's own records of this turn into vigil.log.
    fn write_own_log(&mut self) {
        let records = self.log.take_records();
        if let Some(p) = self.capture.own(&records, monotonic_now()) {
            // Written to the console and kmsg; vigil.log gets it once it works.
            self.log.warn(&format!("vigil.log: {}", p.message));
        }
    }

    /// The machine is going down (or the supervisor exits): every pipe
    /// drained, vigil.log written, every file closed, and synced when the
    /// machine goes down. A supervisor's exit leaves the machine up: what it
    /// wrote is in the files (the kernel writes them back as ever), and a
    /// thousand fsyncs would only make its stop slow.
    fn finish_logs(&mut self) {
        let manager = &self.manager;
        let pid_of = |unit: &str| log_pid(manager, unit);
        let problems = self.capture.drain_all(&pid_of, monotonic_now());
        self.report_store(problems.into_iter());
        let machine = self.opts.settings.pid1;
        // Into vigil.log before the one sync that covers every file.
        self.log.info(if machine {
            "service logs drained and synced"
        } else {
            "service logs drained"
        });
        self.write_own_log();
        if machine {
            self.capture.sync_files();
        }
        self.capture.close_files();
    }

    fn on_signals(&mut self) {
        for (sig, sender) in self.signals.read_all_with_sender() {
            if sig == libc::SIGCHLD {
                self.reap(Some(sender));
            } else {
                self.feed(Event::Signal(sig));
            }
        }
    }

    fn on_timer(&mut self) {
        self.timer.drain();
        self.armed = None;
        let now = monotonic_now();
        if let Some(server) = self.server.as_mut() {
            server.expire(now);
        }
        self.apply_fd_changes();
        if self.capture.next_deadline().is_some_and(|t| t <= now) {
            self.capture.retry(now);
        }
        if self.reexec.as_ref().is_some_and(|r| r.deadline <= now) {
            self.probe_timed_out();
        }
        if self.manager.next_deadline().is_some_and(|t| t <= now) {
            self.feed(Event::Timer);
        }
    }

    fn on_notify(&mut self) {
        let received = self
            .notify
            .as_ref()
            .map(|n| n.recv_all())
            .unwrap_or_default();
        for msg in received {
            let main_pid = msg
                .message
                .main_pid
                .filter(|p| *p > 0)
                .map(|p| self.processes.facts(p));
            self.feed(Event::Notify {
                pid: msg.pid,
                uid: msg.uid,
                session: msg.session,
                message: msg.message,
                main_pid,
            });
        }
    }

    fn on_listener(&mut self) {
        let accepted = match self.server.as_mut() {
            Some(server) => server.accept(monotonic_now()),
            None => Vec::new(),
        };
        self.apply_fd_changes();
        // A client writes its request right after connecting: read it now
        // (a non-blocking read; nothing there is no error) rather than a
        // loop turn later, behind a flooding service's log pipe.
        for conn in accepted {
            let ready = Ready {
                token: Token::Client(conn).encode(),
                readable: true,
                writable: false,
                hangup: false,
            };
            self.on_client(conn, ready);
        }
    }

    fn on_client(&mut self, conn: ConnId, ready: Ready) {
        if ready.writable {
            if let Some(server) = self.server.as_mut() {
                server.on_writable(conn);
            }
        }
        if ready.readable || ready.hangup {
            let incoming = match self.server.as_mut() {
                Some(server) => server.on_readable(conn, monotonic_now()),
                None => Vec::new(),
            };
            for item in incoming {
                self.on_request(item.client, item.request);
            }
        }
        self.apply_fd_changes();
    }

    /// A watched pidfd (a main process that is not vigil's child) became
    /// readable: the process has exited. One that became vigil's child
    /// (reparented) and is a zombie now is reaped instead, with its status.
    fn on_process_exit(&mut self, pid: i32) {
        if !self.processes.watched_exit_is_final(pid) {
            self.reap(Some(pid));
            return;
        }
        if let Some(fd) = self.processes.forget(pid) {
            let _ = self.poller.delete(fd.as_raw_fd());
        }
        self.feed(Event::ChildExited {
            pid,
            status: ExitStatus::Unknown,
            next_witness: None,
        });
    }

    /// The main process `pid` of a unit ended: what it printed goes into
    /// the log now, stamped with its pid, before the restart can run.
    /// Returns the unit, if `pid` was one's main process.
    fn drain_log_of(&mut self, pid: i32) -> Option<String> {
        let unit = self.manager.unit_of_pid(pid)?.to_string();
        let manager = &self.manager;
        let pid_of = |unit: &str| log_pid(manager, unit);
        let problems = self.capture.drain_unit(&unit, &pid_of, monotonic_now());
        self.report_store(problems.into_iter());
        Some(unit)
    }

    /// Re-read vigil.toml (applying what can change live: admin group,
    /// Ctrl-Alt-Del and SIGTERM actions, shutdown timeout) and the
    /// units directory; returns the event for the manager. A vigil.toml with
    /// any problem is not applied at all on reload: the running settings
    /// stay (at boot there is nothing to keep, so the rest of it applies).
    fn reload(&mut self, client: Option<ClientId>) -> Option<Event> {
        let loaded = load_units(
            &self.opts.units_dir,
            &self.opts.generated,
            &self.opts.instances,
        );
        if loaded.unreadable_dir {
            // Nothing can be said about what is in it: change nothing.
            let why = loaded
                .diagnostics
                .iter()
                .find(|d| d.is_error())
                .map(ToString::to_string)
                .unwrap_or_default();
            let message = format!("reload refused, nothing changed: {why}");
            self.log.error(&message);
            if let Some(client) = client {
                self.send(client, Reply::error(message));
            }
            return None;
        }
        let (config, problems) = crate::config::load_config(&self.opts.config_path);
        let mut settings = None;
        // The manager logs every problem of the reload.
        if problems.is_empty() {
            self.opts.admin_gid = match config.admin_gid() {
                Ok(gid) => gid,
                Err(why) => {
                    self.log.error(&why);
                    None
                }
            };
            if let Some(server) = self.server.as_mut() {
                server.set_admin_gid(self.opts.admin_gid);
            }
            let applied = settings_from_config(&config, self.opts.settings.pid1);
            settings = Some(applied);
            // The configuration in force, as a re-exec hands it on.
            self.opts.settings = Settings {
                self_pid: self.opts.settings.self_pid,
                ..applied
            };
            self.opts.log_limits = config.log_limits;
            self.capture
                .configure(self.opts.admin_gid, config.log_limits);
        }
        let broken = broken_files(&loaded);
        let mut diagnostics = problems;
        diagnostics.extend(loaded.diagnostics);
        Some(Event::Reloaded {
            units: loaded.units,
            diagnostics,
            broken,
            client,
            settings,
        })
    }

    /// Remove the control and notify socket files on the way out, so that
    /// nothing points clients at a vigil that is gone.
    fn remove_sockets(&mut self) {
        if let Some(server) = self.server.as_mut() {
            server.shutdown();
        }
        if let Some(notify) = self.notify.as_ref() {
            let _ = std::fs::remove_file(notify.path());
        }
    }

    /// Reap every exited child and tell the manager, one exit at a time.
    /// `hint` is the child named by the SIGCHLD just read: reaped and handled
    /// first (so its restart does not wait for the sweep, whose waitpid(-1)
    /// walks every child in the kernel), then the sweep catches any whose
    /// SIGCHLD was coalesced, in this same turn.
    fn reap(&mut self, hint: Option<i32>) {
        if let Some(pid) = hint {
            if let Some(status) = reap_pid(pid) {
                self.reaped(pid, status);
                self.log.flush();
            }
        }
        for (pid, status) in reap_all() {
            self.reaped(pid, status);
        }
    }

    /// A child was reaped: drop its handle, find who witnesses its group
    /// now if it was a witness, and tell the manager.
    fn reaped(&mut self, pid: i32, status: ExitStatus) {
        if self
            .reexec
            .as_ref()
            .is_some_and(|r| r.probe.id() == pid as u32)
        {
            self.probe_done(status);
            return;
        }
        if let Some(fd) = self.processes.forget(pid) {
            let _ = self.poller.delete(fd.as_raw_fd());
        }
        let unit = self.drain_log_of(pid);
        let next_witness = self
            .manager
            .witnessed_group(pid)
            .and_then(|pgid| self.processes.next_witness(pgid, pid));
        self.feed(Event::ChildExited {
            pid,
            status,
            next_witness,
        });
        if let Some(unit) = unit.filter(|u| self.manager.down_for_good(u)) {
            // Closed now, while other units are still stopping, rather than
            // all of them after the last one (a stop of 100 units: the exit
            // after "all units stopped" took 2.4-4.0 ms, now 0.5-1.8 ms).
            let manager = &self.manager;
            let pid_of = |unit: &str| log_pid(manager, unit);
            let problems = self.capture.close_pipes(&unit, &pid_of, monotonic_now());
            self.report_store(problems.into_iter());
        }
    }

    fn on_request(&mut self, client: ClientId, request: Request) {
        if let Request::Start { names, .. } | Request::Restart { names, .. } = &request {
            self.load_instances(names);
        }
        match request {
            // The log files are the shell's, not the manager's.
            Request::Logs { names } => {
                let names = names
                    .into_iter()
                    .map(|n| self.manager.canonical(n))
                    .collect();
                let reply = self.log_sources(names);
                self.send(client, reply);
            }
            request => self.feed(Event::Request { client, request }),
        }
    }

    /// A start of `getty@tty2` that no unit file names yet: when the
    /// template `getty@.toml` exists, the instance is made (a reload with
    /// it) before the request is handled.
    fn load_instances(&mut self, names: &[String]) {
        let new: Vec<String> = names
            .iter()
            .filter(|n| self.manager.service(n).is_none())
            .filter(|n| {
                crate::unit::template::split_instance(n)
                    .is_some_and(|(t, _)| self.opts.units_dir.join(format!("{t}.toml")).is_file())
            })
            .cloned()
            .collect();
        if new.is_empty() {
            return;
        }
        self.log.info(&format!(
            "instantiating {} from its template",
            new.join(", ")
        ));
        self.opts.instances.extend(new);
        if let Some(event) = self.reload(None) {
            self.feed(event);
        }
    }

    /// Where each named log is, and what of it waits in memory.
    fn log_sources(&mut self, names: Vec<String>) -> Reply {
        // A name becomes a path: only unit names (and vigil's own log).
        if let Some((name, why)) = names
            .iter()
            .filter(|n| n.as_str() != crate::logs::OWN_LOG)
            .find_map(|n| crate::unit::name::check_unit_name(n).err().map(|e| (n, e)))
        {
            return Reply::error(format!("logs: {name:?} is not a unit name: {why}"));
        }
        // vigil.log gets this turn's records first, so a reader sees them.
        self.write_own_log();
        let store = self.capture.store();
        let units = names
            .into_iter()
            .map(|name| LogSource {
                file: store.path_of(&name),
                known: name == crate::logs::OWN_LOG || self.manager.service(&name).is_some(),
                waiting: String::from_utf8_lossy(&store.waiting(&name)).into_owned(),
                name,
            })
            .collect();
        Reply::ok(ReplyBody::Logs {
            dir: store.dir().to_path_buf(),
            units,
        })
    }

    fn send(&mut self, client: ClientId, reply: Reply) {
        let line = crate::control::server::encode(&reply);
        drop(reply);
        let large = line.len() >= TRIM_AFTER_REPLY_BYTES;
        if let Some(server) = self.server.as_mut() {
            server.send_encoded(client, line);
        }
        if large {
            // A `list` or `status` of many units: what building it left
            // behind, and the reply itself once the socket took it, goes
            // back to the kernel.
            heap::release_free_heap();
        }
        self.apply_fd_changes();
    }

    /// Mirror the server's connection changes into the epoll set.
    fn apply_fd_changes(&mut self) {
        let Some(server) = self.server.as_mut() else {
            return;
        };
        for change in server.take_fd_changes() {
            let result = match change {
                FdChange::Add {
                    client,
                    fd,
                    interest,
                } => self
                    .poller
                    .add(fd, Token::Client(client).encode(), interest),
                FdChange::Modify {
                    client,
                    fd,
                    interest,
                } => self
                    .poller
                    .modify(fd, Token::Client(client).encode(), interest),
                FdChange::Remove { .. } => Ok(()),
            };
            if let Err(e) = result {
                self.log.warn(&format!("control client: {e}"));
            }
        }
    }

    /// `daemon-reexec`: first prove the binary runs (`--check-reexec`, in
    /// the background: PID 1 does not wait for it), then exec it.
    fn start_reexec(&mut self, client: ClientId) {
        if self.reexec.is_some() {
            self.send(
                client,
                Reply::error("daemon-reexec: one is already in progress"),
            );
            return;
        }
        let requested_at = monotonic_now();
        let probe = std::process::Command::new(&self.binary)
            .arg(crate::runtime::reexec::CHECK_FLAG)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn();
        match probe {
            Ok(probe) => {
                self.log.info(&format!(
                    "daemon-reexec: checking {}",
                    self.binary.display()
                ));
                self.reexec = Some(PendingReexec {
                    client,
                    probe,
                    deadline: requested_at + crate::runtime::reexec::PROBE_TIMEOUT,
                    requested_at,
                });
            }
            Err(e) => {
                self.reexec_failed(client, format!("cannot run {}: {e}", self.binary.display()))
            }
        }
    }

    /// The re-exec is off: the old image goes on, and says why.
    fn reexec_failed(&mut self, client: ClientId, why: String) {
        let message = format!("daemon-reexec failed, vigil goes on unchanged: {why}");
        self.log.error(&message);
        self.send(client, Reply::error(message));
    }

    /// The probe ended: exec if it answered as a vigil that can take over.
    fn probe_done(&mut self, status: ExitStatus) {
        let Some(mut pending) = self.reexec.take() else {
            return;
        };
        let mut out = Vec::new();
        if let Some(mut stdout) = pending.probe.stdout.take() {
            // Never block on it: a grandchild could hold the pipe open.
            // SAFETY: fcntl on the pipe we own.
            unsafe { libc::fcntl(stdout.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
            let _ = std::io::Read::read_to_end(&mut stdout, &mut out);
        }
        let exited_ok = status == ExitStatus::Exited(0);
        let text = crate::exit::describe_exit(&status);
        match crate::runtime::reexec::judge_probe(exited_ok, &text, &out) {
            Ok(format) => {
                if format != crate::runtime::reexec::HANDOVER_VERSION {
                    self.log.warn(&format!(
                        "daemon-reexec: {} reads state format {format}, this vigil writes {}: it will load the units again and adopt the running services",
                        self.binary.display(),
                        crate::runtime::reexec::HANDOVER_VERSION
                    ));
                }
                self.exec_new_image(pending.client, pending.requested_at);
            }
            Err(why) => {
                let why = format!("{}: {why}", self.binary.display());
                self.reexec_failed(pending.client, why);
            }
        }
    }

    /// The probe did not answer in time: killed (it is vigil's unreaped
    /// child, so its pid is still its own), and the re-exec is off.
    fn probe_timed_out(&mut self) {
        let Some(mut pending) = self.reexec.take() else {
            return;
        };
        let _ = pending.probe.kill();
        let why = format!(
            "{} {} did not answer within {} s",
            self.binary.display(),
            crate::runtime::reexec::CHECK_FLAG,
            crate::runtime::reexec::PROBE_TIMEOUT.as_secs()
        );
        self.reexec_failed(pending.client, why);
    }

    /// Hand everything to the new image and exec it. Returns only if the
    /// exec failed; then everything is as it was, and the client hears why.
    fn exec_new_image(&mut self, client: ClientId, requested_at: Duration) {
        use crate::runtime::fds::set_inherited;
        use crate::runtime::reexec::{encode, exec, resume_argv, seal, Full, Header, MAGIC};
        let at = now();
        let state = match self.manager.handover(at) {
            Ok(state) => state,
            Err(why) => return self.reexec_failed(client, why.to_string()),
        };
        self.log.info(&format!(
            "daemon-reexec: executing {} ({} units)",
            self.binary.display(),
            self.manager.unit_count(),
        ));
        // vigil.log gets every record of vigil's own so far, this one too,
        // before the capture's state is taken: nothing of it is left behind.
        self.write_own_log();
        let (pipes, capture_state) = self.capture.handover(at.mono);
        let processes = self.processes.handover();
        let client_fd = self.server.as_ref().and_then(|s| s.connection_fd(client));
        let header = Header {
            magic: MAGIC.to_string(),
            version: crate::runtime::reexec::HANDOVER_VERSION,
            vigil_version: env!("CARGO_PKG_VERSION").to_string(),
            requested_at,
            client: client_fd,
            opts: self.opts.clone(),
            listener: self.server.as_ref().map(|s| s.listener_fd()),
            notify: self.notify.as_ref().map(|n| n.as_raw_fd()),
            lock: self.instance_lock.as_ref().map(|l| l.raw_fd()),
            service_nofile: self.spawn_ctx.service_nofile,
            log_level: self.log.level(),
            survivors: self.manager.survivors(),
            pipes,
            processes,
        };
        let full = Full {
            manager: state,
            capture: capture_state,
            generated: self.opts.generated.clone(),
        };
        let bytes = match encode(&header, &full) {
            Ok(bytes) => bytes,
            Err(why) => return self.reexec_failed(client, why),
        };
        drop(full);
        let memfd = match seal(&bytes) {
            Ok(fd) => fd,
            Err(e) => return self.reexec_failed(client, format!("the state's memfd: {e}")),
        };
        drop(bytes);
        let mut keep: Vec<RawFd> = vec![memfd.as_raw_fd()];
        keep.extend(header.client);
        keep.extend(header.listener);
        keep.extend(header.notify);
        keep.extend(header.lock);
        for p in &header.pipes {
            for (r, w) in [p.out, p.err].into_iter().flatten() {
                keep.extend([r, w]);
            }
        }
        keep.extend(header.processes.iter().map(|h| h.fd));
        let mut marked = Vec::with_capacity(keep.len());
        for fd in keep {
            match set_inherited(fd, true) {
                Ok(()) => marked.push(fd),
                Err(e) => {
                    for fd in marked {
                        let _ = set_inherited(fd, false);
                    }
                    return self.reexec_failed(client, format!("keeping descriptor {fd}: {e}"));
                }
            }
        }
        // Every other client is told, and closed: the next image does not
        // know their connections (their jobs go on).
        if let Some(server) = self.server.as_mut() {
            server.close_for_reexec(
                client,
                "vigil is re-executing (daemon-reexec): this request's jobs go on; ask again for their outcome",
            );
        }
        self.apply_fd_changes();
        let argv = resume_argv(&self.argv, memfd.as_raw_fd());
        // What the console takes now; a slow console never holds PID 1 here
        // (the rest of its queue is dropped with the image; vigil.log has
        // every line).
        self.log.flush();
        let err = exec(&self.binary, &argv);
        // Still here: the exec failed, and this image goes on.
        for fd in marked {
            let _ = set_inherited(fd, false);
        }
        drop(memfd);
        self.reexec_failed(
            client,
            format!("executing {}: {err}", self.binary.display()),
        );
    }

    /// Arm the timerfd for the earliest of the manager's and the server's
    /// deadlines; disarm when nothing is due (vigil then sleeps indefinitely).
    fn arm_timer(&mut self) {
        let manager = self.manager.next_deadline();
        let server = self.server.as_ref().and_then(|s| s.next_deadline());
        let logs = self.capture.next_deadline();
        let probe = self.reexec.as_ref().map(|r| r.deadline);
        let next = [manager, server, logs, probe].into_iter().flatten().min();
        if next == self.armed {
            return;
        }
        let result = match next {
            Some(at) => self.timer.arm_at(at),
            None => self.timer.disarm(),
        };
        match result {
            Ok(()) => self.armed = next,
            Err(e) => self.log.error(&format!("timerfd: {e}")),
        }
    }
}
