//! Loading unit files with diagnostics. (Skeleton: the loader helper fills this in.)

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::UnitDef;

/// How bad a problem is: errors drop the unit, warnings keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found while loading, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `FILE:LINE:COL: error: MESSAGE`, the format editors and CI logs understand.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, ": {sev}: {}", self.message)
    }
}

/// Every unit that loaded, and every problem found on the way.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub units: BTreeMap<String, UnitDef>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Load `DIR/*.toml` plus enablement links, validate the graph, and add the
/// implicit `default` target when no file defines it.
pub fn load_dir(dir: &Path) -> LoadResult {
    let _ = dir;
    LoadResult::default()
}

/// Load exactly these files (for `vigilctl check FILE...`); graph checks see
/// only these units plus the ones in their directories.
pub fn load_paths(paths: &[PathBuf]) -> LoadResult {
    let _ = paths;
    LoadResult::default()
}
