//! The unit file schema: turns one file's TOML into a `UnitDef`, collecting
//! every problem with its line:column instead of stopping at the first.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::load::{Diagnostic, Severity};
use super::model::{
    EnvironmentFile, ExecCommand, KillMode, Output, RestartPolicy, SuccessStatus, UnitDef, UnitKind,
};
use super::name::check_unit_name;
use super::scalar;
use super::span::{LineIndex, Node, Pos};
use super::suggest::did_you_mean;

/// Every key a unit file may contain.
pub const KEYS: &[&str] = &[
    "description",
    "exec",
    "type",
    "pid_file",
    "remain_after_exit",
    "restart",
    "restart_delay",
    "restart_delay_max",
    "start_limit_burst",
    "start_limit_interval",
    "start_timeout",
    "wants",
    "requires",
    "after",
    "before",
    "wanted_by",
    "environment",
    "environment_file",
    "working_directory",
    "user",
    "group",
    "supplementary_groups",
    "umask",
    "stop_signal",
    "stop_timeout",
    "stdout",
    "stderr",
    "log_max_size",
    "log_keep",
    "limits",
    "nice",
    "oom_score_adj",
    "kill_mode",
    "runtime_directory",
    "runtime_directory_mode",
    "state_directory",
    "state_directory_mode",
    "condition_path_exists",
    "condition_path_is_directory",
    "condition_directory_not_empty",
    "condition_file_not_empty",
    "condition_file_is_executable",
    "condition_path_is_symbolic_link",
    "condition_capability",
    "on_failure",
    "reload_signal",
    "exec_start_pre",
    "exec_start_post",
    "exec_stop",
    "exec_reload",
    "exec_stop_post",
    "aliases",
    "tty",
    "tty_vhangup",
    "success_exit_status",
];

const KINDS: &[(&str, UnitKind)] = &[
    ("simple", UnitKind::Simple),
    ("notify", UnitKind::Notify),
    ("forking", UnitKind::Forking),
    ("oneshot", UnitKind::Oneshot),
    ("target", UnitKind::Target),
];

const KILL_MODES: &[(&str, KillMode)] = &[
    ("group", KillMode::Group),
    ("process", KillMode::Process),
    ("mixed", KillMode::Mixed),
];

const RESTARTS: &[(&str, RestartPolicy)] = &[
    ("always", RestartPolicy::Always),
    ("on-failure", RestartPolicy::OnFailure),
    ("never", RestartPolicy::Never),
];

/// Tokens that only mean something to a shell; seeing one in argv is a hint
/// that the author expected `exec` to go through `sh`.
const SHELL_TOKENS: &[&str] = &["|", "||", "&&", ";", ">", ">>", "<", "2>", "2>&1", "&"];
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "busybox"];

/// The dependency lists, whose entries the loader must resolve later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DepField {
    Wants,
    Requires,
    After,
    Before,
    WantedBy,
    /// Not a dependency: the unit's other names (`aliases`), which the
    /// loader checks against every unit like one.
    Alias,
    /// Not a dependency either: the units started when this one fails
    /// (`on_failure`), checked and resolved like `wants`.
    OnFailure,
}

impl DepField {
    /// The key it is written as.
    pub fn key(self) -> &'static str {
        match self {
            DepField::Wants => "wants",
            DepField::Requires => "requires",
            DepField::After => "after",
            DepField::Before => "before",
            DepField::WantedBy => "wanted_by",
            DepField::Alias => "aliases",
            DepField::OnFailure => "on_failure",
        }
    }

    /// How a message reads: "`web` wants `db`".
    pub fn verb(self) -> &'static str {
        match self {
            DepField::Wants => "wants",
            DepField::Requires => "requires",
            DepField::After => "is ordered after",
            DepField::Before => "is ordered before",
            DepField::WantedBy => "is wanted by",
            DepField::Alias => "is also named",
            DepField::OnFailure => "starts on failure",
        }
    }

    /// The list in `def` this field fills, to read (never gives a unit the
    /// box of rare keys).
    pub fn list(self, def: &UnitDef) -> &[String] {
        match self {
            DepField::Wants => &def.wants,
            DepField::Requires => &def.requires,
            DepField::After => &def.after,
            DepField::Before => &def.before,
            DepField::WantedBy => &def.wanted_by,
            DepField::Alias => &def.extra().aliases,
            DepField::OnFailure => &def.extra().on_failure,
        }
    }

    /// The list in `def` this field fills, to change (the rare ones are in
    /// `Extras`: call only when there is a change to make).
    pub fn list_mut(self, def: &mut UnitDef) -> &mut thin_vec::ThinVec<String> {
        match self {
            DepField::Wants => &mut def.wants,
            DepField::Requires => &mut def.requires,
            DepField::After => &mut def.after,
            DepField::Before => &mut def.before,
            DepField::WantedBy => &mut def.wanted_by,
            DepField::Alias => &mut def.extra_mut().aliases,
            DepField::OnFailure => &mut def.extra_mut().on_failure,
        }
    }
}

/// A unit that parsed, plus what the graph checks need to locate their messages.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The unit, with dependency lists not yet checked against other units.
    pub def: UnitDef,
    /// Where each dependency entry was written.
    pub refs: BTreeMap<(DepField, String), Pos>,
    /// Problems that do not stop the unit from loading.
    pub warnings: Vec<Diagnostic>,
}

/// Parse one unit file. `Err` holds every error found (and no warnings).
pub fn parse(name: &str, path: &Path, text: &str) -> Result<Parsed, Vec<Diagnostic>> {
    let lines = LineIndex::new(text);
    let mut p = Parser {
        file: path,
        lines,
        errors: Vec::new(),
        warnings: Vec::new(),
        def: UnitDef::new(name),
        refs: BTreeMap::new(),
        seen: BTreeMap::new(),
    };
    p.def.path = Some(path.to_path_buf());
    if let Err(why) = check_unit_name(name) {
        p.errors.push(Diagnostic {
            severity: Severity::Error,
            file: path.to_path_buf(),
            line: None,
            column: None,
            message: format!("invalid unit name {name:?} (from the file name): {why}"),
        });
    }
    match toml::from_str::<Node>(text) {
        Err(e) => p.syntax_error(&e),
        Ok(Node::Table(entries)) => {
            for (key, value) in &entries {
                p.entry(key, value);
            }
            p.cross_checks();
        }
        Ok(_) => p
            .errors
            .push(p.diag(None, "a unit file must be a TOML table".to_string())),
    }
    let Parser {
        mut errors,
        warnings,
        def,
        refs,
        ..
    } = p;
    if errors.is_empty() {
        Ok(Parsed {
            def,
            refs,
            warnings,
        })
    } else {
        errors.sort_by_key(|d| (d.line, d.column));
        Err(errors)
    }
}

struct Parser<'a> {
    file: &'a Path,
    lines: LineIndex<'a>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    def: UnitDef,
    refs: BTreeMap<(DepField, String), Pos>,
    /// Known keys present in the file: key span and value span.
    seen: BTreeMap<&'static str, (Range<usize>, Range<usize>)>,
}

/// "`exec`" for messages.
fn q(key: &str) -> String {
    format!("`{key}`")
}

impl Parser<'_> {
    fn diag(&self, span: Option<&Range<usize>>, message: String) -> Diagnostic {
        let pos = span.map(|s| self.lines.start(s));
        Diagnostic {
            severity: Severity::Error,
            file: self.file.to_path_buf(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            message,
        }
    }

    fn err(&mut self, span: &Range<usize>, message: String) {
        let d = self.diag(Some(span), message);
        self.errors.push(d);
    }

    fn warn(&mut self, span: &Range<usize>, message: String) {
        let mut d = self.diag(Some(span), message);
        d.severity = Severity::Warning;
        self.warnings.push(d);
    }

    fn wrong_type(&mut self, what: &str, expected: &str, value: &Spanned<Node>) {
        let msg = format!(
            "{what} must be {expected}, found {}",
            value.get_ref().describe()
        );
        self.err(&value.span(), msg);
    }

    fn syntax_error(&mut self, e: &toml::de::Error) {
        let message = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let d = self.diag(e.span().as_ref(), format!("TOML syntax: {message}"));
        self.errors.push(d);
    }

    fn entry(&mut self, key: &Spanned<String>, value: &Spanned<Node>) {
        let k = key.get_ref().as_str();
        let Some(known) = KEYS.iter().copied().find(|x| *x == k) else {
            self.unknown_key(key, value);
            return;
        };
        self.seen.insert(known, (key.span(), value.span()));
        match known {
            "description" => {
                if let Some(s) = self.string(known, value) {
                    self.def.description = s;
                }
            }
            "exec" => self.exec(value),
            "type" => {
                if let Some(v) = self.choice(known, KINDS, value) {
                    self.def.kind = v;
                }
            }
            "pid_file" => self.def.extra_mut().pid_file = self.abs_path(known, value),
            "remain_after_exit" => {
                if let Some(b) = self.boolean(known, value) {
                    self.def.remain_after_exit = b;
                }
            }
            "restart" => {
                if let Some(v) = self.choice(known, RESTARTS, value) {
                    self.def.restart = v;
                }
            }
            "start_limit_burst" => {
                if let Some(n) = self.positive(known, value) {
                    self.def.extra_mut().start_limit_burst = n;
                }
            }
            "restart_delay"
            | "restart_delay_max"
            | "start_limit_interval"
            | "start_timeout"
            | "stop_timeout" => {
                if let Some(d) = self.duration(known, value) {
                    *self.duration_slot(known) = d;
                }
            }
            "wants" => self.deps(DepField::Wants, value),
            "requires" => self.deps(DepField::Requires, value),
            "after" => self.deps(DepField::After, value),
            "before" => self.deps(DepField::Before, value),
            "wanted_by" => self.deps(DepField::WantedBy, value),
            "on_failure" => self.deps(DepField::OnFailure, value),
            "environment" => self.environment(value),
            "environment_file" => self.environment_file(value),
            "working_directory" => {
                self.def.extra_mut().working_directory = self.abs_path(known, value)
            }
            "user" => self.def.extra_mut().user = self.account(&q(known), value),
            "group" => self.def.extra_mut().group = self.account(&q(known), value),
            "supplementary_groups" => self.groups(value),
            "umask" => self.umask(value),
            "stop_signal" => self.signal(value),
            "reload_signal" => self.def.extra_mut().reload_signal = self.signal_of(known, value),
            "exec_start_pre" => self.def.extra_mut().exec_start_pre = self.commands(known, value),
            "exec_start_post" => self.def.extra_mut().exec_start_post = self.commands(known, value),
            "exec_stop" => self.def.extra_mut().exec_stop = self.commands(known, value),
            "exec_reload" => self.def.extra_mut().exec_reload = self.commands(known, value),
            "exec_stop_post" => self.def.extra_mut().exec_stop_post = self.commands(known, value),
            "aliases" => self.aliases(value),
            "tty" => self.def.extra_mut().tty = self.abs_path(known, value),
            "success_exit_status" => self.success_exit_status(value),
            "tty_vhangup" => {
                if let Some(b) = self.boolean(known, value) {
                    self.def.extra_mut().tty_vhangup = b;
                }
            }
            "stdout" => {
                if let Some(o) = self.output(known, value) {
                    self.def.stdout = o;
                }
            }
            "stderr" => {
                if let Some(o) = self.output(known, value) {
                    self.def.stderr = o;
                }
            }
            "log_max_size" => self.def.extra_mut().log_max_size = self.log_size(known, value),
            "log_keep" => self.def.extra_mut().log_keep = self.count(known, value),
            "limits" => self.limits(value),
            "runtime_directory" => {
                self.def.extra_mut().runtime_directory = self.directories(known, "/run", value)
            }
            "state_directory" => {
                self.def.extra_mut().state_directory = self.directories(known, "/var/lib", value)
            }
            "runtime_directory_mode" | "state_directory_mode" => {
                let parsed = match value.get_ref() {
                    Node::String(s) => scalar::parse_umask(s),
                    Node::Integer(i) => scalar::umask_number(*i),
                    _ => {
                        self.wrong_type(&q(known), "an octal string like \"0755\"", value);
                        return;
                    }
                };
                match parsed {
                    Ok(m) if known == "runtime_directory_mode" => {
                        self.def.extra_mut().runtime_directory_mode = m
                    }
                    Ok(m) => self.def.extra_mut().state_directory_mode = m,
                    Err(why) => self.err(
                        &value.span(),
                        format!("{}: {}", q(known), why.replace("umask", "mode")),
                    ),
                }
            }
            "condition_capability" => self.capability_condition(value),
            "kill_mode" => {
                if let Some(v) = self.choice(known, KILL_MODES, value) {
                    self.def.kill_mode = v;
                }
            }
            "nice" => self.def.extra_mut().nice = self.int_in(known, value, -20, 19),
            "oom_score_adj" => {
                self.def.extra_mut().oom_score_adj = self.int_in(known, value, -1000, 1000)
            }
            // The path conditions: one arm for the keys of PATH_TESTS.
            other => {
                if let Some(test) = super::model::PathTest::from_key(other) {
                    self.path_condition(test, value);
                }
            }
        }
    }

    fn duration_slot(&mut self, key: &str) -> &mut Duration {
        match key {
            "restart_delay" => &mut self.def.restart_delay,
            "restart_delay_max" => &mut self.def.extra_mut().restart_delay_max,
            "start_limit_interval" => &mut self.def.extra_mut().start_limit_interval,
            "start_timeout" => &mut self.def.start_timeout,
            _ => &mut self.def.stop_timeout,
        }
    }

    fn unknown_key(&mut self, key: &Spanned<String>, value: &Spanned<Node>) {
        let k = key.get_ref();
        let mut msg = format!("unknown key {}", q(k));
        if let Some(hint) = did_you_mean(k, KEYS) {
            msg.push_str(&format!("; did you mean {}?", q(hint)));
        } else if matches!(value.get_ref(), Node::Table(_))
            && ["unit", "service", "install"].contains(&k.to_ascii_lowercase().as_str())
        {
            msg.push_str("; unit files have no [sections]: write every key at the top level");
        }
        self.err(&key.span(), msg);
    }

    fn string(&mut self, key: &str, value: &Spanned<Node>) -> Option<String> {
        match value.get_ref() {
            Node::String(s) => Some(s.clone()),
            _ => {
                self.wrong_type(&q(key), "a string", value);
                None
            }
        }
    }

    fn boolean(&mut self, key: &str, value: &Spanned<Node>) -> Option<bool> {
        match value.get_ref() {
            Node::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(&q(key), "true or false", value);
                None
            }
        }
    }

    fn positive(&mut self, key: &str, value: &Spanned<Node>) -> Option<u32> {
        match value.get_ref() {
            Node::Integer(i) if *i >= 1 => match u32::try_from(*i) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.err(&value.span(), format!("{} is too large: {i}", q(key)));
                    None
                }
            },
            _ => {
                self.wrong_type(&q(key), "a positive integer", value);
                None
            }
        }
    }

    fn choice<T: Copy>(
        &mut self,
        key: &str,
        options: &[(&str, T)],
        value: &Spanned<Node>,
    ) -> Option<T> {
        if let Node::String(s) = value.get_ref() {
            if let Some((_, v)) = options.iter().find(|(name, _)| name == s) {
                return Some(*v);
            }
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let expected = format!("one of {}", names.join(", "));
        self.wrong_type(&q(key), &expected, value);
        None
    }

    fn duration(&mut self, key: &str, value: &Spanned<Node>) -> Option<Duration> {
        let parsed = match value.get_ref() {
            Node::String(s) => {
                scalar::parse_duration(s).map_err(|why| format!("invalid duration {s:?}: {why}"))
            }
            Node::Integer(i) => scalar::seconds(*i as f64),
            Node::Float(f) => scalar::seconds(*f),
            _ => {
                self.wrong_type(
                    &q(key),
                    "a duration like \"1.5s\" or a number of seconds",
                    value,
                );
                return None;
            }
        };
        match parsed {
            Ok(d) => Some(d),
            Err(why) => {
                self.err(&value.span(), format!("{}: {why}", q(key)));
                None
            }
        }
    }

    fn abs_path(&mut self, key: &str, value: &Spanned<Node>) -> Option<PathBuf> {
        let s = self.string(key, value)?;
        self.check_abs(&q(key), &s, &value.span())
    }

    fn check_abs(&mut self, what: &str, s: &str, span: &Range<usize>) -> Option<PathBuf> {
        if s.contains('\0') {
            self.err(span, format!("{what} contains a NUL byte"));
            None
        } else if !s.starts_with('/') {
            self.err(
                span,
                format!("{what} must be an absolute path, found {s:?}"),
            );
            None
        } else {
            Some(PathBuf::from(s))
        }
    }

    fn exec(&mut self, value: &Spanned<Node>) {
        if let Some((argv, _)) = self.command("exec", value, false) {
            self.def.exec = argv.into();
        }
    }

    /// One command line: an argv array or a string split like a shell's
    /// words (never run through one); `what` names it in messages.
    /// With `prefixed`, a `-` before the program marks the command
    /// optional (returned as the flag).
    fn command(
        &mut self,
        name: &str,
        value: &Spanned<Node>,
        prefixed: bool,
    ) -> Option<(Vec<String>, bool)> {
        let span = value.span();
        let what = q(name);
        let what = what.as_str();
        let argv = match value.get_ref() {
            Node::Array(items) => {
                let mut argv = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.get_ref() {
                        Node::String(s) => argv.push(s.clone()),
                        _ => self.wrong_type(&q(&format!("{name}[{i}]")), "a string", item),
                    }
                }
                if argv.len() != items.len() {
                    return None;
                }
                argv
            }
            Node::String(s) => match shlex::split(s) {
                Some(argv) => argv,
                None => {
                    self.err(
                        &span,
                        format!("{what}: unbalanced quotes or trailing backslash in {s:?}"),
                    );
                    return None;
                }
            },
            _ => {
                self.wrong_type(what, "an array of strings (argv) or a command line", value);
                return None;
            }
        };
        let mut argv = argv;
        let mut optional = false;
        if prefixed {
            if let Some(rest) = argv.first().and_then(|p| p.strip_prefix('-')) {
                optional = true;
                let rest = rest.to_string();
                if let Some(first) = argv.first_mut() {
                    *first = rest;
                }
            }
        }
        let Some(program) = argv.first() else {
            self.err(&span, format!("{what} must not be empty"));
            return None;
        };
        if program.is_empty() {
            self.err(&span, format!("{what}: the program name is empty"));
            return None;
        }
        if argv.iter().any(|a| a.contains('\0')) {
            self.err(&span, format!("{what} contains a NUL byte"));
            return None;
        }
        if program.contains('/') && !program.starts_with('/') {
            self.err(
                &span,
                format!(
                    "{what}: the program must be an absolute path or a bare name found in PATH, found {program:?}"
                ),
            );
            return None;
        }
        let base = program.rsplit('/').next().unwrap_or(program);
        if !SHELLS.contains(&base) {
            if let Some(tok) = argv
                .iter()
                .skip(1)
                .find(|a| SHELL_TOKENS.contains(&a.as_str()))
            {
                self.warn(
                    &span,
                    format!(
                        "{what} is not run through a shell, so {tok:?} is passed to {program} as an argument; use [\"/bin/sh\", \"-c\", \"...\"] if you need a shell"
                    ),
                );
            }
        }
        Some((argv, optional))
    }

    /// `exec_start_pre` and friends: a list of commands, each a command
    /// line or an argv array; a `-` before the program makes a failure of
    /// that command harmless (systemd's prefix).
    fn commands(&mut self, key: &str, value: &Spanned<Node>) -> Vec<ExecCommand> {
        // A list: each entry is one command (a list of strings is a list of
        // command lines, not one argv).
        let expected = "a list of commands (command lines or argv arrays)";
        let Some(items) = self.entries(&q(key), expected, value, is_string) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let name = format!("{key}[{i}]");
            let Some((argv, optional)) = self.command(&name, item, true) else {
                continue;
            };
            out.push(ExecCommand { argv, optional });
        }
        out
    }

    /// The entries of a key that takes one value or an array of them
    /// (`one` says which kinds of lone value count as one entry). Any other
    /// value is reported as not `expected` and gives none.
    fn entries<'v>(
        &mut self,
        key: &str,
        expected: &str,
        value: &'v Spanned<Node>,
        one: impl Fn(&Node) -> bool,
    ) -> Option<Vec<&'v Spanned<Node>>> {
        match value.get_ref() {
            Node::Array(items) => Some(items.iter().collect()),
            lone if one(lone) => Some(vec![value]),
            _ => {
                self.wrong_type(key, expected, value);
                None
            }
        }
    }

    fn deps(&mut self, field: DepField, value: &Spanned<Node>) {
        let key = field.key();
        let Some(items) = self.entries(&q(key), "an array of unit names", value, is_string) else {
            return;
        };
        let own = self.def.name.to_string();
        for item in items {
            let Node::String(name) = item.get_ref() else {
                self.wrong_type(&format!("an entry of {}", q(key)), "a unit name", item);
                continue;
            };
            if let Err(why) = check_unit_name(name) {
                self.err(
                    &item.span(),
                    format!("{}: invalid unit name {name:?}: {why}", q(key)),
                );
                continue;
            }
            if *name == own {
                match field {
                    DepField::After | DepField::Before => self.err(
                        &item.span(),
                        format!("`{own}` cannot be ordered {key} itself"),
                    ),
                    _ => self.warn(
                        &item.span(),
                        format!("`{own}` {} itself; ignoring", field.verb()),
                    ),
                }
                continue;
            }
            // `refs` knows every name listed so far: a linear pass even for
            // a list of 100,000 names.
            let key = (field, name.clone());
            if !self.refs.contains_key(&key) {
                field.list_mut(&mut self.def).push(name.clone());
                let pos = self.lines.start(&item.span());
                self.refs.insert(key, pos);
            }
        }
        field.list_mut(&mut self.def).sort();
    }

    fn environment(&mut self, value: &Spanned<Node>) {
        let Node::Table(entries) = value.get_ref() else {
            self.wrong_type(
                "`environment`",
                "a table of strings, like { LANG = \"C.UTF-8\" }",
                value,
            );
            return;
        };
        for (k, v) in entries {
            let name = k.get_ref();
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                self.err(
                    &k.span(),
                    format!("`environment`: {name:?} is not a valid variable name"),
                );
                continue;
            }
            match v.get_ref() {
                Node::String(s) if s.contains('\0') => {
                    self.err(
                        &v.span(),
                        format!("`environment.{name}` contains a NUL byte"),
                    );
                }
                Node::String(s) => {
                    self.def
                        .extra_mut()
                        .environment
                        .insert(name.clone(), s.clone());
                }
                _ => self.wrong_type(&format!("`environment.{name}`"), "a string", v),
            }
        }
    }

    fn environment_file(&mut self, value: &Spanned<Node>) {
        let expected = "a path or an array of paths";
        let Some(items) = self.entries("`environment_file`", expected, value, is_string) else {
            return;
        };
        for item in items {
            let Node::String(s) = item.get_ref() else {
                self.wrong_type("an entry of `environment_file`", "a path", item);
                continue;
            };
            let (optional, path) = match s.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, s.as_str()),
            };
            if !path.starts_with('/') {
                let msg = format!("`environment_file` must be an absolute path (optionally with a leading `-`), found {s:?}");
                self.err(&item.span(), msg);
            } else if let Some(path) = self.check_abs("`environment_file`", path, &item.span()) {
                self.def
                    .extra_mut()
                    .environment_file
                    .push(EnvironmentFile { path, optional });
            }
        }
    }

    /// A user or group: a name, or a numeric id written as an integer.
    fn account(&mut self, what: &str, value: &Spanned<Node>) -> Option<String> {
        match value.get_ref() {
            Node::String(s) if !s.is_empty() && !s.contains('\0') && !s.contains(':') => {
                Some(s.clone())
            }
            Node::Integer(i) if u32::try_from(*i).is_ok() => Some(i.to_string()),
            _ => {
                self.wrong_type(what, "a user or group name or a numeric id", value);
                None
            }
        }
    }

    fn groups(&mut self, value: &Spanned<Node>) {
        let Node::Array(items) = value.get_ref() else {
            self.wrong_type("`supplementary_groups`", "an array of group names", value);
            return;
        };
        for item in items {
            if let Some(g) = self.account("an entry of `supplementary_groups`", item) {
                if !self.def.extra().supplementary_groups.contains(&g) {
                    self.def.extra_mut().supplementary_groups.push(g);
                }
            }
        }
    }

    fn umask(&mut self, value: &Spanned<Node>) {
        let parsed = match value.get_ref() {
            Node::String(s) => scalar::parse_umask(s),
            Node::Integer(i) => scalar::umask_number(*i),
            _ => {
                self.wrong_type("`umask`", "an octal string like \"022\"", value);
                return;
            }
        };
        match parsed {
            Ok(m) => {
                self.def.extra_mut().umask = Some(m);
                // `umask = 22` is TOML's decimal 22, a mask of 0o026: almost
                // certainly meant as octal.
                let raw = self.lines.slice(&value.span()).trim();
                if let Node::Integer(i) = value.get_ref() {
                    if *i > 7 && !raw.starts_with("0o") {
                        self.warn(
                            &value.span(),
                            format!(
                                "`umask = {raw}` is the decimal number {i}, the mask {m:04o}; write \"{raw:0>3}\" (a string) or 0o{raw} for an octal mask"
                            ),
                        );
                    }
                }
            }
            Err(why) => self.err(&value.span(), format!("`umask`: {why}")),
        }
    }

    fn signal(&mut self, value: &Spanned<Node>) {
        if let Some(n) = self.signal_of("stop_signal", value) {
            self.def.stop_signal = n;
        }
    }

    fn signal_of(&mut self, key: &str, value: &Spanned<Node>) -> Option<i32> {
        let parsed = match value.get_ref() {
            Node::String(s) => scalar::parse_signal(s),
            Node::Integer(i) => scalar::signal_number(*i),
            _ => {
                self.wrong_type(&q(key), "a signal name like \"SIGTERM\" or a number", value);
                return None;
            }
        };
        match parsed {
            Ok(n) => Some(n),
            Err(why) => {
                self.err(&value.span(), format!("{}: {why}", q(key)));
                None
            }
        }
    }

    /// A log size: a byte count or "64K", "1M", "1G", at least
    /// `MIN_MAX_SIZE`.
    fn log_size(&mut self, key: &str, value: &Spanned<Node>) -> Option<u64> {
        let parsed = match value.get_ref() {
            Node::Integer(i) => u64::try_from(*i).map_err(|_| format!("{i} is not a size")),
            Node::String(s) => crate::logs::size::parse_size(s),
            _ => {
                self.wrong_type(&q(key), "a byte count or a size such as \"1M\"", value);
                return None;
            }
        };
        let min = crate::logs::store::MIN_MAX_SIZE;
        match parsed {
            Ok(n) if n >= min => Some(n),
            Ok(n) => {
                self.err(
                    &value.span(),
                    format!("{} must be at least {min} bytes (8K), found {n}", q(key)),
                );
                None
            }
            Err(why) => {
                self.err(&value.span(), format!("{}: {why}", q(key)));
                None
            }
        }
    }

    /// A count that may be zero.
    /// `runtime_directory = "sshd"` or a list: names relative to `base`
    /// (no `..`, no absolute path), as absolute paths.
    fn directories(&mut self, key: &str, base: &str, value: &Spanned<Node>) -> Vec<PathBuf> {
        let expected = "a directory name or a list of them";
        let Some(items) = self.entries(&q(key), expected, value, is_string) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let Node::String(name) = item.get_ref() else {
                self.wrong_type(&format!("an entry of {}", q(key)), "a directory name", item);
                continue;
            };
            let bad = name.is_empty()
                || name.starts_with('/')
                || name.contains('\0')
                || name
                    .split('/')
                    .any(|c| c.is_empty() || c == "." || c == "..");
            if bad {
                self.err(
                    &item.span(),
                    format!(
                        "{}: {name:?} must be a relative path under {base}, like \"sshd\" or \"app/cache\"",
                        q(key)
                    ),
                );
                continue;
            }
            out.push(Path::new(base).join(name));
        }
        out
    }

    /// `aliases`: names that must be valid unit names and not the unit's own.
    /// `success_exit_status = [75, "SIGTERM"]`: exit codes (0 to 255) and
    /// signal names or numbers written as names.
    fn success_exit_status(&mut self, value: &Spanned<Node>) {
        let key = "`success_exit_status`";
        let expected = "an exit code (0 to 255) or a signal name like \"SIGTERM\"";
        let one = |n: &Node| matches!(n, Node::Integer(_) | Node::String(_));
        let whole = format!("an array of entries, each {expected}");
        let Some(items) = self.entries(key, &whole, value, one) else {
            return;
        };
        let mut list = Vec::new();
        for item in items {
            let entry = match item.get_ref() {
                Node::Integer(i) => match i32::try_from(*i) {
                    Ok(code) if (0..=255).contains(&code) => SuccessStatus::Code(code),
                    _ => {
                        self.err(
                            &item.span(),
                            format!("{key}: {i} is not an exit code (0 to 255)"),
                        );
                        continue;
                    }
                },
                Node::String(s) => match scalar::parse_signal(s) {
                    Ok(n) => SuccessStatus::Signal(n),
                    Err(why) => {
                        self.err(&item.span(), format!("{key}: {why}"));
                        continue;
                    }
                },
                _ => {
                    self.wrong_type(&format!("an entry of {key}"), expected, item);
                    continue;
                }
            };
            if !list.contains(&entry) {
                list.push(entry);
            }
        }
        if !list.is_empty() {
            self.def.extra_mut().success_exit_status = list;
        }
    }

    fn aliases(&mut self, value: &Spanned<Node>) {
        let key = "`aliases`";
        let Some(items) = self.entries(key, "an array of unit names", value, is_string) else {
            return;
        };
        let own = self.def.name.to_string();
        for item in items {
            let Node::String(name) = item.get_ref() else {
                self.wrong_type(&format!("an entry of {key}"), "a unit name", item);
                continue;
            };
            if let Err(why) = check_unit_name(name) {
                self.err(
                    &item.span(),
                    format!("{key}: invalid unit name {name:?}: {why}"),
                );
                continue;
            }
            if *name == own {
                self.warn(
                    &item.span(),
                    format!("`{own}` is already the unit's name; ignoring the alias"),
                );
                continue;
            }
            let key = (DepField::Alias, name.clone());
            if !self.refs.contains_key(&key) {
                self.def.extra_mut().aliases.push(name.clone());
                let pos = self.lines.start(&item.span());
                self.refs.insert(key, pos);
            }
        }
    }

    /// The entries of a condition key: one string or a list of them, each
    /// with an optional leading `!`.
    fn condition_items<'v>(
        &mut self,
        key: &str,
        what: &str,
        value: &'v Spanned<Node>,
    ) -> Vec<(bool, &'v str, &'v Spanned<Node>)> {
        let expected = format!("{what} (\"!\" first: it must not hold) or a list");
        let Some(items) = self.entries(key, &expected, value, is_string) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let Node::String(s) = item.get_ref() else {
                self.wrong_type(&format!("an entry of {key}"), what, item);
                continue;
            };
            match s.strip_prefix('!') {
                Some(rest) => out.push((true, rest, item)),
                None => out.push((false, s.as_str(), item)),
            }
        }
        out
    }

    fn path_condition(&mut self, test: super::model::PathTest, value: &Spanned<Node>) {
        let key = &q(test.key());
        for (negate, path, item) in self.condition_items(key, "a path", value) {
            if let Some(path) = self.check_abs(key, path, &item.span()) {
                self.def
                    .extra_mut()
                    .conditions
                    .push(super::model::Condition {
                        check: super::model::Check::Path { test, path },
                        negate,
                    });
            }
        }
    }

    fn capability_condition(&mut self, value: &Spanned<Node>) {
        use super::model::{Capability, Check, Condition, CAPABILITIES};
        let key = &q("condition_capability");
        for (negate, name, item) in self.condition_items(key, "a capability name", value) {
            match Capability::from_name(name) {
                Some(cap) => self.def.extra_mut().conditions.push(Condition {
                    check: Check::Capability(cap),
                    negate,
                }),
                None => {
                    let mut msg = format!("{key}: unknown capability {}", q(name));
                    // The hint table is lowercase, as keys are.
                    let lower: Vec<String> = CAPABILITIES
                        .iter()
                        .map(|c| c.to_ascii_lowercase())
                        .collect();
                    let known: Vec<&str> = lower.iter().map(String::as_str).collect();
                    let mut wanted = name.to_ascii_lowercase();
                    if !wanted.starts_with("cap_") {
                        wanted.insert_str(0, "cap_");
                    }
                    if let Some(hint) = did_you_mean(&wanted, &known) {
                        msg.push_str(&format!(
                            "; did you mean {}?",
                            q(&hint.to_ascii_uppercase())
                        ));
                    }
                    self.err(&item.span(), msg);
                }
            }
        }
    }

    fn int_in(&mut self, key: &str, value: &Spanned<Node>, min: i64, max: i64) -> Option<i32> {
        match value.get_ref() {
            Node::Integer(i) if (min..=max).contains(i) => i32::try_from(*i).ok(),
            _ => {
                self.wrong_type(&q(key), &format!("an integer from {min} to {max}"), value);
                None
            }
        }
    }

    fn limits(&mut self, value: &Spanned<Node>) {
        use super::limits::{parse_value, ResourceLimit, RESOURCES};
        let Node::Table(entries) = value.get_ref() else {
            self.wrong_type(
                "`limits`",
                "a table like { nofile = 16384, core = \"infinity\" }",
                value,
            );
            return;
        };
        let names: Vec<&str> = RESOURCES.iter().map(|r| r.0).collect();
        for (k, v) in entries {
            let name = k.get_ref().as_str();
            let Some(&(_, resource, bytes, _)) = RESOURCES.iter().find(|r| r.0 == name) else {
                let mut msg = format!("`limits`: unknown limit {}", q(name));
                match did_you_mean(name, &names) {
                    Some(hint) => msg.push_str(&format!("; did you mean {}?", q(hint))),
                    None => msg.push_str(&format!("; known: {}", names.join(", "))),
                }
                self.err(&k.span(), msg);
                continue;
            };
            let parsed = match v.get_ref() {
                Node::Integer(i) if *i >= 0 => Ok((*i as u64, *i as u64)),
                Node::String(s) => parse_value(s, bytes),
                _ => {
                    let expected = if bytes {
                        "a number, a size like \"64M\", \"infinity\" or \"SOFT:HARD\""
                    } else {
                        "a number, \"infinity\" or \"SOFT:HARD\""
                    };
                    self.wrong_type(&format!("`limits.{name}`"), expected, v);
                    continue;
                }
            };
            match parsed {
                Ok((soft, hard)) => self.def.extra_mut().limits.push(ResourceLimit {
                    resource,
                    soft,
                    hard,
                }),
                Err(why) => self.err(&v.span(), format!("`limits.{name}`: {why}")),
            }
        }
    }

    fn count(&mut self, key: &str, value: &Spanned<Node>) -> Option<u32> {
        match value.get_ref() {
            Node::Integer(i) if *i >= 0 && *i <= 1000 => u32::try_from(*i).ok(),
            _ => {
                self.wrong_type(&q(key), "an integer from 0 to 1000", value);
                None
            }
        }
    }

    fn output(&mut self, key: &str, value: &Spanned<Node>) -> Option<Output> {
        let expected = "\"log\", \"null\", \"inherit\", \"tty\" or an absolute file path";
        let Node::String(s) = value.get_ref() else {
            self.wrong_type(&q(key), expected, value);
            return None;
        };
        match s.as_str() {
            "log" => Some(Output::Log),
            "null" => Some(Output::Null),
            "inherit" => Some(Output::Inherit),
            "tty" => Some(Output::Tty),
            p if p.starts_with('/') && !p.contains('\0') => Some(Output::File(PathBuf::from(p))),
            _ => {
                self.wrong_type(&q(key), expected, value);
                None
            }
        }
    }

    /// Rules that involve more than one key.
    fn cross_checks(&mut self) {
        let kind = self.def.kind;
        let kind_name = KINDS
            .iter()
            .find(|(_, k)| *k == kind)
            .map(|(n, _)| *n)
            .unwrap_or("simple");
        let type_value = self.seen.get("type").map(|(_, v)| v.clone());
        if let Some((key_span, _)) = self.seen.get("exec").cloned() {
            if kind == UnitKind::Target {
                self.err(
                    &key_span,
                    "`exec` is not allowed on a target: targets only group other units".to_string(),
                );
            }
        } else if kind != UnitKind::Target {
            let msg = format!("missing `exec`: a {kind_name} unit needs a command to run");
            let d = self.diag(type_value.as_ref(), msg);
            self.errors.push(d);
        }
        if let Some((key_span, _)) = self.seen.get("pid_file").cloned() {
            if kind != UnitKind::Forking {
                self.err(
                    &key_span,
                    format!("`pid_file` only applies to type = \"forking\", this unit is type = \"{kind_name}\""),
                );
            }
        } else if kind == UnitKind::Forking {
            let msg =
                "type = \"forking\" needs `pid_file` so that vigil can find the daemon".to_string();
            let d = self.diag(type_value.as_ref(), msg);
            self.errors.push(d);
        }
        // A unit on a terminal writes to it unless told otherwise (systemd:
        // StandardOutput= inherits StandardInput=tty); "tty" needs one.
        let has_tty = self.def.extra().tty.is_some();
        for key in ["stdout", "stderr"] {
            let seen = self.seen.get(key).cloned();
            let slot = if key == "stdout" {
                &mut self.def.stdout
            } else {
                &mut self.def.stderr
            };
            match seen {
                None if has_tty => *slot = Output::Tty,
                Some((_, value)) if *slot == Output::Tty && !has_tty => {
                    let d = self.diag(
                        Some(&value),
                        format!("`{key} = \"tty\"` needs `tty`, the terminal to write to"),
                    );
                    self.errors.push(d);
                }
                _ => {}
            }
        }
        if let Some((key_span, _)) = self.seen.get("tty_vhangup").cloned() {
            if !has_tty {
                self.err(
                    &key_span,
                    "`tty_vhangup` needs `tty`, the terminal to hang up".to_string(),
                );
            }
        }
        if self.def.extra().restart_delay_max < self.def.restart_delay {
            let at = self
                .seen
                .get("restart_delay_max")
                .or_else(|| self.seen.get("restart_delay"))
                .map(|(_, v)| v.clone());
            let msg = format!(
                "`restart_delay_max` ({:?}) must not be shorter than `restart_delay` ({:?})",
                self.def.extra().restart_delay_max,
                self.def.restart_delay
            );
            let d = self.diag(at.as_ref(), msg);
            self.errors.push(d);
        }
    }
}

/// A lone string is one entry of a list key.
fn is_string(node: &Node) -> bool {
    matches!(node, Node::String(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> UnitDef {
        match parse("u", Path::new("u.toml"), text) {
            Ok(p) => p.def,
            Err(e) => panic!("unexpected errors: {e:#?}"),
        }
    }

    /// Every error, rendered as `vigilctl check` prints it.
    fn errors(text: &str) -> Vec<String> {
        match parse("u", Path::new("u.toml"), text) {
            Ok(p) => panic!("expected errors, got {:#?}", p.def),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    fn one_error(text: &str) -> String {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:#?}");
        e[0].clone()
    }

    #[test]
    fn path_conditions_take_a_path_or_a_list_with_negation() {
        use crate::unit::model::{Check, Condition, PathTest};
        let def = parse_ok("exec = \"/bin/x\"\ncondition_directory_not_empty = [\"/etc/a.d\", \"!/etc/b.d\"]\ncondition_file_is_executable = \"/usr/bin/x\"\n");
        assert_eq!(
            def.extra().conditions,
            vec![
                Condition {
                    check: Check::Path {
                        test: PathTest::DirectoryNotEmpty,
                        path: "/etc/a.d".into()
                    },
                    negate: false
                },
                Condition {
                    check: Check::Path {
                        test: PathTest::DirectoryNotEmpty,
                        path: "/etc/b.d".into()
                    },
                    negate: true
                },
                Condition {
                    check: Check::Path {
                        test: PathTest::FileIsExecutable,
                        path: "/usr/bin/x".into()
                    },
                    negate: false
                },
            ]
        );
        assert_eq!(
            def.extra().conditions[1].to_string(),
            "condition_directory_not_empty = \"!/etc/b.d\""
        );
        assert!(
            one_error("exec = \"/bin/x\"\ncondition_path_is_directory = \"rel\"\n").starts_with(
                "u.toml:2:31: error: `condition_path_is_directory` must be an absolute path"
            )
        );
    }

    #[test]
    fn capability_conditions_take_names_in_any_spelling_and_report_unknown_ones() {
        use crate::unit::model::{Capability, Check, Condition};
        let def = parse_ok(
            "exec = \"/bin/x\"\ncondition_capability = [\"CAP_SYS_ADMIN\", \"!sys_module\"]\n",
        );
        assert_eq!(
            def.extra().conditions,
            vec![
                Condition {
                    check: Check::Capability(Capability(21)),
                    negate: false
                },
                Condition {
                    check: Check::Capability(Capability(16)),
                    negate: true
                },
            ]
        );
        assert_eq!(
            def.extra().conditions[1].to_string(),
            "condition_capability = \"!CAP_SYS_MODULE\""
        );
        assert_eq!(
            one_error("exec = \"/bin/x\"\ncondition_capability = \"CAP_SYS_ADMN\"\n"),
            "u.toml:2:24: error: `condition_capability`: unknown capability `CAP_SYS_ADMN`; did you mean `CAP_SYS_ADMIN`?"
        );
        assert!(one_error("exec = \"/bin/x\"\ncondition_capability = 21\n")
            .contains("`condition_capability` must be a capability name"));
    }

    #[test]
    fn success_exit_status_takes_codes_and_signal_names() {
        use crate::unit::model::SuccessStatus;
        let def =
            parse_ok("exec = \"/bin/x\"\nsuccess_exit_status = [75, \"SIGTERM\", 75, \"HUP\"]\n");
        assert_eq!(
            def.extra().success_exit_status,
            vec![
                SuccessStatus::Code(75),
                SuccessStatus::Signal(libc::SIGTERM),
                SuccessStatus::Signal(libc::SIGHUP)
            ]
        );
        assert_eq!(
            one_error("exec = \"/bin/x\"\nsuccess_exit_status = [256]\n"),
            "u.toml:2:24: error: `success_exit_status`: 256 is not an exit code (0 to 255)"
        );
        assert!(
            one_error("exec = \"/bin/x\"\nsuccess_exit_status = [\"SIGNOPE\"]\n")
                .starts_with("u.toml:2:24: error: `success_exit_status`: ")
        );
        assert!(
            one_error("exec = \"/bin/x\"\nsuccess_exit_status = [true]\n")
                .starts_with("u.toml:2:24: error: ")
        );
    }

    #[test]
    fn every_key_parses() {
        let def = parse_ok(
            r#"
description = "A web server"
exec = ["/usr/sbin/web", "--port", "80"]
type = "forking"
pid_file = "/run/web.pid"
remain_after_exit = true
restart = "on-failure"
restart_delay = "500ms"
restart_delay_max = "2min"
start_limit_burst = 3
start_limit_interval = 60
start_timeout = 1.5
wants = ["cache", "log"]
requires = "db"
after = ["db", "cache", "db"]
before = ["proxy"]
wanted_by = ["default"]
environment = { LANG = "C.UTF-8", PORT = "80" }
environment_file = ["/etc/default/web", "-/etc/web.env"]
working_directory = "/srv/web"
user = "www-data"
group = 33
supplementary_groups = ["adm", "adm", "ssl-cert"]
umask = "027"
stop_signal = "INT"
stop_timeout = "1min 30s"
stdout = "null"
stderr = "/var/log/web.err"
"#,
        );
        assert_eq!(def.description, "A web server");
        assert_eq!(def.exec, vec!["/usr/sbin/web", "--port", "80"]);
        assert_eq!(def.kind, UnitKind::Forking);
        assert_eq!(def.extra().pid_file, Some(PathBuf::from("/run/web.pid")));
        assert!(def.remain_after_exit);
        assert_eq!(def.restart, RestartPolicy::OnFailure);
        assert_eq!(def.restart_delay, Duration::from_millis(500));
        assert_eq!(def.extra().restart_delay_max, Duration::from_secs(120));
        assert_eq!(def.extra().start_limit_burst, 3);
        assert_eq!(def.extra().start_limit_interval, Duration::from_secs(60));
        assert_eq!(def.start_timeout, Duration::from_millis(1500));
        assert_eq!(def.wants, vec!["cache", "log"]);
        assert_eq!(def.requires, vec!["db"]);
        assert_eq!(def.after, vec!["cache", "db"]);
        assert_eq!(def.before, vec!["proxy"]);
        assert_eq!(def.wanted_by, vec!["default"]);
        assert_eq!(
            def.extra().environment.get("PORT").map(String::as_str),
            Some("80")
        );
        assert_eq!(
            def.extra().environment_file,
            vec![
                EnvironmentFile {
                    path: "/etc/default/web".into(),
                    optional: false
                },
                EnvironmentFile {
                    path: "/etc/web.env".into(),
                    optional: true
                },
            ]
        );
        assert_eq!(
            def.extra().working_directory,
            Some(PathBuf::from("/srv/web"))
        );
        assert_eq!(def.extra().user.as_deref(), Some("www-data"));
        assert_eq!(def.extra().group.as_deref(), Some("33"));
        assert_eq!(def.extra().supplementary_groups, vec!["adm", "ssl-cert"]);
        assert_eq!(def.extra().umask, Some(0o027));
        assert_eq!(def.stop_signal, libc::SIGINT);
        assert_eq!(def.stop_timeout, Duration::from_secs(90));
        assert_eq!(def.stdout, Output::Null);
        assert_eq!(def.stderr, Output::File("/var/log/web.err".into()));
        assert_eq!(def.path, Some(PathBuf::from("u.toml")));
    }

    #[test]
    fn defaults_come_from_unitdef_new() {
        let def = parse_ok("exec = \"/bin/true\"\n");
        let mut want = UnitDef::new("u");
        want.path = Some(PathBuf::from("u.toml"));
        want.exec = thin_vec::thin_vec!["/bin/true".to_string()];
        assert_eq!(def, want);
    }

    #[test]
    fn string_exec_is_split_shell_style_without_a_shell() {
        let def = parse_ok(r#"exec = "/bin/sh -c 'echo \"hi there\"; sleep 1'  x\\ y""#);
        assert_eq!(
            def.exec,
            vec!["/bin/sh", "-c", "echo \"hi there\"; sleep 1", "x y"]
        );
        assert_eq!(parse_ok("exec = \"sleep 5\"").exec, vec!["sleep", "5"]);
        assert_eq!(
            one_error("exec = \"/bin/echo 'unterminated\""),
            "u.toml:1:8: error: `exec`: unbalanced quotes or trailing backslash in \"/bin/echo 'unterminated\""
        );
        assert_eq!(
            one_error("exec = []"),
            "u.toml:1:8: error: `exec` must not be empty"
        );
        assert_eq!(
            one_error("exec = \"bin/web\""),
            "u.toml:1:8: error: `exec`: the program must be an absolute path or a bare name found in PATH, found \"bin/web\""
        );
        assert_eq!(
            one_error("exec = [\"/bin/sleep\", 5]"),
            "u.toml:1:23: error: `exec[1]` must be a string, found integer 5"
        );
    }

    #[test]
    fn shell_syntax_in_exec_is_a_warning() {
        let p = parse("u", Path::new("u.toml"), "exec = \"/bin/echo hi > /tmp/x\"").unwrap();
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0]
            .message
            .contains("\">\" is passed to /bin/echo"));
        assert_eq!(p.warnings[0].severity, Severity::Warning);
        let p = parse(
            "u",
            Path::new("u.toml"),
            "exec = [\"sh\", \"-c\", \"a\", \"|\"]",
        )
        .unwrap();
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let e = one_error("description = \"x\"\nexec = [\"/bin/true\"\nrestart = \"always\"\n");
        assert!(e.starts_with("u.toml:3:1: error: TOML syntax: "), "{e}");
        let e = one_error("exec = \"/bin/true\"\nexec = \"/bin/false\"\n");
        assert!(e.starts_with("u.toml:2:1: error: TOML syntax: "), "{e}");
        assert!(e.contains("duplicate key"), "{e}");
    }

    #[test]
    fn unknown_key_with_hint_at_the_key() {
        assert_eq!(
            one_error("exec = \"/bin/true\"\n  restart_dealy = \"1s\"\n"),
            "u.toml:2:3: error: unknown key `restart_dealy`; did you mean `restart_delay`?"
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\nExecStart = \"/bin/true\"\n"),
            "u.toml:2:1: error: unknown key `ExecStart`; did you mean `exec`?"
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\nfrobnicate = 1\n"),
            "u.toml:2:1: error: unknown key `frobnicate`"
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\n[Service]\nx = 1\n"),
            "u.toml:2:2: error: unknown key `Service`; unit files have no [sections]: write every key at the top level"
        );
    }

    #[test]
    fn wrong_types_point_at_the_value() {
        assert_eq!(
            one_error("exec = \"/bin/true\"\nrestart = \"sometimes\"\n"),
            "u.toml:2:11: error: `restart` must be one of always, on-failure, never, found \"sometimes\""
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\ntype = \"daemon\"\n"),
            "u.toml:2:8: error: `type` must be one of simple, notify, forking, oneshot, target, found \"daemon\""
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\ndescription = 5\n"),
            "u.toml:2:15: error: `description` must be a string, found integer 5"
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\nremain_after_exit = \"yes\"\n"),
            "u.toml:2:21: error: `remain_after_exit` must be true or false, found \"yes\""
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\nstart_limit_burst = 0\n"),
            "u.toml:2:21: error: `start_limit_burst` must be a positive integer, found integer 0"
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\nenvironment = { A = \"1\", B = 2 }\n"),
            "u.toml:2:30: error: `environment.B` must be a string, found integer 2"
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\nstdout = \"log.txt\"\n"),
            "u.toml:2:10: error: `stdout` must be \"log\", \"null\", \"inherit\", \"tty\" or an absolute file path, found \"log.txt\""
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\nwants = { a = 1 }\n"),
            "u.toml:2:9: error: `wants` must be an array of unit names, found a table"
        );
    }

    #[test]
    fn exec_rules_by_type() {
        assert_eq!(
            one_error("description = \"no command\"\n"),
            "u.toml: error: missing `exec`: a simple unit needs a command to run"
        );
        assert_eq!(
            one_error("type = \"oneshot\"\n"),
            "u.toml:1:8: error: missing `exec`: a oneshot unit needs a command to run"
        );
        assert_eq!(
            one_error("type = \"target\"\nexec = \"/bin/true\"\n"),
            "u.toml:2:1: error: `exec` is not allowed on a target: targets only group other units"
        );
        let t = parse_ok("type = \"target\"\nwants = [\"a\"]\n");
        assert_eq!(t.kind, UnitKind::Target);
        assert!(t.exec.is_empty());
    }

    #[test]
    fn pid_file_rules() {
        assert_eq!(
            one_error("exec = \"/bin/true\"\npid_file = \"/run/x.pid\"\n"),
            "u.toml:2:1: error: `pid_file` only applies to type = \"forking\", this unit is type = \"simple\""
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\ntype = \"forking\"\n"),
            "u.toml:2:8: error: type = \"forking\" needs `pid_file` so that vigil can find the daemon"
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\ntype = \"forking\"\npid_file = \"run/x.pid\"\n"),
            "u.toml:3:12: error: `pid_file` must be an absolute path, found \"run/x.pid\""
        );
    }

    #[test]
    fn bad_durations_signals_and_umasks() {
        assert_eq!(
            one_error("exec = \"/bin/true\"\nstop_timeout = \"5 parsecs\"\n"),
            "u.toml:2:16: error: `stop_timeout`: invalid duration \"5 parsecs\": unknown unit `parsecs` (use ms, s, min, h or d)"
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\nrestart_delay = -1\n"),
            "u.toml:2:17: error: `restart_delay`: durations cannot be negative"
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\nstart_timeout = true\n"),
            "u.toml:2:17: error: `start_timeout` must be a duration like \"1.5s\" or a number of seconds, found boolean true"
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\nstop_signal = \"SIGFOO\"\n"),
            "u.toml:2:15: error: `stop_signal`: unknown signal \"SIGFOO\" (use a name like \"SIGTERM\" or a number)"
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\nstop_signal = 99\n"),
            "u.toml:2:15: error: `stop_signal`: no signal number 99"
        );
        assert_eq!(
            parse_ok("exec = \"x\"\nstop_signal = 9").stop_signal,
            libc::SIGKILL
        );
        assert_eq!(
            parse_ok("exec = \"x\"\nstop_signal = \"SIGHUP\"").stop_signal,
            libc::SIGHUP
        );
        assert_eq!(
            parse_ok("exec = \"x\"\numask = 0o077").extra().umask,
            Some(0o077)
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\numask = \"999\"\n"),
            "u.toml:2:9: error: `umask`: \"999\" is not an octal umask like \"022\""
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\nrestart_delay = \"1min\"\n"),
            "u.toml:2:17: error: `restart_delay_max` (30s) must not be shorter than `restart_delay` (60s)"
        );
    }

    #[test]
    fn relative_paths_are_refused() {
        assert_eq!(
            one_error("exec = \"/bin/true\"\nworking_directory = \"srv\"\n"),
            "u.toml:2:21: error: `working_directory` must be an absolute path, found \"srv\""
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\nenvironment_file = [\"/ok\", \"-env\"]\n"),
            "u.toml:2:28: error: `environment_file` must be an absolute path (optionally with a leading `-`), found \"-env\""
        );
    }

    #[test]
    fn dependency_names_are_checked() {
        assert_eq!(
            one_error("exec = \"/bin/true\"\nafter = [\"ok\", \"../etc\"]\n"),
            "u.toml:2:16: error: `after`: invalid unit name \"../etc\": a unit name cannot start with `.` or `-`"
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\nwants = [\"db.toml\"]\n"),
            "u.toml:2:10: error: `wants`: invalid unit name \"db.toml\": write `db`, without `.toml`"
        );
        assert_eq!(
            one_error("exec = \"/bin/true\"\nbefore = [\"u\"]\n"),
            "u.toml:2:11: error: `u` cannot be ordered before itself"
        );
        let p = parse("u", Path::new("u.toml"), "exec = \"x\"\nwants = [\"u\"]\n").unwrap();
        assert!(p.def.wants.is_empty());
        assert_eq!(
            p.warnings[0].to_string(),
            "u.toml:2:10: warning: `u` wants itself; ignoring"
        );
    }

    #[test]
    fn entry_positions_are_recorded() {
        let p = parse(
            "u",
            Path::new("u.toml"),
            "exec = \"x\"\nrequires = [\n  \"db\",\n]\n",
        )
        .unwrap();
        assert_eq!(
            p.refs.get(&(DepField::Requires, "db".to_string())),
            Some(&Pos { line: 3, column: 3 })
        );
    }

    #[test]
    fn all_errors_in_a_file_are_reported_together_in_order() {
        let e = errors(
            "type = \"simple\"\nrestart = \"sometimes\"\nstop_timeout = \"soon\"\nwanted_bye = [\"default\"]\nuser = \"\"\n",
        );
        assert_eq!(
            e,
            vec![
                "u.toml:1:8: error: missing `exec`: a simple unit needs a command to run",
                "u.toml:2:11: error: `restart` must be one of always, on-failure, never, found \"sometimes\"",
                "u.toml:3:16: error: `stop_timeout`: invalid duration \"soon\": expected a number at \"soon\"",
                "u.toml:4:1: error: unknown key `wanted_bye`; did you mean `wanted_by`?",
                "u.toml:5:8: error: `user` must be a user or group name or a numeric id, found \"\"",
            ]
        );
    }

    #[test]
    fn invalid_file_name_is_an_error() {
        let e = parse("bad name", Path::new("bad name.toml"), "exec = \"x\"").unwrap_err();
        assert_eq!(
            e[0].to_string(),
            "bad name.toml: error: invalid unit name \"bad name\" (from the file name): ' ' is not allowed (use letters, digits and - _ . @ :)"
        );
    }
}
