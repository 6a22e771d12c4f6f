//! Listpacks (`listpack.c`), the packed encoding Redis 7.0 uses for small hashes and sorted sets
//! and for each node of a list: a 4-byte total size and a 2-byte count (both little-endian),
//! the entries, and `0xff`. An entry is its encoding (a small integer, a 13/16/24/32/64-bit
//! integer, or a string with a 6/12/32-bit length) followed by its "backlen", the size of the
//! entry so far, which lets Redis walk backwards.

use super::format::format_i64;

/// The end marker.
const EOF: u8 = 0xff;

/// Appends the encoding of `v` to `out`: integers in the smallest integer form, as Redis's
/// `lpAppend` does for strings that are canonical integers.
fn push_int(out: &mut Vec<u8>, v: i64) -> usize {
    let start = out.len();
    if (0..=127).contains(&v) {
        out.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = if v < 0 { (1 << 13) + v } else { v } as u64;
        out.push(((u >> 8) as u8) | 0xc0);
        out.push((u & 0xff) as u8);
    } else if (i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&v) {
        out.push(0xf1);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        out.push(0xf2);
        out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v) {
        out.push(0xf3);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        out.push(0xf4);
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.len() - start
}

fn push_str(out: &mut Vec<u8>, s: &[u8]) -> usize {
    let start = out.len();
    let n = s.len();
    if n < 64 {
        out.push(0x80 | n as u8);
    } else if n < 4096 {
        out.push(0xe0 | (n >> 8) as u8);
        out.push((n & 0xff) as u8);
    } else {
        out.push(0xf0);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    }
    out.extend_from_slice(s);
    out.len() - start
}

/// The backlen of an entry of `l` bytes, as `lpEncodeBacklen` writes it.
fn push_backlen(out: &mut Vec<u8>, l: usize) {
    let l = l as u64;
    if l <= 127 {
        out.push(l as u8);
    } else if l < 16383 {
        out.extend_from_slice(&[(l >> 7) as u8, ((l & 127) | 128) as u8]);
    } else if l < 2_097_151 {
        out.extend_from_slice(&[
            (l >> 14) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]);
    } else if l < 268_435_455 {
        out.extend_from_slice(&[
            (l >> 21) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]);
    } else {
        out.extend_from_slice(&[
            (l >> 28) as u8,
            (((l >> 21) & 127) | 128) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]);
    }
}

/// The size of a backlen for an entry of `l` bytes.
fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// A listpack builder.
#[derive(Debug)]
pub(crate) struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Builder {
    /// An empty listpack.
    pub(crate) fn new() -> Self {
        Builder {
            buf: vec![0; 6],
            count: 0,
        }
    }

    /// Bytes so far (header included, end marker not).
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Entries so far.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Appends `s`, as an integer when it is one's canonical form.
    pub(crate) fn push(&mut self, s: &[u8]) {
        let l = match crate::types::value::canonical_int(s) {
            Some(v) => push_int(&mut self.buf, v),
            None => push_str(&mut self.buf, s),
        };
        push_backlen(&mut self.buf, l);
        self.count += 1;
    }

    /// The finished listpack.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = (self.buf.len() as u32).to_le_bytes();
        let count = if self.count < 65535 {
            self.count as u16
        } else {
            u16::MAX
        };
        if let Some(h) = self.buf.get_mut(0..4) {
            h.copy_from_slice(&total);
        }
        if let Some(h) = self.buf.get_mut(4..6) {
            h.copy_from_slice(&count.to_le_bytes());
        }
        self.buf
    }
}

fn le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// Sign-extends the low `bits` bits of `u`.
fn signed(u: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((u << shift) as i64) >> shift
}

/// Every entry of listpack `lp`, integers in decimal; `None` if it is malformed (sizes that
/// disagree, an entry running past the end, a missing end marker).
pub(crate) fn decode(lp: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = le(lp.get(0..4)?) as usize;
    if total != lp.len() || total < 7 {
        return None;
    }
    let declared = le(lp.get(4..6)?) as usize;
    let mut out = Vec::with_capacity(declared.min(lp.len()));
    let mut p = 6;
    loop {
        let b = *lp.get(p)?;
        if b == EOF {
            break;
        }
        let (elem, len): (Vec<u8>, usize) = if b & 0x80 == 0 {
            (format_i64(i64::from(b)), 1)
        } else if b & 0xc0 == 0x80 {
            let n = usize::from(b & 0x3f);
            (lp.get(p + 1..p + 1 + n)?.to_vec(), 1 + n)
        } else if b & 0xe0 == 0xc0 {
            let u = (u64::from(b & 0x1f) << 8) | u64::from(*lp.get(p + 1)?);
            (format_i64(signed(u, 13)), 2)
        } else if b & 0xf0 == 0xe0 {
            let n = (usize::from(b & 0x0f) << 8) | usize::from(*lp.get(p + 1)?);
            (lp.get(p + 2..p + 2 + n)?.to_vec(), 2 + n)
        } else {
            match b {
                0xf1 => (format_i64(signed(le(lp.get(p + 1..p + 3)?), 16)), 3),
                0xf2 => (format_i64(signed(le(lp.get(p + 1..p + 4)?), 24)), 4),
                0xf3 => (format_i64(signed(le(lp.get(p + 1..p + 5)?), 32)), 5),
                0xf4 => (format_i64(le(lp.get(p + 1..p + 9)?) as i64), 9),
                0xf0 => {
                    let n = le(lp.get(p + 1..p + 5)?) as usize;
                    (lp.get(p + 5..(p + 5).checked_add(n)?)?.to_vec(), 5 + n)
                }
                _ => return None,
            }
        };
        out.push(elem);
        p += len + backlen_size(len);
    }
    if p + 1 != lp.len() || (declared != 65535 && declared != out.len()) {
        return None;
    }
    Some(out)
}
