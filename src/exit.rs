//! How a process ended, and how vigil says so in logs and replies. Shared by
//! the reaper (which decodes wait statuses), the service records and the
//! manager, so it belongs to none of them.

/// How a process ended, as decoded from waitpid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled {
        signal: i32,
        core_dumped: bool,
    },
    /// The process was not vigil's child (a main pid adopted through
    /// MAINPID= or a pid file that vigil watched through a pidfd): the
    /// kernel reports its end but not its status.
    Unknown,
}

/// A signal number as its name ("SIGKILL", "SIGRTMIN+2"), or "signal 99".
pub fn signal_name(signal: i32) -> String {
    match nix::sys::signal::Signal::try_from(signal) {
        Ok(sig) => sig.as_str().to_string(),
        Err(_) if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&signal) => {
            format!("SIGRTMIN+{}", signal - libc::SIGRTMIN())
        }
        Err(_) => format!("signal {signal}"),
    }
}

/// "exited 3", "killed by SIGSEGV (core dumped)".
pub fn describe_exit(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Exited(code) => format!("exited {code}"),
        ExitStatus::Signaled {
            signal,
            core_dumped,
        } => {
            let core = if *core_dumped { " (core dumped)" } else { "" };
            format!("killed by {}{core}", signal_name(*signal))
        }
        ExitStatus::Unknown => "exited (status unknown: not a child of vigil)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_exits() {
        assert_eq!(describe_exit(&ExitStatus::Exited(3)), "exited 3");
        assert_eq!(
            describe_exit(&ExitStatus::Signaled {
                signal: libc::SIGSEGV,
                core_dumped: true
            }),
            "killed by SIGSEGV (core dumped)"
        );
        assert_eq!(signal_name(libc::SIGRTMIN() + 2), "SIGRTMIN+2");
        assert_eq!(signal_name(999), "signal 999");
    }
}
