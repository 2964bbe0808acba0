//! Loading unit files with diagnostics: one directory (or a list of files for
//! `vigilctl check`) becomes the set of units that can run, plus every problem
//! found, each naming its file and line:column.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::enable::scan_links;
use super::schema::{self, Parsed};
use super::validate::resolve;
use super::UnitDef;
pub use crate::diagnostic::{Diagnostic, Severity};
use crate::regular_file::{read_regular, ReadError};

/// Unit files are small; refuse to read something huge into PID 1.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Every unit that loaded, and every problem found on the way.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub units: BTreeMap<String, UnitDef>,
    pub diagnostics: Vec<Diagnostic>,
    /// The names of the unit files the loader read (editor files and other
    /// skipped names are not among them): a name here but not in `units`
    /// failed to load.
    pub files: BTreeSet<String>,
    /// The directory itself could not be read: `units` says nothing about
    /// what is in it (a reload must change nothing then).
    pub unreadable_dir: bool,
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
    // Reading a FIFO would block vigil's event loop (`check` over the socket).
    let (bytes, _) = read_regular(path, MAX_FILE_BYTES, true).map_err(|e| match e {
        ReadError::NotRegular => fail("not a regular file".to_string()),
        ReadError::TooLarge { .. } => fail(format!(
            "file is larger than {MAX_FILE_BYTES} bytes; not a unit file?"
        )),
        ReadError::Io(e) => fail(format!("cannot read: {e}")),
    })?;
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
        self.add_as(name, path, |text| text);
    }

    /// Instances of `templates` for every name in `wanted`, and for every
    /// instance name a loaded unit refers to, until none is missing (at
    /// most `MAX_INSTANCES`).
    fn instantiate(&mut self, templates: &BTreeMap<String, PathBuf>, mut wanted: BTreeSet<String>) {
        const MAX_INSTANCES: usize = 10_000;
        let mut made = 0;
        loop {
            for p in self.parsed.values() {
                let d = &p.def;
                for name in d
                    .wants
                    .iter()
                    .chain(&d.requires)
                    .chain(&d.after)
                    .chain(&d.before)
                    .chain(&d.extra().on_failure)
                {
                    wanted.insert(name.clone());
                }
            }
            let todo: Vec<(String, PathBuf)> = wanted
                .iter()
                .filter(|n| !self.parsed.contains_key(*n) && !self.failed.contains(*n))
                .filter_map(|n| {
                    let (template, _) = super::template::split_instance(n)?;
                    Some((n.clone(), templates.get(&template)?.clone()))
                })
                .collect();
            if todo.is_empty() || made >= MAX_INSTANCES {
                return;
            }
            for (name, path) in todo {
                made += 1;
                self.add_as(&name, &path, |text| {
                    super::template::substitute(&text, &name)
                });
            }
        }
    }

    /// The generated units made from a template keep their targets (a
    /// `[[tty]]` getty starts at boot whatever the template's `wanted_by`);
    /// one whose template does not load is the generated unit after all, so
    /// a broken `getty@.toml` does not take the console login away.
    fn adopt_templated(&mut self, templated: &[&UnitDef], templates: &BTreeMap<String, PathBuf>) {
        for unit in templated {
            if let Some(p) = self.parsed.get_mut(&*unit.name) {
                for target in &unit.wanted_by {
                    if !p.def.wanted_by.contains(target) {
                        p.def.wanted_by.push(target.clone());
                    }
                }
                continue;
            }
            self.failed.remove(&*unit.name);
            let file = super::template::split_instance(&unit.name)
                .and_then(|(t, _)| templates.get(&t).cloned())
                .unwrap_or_default();
            self.diagnostics.push(Diagnostic {
                severity: Severity::Warning,
                file,
                line: None,
                column: None,
                message: format!(
                    "`{}` uses vigil's built-in getty, as its template did not load",
                    unit.name
                ),
            });
            self.parsed.insert(
                unit.name.to_string(),
                Parsed {
                    def: (*unit).clone(),
                    refs: BTreeMap::new(),
                    warnings: Vec::new(),
                },
            );
        }
    }

    /// A template no instance was made of is still checked (as the
    /// instance `NAME@instance`), so `vigilctl check` reports its problems;
    /// nothing is loaded from it.
    fn lint_unused_templates(&mut self, templates: &BTreeMap<String, PathBuf>) {
        for (template, path) in templates {
            let used =
                self.parsed.keys().chain(self.failed.iter()).any(|n| {
                    super::template::split_instance(n).is_some_and(|(t, _)| t == *template)
                });
            if used {
                continue;
            }
            let probe = format!("{template}instance");
            let result = read_unit(path).map_err(|d| vec![d]).and_then(|text| {
                schema::parse(&probe, path, &super::template::substitute(&text, &probe))
            });
            match result {
                Ok(mut p) => self.diagnostics.append(&mut p.warnings),
                Err(mut errors) => self.diagnostics.append(&mut errors),
            }
        }
    }

    /// Parse `path` as unit `name`, its text passed through `edit` first.
    fn add_as(&mut self, name: &str, path: &Path, edit: impl FnOnce(String) -> String) {
        let result = read_unit(path)
            .map_err(|d| vec![d])
            .and_then(|text| schema::parse(name, path, &edit(text)));
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
    load_dir_with(dir, &[])
}

/// `load_dir` plus units generated from configuration (gettys, udev), which
/// take part in the graph checks so that files may depend on them. A file of
/// the same name overrides a generated unit.
pub fn load_dir_with(dir: &Path, generated: &[UnitDef]) -> LoadResult {
    load_dir_with_instances(dir, generated, &BTreeSet::new())
}

/// `load_dir_with`, and the instances of templates (`NAME@.toml`) named in
/// `instances` (started by request) besides those that enablement links
/// and other units ask for.
pub fn load_dir_with_instances(
    dir: &Path,
    generated: &[UnitDef],
    instances: &BTreeSet<String>,
) -> LoadResult {
    let mut batch = Batch::default();
    let mut files = BTreeSet::new();
    let mut unreadable_dir = false;
    let mut templates: BTreeMap<String, PathBuf> = BTreeMap::new();
    match unit_files(dir) {
        Ok(found) => {
            for (name, path) in found {
                if super::template::is_template(&name) {
                    templates.insert(name, path);
                    continue;
                }
                batch.add(&name, &path);
                files.insert(name);
            }
        }
        Err(e) => {
            unreadable_dir = true;
            batch.diagnostics.push(Diagnostic::file_error(
                dir,
                format!("cannot read the units directory: {e}"),
            ))
        }
    }
    // A generated unit named like an instance of a template in the directory
    // (a `[[tty]]` getty and `getty@.toml`) is made from the template.
    let (templated, generated): (Vec<&UnitDef>, Vec<&UnitDef>) = generated.iter().partition(|u| {
        super::template::split_instance(&u.name).is_some_and(|(t, _)| templates.contains_key(&t))
    });
    for unit in generated {
        if !batch.parsed.contains_key(&*unit.name) && !batch.failed.contains(&*unit.name) {
            batch.parsed.insert(
                unit.name.to_string(),
                Parsed {
                    def: unit.clone(),
                    refs: BTreeMap::new(),
                    warnings: Vec::new(),
                },
            );
        }
    }
    let (links, mut link_diags) = scan_links(dir);
    batch.diagnostics.append(&mut link_diags);
    if !templates.is_empty() {
        let mut wanted: BTreeSet<String> = instances.clone();
        wanted.extend(links.iter().map(|l| l.unit.clone()));
        wanted.extend(templated.iter().map(|u| u.name.to_string()));
        batch.instantiate(&templates, wanted);
        batch.lint_unused_templates(&templates);
        batch.adopt_templated(&templated, &templates);
    }
    let (mut units, mut graph_diags) = resolve(batch.parsed, &batch.failed, &links);
    for name in super::enable::masked_names(dir) {
        if let Some(def) = units.get_mut(&name) {
            def.masked = true;
        }
    }
    let mut diagnostics = batch.diagnostics;
    diagnostics.append(&mut graph_diags);
    sort(&mut diagnostics);
    LoadResult {
        units,
        diagnostics,
        files,
        unreadable_dir,
    }
}

/// Groups diagnostics by file, in position order within a file.
fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
}

/// Load exactly these files (for `vigilctl check FILE...`); graph checks see
/// only these units plus the ones in their directories. The result holds only
/// the named files' units and diagnostics. A directory among `paths` is
/// loaded whole, as by `load_dir`.
pub fn load_paths(paths: &[PathBuf]) -> LoadResult {
    let (dirs, files): (Vec<PathBuf>, Vec<PathBuf>) =
        paths.iter().cloned().partition(|p| p.is_dir());
    let mut result = if files.is_empty() {
        LoadResult::default()
    } else {
        load_files(&files)
    };
    for dir in dirs {
        let mut r = load_dir(&dir);
        result.diagnostics.append(&mut r.diagnostics);
        result.units.append(&mut r.units);
    }
    result
}

/// `load_paths` for plain files.
fn load_files(paths: &[PathBuf]) -> LoadResult {
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
    LoadResult {
        units,
        diagnostics,
        ..LoadResult::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::{enable, UnitKind};
    use std::fs;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = tmp.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        tmp
    }

    /// Diagnostics with the temp dir prefix removed, for exact comparison.
    fn rendered(r: &LoadResult, dir: &Path) -> Vec<String> {
        let prefix = format!("{}/", dir.display());
        r.diagnostics
            .iter()
            .map(|d| d.to_string().replace(&prefix, ""))
            .collect()
    }

    fn names(r: &LoadResult) -> Vec<&str> {
        r.units.keys().map(String::as_str).collect()
    }

    const OK: &str = "exec = \"/bin/true\"\n";

    #[test]
    fn loads_sorted_toml_files_and_adds_the_default_target() {
        let tmp = dir_with(&[
            (
                "b.toml",
                "exec = \"/bin/true\"\nwanted_by = [\"default\"]\n",
            ),
            ("a.toml", OK),
            ("notes.txt", "not a unit"),
            (".hidden.toml", "garbage ="),
            ("sub.toml/inner.toml", OK),
        ]);
        let r = load_dir(tmp.path());
        assert!(r.diagnostics.is_empty(), "{:#?}", r.diagnostics);
        assert_eq!(names(&r), vec!["a", "b", "default"]);
        let d = &r.units["default"];
        assert_eq!(d.kind, UnitKind::Target);
        assert_eq!(d.description, "Default target");
        assert_eq!(d.path, None);
        assert_eq!(r.units["b"].wanted_by, vec!["default"]);
        assert_eq!(r.units["a"].path, Some(tmp.path().join("a.toml")));
    }

    #[test]
    fn a_file_named_default_replaces_the_implicit_target() {
        let tmp = dir_with(&[(
            "default.toml",
            "type = \"target\"\ndescription = \"Mine\"\n",
        )]);
        let r = load_dir(tmp.path());
        assert_eq!(r.units["default"].description, "Mine");
    }

    #[test]
    fn a_broken_unit_is_skipped_and_the_rest_load() {
        let tmp = dir_with(&[
            ("good.toml", OK),
            (
                "bad.toml",
                "exec = \"/bin/true\"\nrestart = \"sometimes\"\nstop_signal = \"NOPE\"\n",
            ),
        ]);
        let r = load_dir(tmp.path());
        assert_eq!(names(&r), vec!["default", "good"]);
        assert_eq!(
            rendered(&r, tmp.path()),
            vec![
                "bad.toml:2:11: error: `restart` must be one of always, on-failure, never, found \"sometimes\"",
                "bad.toml:3:15: error: `stop_signal`: unknown signal \"NOPE\" (use a name like \"SIGTERM\" or a number)",
            ]
        );
        assert!(r.has_errors());
    }

    #[test]
    fn unknown_requires_drops_the_dependent_until_a_fixed_point() {
        let tmp = dir_with(&[
            ("web.toml", "exec = \"/bin/true\"\nrequires = [\"app\"]\n"),
            (
                "app.toml",
                "exec = \"/bin/true\"\nrequires = [\"ok\", \"db\"]\n",
            ),
            ("ok.toml", OK),
            ("broken.toml", "exec = 5\n"),
            (
                "uses-broken.toml",
                "exec = \"/bin/true\"\n\nrequires = [\"broken\"]\n",
            ),
        ]);
        let r = load_dir(tmp.path());
        assert_eq!(names(&r), vec!["default", "ok"]);
        assert_eq!(
            rendered(&r, tmp.path()),
            vec![
                "app.toml:2:19: error: `app` requires `db`, which does not exist; `app` is not loaded",
                "broken.toml:1:8: error: `exec` must be an array of strings (argv) or a command line, found integer 5",
                "uses-broken.toml:3:13: error: `uses-broken` requires `broken`, which failed to load; `uses-broken` is not loaded",
                "web.toml:2:13: error: `web` requires `app`, which failed to load; `web` is not loaded",
            ]
        );
    }

    #[test]
    fn unknown_names_get_a_did_you_mean_hint() {
        let tmp = dir_with(&[
            ("postgresql.toml", OK),
            (
                "web.toml",
                "exec = \"/bin/true\"\nrequires = [\"postgersql\"]\n",
            ),
        ]);
        let r = load_dir(tmp.path());
        assert_eq!(
            rendered(&r, tmp.path()),
            vec!["web.toml:2:13: error: `web` requires `postgersql`, which does not exist (did you mean `postgresql`?); `web` is not loaded"]
        );
    }

    #[test]
    fn unknown_soft_references_are_warnings_and_dropped() {
        let tmp = dir_with(&[(
            "web.toml",
            "exec = \"/bin/true\"\nwants = [\"cache\"]\nafter = [\"net\"]\nbefore = [\"proxy\"]\nwanted_by = [\"multi\", \"default\"]\n",
        )]);
        let r = load_dir(tmp.path());
        let web = &r.units["web"];
        assert!(web.wants.is_empty() && web.after.is_empty() && web.before.is_empty());
        assert_eq!(web.wanted_by, vec!["default"]);
        assert!(!r.has_errors());
        assert_eq!(
            rendered(&r, tmp.path()),
            vec![
                "web.toml:2:10: warning: `web` wants `cache`, which does not exist; ignoring",
                "web.toml:3:10: warning: `web` is ordered after `net`, which does not exist; ignoring",
                "web.toml:4:11: warning: `web` is ordered before `proxy`, which does not exist; ignoring",
                "web.toml:5:14: warning: `web` is wanted by `multi`, which does not exist; ignoring",
            ]
        );
    }

    #[test]
    fn a_unit_that_sets_no_rare_key_loads_without_the_extras_box() {
        // The box of rare keys is about 600 bytes: a plain unit must not
        // carry one (at N = 1000 it was 0.6 MB of vigil's heap).
        // Another unit's alias (Debian's ssh has one) and a dependency on a
        // missing unit must not give it one either.
        let tmp = dir_with(&[
            (
                "s1.toml",
                "exec = [\"/bin/sleep\", \"1000000\"]\nrestart = \"on-failure\"\nrestart_delay = \"0\"\nwanted_by = [\"default\"]\nafter = [\"sshd\", \"nowhere\"]\n",
            ),
            ("ssh.toml", "exec = [\"/bin/true\"]\naliases = [\"sshd\"]\n"),
        ]);
        let r = load_dir(tmp.path());
        assert!(!r.has_errors(), "{:?}", rendered(&r, tmp.path()));
        let def = r.units.get("s1").unwrap();
        assert!(def.extra.is_none(), "{:?}", def.extra);
        assert_eq!(def.after, vec!["ssh"]);
    }

    #[test]
    fn an_alias_may_be_named_in_dependencies_and_a_taken_one_is_a_warning() {
        let tmp = dir_with(&[
            (
                "ssh.toml",
                "exec = \"/usr/sbin/sshd\"\naliases = [\"sshd\", \"web\", \"ssh\"]\n",
            ),
            (
                "web.toml",
                "exec = \"/bin/true\"\nafter = [\"sshd\"]\nrequires = [\"sshd\"]\n",
            ),
            (
                "zother.toml",
                "exec = \"/bin/true\"\naliases = [\"sshd\"]\n",
            ),
        ]);
        let r = load_dir(tmp.path());
        assert!(!r.has_errors(), "{:#?}", r.diagnostics);
        assert_eq!(r.units["ssh"].extra().aliases, vec!["sshd"]);
        assert!(r.units["zother"].extra().aliases.is_empty());
        assert_eq!(r.units["web"].after, vec!["ssh"]);
        assert_eq!(r.units["web"].requires, vec!["ssh"]);
        assert_eq!(
            rendered(&r, tmp.path()),
            vec![
                "ssh.toml:2:20: warning: `ssh`: alias `web` is not used: a unit is named `web`",
                "ssh.toml:2:27: warning: `ssh` is already the unit's name; ignoring the alias",
                "zother.toml:2:12: warning: `zother`: alias `sshd` is not used: it is already an alias of `ssh`",
            ]
        );
    }

    #[test]
    fn an_alias_that_is_no_unit_name_is_an_error_with_its_position() {
        let tmp = dir_with(&[(
            "ssh.toml",
            "exec = \"/usr/sbin/sshd\"\naliases = [\"sshd.toml\"]\n",
        )]);
        let r = load_dir(tmp.path());
        assert!(!r.units.contains_key("ssh"));
        assert_eq!(
            rendered(&r, tmp.path()),
            vec!["ssh.toml:2:12: error: `aliases`: invalid unit name \"sshd.toml\": write `sshd`, without `.toml`"]
        );
    }

    #[test]
    fn ordering_cycles_are_named_and_drop_every_member() {
        let tmp = dir_with(&[
            ("a.toml", "exec = \"/bin/true\"\nafter = [\"b\"]\n"),
            ("b.toml", "exec = \"/bin/true\"\nafter = [\"c\"]\n"),
            // c -> a declared from a's side would be a.before; here c declares it.
            ("c.toml", "exec = \"/bin/true\"\n\nafter = [\"a\"]\n"),
            ("d.toml", "exec = \"/bin/true\"\nrequires = [\"c\"]\n"),
            (
                "e.toml",
                "exec = \"/bin/true\"\nafter = [\"a\"]\nwants = [\"b\"]\n",
            ),
            ("x.toml", "exec = \"/bin/true\"\nbefore = [\"y\"]\n"),
            ("y.toml", "exec = \"/bin/true\"\nbefore = [\"x\"]\n"),
        ]);
        let r = load_dir(tmp.path());
        assert_eq!(names(&r), vec!["default", "e"]);
        let abc = "ordering cycle a -> b -> c -> a (each starts after the next; 3 units); none of these units is loaded";
        let xy = "ordering cycle x -> y -> x (each starts after the next; 2 units); none of these units is loaded";
        let on = |u: &str, at: &str| {
            format!("`{u}` is on the ordering cycle reported at {at}; not loaded")
        };
        assert_eq!(
            rendered(&r, tmp.path()),
            vec![
                format!("a.toml:2:10: error: {abc}"),
                format!("b.toml:2:10: error: {}", on("b", "a.toml:2:10")),
                format!("c.toml:3:10: error: {}", on("c", "a.toml:2:10")),
                "d.toml:2:13: error: `d` requires `c`, which failed to load; `d` is not loaded"
                    .to_string(),
                "e.toml:2:10: warning: `e` is ordered after `a`, which failed to load; ignoring"
                    .to_string(),
                "e.toml:3:10: warning: `e` wants `b`, which failed to load; ignoring".to_string(),
                format!("x.toml:2:11: error: {xy}"),
                format!("y.toml:2:11: error: {}", on("y", "x.toml:2:11")),
            ]
        );
    }

    #[test]
    fn cycle_through_before_on_the_other_side() {
        // a after b; a before b: a -> b and b -> a.
        let tmp = dir_with(&[
            (
                "a.toml",
                "exec = \"/bin/true\"\nafter = [\"b\"]\nbefore = [\"b\"]\n",
            ),
            ("b.toml", OK),
        ]);
        let r = load_dir(tmp.path());
        assert_eq!(names(&r), vec!["default"]);
        let msg = "ordering cycle a -> b -> a (each starts after the next; 2 units); none of these units is loaded";
        assert_eq!(
            rendered(&r, tmp.path()),
            vec![
                format!("a.toml:2:10: error: {msg}"),
                "b.toml: error: `b` is on the ordering cycle reported at a.toml:2:10; not loaded"
                    .to_string()
            ]
        );
    }

    #[test]
    fn enablement_links_and_masks_merge_into_wanted_by() {
        let tmp = dir_with(&[
            ("plain.toml", OK),
            (
                "declared.toml",
                "exec = \"/bin/true\"\nwanted_by = [\"default\", \"extra\"]\n",
            ),
            ("extra.toml", "type = \"target\"\n"),
        ]);
        let dir = tmp.path();
        enable::enable(dir, "plain", None).unwrap();
        enable::enable(dir, "plain", Some("extra")).unwrap();
        enable::disable(dir, "declared").unwrap();
        enable::enable(dir, "declared", Some("extra")).unwrap();
        std::os::unix::fs::symlink("../ghost.toml", dir.join("default.wants/ghost.toml")).unwrap();
        let r = load_dir(dir);
        assert_eq!(r.units["plain"].wanted_by, vec!["default", "extra"]);
        assert_eq!(r.units["declared"].wanted_by, vec!["extra"]);
        assert_eq!(
            rendered(&r, dir),
            vec!["default.wants/ghost.toml: warning: link enables `ghost` for `default`, but `ghost` does not exist; ignoring"]
        );
        let g = crate::graph::Graph::build(&r.units);
        assert_eq!(g.closure("default"), vec!["default", "plain"]);
        assert_eq!(g.closure("extra"), vec!["declared", "extra", "plain"]);
    }

    #[test]
    fn missing_directory_is_reported() {
        let r = load_dir(Path::new("/nonexistent/vigil-units"));
        assert!(r.diagnostics[0]
            .to_string()
            .starts_with("/nonexistent/vigil-units: error: cannot read the units directory"));
        assert_eq!(names(&r), vec!["default"]);
    }

    #[test]
    fn load_paths_checks_only_the_named_files_with_their_neighbours() {
        let tmp = dir_with(&[
            (
                "web.toml",
                "exec = \"/bin/true\"\nrequires = [\"db\"]\nafter = [\"nope\"]\n",
            ),
            ("db.toml", OK),
            ("other.toml", "garbage"),
            (
                "orphan.toml",
                "exec = \"/bin/true\"\nrequires = [\"missing\"]\n",
            ),
        ]);
        let dir = tmp.path();
        let r = load_paths(&[dir.join("web.toml")]);
        assert_eq!(names(&r), vec!["web"]);
        assert_eq!(
            rendered(&r, dir),
            vec!["web.toml:3:10: warning: `web` is ordered after `nope`, which does not exist; ignoring"]
        );
        let r = load_paths(&[dir.join("orphan.toml"), dir.join("nothere.toml")]);
        assert!(names(&r).is_empty());
        let out = rendered(&r, dir);
        assert_eq!(out.len(), 2, "{out:#?}");
        assert!(out[0].starts_with("nothere.toml: error: cannot read: "));
        assert_eq!(
            out[1],
            "orphan.toml:2:13: error: `orphan` requires `missing`, which does not exist; `orphan` is not loaded"
        );
    }

    #[test]
    fn load_paths_accepts_directories() {
        let tmp = dir_with(&[("a.toml", OK), ("b.toml", "exec = 5\n")]);
        let r = load_paths(&[tmp.path().to_path_buf()]);
        assert_eq!(names(&r), vec!["a", "default"]);
        assert_eq!(
            rendered(&r, tmp.path()),
            vec!["b.toml:1:8: error: `exec` must be an array of strings (argv) or a command line, found integer 5"]
        );
    }

    #[test]
    fn parse_unit_is_public_and_standalone() {
        let def = parse_unit("hello", Path::new("/x/hello.toml"), "exec = \"echo hi\"").unwrap();
        assert_eq!(def.exec, vec!["echo", "hi"]);
        let errs =
            parse_unit("hello", Path::new("/x/hello.toml"), "exec = 1\nbogus = 2").unwrap_err();
        assert_eq!(errs.len(), 2);
    }

    #[test]
    fn a_long_cycle_is_reported_once_and_every_message_stays_short() {
        // Issue 8, point 7: a 3,000-unit cycle repeated the whole path in
        // every unit's message (78 MB of log).
        let n = 300;
        let files: Vec<(String, String)> = (0..n)
            .map(|i| {
                (
                    format!("u{i}.toml"),
                    format!("exec = \"/bin/true\"\nafter = [\"u{}\"]\n", (i + 1) % n),
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let tmp = dir_with(&refs);
        let r = load_dir(tmp.path());
        assert_eq!(r.diagnostics.len(), n);
        let longest = r.diagnostics.iter().map(|d| d.message.len()).max().unwrap();
        assert!(longest < 300, "{longest}");
        let full: Vec<_> = r
            .diagnostics
            .iter()
            .filter(|d| d.message.starts_with("ordering cycle"))
            .collect();
        assert_eq!(full.len(), 1);
        assert!(
            full[0].message.contains("(291 more)"),
            "{}",
            full[0].message
        );
        assert!(full[0].message.contains("300 units"));
    }

    #[test]
    fn a_list_of_many_names_keeps_exact_positions_and_drops_duplicates() {
        let names: Vec<String> = (0..2000).map(|i| format!("\"m{}\"", i % 1000)).collect();
        let text = format!("exec = \"/bin/true\"\nwants = [{}]\n", names.join(","));
        let tmp = dir_with(&[("a.toml", &text)]);
        let r = load_dir(tmp.path());
        assert_eq!(r.diagnostics.len(), 1000, "duplicates are listed once");
        let last = r
            .diagnostics
            .iter()
            .find(|d| d.message.contains("`m999`"))
            .unwrap();
        // `wants = [` is 9 columns; each entry "mN", is len+3 wide.
        let col: usize = 10
            + (0..999)
                .map(|i: usize| i.to_string().len() + 4)
                .sum::<usize>();
        assert_eq!((last.line, last.column), (Some(2), Some(col)));
    }
}

#[cfg(test)]
mod generated_tests {
    use super::*;

    #[test]
    fn files_may_depend_on_generated_units() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("alt.toml"),
            "type = \"target\"\nwants = [\"getty@ttyS1\"]\n",
        )
        .unwrap();
        let mut getty = UnitDef::new("getty@ttyS1");
        getty.exec = thin_vec::thin_vec!["/sbin/agetty".into()];
        let without = load_dir(dir.path());
        assert!(without
            .diagnostics
            .iter()
            .any(|d| d.message.contains("getty@ttyS1")));
        let with = load_dir_with(dir.path(), &[getty]);
        assert!(with.diagnostics.is_empty(), "{:?}", with.diagnostics);
        assert_eq!(with.units["alt"].wants, vec!["getty@ttyS1".to_string()]);
        assert!(with.units.contains_key("getty@ttyS1"));
    }

    fn built_in_getty(tty: &str) -> UnitDef {
        let mut getty = UnitDef::new(format!("getty@{tty}"));
        getty.exec = thin_vec::thin_vec!["/sbin/agetty".into(), "built-in".into()];
        getty.wanted_by = thin_vec::thin_vec!["default".into()];
        getty
    }

    #[test]
    fn a_tty_getty_is_an_instance_of_the_getty_template_when_there_is_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("getty@.toml"),
            "exec = [\"/sbin/agetty\", \"%i\", \"from-template\"]\n",
        )
        .unwrap();
        let r = load_dir_with(dir.path(), &[built_in_getty("ttyS1")]);
        assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
        let unit = &r.units["getty@ttyS1"];
        assert_eq!(unit.exec, ["/sbin/agetty", "ttyS1", "from-template"]);
        // Started at boot as the [[tty]] says, though the template has no wanted_by.
        assert_eq!(unit.wanted_by, ["default"]);
        assert_eq!(
            unit.path.as_deref(),
            Some(dir.path().join("getty@.toml").as_path())
        );
    }

    #[test]
    fn a_broken_getty_template_leaves_the_built_in_getty_so_root_can_still_log_in() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("getty@.toml"), "exec = 5\n").unwrap();
        let r = load_dir_with(dir.path(), &[built_in_getty("ttyS1")]);
        assert_eq!(r.units["getty@ttyS1"].exec, ["/sbin/agetty", "built-in"]);
        let messages: Vec<String> = r.diagnostics.iter().map(|d| d.to_string()).collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("getty@.toml") && m.contains("error")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("getty@ttyS1") && m.contains("built-in")),
            "{messages:?}"
        );
    }
}

#[cfg(test)]
mod special_file_tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.toml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let r = load_paths(std::slice::from_ref(&fifo));
        assert!(!r.units.contains_key("pipe"));
        assert!(
            r.diagnostics
                .iter()
                .any(|d| d.message == "not a regular file"),
            "{:?}",
            r.diagnostics
        );
    }
}
