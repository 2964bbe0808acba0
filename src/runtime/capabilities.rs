//! vigil's own capability bounding set, for `condition_capability`: in a
//! container that dropped a capability, the units that need it are skipped
//! instead of failing (systemd's `ConditionCapability=` reads the same set).

use crate::unit::model::Capability;

/// Whether `cap` is in vigil's bounding set (PR_CAPBSET_READ). A kernel
/// that does not know the capability (older than the name) says EINVAL:
/// not held.
pub fn in_bounding_set(cap: Capability) -> bool {
    // SAFETY: PR_CAPBSET_READ only reads; the argument is a plain number.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAPBSET_READ,
            libc::c_ulong::from(cap.0),
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    rc == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's own account of the set, from /proc/self/status.
    fn cap_bnd() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let hex = status
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .unwrap()
            .trim();
        u64::from_str_radix(hex, 16).unwrap()
    }

    #[test]
    fn agrees_with_proc_status_for_every_named_capability() {
        let set = cap_bnd();
        for (i, name) in crate::unit::model::CAPABILITIES.iter().enumerate() {
            let cap = Capability::from_name(name).unwrap();
            assert_eq!(usize::from(cap.0), i);
            assert_eq!(in_bounding_set(cap), set & (1 << i) != 0, "{name}");
        }
    }
}
