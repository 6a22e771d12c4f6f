//! Checked readers and plain writers of AMQP's primitive types, shared by
//! the generated method code, the field tables and the frames.
//!
//! Every reader checks that its bytes are there before taking them, so a
//! short buffer is [`Malformed::Truncated`], never a panic. Strings are split
//! off the input [`Bytes`], not copied.

use bytes::{Buf, Bytes, BytesMut};

use super::{Malformed, ShortStr};

#[inline]
fn need(buf: &Bytes, n: usize) -> Result<(), Malformed> {
    if buf.len() < n {
        Err(Malformed::Truncated)
    } else {
        Ok(())
    }
}

#[inline]
pub(crate) fn get_u8(buf: &mut Bytes) -> Result<u8, Malformed> {
    need(buf, 1)?;
    Ok(buf.get_u8())
}

#[inline]
pub(crate) fn get_u16(buf: &mut Bytes) -> Result<u16, Malformed> {
    need(buf, 2)?;
    Ok(buf.get_u16())
}

#[inline]
pub(crate) fn get_u32(buf: &mut Bytes) -> Result<u32, Malformed> {
    need(buf, 4)?;
    Ok(buf.get_u32())
}

#[inline]
pub(crate) fn get_u64(buf: &mut Bytes) -> Result<u64, Malformed> {
    need(buf, 8)?;
    Ok(buf.get_u64())
}

/// `len u8, len bytes`.
#[inline]
pub(crate) fn get_shortstr(buf: &mut Bytes) -> Result<ShortStr, Malformed> {
    let len = usize::from(get_u8(buf)?);
    need(buf, len)?;
    Ok(ShortStr::from_checked(buf.split_to(len)))
}

/// `len u32, len bytes`.
#[inline]
pub(crate) fn get_longstr(buf: &mut Bytes) -> Result<Bytes, Malformed> {
    let len = get_u32(buf)? as usize;
    need(buf, len)?;
    Ok(buf.split_to(len))
}

// The writers use `BytesMut::extend_from_slice`, which inlines into plain
// stores: `BufMut::put_u16` and friends go through a `put_slice` that is not
// inlined across crates, which made every 1- to 8-byte write a `memcpy` call.

#[inline]
pub(crate) fn put_u8(out: &mut BytesMut, v: u8) {
    out.extend_from_slice(&[v]);
}

#[inline]
pub(crate) fn put_u16(out: &mut BytesMut, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn put_u32(out: &mut BytesMut, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn put_u64(out: &mut BytesMut, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// The 7 bytes before a frame's payload: type, channel, size.
#[inline]
pub(crate) fn put_frame_header(out: &mut BytesMut, frame_type: u8, channel: u16, size: u32) {
    let [c0, c1] = channel.to_be_bytes();
    let [s0, s1, s2, s3] = size.to_be_bytes();
    out.extend_from_slice(&[frame_type, c0, c1, s0, s1, s2, s3]);
}

#[inline]
pub(crate) fn put_shortstr(out: &mut BytesMut, s: &ShortStr) {
    // A ShortStr holds at most 255 bytes.
    put_u8(out, s.len() as u8);
    out.extend_from_slice(s);
}

/// The caller has checked (through an `encoded_len`) that the length fits.
#[inline]
pub(crate) fn put_longstr(out: &mut BytesMut, s: &[u8]) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s);
}

/// Writes a 32-bit length placeholder and returns where it is, for
/// [`end_length`].
#[inline]
pub(crate) fn start_length(out: &mut BytesMut) -> usize {
    let at = out.len();
    put_u32(out, 0);
    at
}

/// Fills the placeholder at `at` with the number of bytes written after it.
#[inline]
pub(crate) fn end_length(out: &mut BytesMut, at: usize) {
    let len = out.len().saturating_sub(at + 4) as u32;
    if let Some(slot) = out.get_mut(at..at + 4) {
        slot.copy_from_slice(&len.to_be_bytes());
    }
}

/// Fails with [`Malformed::TrailingBytes`] unless `buf` has been consumed.
#[inline]
pub(crate) fn finish(buf: &Bytes) -> Result<(), Malformed> {
    if buf.is_empty() {
        Ok(())
    } else {
        Err(Malformed::TrailingBytes { count: buf.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_refuse_short_input_and_take_nothing_they_lack() {
        let mut b = Bytes::from_static(b"\x01");
        assert_eq!(get_u16(&mut b), Err(Malformed::Truncated));
        assert_eq!(
            get_u32(&mut Bytes::from_static(b"abc")),
            Err(Malformed::Truncated)
        );
        assert_eq!(
            get_u64(&mut Bytes::from_static(b"1234567")),
            Err(Malformed::Truncated)
        );
        assert_eq!(get_u8(&mut Bytes::new()), Err(Malformed::Truncated));
        assert_eq!(
            get_shortstr(&mut Bytes::from_static(b"\x03ab")),
            Err(Malformed::Truncated)
        );
        assert_eq!(
            get_longstr(&mut Bytes::from_static(b"\x00\x00\x00\x03ab")),
            Err(Malformed::Truncated)
        );
        assert_eq!(
            get_longstr(&mut Bytes::from_static(b"\xff\xff\xff\xff")),
            Err(Malformed::Truncated)
        );
        let mut b = Bytes::from_static(b"\x02hi\x00\x00\x00\x01!rest");
        assert_eq!(get_shortstr(&mut b).unwrap(), "hi");
        assert_eq!(get_longstr(&mut b).unwrap(), "!");
        assert_eq!(finish(&b), Err(Malformed::TrailingBytes { count: 4 }));
    }

    #[test]
    fn length_placeholder_is_backfilled() {
        let mut out = BytesMut::from(&b"xy"[..]);
        let at = start_length(&mut out);
        out.extend_from_slice(b"hello");
        end_length(&mut out, at);
        assert_eq!(&out[..], b"xy\x00\x00\x00\x05hello");
    }
}
