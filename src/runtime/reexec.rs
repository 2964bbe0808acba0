//! Live re-exec (`vigilctl daemon-reexec`), the shell's tools: the state's
//! format, the sealed memfd it travels in, the probe that proves the new
//! binary runs before PID 1 bets on it, and the execve itself. The event
//! loop decides when (`event_loop`), the manager what its state is
//! (`manager::handover`).
//!
//! The state is a JSON line and a binary part. The first, the `Header`, is small and
//! meant to be read by any later version: the paths and settings vigil runs
//! with, every descriptor that crossed the exec, and each unit's main
//! process. The second, `Full`, is the exact state of this version. A new
//! image that cannot read the second line (another format version, a bug)
//! still takes over the descriptors and adopts the processes it can prove
//! are its children, and kills nothing it cannot account for.

use std::ffi::{CString, OsStr, OsString};
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::log::Level;
use crate::manager::{ManagerState, Survivor};
use crate::runtime::capture::{CaptureState, SavedPipes};
use crate::runtime::event_loop::LoopOptions;
use crate::runtime::processes::HeldHandle;

/// The format of `Full`; the header says which one follows it.
pub const HANDOVER_VERSION: u32 = 7;
/// The header's first field, so a stray descriptor is never taken for a state.
pub const MAGIC: &str = "vigil-handover";
/// `vigil --resume FD`: the argument the new image is started with.
pub const RESUME_FLAG: &str = "--resume";
/// `vigil --check-reexec`: prints `PROBE_BANNER VERSION HANDOVER_VERSION`
/// and exits 0, touching nothing.
pub const CHECK_FLAG: &str = "--check-reexec";
/// The probe's answer starts with this, so no other output is taken for it.
pub const PROBE_BANNER: &str = "vigil-reexec-ok";
/// How long the probe may take before the re-exec is called off.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What every version can read (see the module doc).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub magic: String,
    /// The format of the second line.
    pub version: u32,
    /// The version of the image that wrote it.
    pub vigil_version: String,
    /// CLOCK_MONOTONIC when the request came, for the report.
    pub requested_at: Duration,
    /// The connection of the `daemon-reexec` request the new image answers.
    pub client: Option<RawFd>,
    pub opts: LoopOptions,
    pub listener: Option<RawFd>,
    pub notify: Option<RawFd>,
    pub lock: Option<RawFd>,
    /// RLIMIT_NOFILE services start with (vigil raised its own).
    pub service_nofile: Option<(u64, u64)>,
    pub log_level: Level,
    pub pipes: Vec<SavedPipes>,
    pub processes: Vec<HeldHandle>,
    pub survivors: Vec<Survivor>,
}

/// This version's exact state.
#[derive(Debug, Serialize, Deserialize)]
pub struct Full {
    pub manager: ManagerState,
    pub capture: CaptureState,
    /// The units generated from vigil.toml at boot (gettys, udev).
    pub generated: Vec<crate::unit::UnitDef>,
}

/// What the new image found in the state it was given.
#[derive(Debug)]
pub enum Resumed {
    /// Everything.
    Exact(Box<Header>, Box<Full>),
    /// The header only, and why not the rest.
    Partial(Box<Header>, String),
    /// Nothing usable, and why.
    Unreadable(String),
}

/// The header (one JSON line) and the exact state after it, ready for the
/// memfd. The exact state is postcard, a compact binary form of the same
/// serde types: it is read only by this very version, and it is read on
/// the re-exec's critical path (3 to 5 times quicker than JSON at N =
/// 1000: docs/benchmarks.md).
pub fn encode(header: &Header, full: &Full) -> Result<Vec<u8>, String> {
    let mut bytes =
        serde_json::to_vec(header).map_err(|e| format!("writing the state's header: {e}"))?;
    bytes.push(b'\n');
    postcard::to_io(full, &mut bytes).map_err(|e| format!("writing the state: {e}"))?;
    Ok(bytes)
}

/// Reads what `encode` wrote, as far as it can be read.
pub fn decode(bytes: &[u8]) -> Resumed {
    let mut lines = bytes.splitn(2, |b| *b == b'\n');
    let first = lines.next().unwrap_or_default();
    let rest = lines.next().unwrap_or_default();
    let header: Header = match serde_json::from_slice(first) {
        Ok(h) => h,
        Err(e) => return Resumed::Unreadable(format!("the state's header does not parse: {e}")),
    };
    if header.magic != MAGIC {
        return Resumed::Unreadable(format!(
            "the state does not start with {MAGIC:?} (found {:?})",
            header.magic
        ));
    }
    if header.version != HANDOVER_VERSION {
        let why = format!(
            "the state is format {} (written by vigil {}), this vigil reads format {HANDOVER_VERSION}",
            header.version, header.vigil_version
        );
        return Resumed::Partial(Box::new(header), why);
    }
    match postcard::from_bytes::<Full>(rest) {
        Ok(full) => Resumed::Exact(Box::new(header), Box::new(full)),
        Err(e) => {
            let why = format!(
                "the state written by vigil {} does not parse: {e}",
                header.vigil_version
            );
            Resumed::Partial(Box::new(header), why)
        }
    }
}

/// The seals that make the state read-only for good.
const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// A sealed memfd holding `bytes` (close-on-exec until the exec marks it).
pub fn seal(bytes: &[u8]) -> std::io::Result<OwnedFd> {
    let name = c"vigil-handover";
    // SAFETY: memfd_create with a valid C string; returns a new descriptor.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)?;
    // SAFETY: fcntl on our descriptor.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file.into())
}

/// Reads the state the previous image left in `fd` (and closes it). A
/// memfd that is not sealed is refused: nothing else may have written it.
pub fn read_sealed(fd: RawFd) -> std::io::Result<Vec<u8>> {
    let fd = crate::runtime::fds::take_inherited(fd).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("descriptor {fd} is not open"),
        )
    })?;
    // SAFETY: fcntl on our descriptor.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals < 0 || seals & SEALS != SEALS {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the state's descriptor is not a sealed memfd",
        ));
    }
    let mut file = std::fs::File::from(fd);
    file.rewind()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The new image's command line: the one vigil was started with (the
/// kernel's, for PID 1), any earlier `--resume N` removed, `--resume FD`
/// appended.
pub fn resume_argv(original: &[OsString], fd: RawFd) -> Vec<OsString> {
    let mut out = Vec::with_capacity(original.len() + 2);
    let mut skip_next = false;
    for arg in original {
        if skip_next {
            skip_next = false;
            continue;
        }
        if arg == RESUME_FLAG {
            skip_next = true;
            continue;
        }
        if arg.as_bytes().starts_with(b"--resume=") {
            continue;
        }
        out.push(arg.clone());
    }
    if out.is_empty() {
        out.push(OsString::from("vigil"));
    }
    out.push(OsString::from(RESUME_FLAG));
    out.push(OsString::from(fd.to_string()));
    out
}

/// What the probe printed, judged: Ok(the format the new binary reads).
pub fn judge_probe(exited_ok: bool, status: &str, stdout: &[u8]) -> Result<u32, String> {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().next().unwrap_or_default();
    let mut words = line.split_whitespace();
    let banner_ok = words.next() == Some(PROBE_BANNER);
    let _version = words.next();
    let format = words.next().and_then(|w| w.parse::<u32>().ok());
    match (exited_ok, banner_ok, format) {
        (true, true, Some(format)) => Ok(format),
        (true, _, _) => Err(format!(
            "it exited 0 but did not answer {CHECK_FLAG} (printed {:?}): not a vigil that can take over",
            line.chars().take(80).collect::<String>()
        )),
        (false, _, _) => Err(format!("{CHECK_FLAG} {status}")),
    }
}

/// The binary vigil was started from, as a path (not /proc/self/exe: after
/// an upgrade replaced the file, the new one must run).
pub fn own_binary() -> PathBuf {
    std::fs::read_link("/proc/self/exe")
        .ok()
        .map(|p| {
            let raw = p.as_os_str().as_bytes();
            match raw.strip_suffix(b" (deleted)") {
                Some(rest) => PathBuf::from(OsStr::from_bytes(rest)),
                None => p,
            }
        })
        .or_else(|| std::env::args_os().next().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/sbin/vigil"))
}

/// Replaces this process's image with `binary` run with `argv` and the
/// current environment. Returns only on failure, with why.
pub fn exec(binary: &Path, argv: &[OsString]) -> std::io::Error {
    let invalid = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a NUL byte in an argument",
        )
    };
    let Ok(path) = CString::new(binary.as_os_str().as_bytes()) else {
        return invalid();
    };
    let Ok(args) = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
    else {
        return invalid();
    };
    let mut arg_ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    arg_ptrs.push(std::ptr::null());
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    // SAFETY: NUL-terminated arrays of valid C strings that outlive the
    // call; execve returns only on failure.
    unsafe { libc::execve(path.as_ptr(), arg_ptrs.as_ptr(), env_ptrs.as_ptr()) };
    std::io::Error::last_os_error()
}

/// What `--check-reexec` prints.
pub fn probe_answer() -> String {
    format!(
        "{PROBE_BANNER} {} {HANDOVER_VERSION}",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resume_argument_replaces_an_earlier_one() {
        let argv: Vec<OsString> = [
            "/sbin/vigil",
            "--units",
            "/u",
            "--resume",
            "7",
            "--resume=9",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let out = resume_argv(&argv, 12);
        let out: Vec<&str> = out.iter().filter_map(|a| a.to_str()).collect();
        assert_eq!(out, ["/sbin/vigil", "--units", "/u", "--resume", "12"]);
        assert_eq!(resume_argv(&[], 3).len(), 3);
    }

    #[test]
    fn the_probe_must_answer_with_the_banner() {
        let ok = probe_answer();
        assert_eq!(
            judge_probe(true, "exited 0", ok.as_bytes()),
            Ok(HANDOVER_VERSION)
        );
        assert!(judge_probe(true, "exited 0", b"hello\n")
            .unwrap_err()
            .contains("did not answer"));
        assert!(judge_probe(false, "exited 3", ok.as_bytes())
            .unwrap_err()
            .contains("exited 3"));
    }

    #[test]
    fn a_sealed_state_reads_back_and_is_read_only() {
        let fd = seal(b"one\ntwo\n").expect("memfd");
        // SAFETY: write to our descriptor; must fail with EPERM (sealed).
        let n = unsafe { libc::write(fd.as_raw_fd(), b"x".as_ptr().cast(), 1) };
        assert_eq!(n, -1);
        let raw = fd.as_raw_fd();
        std::mem::forget(fd);
        assert_eq!(read_sealed(raw).expect("read"), b"one\ntwo\n");
    }

    #[test]
    fn an_unsealed_descriptor_is_not_taken_for_a_state() {
        let file = tempfile::tempfile().expect("file");
        let raw = file.as_raw_fd();
        std::mem::forget(file);
        let err = read_sealed(raw).expect_err("not sealed");
        assert!(err.to_string().contains("not a sealed memfd"), "{err}");
    }

    #[test]
    fn garbage_is_unreadable_and_another_format_is_partial() {
        assert!(matches!(decode(b"{not json"), Resumed::Unreadable(_)));
        assert!(matches!(
            decode(b"{\"magic\":\"x\"}\n"),
            Resumed::Unreadable(_)
        ));
    }

    /// FNV-1a: a fingerprint that stays the same across Rust releases.
    fn fnv1a(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// `Full` is postcard, which carries no field names: a build whose
    /// types differ misreads an older state instead of refusing it. So the
    /// format number must change with the layout, and this test fails
    /// when the encoding of a fixed state changes while it does not.
    #[test]
    fn the_format_number_changes_with_the_states_layout() {
        use crate::manager::{Event, Manager, Now, Settings};
        use crate::unit::{UnitDef, UnitKind};
        use std::collections::BTreeMap;
        let now = Now {
            mono: Duration::from_secs(1),
            unix_secs: 1_700_000_000.0,
        };
        let mut web = UnitDef::new("web");
        web.exec = thin_vec::thin_vec!["/usr/sbin/web".into(), "-f".into()];
        web.wanted_by = thin_vec::thin_vec!["default".into()];
        web.extra_mut().user = Some("www-data".into());
        web.extra_mut().environment.insert("K".into(), "v".into());
        web.extra_mut().aliases = thin_vec::thin_vec!["www".into()];
        web.extra_mut().on_failure = thin_vec::thin_vec!["alert".into()];
        // (Every type of the state appears, so that a change of any of them
        // changes the encoding: an empty list would hide its items' type.)
        web.extra_mut().conditions = vec![
            crate::unit::Condition {
                check: crate::unit::model::Check::Path {
                    test: crate::unit::model::PathTest::DirectoryNotEmpty,
                    path: "/etc/web.d".into(),
                },
                negate: false,
            },
            crate::unit::Condition {
                check: crate::unit::model::Check::Capability(crate::unit::model::Capability(21)),
                negate: true,
            },
        ];
        web.extra_mut().success_exit_status = vec![crate::unit::model::SuccessStatus::Code(75)];
        let mut target = UnitDef::new("default");
        target.kind = UnitKind::Target;
        let units: BTreeMap<String, UnitDef> =
            [("web".into(), web.clone()), ("default".into(), target)].into();
        let mut manager = Manager::new(units, "default", Settings::default(), now);
        manager.handle(Event::Boot, now);
        manager.handle(
            Event::Spawned {
                unit: "web".into(),
                result: Ok(100),
            },
            now,
        );
        let full = Full {
            manager: manager.handover(now).expect("not shutting down"),
            capture: CaptureState::default(),
            generated: vec![web],
        };
        let bytes = postcard::to_stdvec(&full).expect("encodes");
        assert_eq!(
            (HANDOVER_VERSION, fnv1a(&bytes)),
            (7, 1173261872208034836),
            "the state's encoding changed: if its layout did (a field added, \
             removed, moved or retyped), raise HANDOVER_VERSION; then record \
             the new pair here"
        );
    }
}
