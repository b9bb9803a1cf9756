//! Reading the pool's lines from a byte stream: at most [`MAX_LINE`] bytes before the newline,
//! a longer line is an error (the connection is then closed), and [`LineReader::next_line`] is
//! cancel-safe, so the shell can `select!` on it without losing bytes.

use tokio::io::{AsyncRead, AsyncReadExt as _};
use votechain_pool::wire::MAX_LINE;

/// Why no line could be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The pool sent more than [`MAX_LINE`] bytes without a newline.
    #[error("the pool sent a line longer than {MAX_LINE} bytes")]
    TooLong,
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Splits a stream into lines of bounded length.
#[derive(Debug)]
pub struct LineReader<R> {
    /// The stream.
    inner: R,
    /// Bytes read and not yet returned; never more than `MAX_LINE` plus one read.
    buf: Vec<u8>,
    /// How far `buf` is known to hold no newline.
    scanned: usize,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// A reader of `inner`'s lines.
    pub fn new(inner: R) -> LineReader<R> {
        LineReader {
            inner,
            buf: Vec::new(),
            scanned: 0,
        }
    }

    /// The next line without its newline; `None` at the end of the stream (a partial last
    /// line is dropped). Cancel-safe: the only await is a read whose bytes are kept only once
    /// it completes.
    pub async fn next_line(&mut self) -> Result<Option<Vec<u8>>, LineError> {
        loop {
            if let Some(at) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
                let end = self.scanned + at;
                let line: Vec<u8> = self.buf.drain(..=end).take(end).collect();
                self.scanned = 0;
                if line.len() > MAX_LINE {
                    return Err(LineError::TooLong);
                }
                return Ok(Some(line));
            }
            self.scanned = self.buf.len();
            if self.buf.len() > MAX_LINE {
                return Err(LineError::TooLong);
            }
            let mut chunk = [0u8; 4096];
            let n = self.inner.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8]) -> Vec<Result<Vec<u8>, String>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            // Delivered a few bytes at a time, so lines straddle reads.
            let mut input = trickle(input);
            let mut reader = LineReader::new(&mut input);
            let mut out = Vec::new();
            loop {
                match reader.next_line().await {
                    Ok(Some(line)) => out.push(Ok(line)),
                    Ok(None) => return out,
                    Err(e) => {
                        out.push(Err(e.to_string()));
                        return out;
                    }
                }
            }
        })
    }

    /// A reader that hands out at most 7 bytes per read.
    fn trickle(input: &[u8]) -> impl AsyncRead + Unpin + '_ {
        struct Trickle<'a>(&'a [u8]);
        impl AsyncRead for Trickle<'_> {
            fn poll_read(
                mut self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let n = self.0.len().min(7).min(buf.remaining());
                buf.put_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                std::task::Poll::Ready(Ok(()))
            }
        }
        Trickle(input)
    }

    #[test]
    fn lines_split_across_reads_and_a_partial_last_line_is_dropped() {
        let out = read_all(b"one\n\ntwo words\nthree");
        assert_eq!(
            out,
            [
                Ok(b"one".to_vec()),
                Ok(Vec::new()),
                Ok(b"two words".to_vec())
            ]
        );
    }

    #[test]
    fn a_line_at_the_limit_reads_and_one_over_is_an_error() {
        let mut input = vec![b'a'; MAX_LINE];
        input.push(b'\n');
        input.extend(vec![b'b'; MAX_LINE + 1]);
        input.push(b'\n');
        input.extend(b"never read\n");
        let out = read_all(&input);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].as_ref().map(Vec::len), Ok(MAX_LINE));
        assert_eq!(
            out[1],
            Err(format!("the pool sent a line longer than {MAX_LINE} bytes"))
        );
        // Endless bytes without a newline stop at the limit, not at the end of memory.
        let out = read_all(&vec![b'c'; 10 * MAX_LINE]);
        assert!(matches!(&out[..], [Err(_)]));
    }
}
