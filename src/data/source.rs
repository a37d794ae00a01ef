//! The bytes of a data file as they stream in: checked to be UTF-8 on the way, with the
//! line breaks counted, so a parser that only knows byte offsets can name lines.

use std::collections::VecDeque;
use std::io::{self, Read};

/// Where the first invalid UTF-8 byte is; carried inside an `io::Error` of kind
/// `InvalidData` out of [`TrackedReader::read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utf8Position {
    /// 1-based line.
    pub line: usize,
    /// Byte offset from the start of the file.
    pub offset: u64,
}

impl std::fmt::Display for Utf8Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid UTF-8 on line {} at byte offset {}", self.line, self.offset)
    }
}

impl std::error::Error for Utf8Position {}

/// The `Utf8Position` inside `error`, if that is what it is.
pub(crate) fn utf8_position(error: &io::Error) -> Option<Utf8Position> {
    error.get_ref()?.downcast_ref::<Utf8Position>().copied()
}

const CHUNK: usize = 64 * 1024;

/// Wraps a reader: passes through only valid UTF-8 (an invalid sequence becomes an error
/// naming its line and offset) and remembers where recent line breaks start, so
/// [`TrackedReader::line_at`] turns the byte offset of a record into its line.
///
/// Memory stays bounded: one chunk plus the offsets of line breaks not yet asked about.
pub(crate) struct TrackedReader<R> {
    inner: R,
    /// Validated bytes not yet handed out: `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// An incomplete UTF-8 sequence at the end of the last chunk.
    carry: Vec<u8>,
    /// Offset (from the start of the file) of `buf[0]`.
    buf_offset: u64,
    /// Line breaks seen so far, in total.
    breaks_seen: usize,
    /// Offsets where line breaks start (the CR of a CRLF), not yet consumed by `line_at`.
    pending_breaks: VecDeque<u64>,
    /// Line breaks already consumed by `line_at`.
    breaks_before: usize,
    last_byte: u8,
    eof: bool,
}

impl<R: Read> TrackedReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            buf: Vec::with_capacity(CHUNK + 4),
            pos: 0,
            carry: Vec::new(),
            buf_offset: 0,
            breaks_seen: 0,
            pending_breaks: VecDeque::new(),
            breaks_before: 0,
            last_byte: 0,
            eof: false,
        }
    }

    /// The 1-based line of a record that starts at byte `offset`. Offsets must be asked
    /// for in increasing order. A record said to start on the LF of a CRLF, or on the line
    /// break before it, belongs to the next line.
    pub(crate) fn line_at(&mut self, offset: u64) -> usize {
        while self.pending_breaks.front().is_some_and(|&b| b <= offset) {
            self.pending_breaks.pop_front();
            self.breaks_before += 1;
        }
        self.breaks_before + 1
    }

    fn refill(&mut self) -> io::Result<()> {
        self.buf_offset += self.buf.len() as u64;
        self.buf.clear();
        self.pos = 0;
        self.buf.extend_from_slice(&self.carry);
        self.carry.clear();
        let start = self.buf.len();
        self.buf.resize(start + CHUNK, 0);
        let n = loop {
            match self.inner.read(&mut self.buf[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.buf.truncate(start + n);
        if n == 0 {
            self.eof = true;
        }
        let valid = match std::str::from_utf8(&self.buf) {
            Ok(_) => self.buf.len(),
            // An incomplete sequence at the end of a chunk may complete in the next one.
            Err(e) if e.error_len().is_none() && !self.eof => e.valid_up_to(),
            Err(e) => {
                let bad = e.valid_up_to();
                let breaks = self.buf[..bad].iter().filter(|&&b| b == b'\n').count();
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    Utf8Position { line: self.breaks_seen + breaks + 1, offset: self.buf_offset + bad as u64 },
                ));
            }
        };
        self.carry.extend_from_slice(&self.buf[valid..]);
        self.buf.truncate(valid);
        for (i, &b) in self.buf.iter().enumerate() {
            if b == b'\n' {
                let at = self.buf_offset + i as u64;
                let start = if self.last_byte == b'\r' { at - 1 } else { at };
                self.pending_breaks.push_back(start);
                self.breaks_seen += 1;
            }
            self.last_byte = b;
        }
        Ok(())
    }
}

impl<R: Read> Read for TrackedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.eof {
                return Ok(0);
            }
            self.refill()?;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte at a time, to split every UTF-8 sequence.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || out.is_empty() {
                return Ok(0);
            }
            out[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn passes_utf8_split_across_reads() {
        let text = "é😀\r\nñ\n";
        let mut out = String::new();
        TrackedReader::new(Trickle(text.as_bytes())).read_to_string(&mut out).unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn names_line_and_offset_of_invalid_utf8() {
        let bytes = b"ok\nfine\r\nbad \xff here\n";
        let error = TrackedReader::new(&bytes[..]).read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(utf8_position(&error), Some(Utf8Position { line: 3, offset: 13 }));
    }

    #[test]
    fn truncated_sequence_at_end_is_invalid() {
        let bytes = b"a\n\xe2\x82";
        let error = TrackedReader::new(Trickle(bytes)).read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(utf8_position(&error), Some(Utf8Position { line: 2, offset: 2 }));
    }

    #[test]
    fn line_at_counts_crlf_as_one_break() {
        let mut reader = TrackedReader::new(&b"a\r\nb\nc\r\n"[..]);
        reader.read_to_end(&mut Vec::new()).unwrap();
        // "b" starts at 3; a record said to start at the LF (2) is on line 2 as well.
        assert_eq!(reader.line_at(0), 1);
        assert_eq!(reader.line_at(2), 2);
        assert_eq!(reader.line_at(3), 2);
        assert_eq!(reader.line_at(5), 3);
    }
}
