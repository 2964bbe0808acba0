//! Template units: `NAME@.toml` is instantiated as `NAME@INSTANCE` for
//! each instance something asks for (an enablement link, another unit's
//! dependency, a start request), with systemd's specifiers substituted in
//! the file's text: `%i` the instance, `%n` the full name, `%p` the prefix
//! (`NAME`), `%%` a literal `%`.

/// The template a unit name is an instance of: `getty@tty2` ->
/// (`getty@`, `tty2`); None for a name that is no instance.
pub fn split_instance(name: &str) -> Option<(String, &str)> {
    let at = name.find('@')?;
    let instance = name.get(at + 1..)?;
    if instance.is_empty() {
        return None;
    }
    Some((format!("{}@", name.get(..at)?), instance))
}

/// Whether `name` is a template's (`getty@`).
pub fn is_template(name: &str) -> bool {
    name.ends_with('@') && name.matches('@').count() == 1
}

/// `text` with the specifiers of instance `full` replaced.
pub fn substitute(text: &str, full: &str) -> String {
    let (template, instance) = split_instance(full).unwrap_or((String::new(), ""));
    let prefix = template.strip_suffix('@').unwrap_or("");
    replace(text, instance, full, prefix)
}

/// `text` of a unit that is no instance, with the specifiers resolved as
/// systemd resolves them there: `%i` empty, `%n` and `%p` the name. (vigil
/// itself substitutes in templates only; `vigilctl import` resolves a
/// plain systemd unit's specifiers with this.)
pub fn substitute_plain(text: &str, name: &str) -> String {
    replace(text, "", name, name)
}

fn replace(text: &str, instance: &str, full: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('i') => out.push_str(instance),
            Some('n') => out.push_str(full),
            Some('p') => out.push_str(prefix),
            Some('%') => out.push('%'),
            _ => {
                out.push('%');
                continue;
            }
        }
        chars.next();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_and_specifiers() {
        assert_eq!(
            split_instance("getty@tty2"),
            Some(("getty@".into(), "tty2"))
        );
        assert_eq!(split_instance("getty@"), None);
        assert_eq!(split_instance("getty"), None);
        assert!(is_template("getty@") && !is_template("getty@tty2") && !is_template("getty"));
        assert_eq!(
            substitute(
                "exec = [\"/sbin/agetty\", \"%i\"] # %n of %p, 100%% %x",
                "getty@ttyS1"
            ),
            "exec = [\"/sbin/agetty\", \"ttyS1\"] # getty@ttyS1 of getty, 100% %x"
        );
    }
}
