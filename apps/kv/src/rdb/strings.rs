//! RDB's length and string encodings (`rdbSaveLen`, `rdbSaveRawString`): what every value's
//! encoding is written with.

use super::format::*;
use super::lzf;
use crate::types::value::canonical_int;

/// Strings longer than this are tried with LZF (`rdbSaveRawString`).
const COMPRESS_ABOVE: usize = 20;

/// Appends a length in RDB's length encoding.
pub(crate) fn write_len(out: &mut Vec<u8>, n: u64) {
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.push(0x40 | (n >> 8) as u8);
        out.push((n & 0xff) as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(LEN_32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(LEN_64);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends `v` as an int-encoded string if it fits 32 bits; false if it does not.
pub(crate) fn write_int(out: &mut Vec<u8>, v: i64) -> bool {
    if let Ok(b) = i8::try_from(v) {
        out.extend_from_slice(&[0xc0 | ENC_INT8, b as u8]);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(0xc0 | ENC_INT16);
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(0xc0 | ENC_INT32);
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Appends a string as Redis does: int-encoded when it is a short canonical integer that fits
/// 32 bits, LZF-compressed when longer than 20 bytes and that saves at least 4, else raw.
pub(crate) fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11 {
        if let Some(v) = canonical_int(s) {
            if write_int(out, v) {
                return;
            }
        }
    }
    if s.len() > COMPRESS_ABOVE {
        if let Some(packed) = lzf::compress(s, s.len() - 4) {
            out.push(0xc0 | ENC_LZF);
            write_len(out, packed.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&packed);
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}
