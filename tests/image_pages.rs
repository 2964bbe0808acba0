//! Once its start target is up, vigil gives back the pages of its own image
//! that loading and the boot ran (runtime/image_pages.rs): PID 1's resident
//! memory after boot is its heap and stack and what it runs from then on.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{wait_until, Vigil};

/// KiB resident of the read-only mappings of `exe` in `pid` (rodata, text).
fn image_rss_kib(pid: i32, exe: &Path) -> u64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let exe = exe.display().to_string();
    let mut ours = false;
    let mut kib = 0;
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let Some(rss) = line.strip_prefix("Rss:") {
            if ours {
                kib += rss
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap_or(0);
            }
        } else if fields.len() >= 6 && fields[0].contains('-') && fields[1].len() == 4 {
            ours = fields[5] == exe && !fields[1].contains('w');
        } else if fields.len() == 5 && fields[0].contains('-') {
            ours = false;
        }
    }
    kib
}

#[test]
fn the_images_boot_pages_are_released_once_the_target_is_up() {
    let mut v = Vigil::new();
    for i in 0..20 {
        v.write_unit(
            &format!("s{i}"),
            "exec = [\"/bin/sleep\", \"1000\"]\nwanted_by = [\"default\"]\n",
        );
    }
    // A private copy, synced: no other process maps its pages (a shared
    // page is not reclaimed), and none is dirty.
    let bin = v.dir().join("vigil");
    let st = Command::new("cp")
        .arg(env!("CARGO_BIN_EXE_vigil"))
        .arg(&bin)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::File::open(&bin).unwrap().sync_all().unwrap();
    v.start_from(&bin, &[]);
    v.wait_log("target default is up");
    let pid = v.pid();
    let size_kib = std::fs::metadata(&bin).unwrap().len() / 1024;
    // What a boot runs of a debug build is several MiB; what is left after
    // the release is the little the loop ran since.
    let mut last = 0;
    let released = wait_until(Duration::from_secs(10), || {
        last = image_rss_kib(pid, &bin);
        last < 1024
    });
    assert!(
        released,
        "vigil's read-only image still has {last} KiB resident (of a {size_kib} KiB file)"
    );
    // And it still works: the pages fault back in.
    assert_eq!(v.state("s0"), "running");
}
