//! Intsets (`intset.c`): a set of integers sorted ascending, stored as its encoding (2, 4 or 8
//! bytes per member), its length (both u32, little-endian) and the members, little-endian.

/// The intset of `members`.
pub(crate) fn encode(members: &mut [i64]) -> Vec<u8> {
    members.sort_unstable();
    let fits = |lo: i64, hi: i64| members.iter().all(|m| (lo..=hi).contains(m));
    let width: usize = if fits(i64::from(i16::MIN), i64::from(i16::MAX)) {
        2
    } else if fits(i64::from(i32::MIN), i64::from(i32::MAX)) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * members.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for m in members.iter() {
        out.extend_from_slice(m.to_le_bytes().get(..width).unwrap_or_default());
    }
    out
}

/// The members of intset `bytes`; `None` if malformed (bad width, a length that disagrees
/// with the size, members out of order or repeated).
pub(crate) fn decode(bytes: &[u8]) -> Option<Vec<i64>> {
    let width = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?) as usize;
    let len = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8) || bytes.len() != 8 + width.checked_mul(len)? {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    for chunk in bytes.get(8..)?.chunks_exact(width) {
        let mut raw = [0u8; 8];
        raw.get_mut(..width)?.copy_from_slice(chunk);
        let shift = 64 - 8 * width as u32;
        let v = (i64::from_le_bytes(raw) << shift) >> shift;
        if out.last().is_some_and(|&last| last >= v) {
            return None;
        }
        out.push(v);
    }
    Some(out)
}
