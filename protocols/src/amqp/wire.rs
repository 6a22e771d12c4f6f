//! Checked readers and plain writers of AMQP's primitive types, shared by
//! the generated method code, the field tables and the frames.
//!
//! Every read of a [`Reader`] checks that its bytes are there before taking
//! them, so a short buffer is [`Malformed::Truncated`], never a panic. Strings
//! share the input [`Bytes`], not copied.

use bytes::{Buf, Bytes, BytesMut};

use super::{Malformed, ShortStr};

/// How a [`Reader`]'s reads fail: the bytes end before the value does. It
/// converts to [`Malformed::Truncated`] (by `?`). A unit rather than a
/// [`Malformed`] so that a read's result is no larger than its value (a
/// `Result<ShortStr, Truncated>` is a `ShortStr` with a niche): results passed
/// through memory with `Malformed`'s layout were copied in overlapping pieces,
/// which stalled on store forwarding in profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Truncated;

impl From<Truncated> for Malformed {
    #[inline]
    fn from(_: Truncated) -> Malformed {
        Malformed::Truncated
    }
}

/// A cursor over received bytes: reads the primitive types from the front of
/// `src[pos..end]`, and hands out strings as [`Bytes`] sharing `src`'s memory.
///
/// Decoding goes through a `Reader` rather than splitting a `Bytes` value by
/// value: reads are plain slice accesses, and only the strings that are kept
/// touch `src`'s reference count (one increment each; a table or an array is
/// read through a [`sub`](Self::sub) reader bounded by its length, not through
/// a `Bytes` of its own).
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    src: &'a Bytes,
    /// Invariant: `pos <= end <= src.len()`.
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    /// A reader over all of `src`.
    #[inline]
    pub(crate) fn new(src: &'a Bytes) -> Self {
        Reader {
            src,
            pos: 0,
            end: src.len(),
        }
    }

    /// Bytes read so far, from the start of `src` (not of a sub-reader's range).
    #[inline]
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left before the end.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.end - self.pos
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Truncated> {
        let rest = self.src.get(self.pos..self.end).unwrap_or_default();
        let Some(bytes) = rest.first_chunk::<N>() else {
            return Err(Truncated);
        };
        self.pos += N;
        Ok(*bytes)
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    #[inline]
    pub(crate) fn u16(&mut self) -> Result<u16, Truncated> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    #[inline]
    pub(crate) fn u32(&mut self) -> Result<u32, Truncated> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    #[inline]
    pub(crate) fn u64(&mut self) -> Result<u64, Truncated> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// The next `len` bytes, sharing `src`'s memory (an empty string shares
    /// nothing, so costs no reference count).
    #[inline(always)]
    pub(crate) fn bytes(&mut self, len: usize) -> Result<Bytes, Truncated> {
        if self.remaining() < len {
            return Err(Truncated);
        }
        let start = self.pos;
        self.pos += len;
        if len == 0 {
            return Ok(Bytes::new());
        }
        // `clone`, `advance` and `truncate` inline, where `Bytes::slice` is a call.
        let mut bytes = self.src.clone();
        bytes.advance(start);
        bytes.truncate(len);
        Ok(bytes)
    }

    /// `len u8, len bytes`.
    #[inline(always)]
    pub(crate) fn shortstr(&mut self) -> Result<ShortStr, Truncated> {
        let len = usize::from(self.u8()?);
        Ok(ShortStr::from_checked(self.bytes(len)?))
    }

    /// `len u32, len bytes`.
    #[inline(always)]
    pub(crate) fn longstr(&mut self) -> Result<Bytes, Truncated> {
        let len = self.u32()? as usize;
        self.bytes(len)
    }

    /// A reader over the next `len` bytes, which this one skips: a table's or
    /// an array's contents, which must not read past their length.
    #[inline]
    pub(crate) fn sub(&mut self, len: usize) -> Result<Reader<'a>, Truncated> {
        if self.remaining() < len {
            return Err(Truncated);
        }
        let sub = Reader {
            src: self.src,
            pos: self.pos,
            end: self.pos + len,
        };
        self.pos += len;
        Ok(sub)
    }

    /// Fails with [`Malformed::TrailingBytes`] unless everything has been read.
    #[inline]
    pub(crate) fn finish(&self) -> Result<(), Malformed> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(Malformed::TrailingBytes { count }),
        }
    }
}

/// Writes into a region of an output buffer sized beforehand, by an
/// `encoded_len` (see [`append`]).
///
/// Writing through `BytesMut::extend_from_slice` kept the length in the
/// `BytesMut`: after each store into the buffer, which might alias it, the
/// length was loaded again and compared with the capacity. Here the position
/// stays in a register and each write is one bounds check. A write past the
/// region (an `encoded_len` that undercounts: a bug) is dropped, and
/// [`append`] asserts in debug builds that the region was filled exactly.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    /// Writes `bytes` at the position.
    #[inline(always)]
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        // No overflow: `pos` grows by the lengths of slices, each at most `isize::MAX`, and
        // stops at the region's end unless an `encoded_len` undercounts.
        let end = self.pos + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            copy(dst, bytes);
        }
        self.pos = end;
    }
}

/// `dst.copy_from_slice(src)` (same lengths), without a call to `memcpy` for
/// up to 32 bytes: names, routing keys, content types and small bodies. The
/// call, through the PLT and `memcpy`'s own dispatch on the length, cost more
/// than the copy, and an encoded message makes half a dozen. Lengths known at
/// compile time (the integers) fold to their branch.
#[inline(always)]
fn copy(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if n > 32 || dst.len() != n {
        dst.copy_from_slice(src);
    } else if n >= 16 {
        copy_ends::<16>(dst, src);
    } else if n >= 8 {
        copy_ends::<8>(dst, src);
    } else if n >= 4 {
        copy_ends::<4>(dst, src);
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    }
}

/// Copies the first and the last `N` bytes of `src` (`N <= len <= 2N`, so the
/// two cover it, overlapping in the middle) as two fixed-size moves.
#[inline(always)]
fn copy_ends<const N: usize>(dst: &mut [u8], src: &[u8]) {
    if let (Some(d), Some(s)) = (dst.first_chunk_mut::<N>(), src.first_chunk::<N>()) {
        *d = *s;
    }
    if let (Some(d), Some(s)) = (dst.last_chunk_mut::<N>(), src.last_chunk::<N>()) {
        *d = *s;
    }
}

const ZEROS: [u8; 32] = [0; 32];

/// Appends `len` bytes to `out`, written by `write` into a region of exactly
/// that size.
#[inline]
pub(crate) fn append(out: &mut BytesMut, len: usize, write: impl FnOnce(&mut Writer<'_>)) {
    let start = out.len();
    // The room is zeroed (safe code cannot hand out uninitialised bytes). Up to a few hundred
    // bytes, the size of a method and a header frame, 32 bytes at a time, which inlines to a
    // few vector stores: `resize` calls `memset`, whose cost showed in profiles there.
    if len > 8 * ZEROS.len() {
        out.resize(start.saturating_add(len), 0);
    } else {
        out.reserve(len + ZEROS.len());
        for _ in 0..len.div_ceil(ZEROS.len()) {
            out.extend_from_slice(&ZEROS);
        }
        out.truncate(start + len);
    }
    let mut writer = Writer {
        buf: out.get_mut(start..).unwrap_or_default(),
        pos: 0,
    };
    write(&mut writer);
    debug_assert_eq!(writer.pos, len, "encoded_len and write disagree");
}

#[inline(always)]
pub(crate) fn put_u8(out: &mut Writer<'_>, v: u8) {
    out.put(&[v]);
}

#[inline(always)]
pub(crate) fn put_u16(out: &mut Writer<'_>, v: u16) {
    out.put(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn put_u32(out: &mut Writer<'_>, v: u32) {
    out.put(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn put_u64(out: &mut Writer<'_>, v: u64) {
    out.put(&v.to_be_bytes());
}

/// A method's class id and method id, as one store.
#[inline(always)]
pub(crate) fn put_ids(out: &mut Writer<'_>, class_id: u16, method_id: u16) {
    put_u32(out, u32::from(class_id) << 16 | u32::from(method_id));
}

/// The 7 bytes before a frame's payload: type, channel, size; then one byte
/// to ignore, so that they are built as one 8-byte word. Assembled byte by
/// byte, they were stored byte by byte and then copied out in 4-byte loads,
/// each stalling on store forwarding; a load inside one wider store does not.
#[inline(always)]
pub(crate) fn frame_header(frame_type: u8, channel: u16, size: u32) -> [u8; 8] {
    (u64::from(frame_type) << 56 | u64::from(channel) << 40 | u64::from(size) << 8).to_be_bytes()
}

/// Writes [`frame_header`]'s 7 bytes.
#[inline(always)]
pub(crate) fn put_frame_header(out: &mut Writer<'_>, frame_type: u8, channel: u16, size: u32) {
    if let Some(header) = frame_header(frame_type, channel, size).first_chunk::<7>() {
        out.put(header);
    }
}

/// Appends [`frame_header`]'s 7 bytes to `out`.
#[inline(always)]
pub(crate) fn extend_frame_header(out: &mut BytesMut, frame_type: u8, channel: u16, size: u32) {
    if let Some(header) = frame_header(frame_type, channel, size).first_chunk::<7>() {
        out.extend_from_slice(header);
    }
}

#[inline(always)]
pub(crate) fn put_shortstr(out: &mut Writer<'_>, s: &ShortStr) {
    // A ShortStr holds at most 255 bytes.
    put_u8(out, s.len() as u8);
    out.put(s);
}

/// The caller has checked (through an `encoded_len`) that the length fits.
#[inline(always)]
pub(crate) fn put_longstr(out: &mut Writer<'_>, s: &[u8]) {
    put_u32(out, s.len() as u32);
    out.put(s);
}

/// Writes a 16-bit placeholder for property flags and returns where it is,
/// for [`end_flags`].
#[inline(always)]
pub(crate) fn start_flags(out: &mut Writer<'_>) -> usize {
    let at = out.pos;
    put_u16(out, 0);
    at
}

/// Fills the placeholder at `at` with `flags`.
#[inline(always)]
pub(crate) fn end_flags(out: &mut Writer<'_>, at: usize, flags: u16) {
    if let Some(slot) = out.buf.get_mut(at..at + 2) {
        slot.copy_from_slice(&flags.to_be_bytes());
    }
}

/// Writes a 32-bit length placeholder and returns where it is, for
/// [`end_length`].
#[inline]
pub(crate) fn start_length(out: &mut Writer<'_>) -> usize {
    let at = out.pos;
    put_u32(out, 0);
    at
}

/// Fills the placeholder at `at` with the number of bytes written after it.
#[inline]
pub(crate) fn end_length(out: &mut Writer<'_>, at: usize) {
    let len = out.pos.saturating_sub(at + 4) as u32;
    if let Some(slot) = out.buf.get_mut(at..at + 4) {
        slot.copy_from_slice(&len.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_refuse_short_input() {
        let read = |input: &'static [u8], f: fn(&mut Reader<'_>) -> Result<(), Truncated>| {
            let src = Bytes::from_static(input);
            f(&mut Reader::new(&src))
        };
        let truncated = Err(Truncated);
        assert_eq!(read(b"\x01", |r| r.u16().map(drop)), truncated);
        assert_eq!(read(b"abc", |r| r.u32().map(drop)), truncated);
        assert_eq!(read(b"1234567", |r| r.u64().map(drop)), truncated);
        assert_eq!(read(b"", |r| r.u8().map(drop)), truncated);
        assert_eq!(read(b"\x03ab", |r| r.shortstr().map(drop)), truncated);
        assert_eq!(
            read(b"\x00\x00\x00\x03ab", |r| r.longstr().map(drop)),
            truncated
        );
        assert_eq!(
            read(b"\xff\xff\xff\xff", |r| r.longstr().map(drop)),
            truncated
        );
        assert_eq!(read(b"\x05abc", |r| r.sub(6).map(drop)), truncated);

        let src = Bytes::from_static(b"\x02hi\x00\x00\x00\x01!rest");
        let mut r = Reader::new(&src);
        let hi = r.shortstr().unwrap();
        assert_eq!(hi, "hi");
        assert_eq!(hi.as_ptr(), src[1..].as_ptr(), "shares the source");
        assert_eq!(r.longstr().unwrap(), "!");
        assert_eq!(r.position(), 8);
        assert_eq!(r.finish(), Err(Malformed::TrailingBytes { count: 4 }));
        assert_eq!(r.bytes(0).unwrap(), "");
    }

    #[test]
    fn sub_readers_stop_at_their_length() {
        let src = Bytes::from_static(b"abcdef");
        let mut r = Reader::new(&src);
        let mut sub = r.sub(3).unwrap();
        assert_eq!(r.remaining(), 3);
        assert_eq!(sub.u16().unwrap(), u16::from_be_bytes(*b"ab"));
        assert_eq!(sub.u16(), Err(Truncated));
        assert_eq!(Malformed::from(Truncated), Malformed::Truncated);
        assert_eq!(sub.bytes(1).unwrap(), "c");
        assert_eq!(sub.finish(), Ok(()));
        assert_eq!(r.bytes(3).unwrap(), "def");
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn length_placeholder_is_backfilled() {
        let mut out = BytesMut::from(&b"xy"[..]);
        append(&mut out, 9, |w| {
            let at = start_length(w);
            w.put(b"hello");
            end_length(w, at);
        });
        assert_eq!(&out[..], b"xy\x00\x00\x00\x05hello");
    }

    #[test]
    fn small_copies_copy_every_length() {
        let src: Vec<u8> = (1..=40).collect();
        for n in 0..=40 {
            let mut dst = vec![0u8; n];
            copy(&mut dst, &src[..n]);
            assert_eq!(dst, &src[..n], "{n} bytes");
        }
    }

    #[test]
    fn appended_regions_of_every_size_take_the_writes() {
        for len in [0, 1, 31, 32, 33, 255, 256, 257, 1000] {
            let mut out = BytesMut::from(&b"ab"[..]);
            append(&mut out, len, |w| w.put(&vec![7; len]));
            assert_eq!(out.len(), 2 + len);
            assert!(out[2..].iter().all(|&b| b == 7), "{len}");
        }
    }

    #[test]
    fn writes_fill_the_appended_region() {
        let mut out = BytesMut::from(&b">"[..]);
        append(&mut out, 15 + 7, |w| {
            put_u8(w, 1);
            put_u16(w, 0x0203);
            put_u32(w, 0x0405_0607);
            put_u64(w, 0x0809_0a0b_0c0d_0e0f);
            put_frame_header(w, 3, 0x1011, 0x1213_1415);
        });
        assert_eq!(out.len(), 1 + 15 + 7);
        assert_eq!(out[1..16], (1..=15).collect::<Vec<u8>>()[..]);
        assert_eq!(out[16..], [3, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15]);
    }
}
