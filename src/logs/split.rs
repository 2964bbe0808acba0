//! Cutting a byte stream into lines. A line longer than `MAX_LINE` bytes
//! is split into records of at most that length, each but the last marked
//! as continued; a line the service has not finished waits, up to that
//! length, for the rest.

/// Longest text of one record, in bytes (documented in docs/logs.md).
pub const MAX_LINE: usize = 4096;

/// The unfinished line of one stream.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// The bytes after the last newline, waiting for the rest of their
    /// line (carried across a re-exec).
    pub fn pending(&self) -> &[u8] {
        &self.partial
    }

    /// Take up an unfinished line where the previous image left it; what
    /// is over `MAX_LINE` (only by a bug) is dropped.
    pub fn restore(&mut self, bytes: &[u8]) {
        self.partial.clear();
        self.partial
            .extend_from_slice(bytes.get(..MAX_LINE.min(bytes.len())).unwrap_or_default());
    }

    /// Cut `chunk` into lines: `emit(text, continued)` for each record,
    /// in order; what follows the last newline waits for the next chunk.
    pub fn feed(&mut self, mut chunk: &[u8], emit: &mut dyn FnMut(&[u8], bool)) {
        while !chunk.is_empty() {
            let room = MAX_LINE - self.partial.len();
            // One byte past the room: a newline right at the limit still
            // ends the line in this record.
            let window = chunk.get(..(room + 1).min(chunk.len())).unwrap_or(chunk);
            match window.iter().position(|b| *b == b'\n') {
                Some(at) => {
                    let (line, rest) = chunk.split_at(at);
                    self.finish(line, false, emit);
                    chunk = rest.get(1..).unwrap_or_default();
                }
                None if window.len() > room => {
                    // A full record and still no newline: out it goes, marked.
                    let (piece, rest) = chunk.split_at(room);
                    self.finish(piece, true, emit);
                    chunk = rest;
                }
                None => {
                    self.partial.extend_from_slice(chunk);
                    chunk = &[];
                }
            }
        }
    }

    /// The unfinished line as a record of its own (the writer exited, or
    /// the machine is going down); nothing if there is none.
    pub fn flush(&mut self, emit: &mut dyn FnMut(&[u8], bool)) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            emit(&line, false);
        }
    }

    fn finish(&mut self, tail: &[u8], continued: bool, emit: &mut dyn FnMut(&[u8], bool)) {
        if self.partial.is_empty() {
            emit(tail, continued);
        } else {
            self.partial.extend_from_slice(tail);
            // Taken, not cleared: a mostly idle stream keeps no buffer.
            let line = std::mem::take(&mut self.partial);
            emit(&line, continued);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, &mut |t, cont| out.push((t.to_vec(), cont)));
        }
        s.flush(&mut |t, cont| out.push((t.to_vec(), cont)));
        out
    }

    #[test]
    fn lines_across_chunks() {
        let out = run(&[b"a\nbb", b"b\n\nc"]);
        let want: Vec<(Vec<u8>, bool)> = vec![
            (b"a".to_vec(), false),
            (b"bbb".to_vec(), false),
            (b"".to_vec(), false),
            (b"c".to_vec(), false),
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn long_lines_are_split_and_marked() {
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        let mut input = long.clone();
        input.push(b'\n');
        // Fed in odd pieces, the records are the same.
        let pieces: Vec<&[u8]> = input.chunks(1000).collect();
        let out = run(&pieces);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].0.len(), MAX_LINE);
        assert!(out[0].1 && out[1].1 && !out[2].1);
        assert_eq!(out[2].0.len(), 10);
        let joined: Vec<u8> = out.iter().flat_map(|o| o.0.clone()).collect();
        assert_eq!(joined, long);
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_one_record() {
        let mut input = vec![b'y'; MAX_LINE];
        input.push(b'\n');
        let out = run(&[&input]);
        assert_eq!(out, vec![(vec![b'y'; MAX_LINE], false)]);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_kept() {
        let out = run(&[b"\xff\xfe ok\r\n\x00"]);
        assert_eq!(out[0].0, b"\xff\xfe ok\r");
        assert_eq!(out[1].0, b"\x00");
    }
}
