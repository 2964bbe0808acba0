//! What `vigilctl check` can see about loaded units on the running system
//! and the unit file alone cannot say: an `exec` program that is not there
//! or not executable, a `user` or group with no entry in /etc/passwd or
//! /etc/group. Warnings, placed at the key in the file.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::diagnostic::{Diagnostic, Severity};
use crate::unit::UnitDef;

/// Line and column (1-based) of the value of top-level `key` in `text`.
fn value_position(text: &str, key: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let rest = line.trim_start().strip_prefix(key)?;
        let after = rest.trim_start().strip_prefix('=')?;
        let indent = line.len() - line.trim_start().len();
        let col = indent
            + key.len()
            + (rest.len() - after.len())
            + (after.len() - after.trim_start().len())
            + 1;
        Some((i + 1, col))
    })
}

fn executable(path: &Path) -> Result<(), &'static str> {
    match std::fs::metadata(path) {
        Err(_) => Err("does not exist on this system"),
        Ok(m) if !m.is_file() => Err("is not a file"),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Err("is not executable"),
        Ok(_) => Ok(()),
    }
}

/// The warnings for `def` (loaded from `def.path`), with `path_var` as the
/// PATH a bare program name is looked up in.
pub fn check_unit(def: &UnitDef, path_var: &str) -> Vec<Diagnostic> {
    let Some(file) = def.path.as_deref() else {
        return Vec::new();
    };
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut out = Vec::new();
    let mut warn = |key: &str, message: String| {
        let pos = value_position(&text, key);
        out.push(Diagnostic {
            severity: Severity::Warning,
            file: file.to_path_buf(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            message,
        });
    };
    if let Some(program) = def.exec.first() {
        if program.contains('/') {
            if let Err(why) = executable(Path::new(program)) {
                warn("exec", format!("`exec`: {program} {why}"));
            }
        } else {
            let found = path_var
                .split(':')
                .filter(|d| !d.is_empty())
                .any(|d| executable(&Path::new(d).join(program)).is_ok());
            if !found {
                warn(
                    "exec",
                    format!("`exec`: {program} is not in the services' PATH ({path_var})"),
                );
            }
        }
    }
    if let Some(user) = &def.extra().user {
        if matches!(crate::accounts::lookup_user(user), Ok(None)) {
            warn(
                "user",
                format!("`user`: no user {user:?} in /etc/passwd on this system"),
            );
        }
    }
    let groups = def.extra().group.iter().map(|g| ("group", g)).chain(
        def.extra()
            .supplementary_groups
            .iter()
            .map(|g| ("supplementary_groups", g)),
    );
    for (key, group) in groups {
        if matches!(crate::accounts::lookup_group(group), Ok(None)) {
            warn(
                key,
                format!("`{key}`: no group {group:?} in /etc/group on this system"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_of_a_key_is_found_at_its_line_and_column() {
        let text = "description = \"x\"\n  user =  \"www\"\nusers = 1\n";
        assert_eq!(value_position(text, "user"), Some((2, 11)));
        assert_eq!(value_position(text, "description"), Some((1, 15)));
        assert_eq!(value_position(text, "group"), None);
    }
}
