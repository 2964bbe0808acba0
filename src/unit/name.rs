//! What a unit name may look like. Names become file names (`NAME.toml`,
//! `NAME.wants/`), so anything that could escape the units directory is refused.

/// Longest accepted name; leaves room for ".toml" within NAME_MAX.
const MAX_LEN: usize = 240;

/// Ok if `name` is a usable unit name, else why not.
pub fn check_unit_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a unit name cannot be empty".to_string());
    }
    if name.len() > MAX_LEN {
        return Err(format!("a unit name is at most {MAX_LEN} bytes long"));
    }
    if let Some(stem) = name.strip_suffix(".toml") {
        return Err(format!("write `{stem}`, without `.toml`"));
    }
    if name == crate::logs::OWN_LOG {
        return Err("`vigil` is reserved: vigil's own log is vigil.log".to_string());
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Err("a unit name cannot start with `.` or `-`".to_string());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.@:".contains(*c)))
    {
        return Err(format!(
            "{c:?} is not allowed (use letters, digits and - _ . @ :)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_unit_name("sshd").is_ok());
        assert!(check_unit_name("vigil").unwrap_err().contains("reserved"));
        assert!(check_unit_name("getty@tty1").is_ok());
        assert!(check_unit_name("net.eth0-up_2").is_ok());
        assert!(check_unit_name("").is_err());
        assert!(check_unit_name("../etc").is_err());
        assert!(check_unit_name("a/b").is_err());
        assert!(check_unit_name("has space").is_err());
        assert!(check_unit_name("-x").is_err());
        assert!(check_unit_name("foo.toml").unwrap_err().contains("`foo`"));
        assert!(check_unit_name(&"x".repeat(300)).is_err());
    }
}
