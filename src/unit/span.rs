//! A TOML document as a tree whose every key and value remembers where it was
//! written, so that diagnostics can point at `line:column` instead of just
//! naming the file.

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// The marker key toml uses to pass datetimes through serde.
const DATETIME_KEY: &str = "$__toml_private_datetime";

/// serde_spanned's protocol names: asking for this struct makes toml hand
/// over a key's span. Needed because a plain `Spanned<String>` key cannot
/// also accept the datetime marker key, which comes without a span. The
/// tests below fail if a toml upgrade changes these.
const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const SPANNED_FIELDS: &[&str] = &[
    "$__serde_spanned_private_start",
    "$__serde_spanned_private_end",
    "$__serde_spanned_private_value",
];

/// A table key: spanned when it is a real key, plain for toml's markers.
enum Key {
    Spanned(Spanned<String>),
    Plain(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key::Plain(v.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Key, A::Error> {
        Spanned::<String>::deserialize(de::value::MapAccessDeserializer::new(map)).map(Key::Spanned)
    }
}

/// One TOML value with its children's positions kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(String),
    Array(Vec<Spanned<Node>>),
    /// Keys in document order.
    Table(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl Node {
    /// Describes the value for "found ..." in messages, e.g. `integer 5`.
    pub fn describe(&self) -> String {
        match self {
            Node::String(s) => format!("{s:?}"),
            Node::Integer(i) => format!("integer {i}"),
            Node::Float(f) => format!("float {f}"),
            Node::Boolean(b) => format!("boolean {b}"),
            Node::Datetime(d) => format!("datetime {d}"),
            Node::Array(_) => "an array".to_string(),
            Node::Table(_) => "a table".to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Boolean(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        i64::try_from(v)
            .map(Node::Integer)
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Spanned(key) => {
                    let value = map.next_value::<Spanned<Node>>()?;
                    entries.push((key, value));
                }
                Key::Plain(k) if k == DATETIME_KEY => {
                    let text: String = map.next_value()?;
                    return Ok(Node::Datetime(text));
                }
                Key::Plain(k) => {
                    return Err(de::Error::custom(format!(
                        "key {k:?} came without a position"
                    )));
                }
            }
        }
        Ok(Node::Table(entries))
    }
}

/// A 1-based position in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Counted from 1.
    pub line: usize,
    /// Counted from 1, in characters.
    pub column: usize,
}

/// Turns byte offsets into line:column (columns count characters, not bytes).
#[derive(Debug, Clone)]
pub struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
    /// Whether each line is ASCII: its columns are then byte differences,
    /// so a line of 100,000 list entries costs no rescan per entry.
    ascii: Vec<bool>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `text` once so lookups are a binary search.
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let ascii = text.split('\n').map(str::is_ascii).collect();
        LineIndex {
            text,
            starts,
            ascii,
        }
    }

    /// Position of byte `offset` (clamped to the text).
    pub fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line_idx = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line_idx).copied().unwrap_or(0);
        let column = if self.ascii.get(line_idx).copied().unwrap_or(false) {
            offset.saturating_sub(start)
        } else {
            self.text
                .get(start..offset)
                .map(|s| s.chars().count())
                .unwrap_or(0)
        } + 1;
        Pos {
            line: line_idx + 1,
            column,
        }
    }

    /// The source text of `span` (empty if it is not in the text).
    pub fn slice(&self, span: &Range<usize>) -> &'a str {
        self.text.get(span.clone()).unwrap_or_default()
    }

    /// Position of the start of `span`.
    pub fn start(&self, span: &Range<usize>) -> Pos {
        self.pos(span.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_chars() {
        let idx = LineIndex::new("ab\nçd = 1\n");
        assert_eq!(idx.pos(0), Pos { line: 1, column: 1 });
        assert_eq!(idx.pos(3), Pos { line: 2, column: 1 });
        // 'd' follows a two-byte 'ç'.
        assert_eq!(idx.pos(5), Pos { line: 2, column: 2 });
        assert_eq!(idx.pos(999).line, 3);
    }

    #[test]
    fn nested_values_keep_spans() {
        let text = "a = [\"x\", \"yy\"]\n[t]\nk = 1\n";
        let node: Node = toml::from_str(text).unwrap();
        let Node::Table(entries) = node else {
            panic!("not a table")
        };
        let (key, value) = &entries[0];
        assert_eq!(key.get_ref(), "a");
        assert_eq!(key.span(), 0..1);
        let Node::Array(items) = value.get_ref() else {
            panic!("not an array")
        };
        assert_eq!(items[1].span(), 10..14);
        let (tkey, tval) = &entries[1];
        assert_eq!(tkey.get_ref(), "t");
        let Node::Table(inner) = tval.get_ref() else {
            panic!("not a table")
        };
        let idx = LineIndex::new(text);
        assert_eq!(idx.start(&inner[0].0.span()), Pos { line: 3, column: 1 });
        assert_eq!(inner[0].1.get_ref(), &Node::Integer(1));
    }

    #[test]
    fn datetimes_are_kept_as_text() {
        let node: Node = toml::from_str("d = 1979-05-27T07:32:00Z\n").unwrap();
        let Node::Table(entries) = node else {
            panic!("not a table")
        };
        assert!(matches!(entries[0].1.get_ref(), Node::Datetime(_)));
    }
}
