//! vigilctl: control a running vigil, lint unit files, power the machine off.
//!
//! Also installed as `poweroff`, `reboot`, `halt` and `shutdown` (symlinks);
//! the name it is invoked under picks the verb. See docs/vigilctl.md.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use clap::{ArgAction, ArgGroup, Args, Parser, Subcommand};
use vigil::control::client::{self, Client, ClientError};
use vigil::control::protocol::{JobResult, LogSource, Reply, ReplyBody, Request, UnitStatus};
use vigil::control::render::{self, TimeCtx};
use vigil::unit::enable::{self, EnableError};
use vigil::unit::{self, Severity};

/// Exit statuses, following systemctl where it has one.
mod code {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_ACTIVE: u8 = 3;
    pub const NO_UNIT_OR_DENIED: u8 = 4;
}

const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success
  1  failure: a job failed, vigil answered with an error, `check` or `reload`
     found problems, or vigil is not running (enable/disable still exit 0 then)
  2  usage error, including a shutdown time other than `now`
  3  status NAME...: a named unit is not active (inactive, starting, stopping,
     failed); running and exited (remain_after_exit) units are active
  4  status NAME...: no such unit (wins over 3); or permission denied

Environment:
  VIGIL_SOCKET  control socket used when --socket is not given
                (default /run/vigil/control)

Also callable as poweroff, reboot, halt and shutdown (symlinks to vigilctl).";

const POWER_HELP: &str = "\
Exit status: 0 accepted, 1 failure or vigil not running, 2 usage error,
4 permission denied. VIGIL_SOCKET names the control socket.";

/// Connection options shared by every way of invoking vigilctl.
#[derive(Args, Debug)]
struct Conn {
    /// Control socket of vigil [env: VIGIL_SOCKET] [default: /run/vigil/control]
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Print vigil's reply objects as JSON, one per line, for scripts
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Parser, Debug)]
#[command(
    name = "vigilctl",
    version,
    about = "Control the vigil service manager, lint unit files, power the machine off",
    after_help = EXIT_STATUS_HELP
)]
struct Cli {
    #[command(flatten)]
    conn: Conn,
    /// Units directory used by enable, disable and check
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = vigil::config::UNITS_DIR
    )]
    units: PathBuf,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// List every unit with its state and main PID
    ///
    /// Failed units show why they failed instead of their description.
    List {
        /// Only the failed units
        #[arg(long)]
        failed: bool,
    },
    /// Print a shell completion script: vigilctl completions bash > /usr/share/bash-completion/completions/vigilctl
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): vigilctl manpage > vigilctl.1
    #[command(hide = true)]
    Manpage,
    /// Show units with their exit history, or the whole system
    ///
    /// With no NAME: the system state (running/degraded), target, uptime and
    /// failed units. Exits 3 if a named unit is not active, 4 if unknown.
    Status {
        /// Units to show
        names: Vec<String>,
    },
    /// Show what units printed (their captured stdout and stderr)
    ///
    /// Lines of several units are merged by time. Reads the files in the
    /// log directory itself: root and members of admin_group may.
    Logs {
        #[arg(required = true)]
        names: Vec<String>,
        #[command(flatten)]
        view: LogArgs,
        /// Only lines at or after TIME: UTC "2026-12-01 12:00", or a time ago: "10m", "2h ago"
        #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
        since: Option<String>,
    },
    /// Show vigil's own log (every boot step and unit state change)
    Log {
        #[command(flatten)]
        view: LogArgs,
    },
    /// Where boot time went (like systemd-analyze)
    ///
    /// With no subcommand: kernel, early boot and units, and when the
    /// target came up. Times are recorded by vigil as it boots.
    Analyze {
        #[command(subcommand)]
        what: Option<AnalyzeVerb>,
    },
    /// Start units (and what they require), waiting until they are up
    Start(JobArgs),
    /// Stop units (and what requires them), waiting until they are down
    Stop(JobArgs),
    /// Stop then start units
    Restart(JobArgs),
    /// Re-read the units directory, or ask units to reload (NAME...)
    ///
    /// With no NAME: new wanted units start, removed ones stop, changed ones
    /// apply on their next start; a broken file keeps its old definition
    /// (exit 1). With NAMEs: each running unit gets its reload_signal.
    Reload {
        /// Units to reload (their reload_signal to the main process)
        names: Vec<String>,
    },
    /// Re-read the units directory (what `reload` with no NAME does)
    DaemonReload,
    /// Exit 0 if every NAME is active (running, or exited with
    /// remain_after_exit), 3 if not; prints each one's state
    IsActive {
        #[arg(required = true)]
        names: Vec<String>,
        /// Print nothing, only the exit status
        #[arg(long, short)]
        quiet: bool,
    },
    /// Exit 0 if any NAME is failed, 1 if none; prints each one's state
    IsFailed {
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(long, short)]
        quiet: bool,
    },
    /// Exit 0 if every NAME is enabled (pulled in by a target), 1 if not;
    /// prints enabled, disabled or masked. Reads the units directory.
    IsEnabled {
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print the unit files, each after a comment with its path
    Cat {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Send a signal to the units' processes (main process and process
    /// groups); their state does not change
    Kill {
        #[arg(required = true)]
        names: Vec<String>,
        /// Signal name or number
        #[arg(long, short, default_value = "SIGTERM", value_name = "SIG")]
        signal: String,
    },
    /// Failed units back to inactive, their start limit forgotten (all
    /// failed units when no NAME is given)
    ResetFailed { names: Vec<String> },
    /// Re-execute vigil's binary in place, every service kept running
    ///
    /// For an upgrade without a reboot: vigil first runs the binary it was
    /// started from with --check-reexec, then execs it with its whole state
    /// (units, pids, exit histories, timers, log pipes). Answers once the
    /// new image serves; if the binary cannot run, the old one goes on.
    DaemonReexec,
    /// Make a target pull units in at boot, then reload vigil
    ///
    /// Edits the units directory (--units), so it works while vigil is not
    /// running; then asks a running vigil to reload.
    Enable {
        #[arg(required = true)]
        names: Vec<String>,
        /// Target to attach to [default: the unit's wanted_by, else "default"]
        #[arg(long, value_name = "T")]
        target: Option<String>,
        /// Also start the units now
        #[arg(long)]
        now: bool,
    },
    /// Stop a target pulling units in at boot, then reload vigil
    ///
    /// Undoes enable and the units' own wanted_by; works while vigil is not
    /// running.
    Disable {
        #[arg(required = true)]
        names: Vec<String>,
        /// Also stop the units now
        #[arg(long)]
        now: bool,
    },
    /// Make units impossible to start, by a request or a target, then
    /// reload vigil (a link in UNITS/masked/; the unit file stays)
    Mask {
        #[arg(required = true)]
        names: Vec<String>,
        /// Also stop the units now
        #[arg(long)]
        now: bool,
    },
    /// Undo mask, then reload vigil
    Unmask {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Translate systemd service files into vigil units
    ///
    /// Each FILE.service (with its drop-ins in FILE.service.d/*.conf)
    /// becomes OUT/NAME.toml; what does not carry over is listed as
    /// FILE:LINE: Directive: why. Well-known systemd targets map to vigil
    /// targets (multi-user.target: default; network.target: network, whose
    /// unit is written too) or are dropped with a note.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where the units go [default: the units directory, --units]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print the units instead of writing them
        #[arg(long)]
        dry_run: bool,
    },
    /// Lint unit files offline (default: the units directory)
    ///
    /// Prints every problem as FILE:LINE:COL: error: MESSAGE and exits 1 if
    /// there is any. Does not need vigil.
    Check {
        /// Unit files to check
        paths: Vec<PathBuf>,
    },
    /// Stop every service in order and power the machine off
    Poweroff(PowerArgs),
    /// Stop every service in order and reboot
    Reboot(PowerArgs),
    /// Stop every service in order and halt
    Halt(PowerArgs),
}

#[derive(Args, Debug)]
struct JobArgs {
    #[arg(required = true)]
    names: Vec<String>,
    /// Return once the jobs are queued instead of waiting for them to finish
    #[arg(long)]
    no_block: bool,
}

#[derive(Subcommand, Debug)]
enum AnalyzeVerb {
    /// Units by the time they took from start to up, slowest first
    Blame,
    /// The chain of `after` dependencies that decided when UNIT came up
    CriticalChain {
        /// The unit [default: the boot target]
        unit: Option<String>,
    },
    /// An SVG boot chart on stdout: `vigilctl analyze plot > boot.svg`
    Plot,
}

#[derive(Args, Debug)]
struct LogArgs {
    /// Only the last N lines [default: all; 10 with -f]
    #[arg(short = 'n', long, value_name = "N")]
    lines: Option<usize>,
    /// Keep printing new lines as they are written (across rotations and restarts)
    #[arg(short, long)]
    follow: bool,
}

#[derive(Args, Debug)]
struct PowerArgs {
    /// Skip stopping services (still syncs and unmounts)
    #[arg(short, long)]
    force: bool,
}

/// `poweroff`, `reboot`, `halt` invoked through their symlinks.
#[derive(Parser, Debug)]
#[command(
    about = "Ask vigil to stop every service and power off, reboot or halt",
    after_help = POWER_HELP
)]
struct PowerLink {
    #[command(flatten)]
    conn: Conn,
    #[command(flatten)]
    power: PowerArgs,
}

/// `shutdown` invoked through its symlink; only immediate shutdowns exist.
#[derive(Parser, Debug)]
#[command(
    name = "shutdown",
    about = "Power off, reboot or halt the machine through vigil",
    disable_help_flag = true,
    group(ArgGroup::new("action").multiple(false)),
    after_help = POWER_HELP
)]
struct ShutdownCli {
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Power off (the default)
    #[arg(short = 'h', group = "action")]
    h: bool,
    /// Power off
    #[arg(short = 'P', long = "poweroff", group = "action")]
    poweroff: bool,
    /// Reboot
    #[arg(short = 'r', long = "reboot", group = "action")]
    reboot: bool,
    /// Halt
    #[arg(short = 'H', long = "halt", group = "action")]
    halt: bool,
    #[command(flatten)]
    power: PowerArgs,
    #[command(flatten)]
    conn: Conn,
    /// When: only `now` (or `+0`) is supported
    time: Option<String>,
    /// Wall message (accepted and ignored: vigil does not broadcast)
    wall: Vec<String>,
}

/// An error that decides its own exit status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Exit {
    code: u8,
    message: String,
}

fn exit_err(code: u8, message: impl Into<String>) -> anyhow::Error {
    Exit {
        code,
        message: message.into(),
    }
    .into()
}

/// What to do once the invocation name and arguments are parsed.
struct Invocation {
    conn: Conn,
    units: PathBuf,
    verb: Verb,
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let prog = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("vigilctl")
        .to_string();
    let outcome = parse(&prog, args).and_then(|inv| run(&inv));
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("{prog}: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

/// Dispatches on the name vigilctl was invoked under (argv[0]).
fn parse(prog: &str, args: Vec<OsString>) -> anyhow::Result<Invocation> {
    let units = PathBuf::from(vigil::config::UNITS_DIR);
    match prog {
        "poweroff" | "reboot" | "halt" => {
            let link = PowerLink::parse_from(args);
            let verb = match prog {
                "reboot" => Verb::Reboot(link.power),
                "halt" => Verb::Halt(link.power),
                _ => Verb::Poweroff(link.power),
            };
            Ok(Invocation {
                conn: link.conn,
                units,
                verb,
            })
        }
        "shutdown" => {
            let cli = ShutdownCli::parse_from(args);
            match cli.time.as_deref() {
                Some("now" | "+0") => {}
                Some(other) => {
                    return Err(exit_err(
                        code::USAGE,
                        format!("scheduled shutdown at {other:?} is not supported; use `now`"),
                    ))
                }
                None => {
                    return Err(exit_err(
                        code::USAGE,
                        "a time is required and only `now` is supported (shutdown -h now)",
                    ))
                }
            }
            let verb = if cli.reboot {
                Verb::Reboot(cli.power)
            } else if cli.halt {
                Verb::Halt(cli.power)
            } else {
                Verb::Poweroff(cli.power)
            };
            Ok(Invocation {
                conn: cli.conn,
                units,
                verb,
            })
        }
        _ => {
            if let Some(hint) = verb_of(&args).and_then(systemd_hint) {
                return Err(exit_err(code::USAGE, hint));
            }
            let cli = Cli::parse_from(args);
            Ok(Invocation {
                conn: cli.conn,
                units: cli.units,
                verb: cli.verb,
            })
        }
    }
}

/// Verbs a systemd user types that vigilctl spells otherwise (or not at
/// all), with what to type instead: better than clap's nearest spelling.
const SYSTEMD_VERBS: &[(&str, &str)] = &[
    ("list-units", "vigilctl list"),
    (
        "list-unit-files",
        "vigilctl list, and vigilctl is-enabled NAME",
    ),
    (
        "show",
        "vigilctl status NAME (or vigilctl --json status NAME)",
    ),
    ("try-restart", "vigilctl restart NAME"),
    (
        "reload-or-restart",
        "vigilctl reload NAME, or vigilctl restart NAME",
    ),
    (
        "try-reload-or-restart",
        "vigilctl reload NAME, or vigilctl restart NAME",
    ),
    ("condrestart", "vigilctl restart NAME"),
    ("force-reload", "vigilctl reload NAME"),
    (
        "list-jobs",
        "vigilctl list (units with a job show starting or stopping)",
    ),
    ("get-default", "default_target in /etc/vigil/vigil.toml"),
    ("set-default", "default_target in /etc/vigil/vigil.toml"),
    (
        "isolate",
        "vigil has no isolate; start and stop the units you need",
    ),
    (
        "edit",
        "edit /etc/vigil/units/NAME.toml, then vigilctl reload",
    ),
    ("daemon-reexec", ""),
    ("journalctl", "vigilctl logs NAME"),
    (
        "emergency",
        "vigil has no emergency mode: it boots on past failures",
    ),
    ("rescue", "vigil has no rescue mode"),
    ("suspend", "vigil does not suspend the machine"),
    ("hibernate", "vigil does not hibernate the machine"),
];

/// The verb of a command line: the first word that is neither an option
/// nor the value of --socket or --units.
fn verb_of(args: &[OsString]) -> Option<&str> {
    let mut words = args.iter().skip(1).filter_map(|a| a.to_str());
    while let Some(word) = words.next() {
        match word {
            "--socket" | "--units" => {
                words.next();
            }
            w if w.starts_with('-') => {}
            w => return Some(w),
        }
    }
    None
}

/// The hint for `arg` when it is the verb a systemd user typed.
fn systemd_hint(arg: &str) -> Option<String> {
    let (_, instead) = SYSTEMD_VERBS
        .iter()
        .find(|(verb, instead)| *verb == arg && !instead.is_empty())?;
    Some(format!(
        "`{arg}` is a systemctl verb; with vigil: {instead}"
    ))
}

/// Maps an error to its exit status: permission problems are 4, our own
/// `Exit` errors carry theirs, everything else is a plain failure.
fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<Exit>() {
            return e.code;
        }
        if let Some(ClientError::SocketPermission { .. }) = cause.downcast_ref::<ClientError>() {
            return code::NO_UNIT_OR_DENIED;
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::PermissionDenied {
                return code::NO_UNIT_OR_DENIED;
            }
        }
    }
    code::FAILURE
}

/// Writes to stdout, ignoring a closed pipe (`vigilctl list | head`).
fn out(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

struct Ctx<'a> {
    inv: &'a Invocation,
    socket: PathBuf,
}

impl Ctx<'_> {
    fn json(&self) -> bool {
        self.inv.conn.json
    }

    fn print_json(&self, reply: &Reply) -> anyhow::Result<()> {
        let line = serde_json::to_string(reply).context("encoding JSON output")?;
        out(&format!("{line}\n"));
        Ok(())
    }

    /// Sends `req`; prints the reply in --json mode; turns a permission
    /// refusal into exit 4 and any other error reply into a message on
    /// stderr (the body, if any, is still returned for rendering).
    fn call(&self, req: &Request, timeout: Duration) -> anyhow::Result<(Reply, u8)> {
        let reply = Client::new(&self.socket)
            .with_io_timeout(timeout)
            .request(req)?;
        if self.json() {
            self.print_json(&reply)?;
        }
        let message = reply
            .error
            .clone()
            .unwrap_or_else(|| "request failed".into());
        if client::is_permission_denied(&reply) {
            return Err(exit_err(code::NO_UNIT_OR_DENIED, message));
        }
        if !reply.ok {
            eprintln!("vigilctl: {message}");
            return Ok((reply, code::FAILURE));
        }
        Ok((reply, code::OK))
    }
}

const QUICK: Duration = Duration::from_secs(30);
const JOBS: Duration = Duration::from_secs(600);

fn run(inv: &Invocation) -> anyhow::Result<u8> {
    let ctx = Ctx {
        inv,
        socket: client::socket_path(
            inv.conn.socket.clone(),
            std::env::var_os(client::SOCKET_ENV),
        ),
    };
    match &inv.verb {
        Verb::List { failed } => list(&ctx, *failed),
        Verb::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            // Into memory first: clap_complete panics on a write error.
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "vigilctl", &mut script);
            io::stdout()
                .write_all(&script)
                .context("writing the completion script")?;
            Ok(code::OK)
        }
        Verb::Manpage => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd)
                .render(&mut io::stdout())
                .context("writing the manual page")?;
            Ok(code::OK)
        }
        Verb::Status { names } => status(&ctx, names),
        Verb::Start(a) => jobs(
            &ctx,
            Request::Start {
                names: a.names.clone(),
                no_block: a.no_block,
            },
        ),
        Verb::Stop(a) => jobs(
            &ctx,
            Request::Stop {
                names: a.names.clone(),
                no_block: a.no_block,
            },
        ),
        Verb::Restart(a) => jobs(
            &ctx,
            Request::Restart {
                names: a.names.clone(),
                no_block: a.no_block,
            },
        ),
        Verb::Reload { names } if !names.is_empty() => jobs(
            &ctx,
            Request::ReloadUnits {
                names: names.clone(),
            },
        ),
        Verb::Reload { .. } | Verb::DaemonReload => reload(&ctx),
        Verb::IsActive { names, quiet } => is_state(&ctx, names, *quiet, Query::Active),
        Verb::IsFailed { names, quiet } => is_state(&ctx, names, *quiet, Query::Failed),
        Verb::IsEnabled { names, quiet } => is_enabled(&inv.units, names, *quiet),
        Verb::Cat { names } => cat(&ctx, &inv.units, names),
        Verb::Kill { names, signal } => {
            let signal = unit::scalar::parse_signal(signal)
                .or_else(|e| signal.parse::<i32>().map_err(|_| e))
                .map_err(|e| exit_err(code::USAGE, format!("--signal: {e}")))?;
            jobs(
                &ctx,
                Request::Kill {
                    names: names.clone(),
                    signal,
                },
            )
        }
        Verb::ResetFailed { names } => jobs(
            &ctx,
            Request::ResetFailed {
                names: names.clone(),
            },
        ),
        Verb::DaemonReexec => daemon_reexec(&ctx),
        Verb::Logs { names, view, since } => logs(&ctx, names, view, since.as_deref()),
        Verb::Analyze { what } => analyze(&ctx, what.as_ref()),
        Verb::Log { view } => logs(&ctx, &[vigil::logs::OWN_LOG.to_string()], view, None),
        Verb::Enable { names, target, now } => enablement(&ctx, names, *now, |dir, name| {
            enable::enable(dir, name, target.as_deref())
        }),
        Verb::Disable { names, now } => enablement(&ctx, names, *now, enable::disable),
        Verb::Mask { names, now } => enablement(&ctx, names, *now, enable::mask),
        Verb::Unmask { names } => enablement(&ctx, names, false, enable::unmask),
        Verb::Check { paths } => check(&ctx, paths),
        Verb::Import {
            files,
            out,
            dry_run,
        } => import_units(files, out.as_deref().unwrap_or(&inv.units), *dry_run),
        Verb::Poweroff(p) => power(&ctx, Request::Poweroff { force: p.force }),
        Verb::Reboot(p) => power(&ctx, Request::Reboot { force: p.force }),
        Verb::Halt(p) => power(&ctx, Request::Halt { force: p.force }),
    }
}

fn unexpected(body: &ReplyBody) -> anyhow::Error {
    let kind = serde_json::to_value(body)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(String::from))
        .unwrap_or_default();
    anyhow!("unexpected reply from vigil (kind {kind:?})")
}

fn list(ctx: &Ctx<'_>, failed: bool) -> anyhow::Result<u8> {
    let (reply, code) = ctx.call(&Request::List, QUICK)?;
    match &reply.body {
        Some(ReplyBody::List { units }) => {
            if !ctx.json() {
                let shown: Vec<_> = units
                    .iter()
                    .filter(|u| !failed || u.state == vigil::control::protocol::UnitState::Failed)
                    .cloned()
                    .collect();
                out(&render::list(&shown));
            }
            Ok(code)
        }
        Some(other) => Err(unexpected(other)),
        None => Ok(code::FAILURE.max(code)),
    }
}

fn status(ctx: &Ctx<'_>, names: &[String]) -> anyhow::Result<u8> {
    let req = Request::Status {
        names: names.to_vec(),
    };
    let (reply, code) = ctx.call(&req, QUICK)?;
    match &reply.body {
        Some(ReplyBody::System(sys)) => {
            if !ctx.json() {
                out(&render::system_status(sys));
            }
            Ok(code)
        }
        Some(ReplyBody::Status { units, unknown }) => {
            if !ctx.json() {
                let time = TimeCtx::local();
                let names: Vec<String> = units.iter().map(|u| u.summary.name.clone()).collect();
                let tails = status_tails(ctx, &names);
                let pages: Vec<String> = units
                    .iter()
                    .zip(tails)
                    .map(|(u, tail)| render::unit_status(u, &time) + &tail)
                    .collect();
                out(&pages.join("\n"));
                for name in unknown {
                    eprintln!("Unit {} could not be found.", render::sanitize(name));
                }
            }
            let status_code = if !unknown.is_empty() {
                code::NO_UNIT_OR_DENIED
            } else if units.iter().any(|u| !render::is_active(u.summary.state)) {
                code::NOT_ACTIVE
            } else {
                code::OK
            };
            Ok(status_code.max(code))
        }
        Some(other) => Err(unexpected(other)),
        None => Ok(code::FAILURE.max(code)),
    }
}

/// `analyze` and its views of the timeline vigil recorded.
fn analyze(ctx: &Ctx<'_>, what: Option<&AnalyzeVerb>) -> anyhow::Result<u8> {
    use vigil::control::{analyze, plot};
    let (reply, code) = ctx.call(&Request::Analyze, QUICK)?;
    let timeline = match &reply.body {
        Some(ReplyBody::Timeline(t)) => t,
        Some(other) => return Err(unexpected(other)),
        None => return Ok(code::FAILURE.max(code)),
    };
    if ctx.json() {
        return Ok(code);
    }
    let text = match what {
        None => analyze::summary(timeline),
        Some(AnalyzeVerb::Blame) => analyze::blame(timeline),
        Some(AnalyzeVerb::CriticalChain { unit }) => {
            analyze::critical_chain(timeline, unit.as_deref())
                .map_err(|e| exit_err(code::NO_UNIT_OR_DENIED, e))?
        }
        Some(AnalyzeVerb::Plot) => plot::plot(timeline),
    };
    out(&text);
    Ok(code)
}

/// Asks vigil where the logs are, then reads them here (the file
/// permissions decide who may).
fn log_sources(ctx: &Ctx<'_>, names: &[String]) -> anyhow::Result<(PathBuf, Vec<LogSource>)> {
    let req = Request::Logs {
        names: names.to_vec(),
    };
    let reply = Client::new(&ctx.socket)
        .with_io_timeout(QUICK)
        .request(&req)?;
    if client::is_permission_denied(&reply) {
        return Err(exit_err(
            code::NO_UNIT_OR_DENIED,
            reply.error.unwrap_or_default(),
        ));
    }
    match reply.body {
        Some(ReplyBody::Logs { dir, units }) => Ok((dir, units)),
        Some(other) => Err(unexpected(&other)),
        None => Err(anyhow!(reply
            .error
            .unwrap_or_else(|| "request failed".into()))),
    }
}

/// The last lines of each unit's log, as `systemctl status` ends with
/// them; a note instead when they cannot be read.
fn status_tails(ctx: &Ctx<'_>, names: &[String]) -> Vec<String> {
    use vigil::logs::view::{show, Source, ViewOptions};
    const TAIL: usize = 10;
    let found = match log_sources(ctx, names) {
        Ok((_, found)) => found,
        Err(e) => {
            let note = format!("\n  (log not shown: {e})\n");
            return names.iter().map(|_| note.clone()).collect();
        }
    };
    found
        .iter()
        .map(|s| {
            let source = Source {
                name: &s.name,
                file: &s.file,
                waiting: s.waiting.as_bytes(),
            };
            let opts = ViewOptions {
                lines: Some(TAIL),
                ..Default::default()
            };
            let mut text = Vec::new();
            match show(&[source], &opts, &mut text) {
                Ok(_) if text.is_empty() => String::new(),
                Ok(_) => format!(
                    "\n{}",
                    render::sanitize_log(&String::from_utf8_lossy(&text))
                ),
                Err(e) => format!("\n  (log not shown: {e})\n"),
            }
        })
        .collect()
}

/// `logs NAME...` and `log`: the lines, then with -f what follows.
fn logs(
    ctx: &Ctx<'_>,
    names: &[String],
    args: &LogArgs,
    since: Option<&str>,
) -> anyhow::Result<u8> {
    use vigil::logs::view::{follow, parse_since, show, Source, ViewOptions};
    let since = match since {
        Some(text) => Some(
            parse_since(text, vigil::logs::clock::now_micros())
                .map_err(|e| exit_err(code::USAGE, e))?,
        ),
        None => None,
    };
    let (dir, found) = log_sources(ctx, names)?;
    let mut code = code::OK;
    let mut sources = Vec::new();
    for s in &found {
        if !s.known && !s.file.exists() {
            eprintln!(
                "vigilctl: no unit {} and no log at {}",
                render::sanitize(&s.name),
                s.file.display()
            );
            code = code::NO_UNIT_OR_DENIED;
            continue;
        }
        sources.push(Source {
            name: &s.name,
            file: &s.file,
            waiting: s.waiting.as_bytes(),
        });
    }
    let opts = ViewOptions {
        lines: args.lines.or(args.follow.then_some(10)),
        since,
        json: ctx.json(),
        follow: args.follow,
    };
    let mut stdout = io::stdout().lock();
    let open = show(&sources, &opts, &mut stdout).map_err(|e| {
        let denied = matches!(e, vigil::logs::read::ReadLogError::Denied { .. });
        exit_err(
            if denied {
                code::NO_UNIT_OR_DENIED
            } else {
                code::FAILURE
            },
            e.to_string(),
        )
    })?;
    if args.follow && !open.is_empty() {
        follow(open, &dir, ctx.json(), &mut stdout).map_err(|e| exit_err(code::FAILURE, e))?;
    }
    Ok(code)
}

/// start/stop/restart: 1 if any job ended failed.
fn jobs(ctx: &Ctx<'_>, req: Request) -> anyhow::Result<u8> {
    let (reply, code) = ctx.call(&req, JOBS)?;
    match &reply.body {
        Some(ReplyBody::Jobs { results }) => {
            if !ctx.json() {
                out(&render::job_results(results));
            }
            if results.iter().any(|r| !r.ok) {
                Ok(code::FAILURE)
            } else {
                Ok(code)
            }
        }
        Some(ReplyBody::Done) => Ok(code),
        Some(other) => Err(unexpected(other)),
        None => Ok(code::FAILURE.max(code)),
    }
}

/// What `is-active` and `is-failed` ask.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Query {
    Active,
    Failed,
}

/// systemctl's names for vigil's states.
fn systemd_state(state: vigil::control::protocol::UnitState) -> &'static str {
    use vigil::control::protocol::UnitState;
    match state {
        UnitState::Running | UnitState::Exited => "active",
        UnitState::Starting => "activating",
        UnitState::Stopping => "deactivating",
        UnitState::Inactive => "inactive",
        UnitState::Failed => "failed",
    }
}

/// `is-active` (0 when all are active, else 3) and `is-failed` (0 when
/// any is failed, else 1), as systemctl; an unknown unit is "inactive".
fn is_state(ctx: &Ctx<'_>, names: &[String], quiet: bool, query: Query) -> anyhow::Result<u8> {
    let req = Request::Status {
        names: names.to_vec(),
    };
    let (reply, code) = ctx.call(&req, QUICK)?;
    let Some(ReplyBody::Status { units, .. }) = &reply.body else {
        return match &reply.body {
            Some(other) => Err(unexpected(other)),
            None => Ok(code::FAILURE.max(code)),
        };
    };
    let mut states = Vec::new();
    for name in names {
        let state = units
            .iter()
            .find(|u| u.is_named(name))
            .map(|u| systemd_state(u.summary.state))
            .unwrap_or("inactive");
        states.push(state);
    }
    if !quiet && !ctx.json() {
        out(&states.iter().map(|s| format!("{s}\n")).collect::<String>());
    }
    let ok = match query {
        Query::Active => states.iter().all(|s| *s == "active"),
        Query::Failed => states.contains(&"failed"),
    };
    Ok(match (ok, query) {
        (true, _) => code::OK,
        (false, Query::Active) => code::NOT_ACTIVE,
        (false, Query::Failed) => code::FAILURE,
    })
}

/// `is-enabled`, from the units directory: masked, enabled when some
/// target pulls the unit in (its wanted_by or a link), else disabled; 0
/// when all are enabled, 1 if not, 4 for a unit with no file.
fn is_enabled(units: &Path, names: &[String], quiet: bool) -> anyhow::Result<u8> {
    let mut worst = code::OK;
    let mut text = String::new();
    for name in names {
        let state = match enable::enablement(units, name) {
            Some(state) => state,
            None => {
                worst = worst.max(code::NO_UNIT_OR_DENIED);
                text.push_str("not-found\n");
                continue;
            }
        };
        if state != "enabled" {
            worst = worst.max(code::FAILURE);
        }
        text.push_str(&format!("{state}\n"));
    }
    if !quiet {
        out(&text);
    }
    Ok(worst)
}

/// `cat`: each unit's file (the path the running vigil loaded it from,
/// else UNITS/NAME.toml), after a `# PATH` line, as systemctl cat.
fn cat(ctx: &Ctx<'_>, units: &Path, names: &[String]) -> anyhow::Result<u8> {
    let loaded: Vec<(UnitStatus, PathBuf)> = match ctx.call(
        &Request::Status {
            names: names.to_vec(),
        },
        QUICK,
    ) {
        Ok((reply, _)) => match reply.body {
            Some(ReplyBody::Status { units, .. }) => units
                .into_iter()
                .filter_map(|u| {
                    let path = u.path.clone()?;
                    Some((u, path))
                })
                .collect(),
            _ => Vec::new(),
        },
        // vigil not running (or not reachable): the units directory.
        Err(_) => Vec::new(),
    };
    let mut worst = code::OK;
    let mut pages = Vec::new();
    for name in names {
        let path = loaded
            .iter()
            .find(|(u, _)| u.is_named(name))
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| units.join(format!("{name}.toml")));
        match std::fs::read_to_string(&path) {
            Ok(text) => pages.push(format!("# {}\n{text}", path.display())),
            Err(e) => {
                eprintln!(
                    "No file for unit {}: {}: {e}",
                    render::sanitize(name),
                    path.display()
                );
                worst = code::NO_UNIT_OR_DENIED;
            }
        }
    }
    out(&pages.join("\n"));
    Ok(worst)
}

/// Sends `Reload`: 1 if vigil reported broken files.
fn reload(ctx: &Ctx<'_>) -> anyhow::Result<u8> {
    let (reply, code) = ctx.call(&Request::Reload, QUICK)?;
    match &reply.body {
        Some(ReplyBody::Reload {
            diagnostics,
            added,
            removed,
            changed,
        }) => {
            if !ctx.json() {
                out(&render::reload(diagnostics, added, removed, changed));
            }
            if diagnostics.is_empty() {
                Ok(code)
            } else {
                Ok(code::FAILURE)
            }
        }
        Some(ReplyBody::Done) => Ok(code),
        Some(other) => Err(unexpected(other)),
        None => Ok(code::FAILURE.max(code)),
    }
}

/// Sends `DaemonReexec`; the reply comes from the new image.
fn daemon_reexec(ctx: &Ctx<'_>) -> anyhow::Result<u8> {
    let (reply, code) = ctx.call(&Request::DaemonReexec, QUICK)?;
    match &reply.body {
        Some(ReplyBody::Reexec(report)) => {
            if !ctx.json() {
                out(&render::reexec(report));
            }
            Ok(code)
        }
        Some(other) => Err(unexpected(other)),
        None => Ok(code::FAILURE.max(code)),
    }
}

/// enable/disable: edit the units directory locally (works without vigil),
/// then tell a running vigil to reload and, with --now, start/stop.
fn enablement(
    ctx: &Ctx<'_>,
    names: &[String],
    now: bool,
    edit: impl Fn(&Path, &str) -> Result<Vec<String>, EnableError>,
) -> anyhow::Result<u8> {
    let dir = &ctx.inv.units;
    let mut code = code::OK;
    let mut done = Vec::new();
    let mut results = Vec::new();
    for name in names {
        match edit(dir, name) {
            Ok(lines) => {
                if !ctx.json() {
                    for line in &lines {
                        out(&format!("{line}\n"));
                    }
                    if lines.is_empty() {
                        out(&format!("{name}: no change\n"));
                    }
                }
                let message = if lines.is_empty() {
                    "unchanged".to_string()
                } else {
                    lines.join("\n")
                };
                results.push(JobResult {
                    name: name.clone(),
                    ok: true,
                    message,
                });
                done.push(name.clone());
            }
            Err(err) => {
                let denied = matches!(&err, EnableError::Io { source, .. }
                    if source.kind() == io::ErrorKind::PermissionDenied);
                eprintln!("vigilctl: {name}: {err}");
                code = code.max(if denied {
                    code::NO_UNIT_OR_DENIED
                } else {
                    code::FAILURE
                });
                results.push(JobResult {
                    name: name.clone(),
                    ok: false,
                    message: err.to_string(),
                });
            }
        }
    }
    if ctx.json() {
        ctx.print_json(&Reply::ok(ReplyBody::Jobs { results }))?;
    }
    if done.is_empty() {
        return Ok(code);
    }
    // Problems in unrelated files are shown by the reload output but do not
    // make the enable itself fail, hence the ignored status.
    match reload(ctx) {
        Ok(_) => {}
        Err(err) => {
            if let Some(ClientError::NotRunning { .. }) = err.downcast_ref::<ClientError>() {
                if !ctx.json() {
                    out("vigil is not running; the change applies when it starts.\n");
                }
                return Ok(code);
            }
            return Err(err);
        }
    }
    if now {
        let req = match &ctx.inv.verb {
            Verb::Disable { .. } | Verb::Mask { .. } => Request::Stop {
                names: done,
                no_block: false,
            },
            _ => Request::Start {
                names: done,
                no_block: false,
            },
        };
        code = code.max(jobs(ctx, req)?);
    }
    Ok(code)
}

/// The drop-ins of `file`: `FILE.d/*.conf`, in name order.
fn dropins_of(file: &Path) -> Vec<(PathBuf, String)> {
    let mut dir = file.as_os_str().to_os_string();
    dir.push(".d");
    let mut found: Vec<PathBuf> = std::fs::read_dir(PathBuf::from(dir))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
        .into_iter()
        .filter_map(|p| Some((p.clone(), std::fs::read_to_string(&p).ok()?)))
        .collect()
}

/// `import`: each systemd file to `out/NAME.toml` (or stdout with
/// `dry_run`), its notes on stderr; 1 if a file could not be imported.
fn import_units(files: &[PathBuf], out: &Path, dry_run: bool) -> anyhow::Result<u8> {
    let mut worst = code::OK;
    let mut targets: Vec<String> = Vec::new();
    for file in files {
        // systemd's mask: a link to /dev/null is no unit to translate.
        if std::fs::canonicalize(file).is_ok_and(|p| p == Path::new("/dev/null")) {
            eprintln!(
                "vigilctl: {}: masked (a link to /dev/null): nothing to import",
                file.display()
            );
            worst = code::FAILURE;
            continue;
        }
        // A link to another service file is systemd's alias of that unit.
        let own_name = file.file_name().and_then(|n| n.to_str());
        let linked = std::fs::read_link(file).ok();
        let linked_name = linked
            .as_deref()
            .and_then(|t| t.file_name())
            .and_then(|n| n.to_str());
        if let Some(target) =
            linked_name.filter(|t| t.ends_with(".service") && Some(*t) != own_name)
        {
            eprintln!(
                "vigilctl: {}: an alias of {target} (a link), not a unit of its own: import {target} (vigil's `aliases` key gives a unit more names)",
                file.display()
            );
            worst = code::FAILURE;
            continue;
        }
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("vigilctl: {}: {e}", file.display());
                worst = code::FAILURE;
                continue;
            }
        };
        let imported = match vigil::import::import(file, &text, &dropins_of(file)) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("vigilctl: {e}");
                worst = code::FAILURE;
                continue;
            }
        };
        for n in &imported.notes {
            eprintln!("{n}");
        }
        for t in imported.targets {
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
        let dest = out.join(format!("{}.toml", imported.name));
        if dry_run {
            out_line(&format!("# {}\n{}", dest.display(), imported.toml));
            continue;
        }
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        std::fs::write(&dest, &imported.toml)
            .with_context(|| format!("writing {}", dest.display()))?;
        eprintln!("wrote {}", dest.display());
    }
    for t in targets {
        let dest = out.join(format!("{t}.toml"));
        if dest.exists() {
            continue;
        }
        let text = vigil::import::target_unit(&t);
        if dry_run {
            out_line(&format!("# {}\n{text}", dest.display()));
        } else {
            std::fs::write(&dest, text).with_context(|| format!("writing {}", dest.display()))?;
            eprintln!("wrote {}", dest.display());
        }
    }
    Ok(worst)
}

fn out_line(text: &str) {
    out(&format!("{text}\n"));
}

/// Offline lint: every diagnostic, a summary, 1 if there was any. Unit
/// names from different directories may collide in the count; that only
/// affects the "N units OK" number.
fn check(ctx: &Ctx<'_>, paths: &[PathBuf]) -> anyhow::Result<u8> {
    let result = if paths.is_empty() && ctx.inv.units == Path::new(vigil::config::UNITS_DIR) {
        // The system's own units: PID 1 adds the units it generates at boot
        // (udev's, the [[tty]] gettys), which a unit may order itself after.
        let (config, _) = vigil::config::load_config(Path::new(vigil::config::CONFIG_PATH));
        let generated =
            vigil::boot::boot_output_of_running_system(&vigil::boot::RealSyscall, &config)
                .generated_units;
        unit::load::load_dir_with(&ctx.inv.units, &generated)
    } else if paths.is_empty() {
        unit::load_dir(&ctx.inv.units)
    } else {
        // A directory argument is linted as a whole units directory; the
        // files are linted together so they can refer to each other.
        let (dirs, files): (Vec<&PathBuf>, Vec<&PathBuf>) = paths.iter().partition(|p| p.is_dir());
        let mut result = if files.is_empty() {
            unit::LoadResult::default()
        } else {
            unit::load_paths(&files.into_iter().cloned().collect::<Vec<_>>())
        };
        for dir in dirs {
            let more = unit::load_dir(dir);
            result.units.extend(more.units);
            result.diagnostics.extend(more.diagnostics);
        }
        result
    };
    // What the running system says of the units that loaded.
    let mut result = result;
    for def in result.units.values() {
        result.diagnostics.extend(unit::system_check::check_unit(
            def,
            vigil::runtime::spawn::DEFAULT_PATH,
        ));
    }
    result
        .diagnostics
        .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    let lines: Vec<String> = result.diagnostics.iter().map(|d| d.to_string()).collect();
    if ctx.json() {
        let reply = Reply::ok(ReplyBody::Check {
            diagnostics: lines.clone(),
        });
        ctx.print_json(&reply)?;
    } else {
        let errors = result
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        let warnings = result.diagnostics.len() - errors;
        let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        // Units from files only: the implicit default target is not a file's.
        let from_files = result.units.values().filter(|u| u.path.is_some()).count();
        text.push_str(&render::check_summary(from_files, errors, warnings));
        out(&text);
    }
    Ok(if lines.is_empty() {
        code::OK
    } else {
        code::FAILURE
    })
}

/// Power verbs: vigil may drop the connection while going down; that counts
/// as accepted.
fn power(ctx: &Ctx<'_>, req: Request) -> anyhow::Result<u8> {
    match ctx.call(&req, JOBS) {
        Ok((_, code)) => Ok(code),
        Err(err) => match err.downcast_ref::<ClientError>() {
            Some(ClientError::NoReply) => Ok(code::OK),
            _ => Err(err),
        },
    }
}
