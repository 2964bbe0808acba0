//! Enablement: which targets pull a unit in, kept in the units directory so
//! that it works while vigil is not running. (Skeleton: the loader helper
//! fills this in.)

use std::path::Path;

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
}

/// Make `target` (default: the unit's `wanted_by`, else "default") pull
/// `name` in. Returns one human-readable line per change made.
pub fn enable(dir: &Path, name: &str, target: Option<&str>) -> Result<Vec<String>, EnableError> {
    let _ = (dir, name, target);
    Ok(Vec::new())
}

/// Undo `enable` and the file's own `wanted_by` for every target.
pub fn disable(dir: &Path, name: &str) -> Result<Vec<String>, EnableError> {
    let _ = (dir, name);
    Ok(Vec::new())
}

/// Whether `name` is pulled in by `target` after links and masks are applied.
pub fn is_enabled(dir: &Path, name: &str, target: &str) -> bool {
    let _ = (dir, name, target);
    false
}
