//! A problem found in outside input (a unit file, vigil.toml), located as
//! precisely as it can be: `FILE:LINE:COL: error: MESSAGE`. Every loader
//! emits this one type, so the severity travels with the problem and is
//! never re-read from its text.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::log::Level;

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

impl Diagnostic {
    /// An error about a whole file (no position), e.g. one that cannot be read.
    pub fn file_error(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// Whether this diagnostic stops its unit from loading.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
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

impl Diagnostic {
    /// An error at a position of `file` (1-based line and column).
    pub fn error_at(file: &Path, line: usize, column: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }

    /// The level vigil logs it at.
    pub fn level(&self) -> Level {
        match self.severity {
            Severity::Error => Level::Error,
            Severity::Warning => Level::Warning,
        }
    }
}
