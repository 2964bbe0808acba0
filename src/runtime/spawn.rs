//! Starting a unit's main process: clone(CLONE_VM | CLONE_VFORK), then exec.
//!
//! Everything that allocates or can fail for a reason worth reporting
//! (user lookup, environment files, PATH search, opening log files) happens
//! before the clone. Between clone and exec the child only makes async-signal-safe
//! syscalls and, on failure, stores (stage index, errno) in memory it shares
//! with the parent (CLONE_VM) before it exits; the parent turns that into a
//! `SpawnFailure` such as
//! "changing to user www-data: Operation not permitted (os error 1)".

use std::cell::RefCell;
use std::ffi::{CString, OsStr};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::OnceLock;

use crate::accounts::{self, User};
use crate::manager::SpawnFailure;
use crate::regular_file::read_regular;
use crate::unit::model::{Output, UnitDef, UnitKind};

/// What the shell adds to every spawn, beyond the unit definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpawnContext {
    /// The base environment (PATH, TZ, LANG, ... from boot); nothing else of
    /// vigil's own environment reaches services.
    pub base_env: Vec<(String, String)>,
    /// The notify socket path; exported as NOTIFY_SOCKET to notify units only.
    pub notify_socket: Option<PathBuf>,
    /// RLIMIT_NOFILE (soft, hard) services start with: the one vigil was
    /// started with, before it raised its own (`fdlimit`).
    pub service_nofile: Option<(u64, u64)>,
}

/// PATH given to every service, and used to find the binary when the final
/// environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn failure(stage: impl Into<String>, error: impl Into<String>) -> SpawnFailure {
    SpawnFailure {
        stage: stage.into(),
        error: error.into(),
    }
}

fn os_error_text(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}

/// Parses an environment file: `KEY=VALUE` lines, `#`/`;` comments, blank
/// lines, an optional `export ` prefix, and values optionally wrapped in
/// single quotes (literal) or double quotes (with `\"`, `\\`, `\n`, `\$`
/// escapes). A line without `=` or with an invalid key is an error naming
/// the line, because silently dropping a setting is worse than failing.
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected KEY=VALUE", idx + 1));
        };
        let key = key.trim();
        let valid_key = !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_key {
            return Err(format!("line {}: invalid variable name {key:?}", idx + 1));
        }
        out.push((key.to_string(), unquote(value.trim())));
    }
    Ok(out)
}

fn unquote(value: &str) -> String {
    if value.len() >= 2 && value.starts_with('\'') && value.ends_with('\'') {
        return value
            .get(1..value.len() - 1)
            .unwrap_or_default()
            .to_string();
    }
    if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        let inner = value.get(1..value.len() - 1).unwrap_or_default();
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other @ ('"' | '\\' | '$' | '`')) => out.push(other),
                    Some(other) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    value.to_string()
}

/// Sets `key` in an ordered environment, replacing an earlier value.
fn env_set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    if let Some(slot) = env.iter_mut().find(|(k, _)| k == key) {
        slot.1 = value.to_string();
    } else {
        env.push((key.to_string(), value.to_string()));
    }
}

/// Builds the child's environment: base, then the user's HOME/USER/LOGNAME/
/// SHELL (if `user` is set), then environment files, then the unit's table
/// (later wins), then NOTIFY_SOCKET for notify units.
pub fn build_environment(
    def: &UnitDef,
    ctx: &SpawnContext,
    user: Option<&User>,
) -> Result<Vec<(String, String)>, SpawnFailure> {
    let mut env: Vec<(String, String)> = Vec::new();
    for (k, v) in &ctx.base_env {
        env_set(&mut env, k, v);
    }
    if let Some(u) = user {
        env_set(&mut env, "HOME", &u.home.to_string_lossy());
        env_set(&mut env, "USER", &u.name);
        env_set(&mut env, "LOGNAME", &u.name);
        env_set(&mut env, "SHELL", &u.shell.to_string_lossy());
    }
    for file in &def.extra().environment_file {
        let stage = format!("reading environment file {}", file.path.display());
        // Never blocking on a FIFO, nor reading /dev/zero forever.
        let text = match read_regular(&file.path, MAX_ENV_FILE_BYTES, true) {
            Ok((bytes, _)) => String::from_utf8(bytes)
                .map_err(|e| failure(stage.clone(), format!("not valid UTF-8: {e}")))?,
            Err(e) if e.is_not_found() && file.optional => continue,
            Err(e) => return Err(failure(stage, e.to_string())),
        };
        for (k, v) in parse_env_file(&text).map_err(|e| failure(stage.clone(), e))? {
            env_set(&mut env, &k, &v);
        }
    }
    for (k, v) in &def.extra().environment {
        env_set(&mut env, k, v);
    }
    // NOTIFY_SOCKET belongs to vigil: a stale value from a file must not leak.
    env.retain(|(k, _)| k != "NOTIFY_SOCKET");
    if def.kind == UnitKind::Notify {
        if let Some(path) = &ctx.notify_socket {
            env_set(&mut env, "NOTIFY_SOCKET", &path.to_string_lossy());
        }
    }
    Ok(env)
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds `program` like execvp would, but against the service's PATH (not
/// vigil's). Names containing '/' are used as given (execve reports errors).
pub fn resolve_program(program: &str, path_var: Option<&str>) -> Result<PathBuf, SpawnFailure> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    let search = path_var.unwrap_or(DEFAULT_PATH);
    search
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| failure(format!("executing {program}"), os_error_text(libc::ENOENT)))
}

fn cstring(stage: &str, s: impl AsRef<OsStr>) -> Result<CString, SpawnFailure> {
    CString::new(s.as_ref().as_bytes()).map_err(|_| failure(stage, "contains a NUL byte"))
}

fn lookup_user(name: &str) -> Result<User, SpawnFailure> {
    let stage = format!("changing to user {name}");
    match accounts::lookup_user(name) {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(failure(stage, "no such user in /etc/passwd")),
        Err(e) => Err(failure(stage, e.to_string())),
    }
}

fn lookup_group(name: &str, stage: String) -> Result<libc::gid_t, SpawnFailure> {
    match accounts::lookup_group(name) {
        Ok(Some(gid)) => Ok(gid),
        Ok(None) => Err(failure(stage, "no such group in /etc/group")),
        Err(e) => Err(failure(stage, e.to_string())),
    }
}

/// Resolved credentials: what the child switches to, if anything.
struct Credentials {
    uid: Option<libc::uid_t>,
    gid: Option<libc::gid_t>,
    groups: Option<Vec<libc::gid_t>>,
    user_stage: String,
    group_stage: String,
}

fn resolve_credentials(def: &UnitDef) -> Result<(Credentials, Option<User>), SpawnFailure> {
    let user = def.extra().user.as_deref().map(lookup_user).transpose()?;
    let mut gid = user.as_ref().map(|u| u.gid);
    let mut group_stage = user
        .as_ref()
        .map(|u| format!("changing to group {} of user {}", u.gid, u.name))
        .unwrap_or_default();
    if let Some(g) = def.extra().group.as_deref() {
        group_stage = format!("changing to group {g}");
        gid = Some(lookup_group(g, group_stage.clone())?);
    }
    let mut groups: Option<Vec<libc::gid_t>> = None;
    if let (Some(u), Some(primary)) = (&user, gid) {
        let list = accounts::lookup_groups_of(&u.name, primary).map_err(|e| {
            failure(
                format!("looking up groups of user {}", u.name),
                e.to_string(),
            )
        })?;
        groups = Some(list);
    } else if gid.is_some() || !def.extra().supplementary_groups.is_empty() {
        // No user change: still drop vigil's own supplementary groups.
        groups = Some(gid.into_iter().collect());
    }
    for name in &def.extra().supplementary_groups {
        let g = lookup_group(name, format!("setting supplementary group {name}"))?;
        let list = groups.get_or_insert_with(Vec::new);
        if !list.contains(&g) {
            list.push(g);
        }
    }
    Ok((
        Credentials {
            uid: user.as_ref().map(|u| u.uid),
            gid,
            groups,
            user_stage: def
                .extra()
                .user
                .as_deref()
                .map(|n| format!("changing to user {n}"))
                .unwrap_or_default(),
            group_stage,
        },
        user,
    ))
}

/// The unit's runtime and state directories, made (with their parents) if
/// missing, given the unit's mode, and owned by its user and group, before
/// every start: systemd's RuntimeDirectory= and StateDirectory=.
fn make_directories(def: &UnitDef, creds: &Credentials) -> Result<(), SpawnFailure> {
    use std::os::unix::fs::DirBuilderExt;
    let lists = [
        (
            "runtime",
            &def.extra().runtime_directory,
            def.extra().runtime_directory_mode,
        ),
        (
            "state",
            &def.extra().state_directory,
            def.extra().state_directory_mode,
        ),
    ];
    for (what, dirs, mode) in lists {
        for dir in dirs {
            let stage = format!("creating {what} directory {}", dir.display());
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(dir)
                .map_err(|e| failure(stage.clone(), e.to_string()))?;
            // The mode as asked, whatever vigil's umask made of it.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
                .map_err(|e| failure(stage.clone(), e.to_string()))?;
            if creds.uid.is_some() || creds.gid.is_some() {
                std::os::unix::fs::chown(dir, creds.uid, creds.gid)
                    .map_err(|e| failure(stage.clone(), e.to_string()))?;
            }
        }
    }
    Ok(())
}

/// Duplicates `fd` to a close-on-exec descriptor >= 3, so that dup2 onto
/// stdio in the child never degenerates into a no-op on a CLOEXEC fd.
pub(crate) fn high_fd(fd: OwnedFd) -> std::io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// An environment file larger than this is not one.
const MAX_ENV_FILE_BYTES: u64 = 1 << 20;

fn clear_nonblocking(file: &std::fs::File) -> std::io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The write ends of a unit's log pipes (`runtime::capture`), for the
/// streams whose output is `"log"`; None for a stream whose pipe could not
/// be made (it then goes where vigil's own output goes, as `"inherit"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogFds<'a> {
    pub stdout: Option<BorrowedFd<'a>>,
    pub stderr: Option<BorrowedFd<'a>>,
}

/// Where the child's stdout or stderr comes from: a file opened for this
/// start, or a descriptor vigil keeps (a log pipe), lent for the clone.
#[derive(Debug)]
enum Redirect<'a> {
    Opened(OwnedFd),
    Shared(BorrowedFd<'a>),
}

impl Redirect<'_> {
    fn raw(&self) -> RawFd {
        match self {
            Redirect::Opened(fd) => fd.as_raw_fd(),
            Redirect::Shared(fd) => fd.as_raw_fd(),
        }
    }
}

fn open_output<'a>(
    output: &Output,
    which: &str,
    log: Option<BorrowedFd<'a>>,
) -> Result<Option<Redirect<'a>>, SpawnFailure> {
    let opened = match output {
        // Inherit: vigil's own; Tty: the child dups the terminal it opens.
        Output::Inherit | Output::Tty => return Ok(None),
        // The capture keeps its pipes above the stdio numbers.
        Output::Log => return Ok(log.map(Redirect::Shared)),
        Output::Null => std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .map_err(|e| failure(format!("opening {which} /dev/null"), e.to_string()))?,
        // O_NONBLOCK so that a FIFO with no reader fails (ENXIO) instead of
        // blocking PID 1 in open; the service then gets a blocking descriptor.
        Output::File(path) => std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .and_then(|f| clear_nonblocking(&f).map(|()| f))
            .map_err(|e| failure(format!("opening {which} {}", path.display()), e.to_string()))?,
    };
    high_fd(OwnedFd::from(opened))
        .map(|fd| Some(Redirect::Opened(fd)))
        .map_err(|e| failure(format!("opening {which}"), e.to_string()))
}

// Stage indices the child reports; names are filled in by the parent.
const ST_SESSION: u32 = 0;
const ST_SIGNALS: u32 = 1;
const ST_STDIN: u32 = 2;
const ST_STDOUT: u32 = 3;
const ST_STDERR: u32 = 4;
const ST_GROUPS: u32 = 5;
const ST_GID: u32 = 6;
const ST_UID: u32 = 7;
const ST_CHDIR: u32 = 8;
const ST_EXEC: u32 = 9;
const ST_NICE: u32 = 10;
const ST_OOM: u32 = 11;
const ST_TTY: u32 = 12;
/// Stage of the unit's first resource limit; the next ones follow.
const ST_LIMITS: u32 = 13;

/// `sizeof(sigset_t)` as the kernel sees it (_NSIG / 8).
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
const KERNEL_SIGSET_BYTES: libc::size_t = 16;
#[cfg(not(any(target_arch = "mips", target_arch = "mips64")))]
const KERNEL_SIGSET_BYTES: libc::size_t = 8;

/// $TERM for a unit on `tty` that sets none, as systemd picks it: the
/// kernel's virtual consoles are "linux", anything else (a serial line) a
/// "vt220".
fn default_term(tty: &Path) -> &'static str {
    let name = tty.to_str().unwrap_or_default();
    let vt = name
        .strip_prefix("/dev/tty")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if vt || name == "/dev/console" {
        "linux"
    } else {
        "vt220"
    }
}

/// Everything the child needs, fully built before fork.
struct Prepared<'a> {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    creds: Credentials,
    workdir: CString,
    umask: Option<libc::mode_t>,
    /// The shared /dev/null (`dev_null`): no descriptor per start.
    stdin: BorrowedFd<'static>,
    stdout: Option<Redirect<'a>>,
    stderr: Option<Redirect<'a>>,
    /// The unit's `tty`: opened by the child as stdin and controlling
    /// terminal; stdout/stderr go to it too when they are `Output::Tty`.
    tty: Option<CString>,
    /// Hang `tty` up first (`tty_vhangup`).
    tty_vhangup: bool,
    stdout_tty: bool,
    stderr_tty: bool,
    /// Indexed by the ST_* stages (then one per limit).
    stage_names: Vec<String>,
    /// The unit's resource limits, in file order.
    limits: Vec<(u32, libc::rlimit)>,
    nice: Option<i32>,
    /// The oom_score_adj value as the file wants it written.
    oom_score_adj: Option<Vec<u8>>,
    /// SIGRTMAX, read before fork (it is a libc call, not a constant).
    max_signal: libc::c_int,
    /// The descriptor limit to give the service.
    nofile: Option<libc::rlimit>,
}

fn prepare<'a>(
    def: &UnitDef,
    ctx: &SpawnContext,
    log: LogFds<'a>,
) -> Result<Prepared<'a>, SpawnFailure> {
    let Some(first) = def.exec.first() else {
        return Err(failure("preparing", "no command to execute"));
    };
    for device in def
        .extra()
        .needs_device
        .iter()
        .chain(def.extra().tty.iter())
    {
        if let Err(e) = std::fs::metadata(device) {
            return Err(failure(
                format!("opening {}", device.display()),
                e.to_string(),
            ));
        }
    }
    let (creds, user) = resolve_credentials(def)?;
    make_directories(def, &creds)?;
    let mut env = build_environment(def, ctx, user.as_ref())?;
    if let Some(tty) = &def.extra().tty {
        if !env.iter().any(|(k, _)| k == "TERM") {
            env_set(&mut env, "TERM", default_term(tty));
        }
    }
    for (var, dirs) in [
        ("RUNTIME_DIRECTORY", &def.extra().runtime_directory),
        ("STATE_DIRECTORY", &def.extra().state_directory),
    ] {
        if !dirs.is_empty() {
            let joined: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            env_set(&mut env, var, &joined.join(":"));
        }
    }
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str());
    let program_path = resolve_program(first, path_var)?;
    let exec_stage = format!("executing {}", program_path.display());
    let program = cstring(&exec_stage, &program_path)?;
    // $VAR and ${VAR} from the service's own environment (unit/expand.rs).
    let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let argv = crate::unit::expand::expand_argv(&def.exec, &lookup)
        .iter()
        .map(|a| cstring("preparing arguments", a))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = env
        .iter()
        .map(|(k, v)| {
            if k.is_empty() || k.contains('=') {
                return Err(failure(
                    "preparing environment",
                    format!("invalid variable name {k:?}"),
                ));
            }
            cstring("preparing environment", format!("{k}={v}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let workdir_path = def
        .extra()
        .working_directory
        .clone()
        .unwrap_or_else(|| PathBuf::from("/"));
    let chdir_stage = format!("changing directory to {}", workdir_path.display());
    let workdir = cstring(&chdir_stage, &workdir_path)?;
    let stdin = dev_null()
        .map(|fd| fd.as_fd())
        .map_err(|e| failure("opening stdin /dev/null", e.to_string()))?;
    let stdout = open_output(&def.stdout, "stdout", log.stdout)?;
    let stderr = open_output(&def.stderr, "stderr", log.stderr)?;
    let tty = match &def.extra().tty {
        Some(path) => Some(cstring("opening the tty", path)?),
        None => None,
    };
    let mut stage_names = vec![
        "creating session".to_string(),
        "resetting signals".to_string(),
        "redirecting stdin".to_string(),
        "redirecting stdout".to_string(),
        "redirecting stderr".to_string(),
        "setting supplementary groups".to_string(),
        creds.group_stage.clone(),
        creds.user_stage.clone(),
        chdir_stage,
        exec_stage,
        format!("setting nice {}", def.extra().nice.unwrap_or(0)),
        format!(
            "setting oom_score_adj {}",
            def.extra().oom_score_adj.unwrap_or(0)
        ),
    ];
    let show = |v: u64| {
        if v == crate::unit::limits::INFINITY {
            "infinity".to_string()
        } else {
            v.to_string()
        }
    };
    stage_names.push(match &def.extra().tty {
        Some(path) if def.extra().tty_vhangup => format!(
            "hanging up {} and opening it as the controlling terminal",
            path.display()
        ),
        Some(path) => format!("opening {} as the controlling terminal", path.display()),
        None => String::new(),
    });
    for l in &def.extra().limits {
        stage_names.push(format!(
            "setting limit {} to {}:{}",
            crate::unit::limits::name_of(l.resource),
            show(l.soft),
            show(l.hard)
        ));
    }
    Ok(Prepared {
        program,
        argv,
        envp,
        creds,
        workdir,
        umask: def.extra().umask.map(|m| m as libc::mode_t),
        stdin,
        stdout,
        stderr,
        tty,
        tty_vhangup: def.extra().tty_vhangup,
        stdout_tty: def.stdout == Output::Tty,
        stderr_tty: def.stderr == Output::Tty,
        stage_names,
        max_signal: libc::SIGRTMAX(),
        nofile: ctx.service_nofile.map(|(soft, hard)| libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        }),
        limits: def
            .extra()
            .limits
            .iter()
            .map(|l| {
                (
                    l.resource,
                    libc::rlimit {
                        rlim_cur: l.soft,
                        rlim_max: l.hard,
                    },
                )
            })
            .collect(),
        nice: def.extra().nice,
        oom_score_adj: def
            .extra()
            .oom_score_adj
            .map(|v| v.to_string().into_bytes()),
    })
}

/// A process vigil started: its pid, and the pidfd that names it for as
/// long as vigil holds it (from clone itself, so there is no window in
/// which the pid could name another process).
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

/// Starts the unit's main process in its own session (pgid == sid == pid)
/// and returns it once exec has succeeded (or the failed stage).
pub fn spawn(def: &UnitDef, ctx: &SpawnContext, log: LogFds<'_>) -> Result<Spawned, SpawnFailure> {
    let prep = prepare(def, ctx, log)?;

    let mut argv_ptrs: Vec<*const libc::c_char> = prep.argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = prep.envp.iter().map(|e| e.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    let groups: Option<&[libc::gid_t]> = prep.creds.groups.as_deref();

    let report = ChildReport::default();
    // Like posix_spawn: clone(CLONE_VM | CLONE_VFORK) on a stack of its own.
    // The child shares vigil's memory and vigil is suspended until the child
    // has exec'd or exited, so nothing is copied: no page tables, no
    // copy-on-write faults (a fork cost 2-3x the bare fork/exec floor at 1000
    // units). The child only reads data prepared above and makes raw,
    // async-signal-safe syscalls; the suspension ends at execve, so the one
    // way it can last is chdir/execve on a hung network filesystem.
    // As in glibc's posix_spawn, a failure comes back through `report`:
    // the parent resumes only once the child's execve is past its point of
    // no return (then nothing was written; the kernel may still be loading
    // the image) or the child has exited (after writing it), so there is
    // nothing to wait for after clone returns.
    let args = ChildArgs {
        prep: &prep,
        argv: &argv_ptrs,
        envp: &envp_ptrs,
        groups,
        report: &report,
    };
    CHILD_STACK
        .with_borrow_mut(|stack| clone_child(stack, &args))
        .and_then(|(pid, pidfd)| {
            finish_spawn(pid, &report, &prep).map(|pid| Spawned { pid, pidfd })
        })
}

/// clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD) into `child_entry` on
/// `stack` (grown to `CHILD_STACK_BYTES` on first use); returns the child's
/// pid and pidfd.
fn clone_child(
    stack: &mut Vec<MaybeUninit<u8>>,
    args: &ChildArgs,
) -> Result<(i32, OwnedFd), SpawnFailure> {
    if stack.len() < CHILD_STACK_BYTES {
        // Uninitialised: only the pages the child's frames touch get memory.
        stack.resize_with(CHILD_STACK_BYTES, MaybeUninit::uninit);
    }
    let top = stack.as_mut_ptr().wrapping_add(stack.len());
    // The ABI wants a 16-byte aligned stack pointer.
    let top = top.wrapping_sub(top as usize % 16).cast::<libc::c_void>();
    // SAFETY: `top` is the aligned end of a live buffer that outlives the
    // child's use of it (CLONE_VFORK returns only after exec or exit);
    // `child_entry` never returns and only uses `args` (reads, and the
    // atomic stores of `report`), which outlives it too. With CLONE_PIDFD
    // the kernel stores the child's pidfd (close-on-exec) at `pidfd`.
    let mut pidfd: libc::c_int = -1;
    let pid = unsafe {
        libc::clone(
            child_entry,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD,
            std::ptr::from_ref(args).cast_mut().cast(),
            &mut pidfd as *mut libc::c_int,
        )
    };
    if pid < 0 {
        return Err(failure(
            "forking",
            std::io::Error::last_os_error().to_string(),
        ));
    }
    if pidfd < 0 {
        return Err(failure("forking", "the kernel returned no pidfd"));
    }
    // SAFETY: the kernel just installed this descriptor for us.
    Ok((pid, unsafe { OwnedFd::from_raw_fd(pidfd) }))
}

/// After the clone: the pid if the child exec'd, else its failed stage
/// (the child is reaped here, so the event loop never sees its pid).
fn finish_spawn(pid: i32, report: &ChildReport, prep: &Prepared<'_>) -> Result<i32, SpawnFailure> {
    if !report.failed.load(Ordering::Acquire) {
        return Ok(pid);
    }
    let stage = report.stage.load(Ordering::Relaxed);
    let errno = report.errno.load(Ordering::Relaxed);
    // Reap exactly this child so the event loop never sees a pid it was
    // never told about.
    let mut status = 0;
    // SAFETY: waiting for our own child; it is exiting right now.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
    {}
    let name = prep
        .stage_names
        .get(stage as usize)
        .filter(|n| !n.is_empty())
        .cloned()
        .unwrap_or_else(|| format!("stage {stage}"));
    Err(failure(name, os_error_text(errno)))
}

/// Stack of the cloned child until it execs: its frames are small (no
/// allocation, a few locals), 64 KiB is ample.
const CHILD_STACK_BYTES: usize = 64 * 1024;

thread_local! {
    /// The cloned child's stack, kept between starts: allocating and zeroing
    /// 64 KiB for every start showed up in restart profiles. (CLONE_VFORK:
    /// one child at a time uses it, and only until it execs.)
    static CHILD_STACK: RefCell<Vec<MaybeUninit<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Open what every start needs before the first one, so a start never
/// fails for want of a descriptor for it.
pub fn warm_up() -> std::io::Result<()> {
    dev_null().map(|_| ())
}

/// /dev/null, opened once (read-only, above the stdio numbers) and given
/// as every service's stdin: a start costs no descriptor for it.
fn dev_null() -> std::io::Result<&'static OwnedFd> {
    static DEV_NULL: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(fd) = DEV_NULL.get() {
        return Ok(fd);
    }
    let file = high_fd(OwnedFd::from(std::fs::File::open("/dev/null")?))?;
    Ok(DEV_NULL.get_or_init(|| file))
}

/// What the cloned child needs, passed through clone's argument pointer.
struct ChildArgs<'a> {
    prep: &'a Prepared<'a>,
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
    groups: Option<&'a [libc::gid_t]>,
    report: &'a ChildReport,
}

/// Where the child leaves the stage that failed and its errno before it
/// exits; shared with the parent through CLONE_VM.
#[derive(Default)]
struct ChildReport {
    failed: AtomicBool,
    stage: AtomicU32,
    errno: AtomicI32,
}

/// Entry point of the cloned child; never returns.
extern "C" fn child_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ChildArgs` that `spawn` keeps alive while the
    // parent is suspended (CLONE_VFORK).
    let a = unsafe { &*arg.cast::<ChildArgs>() };
    // SAFETY: we are the child of clone, before exec.
    unsafe { child_after_fork(a.prep, a.argv, a.envp, a.groups, a.report) }
}

/// Reports (stage, errno) to the parent and exits. Async-signal-safe.
unsafe fn child_fail(report: &ChildReport, stage: u32) -> ! {
    report
        .errno
        .store(*libc::__errno_location(), Ordering::Relaxed);
    report.stage.store(stage, Ordering::Relaxed);
    report.failed.store(true, Ordering::Release);
    libc::_exit(127)
}

/// Points `target` at `src`, clearing close-on-exec (dup2 does that; `src`
/// is always >= 3 so the two never coincide).
unsafe fn redirect(src: RawFd, target: RawFd) -> bool {
    libc::dup2(src, target) >= 0
}

/// The child between fork and exec: async-signal-safe syscalls only, no
/// allocation, no locks, no panics.
unsafe fn child_after_fork(
    prep: &Prepared<'_>,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    groups: Option<&[libc::gid_t]>,
    report: &ChildReport,
) -> ! {
    if libc::setsid() < 0 {
        child_fail(report, ST_SESSION);
    }
    // vigil blocks signals for its signalfd and may ignore some; services
    // must start with defaults.
    // The raw syscall, because glibc's sigaction refuses its two internal
    // real-time signals (32, 33), which may arrive ignored. An all-zero
    // kernel sigaction is SIG_DFL with no flags on every architecture.
    let dfl = [0u64; 8];
    for sig in 1..=prep.max_signal {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            dfl.as_ptr(),
            std::ptr::null_mut::<libc::c_void>(),
            KERNEL_SIGSET_BYTES,
        );
    }
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
        child_fail(report, ST_SIGNALS);
    }
    if let Some(mask) = prep.umask {
        libc::umask(mask);
    }
    if let Some(limit) = &prep.nofile {
        // Lowering a limit cannot fail; a raw syscall, async-signal-safe.
        libc::syscall(
            libc::SYS_prlimit64,
            0,
            libc::RLIMIT_NOFILE,
            std::ptr::from_ref(limit),
            std::ptr::null_mut::<libc::rlimit>(),
        );
    }
    // The unit's own limits, nice and OOM score, while still root (raising
    // a hard limit, a negative nice or a lower score need privileges).
    for (i, (resource, limit)) in prep.limits.iter().enumerate() {
        if libc::syscall(
            libc::SYS_prlimit64,
            0,
            *resource,
            std::ptr::from_ref(limit),
            std::ptr::null_mut::<libc::rlimit>(),
        ) != 0
        {
            child_fail(report, ST_LIMITS + i as u32);
        }
    }
    if let Some(nice) = prep.nice {
        if libc::syscall(libc::SYS_setpriority, libc::PRIO_PROCESS, 0, nice) != 0 {
            child_fail(report, ST_NICE);
        }
    }
    if let Some(value) = &prep.oom_score_adj {
        let path = c"/proc/self/oom_score_adj";
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 || libc::write(fd, value.as_ptr().cast(), value.len()) < 0 {
            child_fail(report, ST_OOM);
        }
        libc::close(fd);
    }
    // The unit's terminal: non-blocking open (a serial line without
    // carrier must not hold vigil, suspended until exec), then made this
    // new session's controlling terminal, then blocking again.
    let mut tty_fd = -1;
    if let Some(path) = &prep.tty {
        if prep.tty_vhangup {
            // TIOCVHANGUP, not vhangup(2): it needs no controlling
            // terminal, and its SIGHUP goes to the session holding the
            // terminal now, not to this new one, which holds nothing yet.
            let old = libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC,
            );
            if old < 0 || libc::ioctl(old, libc::TIOCVHANGUP, 0) < 0 {
                child_fail(report, ST_TTY);
            }
            libc::close(old);
        }
        let fd = libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        );
        if fd < 0 {
            child_fail(report, ST_TTY);
        }
        // Above the stdio numbers, so the dups below never hit itself.
        tty_fd = if fd < 3 {
            libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3)
        } else {
            fd
        };
        if tty_fd < 0 || libc::ioctl(tty_fd, libc::TIOCSCTTY, 0) < 0 {
            child_fail(report, ST_TTY);
        }
        let flags = libc::fcntl(tty_fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(tty_fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
            child_fail(report, ST_TTY);
        }
    }
    let stdin = if tty_fd >= 0 {
        tty_fd
    } else {
        prep.stdin.as_raw_fd()
    };
    if !redirect(stdin, 0) {
        child_fail(report, ST_STDIN);
    }
    let out = match &prep.stdout {
        _ if prep.stdout_tty && tty_fd >= 0 => Some(tty_fd),
        Some(fd) => Some(fd.raw()),
        None => None,
    };
    if let Some(fd) = out {
        if !redirect(fd, 1) {
            child_fail(report, ST_STDOUT);
        }
    }
    let err = match &prep.stderr {
        _ if prep.stderr_tty && tty_fd >= 0 => Some(tty_fd),
        Some(fd) => Some(fd.raw()),
        None => None,
    };
    if let Some(fd) = err {
        if !redirect(fd, 2) {
            child_fail(report, ST_STDERR);
        }
    }
    // Nothing but stdio may leak into the service, whatever vigil (or a
    // test harness) forgot to mark close-on-exec. Needs Linux 5.11; older
    // kernels just skip this safety net.
    libc::syscall(
        libc::SYS_close_range,
        3 as libc::c_uint,
        libc::c_uint::MAX,
        libc::CLOSE_RANGE_CLOEXEC,
    );
    // Raw syscalls: glibc's set*id wrappers may coordinate with other
    // threads of the process (setxid), which a CLONE_VM child must never do.
    if let Some(list) = groups {
        if libc::syscall(libc::SYS_setgroups, list.len(), list.as_ptr()) != 0 {
            child_fail(report, ST_GROUPS);
        }
    }
    if let Some(gid) = prep.creds.gid {
        if libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0 {
            child_fail(report, ST_GID);
        }
    }
    if let Some(uid) = prep.creds.uid {
        if libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0 {
            child_fail(report, ST_UID);
        }
    }
    // After dropping privileges, so the directory is checked as the user.
    if libc::chdir(prep.workdir.as_ptr()) != 0 {
        child_fail(report, ST_CHDIR);
    }
    libc::execve(prep.program.as_ptr(), argv.as_ptr(), envp.as_ptr());
    child_fail(report, ST_EXEC)
}
