//! Length-prefixed strings: Twisted's `Int8StringReceiver`,
//! `Int16StringReceiver` and `Int32StringReceiver`, sans IO.
//!
//! See [`IntPrefixedReceiver`] for the wire format, the limit and the errors.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The longest payload [`IntPrefixedReceiver::new`] accepts, in bytes:
/// Twisted's `IntNStringReceiver.MAX_LENGTH`.
pub const DEFAULT_MAX_LENGTH: usize = 99999;

/// The width of the length prefix. Prefixes are unsigned and big-endian
/// (network byte order), as Twisted's default `structFormat`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prefix {
    /// One byte: payloads of up to 255 bytes (Twisted's `Int8StringReceiver`).
    U8,
    /// Two bytes: payloads of up to 65 535 bytes (`Int16StringReceiver`).
    U16,
    /// Four bytes: payloads of up to 4 294 967 295 bytes (`Int32StringReceiver`).
    U32,
}

impl Prefix {
    /// How many bytes the prefix takes on the wire.
    pub const fn width(self) -> usize {
        match self {
            Prefix::U8 => 1,
            Prefix::U16 => 2,
            Prefix::U32 => 4,
        }
    }

    /// The longest payload the prefix can describe.
    pub const fn max_payload(self) -> u64 {
        match self {
            Prefix::U8 => u8::MAX as u64,
            Prefix::U16 => u16::MAX as u64,
            Prefix::U32 => u32::MAX as u64,
        }
    }

    /// The prefix's width in bits, for messages.
    const fn bits(self) -> u32 {
        match self {
            Prefix::U8 => 8,
            Prefix::U16 => 16,
            Prefix::U32 => 32,
        }
    }
}

/// Why [`IntPrefixedReceiver::next_event`] or [`IntPrefixedReceiver::encode`]
/// refused a payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntPrefixedError {
    /// A payload is longer than the receiver's limit: when decoding, the
    /// declared length (Twisted's `lengthLimitExceeded`); when encoding, the
    /// length of the data.
    #[error("length {length} exceeds the limit of {limit} bytes")]
    LengthLimitExceeded {
        /// The declared (decoding) or actual (encoding) payload length.
        length: u64,
        /// The receiver's limit, [`IntPrefixedReceiver::max_length`].
        limit: usize,
    },
    /// Encoding only: the payload's length cannot be written in the prefix
    /// (Twisted's `StringTooLongError`).
    #[error("payload of {length} bytes does not fit a {bits}-bit length prefix")]
    PayloadTooLarge {
        /// The payload's length.
        length: usize,
        /// The prefix's width in bits.
        bits: u32,
    },
}

/// Splits a byte stream into length-prefixed payloads.
///
/// The sans-IO counterpart of Twisted's `Int8StringReceiver`,
/// `Int16StringReceiver` and `Int32StringReceiver` (one type; the [`Prefix`]
/// picks the width): hand it received bytes with [`feed`](Self::feed), then
/// call [`next_event`](Self::next_event) until it returns `None` (it needs
/// more bytes).
///
/// ```text
/// +--------------------+------------------+
/// | length (1, 2 or 4  | payload          |
/// | bytes, big-endian) | (length bytes)   |
/// +--------------------+------------------+
///
/// U16: 00 05 68 65 6c 6c 6f   = "hello"
/// ```
///
/// # Example
///
/// ```
/// use spindle_protocols::int_prefixed::{IntPrefixedReceiver, Prefix};
///
/// let mut rx = IntPrefixedReceiver::new(Prefix::U16);
/// rx.feed(b"\x00\x05hello\x00\x00\x00\x03ab");
/// assert_eq!(rx.next_event(), Some(Ok("hello".into())));
/// assert_eq!(rx.next_event(), Some(Ok("".into())));
/// assert_eq!(rx.next_event(), None); // "ab" of 3 bytes so far
/// rx.feed(b"c");
/// assert_eq!(rx.next_event(), Some(Ok("abc".into())));
/// ```
///
/// # Limits and memory
///
/// A declared length over [`max_length`](Self::max_length) is an error as
/// soon as the prefix is complete, before any of the payload arrives. The
/// receiver never reserves room for a declared length: it only buffers the
/// bytes it has actually received.
///
/// # State after an error
///
/// After returning [`IntPrefixedError::LengthLimitExceeded`] the receiver has
/// dropped everything it had buffered (the prefix and any bytes fed after
/// it) and expects a new prefix; prefix and limit are unchanged. The
/// payload of the refused string, if the peer sends it, would then be read
/// as prefixes: drop the connection, as Twisted's default
/// `lengthLimitExceeded` does.
#[derive(Debug, Clone)]
pub struct IntPrefixedReceiver {
    /// Received bytes not yet handed out, starting with a prefix.
    buf: BytesMut,
    prefix: Prefix,
    max_length: usize,
}

impl IntPrefixedReceiver {
    /// A receiver for `prefix`-prefixed payloads of at most
    /// [`DEFAULT_MAX_LENGTH`] bytes.
    pub fn new(prefix: Prefix) -> Self {
        IntPrefixedReceiver {
            buf: BytesMut::new(),
            prefix,
            max_length: DEFAULT_MAX_LENGTH,
        }
    }

    /// Sets the longest payload accepted (and encoded), in bytes.
    #[must_use]
    pub fn with_max_length(mut self, n: usize) -> Self {
        self.max_length = n;
        self
    }

    /// The width of the length prefix.
    pub fn prefix(&self) -> Prefix {
        self.prefix
    }

    /// The longest payload accepted (and encoded), in bytes.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Appends bytes received from the peer. Nothing is parsed until
    /// [`next_event`](Self::next_event) is called.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// How many received bytes are buffered, not yet handed out (including
    /// the prefix of a payload that is incomplete).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next payload, `None` if more bytes are needed first, or an error
    /// if the declared length is over the limit (see the type's docs for the
    /// state that leaves).
    pub fn next_event(&mut self) -> Option<Result<Bytes, IntPrefixedError>> {
        let width = self.prefix.width();
        let declared = self
            .buf
            .get(..width)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let len = match usize::try_from(declared) {
            Ok(len) if len <= self.max_length => len,
            _ => {
                self.buf = BytesMut::new();
                return Some(Err(IntPrefixedError::LengthLimitExceeded {
                    length: declared,
                    limit: self.max_length,
                }));
            }
        };
        if self.buf.len() - width < len {
            return None;
        }
        self.buf.advance(width);
        Some(Ok(self.buf.split_to(len).freeze()))
    }

    /// Appends `data` to `out` with its length prefix, or refuses it, leaving
    /// `out` untouched, if it does not fit the prefix or is over this
    /// receiver's [`max_length`](Self::max_length) — a peer configured like
    /// this receiver would reject it. A method rather than a free function
    /// because both checks depend on the receiver's configuration.
    pub fn encode(&self, data: &[u8], out: &mut BytesMut) -> Result<(), IntPrefixedError> {
        let length = data.len();
        // `usize` to `u64` only fails on platforms wider than 64 bits.
        let declared = u64::try_from(length).unwrap_or(u64::MAX);
        if declared > self.prefix.max_payload() {
            return Err(IntPrefixedError::PayloadTooLarge {
                length,
                bits: self.prefix.bits(),
            });
        }
        if length > self.max_length {
            return Err(IntPrefixedError::LengthLimitExceeded {
                length: declared,
                limit: self.max_length,
            });
        }
        let width = self.prefix.width();
        out.reserve(width + length);
        out.put_uint(declared, width); // big-endian
        out.extend_from_slice(data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_same_events, Rng};

    type Event = Result<Bytes, IntPrefixedError>;

    fn ok(s: &[u8]) -> Event {
        Ok(Bytes::copy_from_slice(s))
    }

    fn over(length: u64, limit: usize) -> Event {
        Err(IntPrefixedError::LengthLimitExceeded { length, limit })
    }

    /// Feeds each chunk and drains the events after it; stops at the first
    /// error, after which the framing is lost.
    fn decode(mut rx: IntPrefixedReceiver, chunks: &[&[u8]]) -> Vec<Event> {
        let mut events = Vec::new();
        for chunk in chunks {
            rx.feed(chunk);
            while let Some(event) = rx.next_event() {
                let failed = event.is_err();
                events.push(event);
                if failed {
                    return events;
                }
            }
        }
        events
    }

    fn rx(prefix: Prefix, max: usize) -> IntPrefixedReceiver {
        IntPrefixedReceiver::new(prefix).with_max_length(max)
    }

    #[test]
    fn table() {
        use Prefix::*;
        let m = DEFAULT_MAX_LENGTH;
        let cases: Vec<(&str, IntPrefixedReceiver, &[u8], Vec<Event>)> = vec![
            ("empty input", rx(U16, m), b"", vec![]),
            ("u8", rx(U8, m), b"\x03abc", vec![ok(b"abc")]),
            ("u16", rx(U16, m), b"\x00\x05hello", vec![ok(b"hello")]),
            ("u32", rx(U32, m), b"\x00\x00\x00\x02hi", vec![ok(b"hi")]),
            ("empty payload", rx(U16, m), b"\x00\x00", vec![ok(b"")]),
            (
                "pipelined, trailing partial kept",
                rx(U8, m),
                b"\x01a\x00\x02bc\x05abc",
                vec![ok(b"a"), ok(b""), ok(b"bc")],
            ),
            ("big-endian", rx(U16, m), b"\x01\x00", vec![]),
            ("half a prefix", rx(U32, m), b"\x00\x00\x00", vec![]),
            ("payload pending", rx(U16, m), b"\x00\x05hell", vec![]),
            (
                "binary payload",
                rx(U8, m),
                b"\x02\x00\xff",
                vec![ok(b"\x00\xff")],
            ),
            ("at the limit", rx(U8, 3), b"\x03abc", vec![ok(b"abc")]),
            ("over the limit", rx(U8, 3), b"\x04abcd", vec![over(4, 3)]),
            (
                "over the limit, no payload",
                rx(U16, 3),
                b"\x00\x04",
                vec![over(4, 3)],
            ),
            (
                "good then over the limit",
                rx(U16, 3),
                b"\x00\x01a\xff\xffxyz",
                vec![ok(b"a"), over(65535, 3)],
            ),
            (
                "u32 beyond the default limit",
                rx(U32, m),
                b"\xff\xff\xff\xff",
                vec![over(4_294_967_295, m)],
            ),
            (
                "limit zero",
                rx(U8, 0),
                b"\x00\x00\x01",
                vec![ok(b""), ok(b""), over(1, 0)],
            ),
        ];
        for (name, rx, input, expected) in cases {
            assert_same_events(name, input, &expected, |chunks| decode(rx.clone(), chunks));
        }
    }

    #[test]
    fn every_strict_prefix_of_a_string_needs_more() {
        for (prefix, frame) in [
            (Prefix::U8, &b"\x05hello"[..]),
            (Prefix::U16, b"\x00\x05hello"),
            (Prefix::U32, b"\x00\x00\x00\x05hello"),
            (Prefix::U32, b"\x00\x00\x00\x00"),
        ] {
            for end in 0..frame.len() {
                let mut rx = IntPrefixedReceiver::new(prefix);
                rx.feed(&frame[..end]);
                assert_eq!(rx.next_event(), None, "{frame:?} cut at {end}");
                assert_eq!(rx.buffered(), end);
            }
        }
    }

    #[test]
    fn huge_declared_length_costs_only_what_was_received() {
        let mut rx = IntPrefixedReceiver::new(Prefix::U32).with_max_length(u32::MAX as usize);
        rx.feed(b"\xff\xff\xff\xff");
        assert_eq!(rx.next_event(), None);
        assert_eq!(rx.buffered(), 4);
        // Nothing is reserved for the 4 GiB announced.
        assert!(rx.buf.capacity() < 1024, "capacity {}", rx.buf.capacity());
        let mut fed = 4;
        for _ in 0..100 {
            rx.feed(b"0123456789");
            fed += 10;
            assert_eq!(rx.next_event(), None);
            assert_eq!(rx.buffered(), fed);
        }
        assert!(
            rx.buf.capacity() < 8 * 1024,
            "capacity {}",
            rx.buf.capacity()
        );
    }

    #[test]
    fn limit_detected_when_the_prefix_completes() {
        let mut rx = IntPrefixedReceiver::new(Prefix::U32);
        for byte in [0u8, 1, 0x86] {
            rx.feed(&[byte]);
            assert_eq!(rx.next_event(), None);
        }
        rx.feed(&[0xa0]); // 0x000186a0 = 100000
        assert_eq!(rx.next_event(), Some(over(100_000, 99_999)));
        // Documented state: empty, expecting a new prefix.
        assert_eq!(rx.buffered(), 0);
        rx.feed(b"\x00\x00\x00\x02ok");
        assert_eq!(rx.next_event(), Some(ok(b"ok")));
    }

    #[test]
    fn encode_checks_width_and_limit() {
        let mut out = BytesMut::new();
        let u8rx = rx(Prefix::U8, DEFAULT_MAX_LENGTH);
        assert_eq!(u8rx.encode(&[7; 255], &mut out), Ok(()));
        assert_eq!(out.len(), 256);
        assert_eq!(out[0], 255);
        out.clear();
        assert_eq!(
            u8rx.encode(&[7; 256], &mut out),
            Err(IntPrefixedError::PayloadTooLarge {
                length: 256,
                bits: 8
            })
        );
        assert_eq!(
            rx(Prefix::U16, usize::MAX).encode(&vec![0; 65536], &mut out),
            Err(IntPrefixedError::PayloadTooLarge {
                length: 65536,
                bits: 16
            })
        );
        assert_eq!(
            rx(Prefix::U32, 3).encode(b"abcd", &mut out),
            Err(IntPrefixedError::LengthLimitExceeded {
                length: 4,
                limit: 3
            })
        );
        assert!(out.is_empty(), "refused payloads write nothing");
        assert_eq!(rx(Prefix::U32, 3).encode(b"abc", &mut out), Ok(()));
        assert_eq!(&out[..], b"\x00\x00\x00\x03abc");
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            IntPrefixedError::LengthLimitExceeded {
                length: 100000,
                limit: 99999
            }
            .to_string(),
            "length 100000 exceeds the limit of 99999 bytes"
        );
        assert_eq!(
            IntPrefixedError::PayloadTooLarge {
                length: 256,
                bits: 8
            }
            .to_string(),
            "payload of 256 bytes does not fit a 8-bit length prefix"
        );
    }

    #[test]
    fn prefix_properties() {
        assert_eq!(
            [Prefix::U8, Prefix::U16, Prefix::U32].map(Prefix::width),
            [1, 2, 4]
        );
        assert_eq!(Prefix::U16.max_payload(), 65535);
        let rx = IntPrefixedReceiver::new(Prefix::U8);
        assert_eq!((rx.prefix(), rx.max_length()), (Prefix::U8, 99999));
    }

    #[test]
    fn random_payloads_survive_random_cuts() {
        let mut rng = Rng::new(5);
        for prefix in [Prefix::U8, Prefix::U16, Prefix::U32] {
            for _ in 0..300 {
                let max = rng.below(300);
                let codec = rx(prefix, max);
                let mut wire = BytesMut::new();
                let mut expected = Vec::new();
                for _ in 0..rng.below(10) {
                    let len = rng.below(max.min(255) + 1);
                    let payload = rng.bytes(len);
                    assert_eq!(codec.encode(&payload, &mut wire), Ok(()));
                    expected.push(Ok(Bytes::from(payload)));
                }
                let max_chunk = 1 + rng.below(40);
                let chunks = rng.split(&wire, max_chunk);
                assert_eq!(decode(codec.clone(), &chunks), expected);
            }
        }
    }

    #[test]
    fn random_garbage_never_panics() {
        let mut rng = Rng::new(6);
        for _ in 0..1000 {
            let prefix = [Prefix::U8, Prefix::U16, Prefix::U32][rng.below(3)];
            let mut rx = rx(prefix, rng.below(300));
            let len = rng.below(400);
            let garbage = rng.bytes(len);
            for chunk in rng.split(&garbage, 20) {
                rx.feed(chunk);
                while let Some(event) = rx.next_event() {
                    if let Ok(payload) = event {
                        assert!(payload.len() <= rx.max_length());
                    }
                }
            }
        }
    }
}
