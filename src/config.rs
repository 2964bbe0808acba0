//! System settings from /etc/vigil/vigil.toml. Every problem is returned as
//! a message naming file:line:col and the field, and the rest still applies,
//! so one typo never costs a machine its gettys. See docs/config.md.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::{Spanned, Value};

use crate::diagnostic::Diagnostic;
use crate::log::Level;

/// Where PID 1 reads its settings.
pub const CONFIG_PATH: &str = "/etc/vigil/vigil.toml";
/// Where PID 1 reads its units (and vigilctl edits them by default).
pub const UNITS_DIR: &str = "/etc/vigil/units";

/// What to do on Ctrl-Alt-Del (SIGINT to PID 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CtrlAltDel {
    #[default]
    Reboot,
    Poweroff,
    Ignore,
}

/// What SIGTERM to PID 1 means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigtermAction {
    #[default]
    Poweroff,
    Reboot,
}

/// Which device manager to run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UdevSetting {
    /// Look for systemd-udevd, eudev's udevd, then busybox mdev.
    #[default]
    Auto,
    /// Run none.
    None,
    /// Run this argv (mdev mode when the program's name contains "mdev").
    Command(Vec<String>),
}

/// One `[[tty]]` entry: a getty generated as a supervised service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TtyConfig {
    /// `ttyS1` or `/dev/ttyS1`.
    pub device: String,
    /// Default /sbin/agetty.
    pub getty: Option<PathBuf>,
    /// Replaces the default `-L BAUD DEVICE TERM` argv tail when set.
    pub args: Option<Vec<String>>,
    pub baud: Option<u32>,
    pub term: Option<String>,
}

/// The parsed vigil.toml. A missing file is the default configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemConfig {
    /// Members of this group may use every control verb (root always may).
    pub admin_group: Option<String>,
    /// Target to bring up when neither `--target` nor `vigil.target=` says.
    pub default_target: Option<String>,
    pub ctrl_alt_del: CtrlAltDel,
    /// Else /etc/hostname.
    pub hostname: Option<String>,
    /// A zoneinfo name such as `Europe/Paris`.
    pub timezone: Option<String>,
    /// LANG / LC_* for services; empty: /etc/locale.conf.
    pub locale: BTreeMap<String, String>,
    pub modules: Vec<String>,
    /// Extra swap devices or files (paths, or UUID=/LABEL=).
    pub swap: Vec<String>,
    pub udev: UdevSetting,
    pub tty: Vec<TtyConfig>,
    pub sigterm: SigtermAction,
    /// Upper bound on the whole shutdown sequence.
    pub shutdown_timeout: Duration,
    pub log_level: Level,
    /// Where service logs and vigil.log go; None: the mode's default
    /// (`/var/log/vigil` as init, `log/` beside the control socket as a
    /// supervisor).
    pub log_dir: Option<PathBuf>,
    /// Default rotation of every log (a unit may override it).
    pub log_limits: crate::logs::store::LogLimits,
}

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig {
            admin_group: None,
            default_target: None,
            ctrl_alt_del: CtrlAltDel::Reboot,
            hostname: None,
            timezone: None,
            locale: BTreeMap::new(),
            modules: Vec::new(),
            swap: Vec::new(),
            udev: UdevSetting::Auto,
            tty: Vec::new(),
            sigterm: SigtermAction::Poweroff,
            shutdown_timeout: Duration::from_secs(90),
            log_level: Level::Info,
            log_dir: None,
            log_limits: crate::logs::store::DEFAULT_LIMITS,
        }
    }
}

/// Every top-level key, for unknown-key hints.
pub const KEYS: [&str; 16] = [
    "hostname",
    "timezone",
    "locale",
    "modules",
    "swap",
    "udev",
    "tty",
    "ctrl_alt_del",
    "sigterm",
    "shutdown_timeout",
    "default_target",
    "admin_group",
    "log_level",
    "log_dir",
    "log_max_size",
    "log_keep",
];
const TTY_KEYS: [&str; 5] = ["device", "getty", "args", "baud", "term"];

impl SystemConfig {
    /// The gid of `admin_group`, looked up in /etc/group. Err says why the
    /// group gives no rights (an unknown group: only root may control vigil).
    pub fn admin_gid(&self) -> Result<Option<u32>, String> {
        let Some(name) = self.admin_group.as_deref() else {
            return Ok(None);
        };
        match crate::accounts::lookup_group(name) {
            Ok(Some(gid)) => Ok(Some(gid)),
            Ok(None) => Err(format!(
                "admin_group {name:?}: no such group in /etc/group; only root may control vigil"
            )),
            Err(e) => Err(format!(
                "admin_group {name:?}: {e}; only root may control vigil"
            )),
        }
    }
}

/// vigil.toml larger than this is not one.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Read and validate vigil.toml; problems are returned as readable messages
/// naming file, line and field, and the rest of the file still applies.
pub fn load_config(path: &Path) -> (SystemConfig, Vec<Diagnostic>) {
    // A FIFO would block the read (and vigil's event loop on reload).
    let read =
        crate::regular_file::read_regular(path, MAX_CONFIG_BYTES, true).and_then(|(b, _)| {
            String::from_utf8(b).map_err(|e| {
                crate::regular_file::ReadError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("not valid UTF-8: {e}"),
                ))
            })
        });
    match read {
        Ok(text) => parse_config(&text, &path.display().to_string()),
        Err(e) if e.is_not_found() => (SystemConfig::default(), Vec::new()),
        Err(e) => (
            SystemConfig::default(),
            vec![Diagnostic::file_error(path, format!("cannot read: {e}"))],
        ),
    }
}

type SpannedTable = BTreeMap<Spanned<String>, Spanned<Value>>;

#[derive(Deserialize)]
struct TtySpans {
    #[serde(default)]
    tty: Vec<SpannedTable>,
}

#[derive(Deserialize)]
struct LocaleSpans {
    locale: SpannedTable,
}

/// Turns byte offsets into `file:line:col` messages.
struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
    problems: Vec<(usize, Diagnostic)>,
}

impl Ctx<'_> {
    fn at(&mut self, span: Range<usize>, msg: String) {
        let before = self.text.get(..span.start).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let problem = Diagnostic::error_at(Path::new(self.file), line, col, msg);
        self.problems.push((span.start, problem));
    }
}

/// Parse vigil.toml text; `file` names it in messages.
pub fn parse_config(text: &str, file: &str) -> (SystemConfig, Vec<Diagnostic>) {
    let mut cfg = SystemConfig::default();
    let mut ctx = Ctx {
        text,
        file,
        problems: Vec::new(),
    };
    let table: SpannedTable = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            ctx.at(span, format!("syntax error: {}", e.message().trim()));
            return (cfg, ctx.problems.into_iter().map(|p| p.1).collect());
        }
    };
    for (key, value) in &table {
        let name = key.get_ref().as_str();
        let span = value.span();
        let v = value.get_ref();
        let res: Result<(), String> = match name {
            "hostname" => string(v).and_then(|s| {
                valid_hostname(&s)?;
                cfg.hostname = Some(s);
                Ok(())
            }),
            "timezone" => string(v).and_then(|s| {
                if s.is_empty() || s.starts_with('/') || s.split('/').any(|p| p == "..") {
                    return Err(format!(
                        "{s:?} is not a zoneinfo name such as \"Europe/Paris\""
                    ));
                }
                cfg.timezone = Some(s);
                Ok(())
            }),
            "locale" => match v {
                Value::String(s) => {
                    cfg.locale.insert("LANG".into(), s.clone());
                    Ok(())
                }
                Value::Table(_) => {
                    locale_table(text, &mut ctx, &mut cfg);
                    Ok(())
                }
                other => Err(format!(
                    "expected a LANG string or a table of LANG/LC_* strings, found {}",
                    other.type_str()
                )),
            },
            "modules" => strings(v).map(|l| cfg.modules = l),
            "swap" => strings(v).map(|l| cfg.swap = l),
            "udev" => udev(v).map(|u| cfg.udev = u),
            "tty" => {
                if matches!(v, Value::Array(a) if a.iter().all(|t| t.is_table())) {
                    ttys(text, &mut ctx, &mut cfg);
                    Ok(())
                } else {
                    Err(format!(
                        "expected an array of tables ([[tty]]), found {}",
                        v.type_str()
                    ))
                }
            }
            "ctrl_alt_del" => one_of(v, &["reboot", "poweroff", "ignore"]).map(|s| {
                cfg.ctrl_alt_del = match s {
                    "poweroff" => CtrlAltDel::Poweroff,
                    "ignore" => CtrlAltDel::Ignore,
                    _ => CtrlAltDel::Reboot,
                }
            }),
            "sigterm" => one_of(v, &["poweroff", "reboot"]).map(|s| {
                cfg.sigterm = if s == "reboot" {
                    SigtermAction::Reboot
                } else {
                    SigtermAction::Poweroff
                }
            }),
            "shutdown_timeout" => duration(v).map(|d| cfg.shutdown_timeout = d),
            "default_target" => string(v).map(|s| cfg.default_target = Some(s)),
            "admin_group" => string(v).map(|s| cfg.admin_group = Some(s)),
            "log_level" => one_of(v, &["debug", "info", "warning", "error"])
                .map(|s| cfg.log_level = crate::log::parse_level(s).unwrap_or(Level::Info)),
            "log_dir" => string(v).and_then(|s| {
                if !s.starts_with('/') || s.contains('\0') {
                    return Err(format!("{s:?} is not an absolute path"));
                }
                cfg.log_dir = Some(PathBuf::from(s));
                Ok(())
            }),
            "log_max_size" => log_size(v).map(|n| cfg.log_limits.max_size = n),
            "log_keep" => match v {
                Value::Integer(i) if (0..=1000).contains(i) => {
                    cfg.log_limits.keep = u32::try_from(*i).unwrap_or(0);
                    Ok(())
                }
                other => Err(format!(
                    "expected an integer from 0 to 1000, found {}",
                    other.type_str()
                )),
            },
            _ => {
                ctx.at(key.span(), unknown_key(name, &KEYS));
                Ok(())
            }
        };
        if let Err(msg) = res {
            ctx.at(span, format!("{name}: {msg}"));
        }
    }
    ctx.problems.sort_by_key(|p| p.0);
    (cfg, ctx.problems.into_iter().map(|p| p.1).collect())
}

fn locale_table(text: &str, ctx: &mut Ctx<'_>, cfg: &mut SystemConfig) {
    let Ok(spans) = toml::from_str::<LocaleSpans>(text) else {
        return;
    };
    for (k, v) in spans.locale {
        let key = k.get_ref();
        if key != "LANG" && key != "LANGUAGE" && !key.starts_with("LC_") {
            ctx.at(
                k.span(),
                format!("locale.{key}: not a locale variable (LANG, LANGUAGE or LC_*)"),
            );
            continue;
        }
        match v.get_ref() {
            Value::String(s) => {
                cfg.locale.insert(key.clone(), s.clone());
            }
            other => ctx.at(
                v.span(),
                format!(
                    "locale.{key}: expected a string, found {}",
                    other.type_str()
                ),
            ),
        }
    }
}

fn ttys(text: &str, ctx: &mut Ctx<'_>, cfg: &mut SystemConfig) {
    let Ok(spans) = toml::from_str::<TtySpans>(text) else {
        return;
    };
    for (i, table) in spans.tty.iter().enumerate() {
        let mut tty = TtyConfig::default();
        let mut ok = true;
        let mut first = None;
        for (k, v) in table {
            let key = k.get_ref().as_str();
            first = Some(first.map_or(k.span().start, |f: usize| f.min(k.span().start)));
            let val = v.get_ref();
            let res = match key {
                "device" => string(val).map(|s| tty.device = s),
                "getty" => string(val).map(|s| tty.getty = Some(PathBuf::from(s))),
                "args" => strings(val).map(|a| tty.args = Some(a)),
                "baud" => match val {
                    Value::Integer(n) => u32::try_from(*n)
                        .map(|b| tty.baud = Some(b))
                        .map_err(|_| format!("{n} is not a baud rate")),
                    Value::String(s) => s
                        .parse()
                        .map(|b| tty.baud = Some(b))
                        .map_err(|_| format!("{s:?} is not a baud rate")),
                    other => Err(format!("expected an integer, found {}", other.type_str())),
                },
                "term" => string(val).map(|s| tty.term = Some(s)),
                _ => {
                    ctx.at(k.span(), format!("tty: {}", unknown_key(key, &TTY_KEYS)));
                    continue;
                }
            };
            if let Err(msg) = res {
                ok = false;
                ctx.at(v.span(), format!("tty[{i}].{key}: {msg}"));
            }
        }
        if tty.device.is_empty() {
            ok = false;
            let at = first.unwrap_or(0);
            ctx.at(
                at..at,
                format!("tty[{i}]: `device` is required; entry ignored"),
            );
        }
        if ok {
            cfg.tty.push(tty);
        }
    }
}

fn string(v: &Value) -> Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("expected a string, found {}", v.type_str()))
}

fn strings(v: &Value) -> Result<Vec<String>, String> {
    let Value::Array(a) = v else {
        return Err(format!(
            "expected an array of strings, found {}",
            v.type_str()
        ));
    };
    a.iter()
        .map(|x| {
            x.as_str().map(str::to_string).ok_or_else(|| {
                format!(
                    "expected an array of strings, found a {} in it",
                    x.type_str()
                )
            })
        })
        .collect()
}

fn one_of<'a>(v: &Value, choices: &[&'a str]) -> Result<&'a str, String> {
    let s = string(v)?;
    choices.iter().copied().find(|c| *c == s).ok_or_else(|| {
        format!(
            "{s:?} is not one of {}{}",
            choices.join(", "),
            did_you_mean(&s, choices)
        )
    })
}

fn udev(v: &Value) -> Result<UdevSetting, String> {
    match v {
        Value::String(s) if s == "auto" => Ok(UdevSetting::Auto),
        Value::String(s) if s == "none" => Ok(UdevSetting::None),
        Value::String(s) => match shlex::split(s) {
            Some(argv) if !argv.is_empty() => Ok(UdevSetting::Command(argv)),
            _ => Err(format!("{s:?} is not a command line")),
        },
        Value::Array(_) => {
            let argv = strings(v)?;
            if argv.is_empty() {
                Err("empty command".to_string())
            } else {
                Ok(UdevSetting::Command(argv))
            }
        }
        other => Err(format!(
            "expected \"auto\", \"none\", a command string or an argv array, found {}",
            other.type_str()
        )),
    }
}

fn log_size(v: &Value) -> Result<u64, String> {
    let n = match v {
        Value::Integer(i) => u64::try_from(*i).map_err(|_| format!("{i} is not a size"))?,
        Value::String(s) => crate::logs::size::parse_size(s)?,
        other => {
            return Err(format!(
                "expected a byte count or a size such as \"1M\", found {}",
                other.type_str()
            ))
        }
    };
    let min = crate::logs::store::MIN_MAX_SIZE;
    if n < min {
        return Err(format!("must be at least {min} bytes (8K), found {n}"));
    }
    Ok(n)
}

fn duration(v: &Value) -> Result<Duration, String> {
    match v {
        Value::Integer(n) => u64::try_from(*n)
            .map(Duration::from_secs)
            .map_err(|_| format!("{n} is negative")),
        Value::String(s) => parse_duration(s),
        other => Err(format!(
            "expected a duration such as \"90s\", found {}",
            other.type_str()
        )),
    }
}

/// `"500ms"`, `"90s"`, `"2m"`, `"1h"`, or a bare number of seconds: the same
/// language as unit files (`unit::scalar::parse_duration`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::unit::scalar::parse_duration(s).map_err(|why| format!("invalid duration {s:?}: {why}"))
}

fn valid_hostname(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !s.starts_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid hostname (1-64 letters, digits, '-' and '.')"
        ))
    }
}

fn unknown_key(key: &str, known: &[&str]) -> String {
    format!("unknown key `{key}`{}", did_you_mean(key, known))
}

/// ` (did you mean `x`?)` when some known word is close, else empty; the
/// same matching as unit files (`unit::suggest::did_you_mean`).
pub fn did_you_mean(word: &str, known: &[&str]) -> String {
    crate::unit::suggest::did_you_mean(word, known)
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(p: &[Diagnostic]) -> Vec<String> {
        p.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn missing_file_is_default() {
        let (c, p) = load_config(Path::new("/nonexistent/vigil.toml"));
        assert_eq!(c, SystemConfig::default());
        assert!(p.is_empty());
    }

    #[test]
    fn example_file_loads_cleanly() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/vigil.toml");
        let (c, p) = load_config(&path);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(c.hostname.as_deref(), Some("vigil-demo"));
        assert_eq!(c.tty.len(), 2);
        assert_eq!(c.modules, ["virtio_pci", "virtio_blk", "ext4", "loop"]);
        assert_eq!(c.ctrl_alt_del, CtrlAltDel::Reboot);
        assert_eq!(c.shutdown_timeout, Duration::from_secs(30));
    }

    #[test]
    fn full_settings() {
        let text = r#"
hostname = "box"
timezone = "Europe/Paris"
locale = { LANG = "en_US.UTF-8", LC_TIME = "C.UTF-8" }
modules = ["loop"]
swap = ["/swapfile"]
udev = "/sbin/udevd --debug"
ctrl_alt_del = "ignore"
sigterm = "reboot"
shutdown_timeout = "500ms"
default_target = "multi-user"
admin_group = "wheel"
log_level = "debug"

[[tty]]
device = "ttyS1"
baud = 9600
term = "xterm"

[[tty]]
device = "/dev/tty1"
getty = "/sbin/getty"
args = ["38400", "tty1"]
"#;
        let (c, p) = parse_config(text, "vigil.toml");
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(c.timezone.as_deref(), Some("Europe/Paris"));
        assert_eq!(c.locale.get("LC_TIME").map(String::as_str), Some("C.UTF-8"));
        assert_eq!(
            c.udev,
            UdevSetting::Command(vec!["/sbin/udevd".into(), "--debug".into()])
        );
        assert_eq!(c.ctrl_alt_del, CtrlAltDel::Ignore);
        assert_eq!(c.sigterm, SigtermAction::Reboot);
        assert_eq!(c.shutdown_timeout, Duration::from_millis(500));
        assert_eq!(c.log_level, Level::Debug);
        assert_eq!(c.tty[0].baud, Some(9600));
        assert_eq!(
            c.tty[1].args.as_deref(),
            Some(&["38400".to_string(), "tty1".to_string()][..])
        );
        let (c, _) = parse_config("locale = \"C.UTF-8\"\nudev = \"none\"", "f");
        assert_eq!(c.locale.get("LANG").map(String::as_str), Some("C.UTF-8"));
        assert_eq!(c.udev, UdevSetting::None);
    }

    #[test]
    fn errors_name_line_col_and_field_and_the_rest_applies() {
        let text = "hostname = \"ok-host\"\nhostnme = \"x\"\nctrl_alt_del = \"rebot\"\nmodules = [\"a\", 3]\n\n[[tty]]\ndevice = \"ttyS0\"\nbuad = 9600\n\n[[tty]]\nterm = \"vt100\"\n";
        let (c, p) = parse_config(text, "/etc/vigil/vigil.toml");
        assert_eq!(c.hostname.as_deref(), Some("ok-host"));
        assert_eq!(c.tty.len(), 1, "the tty with an unknown key still applies");
        assert_eq!(c.tty[0].device, "ttyS0");
        assert_eq!(
            texts(&p),
            [
                "/etc/vigil/vigil.toml:2:1: error: unknown key `hostnme` (did you mean `hostname`?)",
                "/etc/vigil/vigil.toml:3:16: error: ctrl_alt_del: \"rebot\" is not one of reboot, poweroff, ignore (did you mean `reboot`?)",
                "/etc/vigil/vigil.toml:4:11: error: modules: expected an array of strings, found a integer in it",
                "/etc/vigil/vigil.toml:8:1: error: tty: unknown key `buad` (did you mean `baud`?)",
                "/etc/vigil/vigil.toml:11:1: error: tty[1]: `device` is required; entry ignored",
            ]
        );
    }

    #[test]
    fn nested_errors_are_located() {
        let text = "locale = { LANG = \"C.UTF-8\", LC_TIME = 5, PATH = \"/x\" }\n[tty]\ndevice = \"ttyS0\"\n";
        let (c, p) = parse_config(text, "f");
        assert_eq!(c.locale.get("LANG").map(String::as_str), Some("C.UTF-8"));
        assert_eq!(c.locale.len(), 1);
        assert!(c.tty.is_empty());
        assert_eq!(
            texts(&p),
            [
                "f:1:40: error: locale.LC_TIME: expected a string, found integer",
                "f:1:43: error: locale.PATH: not a locale variable (LANG, LANGUAGE or LC_*)",
                "f:2:1: error: tty: expected an array of tables ([[tty]]), found table",
            ]
        );
        let (c, p) = parse_config(
            "tty = [{ device = \"ttyS2\", baud = \"fast\" }, { device = \"hvc0\" }]",
            "f",
        );
        assert_eq!(c.tty.len(), 1);
        assert_eq!(c.tty[0].device, "hvc0");
        assert_eq!(
            texts(&p),
            ["f:1:35: error: tty[0].baud: \"fast\" is not a baud rate"]
        );
    }

    #[test]
    fn syntax_error_is_located_and_defaults_apply() {
        let (c, p) = parse_config("hostname = \"a\"\nmodules = [\n", "v.toml");
        assert_eq!(c, SystemConfig::default());
        assert_eq!(p.len(), 1);
        assert!(p[0].to_string().starts_with("v.toml:"), "{p:?}");
        assert!(p[0].message.contains("syntax error"), "{p:?}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("s").is_err());
    }
}
