//! Ziplists (`ziplist.c`) and zipmaps (`zipmap.c`), the packed encodings of older RDB files
//! (ziplists until Redis 7.0 replaced them by listpacks, zipmaps before 2.6). Decoding only:
//! Redis 7.0 loads them and never writes them.

use super::format::format_i64;

/// Every entry of ziplist `zl`, integers in decimal; `None` if malformed.
pub(crate) fn decode(zl: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = u32::from_le_bytes(zl.get(0..4)?.try_into().ok()?) as usize;
    if total != zl.len() || total < 11 {
        return None;
    }
    let declared = usize::from(u16::from_le_bytes(zl.get(8..10)?.try_into().ok()?));
    let mut out = Vec::with_capacity(declared.min(zl.len()));
    let mut p = 10;
    loop {
        let first = *zl.get(p)?;
        if first == 0xff {
            break;
        }
        p += if first < 254 { 1 } else { 5 };
        let b = *zl.get(p)?;
        let int = |n: usize| -> Option<i64> {
            let bytes = zl.get(p + 1..p + 1 + n)?;
            let mut raw = [0u8; 8];
            raw.get_mut(..n)?.copy_from_slice(bytes);
            let shift = 64 - 8 * n as u32;
            Some((i64::from_le_bytes(raw) << shift) >> shift)
        };
        let (elem, len) = match b >> 6 {
            0 => {
                let n = usize::from(b & 0x3f);
                (zl.get(p + 1..p + 1 + n)?.to_vec(), 1 + n)
            }
            1 => {
                let n = (usize::from(b & 0x3f) << 8) | usize::from(*zl.get(p + 1)?);
                (zl.get(p + 2..p + 2 + n)?.to_vec(), 2 + n)
            }
            2 => {
                let n = u32::from_be_bytes(zl.get(p + 1..p + 5)?.try_into().ok()?) as usize;
                (zl.get(p + 5..(p + 5).checked_add(n)?)?.to_vec(), 5 + n)
            }
            _ => match b {
                0xc0 => (format_i64(int(2)?), 3),
                0xd0 => (format_i64(int(4)?), 5),
                0xe0 => (format_i64(int(8)?), 9),
                0xf0 => (format_i64(int(3)?), 4),
                0xfe => (format_i64(int(1)?), 2),
                0xf1..=0xfd => (format_i64(i64::from(b & 0x0f) - 1), 1),
                _ => return None,
            },
        };
        out.push(elem);
        p += len;
    }
    if p + 1 != zl.len() || (declared != 65535 && declared != out.len()) {
        return None;
    }
    Some(out)
}

/// The (field, value) pairs of zipmap `zm`; `None` if malformed.
pub(crate) fn decode_zipmap(zm: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut p = 1;
    let mut out = Vec::new();
    let len_at = |p: usize| -> Option<(usize, usize)> {
        match *zm.get(p)? {
            b @ 0..=253 => Some((usize::from(b), 1)),
            254 => Some((
                u32::from_le_bytes(zm.get(p + 1..p + 5)?.try_into().ok()?) as usize,
                5,
            )),
            _ => None,
        }
    };
    loop {
        if *zm.get(p)? == 0xff {
            break;
        }
        let (klen, s) = len_at(p)?;
        p += s;
        let key = zm.get(p..p.checked_add(klen)?)?.to_vec();
        p += klen;
        let (vlen, s) = len_at(p)?;
        p += s;
        let free = usize::from(*zm.get(p)?);
        p += 1;
        let value = zm.get(p..p.checked_add(vlen)?)?.to_vec();
        p += vlen + free;
        out.push((key, value));
    }
    (p + 1 == zm.len()).then_some(out)
}
