//! systemd's word splitting for command lines and `Environment=`
//! (`extract_first_word` with unquoting and C unescaping): quotes may be
//! single or double and may start anywhere in a word, and a backslash
//! escape is unescaped inside quotes as well as outside. A POSIX shell
//! splitter gets `'-p -- \\u'` wrong (it keeps both backslashes; systemd
//! gives agetty `-p -- \u`).

/// The words of `text`, or why it cannot be split (an unterminated quote,
/// an escape systemd rejects).
pub fn split(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (_, '\\') => word.push(unescape(&mut chars)?),
                (None, '\'' | '"') => quote = Some(c),
                (None, c) if c.is_whitespace() => break,
                (Some(q), c) if c == q => quote = None,
                (_, c) => word.push(c),
            }
        }
        if let Some(q) = quote {
            return Err(format!("unterminated {q} quote"));
        }
        words.push(word);
    }
}

/// One C escape after a backslash (systemd's `cunescape_one`), or a
/// backslash before a separator, which stands for it.
fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, String> {
    let Some(c) = chars.next() else {
        return Err("a backslash at the end".to_string());
    };
    let simple = match c {
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        's' => Some(' '),
        '\\' | '"' | '\'' | '?' => Some(c),
        c if c.is_whitespace() => Some(c),
        _ => None,
    };
    if let Some(s) = simple {
        return Ok(s);
    }
    let (radix, digits) = match c {
        'x' => (16, 2),
        'u' => (16, 4),
        'U' => (16, 8),
        '0'..='7' => (8, 2),
        other => return Err(format!("\\{other} is not an escape systemd knows")),
    };
    let mut value = if radix == 8 {
        c.to_digit(8).unwrap_or(0)
    } else {
        0
    };
    for _ in 0..digits {
        let d = chars
            .next()
            .and_then(|d| d.to_digit(radix))
            .ok_or_else(|| format!("\\{c} needs {digits} more digit(s)"))?;
        value = value.saturating_mul(radix).saturating_add(d);
    }
    match char::from_u32(value) {
        Some('\0') | None => Err(format!(
            "\\{c}: not a character vigil can pass in an argument"
        )),
        Some(ch) => Ok(ch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        split(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn escapes_are_unescaped_inside_quotes_too() {
        assert_eq!(
            words(r"/sbin/agetty -o '-p -- \\u' --noclear - $TERM"),
            ["/sbin/agetty", "-o", r"-p -- \u", "--noclear", "-", "$TERM"]
        );
        assert_eq!(words(r#"echo "a\"b" 'c\'d'"#), ["echo", "a\"b", "c'd"]);
    }

    #[test]
    fn quotes_may_start_inside_a_word_and_separators_can_be_escaped() {
        assert_eq!(words(r#"a"b c"d e\ f g\sh"#), ["ab cd", "e f", "g h"]);
        assert_eq!(words("  x\t y  "), ["x", "y"]);
        assert_eq!(words(r"\x41\101\u00e9 \t"), ["AAé", "\t"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn what_systemd_refuses_is_an_error() {
        assert_eq!(split("'open").unwrap_err(), "unterminated ' quote");
        assert_eq!(
            split(r"a\q").unwrap_err(),
            r"\q is not an escape systemd knows"
        );
        assert_eq!(split(r"a\x4").unwrap_err(), r"\x needs 2 more digit(s)");
        assert!(split(r"a\").is_err());
        assert!(split(r"\x00").is_err());
    }
}
