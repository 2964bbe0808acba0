//! vigil's heap: giving freed memory back to the kernel, and re-allocating
//! the loaded units densely, once, before PID 1 keeps them for its lifetime.
//!
//! Parsing N unit files interleaves what is kept (names, argv, paths) with
//! what is thrown away (file text, the TOML tree, spans), so the kept data
//! ends up scattered over pages that are otherwise free, and `malloc_trim`
//! cannot give those pages back. With 1000 units that was about 1 MiB of
//! vigil's resident memory. Copying the units out to one buffer, freeing all
//! of the load's memory, and building them again from the buffer packs them
//! together.

use std::collections::BTreeMap;

use crate::unit::UnitDef;

/// The units, re-allocated densely. On failure the units are gone and the
/// caller must load them again; that cannot happen short of a bug, as the
/// buffer is vigil's own serialization of the same types.
pub fn compact_units(
    units: BTreeMap<String, UnitDef>,
) -> Result<BTreeMap<String, UnitDef>, String> {
    let pairs: Vec<(&String, &UnitDef)> = units.iter().collect();
    let buffer = match postcard::to_stdvec(&pairs) {
        Ok(buffer) => buffer,
        // Not representable (a non-UTF-8 path): keep them as they are.
        Err(_) => return Ok(units),
    };
    drop(pairs);
    drop(units);
    release_free_heap();
    // Through a Vec: collecting sorted pairs builds the map with full nodes,
    // where inserting one by one leaves them half empty.
    let pairs: Vec<(String, UnitDef)> =
        postcard::from_bytes(&buffer).map_err(|e| format!("re-reading the loaded units: {e}"))?;
    drop(buffer);
    Ok(pairs
        .into_iter()
        .map(|(name, mut def)| {
            shrink(&mut def);
            (name, def)
        })
        .collect())
}

/// Drop the spare capacity the deserializer leaves in lists (it cannot know
/// their lengths up front, so a list of 2 gets room for 4).
fn shrink(def: &mut UnitDef) {
    for list in [
        &mut def.exec,
        &mut def.wants,
        &mut def.requires,
        &mut def.after,
        &mut def.before,
        &mut def.wanted_by,
    ] {
        list.shrink_to_fit();
    }
    // (Not through `extra_mut`: that would give every unit the box.)
    if let Some(extra) = def.extra.as_deref_mut() {
        extra.supplementary_groups.shrink_to_fit();
        extra.aliases.shrink_to_fit();
        extra.on_failure.shrink_to_fit();
        extra.environment_file.shrink_to_fit();
        extra.limits.shrink_to_fit();
        extra.runtime_directory.shrink_to_fit();
        extra.state_directory.shrink_to_fit();
        extra.conditions.shrink_to_fit();
    }
}

/// Set the allocator up for a process that lives as long as the machine:
/// buffers of 32 KiB and more (the units' staging during the load, a large
/// reply, a list grown past that size) come from their own mappings and go
/// back whole when freed. Left to itself, glibc raises that threshold to
/// the largest buffer freed so far, and such buffers then leave holes in
/// the heap that the long-lived records fill thinly: 100 KiB more resident
/// at N = 1000 (`bench/rss.sh`). Call first thing, before any thread.
pub fn tune_allocator() {
    // SAFETY: mallopt changes a malloc parameter; no thread exists yet.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * 1024) };
}

/// Give the free heap back to the kernel (and merge the free chunks, so
/// what is allocated next is packed).
pub fn release_free_heap() {
    // SAFETY: plain libc call with no preconditions.
    unsafe { libc::malloc_trim(0) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::{EnvironmentFile, Output, RestartPolicy, UnitKind};
    use std::path::PathBuf;
    use std::time::Duration;

    #[test]
    fn every_field_survives_the_round_trip() {
        let mut d = UnitDef::new("web");
        d.path = Some(PathBuf::from("/etc/vigil/units/web.toml"));
        d.description = "a \"quoted\" description ✓".into();
        d.kind = UnitKind::Forking;
        d.exec = thin_vec::thin_vec!["/usr/sbin/web".into(), "--flag=a b".into()];
        d.extra_mut().pid_file = Some("/run/web.pid".into());
        d.remain_after_exit = true;
        d.restart = RestartPolicy::OnFailure;
        d.restart_delay = Duration::from_nanos(1_500_000_001);
        d.extra_mut().restart_delay_max = Duration::MAX;
        d.extra_mut().start_limit_burst = 7;
        d.wants = thin_vec::thin_vec!["a".into()];
        d.requires = thin_vec::thin_vec!["b".into()];
        d.after = thin_vec::thin_vec!["c".into()];
        d.before = thin_vec::thin_vec!["d".into()];
        d.wanted_by = thin_vec::thin_vec!["default".into()];
        d.extra_mut().environment.insert("K".into(), "v=1".into());
        d.extra_mut().environment_file = vec![EnvironmentFile {
            path: "/etc/default/web".into(),
            optional: true,
        }];
        d.extra_mut().working_directory = Some("/srv".into());
        d.extra_mut().user = Some("www-data".into());
        d.extra_mut().group = Some("www-data".into());
        d.extra_mut().supplementary_groups = vec!["adm".into()];
        d.extra_mut().umask = Some(0o027);
        d.stop_signal = libc::SIGINT;
        d.stdout = Output::Null;
        d.stderr = Output::File("/var/log/web.err".into());
        d.extra_mut().needs_device = Some("/dev/ttyS0".into());
        let units: BTreeMap<String, UnitDef> = [("web".to_string(), d.clone())].into();
        let back = compact_units(units).expect("round trip");
        assert_eq!(back.get("web"), Some(&d));
        assert_eq!(back.len(), 1);
    }

    #[test]
    fn a_path_that_is_not_utf8_keeps_the_units_as_they_are() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let mut d = UnitDef::new("odd");
        d.extra_mut().working_directory = Some(PathBuf::from(OsStr::from_bytes(b"/srv/\xff")));
        let units: BTreeMap<String, UnitDef> = [("odd".to_string(), d.clone())].into();
        assert_eq!(compact_units(units).expect("kept").get("odd"), Some(&d));
    }
}
