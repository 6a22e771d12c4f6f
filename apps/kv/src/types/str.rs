//! [`Str`]: the store's byte string, kept compactly.
//!
//! Most keys and values are short (`user:1000`, `42`, a session id). A `Str` keeps up to 22
//! bytes inline, in the 24 bytes a `Box<[u8]>` would take with its tag, so a short key or value
//! costs no heap allocation at all; longer ones live in one exact-size boxed slice (no spare
//! capacity, no reference count). This is most of why a million small keys fit in about the
//! memory Redis needs for them.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Bytes stored inline up to this length.
pub(crate) const INLINE: usize = 22;

/// A binary-safe byte string: inline when short, boxed when long.
#[derive(Clone)]
pub(crate) enum Str {
    /// Up to [`INLINE`] bytes: the length and the bytes.
    Inline(u8, [u8; INLINE]),
    /// Longer strings.
    Heap(Box<[u8]>),
}

impl Str {
    /// Copies `bytes` into a new string.
    pub(crate) fn new(bytes: &[u8]) -> Str {
        if bytes.len() <= INLINE {
            let mut data = [0u8; INLINE];
            if let Some(dst) = data.get_mut(..bytes.len()) {
                dst.copy_from_slice(bytes);
            }
            Str::Inline(bytes.len() as u8, data)
        } else {
            Str::Heap(bytes.into())
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Str::Inline(len, data) => data.get(..*len as usize).unwrap_or_default(),
            Str::Heap(b) => b,
        }
    }

    /// Appends `tail` (APPEND). A long string is resized where it lies rather than copied
    /// whole: for a large block the allocator moves pages, not bytes, so appending to a big
    /// string costs about the tail, not the string.
    pub(crate) fn append(&mut self, tail: &[u8]) {
        match self {
            Str::Heap(b) => {
                let mut v = std::mem::take(b).into_vec();
                v.extend_from_slice(tail);
                *b = v.into_boxed_slice();
            }
            Str::Inline(..) => {
                let mut v = self.as_bytes().to_vec();
                v.extend_from_slice(tail);
                *self = Str::new(&v);
            }
        }
    }

    /// Writes `bytes` at `offset`, zero-filling from the end to `offset` first when the string
    /// is shorter (SETRANGE), in place when it already reaches that far.
    pub(crate) fn write_at(&mut self, offset: usize, bytes: &[u8]) {
        let end = offset.saturating_add(bytes.len());
        if let Str::Heap(b) = self {
            if let Some(dst) = b.get_mut(offset..end) {
                dst.copy_from_slice(bytes);
                return;
            }
            let mut v = std::mem::take(b).into_vec();
            v.resize(end, 0);
            if let Some(dst) = v.get_mut(offset..end) {
                dst.copy_from_slice(bytes);
            }
            *b = v.into_boxed_slice();
            return;
        }
        let mut v = self.as_bytes().to_vec();
        if v.len() < end {
            v.resize(end, 0);
        }
        if let Some(dst) = v.get_mut(offset..end) {
            dst.copy_from_slice(bytes);
        }
        *self = Str::new(&v);
    }

    /// Heap bytes owned beyond the value itself (for MEMORY USAGE and INFO).
    pub(crate) fn heap_size(&self) -> usize {
        match self {
            Str::Inline(..) => 0,
            Str::Heap(b) => b.len(),
        }
    }
}

impl Default for Str {
    fn default() -> Self {
        Str::Inline(0, [0; INLINE])
    }
}

impl Deref for Str {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for Str {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Str {}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly as `[u8]` does, so lookups by `&[u8]` find it.
        self.as_bytes().hash(state)
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl From<&[u8]> for Str {
    fn from(b: &[u8]) -> Self {
        Str::new(b)
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Self {
        Str::new(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_is_inline_long_is_boxed_and_both_compare_as_bytes() {
        assert_eq!(std::mem::size_of::<Str>(), 24);
        let short = Str::new(b"user:1000");
        assert!(matches!(short, Str::Inline(9, _)));
        let long = Str::new(&[7u8; 23]);
        assert!(matches!(long, Str::Heap(_)));
        assert_eq!(&*short, b"user:1000");
        assert_eq!(long.len(), 23);
        assert_eq!(Str::new(b""), Str::default());
        let edge = Str::new(&[1u8; INLINE]);
        assert!(matches!(edge, Str::Inline(22, _)));
        use std::collections::HashSet;
        let set: HashSet<Str> = [short.clone()].into_iter().collect();
        assert!(set.contains(&b"user:1000"[..]));
    }
}
