//! Standard base64 (RFC 4648, with padding) for `<base64>`: encoding without line breaks, and
//! decoding that skips whitespace anywhere, as Python's `base64.decodebytes` (which wraps its
//! output every 76 characters) needs.

use bytes::BytesMut;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends the base64 of `data` to `out`.
pub(crate) fn encode(data: &[u8], out: &mut BytesMut) {
    out.reserve(data.len().div_ceil(3) * 4);
    let sym = |n: u32| ALPHABET.get((n & 63) as usize).copied().unwrap_or(b'=');
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        if let [a, b, c] = *c {
            let n = u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c);
            out.extend_from_slice(&[sym(n >> 18), sym(n >> 12), sym(n >> 6), sym(n)]);
        }
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[sym(n >> 18), sym(n >> 12), b'=', b'=']);
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[sym(n >> 18), sym(n >> 12), sym(n >> 6), b'=']);
        }
        _ => {}
    }
}

fn value_of(c: u8) -> Option<u32> {
    Some(u32::from(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// The bytes `text` encodes, whitespace ignored; `None` for a character outside the alphabet,
/// a length (without whitespace) that is not a multiple of 4, padding anywhere but at the end,
/// or non-zero bits in the padding.
pub(crate) fn decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut held = 0usize; // symbols in `acc`
    let mut pad = 0usize;
    for &c in text {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            pad += 1;
            held += 1;
            acc <<= 6;
        } else {
            if pad > 0 {
                return None;
            }
            acc = acc << 6 | value_of(c)?;
            held += 1;
        }
        if held == 4 {
            let [_, a, b, c] = acc.to_be_bytes();
            match pad {
                0 => out.extend_from_slice(&[a, b, c]),
                1 if c == 0 => out.extend_from_slice(&[a, b]),
                2 if b == 0 && c == 0 => out.push(a),
                _ => return None,
            }
            acc = 0;
            held = 0;
            if pad > 0 {
                pad = 3; // nothing but whitespace may follow
            }
        }
    }
    (held == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_length() {
        let data: Vec<u8> = (0..=255u8).collect();
        for n in 0..data.len() {
            let mut text = BytesMut::new();
            encode(&data[..n], &mut text);
            assert_eq!(decode(&text).as_deref(), Some(&data[..n]), "{n}");
        }
        let mut text = BytesMut::new();
        encode(b"hello", &mut text);
        assert_eq!(&text[..], b"aGVsbG8=");
    }

    #[test]
    fn whitespace_is_skipped_and_garbage_refused() {
        assert_eq!(decode(b" aGVs\nbG8=\n").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode(b"").as_deref(), Some(&b""[..]));
        for bad in [
            &b"aGVsbG8"[..],
            b"aGVsbG8==",
            b"aGVs=G8=",
            b"aGVsbG8=aaaa",
            b"a*Vs",
            b"aGVsbG9=",
        ] {
            assert_eq!(decode(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
