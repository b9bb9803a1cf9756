//! Reading a fuzz input as a stream of small decisions. Every read succeeds: once the input
//! is exhausted, reads return zeros and empty slices, so any byte string is a valid program
//! and the fuzzer's mutations (cutting, splicing) keep producing meaningful ones.

/// A read position in a fuzz input.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Cursor<'a> {
        Cursor { data }
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, or 0 past the end.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    /// True or false, from one byte.
    pub fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// An index below `n` (1 ≤ `n` ≤ 256), from one byte.
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.clamp(1, 256)
    }

    /// The next `N` bytes, zero-padded past the end.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let bytes = self.take(N);
        out[..bytes.len()].copy_from_slice(bytes);
        out
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    /// A `u64` that is often an edge value (0, 1, `u64::MAX`, near `around`) and otherwise
    /// any value: edges are where arithmetic breaks.
    pub fn interesting_u64(&mut self, around: u64) -> u64 {
        match self.below(8) {
            0 => 0,
            1 => 1,
            2 => u64::MAX,
            3 => u64::MAX - u64::from(self.byte()),
            4 | 5 => around
                .saturating_add(u64::from(self.byte()))
                .saturating_sub(128),
            _ => self.u64(),
        }
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// A length-prefixed slice: a little-endian `u16` length, then that many bytes (fewer at
    /// the end of the input).
    pub fn chunk(&mut self) -> &'a [u8] {
        let len = usize::from(self.u16());
        self.take(len)
    }

    /// A string of at most `max` bytes: a one-byte length, then bytes read as lossy UTF-8 and
    /// cut back to `max` bytes at a character boundary.
    pub fn string(&mut self, max: usize) -> String {
        let len = usize::from(self.byte());
        let mut s = String::from_utf8_lossy(self.take(len)).into_owned();
        let mut end = s.len().min(max);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s
    }

    /// How far a core's clock moves next: a small, medium or large random step (at most
    /// `max_random_ms`), or to the core's `next_deadline` when it is ahead of `now_ms` (at most a
    /// day), so timers fire on time as often as not.
    pub fn time_step(
        &mut self,
        max_random_ms: u64,
        next_deadline: Option<u64>,
        now_ms: u64,
    ) -> u64 {
        match self.below(4) {
            0 => u64::from(self.byte()),
            1 => u64::from(self.u16()),
            2 => u64::from(self.u32()) % max_random_ms,
            _ => next_deadline.map_or(0, |t| t.saturating_sub(now_ms).min(86_400_000)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_zero() {
        let mut c = Cursor::new(&[1, 2, 3]);
        assert_eq!(c.u16(), 0x0201);
        assert_eq!(c.u32(), 3);
        assert!(c.is_empty());
        assert_eq!(c.byte(), 0);
        assert_eq!(c.chunk(), b"");
        assert_eq!(c.string(10), "");
    }

    #[test]
    fn strings_are_cut_at_char_boundaries() {
        let mut c = Cursor::new(&[4, 0xc3, 0xa9, 0xc3, 0xa9]);
        assert_eq!(c.string(3), "é");
    }
}
