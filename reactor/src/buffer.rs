//! A connection's output buffer: many small writes and a few large shared ones, flushed with
//! vectored writes.
//!
//! Small writes (a RESP reply, an echo) are copied into one contiguous `tail`, so a hundred
//! pipelined replies leave in one `write(2)`. Large [`Bytes`] (a message body) are queued as
//! chunks without copying, and a flush hands up to [`MAX_IOVECS`] pieces to one `writev(2)`.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

use bytes::{Buf, Bytes};

/// Writes of at least this many bytes given as `Bytes` are queued without copying.
const ZERO_COPY_MIN: usize = 4096;
/// At most this many slices go to one `writev`.
pub(crate) const MAX_IOVECS: usize = 64;
/// An empty tail keeps at most this much capacity between flushes.
const KEEP_CAPACITY: usize = 16 * 1024;

/// What one flush did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flushed {
    /// Bytes written.
    pub bytes: usize,
    /// `write`/`writev` calls that wrote something.
    pub syscalls: usize,
}

/// Queued output: `chunks` in order, then `tail[head..]`.
#[derive(Debug, Default)]
pub(crate) struct OutBuf {
    chunks: VecDeque<Bytes>,
    tail: Vec<u8>,
    head: usize,
    len: usize,
}

impl OutBuf {
    /// Bytes queued and not yet written.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues a copy of `data`.
    pub(crate) fn write(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        self.len += data.len();
    }

    /// Queues `data`; large buffers are kept as they are, without copying.
    pub(crate) fn write_bytes(&mut self, data: Bytes) {
        if data.len() < ZERO_COPY_MIN {
            return self.write(&data);
        }
        self.seal_tail();
        self.len += data.len();
        self.chunks.push_back(data);
    }

    /// Turns the pending tail into a chunk so that a chunk queued next stays in order.
    fn seal_tail(&mut self) {
        if self.head == self.tail.len() {
            self.tail.clear();
            self.head = 0;
            return;
        }
        let mut sealed = Bytes::from(std::mem::take(&mut self.tail));
        sealed.advance(self.head);
        self.head = 0;
        self.chunks.push_back(sealed);
    }

    /// Drops everything queued (an aborted connection).
    pub(crate) fn clear(&mut self) {
        *self = OutBuf::default();
    }

    /// Writes as much as the sink takes. Stops at `WouldBlock` (returning what was written) and
    /// returns other errors. `Interrupted` is retried.
    pub(crate) fn flush_to<W: Write + ?Sized>(&mut self, sink: &mut W) -> io::Result<Flushed> {
        let mut done = Flushed::default();
        while self.len > 0 {
            let result = if self.chunks.is_empty() {
                sink.write(self.tail.get(self.head..).unwrap_or_default())
            } else {
                let mut slices: [IoSlice<'_>; MAX_IOVECS] = [IoSlice::new(&[]); MAX_IOVECS];
                let mut n = 0;
                for chunk in self.chunks.iter().take(MAX_IOVECS) {
                    if let Some(s) = slices.get_mut(n) {
                        *s = IoSlice::new(chunk);
                        n += 1;
                    }
                }
                if let Some(s) = slices.get_mut(n) {
                    if self.head < self.tail.len() {
                        *s = IoSlice::new(self.tail.get(self.head..).unwrap_or_default());
                        n += 1;
                    }
                }
                sink.write_vectored(slices.get(..n).unwrap_or_default())
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.consume(n);
                    done.bytes += n;
                    done.syscalls += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Forgets the first `n` queued bytes (they were written).
    fn consume(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if n < front.len() {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.chunks.pop_front();
        }
        self.head += n;
        if self.head >= self.tail.len() {
            self.head = 0;
            self.tail.clear();
            if self.tail.capacity() > KEEP_CAPACITY {
                self.tail = Vec::new();
            }
        } else if self.head >= 8192 && self.head * 2 >= self.tail.len() {
            // A slow reader with a steady writer: reclaim the written front.
            self.tail.drain(..self.head);
            self.head = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that accepts at most `limit` bytes per call and then would block once full.
    struct Sink {
        data: Vec<u8>,
        per_call: usize,
        room: usize,
        calls: usize,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.calls += 1;
            let mut budget = self.per_call.min(self.room);
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(budget);
                self.data.extend_from_slice(&b[..take]);
                budget -= take;
                n += take;
            }
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn many_small_writes_leave_in_one_call() {
        let mut out = OutBuf::default();
        for i in 0..100u8 {
            out.write(&[i; 10]);
        }
        let mut sink = Sink {
            data: vec![],
            per_call: usize::MAX,
            room: usize::MAX,
            calls: 0,
        };
        let f = out.flush_to(&mut sink).unwrap();
        assert_eq!(
            f,
            Flushed {
                bytes: 1000,
                syscalls: 1
            }
        );
        assert!(out.is_empty());
        assert_eq!(sink.data.len(), 1000);
    }

    #[test]
    fn order_kept_across_chunks_partial_writes_and_would_block() {
        let mut out = OutBuf::default();
        let mut expect = vec![];
        for i in 0..50u32 {
            let small = format!("small-{i};").into_bytes();
            out.write(&small);
            expect.extend_from_slice(&small);
            let big = Bytes::from(vec![(i % 251) as u8; 5000 + i as usize]);
            expect.extend_from_slice(&big);
            out.write_bytes(big);
        }
        let total = expect.len();
        assert_eq!(out.len(), total);
        let mut sink = Sink {
            data: vec![],
            per_call: 777,
            room: 10_000,
            calls: 0,
        };
        while !out.is_empty() {
            let before = out.len();
            let f = out.flush_to(&mut sink).unwrap();
            assert_eq!(before - out.len(), f.bytes);
            assert!(sink.room == 0 || out.is_empty(), "stopped early");
            sink.room = 10_000;
        }
        assert_eq!(sink.data, expect);
    }

    #[test]
    fn tail_is_compacted_for_a_slow_reader() {
        let mut out = OutBuf::default();
        let mut sink = Sink {
            data: vec![],
            per_call: 1000,
            room: 0,
            calls: 0,
        };
        for _ in 0..1000 {
            out.write(&[7; 100]);
            sink.room = 1000;
            out.flush_to(&mut sink).unwrap();
        }
        // Written bytes are not kept: the tail holds about what is still queued.
        assert!(out.tail.len() - out.head == out.len());
        assert!(out.tail.len() < out.len() + 16 * 1024);
    }
}
