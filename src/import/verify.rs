//! The last step of `import`: what it wrote must be a unit vigil loads.
//! systemd accepts (or ignores) values vigil refuses, such as `UMask=` in
//! decimal, a limit written `inf` or a path that is not absolute, and a
//! unit that fails to load would lose everything else it says. So the
//! translation is read back with vigil's own unit parser; each key it
//! refuses is taken out and becomes a note at the systemd line it came
//! from, with vigil's reason, and the rest is kept.

use std::path::PathBuf;

/// The systemd directives each key `import` writes comes from, for the
/// note of a value vigil refuses (the last one set is the one named).
const ORIGINS: &[(&str, &[&str])] = &[
    ("description", &["Description"]),
    ("after", &["After"]),
    ("before", &["Before"]),
    ("wants", &["Wants", "PartOf"]),
    ("requires", &["Requires", "BindsTo", "Requisite"]),
    ("condition_capability", &["ConditionCapability"]),
    ("on_failure", &["OnFailure"]),
    ("type", &["Type"]),
    ("exec", &["ExecStart"]),
    ("exec_start_pre", &["ExecStartPre"]),
    ("exec_start_post", &["ExecStartPost", "ExecStart"]),
    ("exec_stop", &["ExecStop"]),
    ("exec_stop_post", &["ExecStopPost"]),
    ("exec_reload", &["ExecReload"]),
    ("restart", &["Restart"]),
    ("restart_delay", &["RestartSec"]),
    ("start_timeout", &["TimeoutStartSec", "TimeoutSec"]),
    ("stop_timeout", &["TimeoutStopSec", "TimeoutSec"]),
    ("environment", &["Environment"]),
    ("environment_file", &["EnvironmentFile"]),
    ("user", &["User"]),
    ("group", &["Group"]),
    ("supplementary_groups", &["SupplementaryGroups"]),
    ("working_directory", &["WorkingDirectory"]),
    ("umask", &["UMask"]),
    ("kill_mode", &["KillMode"]),
    ("stop_signal", &["KillSignal"]),
    ("pid_file", &["PIDFile"]),
    ("remain_after_exit", &["RemainAfterExit"]),
    ("runtime_directory", &["RuntimeDirectory"]),
    ("runtime_directory_mode", &["RuntimeDirectoryMode"]),
    ("state_directory", &["StateDirectory"]),
    ("state_directory_mode", &["StateDirectoryMode"]),
    ("nice", &["Nice"]),
    ("oom_score_adj", &["OOMScoreAdjust"]),
    ("stdout", &["StandardOutput"]),
    ("stderr", &["StandardError"]),
    ("tty", &["TTYPath", "StandardInput"]),
    ("tty_vhangup", &["TTYVHangup"]),
    ("aliases", &["Alias"]),
    ("wanted_by", &["WantedBy", "RequiredBy"]),
    ("success_exit_status", &["SuccessExitStatus"]),
];

/// The systemd directives a written key (`umask`, `limits.core`,
/// `environment.PORT`) comes from.
fn directives_of(key: &str) -> Vec<&'static str> {
    let (top, sub) = key.split_once('.').unwrap_or((key, ""));
    // The path conditions' systemd names live with their keys.
    if let Some(test) = crate::unit::model::PathTest::from_key(top) {
        return vec![test.directive()];
    }
    if top == "limits" {
        return crate::unit::limits::RESOURCES
            .iter()
            .filter(|r| r.0 == sub)
            .map(|r| r.3)
            .collect();
    }
    ORIGINS
        .iter()
        .find(|(k, _)| *k == top)
        .map(|(_, d)| d.to_vec())
        .unwrap_or_default()
}

/// The key (`name`, or `table.name`) that line `line` (1-based) of
/// `body`, as `toml::to_string` writes a table, sets.
fn key_at(body: &str, line: usize) -> Option<String> {
    let mut section: Option<String> = None;
    for (i, text) in body.lines().enumerate() {
        let text = text.trim();
        if let Some(name) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            section = Some(name.trim().to_string());
        }
        if i + 1 == line {
            let (key, _) = text.split_once('=')?;
            let key = key.trim();
            // A quoted key (an environment variable's odd name).
            let key = match key.strip_prefix('"').and_then(|k| k.strip_suffix('"')) {
                Some(inner) => toml::from_str::<toml::Table>(&format!("k = \"{inner}\""))
                    .ok()?
                    .get("k")?
                    .as_str()?
                    .to_string(),
                None => key.to_string(),
            };
            return Some(match &section {
                Some(s) => format!("{s}.{key}"),
                None => key,
            });
        }
    }
    None
}

/// The unit's text as import writes it: a template keeps its specifiers
/// for its instances; in a plain unit they are resolved now, as systemd
/// resolves them in a unit that is no instance (vigil substitutes in
/// templates only).
pub(super) fn written_body(body: &str, name: &str) -> String {
    if crate::unit::template::is_template(name) {
        body.to_string()
    } else {
        crate::unit::template::substitute_plain(body, name)
    }
}

/// Takes `key` (as `key_at` names it) out of `table`; whether it was there.
fn remove(table: &mut toml::Table, key: &str) -> bool {
    match key.split_once('.') {
        None => table.remove(key).is_some(),
        Some((top, sub)) => {
            let Some(toml::Value::Table(inner)) = table.get_mut(top) else {
                return false;
            };
            let removed = inner.remove(sub).is_some();
            if inner.is_empty() {
                table.remove(top);
            }
            removed
        }
    }
}

/// Where a refused key came from: file, line and directive.
pub(super) type Origin = (PathBuf, usize, String);

/// Reads `table` back as the unit `name` (a template is read as one of
/// its instances) and takes out each key vigil refuses, returning a note
/// for each: (where it came from, vigil's reason). `origin` finds the
/// last setting of a directive. An error that no key explains (a unit
/// left without `exec`) is returned as Err: the file cannot be imported.
pub(super) fn drop_refused_keys(
    table: &mut toml::Table,
    name: &str,
    origin: &dyn Fn(&str) -> Option<Origin>,
) -> Result<Vec<(Origin, String)>, String> {
    // A template is read as one of its instances; a plain unit as import
    // writes it, its specifiers resolved (`written_body`).
    let template = crate::unit::template::is_template(name);
    let check_name = if template {
        format!("{name}instance")
    } else {
        name.to_string()
    };
    let mut dropped = Vec::new();
    // Each turn takes out at least one key, or ends.
    for _ in 0..=table.len() + 64 {
        let body = toml::to_string(table).map_err(|e| format!("writing TOML: {e}"))?;
        let text = if template {
            crate::unit::template::substitute(&body, &check_name)
        } else {
            written_body(&body, name)
        };
        let path = std::path::Path::new("import.toml");
        let Err(diagnostics) = crate::unit::parse_unit(&check_name, path, &text) else {
            return Ok(dropped);
        };
        let errors: Vec<_> = diagnostics.into_iter().filter(|d| d.is_error()).collect();
        if errors.is_empty() {
            return Ok(dropped);
        }
        let before = dropped.len();
        let first = errors
            .first()
            .map(|e| e.message.clone())
            .unwrap_or_default();
        for error in errors {
            let key = error.line.and_then(|l| key_at(&body, l));
            let from = key
                .as_deref()
                .and_then(|k| directives_of(k).into_iter().find_map(origin));
            let (Some(key), Some(from)) = (key, from) else {
                return Err(error.message);
            };
            // Without its command there is no unit left to write.
            if key == "exec" {
                return Err(error.message);
            }
            // (false: an earlier error of this turn took it out already.)
            if remove(table, &key) {
                dropped.push((from, error.message));
            }
        }
        // Nothing could be taken out: the error is not about one key.
        if dropped.len() == before {
            return Err(first);
        }
    }
    Err("the translation does not load as a vigil unit".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_of_a_key_names_it_with_its_table() {
        let body = "exec = [\"/bin/true\"]\numask = \"0999\"\n\n[environment]\n\"A B\" = \"1\"\nPORT = \"80\"\n\n[limits]\ncore = \"inf\"\n";
        assert_eq!(key_at(body, 2).as_deref(), Some("umask"));
        assert_eq!(key_at(body, 5).as_deref(), Some("environment.A B"));
        assert_eq!(key_at(body, 6).as_deref(), Some("environment.PORT"));
        assert_eq!(key_at(body, 9).as_deref(), Some("limits.core"));
        assert_eq!(key_at(body, 4), None);
        assert_eq!(directives_of("limits.core"), vec!["LimitCORE"]);
        assert_eq!(directives_of("environment.PORT"), vec!["Environment"]);
        assert_eq!(
            directives_of("condition_file_not_empty"),
            vec!["ConditionFileNotEmpty"]
        );
    }
}
