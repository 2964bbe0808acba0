//! Enablement: which targets pull a unit in, kept in the units directory so
//! that it works while vigil is not running.
//!
//! Like systemd, `DIR/TARGET.wants/NAME.toml` is a symlink to `../NAME.toml`
//! when an administrator enabled NAME for TARGET, and a symlink to /dev/null
//! (a mask) when they disabled a unit whose own file says
//! `wanted_by = ["TARGET"]`. The effective `wanted_by` is the file's plus the
//! links minus the masks; `unit::load` applies it.

use std::io;
use std::path::{Path, PathBuf};

use super::load::{Diagnostic, Severity};
use super::name::check_unit_name;

/// What a mask links to.
const MASK_TARGET: &str = "/dev/null";

/// Why an enable/disable could not be done.
#[derive(Debug, thiserror::Error)]
pub enum EnableError {
    #[error("no unit named {0:?} in {1}")]
    UnknownUnit(String, String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A unit or target name that could escape the directory or never load.
    #[error("invalid unit name {0:?}: {1}")]
    InvalidName(String, String),
    /// The unit file must be read to know its `wanted_by`, and it is not valid TOML.
    #[error("{path}: {message}")]
    BadUnitFile { path: String, message: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> EnableError + '_ {
    move |source| EnableError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One entry of a `TARGET.wants/` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The target whose `.wants` directory holds the link.
    pub target: String,
    /// The unit named by the link's file name.
    pub unit: String,
    /// The link itself, for messages.
    pub path: PathBuf,
    /// A link to /dev/null: cancels the unit file's own `wanted_by = [target]`.
    pub mask: bool,
}

/// What is at `TARGET.wants/NAME.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Missing,
    Enabled,
    Masked,
}

fn entry_at(path: &Path) -> Entry {
    match std::fs::read_link(path) {
        Ok(t) if t == Path::new(MASK_TARGET) => Entry::Masked,
        Ok(_) => Entry::Enabled,
        // Not a symlink: a plain file placed there still enables.
        Err(_) if path.symlink_metadata().is_ok() => Entry::Enabled,
        Err(_) => Entry::Missing,
    }
}

fn wants_dir(dir: &Path, target: &str) -> PathBuf {
    dir.join(format!("{target}.wants"))
}

fn link_path(dir: &Path, target: &str, name: &str) -> PathBuf {
    wants_dir(dir, target).join(format!("{name}.toml"))
}

/// Every link and mask under `dir/*.wants/`, sorted, plus warnings for
/// entries that cannot mean anything.
pub fn scan_links(dir: &Path) -> (Vec<Link>, Vec<Diagnostic>) {
    let mut links = Vec::new();
    let mut diags = Vec::new();
    for (target, wants) in wants_dirs(dir) {
        let Ok(entries) = std::fs::read_dir(&wants) else {
            continue;
        };
        let mut names: Vec<(String, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let file = e.file_name().to_str()?.to_string();
                let unit = file.strip_suffix(".toml")?.to_string();
                Some((unit, e.path()))
            })
            .collect();
        names.sort();
        for (unit, path) in names {
            if let Err(why) = check_unit_name(&unit).and(check_unit_name(&target)) {
                diags.push(Diagnostic {
                    severity: Severity::Warning,
                    file: path,
                    line: None,
                    column: None,
                    message: format!("ignoring enablement link: {why}"),
                });
                continue;
            }
            let mask = entry_at(&path) == Entry::Masked;
            links.push(Link {
                target: target.clone(),
                unit,
                path,
                mask,
            });
        }
    }
    (links, diags)
}

/// `(TARGET, DIR/TARGET.wants)` for every such directory, sorted.
fn wants_dirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let file = e.file_name().to_str()?.to_string();
            let target = file.strip_suffix(".wants")?.to_string();
            Some((target, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// The unit file's own `wanted_by`, read leniently (only that key matters here).
fn file_wanted_by(file: &Path) -> Result<Vec<String>, EnableError> {
    let text = std::fs::read_to_string(file).map_err(io_err(file))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| EnableError::BadUnitFile {
        path: file.display().to_string(),
        message: e.message().to_string(),
    })?;
    Ok(match table.get("wanted_by") {
        Some(toml::Value::String(s)) => vec![s.clone()],
        Some(toml::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    })
}

fn check_name(name: &str) -> Result<(), EnableError> {
    check_unit_name(name).map_err(|why| EnableError::InvalidName(name.to_string(), why))
}

/// Whether `name` is an instance defined by its template's file (whose
/// `wanted_by` pulls in no instance by itself: only links do).
fn from_template(dir: &Path, name: &str) -> bool {
    unit_file(dir, name) != dir.join(format!("{name}.toml"))
}

/// The file that defines `name`: `NAME.toml`, or for an instance
/// (`getty@tty2`) with no file of its own, its template (`getty@.toml`).
fn unit_file(dir: &Path, name: &str) -> PathBuf {
    let own = dir.join(format!("{name}.toml"));
    if own.exists() {
        return own;
    }
    match super::template::split_instance(name) {
        Some((template, _)) => dir.join(format!("{template}.toml")),
        None => own,
    }
}

fn symlink(target: &str, link: &Path) -> Result<String, EnableError> {
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    std::os::unix::fs::symlink(target, link).map_err(io_err(link))?;
    Ok(format!("Created symlink {} -> {target}", link.display()))
}

fn remove(link: &Path, what: &str) -> Result<String, EnableError> {
    std::fs::remove_file(link).map_err(io_err(link))?;
    // Tidy up a now-empty TARGET.wants; failing to is harmless.
    if let Some(parent) = link.parent() {
        let _ = std::fs::remove_dir(parent);
    }
    Ok(format!("Removed {what}{}", link.display()))
}

/// Make `target` (default: the unit's `wanted_by`, else "default") pull
/// `name` in. Returns one human-readable line per change made; none if it
/// already was enabled.
pub fn enable(dir: &Path, name: &str, target: Option<&str>) -> Result<Vec<String>, EnableError> {
    check_name(name)?;
    let file = unit_file(dir, name);
    if !file.exists() {
        return Err(EnableError::UnknownUnit(
            name.to_string(),
            dir.display().to_string(),
        ));
    }
    let (declared, targets) = match target {
        Some(t) => {
            check_name(t)?;
            (
                file_wanted_by(&file).unwrap_or_default(),
                vec![t.to_string()],
            )
        }
        None => {
            let declared = file_wanted_by(&file)?;
            let targets = if declared.is_empty() {
                vec!["default".to_string()]
            } else {
                declared.clone()
            };
            (declared, targets)
        }
    };
    let mut changes = Vec::new();
    for t in targets {
        check_name(&t)?;
        let link = link_path(dir, &t, name);
        let mut state = entry_at(&link);
        if state == Entry::Masked {
            changes.push(remove(&link, "mask ")?);
            state = Entry::Missing;
        }
        if state == Entry::Missing && (from_template(dir, name) || !declared.contains(&t)) {
            let file_name = file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| format!("{name}.toml"));
            changes.push(symlink(&format!("../{file_name}"), &link)?);
        }
    }
    Ok(changes)
}

/// Undo `enable` and the file's own `wanted_by` for every target.
pub fn disable(dir: &Path, name: &str) -> Result<Vec<String>, EnableError> {
    check_name(name)?;
    let file = unit_file(dir, name);
    let exists = file.exists();
    // A broken file cannot be loaded anyway: removing links is still useful.
    // An instance's template declares nothing of the instance: only its
    // links are undone.
    let declared = if exists && !from_template(dir, name) {
        match file_wanted_by(&file) {
            Err(EnableError::BadUnitFile { .. }) => Vec::new(),
            other => other?,
        }
    } else {
        Vec::new()
    };
    let mut changes = Vec::new();
    let mut found = exists;
    for (target, _) in wants_dirs(dir) {
        let link = link_path(dir, &target, name);
        if entry_at(&link) == Entry::Enabled {
            found = true;
            changes.push(remove(&link, "")?);
        }
    }
    if !found {
        return Err(EnableError::UnknownUnit(
            name.to_string(),
            dir.display().to_string(),
        ));
    }
    for t in declared {
        if check_unit_name(&t).is_err() {
            continue;
        }
        let link = link_path(dir, &t, name);
        if entry_at(&link) == Entry::Missing {
            changes.push(symlink(MASK_TARGET, &link)?);
        }
    }
    Ok(changes)
}

/// Where `vigilctl mask` puts its link: `DIR/masked/NAME.toml` -> /dev/null.
fn mask_path(dir: &Path, name: &str) -> PathBuf {
    dir.join("masked").join(format!("{name}.toml"))
}

/// Make `name` impossible to start, by anyone (systemctl mask): a link in
/// `DIR/masked/`. The unit file stays as it is.
pub fn mask(dir: &Path, name: &str) -> Result<Vec<String>, EnableError> {
    check_name(name)?;
    let link = mask_path(dir, name);
    if link.symlink_metadata().is_ok() {
        return Ok(Vec::new());
    }
    Ok(vec![symlink(MASK_TARGET, &link)?])
}

/// Undo `mask`.
pub fn unmask(dir: &Path, name: &str) -> Result<Vec<String>, EnableError> {
    check_name(name)?;
    let link = mask_path(dir, name);
    if link.symlink_metadata().is_err() {
        return Ok(Vec::new());
    }
    Ok(vec![remove(&link, "mask ")?])
}

/// Every unit `mask` made unstartable.
pub fn masked_names(dir: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(dir.join("masked"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_str()?.strip_suffix(".toml")?.to_string();
                    check_unit_name(&name).is_ok().then_some(name)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `vigilctl is-enabled`: "masked" (see `mask`), "enabled" when some
/// target pulls `name` in (after links and masks), "disabled" when none
/// does; None when `name` has no unit file.
pub fn enablement(dir: &Path, name: &str) -> Option<&'static str> {
    if check_unit_name(name).is_err() || !unit_file(dir, name).exists() {
        return None;
    }
    if mask_path(dir, name).symlink_metadata().is_ok() {
        return Some("masked");
    }
    let mut targets: Vec<String> = wants_dirs(dir).into_iter().map(|(t, _)| t).collect();
    targets.extend(file_wanted_by(&unit_file(dir, name)).unwrap_or_default());
    let enabled = targets.iter().any(|t| is_enabled(dir, name, t));
    Some(if enabled { "enabled" } else { "disabled" })
}

/// Whether `name` is pulled in by `target` after links and masks are applied:
/// a link enables, a mask disables, and otherwise the file's `wanted_by` decides.
pub fn is_enabled(dir: &Path, name: &str, target: &str) -> bool {
    if check_unit_name(name).is_err() || check_unit_name(target).is_err() {
        return false;
    }
    let file = unit_file(dir, name);
    if !file.exists() {
        return false;
    }
    match entry_at(&link_path(dir, target, name)) {
        Entry::Enabled => true,
        Entry::Masked => false,
        Entry::Missing if from_template(dir, name) => false,
        Entry::Missing => file_wanted_by(&file)
            .map(|w| w.iter().any(|t| t == target))
            .unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn setup(files: &[(&str, &str)]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs::write(tmp.path().join(name), text).unwrap();
        }
        tmp
    }

    #[test]
    fn enable_disable_round_trip_without_wanted_by() {
        let tmp = setup(&[("foo.toml", "exec = \"/bin/true\"\n")]);
        let dir = tmp.path();
        assert!(!is_enabled(dir, "foo", "default"));

        let out = enable(dir, "foo", None).unwrap();
        let link = dir.join("default.wants/foo.toml");
        assert_eq!(
            out,
            vec![format!("Created symlink {} -> ../foo.toml", link.display())]
        );
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("../foo.toml"));
        assert!(is_enabled(dir, "foo", "default"));
        // The link resolves to the unit file itself.
        assert_eq!(
            fs::canonicalize(&link).unwrap(),
            fs::canonicalize(dir.join("foo.toml")).unwrap()
        );
        // Enabling twice changes nothing.
        assert!(enable(dir, "foo", None).unwrap().is_empty());

        let out = disable(dir, "foo").unwrap();
        assert_eq!(out, vec![format!("Removed {}", link.display())]);
        assert!(!is_enabled(dir, "foo", "default"));
        assert!(!link.exists() && link.symlink_metadata().is_err());
        assert!(!dir.join("default.wants").exists(), "empty dir tidied");
    }

    #[test]
    fn disable_masks_the_files_own_wanted_by_and_enable_unmasks() {
        let tmp = setup(&[(
            "bar.toml",
            "exec = \"/bin/true\"\nwanted_by = [\"default\", \"multi\"]\n",
        )]);
        let dir = tmp.path();
        assert!(is_enabled(dir, "bar", "default"));
        assert!(is_enabled(dir, "bar", "multi"));
        // Already enabled by the file: nothing to do.
        assert!(enable(dir, "bar", None).unwrap().is_empty());

        let out = disable(dir, "bar").unwrap();
        let mask = dir.join("default.wants/bar.toml");
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0],
            format!("Created symlink {} -> /dev/null", mask.display())
        );
        assert_eq!(fs::read_link(&mask).unwrap(), Path::new("/dev/null"));
        assert!(!is_enabled(dir, "bar", "default"));
        assert!(!is_enabled(dir, "bar", "multi"));
        // Disabling twice changes nothing.
        assert!(disable(dir, "bar").unwrap().is_empty());

        let out = enable(dir, "bar", None).unwrap();
        assert_eq!(out[0], format!("Removed mask {}", mask.display()));
        assert_eq!(out.len(), 2);
        assert!(is_enabled(dir, "bar", "default"));
        assert!(is_enabled(dir, "bar", "multi"));
        assert!(mask.symlink_metadata().is_err());
    }

    #[test]
    fn explicit_target_and_scan() {
        let tmp = setup(&[
            (
                "baz.toml",
                "exec = \"/bin/true\"\nwanted_by = \"default\"\n",
            ),
            ("rescue.toml", "type = \"target\"\n"),
        ]);
        let dir = tmp.path();
        enable(dir, "baz", Some("rescue")).unwrap();
        disable(dir, "baz").unwrap();
        enable(dir, "baz", Some("rescue")).unwrap();
        assert!(is_enabled(dir, "baz", "rescue"));
        assert!(!is_enabled(dir, "baz", "default"));
        let (links, diags) = scan_links(dir);
        assert!(diags.is_empty());
        let summary: Vec<(String, String, bool)> = links
            .into_iter()
            .map(|l| (l.target, l.unit, l.mask))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("default".into(), "baz".into(), true),
                ("rescue".into(), "baz".into(), false),
            ]
        );
    }

    #[test]
    fn errors() {
        let tmp = setup(&[("bad.toml", "wanted_by = [\n")]);
        let dir = tmp.path();
        assert!(matches!(
            enable(dir, "nope", None),
            Err(EnableError::UnknownUnit(..))
        ));
        assert!(matches!(
            disable(dir, "nope"),
            Err(EnableError::UnknownUnit(..))
        ));
        assert!(matches!(
            enable(dir, "../etc/passwd", None),
            Err(EnableError::InvalidName(..))
        ));
        assert!(matches!(
            enable(dir, "bad", Some("../x")),
            Err(EnableError::InvalidName(..))
        ));
        assert!(matches!(
            enable(dir, "bad", None),
            Err(EnableError::BadUnitFile { .. })
        ));
        // A broken file can still be enabled for an explicit target and disabled.
        enable(dir, "bad", Some("default")).unwrap();
        assert_eq!(disable(dir, "bad").unwrap().len(), 1);
    }
}
