//! D. J. Bernstein's netstrings: Twisted's `NetstringReceiver`, sans IO.
//!
//! See [`NetstringReceiver`] for the wire format, the limit and the errors.

use bytes::{Buf, Bytes, BytesMut};

/// The longest payload [`NetstringReceiver::new`] accepts, in bytes: Twisted's
/// `NetstringReceiver.MAX_LENGTH`.
pub const DEFAULT_MAX_LENGTH: usize = 99999;

/// Why [`NetstringReceiver::next_event`] gave up on the input. Every one of
/// them means the stream's framing is lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetstringError {
    /// The declared length is over the receiver's limit. Found digit by
    /// digit, as soon as the digits so far exceed the limit, so neither the
    /// rest of the length nor the payload is waited for.
    #[error("netstring length exceeds the limit of {limit} bytes")]
    LengthTooLong {
        /// The receiver's limit, [`NetstringReceiver::max_length`].
        limit: usize,
    },
    /// A netstring starts with something other than a decimal digit.
    #[error("netstring starts with byte 0x{byte:02x} instead of a length digit")]
    NonDigitInLength {
        /// The offending byte.
        byte: u8,
    },
    /// The length has a leading zero (as in `05:hello,`); only `0:,` may start
    /// with `0`. Twisted rejects these too: they make one payload spellable
    /// in many ways.
    #[error("netstring length has a leading zero")]
    LeadingZero,
    /// The digits of the length are followed by something other than `:`.
    #[error("expected ':' after the netstring length, found byte 0x{found:02x}")]
    MissingColon {
        /// The byte found instead of `:`.
        found: u8,
    },
    /// The payload is followed by something other than `,`: the declared
    /// length does not match the data.
    #[error("expected ',' after the netstring payload, found byte 0x{found:02x}")]
    MissingComma {
        /// The byte found instead of `,`.
        found: u8,
    },
    /// A `:` with no digits before it.
    #[error("netstring length is empty")]
    EmptyLength,
}

/// Where the receiver is within the netstring at the front of its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the length: the first `digits` bytes of the buffer are digits
    /// whose value is `value`.
    Length { value: usize, digits: usize },
    /// The first `header` bytes of the buffer are `<len>:`; waiting for `len`
    /// payload bytes and the `,`.
    Payload { header: usize, len: usize },
}

const START: State = State::Length {
    value: 0,
    digits: 0,
};

/// Splits a byte stream into netstrings and yields their payloads.
///
/// The sans-IO counterpart of Twisted's
/// `twisted.protocols.basic.NetstringReceiver`: hand it received bytes with
/// [`feed`](Self::feed), then call [`next_event`](Self::next_event) until it
/// returns `None` (it needs more bytes).
///
/// ```text
/// <length>:<payload>,
///
/// length   decimal ASCII digits, no sign, no leading zero (except "0" itself),
///          the number of payload bytes; at most max_length (99999 by default)
/// payload  exactly that many arbitrary bytes
///
/// "12:hello world!,"   "0:,"   "3:abc,3:def,"  (two netstrings)
/// ```
///
/// # Example
///
/// ```
/// use spindle_protocols::netstring::NetstringReceiver;
///
/// let mut rx = NetstringReceiver::new();
/// rx.feed(b"12:hello world!,0:,5:hel");
/// assert_eq!(rx.next_event(), Some(Ok("hello world!".into())));
/// assert_eq!(rx.next_event(), Some(Ok("".into())));
/// assert_eq!(rx.next_event(), None); // the third one is incomplete
/// rx.feed(b"lo,");
/// assert_eq!(rx.next_event(), Some(Ok("hello".into())));
/// ```
///
/// # Limits and memory
///
/// A declared length over [`max_length`](Self::max_length) is an error as
/// soon as the digits read so far exceed it, before the `:` or the payload
/// arrive. The receiver never reserves room for a declared length: it only
/// buffers the bytes it has actually received, so a peer announcing
/// `99999:` and then going quiet costs six bytes.
///
/// # State after an error
///
/// After returning a [`NetstringError`] the receiver has dropped everything
/// it had buffered (the bad netstring and any bytes fed after it) and
/// expects the start of a new netstring; its limit is unchanged. The framing
/// of the stream is lost, so whatever the peer sends next is unlikely to
/// parse: drop the connection, as Twisted does.
#[derive(Debug, Clone)]
pub struct NetstringReceiver {
    /// Received bytes not yet handed out, starting with the netstring being read.
    buf: BytesMut,
    max_length: usize,
    state: State,
}

impl Default for NetstringReceiver {
    fn default() -> Self {
        Self::new()
    }
}

impl NetstringReceiver {
    /// A receiver accepting payloads of at most [`DEFAULT_MAX_LENGTH`] bytes.
    pub fn new() -> Self {
        NetstringReceiver {
            buf: BytesMut::new(),
            max_length: DEFAULT_MAX_LENGTH,
            state: START,
        }
    }

    /// Sets the longest payload accepted, in bytes.
    #[must_use]
    pub fn with_max_length(mut self, n: usize) -> Self {
        self.max_length = n;
        self
    }

    /// The longest payload accepted, in bytes.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Appends bytes received from the peer. Nothing is parsed until
    /// [`next_event`](Self::next_event) is called.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// How many received bytes are buffered, not yet handed out (including
    /// the length and `:` of a netstring whose payload is incomplete).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The payload of the next netstring, `None` if more bytes are needed
    /// first, or an error if the input is not a valid netstring (see the
    /// type's docs for the state that leaves).
    pub fn next_event(&mut self) -> Option<Result<Bytes, NetstringError>> {
        if let State::Length { value, digits } = self.state {
            match self.read_length(value, digits) {
                Ok(Some(state)) => self.state = state,
                Ok(None) => return None,
                Err(e) => return Some(Err(self.fail(e))),
            }
        }
        let State::Payload { header, len } = self.state else {
            return None;
        };
        // `len <= max_length`, but `max_length` may be huge: saturate rather
        // than wrap, a buffer can never be that long anyway.
        let comma_at = header.saturating_add(len);
        let &end = self.buf.get(comma_at)?;
        if end != b',' {
            return Some(Err(self.fail(NetstringError::MissingComma { found: end })));
        }
        self.buf.advance(header);
        let payload = self.buf.split_to(len).freeze();
        self.buf.advance(1);
        self.state = START;
        Some(Ok(payload))
    }

    /// Reads length digits from offset `digits` on. `Ok(None)` when the
    /// buffer runs out first (progress is saved in `self.state`),
    /// `Ok(Some(Payload))` once the `:` is found.
    fn read_length(
        &mut self,
        mut value: usize,
        mut digits: usize,
    ) -> Result<Option<State>, NetstringError> {
        loop {
            let Some(&byte) = self.buf.get(digits) else {
                self.state = State::Length { value, digits };
                return Ok(None);
            };
            match byte {
                b'0'..=b'9' if digits == 1 && value == 0 => {
                    return Err(NetstringError::LeadingZero)
                }
                b'0'..=b'9' => {
                    value = value
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(usize::from(byte - b'0')))
                        .filter(|&v| v <= self.max_length)
                        .ok_or(NetstringError::LengthTooLong {
                            limit: self.max_length,
                        })?;
                    digits += 1;
                }
                b':' if digits == 0 => return Err(NetstringError::EmptyLength),
                b':' => {
                    return Ok(Some(State::Payload {
                        header: digits + 1,
                        len: value,
                    }))
                }
                _ if digits == 0 => return Err(NetstringError::NonDigitInLength { byte }),
                _ => return Err(NetstringError::MissingColon { found: byte }),
            }
        }
    }

    /// Puts the receiver in its documented after-error state.
    fn fail(&mut self, error: NetstringError) -> NetstringError {
        self.buf = BytesMut::new();
        self.state = START;
        error
    }

    /// Appends `data` as one netstring to `out`. Like Twisted's `sendString`
    /// it does not check the length against any limit: the receiving side
    /// decides what it accepts.
    pub fn encode(data: &[u8], out: &mut BytesMut) {
        let length = data.len().to_string();
        out.reserve(length.len() + data.len() + 2);
        out.extend_from_slice(length.as_bytes());
        out.extend_from_slice(b":");
        out.extend_from_slice(data);
        out.extend_from_slice(b",");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_same_events, Rng};

    type Event = Result<Bytes, NetstringError>;

    fn ok(s: &str) -> Event {
        Ok(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// Feeds each chunk and drains the events after it; stops at the first
    /// error, after which the framing is lost.
    fn decode(mut rx: NetstringReceiver, chunks: &[&[u8]]) -> Vec<Event> {
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

    fn limit(n: usize) -> NetstringReceiver {
        NetstringReceiver::new().with_max_length(n)
    }

    #[test]
    fn table() {
        use NetstringError::*;
        let m = DEFAULT_MAX_LENGTH;
        let too_long = |limit| Err(LengthTooLong { limit });
        let cases: Vec<(&str, NetstringReceiver, &[u8], Vec<Event>)> = vec![
            ("empty input", limit(m), b"", vec![]),
            (
                "one",
                limit(m),
                b"12:hello world!,",
                vec![ok("hello world!")],
            ),
            ("empty payload", limit(m), b"0:,", vec![ok("")]),
            (
                "pipelined, trailing partial kept",
                limit(m),
                b"0:,5:hello,3:a,c,3:ab",
                vec![ok(""), ok("hello"), ok("a,c")],
            ),
            (
                "binary payload",
                limit(m),
                b"3:\x00:\xff,",
                vec![Ok(Bytes::from_static(b"\x00:\xff"))],
            ),
            ("payload with a comma", limit(m), b"2:,,,", vec![ok(",,")]),
            ("length pending", limit(m), b"123", vec![]),
            ("payload pending", limit(m), b"5:hell", vec![]),
            ("comma pending", limit(m), b"5:hello", vec![]),
            (
                "leading zero",
                limit(m),
                b"05:hello,",
                vec![Err(LeadingZero)],
            ),
            ("double zero", limit(m), b"00:,", vec![Err(LeadingZero)]),
            ("empty length", limit(m), b":,", vec![Err(EmptyLength)]),
            (
                "letter first",
                limit(m),
                b"x:",
                vec![Err(NonDigitInLength { byte: b'x' })],
            ),
            (
                "sign",
                limit(m),
                b"-1:a,",
                vec![Err(NonDigitInLength { byte: b'-' })],
            ),
            (
                "space first",
                limit(m),
                b" 1:a,",
                vec![Err(NonDigitInLength { byte: b' ' })],
            ),
            (
                "letter after digits",
                limit(m),
                b"12x",
                vec![Err(MissingColon { found: b'x' })],
            ),
            (
                "letter after zero",
                limit(m),
                b"0x",
                vec![Err(MissingColon { found: b'x' })],
            ),
            (
                "wrong terminator",
                limit(m),
                b"3:abc;",
                vec![Err(MissingComma { found: b';' })],
            ),
            (
                "payload too long",
                limit(m),
                b"3:abcd,",
                vec![Err(MissingComma { found: b'd' })],
            ),
            (
                "good then garbage",
                limit(m),
                b"1:a,x",
                vec![ok("a"), Err(NonDigitInLength { byte: b'x' })],
            ),
            ("at the default limit", limit(m), b"99999:", vec![]),
            (
                "over the default limit",
                limit(m),
                b"100000:",
                vec![too_long(m)],
            ),
            (
                "over the limit, digits only",
                limit(m),
                b"100000",
                vec![too_long(m)],
            ),
            ("at a small limit", limit(5), b"5:hello,", vec![ok("hello")]),
            (
                "over a small limit",
                limit(5),
                b"6:sixsix,",
                vec![too_long(5)],
            ),
            (
                "over a small limit in two digits",
                limit(5),
                b"10",
                vec![too_long(5)],
            ),
            (
                "limit zero",
                limit(0),
                b"0:,0:,1",
                vec![ok(""), ok(""), too_long(0)],
            ),
            (
                "overflowing length",
                limit(usize::MAX),
                b"99999999999999999999999999:",
                vec![too_long(usize::MAX)],
            ),
        ];
        for (name, rx, input, expected) in cases {
            assert_same_events(name, input, &expected, |chunks| decode(rx.clone(), chunks));
        }
    }

    #[test]
    fn every_strict_prefix_of_a_netstring_needs_more() {
        for frame in [&b"12:hello world!,"[..], b"0:,", b"1:,,", b"10:0123456789,"] {
            for end in 0..frame.len() {
                let mut rx = NetstringReceiver::new();
                rx.feed(&frame[..end]);
                assert_eq!(rx.next_event(), None, "{frame:?} cut at {end}");
                assert_eq!(rx.buffered(), end);
            }
        }
    }

    #[test]
    fn huge_declared_length_costs_only_what_was_received() {
        let mut rx = NetstringReceiver::new();
        rx.feed(b"99999:");
        assert_eq!(rx.next_event(), None);
        assert_eq!(rx.buffered(), 6);
        // Nothing is reserved for the 99999 announced bytes.
        assert!(rx.buf.capacity() < 1024, "capacity {}", rx.buf.capacity());
        let mut fed = 6;
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
    fn limit_detected_digit_by_digit() {
        let mut rx = NetstringReceiver::new();
        for (i, digit) in b"10000".iter().enumerate() {
            rx.feed(&[*digit]);
            assert_eq!(rx.next_event(), None);
            assert_eq!(rx.buffered(), i + 1);
        }
        rx.feed(b"0");
        assert_eq!(
            rx.next_event(),
            Some(Err(NetstringError::LengthTooLong { limit: 99999 }))
        );
    }

    #[test]
    fn state_after_an_error() {
        let mut rx = NetstringReceiver::new();
        rx.feed(b"3:abcX1:a,");
        assert_eq!(
            rx.next_event(),
            Some(Err(NetstringError::MissingComma { found: b'X' }))
        );
        // Everything buffered is gone; the receiver expects a new netstring.
        assert_eq!(rx.buffered(), 0);
        assert_eq!(rx.next_event(), None);
        rx.feed(b"2:ok,");
        assert_eq!(rx.next_event(), Some(ok("ok")));
    }

    #[test]
    fn error_messages() {
        use NetstringError::*;
        for (error, message) in [
            (
                LengthTooLong { limit: 9 },
                "netstring length exceeds the limit of 9 bytes",
            ),
            (
                NonDigitInLength { byte: b'x' },
                "netstring starts with byte 0x78 instead of a length digit",
            ),
            (LeadingZero, "netstring length has a leading zero"),
            (
                MissingColon { found: b';' },
                "expected ':' after the netstring length, found byte 0x3b",
            ),
            (
                MissingComma { found: 0 },
                "expected ',' after the netstring payload, found byte 0x00",
            ),
            (EmptyLength, "netstring length is empty"),
        ] {
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn encode_then_decode() {
        let payloads: [&[u8]; 4] = [b"", b"hello world!", b"1:a,", &[0xff; 300]];
        let mut out = BytesMut::new();
        for p in payloads {
            NetstringReceiver::encode(p, &mut out);
        }
        assert!(out.starts_with(b"0:,12:hello world!,4:1:a,,300:"));
        let expected: Vec<Event> = payloads
            .iter()
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect();
        assert_eq!(decode(NetstringReceiver::new(), &[&out]), expected);
    }

    #[test]
    fn random_payloads_survive_random_cuts() {
        let mut rng = Rng::new(3);
        for _ in 0..500 {
            let max = rng.below(150);
            let mut wire = BytesMut::new();
            let mut expected = Vec::new();
            for _ in 0..rng.below(10) {
                let len = rng.below(max + 1);
                let payload = rng.bytes(len);
                NetstringReceiver::encode(&payload, &mut wire);
                expected.push(Ok(Bytes::from(payload)));
            }
            let max_chunk = 1 + rng.below(40);
            let chunks = rng.split(&wire, max_chunk);
            assert_eq!(decode(limit(max), &chunks), expected);
        }
    }

    #[test]
    fn random_garbage_never_panics() {
        let mut rng = Rng::new(4);
        for _ in 0..1000 {
            let mut rx = limit(rng.below(200));
            let len = rng.below(300);
            let garbage = if rng.below(2) == 0 {
                rng.bytes(len)
            } else {
                // Mostly plausible bytes, to get deeper into the parser.
                rng.bytes_from(b"0123456789:,a", len)
            };
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
