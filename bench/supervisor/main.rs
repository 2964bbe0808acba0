//! The issue-2 performance benchmark: vigil as PID 1 of a PID namespace with
//! N trivial services, beside a bare fork/exec floor measured in the same run.
//!
//! Run as root: `cargo bench --bench supervisor -- --n 100,1000`
//! (options: `--idle SECS`, `--restarts R`, `--lists L`, `--reps R`,
//! `--vigil PATH`). Method and results: docs/benchmarks.md.

mod floor;
mod logwatch;
mod procfs;
mod vigil_run;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

use vigil_run::VigilRun;

/// Command-line options (hand-parsed: `cargo bench` appends `--bench`).
struct Options {
    sizes: Vec<usize>,
    idle: Duration,
    restarts: usize,
    lists: usize,
    reps: usize,
    vigil: PathBuf,
}

fn parse_args() -> anyhow::Result<Options> {
    let mut opts = Options {
        sizes: vec![100, 1000],
        idle: Duration::from_secs(10),
        restarts: 20,
        lists: 30,
        reps: 5,
        vigil: PathBuf::from(env!("CARGO_BIN_EXE_vigil")),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--bench" => {}
            "--n" => {
                opts.sizes = value()?
                    .split(',')
                    .map(|s| s.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--idle" => opts.idle = Duration::from_secs_f64(value()?.parse()?),
            "--restarts" => opts.restarts = value()?.parse()?,
            "--lists" => opts.lists = value()?.parse()?,
            "--reps" => opts.reps = value()?.parse()?,
            "--vigil" => opts.vigil = PathBuf::from(value()?),
            "-h" | "--help" => {
                println!(
                    "usage: supervisor [--n 100,1000] [--idle SECS] [--restarts R] \
                     [--lists L] [--reps R] [--vigil PATH]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if opts.restarts == 0 || opts.lists == 0 || opts.reps == 0 {
        bail!("--restarts, --lists and --reps must be at least 1");
    }
    Ok(opts)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.2} MiB", kib as f64 / 1024.0)
}

/// One table row; `verdict` is None for informational rows.
fn row(metric: &str, floor: &str, vigil: &str, target: &str, verdict: Option<(bool, String)>) {
    let result = match verdict {
        Some((true, why)) => format!("PASS {why}"),
        Some((false, why)) => format!("MISS {why}"),
        None => String::new(),
    };
    println!("{metric:<34} {floor:>12} {vigil:>22}  {target:<16} {result}");
}

/// The verdict on the median of per-run ratios: each run's vigil figure is
/// divided by the floor measured just before it, so that load from other
/// processes on a shared machine cancels out as far as it can.
fn ratio(reps: &[Rep], f: impl Fn(&Rep) -> (Duration, Duration), limit: f64) -> (bool, String) {
    let mut ratios: Vec<f64> = reps
        .iter()
        .map(|r| {
            let (vigil, floor) = f(r);
            vigil.as_secs_f64() / floor.as_secs_f64().max(1e-9)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let r = ratios
        .get(ratios.len() / 2)
        .copied()
        .unwrap_or(f64::INFINITY);
    (r <= limit, format!("({r:.2}x)"))
}

/// The timings measured in one repetition (floor and vigil back to back).
struct Rep {
    floor_start: Duration,
    floor_stop: Duration,
    floor_restart: Duration,
    /// CPU ns of the floor's thread per restart (median).
    floor_restart_cpu: Duration,
    /// The restart floor among N live children with waitpid(-1) (median).
    many_restart: Duration,
    many_restart_cpu: Duration,
    /// The restart floor with posix_spawn instead of fork (median).
    vfork_restart: Duration,
    vfork_restart_cpu: Duration,
    start: Duration,
    total: Duration,
    vigil_says: String,
    stop: Duration,
    /// SIGTERM until vigil logged "all units stopped" (before its own exit
    /// and the namespace teardown).
    stop_logged: Duration,
    restart: Duration,
    /// vigil's CPU time per restart (median).
    restart_cpu: Duration,
}

/// Wake-ups, memory and list timings, measured once per N.
struct Steady {
    pid: i32,
    mem_start: procfs::Memory,
    mem_end: procfs::Memory,
    switches: u64,
    cpu_ns: u64,
    ticks_ms: u64,
    idle_lines: usize,
    list_median: Duration,
    list_max: Duration,
}

/// Median latency and median CPU time of (latency, cpu ns) samples.
fn medians(samples: Vec<(Duration, u64)>) -> (Duration, Duration) {
    let cpu = samples.iter().map(|s| Duration::from_nanos(s.1)).collect();
    (
        median(samples.into_iter().map(|s| s.0).collect()),
        median(cpu),
    )
}

/// Floor measurements of one repetition.
struct FloorRep {
    bulk: floor::Bulk,
    restart: (Duration, Duration),
    vfork_restart: (Duration, Duration),
}

fn floor_rep(opts: &Options, n: usize) -> anyhow::Result<FloorRep> {
    let program = floor::Program::new(&["/bin/sleep", "1000000"])?;
    let bulk = floor::bulk(&program, n, opts.restarts.min(n))?;
    let restart = floor::restarts(&program, opts.restarts)?;
    let vfork_restart = floor::restarts_posix_spawn(opts.restarts)?;
    Ok(FloorRep {
        bulk,
        restart: medians(restart),
        vfork_restart: medians(vfork_restart),
    })
}

fn one_rep(opts: &Options, n: usize, steady: bool) -> anyhow::Result<(Rep, Option<Steady>)> {
    let fl = floor_rep(opts, n)?;
    let (many_restart, many_restart_cpu) = medians(fl.bulk.restarts.clone());
    let (bulk, (floor_restart, floor_restart_cpu)) = (fl.bulk, fl.restart);
    // The floor's N children stay alive while vigil runs, and are stopped
    // right before vigil's services, at the same age (see floor::Children).
    let (run, startup) = VigilRun::launch(&opts.vigil, n)?;
    let pid = run.host_pid;
    let mem_start = procfs::memory(pid).context("reading smaps_rollup")?;
    // Services as old as the floor's victims (see floor::VICTIM_AGE).
    std::thread::sleep(floor::VICTIM_AGE);
    let (restart, restart_cpu) = medians(run.restart_times(opts.restarts)?);
    let mut measured = None;
    if steady {
        // Idle: let the restarts settle, then count wake-ups without touching vigil.
        std::thread::sleep(Duration::from_secs(1));
        let a0 = procfs::activity(pid).context("reading /proc stats")?;
        let log_before = run.log.len();
        std::thread::sleep(opts.idle);
        let a1 = procfs::activity(pid).context("reading /proc stats")?;
        let lists = run.list_times(opts.lists, n + 1)?;
        measured = Some(Steady {
            pid,
            mem_start,
            mem_end: procfs::memory(pid).context("reading smaps_rollup")?,
            switches: (a1.voluntary + a1.involuntary) - (a0.voluntary + a0.involuntary),
            cpu_ns: a1.cpu_ns - a0.cpu_ns,
            ticks_ms: (a1.cpu_ticks - a0.cpu_ticks) * 1000 / procfs::ticks_per_sec(),
            idle_lines: run.log.len() - log_before,
            list_max: lists.iter().max().copied().unwrap_or_default(),
            list_median: median(lists),
        });
    }
    let floor_stop = bulk.children.stop();
    let (stop, stop_logged) = run.stop()?;
    let rep = Rep {
        floor_start: bulk.start,
        floor_stop,
        floor_restart,
        floor_restart_cpu,
        many_restart,
        many_restart_cpu,
        vfork_restart: fl.vfork_restart.0,
        vfork_restart_cpu: fl.vfork_restart.1,
        stop_logged: stop_logged.unwrap_or_default(),
        restart_cpu,
        start: startup.boot_to_up,
        total: startup.total,
        vigil_says: startup.vigil_says,
        stop,
        restart,
    };
    Ok((rep, measured))
}

fn all_ms(reps: &[Rep], f: impl Fn(&Rep) -> Duration) -> String {
    let v: Vec<String> = reps
        .iter()
        .map(|r| format!("{:.1}", f(r).as_secs_f64() * 1e3))
        .collect();
    v.join(" ")
}

fn bench_size(opts: &Options, n: usize) -> anyhow::Result<()> {
    let mut reps = Vec::new();
    let mut steady = None;
    for i in 0..opts.reps {
        let (rep, measured) = one_rep(opts, n, i == 0)?;
        reps.push(rep);
        steady = steady.or(measured);
    }
    let s = steady.context("no steady-state measurement")?;
    let med = |f: &dyn Fn(&Rep) -> Duration| median(reps.iter().map(f).collect());
    let floor_start = med(&|r| r.floor_start);
    let floor_stop = med(&|r| r.floor_stop);
    let floor_restart = med(&|r| r.floor_restart);
    let start = med(&|r| r.start);
    let stop = med(&|r| r.stop);
    let restart = med(&|r| r.restart);

    let idle_secs = opts.idle.as_secs_f64();
    println!();
    println!(
        "N = {n} services, median of {} runs (vigil was host pid {}), load {}",
        opts.reps,
        s.pid,
        loadavg()
    );
    row("metric (medians)", "floor", "vigil", "target", None);
    row(
        "start all (until all exec'd)",
        &ms(floor_start),
        &ms(start),
        "<= 1.5x floor",
        Some(ratio(&reps, |r| (r.start, r.floor_start), 1.5)),
    );
    let says: Vec<&str> = reps.iter().map(|r| r.vigil_says.as_str()).collect();
    row("  vigil's own figures", "", &says.join(" "), "", None);
    row(
        "  from exec of unshare (+ loading)",
        "",
        &ms(med(&|r| r.total)),
        "",
        None,
    );
    row(
        "stop all (SIGTERM until exit)",
        &ms(floor_stop),
        &ms(stop),
        "<= 1.5x floor",
        Some(ratio(&reps, |r| (r.stop, r.floor_stop), 1.5)),
    );
    row(
        "  until \"all units stopped\" logged",
        "",
        &ms(med(&|r| r.stop_logged)),
        "",
        None,
    );
    row(
        &format!("restart after kill -9 (median/{})", opts.restarts),
        &ms(floor_restart),
        &ms(restart),
        "<= 2x floor",
        Some(ratio(&reps, |r| (r.restart, r.floor_restart), 2.0)),
    );
    row(
        "  CPU per restart (floor thread, vigil)",
        &format!(
            "{:.0} us",
            med(&|r| r.floor_restart_cpu).as_secs_f64() * 1e6
        ),
        &format!("{:.0} us", med(&|r| r.restart_cpu).as_secs_f64() * 1e6),
        "",
        None,
    );
    row(
        "  floor among N children, wait(-1)",
        &ms(med(&|r| r.many_restart)),
        &format!(
            "CPU {:.0} us",
            med(&|r| r.many_restart_cpu).as_secs_f64() * 1e6
        ),
        "",
        None,
    );
    row(
        "  floor with posix_spawn (vfork)",
        &ms(med(&|r| r.vfork_restart)),
        &format!(
            "CPU {:.0} us",
            med(&|r| r.vfork_restart_cpu).as_secs_f64() * 1e6
        ),
        "",
        None,
    );
    row(
        "RSS / PSS after start",
        "",
        &format!(
            "{} / {}",
            mib(s.mem_start.rss_kib),
            mib(s.mem_start.pss_kib)
        ),
        "",
        None,
    );
    row(
        "RSS / PSS at the end",
        "",
        &format!("{} / {}", mib(s.mem_end.rss_kib), mib(s.mem_end.pss_kib)),
        "RSS < 4 MiB",
        Some((s.mem_end.rss_kib < 4096, String::new())),
    );
    row(
        "  of which anonymous / file-backed",
        "",
        &format!(
            "{} / {}",
            mib(s.mem_end.anon_kib),
            mib(s.mem_end.rss_kib.saturating_sub(s.mem_end.anon_kib))
        ),
        "",
        None,
    );
    row("  peak RSS (VmHWM)", "", &mib(s.mem_end.hwm_kib), "", None);
    row(
        &format!("idle {idle_secs:.0} s: context switches"),
        "",
        &s.switches.to_string(),
        "0 wake-ups",
        Some((s.switches == 0, String::new())),
    );
    row(
        &format!("idle {idle_secs:.0} s: CPU time"),
        "",
        &format!(
            "{:.3} ms ({} ms utime+stime)",
            s.cpu_ns as f64 / 1e6,
            s.ticks_ms
        ),
        "",
        None,
    );
    if s.idle_lines > 0 {
        println!("  (vigil logged {} lines while idle)", s.idle_lines);
    }
    row(
        &format!("list of {} units (median/{})", n + 1, opts.lists),
        "",
        &format!("{} (max {})", ms(s.list_median), ms(s.list_max)),
        "< 50 ms",
        Some((s.list_median < Duration::from_millis(50), String::new())),
    );
    println!(
        "  per run, ms: floor start {}",
        all_ms(&reps, |r| r.floor_start)
    );
    println!("               vigil start {}", all_ms(&reps, |r| r.start));
    println!(
        "               floor stop  {}",
        all_ms(&reps, |r| r.floor_stop)
    );
    println!("               vigil stop  {}", all_ms(&reps, |r| r.stop));
    println!(
        "       floor restart (med) {}",
        all_ms(&reps, |r| r.floor_restart)
    );
    println!(
        "       vigil restart (med) {}",
        all_ms(&reps, |r| r.restart)
    );
    Ok(())
}

/// The 1-minute load average: the machine is shared, so say how busy it was.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn main() -> anyhow::Result<()> {
    let opts = parse_args()?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("needs root (unshare --pid and killing vigil's services)");
    }
    println!(
        "vigil: {}\nfloor: fork + execve /bin/sleep + CLOEXEC pipe, in this process",
        opts.vigil.display()
    );
    for &n in &opts.sizes {
        bench_size(&opts, n).with_context(|| format!("N = {n}"))?;
    }
    Ok(())
}
