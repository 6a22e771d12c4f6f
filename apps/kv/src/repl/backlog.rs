//! The replication backlog: the last `repl-backlog-size` bytes of the replication stream,
//! so that a replica that lost its link briefly continues from its offset (PSYNC →
//! +CONTINUE) instead of loading a whole snapshot again.

use bytes::{Bytes, BytesMut};

/// A ring of the stream's most recent bytes, addressed by replication offset.
#[derive(Debug)]
pub(crate) struct Backlog {
    buf: Vec<u8>,
    /// Where the next byte goes in `buf`.
    head: usize,
    /// Bytes held (at most `buf.len()`).
    len: usize,
    /// The offset of the stream's last byte (Redis's `master_repl_offset`): bytes ever
    /// appended, counted from the replication id's start.
    end: u64,
}

impl Backlog {
    /// An empty backlog of `size` bytes whose stream is at `offset`.
    pub(crate) fn new(size: usize, offset: u64) -> Backlog {
        Backlog {
            buf: vec![0; size.max(16 * 1024)],
            head: 0,
            len: 0,
            end: offset,
        }
    }

    /// Appends stream bytes.
    pub(crate) fn append(&mut self, mut bytes: &[u8]) {
        self.end += bytes.len() as u64;
        let cap = self.buf.len();
        if bytes.len() > cap {
            bytes = bytes.get(bytes.len() - cap..).unwrap_or_default();
        }
        while !bytes.is_empty() {
            let room = cap - self.head;
            let n = room.min(bytes.len());
            if let (Some(dst), Some(src)) =
                (self.buf.get_mut(self.head..self.head + n), bytes.get(..n))
            {
                dst.copy_from_slice(src);
            }
            self.head = (self.head + n) % cap;
            self.len = (self.len + n).min(cap);
            bytes = bytes.get(n..).unwrap_or_default();
        }
    }

    /// The offset of the last byte.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// The offset of the first byte held (Redis's `repl_backlog_first_byte_offset`: one past
    /// the offset before it).
    pub(crate) fn first_byte(&self) -> u64 {
        self.end - self.len as u64 + 1
    }

    /// Bytes held (`repl_backlog_histlen`).
    pub(crate) fn histlen(&self) -> usize {
        self.len
    }

    /// Its size (`repl_backlog_size`).
    pub(crate) fn size(&self) -> usize {
        self.buf.len()
    }

    /// The stream from offset `from` (the first byte a replica lacks) to the end, if the
    /// backlog still holds it.
    pub(crate) fn since(&self, from: u64) -> Option<Bytes> {
        if from > self.end + 1 || from < self.first_byte() {
            return None;
        }
        let n = (self.end + 1 - from) as usize;
        let cap = self.buf.len();
        let start = (self.head + cap - n % cap.max(1)) % cap;
        let mut out = BytesMut::with_capacity(n);
        let first = (cap - start).min(n);
        out.extend_from_slice(self.buf.get(start..start + first).unwrap_or_default());
        out.extend_from_slice(self.buf.get(..n - first).unwrap_or_default());
        Some(out.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_keeps_the_last_bytes_by_offset_across_wraps() {
        let mut b = Backlog::new(16 * 1024, 100);
        assert_eq!(b.since(101).as_deref(), Some(&b""[..]));
        assert_eq!(b.since(100), None);
        let chunk: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut all = Vec::new();
        for _ in 0..7 {
            b.append(&chunk);
            all.extend_from_slice(&chunk);
        }
        assert_eq!(b.end(), 100 + 35_000);
        assert_eq!(b.histlen(), 16 * 1024);
        assert_eq!(b.first_byte(), 100 + 35_000 - 16 * 1024 + 1);
        // From any offset still held: exactly the stream's bytes from there.
        for from in [
            b.first_byte(),
            b.first_byte() + 1,
            100 + 30_000,
            b.end(),
            b.end() + 1,
        ] {
            let got = b.since(from).unwrap();
            let skip = (from - 101) as usize;
            assert_eq!(&got[..], &all[skip..], "from {from}");
        }
        assert_eq!(b.since(b.first_byte() - 1), None);
        assert_eq!(b.since(b.end() + 2), None);
        // One append larger than the ring keeps its tail.
        let big = vec![7u8; 40_000];
        b.append(&big);
        assert_eq!(
            &b.since(b.first_byte()).unwrap()[..],
            &big[big.len() - 16 * 1024..]
        );
    }
}
