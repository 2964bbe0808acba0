//! `vigilctl import`: a systemd service file (with its drop-ins) becomes a
//! vigil unit. Pure: text in, TOML and notes out. Every directive that does
//! not carry over is a note `FILE:LINE: Directive: why`, saying what the
//! unit loses; socket and bus activation, cgroups and sandboxing are out of
//! vigil's scope and said to be.

mod verify;
mod words;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::unit::model::PathTest;

/// One `Key=value` of a unit file, where it was written.
#[derive(Debug, Clone)]
struct Entry {
    section: String,
    key: String,
    value: String,
    file: PathBuf,
    line: usize,
}

/// What could not be carried over, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub file: PathBuf,
    pub line: usize,
    pub directive: String,
    pub why: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.directive,
            self.why
        )
    }
}

/// A translated unit.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The vigil unit's name (`ssh`, `getty@` for a template).
    pub name: String,
    pub toml: String,
    pub notes: Vec<Note>,
    /// vigil targets the unit refers to that `import` can write too
    /// (`network`), so the result loads without a warning.
    pub targets: Vec<String>,
}

/// Why a file could not be imported at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: {why}")]
    Bad { file: String, why: String },
}

/// The targets systemd reaches in its early boot: a unit they want starts
/// in vigil's boot with the others (`[Install]`; as an ordering they are
/// dropped, see `map_unit`).
const EARLY_BOOT_TARGETS: &[&str] = &[
    "sysinit.target",
    "basic.target",
    "local-fs.target",
    "local-fs-pre.target",
    "remote-fs.target",
    "remote-fs-pre.target",
];

/// systemd units vigil has an equivalent for, or drops on purpose.
fn map_unit(name: &str) -> Result<Option<&'static str>, &'static str> {
    Ok(match name {
        "multi-user.target" | "graphical.target" | "default.target" => Some("default"),
        "network.target" | "network-online.target" => Some("network"),
        "network-pre.target" => {
            return Err("vigil has no network-pre target: a unit that must run before networking is ordered before `networking` itself")
        }
        "getty.target" => Some("default"),
        "local-fs.target" | "remote-fs.target" | "local-fs-pre.target" | "remote-fs-pre.target" => {
            return Err("vigil mounts /etc/fstab before it starts any unit")
        }
        "sysinit.target" | "basic.target" | "sockets.target" | "timers.target"
        | "paths.target" | "slices.target" | "swap.target" => {
            return Err("vigil starts units once early boot is done; nothing to order against")
        }
        // vigil's own udev units (boot/units.rs), generated at boot as PID 1.
        "systemd-udevd.service" => Some(crate::boot::units::UDEVD_UNIT),
        "systemd-udev-trigger.service" => Some(crate::boot::units::TRIGGER_UNIT),
        "systemd-udev-settle.service" => Some(crate::boot::units::COLDPLUG_UNIT),
        "systemd-modules-load.service" => {
            return Err("vigil loads kernel modules (vigil.toml, /etc/modules-load.d) in early boot, before any unit")
        }
        "shutdown.target" | "reboot.target" | "poweroff.target" | "halt.target"
        | "kexec.target" | "umount.target" | "final.target" | "exit.target"
        | "ctrl-alt-del.target" => {
            return Err("vigil stops every unit at shutdown by itself")
        }
        "rescue.target" | "emergency.target" | "rescue.service" | "emergency.service" => {
            return Err("vigil has no rescue or emergency mode: a failure is logged and the boot goes on")
        }
        "sleep.target" | "suspend.target" | "hibernate.target" | "hybrid-sleep.target"
        | "suspend-then-hibernate.target" => {
            return Err("vigil does not suspend or hibernate the machine: nothing to order against")
        }
        _ if name.starts_with("initrd") && name.ends_with(".target") => {
            return Err("vigil does not run in the initrd: nothing to order against")
        }
        "cryptsetup.target" | "cryptsetup-pre.target" | "remote-cryptsetup.target"
        | "veritysetup.target" | "veritysetup-pre.target" | "integritysetup.target"
        | "integritysetup-pre.target" => {
            return Err("vigil sets up no encrypted, verity or integrity devices: nothing to order against")
        }
        "bluetooth.target" | "printer.target" | "smartcard.target" | "sound.target"
        | "usb-gadget.target" => {
            return Err("vigil starts no unit when hardware appears: the unit starts with the others")
        }
        "system-update.target" | "system-update-pre.target" | "first-boot-complete.target"
        | "factory-reset.target" | "getty-pre.target" | "rpcbind.target"
        | "nss-lookup.target" | "nss-user-lookup.target" | "time-sync.target" | "time-set.target" => {
            return Err("a synchronization point vigil does not have")
        }
        _ if name.ends_with(".socket") => {
            return Err("socket activation is out of vigil's scope: the daemon must open its own sockets")
        }
        _ if name.ends_with(".device") || name.ends_with(".mount") || name.ends_with(".slice")
            || name.ends_with(".path") || name.ends_with(".timer") || name.ends_with(".swap")
            || name.ends_with(".automount") || name.ends_with(".scope") =>
        {
            return Err("vigil manages services and targets only")
        }
        _ => None,
    })
}

/// `ssh.service` -> `ssh`, `getty@.service` -> `getty@`; targets mapped.
fn unit_name(name: &str) -> Result<String, &'static str> {
    if let Some(mapped) = map_unit(name)? {
        return Ok(mapped.to_string());
    }
    let base = name
        .strip_suffix(".service")
        .or_else(|| name.strip_suffix(".target"))
        .unwrap_or(name);
    Ok(specifiers(base).0)
}

/// systemd's specifiers as vigil's (`%I` is `%i`: instances are names
/// here); the ones vigil has no equivalent for are listed.
fn specifiers(text: &str) -> (String, Vec<char>) {
    let mut out = String::with_capacity(text.len());
    let mut unknown = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('i' | 'I') => out.push_str("%i"),
            Some('n' | 'N') => out.push_str("%n"),
            Some('p' | 'P') => out.push_str("%p"),
            Some('t') => out.push_str("/run"),
            Some('S') => out.push_str("/var/lib"),
            Some('%') => out.push_str("%%"),
            Some(other) => {
                unknown.push(other);
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    (out, unknown)
}

/// The lines of a unit file as entries, continuation lines joined.
fn parse_ini(text: &str, file: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending: Option<(String, usize)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let (mut line, start) = match pending.take() {
            Some((acc, start)) => (format!("{acc} {}", raw.trim()), start),
            None => (raw.trim().to_string(), line_no),
        };
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(cont) = line.strip_suffix('\\') {
            pending = Some((cont.trim_end().to_string(), start));
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.push(Entry {
                section: section.clone(),
                key: k.trim().to_string(),
                value: v.trim().to_string(),
                file: file.to_path_buf(),
                line: start,
            });
        } else {
            line.insert_str(0, "not KEY=VALUE: ");
            out.push(Entry {
                section: section.clone(),
                key: String::new(),
                value: line,
                file: file.to_path_buf(),
                line: start,
            });
        }
    }
    out
}

/// Directives whose values are lists (an empty assignment resets them).
const LISTS: &[&str] = &[
    "After",
    "Before",
    "Wants",
    "Requires",
    "WantedBy",
    "RequiredBy",
    "ExecStart",
    "ExecStartPre",
    "ExecStartPost",
    "ExecStop",
    "ExecReload",
    "ExecStopPost",
    "Environment",
    "EnvironmentFile",
    "ConditionCapability",
    "OnFailure",
    "SupplementaryGroups",
    "RuntimeDirectory",
    "StateDirectory",
    "Documentation",
    "Alias",
    "Also",
    "SuccessExitStatus",
];

/// Sandboxing and resource-control directives: out of scope.
const OUT_OF_SCOPE: &[&str] = &[
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "PrivateNetwork",
    "PrivateUsers",
    "NoNewPrivileges",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectClock",
    "ProtectHostname",
    "ProtectProc",
    "ProcSubset",
    "RestrictNamespaces",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "RestrictAddressFamilies",
    "SystemCallFilter",
    "SystemCallArchitectures",
    "SystemCallErrorNumber",
    "LockPersonality",
    "MemoryDenyWriteExecute",
    "CapabilityBoundingSet",
    "AmbientCapabilities",
    "ReadWritePaths",
    "ReadOnlyPaths",
    "InaccessiblePaths",
    "DeviceAllow",
    "DevicePolicy",
    "IPAddressDeny",
    "IPAddressAllow",
    "KeyringMode",
    "RemoveIPC",
    "UMaskMode",
    "Slice",
    "CPUQuota",
    "CPUWeight",
    "MemoryMax",
    "MemoryHigh",
    "MemoryLimit",
    "TasksMax",
    "IOWeight",
    "Delegate",
    "DynamicUser",
    "SELinuxContext",
    "AppArmorProfile",
    "SecureBits",
];

/// The BSD exit status names systemd accepts (`EXIT_DATAERR` as `DATAERR`),
/// sysexits.h's numbers.
const EXIT_NAMES: &[(&str, i64)] = &[
    ("USAGE", 64),
    ("DATAERR", 65),
    ("NOINPUT", 66),
    ("NOUSER", 67),
    ("NOHOST", 68),
    ("UNAVAILABLE", 69),
    ("SOFTWARE", 70),
    ("OSERR", 71),
    ("OSFILE", 72),
    ("CANTCREAT", 73),
    ("IOERR", 74),
    ("TEMPFAIL", 75),
    ("PROTOCOL", 76),
    ("NOPERM", 77),
    ("CONFIG", 78),
];

/// One word of `SuccessExitStatus=` as an entry of vigil's
/// `success_exit_status`: a code, or a signal's name.
fn success_status(word: &str) -> Option<toml::Value> {
    if let Ok(code) = word.parse::<i64>() {
        return (0..=255)
            .contains(&code)
            .then_some(toml::Value::Integer(code));
    }
    if let Some((_, code)) = EXIT_NAMES.iter().find(|(n, _)| *n == word) {
        return Some(toml::Value::Integer(*code));
    }
    let signal = if word.starts_with("SIG") {
        word.to_string()
    } else {
        format!("SIG{word}")
    };
    crate::unit::scalar::parse_signal(&signal)
        .ok()
        .map(|_| toml::Value::String(signal))
}

/// vigil's key for systemd's `Limit*=` directive.
fn limit_key(directive: &str) -> Option<&'static str> {
    crate::unit::limits::RESOURCES
        .iter()
        .find(|r| r.3 == directive)
        .map(|r| r.0)
}

/// systemd's time span (`5min`, `90`, `1min 30s`, `infinity`) as vigil
/// writes it.
fn time_span(value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v == "infinity" {
        return Some("100000d".to_string());
    }
    // vigil's durations take the same units; a bare number is seconds.
    let mapped = v
        .replace("sec", "s")
        .replace("msec", "ms")
        .replace("usec", "us");
    crate::unit::scalar::parse_duration(&mapped)
        .ok()
        .map(|_| mapped)
}

/// A command line: its prefixes (`-` kept for vigil; `@`, `+`, `!`, `:`
/// noted), split into words.
fn command(value: &str) -> Result<(Vec<String>, Vec<String>), String> {
    let mut rest = value.trim();
    let mut optional = false;
    let mut lost = Vec::new();
    loop {
        match rest.chars().next() {
            Some('-') => optional = true,
            Some('@') => lost.push("the @ prefix (a different argv[0]) is not supported".to_string()),
            Some('+') | Some('!') => lost.push(format!(
                "the {} prefix (privileges beyond the unit's user) is not supported: the command runs with the unit's credentials",
                rest.chars().next().unwrap_or('+')
            )),
            Some(':') => lost.push("the : prefix is not supported: $VARs are expanded".to_string()),
            _ => break,
        }
        rest = rest.get(1..).unwrap_or_default();
    }
    let (text, unknown) = specifiers(rest);
    for c in unknown {
        lost.push(format!("the specifier %{c} has no vigil equivalent"));
    }
    let mut argv =
        words::split(&text).map_err(|why| format!("cannot split {value:?} into words: {why}"))?;
    if optional {
        if let Some(first) = argv.first_mut() {
            first.insert(0, '-');
        }
    }
    Ok((argv, lost))
}

/// systemd's `Environment=` words: `A=1 "B=two words"`.
fn environment(value: &str) -> Vec<(String, String)> {
    words::split(value)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|w| {
            let (k, v) = w.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// The vigil names of the units a list directive names (`After=a.service
/// b.target`), in order, once each; what maps to nothing becomes a note,
/// and the vigil targets met are added to `targets`.
fn unit_list(
    list: &[Entry],
    key: &str,
    targets: &mut Vec<String>,
    notes: &mut Vec<Note>,
) -> Vec<String> {
    let mut names = Vec::new();
    for e in list {
        for word in e.value.split_whitespace() {
            match unit_name(word) {
                Ok(n) => {
                    if n == "network" && !targets.contains(&n) {
                        targets.push(n.clone());
                    }
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
                Err(why) => notes.push(Note {
                    file: e.file.clone(),
                    line: e.line,
                    directive: format!("{key}={word}"),
                    why: format!("dropped: {why}"),
                }),
            }
        }
    }
    names
}

/// Translate `file` (its text, and the drop-ins' (path, text) in order).
pub fn import(
    file: &Path,
    text: &str,
    dropins: &[(PathBuf, String)],
) -> Result<Imported, ImportError> {
    let file_name = file
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or_default()
        .to_string();
    let bad = |why: String| ImportError::Bad {
        file: file.display().to_string(),
        why,
    };
    if !file_name.ends_with(".service") {
        return Err(bad(
            "only .service files are imported (sockets, timers, paths and mounts have no vigil equivalent)".into(),
        ));
    }
    if let Ok(Some(builtin)) = map_unit(&file_name) {
        return Err(bad(format!(
            "vigil makes its own `{builtin}` unit in its place at boot (docs/config.md); a file of that name would replace it: not imported"
        )));
    }
    let name = unit_name(&file_name).map_err(|w| bad(w.to_string()))?;
    let mut entries = parse_ini(text, file);
    for (path, text) in dropins {
        entries.extend(parse_ini(text, path));
    }
    // Apply resets and overrides: lists accumulate, "Key=" resets a list,
    // scalars take the last value.
    let mut values: BTreeMap<(String, String), Vec<Entry>> = BTreeMap::new();
    let mut notes = Vec::new();
    for e in entries {
        if e.key.is_empty() {
            notes.push(Note {
                file: e.file.clone(),
                line: e.line,
                directive: "?".into(),
                why: e.value.clone(),
            });
            continue;
        }
        let slot = values
            .entry((e.section.clone(), e.key.clone()))
            .or_default();
        // (The path conditions are lists too; their names live in PATH_TESTS.)
        let is_list = LISTS.contains(&e.key.as_str()) || PathTest::from_directive(&e.key).is_some();
        if is_list {
            if e.value.is_empty() {
                slot.clear();
            } else {
                slot.push(e);
            }
        } else {
            *slot = vec![e];
        }
    }
    let mut t = toml::Table::new();
    let mut targets = Vec::new();
    let note = |notes: &mut Vec<Note>, e: &Entry, why: &str| {
        notes.push(Note {
            file: e.file.clone(),
            line: e.line,
            directive: e.key.clone(),
            why: why.to_string(),
        })
    };
    let strs =
        |v: Vec<String>| toml::Value::Array(v.into_iter().map(toml::Value::String).collect());
    // StandardInput=tty: the unit gets `tty` (TTYPath=, systemd's default
    // /dev/console), and StandardOutput=tty writes there too.
    let stdin_tty = values
        .get(&("Service".to_string(), "StandardInput".to_string()))
        .and_then(|l| l.last())
        .is_some_and(|e| matches!(e.value.as_str(), "tty" | "tty-force" | "tty-fail"));
    let mut type_oneshot = false;
    let mut execs: Vec<(Vec<String>, Entry)> = Vec::new();
    let mut posts: Vec<toml::Value> = Vec::new();
    for ((section, key), list) in &values {
        let Some(last) = list.last() else { continue };
        // The path conditions: one key each, named in PATH_TESTS.
        if let Some(test) = PathTest::from_directive(key).filter(|_| section == "Unit") {
            let paths: Vec<String> = list.iter().map(|e| specifiers(&e.value).0).collect();
            t.insert(test.key().into(), strs(paths));
            continue;
        }
        match (section.as_str(), key.as_str()) {
            ("Unit", "Description") => {
                t.insert("description".into(), specifiers(&last.value).0.into());
            }
            ("Unit", "Documentation") => {}
            (
                "Unit",
                "After" | "Before" | "Wants" | "Requires" | "BindsTo" | "PartOf" | "Requisite",
            ) => {
                let vigil_key = match key.as_str() {
                    "After" => "after",
                    "Before" => "before",
                    "Wants" => "wants",
                    "BindsTo" | "Requires" | "Requisite" => "requires",
                    _ => "wants",
                };
                // A unit's own name and `default` order nothing.
                let names: Vec<String> = unit_list(list, key, &mut targets, &mut notes)
                    .into_iter()
                    .filter(|n| *n != name && n != "default")
                    .collect();
                if !names.is_empty() && matches!(key.as_str(), "BindsTo" | "PartOf" | "Requisite") {
                    note(
                        &mut notes,
                        last,
                        &format!("imported as `{vigil_key}`: vigil has no stronger binding"),
                    );
                }
                if !names.is_empty() {
                    let entry = t
                        .entry(vigil_key.to_string())
                        .or_insert_with(|| strs(Vec::new()));
                    if let toml::Value::Array(a) = entry {
                        for n in names {
                            let v = toml::Value::String(n);
                            if !a.contains(&v) {
                                a.push(v);
                            }
                        }
                    }
                }
            }
            ("Unit", "OnFailure") => {
                let names: Vec<String> = unit_list(list, key, &mut targets, &mut notes)
                    .into_iter()
                    .filter(|n| *n != name)
                    .collect();
                if !names.is_empty() {
                    t.insert("on_failure".into(), strs(names));
                }
            }
            ("Unit", "ConditionCapability") => {
                let names: Vec<String> = list.iter().map(|e| e.value.clone()).collect();
                t.insert("condition_capability".into(), strs(names));
            }
            ("Unit", "DefaultDependencies" | "IgnoreOnIsolate" | "Conflicts") => {
                note(&mut notes, last, "dropped: vigil adds no implicit dependencies, has no isolate, and stops every unit at shutdown");
            }
            ("Service", "Type") => {
                let kind = match last.value.as_str() {
                    "simple" | "exec" => "simple",
                    "idle" => {
                        note(
                            &mut notes,
                            last,
                            "imported as simple: vigil does not delay idle units",
                        );
                        "simple"
                    }
                    "forking" => "forking",
                    "oneshot" => {
                        type_oneshot = true;
                        "oneshot"
                    }
                    "notify" | "notify-reload" => "notify",
                    "dbus" => {
                        note(&mut notes, last, "imported as simple: bus activation is out of vigil's scope (the unit is up once it runs)");
                        "simple"
                    }
                    other => {
                        return Err(bad(format!(
                            "line {}: Type={other} is not a systemd type",
                            last.line
                        )))
                    }
                };
                t.insert("type".into(), kind.into());
            }
            ("Service", "ExecStart") => {
                for e in list {
                    match command(&e.value) {
                        Ok((argv, lost)) => {
                            for why in lost {
                                note(&mut notes, e, &why);
                            }
                            execs.push((argv, e.clone()));
                        }
                        Err(why) => note(&mut notes, e, &format!("dropped: {why}")),
                    }
                }
            }
            (
                "Service",
                "ExecStartPre" | "ExecStartPost" | "ExecStop" | "ExecStopPost" | "ExecReload",
            ) => {
                let vigil_key = match key.as_str() {
                    "ExecStartPre" => "exec_start_pre",
                    "ExecStartPost" => "exec_start_post",
                    "ExecStop" => "exec_stop",
                    "ExecStopPost" => "exec_stop_post",
                    _ => "exec_reload",
                };
                let mut cmds = Vec::new();
                for e in list {
                    match command(&e.value) {
                        Ok((argv, lost)) => {
                            for why in lost {
                                note(&mut notes, e, &why);
                            }
                            cmds.push(strs(argv));
                        }
                        Err(why) => note(&mut notes, e, &format!("dropped: {why}")),
                    }
                }
                if vigil_key == "exec_start_post" {
                    posts.extend(cmds);
                } else {
                    t.insert(vigil_key.into(), toml::Value::Array(cmds));
                }
            }
            ("Service", "Restart") => {
                let policy = match last.value.as_str() {
                    "always" => "always",
                    "on-failure" | "on-abnormal" | "on-abort" | "on-watchdog" => "on-failure",
                    "no" => "never",
                    "on-success" => {
                        note(
                            &mut notes,
                            last,
                            "imported as never: vigil has no on-success",
                        );
                        "never"
                    }
                    _ => "never",
                };
                t.insert("restart".into(), policy.into());
            }
            ("Service", "RestartSec") => match time_span(&last.value) {
                Some(d) => {
                    t.insert("restart_delay".into(), d.into());
                }
                None => note(&mut notes, last, "dropped: not a time span vigil reads"),
            },
            ("Service", "TimeoutStartSec" | "TimeoutStopSec" | "TimeoutSec") => {
                let Some(d) = time_span(&last.value) else {
                    note(&mut notes, last, "dropped: not a time span vigil reads");
                    continue;
                };
                if key != "TimeoutStopSec" {
                    t.insert("start_timeout".into(), d.clone().into());
                }
                if key != "TimeoutStartSec" {
                    t.insert("stop_timeout".into(), d.into());
                }
            }
            ("Service", "Environment") => {
                let mut env = toml::Table::new();
                for e in list {
                    for (k, v) in environment(&e.value) {
                        env.insert(k, specifiers(&v).0.into());
                    }
                }
                t.insert("environment".into(), toml::Value::Table(env));
            }
            ("Service", "EnvironmentFile") => {
                let files: Vec<String> = list.iter().map(|e| specifiers(&e.value).0).collect();
                t.insert("environment_file".into(), strs(files));
            }
            ("Service", "User") => {
                t.insert("user".into(), last.value.clone().into());
            }
            ("Service", "Group") => {
                t.insert("group".into(), last.value.clone().into());
            }
            ("Service", "SupplementaryGroups") => {
                let groups = list
                    .iter()
                    .flat_map(|e| e.value.split_whitespace().map(str::to_string))
                    .collect();
                t.insert("supplementary_groups".into(), strs(groups));
            }
            ("Service", "WorkingDirectory") => {
                let dir = last.value.trim_start_matches('-');
                if dir == "~" {
                    note(
                        &mut notes,
                        last,
                        "dropped: vigil has no ~ working directory",
                    );
                } else {
                    t.insert("working_directory".into(), specifiers(dir).0.into());
                }
            }
            ("Service", "UMask") => {
                t.insert("umask".into(), last.value.clone().into());
            }
            ("Service", "KillMode") => {
                let mode = match last.value.as_str() {
                    "control-group" => "group",
                    "process" => "process",
                    "mixed" => "mixed",
                    _ => {
                        note(
                            &mut notes,
                            last,
                            "imported as process: vigil always signals the main process",
                        );
                        "process"
                    }
                };
                t.insert("kill_mode".into(), mode.into());
            }
            ("Service", "KillSignal") => {
                t.insert("stop_signal".into(), last.value.clone().into());
            }
            ("Service", "PIDFile") => {
                t.insert("pid_file".into(), specifiers(&last.value).0.into());
            }
            ("Service", "SuccessExitStatus") => {
                let mut statuses = Vec::new();
                for e in list {
                    for word in e.value.split_whitespace() {
                        match success_status(word) {
                            Some(v) if !statuses.contains(&v) => statuses.push(v),
                            Some(_) => {}
                            None => note(
                                &mut notes,
                                e,
                                &format!("{word:?} dropped: not an exit code, an exit status name or a signal"),
                            ),
                        }
                    }
                }
                if !statuses.is_empty() {
                    t.insert("success_exit_status".into(), toml::Value::Array(statuses));
                }
            }
            ("Service", "RemainAfterExit") => {
                let yes = matches!(last.value.as_str(), "yes" | "true" | "1" | "on");
                t.insert("remain_after_exit".into(), yes.into());
            }
            ("Service", "RuntimeDirectory" | "StateDirectory") => {
                let dirs = list
                    .iter()
                    .flat_map(|e| e.value.split_whitespace().map(|d| specifiers(d).0))
                    .collect();
                let k = if key == "RuntimeDirectory" {
                    "runtime_directory"
                } else {
                    "state_directory"
                };
                t.insert(k.into(), strs(dirs));
            }
            ("Service", "RuntimeDirectoryMode" | "StateDirectoryMode") => {
                let k = if key == "RuntimeDirectoryMode" {
                    "runtime_directory_mode"
                } else {
                    "state_directory_mode"
                };
                t.insert(k.into(), last.value.clone().into());
            }
            ("Service", "Nice") => match last.value.parse::<i64>() {
                Ok(n) => {
                    t.insert("nice".into(), n.into());
                }
                Err(_) => note(&mut notes, last, "dropped: not a number"),
            },
            ("Service", "OOMScoreAdjust") => match last.value.parse::<i64>() {
                Ok(n) => {
                    t.insert("oom_score_adj".into(), n.into());
                }
                Err(_) => note(&mut notes, last, "dropped: not a number"),
            },
            ("Service", "StandardOutput" | "StandardError") => {
                let k = if key == "StandardOutput" {
                    "stdout"
                } else {
                    "stderr"
                };
                let v = last.value.as_str();
                let out = if let Some(p) = v
                    .strip_prefix("file:")
                    .or_else(|| v.strip_prefix("append:"))
                {
                    Some(p.to_string())
                } else {
                    match v {
                        "null" => Some("null".to_string()),
                        "journal" | "journal+console" | "kmsg" | "kmsg+console" | "syslog" => {
                            Some("log".to_string())
                        }
                        "tty" if stdin_tty => Some("tty".to_string()),
                        "inherit" | "tty" | "console" => Some("inherit".to_string()),
                        _ => None,
                    }
                };
                match out {
                    Some(o) => {
                        t.insert(k.into(), o.into());
                    }
                    None => note(
                        &mut notes,
                        last,
                        "dropped: vigil captures the output (\"log\") instead",
                    ),
                }
            }
            ("Service", "StandardInput") => match last.value.as_str() {
                "null" => {}
                "tty" | "tty-force" | "tty-fail" => {
                    if last.value != "tty" {
                        note(&mut notes, last, "imported as tty: vigil takes the terminal when no other session holds it, and fails the start otherwise");
                    }
                    let path = values
                        .get(&("Service".to_string(), "TTYPath".to_string()))
                        .and_then(|l| l.last())
                        .map(|e| specifiers(&e.value).0)
                        .unwrap_or_else(|| "/dev/console".to_string());
                    t.insert("tty".into(), path.into());
                }
                _ => note(
                    &mut notes,
                    last,
                    "dropped: vigil gives services /dev/null or a tty as stdin",
                ),
            },
            ("Service", "TTYPath") => {
                if !stdin_tty {
                    note(
                        &mut notes,
                        last,
                        "dropped: vigil uses a tty only as the stdin of StandardInput=tty",
                    );
                }
            }
            ("Service", "TTYVHangup") => {
                let yes = matches!(last.value.as_str(), "yes" | "true" | "1" | "on");
                if yes && stdin_tty {
                    t.insert("tty_vhangup".into(), true.into());
                } else if yes {
                    note(
                        &mut notes,
                        last,
                        "dropped: vigil hangs up only the tty of StandardInput=tty",
                    );
                }
            }
            ("Service", "TTYReset" | "TTYVTDisallocate") => {
                note(&mut notes, last, "dropped: vigil does not reset or clear the terminal before a start (agetty resets the line itself)");
            }
            ("Service", "UtmpIdentifier" | "UtmpMode") => {
                note(
                    &mut notes,
                    last,
                    "dropped: vigil writes no utmp records (agetty and login write their own)",
                );
            }
            ("Service", "SendSIGHUP") => {
                if matches!(last.value.as_str(), "yes" | "true" | "1" | "on") {
                    note(
                        &mut notes,
                        last,
                        "dropped: vigil sends no SIGHUP after the stop signal",
                    );
                }
            }
            ("Service", "IgnoreSIGPIPE") => {
                if !matches!(last.value.as_str(), "no" | "false" | "0" | "off") {
                    note(&mut notes, last, "not carried over: the service starts with SIGPIPE at its default (it ends a process that writes to a closed pipe)");
                }
            }
            // (A value vigil cannot read is taken out by `verify`.)
            ("Service", k) if k.starts_with("Limit") => match limit_key(k) {
                Some(lk) => {
                    let entry = t
                        .entry("limits".to_string())
                        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                    if let toml::Value::Table(limits) = entry {
                        limits.insert(lk.into(), last.value.clone().into());
                    }
                }
                None => note(&mut notes, last, "dropped: vigil has no such limit"),
            },
            ("Service", k) if OUT_OF_SCOPE.contains(&k) => {
                note(&mut notes, last, "dropped: sandboxing and resource control (namespaces, cgroups, capabilities) are out of vigil's scope; the service runs without it");
            }
            ("Service", "BusName") => {
                note(
                    &mut notes,
                    last,
                    "dropped: bus activation is out of vigil's scope",
                );
            }
            ("Install", "WantedBy" | "RequiredBy") => {
                // What systemd starts in its early boot starts with the rest
                // of the boot in vigil (which has no early-boot targets).
                let mut entries = Vec::new();
                for e in list {
                    let mut words = Vec::new();
                    for word in e.value.split_whitespace() {
                        if EARLY_BOOT_TARGETS.contains(&word) {
                            notes.push(Note {
                                file: e.file.clone(),
                                line: e.line,
                                directive: format!("{key}={word}"),
                                why: "imported as wanted by `default`: vigil starts it with the boot's other units, once early boot is done".into(),
                            });
                            words.push("default.target");
                        } else {
                            words.push(word);
                        }
                    }
                    entries.push(Entry {
                        value: words.join(" "),
                        ..e.clone()
                    });
                }
                let names = unit_list(&entries, key, &mut targets, &mut notes);
                t.insert("wanted_by".into(), strs(names));
            }
            ("Install", "Alias") => {
                let mut aliases = Vec::new();
                for e in list {
                    for word in e.value.split_whitespace() {
                        match word.strip_suffix(".service") {
                            Some(stem) if !stem.is_empty() => {
                                let alias = specifiers(stem).0;
                                if alias != name && !aliases.contains(&alias) {
                                    aliases.push(alias);
                                }
                            }
                            _ => notes.push(Note {
                                file: e.file.clone(),
                                line: e.line,
                                directive: format!("Alias={word}"),
                                why: "dropped: a service's alias must end in .service".into(),
                            }),
                        }
                    }
                }
                if !aliases.is_empty() {
                    t.insert("aliases".into(), strs(aliases));
                }
            }
            ("Install", "Also" | "DefaultInstance") => {
                note(&mut notes, last, "dropped: vigil enables one unit at a time and instances are named when enabled");
            }
            (_, _) => note(&mut notes, last, "dropped: vigil has no equivalent"),
        }
    }
    // ExecStart: one for vigil's exec; a oneshot's further ones run after
    // it, as exec_start_post (in order).
    let mut execs = execs.into_iter();
    match execs.next() {
        Some((mut argv, e)) => {
            if let Some(first) = argv.first_mut() {
                if let Some(rest) = first.strip_prefix('-') {
                    *first = rest.to_string();
                    note(&mut notes, &e, "the - prefix on the main command is dropped: its failure is the unit's failure");
                }
            }
            t.insert("exec".into(), strs(argv));
        }
        None => {
            if !type_oneshot {
                return Err(bad("no ExecStart=: nothing to run".into()));
            }
            t.insert("exec".into(), strs(vec!["/bin/true".into()]));
        }
    }
    let more: Vec<toml::Value> = execs.map(|(argv, _)| strs(argv)).collect();
    if !more.is_empty() {
        if !type_oneshot {
            return Err(bad(
                "several ExecStart= lines are for Type=oneshot only".into()
            ));
        }
        let mut all = more;
        all.extend(posts);
        posts = all;
    }
    if !posts.is_empty() {
        t.insert("exec_start_post".into(), toml::Value::Array(posts));
    }
    // The last setting of a directive, for a note about its value.
    let origin = |directive: &str| -> Option<verify::Origin> {
        values
            .iter()
            .filter(|((_, k), _)| k == directive)
            .filter_map(|(_, list)| list.last())
            .next_back()
            .map(|e| (e.file.clone(), e.line, e.key.clone()))
    };
    let dropped = verify::drop_refused_keys(&mut t, &name, &origin)
        .map_err(|why| bad(format!("the translation is not a unit vigil loads: {why}")))?;
    for ((file, line, directive), why) in dropped {
        notes.push(Note {
            file,
            line,
            directive,
            why: format!("not carried over: vigil refuses it: {why}"),
        });
    }
    notes.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    let body = toml::to_string(&t).map_err(|e| bad(format!("writing TOML: {e}")))?;
    let mut toml_text = format!(
        "# Imported by vigilctl import from {}\n",
        comment_text(&file.display().to_string())
    );
    for n in &notes {
        toml_text.push_str(&format!(
            "# not carried over: {}\n",
            comment_text(&n.to_string())
        ));
    }
    toml_text.push_str(&verify::written_body(&body, &name));
    Ok(Imported {
        name,
        toml: toml_text,
        notes,
        targets,
    })
}

/// `text` as a TOML comment may hold it: TOML allows no control
/// characters there but tab, so they are written escaped (`\u{0}`).
fn comment_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The vigil target a well-known systemd target maps to, as a file.
pub fn target_unit(name: &str) -> String {
    let wanted = if name == "default" {
        ""
    } else {
        "wanted_by = [\"default\"]\n"
    };
    format!(
        "# Written by vigilctl import: systemd's {name}.target, for the imported units.\ndescription = \"{name} (from systemd)\"\ntype = \"target\"\n{wanted}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, text: &str) -> Imported {
        import(Path::new(name), text, &[]).expect("imports")
    }

    #[test]
    fn continuation_lines_prefixes_specifiers_and_resets() {
        let text = "[Unit]\nDescription=ifup for %I\nAfter=a.service \\\n  b.service network.target\n[Service]\nType=oneshot\nExecStart=/bin/sh -ec 'ifup %I'\nExecStart=-/bin/true\nExecStop=+/sbin/ifdown %I\nEnvironment=A=1 \"B=two words\"\nEnvironment=\nEnvironment=C=3\nRemainAfterExit=yes\n";
        let i = run("ifup@.service", text);
        assert_eq!(i.name, "ifup@");
        let t: toml::Table = i.toml.parse().expect("valid TOML");
        assert_eq!(t["description"].as_str(), Some("ifup for %i"));
        assert_eq!(t["after"].as_array().map(Vec::len), Some(3));
        assert_eq!(t["exec"].as_array().unwrap()[2].as_str(), Some("ifup %i"));
        assert_eq!(
            t["exec_start_post"].as_array().unwrap()[0]
                .as_array()
                .unwrap()[0]
                .as_str(),
            Some("-/bin/true")
        );
        assert!(
            t["environment"].as_table().unwrap().get("A").is_none(),
            "reset by Environment="
        );
        assert_eq!(t["environment"]["C"].as_str(), Some("3"));
        assert_eq!(i.targets, vec!["network".to_string()]);
        assert!(
            i.notes
                .iter()
                .any(|n| n.directive == "ExecStop" && n.why.contains("+ prefix")),
            "{:?}",
            i.notes
        );
    }

    #[test]
    fn out_of_scope_directives_are_listed_with_their_line() {
        let i = run(
            "x.service",
            "[Service]\nExecStart=/bin/x\nProtectSystem=full\n[Unit]\nRequires=x.socket\n",
        );
        let lines: Vec<String> = i.notes.iter().map(ToString::to_string).collect();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("x.service:3: ProtectSystem: dropped: sandboxing")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(
                |l| l.starts_with("x.service:5: Requires=x.socket: dropped: socket activation")
            ),
            "{lines:?}"
        );
    }

    #[test]
    fn what_cannot_be_a_vigil_unit_is_an_error() {
        assert!(import(Path::new("a.socket"), "", &[]).is_err());
        assert!(import(Path::new("a.service"), "[Service]\nType=simple\n", &[]).is_err());
    }

    /// Found by the systemd_unit fuzz target: a limit systemd would reject
    /// (`inf`) was written as it was, and vigil then refused the unit.
    #[test]
    fn a_limit_value_vigil_cannot_read_is_a_note_not_a_broken_unit() {
        let text =
            "[Service]\nExecStart=/bin/true\nLimitCORE=inf\nLimitNOFILE=1024:4096\nLimitNPROC=\n";
        let i = run("a.service", text);
        let t: toml::Table = i.toml.parse().expect("valid TOML");
        let limits = t["limits"].as_table().expect("a limits table");
        assert_eq!(
            limits.get("nofile").and_then(|v| v.as_str()),
            Some("1024:4096")
        );
        assert!(limits.get("core").is_none(), "{limits:?}");
        assert!(limits.get("nproc").is_none(), "{limits:?}");
        for (line, directive) in [(3, "LimitCORE"), (5, "LimitNPROC")] {
            assert!(
                i.notes.iter().any(|n| n.line == line
                    && n.directive == directive
                    && n.why.contains("not carried over")),
                "{:?}",
                i.notes
            );
        }
        assert!(crate::unit::parse_unit("a", Path::new("a.toml"), &i.toml).is_ok());
    }

    /// Found by the systemd_unit fuzz target: a control character in a
    /// directive's name went into the header's comment as it was, and TOML
    /// allows none there, so the written unit did not parse at all.
    #[test]
    fn control_characters_in_a_note_do_not_break_the_written_file() {
        let text = "[Service]\nExecStart=/bin/true\nTimeoutS\u{0}opSec=5\nOdd\u{7f}Key=1\n";
        let i = import(Path::new("d\u{1b}/ab.service"), text, &[]).expect("imports");
        assert!(i.notes.iter().any(|n| n.line == 3), "{:?}", i.notes);
        assert!(
            crate::unit::parse_unit("ab", Path::new("a.toml"), &i.toml).is_ok(),
            "{}",
            i.toml
        );
        assert!(i.toml.contains("TimeoutS\\u{0}opSec"), "{}", i.toml);
    }

    #[test]
    fn what_vigil_refuses_is_taken_out_with_vigils_reason_and_the_rest_kept() {
        let text =
            "[Service]\nExecStart=/bin/true\nUMask=0999\nPIDFile=run/a.pid\nRestart=always\n";
        let i = run("a.service", text);
        let t: toml::Table = i.toml.parse().expect("valid TOML");
        assert!(
            t.get("umask").is_none() && t.get("pid_file").is_none(),
            "{t:?}"
        );
        assert_eq!(t["restart"].as_str(), Some("always"));
        for (line, directive) in [(3, "UMask"), (4, "PIDFile")] {
            assert!(
                i.notes.iter().any(|n| n.line == line
                    && n.directive == directive
                    && n.why.starts_with("not carried over: vigil refuses it: ")),
                "{:?}",
                i.notes
            );
        }
        assert!(crate::unit::parse_unit("a", Path::new("a.toml"), &i.toml).is_ok());
        // Without a command vigil can run there is nothing to import.
        let err = import(
            Path::new("b.service"),
            "[Service]\nExecStart=bin/true\n",
            &[],
        )
        .expect_err("refused");
        assert!(
            err.to_string()
                .starts_with("b.service: the translation is not a unit vigil loads: "),
            "{err}"
        );
    }

    /// vigil substitutes specifiers in a template's instances only, so in
    /// a unit that is no template import resolves them itself, as systemd
    /// does there: `%n` and `%p` the name, `%i` empty, `%%` a `%`.
    #[test]
    fn specifiers_of_a_unit_that_is_no_template_are_resolved_now() {
        let text = "[Unit]\nDescription=%N (%p) %i|100%%\n[Service]\nExecStart=/bin/echo %n %I 50%%\nWorkingDirectory=/srv/%p\n";
        let i = run("web.service", text);
        let t: toml::Table = i.toml.parse().expect("valid TOML");
        assert_eq!(t["description"].as_str(), Some("web (web) |100%"));
        assert_eq!(t["exec"].to_string(), r#"["/bin/echo", "web", "", "50%"]"#);
        assert_eq!(t["working_directory"].as_str(), Some("/srv/web"));
        // A template keeps them for its instances.
        let i = run("web@.service", text);
        let t: toml::Table = i.toml.parse().expect("valid TOML");
        assert_eq!(t["description"].as_str(), Some("%n (%p) %i|100%%"));
    }

    /// Importing every service of a Debian 12 root found these: a
    /// `Requires=` of systemd's special targets vigil has no equivalent for
    /// (systemd.special(7)) was kept, so the unit failed `vigilctl check`.
    #[test]
    fn systemds_special_targets_are_dropped_with_a_reason() {
        for (target, why) in [
            ("sleep.target", "suspend"),
            ("umount.target", "shutdown"),
            ("final.target", "shutdown"),
            ("initrd-root-fs.target", "initrd"),
            ("rescue.target", "rescue"),
            ("cryptsetup.target", "encrypted"),
            ("sound.target", "hardware"),
            ("system-update.target", "synchronization"),
        ] {
            let text = format!(
                "[Unit]\nRequires={target}\nAfter={target}\n[Service]\nExecStart=/bin/true\n"
            );
            let i = run("a.service", &text);
            let t: toml::Table = i.toml.parse().expect("valid TOML");
            assert!(
                t.get("requires").is_none() && t.get("after").is_none(),
                "{target}: {t:?}"
            );
            assert!(
                i.notes.iter().any(|n| n.line == 2 && n.why.contains(why)),
                "{target}: {:?}",
                i.notes
            );
        }
    }

    /// Importing every service of a Debian 12 root wrote `udevd.toml` from
    /// systemd-udevd.service, which would have replaced the udev units vigil
    /// makes at boot (a file overrides a generated unit of its name).
    #[test]
    fn a_service_vigil_makes_itself_is_not_imported() {
        for (file, unit) in [
            ("systemd-udevd.service", "udevd"),
            ("systemd-udev-trigger.service", "udev-trigger"),
            ("systemd-udev-settle.service", "udev-coldplug"),
        ] {
            let err = import(Path::new(file), "[Service]\nExecStart=/bin/true\n", &[])
                .expect_err("refused");
            assert!(
                err.to_string()
                    .contains(&format!("vigil makes its own `{unit}` unit")),
                "{err}"
            );
        }
    }

    /// systemd starts a unit wanted by sysinit.target (or basic.target,
    /// local-fs.target) in its early boot; dropping the target left the
    /// unit wanted by nothing, so it never started. vigil's boot starts it
    /// with the others.
    #[test]
    fn a_unit_wanted_by_an_early_boot_target_is_wanted_by_default() {
        let text = "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=sysinit.target\nWantedBy=local-fs.target multi-user.target\n";
        let i = run("a.service", text);
        let t: toml::Table = i.toml.parse().expect("valid TOML");
        assert_eq!(t["wanted_by"].to_string(), r#"["default"]"#);
        assert!(
            i.notes.iter().any(|n| n.line == 4
                && n.directive == "WantedBy=sysinit.target"
                && n.why.contains("imported as wanted by `default`")),
            "{:?}",
            i.notes
        );
    }

    #[test]
    fn success_exit_status_carries_over_codes_names_and_signals() {
        let text = "[Service]\nType=oneshot\nExecStart=/bin/true\nSuccessExitStatus=77 DATAERR\nSuccessExitStatus=SIGUSR1 TERM NOSUCH\n";
        let i = run("a.service", text);
        let t: toml::Table = i.toml.parse().expect("valid TOML");
        assert_eq!(
            t["success_exit_status"].to_string(),
            r#"[77, 65, "SIGUSR1", "SIGTERM"]"#
        );
        assert!(
            i.notes
                .iter()
                .any(|n| n.line == 5 && n.why.contains("NOSUCH")),
            "{:?}",
            i.notes
        );
        // An empty assignment resets the list.
        let i = run(
            "b.service",
            "[Service]\nExecStart=/bin/true\nSuccessExitStatus=1\nSuccessExitStatus=\n",
        );
        assert!(!i.toml.contains("success_exit_status"), "{}", i.toml);
    }

    #[test]
    fn on_failure_carries_over_with_its_specifiers_resolved() {
        let text = "[Unit]\nOnFailure=status-email@%n.service\nOnFailureJobMode=fail\n[Service]\nExecStart=/bin/true\n";
        let i = run("web.service", text);
        let t: toml::Table = i.toml.parse().expect("valid TOML");
        assert_eq!(t["on_failure"].to_string(), r#"["status-email@web"]"#);
        assert!(
            i.notes.iter().any(|n| n.directive == "OnFailureJobMode"),
            "{:?}",
            i.notes
        );
    }

    #[test]
    fn capability_conditions_carry_over_and_an_unknown_name_is_a_note() {
        let text = "[Unit]\nConditionCapability=CAP_SYS_ADMIN\nConditionCapability=!CAP_SYS_MODULE\n[Service]\nExecStart=/bin/true\n";
        let i = run("a.service", text);
        let t: toml::Table = i.toml.parse().expect("valid TOML");
        assert_eq!(
            t["condition_capability"].to_string(),
            r#"["CAP_SYS_ADMIN", "!CAP_SYS_MODULE"]"#
        );
        let i = run(
            "b.service",
            "[Unit]\nConditionCapability=CAP_NOSUCH\n[Service]\nExecStart=/bin/true\n",
        );
        let t: toml::Table = i.toml.parse().expect("valid TOML");
        assert!(t.get("condition_capability").is_none(), "{t:?}");
        assert!(
            i.notes.iter().any(|n| n.directive == "ConditionCapability"
                && n.line == 2
                && n.why.contains("unknown capability")),
            "{:?}",
            i.notes
        );
    }

    #[test]
    fn path_conditions_carry_over_to_their_keys() {
        let text = "[Unit]\nConditionDirectoryNotEmpty=|/etc/a.d\nConditionDirectoryNotEmpty=/etc/b.d\nConditionFileIsExecutable=!/usr/bin/x\n[Service]\nExecStart=/bin/true\n";
        let i = run("a.service", text);
        let t: toml::Table = i.toml.parse().expect("valid TOML");
        assert_eq!(
            t["condition_file_is_executable"].to_string(),
            r#"["!/usr/bin/x"]"#
        );
        // An empty assignment resets the list, as for every list.
        let reset = run(
            "r.service",
            "[Unit]\nConditionPathIsDirectory=/a\nConditionPathIsDirectory=\nConditionPathIsDirectory=/b\n[Service]\nExecStart=/bin/true\n",
        );
        let r: toml::Table = reset.toml.parse().expect("valid TOML");
        assert_eq!(r["condition_path_is_directory"].to_string(), r#"["/b"]"#);
        // `|` (a triggering condition: any of them) vigil does not have: the
        // key is refused and says so, the rest kept.
        assert!(t.get("condition_directory_not_empty").is_none(), "{t:?}");
        assert!(
            i.notes
                .iter()
                .any(|n| n.directive == "ConditionDirectoryNotEmpty"),
            "{:?}",
            i.notes
        );
    }
}
