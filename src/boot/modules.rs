//! Kernel modules from vigil.toml and /etc/modules-load.d, through modprobe
//! when it exists, else directly with finit_module and modules.dep.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;

use super::report::{StepBuilder, StepReport};
use super::sys::{CommandOutcome, Syscall};

/// Where modprobe is looked for, in order.
pub const MODPROBE_PATHS: [&str; 4] = [
    "/sbin/modprobe",
    "/usr/sbin/modprobe",
    "/bin/modprobe",
    "/usr/bin/modprobe",
];
/// How long one modprobe may take before it is killed.
pub const MODPROBE_TIMEOUT: Duration = Duration::from_secs(30);
const MODULES_LOAD_D: &str = "/etc/modules-load.d";
/// finit_module flag: the kernel decompresses the file itself (Linux 5.17+).
const MODULE_INIT_COMPRESSED_FILE: u32 = 4;

/// Module names with `-` and `_` interchangeable, as the kernel treats them.
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// Names in a modules-load.d file: one per line, `#`/`;` comments, blanks ignored.
pub fn parse_modules_load(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Config modules first, then every /etc/modules-load.d/*.conf in name
/// order; duplicates (dash/underscore-insensitive) dropped.
pub fn module_list(sys: &dyn Syscall, configured: &[String]) -> Vec<String> {
    let mut names: Vec<String> = configured.to_vec();
    let dir = Path::new(MODULES_LOAD_D);
    if let Ok(entries) = sys.read_dir(dir) {
        for e in entries.iter().filter(|e| e.ends_with(".conf")) {
            if let Ok(text) = sys.read_to_string(&dir.join(e)) {
                names.extend(parse_modules_load(&text));
            }
        }
    }
    let mut seen = BTreeSet::new();
    names.retain(|n| seen.insert(normalize(n)));
    names
}

/// One module's file and the files it depends on, from modules.dep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepEntry {
    pub path: PathBuf,
    pub deps: Vec<PathBuf>,
}

/// Module name (normalized) of a path like `kernel/fs/ext4/ext4.ko.xz`.
pub fn module_name_of(path: &Path) -> String {
    let base = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = base.split(".ko").next().unwrap_or(&base);
    normalize(stem)
}

/// Parse modules.dep into name -> entry; paths are relative to `base` unless absolute.
pub fn parse_modules_dep(text: &str, base: &Path) -> BTreeMap<String, DepEntry> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let Some((module, deps)) = line.split_once(':') else {
            continue;
        };
        let module = module.trim();
        if module.is_empty() {
            continue;
        }
        let path = base.join(module);
        let deps = deps.split_whitespace().map(|d| base.join(d)).collect();
        map.insert(module_name_of(Path::new(module)), DepEntry { path, deps });
    }
    map
}

/// Files to load for `name`, dependencies first, each once; None if unknown.
pub fn load_order(deps: &BTreeMap<String, DepEntry>, name: &str) -> Option<Vec<PathBuf>> {
    let entry = deps.get(&normalize(name))?;
    let mut order = Vec::new();
    let mut visiting = BTreeSet::new();
    visit(deps, entry, &mut order, &mut visiting);
    Some(order)
}

fn visit(
    deps: &BTreeMap<String, DepEntry>,
    entry: &DepEntry,
    order: &mut Vec<PathBuf>,
    visiting: &mut BTreeSet<PathBuf>,
) {
    if order.contains(&entry.path) || !visiting.insert(entry.path.clone()) {
        return;
    }
    // modules.dep lists the full closure; still resolve each dep's own deps
    // so the order is right whatever order depmod wrote them in.
    for d in &entry.deps {
        match deps.get(&module_name_of(d)) {
            Some(de) => visit(deps, de, order, visiting),
            None => {
                if !order.contains(d) {
                    order.push(d.clone());
                }
            }
        }
    }
    order.push(entry.path.clone());
}

fn init_flags(path: &Path) -> u32 {
    let p = path.to_string_lossy();
    if p.ends_with(".xz") || p.ends_with(".zst") || p.ends_with(".gz") {
        MODULE_INIT_COMPRESSED_FILE
    } else {
        0
    }
}

/// Modules to load before and after one module (names or aliases).
pub type SoftDeps = (Vec<String>, Vec<String>);

/// What /lib/modules/$(uname -r) says, for loading without modprobe.
#[derive(Debug, Clone, Default)]
pub struct ModuleDb {
    pub base: PathBuf,
    pub deps: BTreeMap<String, DepEntry>,
    pub builtin: BTreeSet<String>,
    /// Exact (non-glob) aliases from modules.alias: alias -> module names.
    pub aliases: BTreeMap<String, Vec<String>>,
    /// `softdep MOD pre: ... post: ...` from modules.softdep.
    pub softdeps: BTreeMap<String, SoftDeps>,
}

impl ModuleDb {
    /// Read modules.dep (required), modules.builtin, modules.alias and
    /// modules.softdep (optional) of the running kernel.
    pub fn read(sys: &dyn Syscall) -> Result<ModuleDb, String> {
        let release = sys
            .kernel_release()
            .ok_or("no modprobe and uname failed: cannot find the module tree")?;
        let base = PathBuf::from("/lib/modules").join(&release);
        let dep_file = base.join("modules.dep");
        let deps = sys
            .read_to_string(&dep_file)
            .map(|t| parse_modules_dep(&t, &base))
            .map_err(|e| format!("no modprobe and cannot read {}: {e}", dep_file.display()))?;
        let read = |f: &str| sys.read_to_string(&base.join(f)).unwrap_or_default();
        let builtin = read("modules.builtin")
            .lines()
            .map(|l| module_name_of(Path::new(l.trim())))
            .collect();
        let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for l in read("modules.alias").lines() {
            let mut w = l.split_whitespace();
            if let (Some("alias"), Some(a), Some(m)) = (w.next(), w.next(), w.next()) {
                if !a.contains(['*', '?', '[']) {
                    aliases.entry(normalize(a)).or_default().push(normalize(m));
                }
            }
        }
        let softdeps = read("modules.softdep")
            .lines()
            .filter_map(parse_softdep)
            .collect();
        Ok(ModuleDb {
            base,
            deps,
            builtin,
            aliases,
            softdeps,
        })
    }
}

/// `softdep MOD pre: a b post: c` -> (MOD, ([a, b], [c])).
pub fn parse_softdep(line: &str) -> Option<(String, SoftDeps)> {
    let mut w = line.split_whitespace();
    if w.next() != Some("softdep") {
        return None;
    }
    let module = normalize(w.next()?);
    let (mut pre, mut post) = (Vec::new(), Vec::new());
    let mut into_pre = true;
    for word in w {
        match word {
            "pre:" => into_pre = true,
            "post:" => into_pre = false,
            m if into_pre => pre.push(m.to_string()),
            m => post.push(m.to_string()),
        }
    }
    Some((module, (pre, post)))
}

/// finit_module loading: aliases resolved, softdeps (best effort) around
/// each module, dependencies first, every file once.
struct DirectLoader<'a> {
    sys: &'a dyn Syscall,
    db: &'a ModuleDb,
    done: BTreeSet<PathBuf>,
    /// Files that failed once are not tried again in this run.
    failed: BTreeSet<PathBuf>,
    visiting: BTreeSet<String>,
}

impl DirectLoader<'_> {
    /// Load `name`; failures go to `step` as errors, or as notes when
    /// `optional` (softdeps). Returns whether it is now loaded.
    fn load(&mut self, name: &str, step: &mut StepBuilder, optional: bool) -> bool {
        let key = normalize(name);
        if !self.visiting.insert(key.clone()) {
            return true;
        }
        let ok = self.load_inner(name, &key, step, optional);
        self.visiting.remove(&key);
        ok
    }

    fn report(step: &mut StepBuilder, optional: bool, msg: String) {
        if optional {
            step.note(msg);
        } else {
            step.error(msg);
        }
    }

    fn load_inner(
        &mut self,
        name: &str,
        key: &str,
        step: &mut StepBuilder,
        optional: bool,
    ) -> bool {
        if self.db.builtin.contains(key) {
            return true;
        }
        let Some(order) = load_order(&self.db.deps, key) else {
            if let Some(targets) = self.db.aliases.get(key) {
                let targets = targets.clone();
                let mut any = false;
                for t in targets {
                    any |= self.load(&t, step, true);
                }
                if !any {
                    Self::report(
                        step,
                        optional,
                        format!("module {name}: no module for this alias loaded"),
                    );
                }
                return any;
            }
            Self::report(
                step,
                optional,
                format!(
                    "module {name}: not found in {}",
                    self.db.base.join("modules.dep").display()
                ),
            );
            return false;
        };
        let mut ok = true;
        for path in order {
            let m = module_name_of(&path);
            if self.failed.contains(&path) {
                ok = false;
                continue;
            }
            if self.done.contains(&path) || self.sys.exists(&Path::new("/sys/module").join(&m)) {
                continue;
            }
            let (pre, post) = self.db.softdeps.get(&m).cloned().unwrap_or_default();
            for p in pre {
                self.load(&p, step, true);
            }
            match self.sys.finit_module(&path, "", init_flags(&path)) {
                Ok(()) | Err(Errno::EEXIST) => {
                    self.done.insert(path);
                }
                Err(e) => {
                    ok = false;
                    self.failed.insert(path.clone());
                    Self::report(
                        step,
                        optional,
                        format!("module {name}: loading {}: {}", path.display(), e.desc()),
                    );
                }
            }
            for p in post {
                self.load(&p, step, true);
            }
        }
        ok
    }
}

/// Load every module in `names`. Each failure is one error message; the
/// rest still load. Blocks (bounded by MODPROBE_TIMEOUT per module).
pub fn load_modules(sys: &dyn Syscall, names: &[String]) -> StepReport {
    let mut step = StepBuilder::start("modules");
    if names.is_empty() {
        return step.finish("no modules configured");
    }
    let modprobe = MODPROBE_PATHS.iter().map(Path::new).find(|p| sys.exists(p));
    let mut loaded = Vec::new();
    match modprobe {
        Some(mp) => {
            step.note(format!("using {}", mp.display()));
            for name in names {
                let argv = vec![mp.display().to_string(), name.clone()];
                match sys.run(&argv, MODPROBE_TIMEOUT) {
                    Ok(CommandOutcome::Exited { code: 0, .. }) => loaded.push(name.as_str()),
                    Ok(CommandOutcome::Exited { code, stderr }) => step.error(format!(
                        "module {name}: modprobe exited {code}{}{stderr}",
                        if stderr.is_empty() { "" } else { ": " }
                    )),
                    Ok(CommandOutcome::Signaled(s)) => {
                        step.error(format!("module {name}: modprobe killed by signal {s}"))
                    }
                    Ok(CommandOutcome::TimedOut) => step.error(format!(
                        "module {name}: modprobe still running after {}s, killed",
                        MODPROBE_TIMEOUT.as_secs()
                    )),
                    Err(e) => step.error(format!("module {name}: running modprobe: {e}")),
                }
            }
        }
        None => match ModuleDb::read(sys) {
            Ok(db) => {
                let mut loader = DirectLoader {
                    sys,
                    db: &db,
                    done: BTreeSet::new(),
                    failed: BTreeSet::new(),
                    visiting: BTreeSet::new(),
                };
                for name in names {
                    if loader.load(name, &mut step, false) {
                        loaded.push(name.as_str());
                    }
                }
            }
            Err(msg) => step.error(msg),
        },
    }
    step.finish(format!("loaded {}", loaded.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::sys::{Call, Recording};
    use crate::boot::Outcome;

    const DEP: &str = "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n\
kernel/drivers/virtio/virtio_pci_modern_dev.ko:\n\
kernel/drivers/virtio/virtio_ring.ko:\n\
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n\
kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.xz kernel/lib/crc16.ko.xz\n\
kernel/fs/jbd2/jbd2.ko.xz:\n\
kernel/lib/crc16.ko.xz:\n\
kernel/drivers/block/loop.ko:\n";

    fn host() -> Recording {
        let sys = Recording::new();
        sys.add_file("/lib/modules/6.1.0-test/modules.dep", DEP);
        sys.add_file(
            "/lib/modules/6.1.0-test/modules.builtin",
            "kernel/fs/binfmt_misc.ko\n",
        );
        sys
    }

    fn loads(sys: &Recording) -> Vec<String> {
        sys.calls
            .borrow()
            .iter()
            .filter_map(|c| match c {
                Call::FinitModule(p, _) => p.file_name().map(|f| f.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn modules_load_d_parsing_and_dedup() {
        let sys = Recording::new();
        sys.add_file(
            "/etc/modules-load.d/a.conf",
            "# comment\n; also\n\nloop\nvirtio-pci\n",
        );
        sys.add_file("/etc/modules-load.d/b.txt", "ignored\n");
        let list = module_list(&sys, &["virtio_pci".into(), "ext4".into()]);
        assert_eq!(list, ["virtio_pci", "ext4", "loop"]);
    }

    #[test]
    fn dependencies_load_first_and_once() {
        let sys = host();
        let r = load_modules(&sys, &["virtio-pci".into(), "virtio".into(), "ext4".into()]);
        assert!(r.is_ok(), "{r}");
        assert_eq!(
            loads(&sys),
            [
                "virtio_pci_modern_dev.ko",
                "virtio_ring.ko",
                "virtio.ko",
                "virtio_pci.ko",
                "jbd2.ko.xz",
                "crc16.ko.xz",
                "ext4.ko.xz",
            ]
        );
        let flags: Vec<u32> = sys
            .calls
            .borrow()
            .iter()
            .filter_map(|c| match c {
                Call::FinitModule(p, f) if p.ends_with("ext4.ko.xz") => Some(*f),
                _ => None,
            })
            .collect();
        assert_eq!(flags, [MODULE_INIT_COMPRESSED_FILE]);
    }

    #[test]
    fn eexist_is_success_missing_is_logged_and_loading_goes_on() {
        let sys = host();
        sys.add_dir("/sys/module/virtio_ring");
        sys.fail(
            "finit_module /lib/modules/6.1.0-test/kernel/drivers/block/loop.ko",
            Errno::EEXIST,
            None,
        );
        let r = load_modules(
            &sys,
            &[
                "nosuchmod".into(),
                "loop".into(),
                "binfmt_misc".into(),
                "virtio".into(),
            ],
        );
        match &r.outcome {
            Outcome::Failed(m) => {
                assert_eq!(m.len(), 1);
                assert!(m[0].contains("nosuchmod: not found"), "{m:?}");
            }
            o => panic!("{o:?}"),
        }
        // virtio_ring already in /sys/module: skipped.
        assert_eq!(loads(&sys), ["loop.ko", "virtio.ko"]);
    }

    #[test]
    fn softdeps_through_aliases_load_first_best_effort() {
        let sys = host();
        sys.add_file(
            "/lib/modules/6.1.0-test/modules.dep",
            format!(
                "{DEP}kernel/crypto/crc32c_generic.ko:\nkernel/arch/x86/crypto/crc32c-intel.ko:\n"
            ),
        );
        sys.add_file(
            "/lib/modules/6.1.0-test/modules.softdep",
            "# comment\nsoftdep ext4 pre: crypto-crc32c\nsoftdep jbd2 pre: crypto-crc32c\n",
        );
        sys.add_file(
            "/lib/modules/6.1.0-test/modules.alias",
            "alias crypto-crc32c crc32c_intel\nalias crypto-crc32c crc32c_generic\nalias pci:v*d* virtio_pci\n",
        );
        sys.fail(
            "finit_module /lib/modules/6.1.0-test/kernel/arch/x86/crypto/crc32c-intel.ko",
            Errno::ENODEV,
            None,
        );
        let r = load_modules(&sys, &["ext4".into(), "crypto-crc32c".into()]);
        assert!(r.is_ok(), "{r}");
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("crc32c-intel.ko: No such device")),
            "{r}"
        );
        assert_eq!(
            loads(&sys),
            [
                "crc32c-intel.ko",
                "crc32c_generic.ko",
                "jbd2.ko.xz",
                "crc16.ko.xz",
                "ext4.ko.xz"
            ]
        );
    }

    #[test]
    fn modprobe_is_preferred_and_failures_reported() {
        let sys = host();
        sys.add_file("/sbin/modprobe", "");
        sys.on_run(
            "/sbin/modprobe nosuch",
            CommandOutcome::Exited {
                code: 1,
                stderr: "modprobe: FATAL: Module nosuch not found".into(),
            },
        );
        let r = load_modules(&sys, &["loop".into(), "nosuch".into()]);
        assert_eq!(
            r.outcome,
            Outcome::Failed(vec![
                "module nosuch: modprobe exited 1: modprobe: FATAL: Module nosuch not found".into()
            ])
        );
        assert!(loads(&sys).is_empty());
        assert_eq!(
            sys.texts(),
            ["run /sbin/modprobe loop", "run /sbin/modprobe nosuch"]
        );
    }
}
