//! Host identity and the base environment every service starts with:
//! hostname, timezone and locale.

use std::path::{Path, PathBuf};

use super::report::{StepBuilder, StepReport};
use super::sys::Syscall;
use crate::config::SystemConfig;

use crate::runtime::spawn::DEFAULT_PATH;
const ZONEINFO: &str = "/usr/share/zoneinfo";
const LOCALTIME: &str = "/etc/localtime";
const LOCALE_CONF: &str = "/etc/locale.conf";

/// First non-comment line of /etc/hostname.
pub fn parse_hostname_file(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
}

/// sethostname from vigil.toml, else /etc/hostname; neither is a note, not a failure.
pub fn set_hostname(sys: &dyn Syscall, cfg: &SystemConfig) -> StepReport {
    let mut step = StepBuilder::start("hostname");
    let (name, origin) = match &cfg.hostname {
        Some(h) => (Some(h.clone()), "vigil.toml"),
        None => (
            sys.read_to_string(Path::new("/etc/hostname"))
                .ok()
                .as_deref()
                .and_then(parse_hostname_file),
            "/etc/hostname",
        ),
    };
    let Some(name) = name else {
        step.note("no hostname in vigil.toml or /etc/hostname; kernel default kept");
        return step.finish("unchanged");
    };
    if let Err(e) = sys.sethostname(&name) {
        step.error(format!(
            "sethostname {name:?} (from {origin}): {}",
            e.desc()
        ));
    }
    step.finish(format!("{name} (from {origin})"))
}

/// KEY=VALUE lines of /etc/locale.conf (LANG, LANGUAGE, LC_* only; quotes stripped).
pub fn parse_locale_conf(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .filter(|(k, _)| k == "LANG" || k == "LANGUAGE" || k.starts_with("LC_"))
        .collect()
}

/// reboot(2) CAD_OFF: Ctrl-Alt-Del then sends SIGINT to PID 1 instead of
/// rebooting at once, so the configured action can run.
pub fn disable_ctrl_alt_del(sys: &dyn Syscall) -> StepReport {
    let mut step = StepBuilder::start("ctrl-alt-del");
    if let Err(e) = sys.set_cad_enabled(false) {
        step.error(format!("reboot(CAD_OFF): {}", e.desc()));
    }
    step.finish("Ctrl-Alt-Del sends SIGINT to vigil")
}

/// Point /etc/localtime at the configured zone and build the base service
/// environment (`base_environment`).
pub fn host_environment(
    sys: &dyn Syscall,
    cfg: &SystemConfig,
) -> (StepReport, Vec<(String, String)>) {
    let mut step = StepBuilder::start("timezone-locale");
    let env = base_environment(sys, cfg, &mut |problem| step.error(problem));
    if let Some(zone) = cfg
        .timezone
        .as_ref()
        .map(|tz| PathBuf::from(ZONEINFO).join(tz))
    {
        let link = Path::new(LOCALTIME);
        if sys.exists(&zone) && sys.read_link(link).ok().as_deref() != Some(zone.as_path()) {
            if let Err(e) = sys.symlink(&zone, link) {
                step.note(format!(
                    "could not point {LOCALTIME} at {}: {e} (TZ is still set for services)",
                    zone.display()
                ));
            }
        }
    }
    let summary = env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    (step.finish(summary), env)
}

/// The environment every service starts from, in both modes (docs/config.md):
/// PATH, TZ (only when configured and the zone exists), then the locale
/// variables from vigil.toml or else /etc/locale.conf. Nothing of vigil's
/// own environment. Reads only; `problem` hears what was left out and why.
pub fn base_environment(
    sys: &dyn Syscall,
    cfg: &SystemConfig,
    problem: &mut dyn FnMut(String),
) -> Vec<(String, String)> {
    let mut env = vec![("PATH".to_string(), DEFAULT_PATH.to_string())];
    if let Some(tz) = &cfg.timezone {
        let zone = PathBuf::from(ZONEINFO).join(tz);
        if sys.exists(&zone) {
            env.push(("TZ".to_string(), tz.clone()));
        } else {
            problem(format!(
                "timezone {tz}: {} does not exist; TZ not set",
                zone.display()
            ));
        }
    }
    let locale: Vec<(String, String)> = if cfg.locale.is_empty() {
        sys.read_to_string(Path::new(LOCALE_CONF))
            .map(|t| parse_locale_conf(&t))
            .unwrap_or_default()
    } else {
        cfg.locale
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    env.extend(locale);
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::sys::Recording;
    use nix::errno::Errno;

    #[test]
    fn hostname_from_config_then_file() {
        let sys = Recording::new();
        sys.add_file("/etc/hostname", "# c\nfilehost\n");
        let mut cfg = SystemConfig::default();
        assert!(set_hostname(&sys, &cfg).is_ok());
        cfg.hostname = Some("cfghost".into());
        assert!(set_hostname(&sys, &cfg).is_ok());
        assert_eq!(sys.texts(), ["sethostname filehost", "sethostname cfghost"]);
        sys.fail("sethostname cfghost", Errno::EPERM, None);
        assert!(!set_hostname(&sys, &cfg).is_ok());
        let empty = Recording::new();
        let r = set_hostname(&empty, &SystemConfig::default());
        assert!(r.is_ok() && !r.notes.is_empty());
        assert!(empty.texts().is_empty());
    }

    #[test]
    fn environment_with_timezone_and_locale_conf() {
        let sys = Recording::new();
        sys.add_file("/usr/share/zoneinfo/Europe/Paris", "TZif");
        sys.add_file(
            "/etc/locale.conf",
            "LANG=\"de_DE.UTF-8\"\nLC_TIME=C\nFOO=bar\n",
        );
        let cfg = SystemConfig {
            timezone: Some("Europe/Paris".into()),
            ..Default::default()
        };
        let (r, env) = host_environment(&sys, &cfg);
        assert!(r.is_ok(), "{r}");
        assert_eq!(
            env,
            [
                ("PATH".into(), DEFAULT_PATH.into()),
                ("TZ".into(), "Europe/Paris".into()),
                ("LANG".into(), "de_DE.UTF-8".into()),
                ("LC_TIME".into(), "C".into()),
            ]
        );
        assert_eq!(
            sys.link("/etc/localtime"),
            Some(PathBuf::from("/usr/share/zoneinfo/Europe/Paris"))
        );
    }

    #[test]
    fn config_locale_wins_and_bad_zone_is_reported() {
        let sys = Recording::new();
        sys.add_file("/etc/locale.conf", "LANG=de_DE.UTF-8\n");
        let mut cfg = SystemConfig {
            timezone: Some("Mars/Olympus".into()),
            ..Default::default()
        };
        cfg.locale.insert("LANG".into(), "C.UTF-8".into());
        let (r, env) = host_environment(&sys, &cfg);
        assert!(!r.is_ok());
        assert_eq!(
            env,
            [
                ("PATH".into(), DEFAULT_PATH.into()),
                ("LANG".into(), "C.UTF-8".into())
            ]
        );
        assert!(sys.texts().is_empty(), "no symlink for a missing zone");
    }

    #[test]
    fn cad_off() {
        let sys = Recording::new();
        assert!(disable_ctrl_alt_del(&sys).is_ok());
        assert_eq!(sys.texts(), ["cad false"]);
    }
}
