//! `$VAR` and `${VAR}` in a unit's command line, expanded from the unit's
//! environment when it starts, with systemd's rule (systemd.service(5),
//! "Command lines"): a word that is exactly `$NAME` becomes the value split
//! into words (none when unset or empty), `${NAME}` anywhere in a word is
//! replaced by the exact value (unset: empty) and stays within its word,
//! `$$` is a literal `$`; any other `$` is left as it is (so `sh -c 'echo
//! $i'` still reaches the shell unchanged). The program itself (the first
//! word) is never expanded.

/// Whether `name` is a variable name a command line can refer to.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One word with `${NAME}` and `$$` replaced.
fn expand_word(word: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let after = rest.get(at + 1..).unwrap_or_default();
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) if is_name(braced.get(..end).unwrap_or_default()) => {
                    let name = braced.get(..end).unwrap_or_default();
                    out.push_str(&lookup(name).unwrap_or_default());
                    rest = braced.get(end + 1..).unwrap_or_default();
                }
                _ => {
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `argv` with its variables expanded (see the module doc).
pub fn expand_argv(argv: &[String], lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut words = argv.iter();
    if let Some(program) = words.next() {
        out.push(program.clone());
    }
    for word in words {
        match word.strip_prefix('$').filter(|n| is_name(n)) {
            Some(name) => {
                let value = lookup(name).unwrap_or_default();
                // Quotes in the value group words, as systemd does.
                let split = shlex::split(&value)
                    .unwrap_or_else(|| value.split_whitespace().map(str::to_string).collect());
                out.extend(split);
            }
            None => out.push(expand_word(word, lookup)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SSHD_OPTS" => Some("-o 'Banner none' -p 2222".into()),
            "ONE" => Some("a b".into()),
            "EMPTY" => Some(String::new()),
            "MAINPID" => Some("42".into()),
            _ => None,
        }
    }

    fn run(argv: &[&str]) -> Vec<String> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        expand_argv(&argv, &env)
    }

    #[test]
    fn a_whole_word_splits_and_a_braced_one_stays_one_word() {
        assert_eq!(
            run(&["/usr/sbin/sshd", "-D", "$SSHD_OPTS"]),
            ["/usr/sbin/sshd", "-D", "-o", "Banner none", "-p", "2222"]
        );
        assert_eq!(run(&["/bin/echo", "${ONE}"]), ["/bin/echo", "a b"]);
        assert_eq!(run(&["/bin/echo", "x=${ONE}!"]), ["/bin/echo", "x=a b!"]);
        assert_eq!(
            run(&["/bin/kill", "-HUP", "$MAINPID"]),
            ["/bin/kill", "-HUP", "42"]
        );
    }

    #[test]
    fn unset_and_empty_variables_vanish_or_empty_their_word() {
        assert_eq!(
            run(&["/bin/true", "$NOPE", "$EMPTY", "end"]),
            ["/bin/true", "end"]
        );
        assert_eq!(run(&["/bin/true", "${NOPE}"]), ["/bin/true", ""]);
    }

    #[test]
    fn dollars_that_are_not_variables_pass_through() {
        assert_eq!(
            run(&["/bin/sh", "-c", "echo $i $1 $! ${ $$$$ ${1x} $"]),
            ["/bin/sh", "-c", "echo $i $1 $! ${ $$ ${1x} $"]
        );
        assert_eq!(
            run(&["$ONE", "$$"]),
            ["$ONE", "$"],
            "the program is never expanded"
        );
    }
}
