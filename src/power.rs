//! The power actions: what the machine (or a supervisor vigil) does once
//! every unit is stopped. Named by the manager, carried out by `shutdown`.

/// Which final state the machine goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PowerAction {
    Poweroff,
    Reboot,
    Halt,
    /// Supervisor mode only: stop everything and exit.
    Exit,
}
