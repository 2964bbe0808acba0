//! vigil's descriptor budget. Each unit costs vigil a pidfd (and, with log
//! capture, a pipe), so 1000 units need more than the kernel's default soft
//! limit of 1024. vigil raises its own limit at start-up and gives services
//! the limit it was started with, so a service that uses select(2) never
//! sees descriptors above 1023.

/// The limit vigil aims for: enough for thousands of units and clients.
pub const WANTED_NOFILE: u64 = 65536;

/// RLIMIT_NOFILE as (soft, hard).
pub type NoFile = (u64, u64);

fn get() -> std::io::Result<NoFile> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((lim.rlim_cur, lim.rlim_max))
}

fn set((soft, hard): NoFile) -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Raises vigil's RLIMIT_NOFILE to `WANTED_NOFILE` (the hard limit too,
/// when vigil may: root), else as far as the hard limit allows. Returns the
/// limit vigil started with, for its services, and the one it has now.
pub fn raise() -> std::io::Result<(NoFile, NoFile)> {
    let original = get()?;
    let (soft, hard) = original;
    if soft >= WANTED_NOFILE {
        return Ok((original, original));
    }
    let wanted = (WANTED_NOFILE, hard.max(WANTED_NOFILE));
    if set(wanted).is_ok() {
        return Ok((original, wanted));
    }
    let capped = (hard, hard);
    set(capped)?;
    Ok((original, capped))
}
