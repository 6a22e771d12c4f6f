//! LZF, the compression RDB strings use (`lzf_c.c`, `lzf_d.c`): literal runs of 1–32 bytes
//! (control byte `len - 1`) and back-references of 3–264 bytes up to 8 KiB back (control byte
//! `(len - 2) << 5 | offset >> 8`, a length byte when `len - 2 >= 7`, then the offset's low
//! byte). Our compressor is our own; any valid LZF stream loads in Redis.

/// Longest back-reference.
const MAX_REF: usize = 264;
/// Farthest back-reference.
const MAX_OFF: usize = 1 << 13;
/// Longest literal run.
const MAX_LIT: usize = 32;
/// Hash table size (log2).
const HASH_LOG: u32 = 14;

fn hash3(a: u8, b: u8, c: u8) -> usize {
    let v = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
    (v.wrapping_mul(2_654_435_761) >> (32 - HASH_LOG)) as usize
}

/// Compresses `input`; `None` when the result would be longer than `limit` bytes (Redis
/// stores such strings raw).
pub(crate) fn compress(input: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(limit);
    let mut table = vec![0usize; 1 << HASH_LOG];
    let mut lit_start = 0;
    let mut i = 0;
    let n = input.len();
    let flush = |out: &mut Vec<u8>, from: usize, to: usize| {
        let mut s = from;
        while s < to {
            let e = (s + MAX_LIT).min(to);
            out.push((e - s - 1) as u8);
            out.extend_from_slice(input.get(s..e).unwrap_or_default());
            s = e;
        }
    };
    while i + 2 < n {
        let (a, b, c) = match input.get(i..i + 3) {
            Some(&[a, b, c]) => (a, b, c),
            _ => break,
        };
        let h = hash3(a, b, c);
        let cand = table.get(h).copied().unwrap_or(0);
        if let Some(slot) = table.get_mut(h) {
            *slot = i + 1;
        }
        if cand > 0 {
            let from = cand - 1;
            let off = i - from - 1;
            if off < MAX_OFF && input.get(from..from + 3) == Some(&[a, b, c][..]) {
                let max = MAX_REF.min(n - i);
                let mut len = 3;
                while len < max && input.get(from + len) == input.get(i + len) {
                    len += 1;
                }
                flush(&mut out, lit_start, i);
                let l = len - 2;
                if l < 7 {
                    out.push(((l << 5) | (off >> 8)) as u8);
                } else {
                    out.push(((7 << 5) | (off >> 8)) as u8);
                    out.push((l - 7) as u8);
                }
                out.push((off & 0xff) as u8);
                i += len;
                lit_start = i;
                if out.len() > limit {
                    return None;
                }
                continue;
            }
        }
        i += 1;
    }
    flush(&mut out, lit_start, n);
    (out.len() <= limit).then_some(out)
}

/// Decompresses `input` into exactly `out_len` bytes; `None` if the stream is corrupt or does
/// not make `out_len` bytes. The caller bounds `out_len` before calling.
pub(crate) fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(out_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(*input.get(i)?);
        i += 1;
        if ctrl < 32 {
            let len = ctrl + 1;
            if out.len() + len > out_len {
                return None;
            }
            out.extend_from_slice(input.get(i..i + len)?);
            i += len;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(i)?);
                i += 1;
            }
            len += 2;
            let off = ((ctrl & 0x1f) << 8) + usize::from(*input.get(i)?) + 1;
            i += 1;
            if off > out.len() || out.len() + len > out_len {
                return None;
            }
            let start = out.len() - off;
            for k in 0..len {
                let b = *out.get(start + k)?;
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}
