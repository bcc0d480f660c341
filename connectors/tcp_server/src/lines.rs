//! Splitting what a client sends into lines. `tokio_util`'s
//! `AnyDelimiterCodec` looks for its delimiters one byte at a time (about
//! 15 instructions a byte) and its `LinesCodec` turns lines into UTF-8
//! `String`s; lines here are bytes, found with `memchr`.

use bytes::{Buf, Bytes, BytesMut};

/// A line longer than the limit was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oversized;

/// Lines of at most `max` bytes (without the newline) taken from the
/// front of a buffer; longer ones are dropped, up to their newline.
#[derive(Debug)]
pub struct Lines {
    max: usize,
    /// Where to go on looking for the newline: the bytes before it have
    /// none.
    searched: usize,
    /// Dropping an oversized line until its newline.
    dropping: bool,
}

impl Lines {
    /// Lines of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            searched: 0,
            dropping: false,
        }
    }

    /// The next whole line in `buffer` (removed from it, without its
    /// newline), `Err` once for each line over the limit, `None` until
    /// more bytes come.
    pub fn next(&mut self, buffer: &mut BytesMut) -> Option<Result<Bytes, Oversized>> {
        loop {
            let end = buffer.len().min(self.max.saturating_add(1));
            let newline = memchr::memchr(b'\n', &buffer[self.searched..end]);
            match (self.dropping, newline) {
                (true, Some(at)) => {
                    buffer.advance(self.searched + at + 1);
                    self.searched = 0;
                    self.dropping = false;
                }
                (true, None) => {
                    buffer.advance(end);
                    self.searched = 0;
                    if buffer.is_empty() {
                        return None;
                    }
                }
                (false, Some(at)) => {
                    let mut line = buffer.split_to(self.searched + at + 1);
                    self.searched = 0;
                    line.truncate(line.len() - 1);
                    return Some(Ok(line.freeze()));
                }
                (false, None) if buffer.len() > self.max => {
                    self.dropping = true;
                    return Some(Err(Oversized));
                }
                (false, None) => {
                    self.searched = end;
                    return None;
                }
            }
        }
    }

    /// After the client closed its side: the next line as [`Self::next`]
    /// finds it, else what is left (a last line without its newline).
    pub fn last(&mut self, buffer: &mut BytesMut) -> Option<Result<Bytes, Oversized>> {
        if let Some(line) = self.next(buffer) {
            return Some(line);
        }
        self.searched = 0;
        (!buffer.is_empty()).then(|| Ok(buffer.split().freeze()))
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::{Lines, Oversized};

    fn all(lines: &mut Lines, buffer: &mut BytesMut) -> Vec<Result<String, Oversized>> {
        std::iter::from_fn(|| lines.next(buffer))
            .map(|line| line.map(|l| String::from_utf8(l.to_vec()).unwrap()))
            .collect()
    }

    #[test]
    fn lines_come_whole_however_the_bytes_arrive() {
        let mut lines = Lines::new(16);
        let mut buffer = BytesMut::new();
        let mut got = Vec::new();
        for chunk in ["a", "bc\nd", "e\n\nf", "g\nh"] {
            buffer.extend_from_slice(chunk.as_bytes());
            got.extend(all(&mut lines, &mut buffer));
        }
        let want = ["abc", "de", "", "fg"].map(|l| Ok(l.to_owned()));
        assert_eq!(got, want);
        assert_eq!(
            lines.last(&mut buffer).map(|l| l.map(|l| l.to_vec())),
            Some(Ok(b"h".to_vec()))
        );
        assert_eq!(lines.last(&mut buffer), None);
    }

    #[test]
    fn an_oversized_line_is_reported_once_and_dropped_up_to_its_newline() {
        let mut lines = Lines::new(4);
        let mut buffer = BytesMut::from(&b"1234\n12345"[..]);
        assert_eq!(
            all(&mut lines, &mut buffer),
            [Ok("1234".to_owned()), Err(Oversized)]
        );
        // The rest of the long line, in pieces, is dropped.
        buffer.extend_from_slice(b"6789");
        assert_eq!(all(&mut lines, &mut buffer), []);
        buffer.extend_from_slice(b"0\nok\n");
        assert_eq!(all(&mut lines, &mut buffer), [Ok("ok".to_owned())]);
        // A line of exactly the limit, its newline arriving later.
        buffer.extend_from_slice(b"abcd");
        assert_eq!(all(&mut lines, &mut buffer), []);
        buffer.extend_from_slice(b"\n");
        assert_eq!(all(&mut lines, &mut buffer), [Ok("abcd".to_owned())]);
        // An oversized last line, cut off by the end, is dropped too.
        buffer.extend_from_slice(b"toolong");
        assert_eq!(lines.last(&mut buffer), Some(Err(Oversized)));
        assert_eq!(lines.last(&mut buffer), None);
    }
}
