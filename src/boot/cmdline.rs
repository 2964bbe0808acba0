//! The kernel command line words vigil understands. Only these two are read;
//! nothing from the command line reaches services' environment.

use crate::log::Level;

/// What the kernel command line asks of vigil.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CmdlineOptions {
    /// `vigil.target=NAME`: boot this target instead of the default.
    pub target: Option<String>,
    /// `vigil.log=debug|info|warning|error`.
    pub log_level: Option<Level>,
    /// Values we recognised the key of but could not use.
    pub problems: Vec<String>,
}

/// Split like the kernel does: whitespace separates words except inside
/// double quotes, and the quotes themselves are dropped.
pub fn split_words(cmdline: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut in_quote = false;
    for c in cmdline.chars() {
        match c {
            '"' => {
                in_quote = !in_quote;
                in_word = true;
            }
            c if c.is_whitespace() && !in_quote => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Read `vigil.target=` and `vigil.log=`; unknown words are ignored and the
/// last occurrence of a key wins, as with other kernel parameters.
pub fn parse_cmdline(cmdline: &str) -> CmdlineOptions {
    let mut opts = CmdlineOptions::default();
    for word in split_words(cmdline) {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        match key {
            "vigil.target" => {
                let ok = !value.is_empty()
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.@:".contains(c));
                if ok {
                    opts.target = Some(value.to_string());
                } else {
                    opts.problems.push(format!(
                        "vigil.target={value:?}: not a valid unit name, ignored"
                    ));
                }
            }
            "vigil.log" => match crate::log::parse_level(value) {
                Some(l) => opts.log_level = Some(l),
                None => opts.problems.push(format!(
                    "vigil.log={value:?}: expected debug, info, warning or error; ignored"
                )),
            },
            _ => {}
        }
    }
    opts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_target_and_log_and_ignores_the_rest() {
        let o = parse_cmdline(
            "BOOT_IMAGE=/vmlinuz root=/dev/vda ro quiet console=ttyS0 vigil.target=rescue vigil.log=debug init=/sbin/vigil\n",
        );
        assert_eq!(o.target.as_deref(), Some("rescue"));
        assert_eq!(o.log_level, Some(Level::Debug));
        assert!(o.problems.is_empty());
    }

    #[test]
    fn handles_quotes_and_last_wins() {
        assert_eq!(
            split_words(r#"a "b c" d="e f" vigil.target="multi-user""#),
            ["a", "b c", "d=e f", "vigil.target=multi-user"]
        );
        let o = parse_cmdline(r#"vigil.log=info foo="x vigil.log=debug y" vigil.log=warning"#);
        assert_eq!(o.log_level, Some(Level::Warning));
    }

    #[test]
    fn bad_values_are_problems_not_settings() {
        let o = parse_cmdline("vigil.log=loud vigil.target= vigil.target=a/b vigil.targetx=y");
        assert_eq!(o.log_level, None);
        assert_eq!(o.target, None);
        assert_eq!(o.problems.len(), 3, "{:?}", o.problems);
    }
}
