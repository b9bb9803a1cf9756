//! Splitting a connection's byte stream into lines under a hard length cap. Pure: bytes in,
//! lines out through a callback, no IO. A line is everything before a `\n` (a `\r` before it
//! is the caller's to strip); a line longer than the cap, finished or not, is an error at once,
//! so no more than the cap is ever buffered.

/// A line, finished or not, is longer than the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TooLong;

/// The bytes of an unfinished line between reads.
#[derive(Debug)]
pub(super) struct LineFramer {
    /// The started line (at most `cap` bytes).
    partial: Vec<u8>,
    /// The longest line allowed, newline excluded.
    cap: usize,
}

impl LineFramer {
    /// A framer for lines of at most `cap` bytes.
    pub(super) fn new(cap: usize) -> LineFramer {
        LineFramer {
            partial: Vec::new(),
            cap,
        }
    }

    /// Feeds `bytes` as read: calls `on_line` with every line they finish, in order, and keeps
    /// the unfinished rest. `Err(TooLong)` as soon as a line is over the cap; the framer is of
    /// no further use then (the connection is closed).
    pub(super) fn feed(
        &mut self,
        mut bytes: &[u8],
        mut on_line: impl FnMut(&[u8]),
    ) -> Result<(), TooLong> {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            let piece = &bytes[..end];
            bytes = &bytes[end + 1..];
            if self.partial.len() + piece.len() > self.cap {
                return Err(TooLong);
            }
            if self.partial.is_empty() {
                // The common case, a whole line in one read: no copy.
                on_line(piece);
            } else {
                self.partial.extend_from_slice(piece);
                on_line(&self.partial);
                self.partial.clear();
            }
        }
        if self.partial.len() + bytes.len() > self.cap {
            return Err(TooLong);
        }
        self.partial.extend_from_slice(bytes);
        Ok(())
    }

    /// True while a line has started and not ended.
    pub(super) fn is_mid_line(&self) -> bool {
        !self.partial.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `reads` one after another; the lines, and whether the framer refused.
    fn frame(cap: usize, reads: &[&[u8]]) -> (Vec<Vec<u8>>, Result<(), TooLong>) {
        let mut framer = LineFramer::new(cap);
        let mut lines = Vec::new();
        for read in reads {
            if let Err(e) = framer.feed(read, |l| lines.push(l.to_vec())) {
                return (lines, Err(e));
            }
        }
        (lines, Ok(()))
    }

    #[test]
    fn lines_split_and_join_across_reads() {
        let mut framer = LineFramer::new(8);
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut push = |l: &[u8]| lines.push(l.to_vec());
        assert_eq!(framer.feed(b"ab\ncd", &mut push), Ok(()));
        assert!(framer.is_mid_line());
        assert_eq!(framer.feed(b"e\n\nf\r\n", &mut push), Ok(()));
        assert!(!framer.is_mid_line());
        assert_eq!(
            lines,
            vec![b"ab".to_vec(), b"cde".to_vec(), vec![], b"f\r".to_vec()]
        );
    }

    #[test]
    fn a_line_at_the_cap_passes_and_one_byte_more_is_refused() {
        let (lines, ok) = frame(4, &[b"abcd\n"]);
        assert_eq!((lines, ok), (vec![b"abcd".to_vec()], Ok(())));
        assert_eq!(frame(4, &[b"abcde\n"]).1, Err(TooLong));
        // Unfinished, and split over reads: refused as soon as it passes the cap.
        assert_eq!(frame(4, &[b"ab", b"cde"]).1, Err(TooLong));
        assert_eq!(frame(4, &[b"abcde"]).1, Err(TooLong));
        assert_eq!(frame(4, &[b"ab", b"cd"]).1, Ok(()));
    }

    #[test]
    fn lines_before_an_oversized_one_are_delivered() {
        let mut framer = LineFramer::new(3);
        let mut lines = Vec::new();
        let fed = framer.feed(b"ok\nmuch too long\nlater\n", |l| lines.push(l.to_vec()));
        assert_eq!(fed, Err(TooLong));
        assert_eq!(lines, vec![b"ok".to_vec()]);
    }
}
