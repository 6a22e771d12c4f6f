//! [`Hash`]: a hash value, packed while small (like Redis's listpack) and a hash table once
//! large.
//!
//! Most hashes are small objects (`user:1000 → {name, email, age}`). Packed, their fields and
//! values sit back to back in one `Vec<u8>`, each behind a varint length: ten short fields cost
//! about 150 bytes instead of the ~800 of a `HashMap<Str, Str>` with its buckets. Lookups in a
//! packed hash scan it, which for at most [`MAX_PACKED_ENTRIES`] short entries is as fast as
//! hashing. Past either limit the hash converts to a table, once, as Redis converts a listpack
//! to a hashtable (OBJECT ENCODING says which).

use std::collections::HashMap;

use super::str::Str;

/// A packed hash converts to a table beyond this many fields (`hash-max-listpack-entries`).
pub(crate) const MAX_PACKED_ENTRIES: usize = 128;
/// …or when a field or value is longer than this (`hash-max-listpack-value`).
pub(crate) const MAX_PACKED_VALUE: usize = 64;

/// A hash value.
#[derive(Debug, Clone)]
pub(crate) enum Hash {
    /// `(field, value)` pairs packed back to back; the count of pairs.
    Packed(Vec<u8>, u32),
    /// A hash table.
    Table(HashMap<Str, Str>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Packed(Vec::new(), 0)
    }
}

fn put(buf: &mut Vec<u8>, s: &[u8]) {
    let mut n = s.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            buf.push(byte);
            break;
        }
        buf.push(byte | 0x80);
    }
    buf.extend_from_slice(s);
}

/// Reads one length-prefixed string at `pos`; returns it and the position after it.
fn take(buf: &[u8], mut pos: usize) -> Option<(&[u8], usize)> {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let b = *buf.get(pos)?;
        pos += 1;
        n |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 35 {
            return None;
        }
    }
    let s = buf.get(pos..pos + n)?;
    Some((s, pos + n))
}

/// Iterates the pairs of a packed buffer with their byte ranges.
struct Pairs<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Pairs<'a> {
    /// (field, value, start of the pair, end of the pair)
    type Item = (&'a [u8], &'a [u8], usize, usize);

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.pos;
        let (f, p) = take(self.buf, start)?;
        let (v, end) = take(self.buf, p)?;
        self.pos = end;
        Some((f, v, start, end))
    }
}

impl Hash {
    fn pairs(buf: &[u8]) -> Pairs<'_> {
        Pairs { buf, pos: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Hash::Packed(_, n) => *n as usize,
            Hash::Table(t) => t.len(),
        }
    }

    /// True when empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True while packed (OBJECT ENCODING `listpack`).
    pub(crate) fn is_packed(&self) -> bool {
        matches!(self, Hash::Packed(..))
    }

    /// The value of `field`.
    pub(crate) fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Packed(buf, _) => Self::pairs(buf)
                .find(|(f, ..)| *f == field)
                .map(|(_, v, ..)| v),
            Hash::Table(t) => t.get(field).map(|v| v.as_bytes()),
        }
    }

    /// True if `field` is set.
    pub(crate) fn contains_key(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; `Some(())` if the field existed (as `HashMap::insert` returns
    /// the old value).
    pub(crate) fn insert(&mut self, field: Str, value: Str) -> Option<()> {
        if let Hash::Packed(buf, n) = self {
            let fits = field.len() <= MAX_PACKED_VALUE && value.len() <= MAX_PACKED_VALUE;
            let existing = Self::pairs(buf)
                .find(|(f, ..)| *f == field.as_bytes())
                .map(|(_, _, start, end)| (start, end));
            match existing {
                Some((start, end)) if fits => {
                    let mut pair = Vec::with_capacity(field.len() + value.len() + 4);
                    put(&mut pair, &field);
                    put(&mut pair, &value);
                    buf.splice(start..end, pair);
                    return Some(());
                }
                None if fits && (*n as usize) < MAX_PACKED_ENTRIES => {
                    // Grow by a quarter rather than doubling: small hashes are most of the
                    // memory, and a doubled buffer would be up to half empty.
                    let add = field.len() + value.len() + 4;
                    if buf.capacity() - buf.len() < add {
                        buf.reserve_exact(add.max(buf.len() / 4));
                    }
                    put(buf, &field);
                    put(buf, &value);
                    *n += 1;
                    return None;
                }
                _ => self.convert(),
            }
        }
        match self {
            Hash::Table(t) => t.insert(field, value).map(|_| ()),
            Hash::Packed(..) => None,
        }
    }

    /// Converts a packed hash to a table (one way, as in Redis).
    fn convert(&mut self) {
        if let Hash::Packed(buf, n) = self {
            let mut t = HashMap::with_capacity(*n as usize + 1);
            for (f, v, ..) in Self::pairs(buf) {
                t.insert(Str::new(f), Str::new(v));
            }
            *self = Hash::Table(t);
        }
    }

    /// Removes `field`; `Some(())` if it was set.
    pub(crate) fn remove(&mut self, field: &[u8]) -> Option<()> {
        match self {
            Hash::Packed(buf, n) => {
                let (start, end) = Self::pairs(buf)
                    .find(|(f, ..)| *f == field)
                    .map(|(_, _, s, e)| (s, e))?;
                buf.drain(start..end);
                *n -= 1;
                if buf.capacity() > 2 * buf.len() + 64 {
                    buf.shrink_to_fit();
                }
                Some(())
            }
            Hash::Table(t) => t.remove(field).map(|_| ()),
        }
    }

    /// Every (field, value).
    pub(crate) fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Packed(buf, _) => Box::new(Self::pairs(buf).map(|(f, v, ..)| (f, v))),
            Hash::Table(t) => Box::new(t.iter().map(|(f, v)| (f.as_bytes(), v.as_bytes()))),
        }
    }

    /// Every field.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().map(|(f, _)| f)
    }

    /// Heap bytes used (MEMORY USAGE).
    pub(crate) fn heap_size(&self) -> usize {
        match self {
            Hash::Packed(buf, _) => buf.capacity(),
            Hash::Table(t) => {
                t.capacity() * (2 * std::mem::size_of::<Str>() + 1)
                    + t.iter()
                        .map(|(f, v)| f.heap_size() + v.heap_size())
                        .sum::<usize>()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_until_a_limit_then_a_table_with_the_same_contents() {
        let mut h = Hash::default();
        for i in 0..MAX_PACKED_ENTRIES {
            assert!(h
                .insert(
                    format!("f{i}").as_str().into(),
                    format!("v{i}").as_str().into()
                )
                .is_none());
        }
        assert!(h.is_packed());
        assert_eq!(h.insert("f3".into(), "new".into()), Some(()));
        assert_eq!(h.get(b"f3"), Some(&b"new"[..]));
        assert_eq!(h.remove(b"f4"), Some(()));
        assert_eq!(h.remove(b"f4"), None);
        assert_eq!(h.len(), MAX_PACKED_ENTRIES - 1);
        h.insert("f4".into(), "back".into());
        h.insert("one-more".into(), "x".into());
        assert!(!h.is_packed(), "past the entry limit");
        assert_eq!(h.len(), MAX_PACKED_ENTRIES + 1);
        assert_eq!(h.get(b"f3"), Some(&b"new"[..]));
        assert_eq!(h.get(b"f4"), Some(&b"back"[..]));
        let mut big = Hash::default();
        big.insert("a".into(), "1".into());
        big.insert("long".into(), Str::new(&[b'x'; MAX_PACKED_VALUE + 1]));
        assert!(!big.is_packed(), "past the value length limit");
        assert_eq!(big.get(b"a"), Some(&b"1"[..]));
        let ten: Hash = {
            let mut h = Hash::default();
            for f in 0..10 {
                h.insert(
                    format!("field{f}").as_str().into(),
                    format!("value{f}").as_str().into(),
                );
            }
            h
        };
        assert!(
            ten.heap_size() < 200,
            "ten short pairs pack into {} bytes",
            ten.heap_size()
        );
        assert_eq!(ten.iter().count(), 10);
    }
}
