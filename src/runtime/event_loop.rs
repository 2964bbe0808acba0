//! The one event loop: epoll over signalfd, timerfd, the notify socket and
//! the control socket. It turns readiness into `manager::Event`s and carries
//! out the manager's `Action`s. Single-threaded; it sleeps in epoll_wait
//! with no timeout unless a deadline is due.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::CtrlAltDel;
use crate::control::protocol::{Reply, ReplyBody, Request};
use crate::control::server::ConnId;
use crate::control::server::{ControlServer, FdChange};
use crate::diagnostic::Diagnostic;
use crate::log::Logger;
use crate::manager::{Action, ClientId, Event, Manager, Now, PidFileError};
use crate::power::PowerAction;
use crate::runtime::heap;
use crate::runtime::notify::NotifySocket;
use crate::runtime::pidfile::{check_pid_file_owner, may_adopt, read_pid_file};
use crate::runtime::poller::{Interest, Poller, Ready};
use crate::runtime::process::send_signal;
use crate::runtime::reap::{reap_all, reap_pid};
use crate::runtime::signals::SignalFd;
use crate::runtime::spawn::{spawn, SpawnContext};
use crate::runtime::timer::{monotonic_now, Timer};
use crate::unit::scalar::format_duration;
use crate::unit::{self, UnitDef};

const TOKEN_SIGNALS: u64 = 0;
const TOKEN_TIMER: u64 = 1;
const TOKEN_NOTIFY: u64 = 2;
const TOKEN_LISTENER: u64 = 3;
/// Client tokens are `TOKEN_CLIENT_BASE + client id`.
const TOKEN_CLIENT_BASE: u64 = 1 << 32;

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
#[derive(Debug, Clone)]
pub struct LoopOptions {
    pub units_dir: PathBuf,
    /// vigil.toml: re-read on reload; the settings that can apply live do.
    pub config_path: PathBuf,
    pub socket_path: PathBuf,
    pub notify_path: PathBuf,
    pub target: String,
    pub pid1: bool,
    pub admin_gid: Option<u32>,
    /// Environment every service starts with.
    pub base_env: Vec<(String, String)>,
    /// Units generated from configuration (gettys, udev); kept across reloads.
    pub generated: Vec<UnitDef>,
    /// What SIGTERM to PID 1 does.
    pub sigterm_action: PowerAction,
    /// What Ctrl-Alt-Del (SIGINT to PID 1) does.
    pub ctrl_alt_del: CtrlAltDel,
    /// The whole stop phase may take this long; then vigil goes on with the
    /// power action regardless, so one stuck unit never hangs the machine.
    pub shutdown_timeout: Duration,
}

/// Why the loop could not even start.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error("setting up the event loop: {0}")]
    Setup(String),
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
    spawn_ctx: SpawnContext,
    armed: Option<Duration>,
    power: Option<PowerAction>,
    /// When the stop phase of a shutdown must end.
    shutdown_deadline: Option<Duration>,
    /// Whether the heap was trimmed after the boot target finished starting.
    trimmed: bool,
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

/// Load the units directory plus generated units. Returns the units, the
/// diagnostics as text, and the names of files that exist but did not load.
pub fn load_units(
    dir: &Path,
    generated: &[UnitDef],
) -> (BTreeMap<String, UnitDef>, Vec<Diagnostic>, Vec<String>) {
    let result = unit::load_dir_with(dir, generated);
    let units = result.units;
    let diagnostics = result.diagnostics;
    let mut broken = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                if !units.contains_key(stem) {
                    broken.push(stem.to_string());
                }
            }
        }
    }
    broken.sort();
    (units, diagnostics, broken)
}

/// Run until the manager asks for a power action; returns it.
pub fn run(opts: LoopOptions, log: &mut Logger) -> Result<PowerAction, LoopError> {
    let setup = |what: &str, e: String| LoopError::Setup(format!("{what}: {e}"));
    let signals = SignalFd::new(&HANDLED_SIGNALS).map_err(|e| setup("signalfd", e.to_string()))?;
    let timer = Timer::new().map_err(|e| setup("timerfd", e.to_string()))?;
    let poller = Poller::new().map_err(|e| setup("epoll", e.to_string()))?;
    poller
        .add(signals.as_raw_fd(), TOKEN_SIGNALS, Interest::READABLE)
        .map_err(|e| setup("epoll", e.to_string()))?;
    poller
        .add(timer.as_raw_fd(), TOKEN_TIMER, Interest::READABLE)
        .map_err(|e| setup("epoll", e.to_string()))?;

    // The notify and control sockets are not fatal: vigil supervises without them.
    if let Some(dir) = opts.notify_path.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            log.error(&format!("creating {}: {e}", dir.display()));
        }
    }
    let notify = match NotifySocket::bind(&opts.notify_path) {
        Ok(sock) => {
            if let Err(e) = poller.add(sock.as_raw_fd(), TOKEN_NOTIFY, Interest::READABLE) {
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
            if let Err(e) = poller.add(server.listener_fd(), TOKEN_LISTENER, Interest::READABLE) {
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

    let (units, diagnostics, _) = load_units(&opts.units_dir, &opts.generated);
    for d in &diagnostics {
        log.log_untagged(d.level(), &d.to_string());
    }
    drop(diagnostics);
    log.info(&format!(
        "loaded {} units from {}",
        units.len(),
        opts.units_dir.display()
    ));
    let units = match heap::compact_units(units) {
        Ok(units) => units,
        Err(e) => {
            log.error(&format!("{e}; loading the units again"));
            load_units(&opts.units_dir, &opts.generated).0
        }
    };
    let manager = Manager::new(units, &opts.target, opts.pid1, now());
    let spawn_ctx = SpawnContext {
        base_env: opts.base_env.clone(),
        notify_socket: notify.as_ref().map(|n| n.path().to_path_buf()),
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
        spawn_ctx,
        armed: None,
        power: None,
        shutdown_deadline: None,
        trimmed: false,
    };
    shell.feed(Event::Boot);
    // From here on, log lines are written once per loop turn. (Not during
    // the boot feed: it spawns the whole target, and its lines should come
    // out as it goes.)
    shell.log.set_batching(true);
    // Children may have exited before the signalfd existed (a container's
    // leftovers, or boot helpers): reap them now.
    shell.reap(None);
    loop {
        if let Some(action) = shell.power {
            shell.remove_sockets();
            shell.log.set_batching(false);
            return Ok(action);
        }
        shell.arm_timer();
        shell.log.flush();
        let ready = match shell.poller.wait(None) {
            Ok(r) => r,
            Err(e) => {
                shell.log.error(&format!("epoll_wait: {e}"));
                continue;
            }
        };
        for r in ready {
            shell.dispatch(r);
        }
    }
}

impl Shell<'_> {
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
        if reloaded {
            // A reload re-reads every unit file and rebuilds the graph: give
            // that peak back (1000 units left 2.6 MiB behind).
            heap::release_free_heap();
        }
        if self.shutdown_deadline.is_none() && self.manager.shutting_down() {
            self.shutdown_deadline =
                Some(monotonic_now().saturating_add(self.opts.shutdown_timeout));
        }
        if !self.trimmed && self.manager.system_state() != "starting" {
            // Loading and the boot burst leave freed heap behind; give it back
            // once, so a long-running PID 1 stays small.
            self.trimmed = true;
            heap::release_free_heap();
        }
    }

    fn execute(&mut self, action: Action) -> Option<Event> {
        match action {
            Action::Spawn { unit, def } => {
                let result = spawn(&def, &self.spawn_ctx);
                Some(Event::Spawned { unit, result })
            }
            Action::Kill { pid, signal, group } => {
                // send_signal refuses pid <= 1, so a bogus pid can never become kill(-1).
                if let Err(e) = send_signal(pid, signal, group) {
                    self.log.warn(&e.to_string());
                }
                None
            }
            Action::ReadPidFile { unit, path } => Some(Event::PidFile {
                unit,
                result: match read_pid_file(&path) {
                    Ok(file) => check_pid_file_owner(&path, file).map_err(PidFileError::Refused),
                    Err(why) => Err(PidFileError::NotReady(why)),
                },
            }),
            Action::Reply { client, reply } => {
                self.send(client, reply);
                None
            }
            Action::Reload { client } => Some(self.reload(client)),
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
        }
    }

    fn dispatch(&mut self, ready: Ready) {
        match ready.token {
            TOKEN_SIGNALS => {
                for (sig, sender) in self.signals.read_all_with_sender() {
                    if sig == libc::SIGCHLD {
                        self.reap(Some(sender));
                    } else {
                        self.on_signal(sig);
                    }
                }
            }
            TOKEN_TIMER => {
                self.timer.drain();
                self.armed = None;
                let now = monotonic_now();
                if let Some(server) = self.server.as_mut() {
                    server.expire(now);
                }
                self.apply_fd_changes();
                if self.manager.next_deadline().is_some_and(|t| t <= now) {
                    self.feed(Event::Timer);
                }
                if self.power.is_none() && self.shutdown_deadline.is_some_and(|t| t <= now) {
                    let action = self
                        .manager
                        .shutdown_action()
                        .unwrap_or(PowerAction::Poweroff);
                    self.log.error(&format!(
                        "shutdown: units still stopping after {}; going on without them",
                        format_duration(self.opts.shutdown_timeout)
                    ));
                    // Whatever is left goes now, so that nothing outlives vigil
                    // in supervisor mode (PID 1's final steps kill all anyway).
                    for pgid in self.manager.process_groups() {
                        let _ = send_signal(pgid, libc::SIGKILL, true);
                    }
                    self.power = Some(action);
                }
            }
            TOKEN_NOTIFY => {
                let received = self
                    .notify
                    .as_ref()
                    .map(|n| n.recv_all())
                    .unwrap_or_default();
                for mut msg in received {
                    if let Some(main) = msg.message.main_pid {
                        if !may_adopt(msg.uid, main) {
                            self.log.warn(&format!(
                                "ignoring MAINPID={main} from pid {} (uid {:?}): not a process of that user",
                                msg.pid, msg.uid
                            ));
                            msg.message.main_pid = None;
                        }
                    }
                    self.feed(Event::Notify {
                        pid: msg.pid,
                        session: msg.session,
                        message: msg.message,
                    });
                }
            }
            TOKEN_LISTENER => self.accept(),
            token if token >= TOKEN_CLIENT_BASE => {
                let client = ConnId(token - TOKEN_CLIENT_BASE);
                if ready.writable {
                    if let Some(server) = self.server.as_mut() {
                        server.on_writable(client);
                    }
                }
                if ready.readable || ready.hangup {
                    self.client_readable(client);
                }
                self.apply_fd_changes();
            }
            _ => {}
        }
    }

    fn on_signal(&mut self, sig: i32) {
        match sig {
            libc::SIGTERM => {
                let action = if self.opts.pid1 {
                    self.opts.sigterm_action
                } else {
                    PowerAction::Exit
                };
                self.log.info("SIGTERM received");
                self.feed(Event::Shutdown {
                    action,
                    force: false,
                });
            }
            libc::SIGINT => {
                if !self.opts.pid1 {
                    self.log.info("SIGINT received");
                    self.feed(Event::Shutdown {
                        action: PowerAction::Exit,
                        force: false,
                    });
                    return;
                }
                let action = match self.opts.ctrl_alt_del {
                    CtrlAltDel::Reboot => PowerAction::Reboot,
                    CtrlAltDel::Poweroff => PowerAction::Poweroff,
                    CtrlAltDel::Ignore => {
                        self.log
                            .info("Ctrl-Alt-Del ignored (ctrl_alt_del = \"ignore\")");
                        return;
                    }
                };
                self.log.info("Ctrl-Alt-Del pressed");
                self.feed(Event::Shutdown {
                    action,
                    force: false,
                });
            }
            libc::SIGPWR => {
                let action = if self.opts.pid1 {
                    PowerAction::Poweroff
                } else {
                    PowerAction::Exit
                };
                self.log.info("SIGPWR received: powering off");
                self.feed(Event::Shutdown {
                    action,
                    force: false,
                });
            }
            libc::SIGHUP | libc::SIGUSR1 => {
                self.log.info("reloading configuration on signal");
                let event = self.reload(None);
                self.feed(event);
            }
            libc::SIGUSR2 => self.dump_state(),
            other => self.log.debug(&format!("ignoring signal {other}")),
        }
    }

    /// Re-read vigil.toml (applying what can change live: admin group,
    /// Ctrl-Alt-Del and SIGTERM actions, shutdown timeout) and the
    /// units directory; returns the event for the manager. A vigil.toml with
    /// any problem is not applied at all on reload: the running settings
    /// stay (at boot there is nothing to keep, so the rest of it applies).
    fn reload(&mut self, client: Option<ClientId>) -> Event {
        let (config, problems) = crate::config::load_config(&self.opts.config_path);
        // The manager logs every problem of the reload.
        if problems.is_empty() {
            self.opts.admin_gid = crate::pid1::admin_gid(&config, self.log);
            if let Some(server) = self.server.as_mut() {
                server.set_admin_gid(self.opts.admin_gid);
            }
            self.opts.ctrl_alt_del = config.ctrl_alt_del;
            self.opts.shutdown_timeout = config.shutdown_timeout;
            if self.opts.pid1 {
                self.opts.sigterm_action = match config.sigterm {
                    crate::config::SigtermAction::Poweroff => PowerAction::Poweroff,
                    crate::config::SigtermAction::Reboot => PowerAction::Reboot,
                };
            }
        }
        let (units, unit_diagnostics, broken) =
            load_units(&self.opts.units_dir, &self.opts.generated);
        let mut diagnostics = problems;
        diagnostics.extend(unit_diagnostics);
        Event::Reloaded {
            units,
            diagnostics,
            broken,
            client,
        }
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
                self.feed(Event::ChildExited { pid, status });
                self.log.flush();
            }
        }
        for (pid, status) in reap_all() {
            self.feed(Event::ChildExited { pid, status });
        }
    }

    fn dump_state(&mut self) {
        let lines = self.manager.dump();
        self.log.info(&format!(
            "state dump: system {}",
            self.manager.system_state()
        ));
        for line in lines {
            self.log.info(&line);
        }
        let clients = self.server.as_ref().map(|s| s.client_count()).unwrap_or(0);
        self.log.info(&format!(
            "  control clients: {clients}; timer armed at {:?}",
            self.armed
        ));
    }

    fn accept(&mut self) {
        if let Some(server) = self.server.as_mut() {
            server.accept();
        }
        self.apply_fd_changes();
    }

    fn client_readable(&mut self, client: ConnId) {
        let incoming = match self.server.as_mut() {
            Some(server) => server.on_readable(client, monotonic_now()),
            None => return,
        };
        for item in incoming {
            self.on_request(item.client, item.request);
        }
    }

    fn on_request(&mut self, client: ClientId, request: Request) {
        match request {
            Request::Check { paths } => {
                let result = if paths.is_empty() {
                    unit::load_dir(&self.opts.units_dir)
                } else {
                    unit::load_paths(&paths)
                };
                let diagnostics = result.diagnostics.iter().map(|d| d.to_string()).collect();
                self.send(client, Reply::ok(ReplyBody::Check { diagnostics }));
            }
            request => self.feed(Event::Request { client, request }),
        }
    }

    fn send(&mut self, client: ClientId, reply: Reply) {
        let line = crate::control::server::encode(&reply);
        drop(reply);
        if line.len() >= TRIM_AFTER_REPLY_BYTES {
            // A `list` or `status` of many units: what building it left
            // behind goes back to the kernel before the client sees the reply.
            heap::release_free_heap();
        }
        if let Some(server) = self.server.as_mut() {
            server.send_encoded(client, line);
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
                } => self.poller.add(fd, TOKEN_CLIENT_BASE + client.0, interest),
                FdChange::Modify {
                    client,
                    fd,
                    interest,
                } => self
                    .poller
                    .modify(fd, TOKEN_CLIENT_BASE + client.0, interest),
                FdChange::Remove { .. } => Ok(()),
            };
            if let Err(e) = result {
                self.log.warn(&format!("control client: {e}"));
            }
        }
    }

    /// Arm the timerfd for the earliest of the manager's and the server's
    /// deadlines; disarm when nothing is due (vigil then sleeps indefinitely).
    fn arm_timer(&mut self) {
        let manager = self.manager.next_deadline();
        let server = self.server.as_ref().and_then(|s| s.next_deadline());
        let next = [manager, server, self.shutdown_deadline]
            .into_iter()
            .flatten()
            .min();
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
