//! [`ShortStr`]: AMQP's `shortstr`, at most 255 bytes behind a one-byte length.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::Utf8Error;

use bytes::Bytes;

use super::EncodeError;

/// An AMQP short string: at most [`ShortStr::MAX_LEN`] (255) bytes.
///
/// ```text
/// +--------+----------------------+
/// | len u8 | len bytes            |
/// +--------+----------------------+
/// ```
///
/// The length is checked when the value is built, so every `ShortStr` can be
/// encoded: a longer string is refused with [`EncodeError::ShortStrTooLong`]
/// before it gets near the wire. The bytes are a [`Bytes`], so a decoded
/// short string shares the frame it came from instead of being copied.
///
/// The spec calls these strings UTF-8, but peers put arbitrary bytes in some
/// of them (correlation ids, for one), so the codec does not check: use
/// [`to_str`](Self::to_str) where text is needed.
///
/// # Examples
///
/// ```
/// use spindle_protocols::amqp::ShortStr;
///
/// let queue = ShortStr::try_from("orders").unwrap();
/// assert_eq!(queue, "orders");
/// assert_eq!(queue.len(), 6);
/// assert!(ShortStr::try_from("x".repeat(256)).is_err());
/// const AMQ_DIRECT: ShortStr = ShortStr::from_static("amq.direct");
/// assert_eq!(AMQ_DIRECT.to_str(), Ok("amq.direct"));
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShortStr(Bytes);

impl ShortStr {
    /// The longest short string, in bytes.
    pub const MAX_LEN: usize = 255;

    /// The empty short string.
    pub const fn new() -> Self {
        ShortStr(Bytes::new())
    }

    /// A short string of a string literal, without copying it.
    ///
    /// # Panics
    ///
    /// If `s` is longer than 255 bytes: a programming error. In a `const`
    /// it is reported at compile time.
    pub const fn from_static(s: &'static str) -> Self {
        assert!(
            s.len() <= Self::MAX_LEN,
            "a short string holds at most 255 bytes"
        );
        ShortStr(Bytes::from_static(s.as_bytes()))
    }

    /// Wraps `bytes` if they are at most 255.
    ///
    /// # Errors
    ///
    /// [`EncodeError::ShortStrTooLong`] if `bytes` is longer than 255 bytes.
    pub fn from_bytes(bytes: Bytes) -> Result<Self, EncodeError> {
        if bytes.len() > Self::MAX_LEN {
            return Err(EncodeError::ShortStrTooLong { len: bytes.len() });
        }
        Ok(ShortStr(bytes))
    }

    /// Wraps `bytes` whose length the caller has checked (decoding reads at
    /// most 255 bytes behind a one-byte length).
    pub(crate) fn from_checked(bytes: Bytes) -> Self {
        debug_assert!(bytes.len() <= Self::MAX_LEN);
        ShortStr(bytes)
    }

    /// The bytes of the string.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The string as UTF-8 text.
    ///
    /// # Errors
    ///
    /// If the bytes are not valid UTF-8.
    pub fn to_str(&self) -> Result<&str, Utf8Error> {
        std::str::from_utf8(&self.0)
    }

    /// The underlying [`Bytes`] (a cheap clone).
    pub fn as_shared(&self) -> &Bytes {
        &self.0
    }

    /// Unwraps the underlying [`Bytes`].
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl fmt::Debug for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_str() {
            Ok(s) => fmt::Debug::fmt(s, f),
            Err(_) => fmt::Debug::fmt(&self.0, f),
        }
    }
}

impl fmt::Display for ShortStr {
    /// The text, with invalid UTF-8 replaced by U+FFFD.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&String::from_utf8_lossy(&self.0), f)
    }
}

impl Deref for ShortStr {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for ShortStr {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<[u8]> for ShortStr {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl TryFrom<Bytes> for ShortStr {
    type Error = EncodeError;

    fn try_from(bytes: Bytes) -> Result<Self, EncodeError> {
        ShortStr::from_bytes(bytes)
    }
}

impl TryFrom<&[u8]> for ShortStr {
    type Error = EncodeError;

    fn try_from(bytes: &[u8]) -> Result<Self, EncodeError> {
        if bytes.len() > Self::MAX_LEN {
            return Err(EncodeError::ShortStrTooLong { len: bytes.len() });
        }
        Ok(ShortStr(Bytes::copy_from_slice(bytes)))
    }
}

impl TryFrom<Vec<u8>> for ShortStr {
    type Error = EncodeError;

    fn try_from(bytes: Vec<u8>) -> Result<Self, EncodeError> {
        ShortStr::from_bytes(Bytes::from(bytes))
    }
}

impl TryFrom<&str> for ShortStr {
    type Error = EncodeError;

    fn try_from(s: &str) -> Result<Self, EncodeError> {
        ShortStr::try_from(s.as_bytes())
    }
}

impl TryFrom<String> for ShortStr {
    type Error = EncodeError;

    fn try_from(s: String) -> Result<Self, EncodeError> {
        ShortStr::try_from(s.into_bytes())
    }
}

impl From<ShortStr> for Bytes {
    fn from(s: ShortStr) -> Bytes {
        s.0
    }
}

impl PartialEq<str> for ShortStr {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for ShortStr {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<[u8]> for ShortStr {
    fn eq(&self, other: &[u8]) -> bool {
        self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_checked_on_every_constructor() {
        let max = "a".repeat(255);
        let over = "a".repeat(256);
        assert_eq!(ShortStr::try_from(max.as_str()).unwrap().len(), 255);
        let err = EncodeError::ShortStrTooLong { len: 256 };
        assert_eq!(ShortStr::try_from(over.as_str()), Err(err.clone()));
        assert_eq!(ShortStr::try_from(over.clone()), Err(err.clone()));
        assert_eq!(ShortStr::try_from(over.as_bytes()), Err(err.clone()));
        assert_eq!(
            ShortStr::try_from(over.clone().into_bytes()),
            Err(err.clone())
        );
        assert_eq!(ShortStr::from_bytes(Bytes::from(over)), Err(err.clone()));
        assert_eq!(err.to_string(), "short string of 256 bytes exceeds 255");
    }

    #[test]
    #[should_panic(expected = "at most 255 bytes")]
    fn from_static_refuses_long_literals() {
        let long: &'static str = Box::leak("b".repeat(300).into_boxed_str());
        let _ = ShortStr::from_static(long);
    }

    #[test]
    fn text_and_bytes_views() {
        let s = ShortStr::from_static("héllo");
        assert_eq!(s.to_str(), Ok("héllo"));
        assert_eq!(format!("{s:?}"), "\"héllo\"");
        assert_eq!(s.to_string(), "héllo");
        let bin = ShortStr::try_from(&b"\xff\x00"[..]).unwrap();
        assert!(bin.to_str().is_err());
        assert_eq!(format!("{bin:?}"), "b\"\\xff\\0\"");
        assert_eq!(bin.to_string(), "\u{fffd}\u{0}");
        assert_eq!(bin, b"\xff\x00"[..]);
        assert_eq!(Bytes::from(bin.clone()), bin.into_bytes());
        assert!(ShortStr::new().is_empty());
        assert_eq!(ShortStr::default(), "");
    }

    #[test]
    fn borrows_as_bytes_for_map_lookups() {
        let mut map = std::collections::HashMap::new();
        map.insert(ShortStr::from_static("q"), 1);
        assert_eq!(map.get(&b"q"[..]), Some(&1));
    }
}
