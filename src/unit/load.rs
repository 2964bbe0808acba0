//! Loading unit files with diagnostics: one directory (or a list of files for
//! `vigilctl check`) becomes the set of units that can run, plus every problem
//! found, each naming its file and line:column.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::enable::scan_links;
use super::schema::{self, Parsed};
use super::validate::resolve;
use super::UnitDef;

/// Unit files are small; refuse to read something huge into PID 1.
const MAX_FILE_BYTES: u64 = 1 << 20;

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

/// Every unit that loaded, and every problem found on the way.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub units: BTreeMap<String, UnitDef>,
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadResult {
    /// Whether any diagnostic is an error (for `vigilctl check`'s exit code).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parse one unit file's text on its own, without looking at other units:
/// the unit, or every error in the file (sorted by position).
pub fn parse_unit(name: &str, path: &Path, text: &str) -> Result<UnitDef, Vec<Diagnostic>> {
    schema::parse(name, path, text).map(|p| p.def)
}

/// `DIR/*.toml` as (unit name, path), sorted; hidden files, other files and
/// directories are ignored.
fn unit_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, std::io::Error> {
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name().to_str()?.to_string();
            let name = file.strip_suffix(".toml")?.to_string();
            if name.is_empty() || file.starts_with('.') || !e.path().is_file() {
                return None;
            }
            Some((name, e.path()))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn read_unit(path: &Path) -> Result<String, Diagnostic> {
    let fail = |why: String| Diagnostic::file_error(path, why);
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(fail(format!(
            "file is larger than {MAX_FILE_BYTES} bytes; not a unit file?"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| fail(format!("not valid UTF-8: {e}")))
}

/// Parsed units, names whose file failed, and the diagnostics so far.
#[derive(Default)]
struct Batch {
    parsed: BTreeMap<String, Parsed>,
    failed: BTreeSet<String>,
    diagnostics: Vec<Diagnostic>,
}

impl Batch {
    fn add(&mut self, name: &str, path: &Path) {
        let result = read_unit(path)
            .map_err(|d| vec![d])
            .and_then(|text| schema::parse(name, path, &text));
        match result {
            Ok(mut p) => {
                self.diagnostics.append(&mut p.warnings);
                self.parsed.insert(name.to_string(), p);
            }
            Err(mut errors) => {
                self.diagnostics.append(&mut errors);
                self.failed.insert(name.to_string());
            }
        }
    }
}

/// Load `DIR/*.toml` plus enablement links, validate the graph, and add the
/// implicit `default` target when no loaded unit is named `default`.
pub fn load_dir(dir: &Path) -> LoadResult {
    let mut batch = Batch::default();
    match unit_files(dir) {
        Ok(files) => {
            for (name, path) in files {
                batch.add(&name, &path);
            }
        }
        Err(e) => batch.diagnostics.push(Diagnostic::file_error(
            dir,
            format!("cannot read the units directory: {e}"),
        )),
    }
    let (links, mut link_diags) = scan_links(dir);
    batch.diagnostics.append(&mut link_diags);
    let (units, mut graph_diags) = resolve(batch.parsed, &batch.failed, &links);
    let mut diagnostics = batch.diagnostics;
    diagnostics.append(&mut graph_diags);
    sort(&mut diagnostics);
    LoadResult { units, diagnostics }
}

/// Groups diagnostics by file, in position order within a file.
fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
}

/// Load exactly these files (for `vigilctl check FILE...`); graph checks see
/// only these units plus the ones in their directories. The result holds only
/// the named files' units and diagnostics.
pub fn load_paths(paths: &[PathBuf]) -> LoadResult {
    let mut batch = Batch::default();
    let mut given: BTreeSet<PathBuf> = BTreeSet::new();
    let mut given_names: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut canonical_given: BTreeSet<PathBuf> = BTreeSet::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for path in paths {
        if !given.insert(path.clone()) {
            continue;
        }
        let stem = path
            .file_name()
            .and_then(|f| f.to_str())
            .map(|f| f.strip_suffix(".toml").unwrap_or(f).to_string());
        let Some(name) = stem else {
            batch.diagnostics.push(Diagnostic::file_error(
                path,
                "cannot derive a unit name from this file name",
            ));
            continue;
        };
        if let Some(other) = given_names.get(&name) {
            batch.diagnostics.push(Diagnostic::file_error(
                path,
                format!("duplicate unit name `{name}`: also {}", other.display()),
            ));
            continue;
        }
        given_names.insert(name.clone(), path.clone());
        canonical_given.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()));
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
        batch.add(&name, path);
    }
    // Neighbours give the graph checks context; their own problems are not ours.
    let mut context = Batch::default();
    let mut links = Vec::new();
    for dir in &dirs {
        for (name, path) in unit_files(dir).unwrap_or_default() {
            let canon = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            let taken = given_names.contains_key(&name)
                || context.parsed.contains_key(&name)
                || context.failed.contains(&name);
            if !taken && !canonical_given.contains(&canon) {
                context.add(&name, &path);
            }
        }
        links.extend(scan_links(dir).0);
    }
    batch.parsed.append(&mut context.parsed);
    batch.failed.append(&mut context.failed);
    let (mut units, graph_diags) = resolve(batch.parsed, &batch.failed, &links);
    units.retain(|name, _| given_names.contains_key(name));
    let mut diagnostics = batch.diagnostics;
    diagnostics.extend(graph_diags.into_iter().filter(|d| given.contains(&d.file)));
    sort(&mut diagnostics);
    LoadResult { units, diagnostics }
}
