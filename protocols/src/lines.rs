//! Delimited lines with an optional raw mode: Twisted's `LineReceiver`, sans IO.
//!
//! See [`LineReceiver`] for the wire format, the limits and the mode switching.

use bytes::{Buf, Bytes, BytesMut};

/// The delimiter [`LineReceiver::new`] uses: CRLF, as in Twisted and most
/// text protocols of the Internet (SMTP, HTTP headers, POP3, ...).
pub const DEFAULT_DELIMITER: &[u8] = b"\r\n";

/// The line length limit [`LineReceiver::new`] uses, in bytes, not counting
/// the delimiter: Twisted's `LineReceiver.MAX_LENGTH`.
pub const DEFAULT_MAX_LENGTH: usize = 16384;

/// What [`LineReceiver::next_event`] hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// One complete line, without its delimiter (line mode).
    Line(Bytes),
    /// Every byte that was buffered, as one chunk (raw mode). Never empty.
    Raw(Bytes),
}

/// Why [`LineReceiver::next_event`] gave up on the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// A line is longer than the receiver's limit (Twisted's `lineLengthExceeded`).
    ///
    /// The receiver stops reading the line as soon as it is certain to be too
    /// long — often before its delimiter arrives, if it ever does — so `length`
    /// is how much of the line was known at that moment: `limit + 1`. It is a
    /// lower bound, not the final length, and it does not depend on how the
    /// input was cut into chunks.
    #[error("line length {length} exceeds the limit of {limit} bytes")]
    LineLengthExceeded {
        /// Bytes of the line known when the limit was detected (a lower bound).
        length: usize,
        /// The receiver's limit, [`LineReceiver::max_length`].
        limit: usize,
    },
}

/// Splits a byte stream into delimited lines, or passes it through raw.
///
/// The sans-IO counterpart of Twisted's `twisted.protocols.basic.LineReceiver`:
/// hand it the bytes you received with [`feed`](Self::feed), then call
/// [`next_event`](Self::next_event) until it returns `None` (it needs more
/// bytes). It never reads or writes a socket itself.
///
/// ```text
/// line mode:  <line bytes> DELIM <line bytes> DELIM ...    DELIM defaults to CR LF
/// raw mode:   <any bytes, passed through as they come>
/// ```
///
/// # Example
///
/// ```
/// use spindle_protocols::lines::{LineEvent, LineReceiver};
///
/// let mut rx = LineReceiver::new();
/// rx.feed(b"HELO example.org\r\nMAIL FR");
/// assert_eq!(rx.next_event(), Some(Ok(LineEvent::Line("HELO example.org".into()))));
/// assert_eq!(rx.next_event(), None); // "MAIL FR" waits for its delimiter
/// rx.feed(b"OM:<a@example.org>\r\n");
/// assert_eq!(rx.next_event(), Some(Ok(LineEvent::Line("MAIL FROM:<a@example.org>".into()))));
/// ```
///
/// # Modes
///
/// In line mode (the initial mode) each event is a [`LineEvent::Line`]. In
/// raw mode each event is a [`LineEvent::Raw`] carrying everything buffered.
/// The mode is only looked at when [`next_event`](Self::next_event) runs, so a
/// caller that receives a line may switch with [`set_raw_mode`](Self::set_raw_mode)
/// and the bytes that arrived after that line come out raw on the next call;
/// [`set_line_mode`](Self::set_line_mode) does the reverse. This is how an
/// HTTP-like protocol reads header lines and then a body:
///
/// ```
/// use spindle_protocols::lines::{LineEvent, LineReceiver};
///
/// let mut rx = LineReceiver::new();
/// rx.feed(b"BODY 5\r\nhelloQUIT\r\n");
/// assert_eq!(rx.next_event(), Some(Ok(LineEvent::Line("BODY 5".into()))));
/// rx.set_raw_mode();
/// let Some(Ok(LineEvent::Raw(raw))) = rx.next_event() else { unreachable!() };
/// assert_eq!(raw, "helloQUIT\r\n"); // everything buffered, even past the body
/// // Keep the 5 body bytes and give the rest back, as Twisted's `setLineMode(extra)`:
/// rx.set_line_mode();
/// rx.feed(&raw[5..]);
/// assert_eq!(rx.next_event(), Some(Ok(LineEvent::Line("QUIT".into()))));
/// ```
///
/// A [`LineEvent::Raw`] always empties the buffer, so right after one,
/// `set_line_mode()` then `feed(rest)` puts unconsumed bytes back in front of
/// anything received later.
///
/// # Limits
///
/// A line longer than [`max_length`](Self::max_length) bytes (delimiter not
/// counted; [`DEFAULT_MAX_LENGTH`] unless set) is an error. It is detected as
/// soon as it is certain, that is when `max_length + delimiter length` bytes
/// are buffered without a delimiter among them, so the receiver holds at most
/// `max_length + delimiter length - 1` bytes of an unfinished line between
/// calls to `next_event` (whatever a single `feed` brings is of course
/// buffered until the next call). The limit does not apply in raw mode.
///
/// # State after an error
///
/// After returning [`LineError::LineLengthExceeded`] the receiver has dropped
/// everything it had buffered — the start of the long line and any bytes fed
/// after it — and is otherwise unchanged: still in line mode, same delimiter
/// and limit. If you keep feeding it, the rest of the long line will be read
/// as the start of a new line; Twisted's default `lineLengthExceeded` drops the
/// connection instead, which is usually what you want.
///
/// # Cost
///
/// The receiver remembers how far it has searched for the delimiter, so
/// feeding a line one byte at a time costs linear, not quadratic, time, and it
/// never searches past the limit. Lines are split off the receive buffer
/// ([`BytesMut::split_to`]) and frozen, so they are not copied.
#[derive(Debug, Clone)]
pub struct LineReceiver {
    /// Received bytes not yet handed out.
    buf: BytesMut,
    /// Never empty.
    delimiter: Box<[u8]>,
    max_length: usize,
    raw: bool,
    /// No delimiter starts before this offset of `buf`. Only meaningful while
    /// the front of `buf` is unchanged; reset to 0 whenever bytes are taken
    /// from the front.
    searched: usize,
}

impl Default for LineReceiver {
    fn default() -> Self {
        Self::new()
    }
}

impl LineReceiver {
    /// A receiver for CRLF-delimited lines of at most [`DEFAULT_MAX_LENGTH`]
    /// bytes, in line mode.
    pub fn new() -> Self {
        Self::with_delimiter(DEFAULT_DELIMITER)
    }

    /// A receiver for lines ending in `delim` (for example `b"\n"`), of at most
    /// [`DEFAULT_MAX_LENGTH`] bytes, in line mode.
    ///
    /// # Panics
    ///
    /// If `delim` is empty: lines must end in something. This is a programming
    /// error, never caused by received data.
    pub fn with_delimiter(delim: impl Into<Vec<u8>>) -> Self {
        let delimiter = delim.into().into_boxed_slice();
        assert!(
            !delimiter.is_empty(),
            "the line delimiter must not be empty"
        );
        LineReceiver {
            buf: BytesMut::new(),
            delimiter,
            max_length: DEFAULT_MAX_LENGTH,
            raw: false,
            searched: 0,
        }
    }

    /// Sets the longest line accepted, in bytes, not counting the delimiter.
    #[must_use]
    pub fn with_max_length(mut self, n: usize) -> Self {
        self.max_length = n;
        self
    }

    /// The delimiter that ends each line.
    pub fn delimiter(&self) -> &[u8] {
        &self.delimiter
    }

    /// The longest line accepted, in bytes, not counting the delimiter.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Appends bytes received from the peer. Nothing is parsed until
    /// [`next_event`](Self::next_event) is called.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next line (line mode) or chunk of raw bytes (raw mode), `None` if
    /// more bytes are needed first, or an error if a line is too long (see
    /// the type's docs for the state that leaves).
    pub fn next_event(&mut self) -> Option<Result<LineEvent, LineError>> {
        if self.raw {
            if self.buf.is_empty() {
                return None;
            }
            self.searched = 0;
            return Some(Ok(LineEvent::Raw(self.buf.split().freeze())));
        }

        let dlen = self.delimiter.len();
        // A line of the longest allowed length and its delimiter fit in this
        // many bytes; a delimiter that is not entirely within them starts
        // past the limit, so there is no point looking further.
        let limit_end = self.max_length.saturating_add(dlen);
        let window_end = limit_end.min(self.buf.len());
        let found = self
            .buf
            .get(self.searched..window_end)
            .and_then(|window| find(window, &self.delimiter));
        if let Some(at) = found {
            let line = self.buf.split_to(self.searched + at).freeze();
            self.buf.advance(dlen);
            self.searched = 0;
            return Some(Ok(LineEvent::Line(line)));
        }
        if self.buf.len() >= limit_end {
            // No delimiter starts at or before `max_length`: the line has at
            // least `max_length + 1` bytes, whatever comes next.
            self.buf = BytesMut::new();
            self.searched = 0;
            return Some(Err(LineError::LineLengthExceeded {
                length: self.max_length.saturating_add(1),
                limit: self.max_length,
            }));
        }
        // The last `dlen - 1` bytes may be the start of a delimiter that the
        // next bytes complete; everything before them has been ruled out.
        self.searched = self.buf.len().saturating_sub(dlen - 1);
        None
    }

    /// Switches to raw mode: from the next call of
    /// [`next_event`](Self::next_event), buffered bytes come out as
    /// [`LineEvent::Raw`], including those already buffered. Twisted's `setRawMode`.
    pub fn set_raw_mode(&mut self) {
        self.raw = true;
    }

    /// Switches to line mode: from the next call of
    /// [`next_event`](Self::next_event), buffered bytes are split into lines,
    /// including those already buffered. To hand back bytes of a
    /// [`LineEvent::Raw`] that you did not consume (Twisted's
    /// `setLineMode(extra)`), call this and then [`feed`](Self::feed) them
    /// before feeding anything newer.
    pub fn set_line_mode(&mut self) {
        self.raw = false;
    }

    /// Whether the receiver is in raw mode.
    pub fn is_raw(&self) -> bool {
        self.raw
    }

    /// How many received bytes are buffered, not yet handed out.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes every buffered byte out of the receiver, leaving it empty (mode,
    /// delimiter and limit unchanged). Twisted's `clearLineBuffer`; useful
    /// when handing the connection over to another protocol.
    pub fn clear_buffer(&mut self) -> Bytes {
        self.searched = 0;
        self.buf.split().freeze()
    }

    /// Appends `line` and then `delimiter` to `out`: the bytes that send one
    /// line. Like Twisted's `sendLine` it checks neither that `line` is free
    /// of the delimiter nor its length; a line containing the delimiter will
    /// be read back as several lines.
    pub fn encode_line(line: &[u8], delimiter: &[u8], out: &mut BytesMut) {
        out.reserve(line.len() + delimiter.len());
        out.extend_from_slice(line);
        out.extend_from_slice(delimiter);
    }
}

/// The offset of the first occurrence of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut start = 0;
    while let Some(tail) = haystack.get(start..) {
        let at = start + tail.iter().position(|&b| b == first)?;
        if haystack
            .get(at + 1..)
            .is_some_and(|after| after.starts_with(rest))
        {
            return Some(at);
        }
        start = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_same_events, Rng};

    type Event = Result<LineEvent, LineError>;

    fn line(s: &str) -> Event {
        Ok(LineEvent::Line(Bytes::copy_from_slice(s.as_bytes())))
    }

    fn too_long(limit: usize) -> Event {
        Err(LineError::LineLengthExceeded {
            length: limit + 1,
            limit,
        })
    }

    /// Feeds each chunk and drains the events after it; stops at the first
    /// error, after which the framing is lost.
    fn decode(mut rx: LineReceiver, chunks: &[&[u8]]) -> Vec<Event> {
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

    fn crlf(max: usize) -> LineReceiver {
        LineReceiver::new().with_max_length(max)
    }

    fn delim(d: &str, max: usize) -> LineReceiver {
        LineReceiver::with_delimiter(d).with_max_length(max)
    }

    #[test]
    fn table() {
        let m = DEFAULT_MAX_LENGTH;
        let cases: Vec<(&str, LineReceiver, &str, Vec<Event>)> = vec![
            ("empty input", crlf(m), "", vec![]),
            ("one line", crlf(m), "hello\r\n", vec![line("hello")]),
            ("partial line kept", crlf(m), "hello", vec![]),
            ("half a delimiter", crlf(m), "hello\r", vec![]),
            (
                "pipelined, trailing partial kept",
                crlf(m),
                "a\r\nbb\r\n\r\nccc",
                vec![line("a"), line("bb"), line("")],
            ),
            ("lone CR is data", crlf(m), "a\rb\r\n", vec![line("a\rb")]),
            ("lone LF is data", crlf(m), "a\nb\r\n", vec![line("a\nb")]),
            ("CR before CRLF", crlf(m), "a\r\r\n", vec![line("a\r")]),
            (
                "LF after CRLF",
                crlf(m),
                "a\r\n\nb\r\n",
                vec![line("a"), line("\nb")],
            ),
            ("empty lines", crlf(m), "\r\n\r\n", vec![line(""), line("")]),
            (
                "LF delimiter",
                delim("\n", m),
                "a\nb\r\n",
                vec![line("a"), line("b\r")],
            ),
            (
                "3-byte delimiter with near misses",
                delim("XYZ", m),
                "aXYbXYZcXXYZXY",
                vec![line("aXYb"), line("cX")],
            ),
            (
                "self-overlapping delimiter",
                delim("abab", m),
                "xabaabababyabab",
                vec![line("xaba"), line("aby")],
            ),
            ("at the limit", crlf(5), "12345\r\n", vec![line("12345")]),
            ("at the limit, unfinished", crlf(5), "12345\r", vec![]),
            ("over the limit", crlf(5), "123456\r\n", vec![too_long(5)]),
            (
                "over the limit, no delimiter",
                crlf(5),
                "1234567",
                vec![too_long(5)],
            ),
            (
                "CR then data past the limit",
                crlf(5),
                "12345\rX",
                vec![too_long(5)],
            ),
            (
                "good lines then too long",
                crlf(5),
                "abc\r\n12345\r\n123456789\r\nabc\r\n",
                vec![line("abc"), line("12345"), too_long(5)],
            ),
            (
                "limit zero",
                crlf(0),
                "\r\n\r\nxy",
                vec![line(""), line(""), too_long(0)],
            ),
            ("limit zero, pending", crlf(0), "\r\n\r", vec![line("")]),
            (
                "limit with 3-byte delimiter",
                delim("XYZ", 3),
                "abcXYZabcXYabcd",
                vec![line("abc"), too_long(3)],
            ),
        ];
        for (name, rx, input, expected) in cases {
            assert_same_events(name, input.as_bytes(), &expected, |chunks| {
                decode(rx.clone(), chunks)
            });
        }
    }

    #[test]
    fn every_strict_prefix_of_a_line_needs_more() {
        for (rx, frame) in [
            (crlf(DEFAULT_MAX_LENGTH), "hello\r\n"),
            (crlf(5), "12345\r\n"),
            (delim("abab", 10), "xabaabab"),
            (crlf(0), "\r\n"),
        ] {
            for end in 0..frame.len() {
                let mut rx = rx.clone();
                rx.feed(&frame.as_bytes()[..end]);
                assert_eq!(rx.next_event(), None, "{frame:?} cut at {end}");
                assert_eq!(rx.buffered(), end);
            }
        }
    }

    #[test]
    fn lines_share_the_receive_buffer() {
        let mut rx = LineReceiver::new();
        rx.feed(b"first\r\nsecond\r\n");
        let Some(Ok(LineEvent::Line(a))) = rx.next_event() else {
            unreachable!("expected a line")
        };
        let Some(Ok(LineEvent::Line(b))) = rx.next_event() else {
            unreachable!("expected a line")
        };
        assert_eq!((&a[..], &b[..]), (&b"first"[..], &b"second"[..]));
        // Split off one allocation rather than copied out of it.
        assert_eq!(b.as_ptr() as usize, a.as_ptr() as usize + a.len() + 2);
    }

    #[test]
    fn line_then_raw_with_bytes_already_buffered() {
        let mut rx = LineReceiver::new();
        rx.feed(b"HEADER\r\nbody bytes\r\nnot a line");
        assert_eq!(rx.next_event(), Some(line("HEADER")));
        rx.set_raw_mode();
        assert!(rx.is_raw());
        assert_eq!(
            rx.next_event(),
            Some(Ok(LineEvent::Raw("body bytes\r\nnot a line".into())))
        );
        assert_eq!(rx.next_event(), None);
        assert_eq!(rx.buffered(), 0);
        rx.feed(b"more");
        assert_eq!(rx.next_event(), Some(Ok(LineEvent::Raw("more".into()))));
        assert_eq!(rx.next_event(), None);
    }

    #[test]
    fn raw_then_line_with_bytes_already_buffered() {
        let mut rx = LineReceiver::new();
        rx.set_raw_mode();
        rx.feed(b"one\r\ntwo\r\nthr");
        rx.set_line_mode();
        assert!(!rx.is_raw());
        assert_eq!(rx.next_event(), Some(line("one")));
        assert_eq!(rx.next_event(), Some(line("two")));
        assert_eq!(rx.next_event(), None);
        rx.feed(b"ee\r\n");
        assert_eq!(rx.next_event(), Some(line("three")));
    }

    #[test]
    fn line_raw_line_round_trip_with_partial_search() {
        let mut rx = LineReceiver::new();
        // Line mode searches "ab\r" and remembers where it stopped...
        rx.feed(b"ab\r");
        assert_eq!(rx.next_event(), None);
        // ...raw mode takes those bytes...
        rx.set_raw_mode();
        assert_eq!(rx.next_event(), Some(Ok(LineEvent::Raw("ab\r".into()))));
        // ...and line mode starts afresh on what comes next.
        rx.set_line_mode();
        rx.feed(b"\ncd\r\n");
        assert_eq!(rx.next_event(), Some(line("\ncd")));
        // Switching without draining keeps everything.
        rx.feed(b"x\r\ny");
        rx.set_raw_mode();
        rx.set_line_mode();
        assert_eq!(rx.next_event(), Some(line("x")));
        assert_eq!(rx.next_event(), None);
        assert_eq!(rx.buffered(), 1);
    }

    #[test]
    fn raw_mode_ignores_the_limit_and_empty_raw_is_none() {
        let mut rx = crlf(4);
        rx.set_raw_mode();
        assert_eq!(rx.next_event(), None);
        rx.feed(&[b'x'; 100]);
        assert_eq!(
            rx.next_event(),
            Some(Ok(LineEvent::Raw(Bytes::from(vec![b'x'; 100]))))
        );
        assert_eq!(rx.next_event(), None);
    }

    /// An HTTP-like protocol: header lines, where `BODY n` announces `n` raw
    /// bytes, after which lines resume. Unconsumed raw bytes are handed back
    /// with `set_line_mode` + `feed`. The events it sees must not depend on
    /// how the input is cut.
    #[test]
    fn header_body_protocol_is_chunking_invariant() {
        #[derive(Debug, PartialEq)]
        enum Ev {
            Header(String),
            Body(String),
        }

        fn run(chunks: &[&[u8]]) -> Vec<Ev> {
            let mut rx = LineReceiver::new();
            let mut out = Vec::new();
            let mut body_left = 0usize;
            let mut body = Vec::new();
            for chunk in chunks {
                rx.feed(chunk);
                while let Some(event) = rx.next_event() {
                    match event {
                        Ok(LineEvent::Line(l)) => {
                            let l = String::from_utf8(l.to_vec()).unwrap_or_default();
                            if let Some(n) = l.strip_prefix("BODY ") {
                                body_left = n.parse().unwrap_or(0);
                                if body_left > 0 {
                                    rx.set_raw_mode();
                                }
                            }
                            out.push(Ev::Header(l));
                        }
                        Ok(LineEvent::Raw(raw)) => {
                            let take = body_left.min(raw.len());
                            body.extend_from_slice(&raw[..take]);
                            body_left -= take;
                            if body_left == 0 {
                                out.push(Ev::Body(String::from_utf8_lossy(&body).into()));
                                body.clear();
                                rx.set_line_mode();
                                rx.feed(&raw[take..]);
                            }
                        }
                        Err(e) => unreachable!("{e}"),
                    }
                }
            }
            out
        }

        let input = "GET /\r\nBODY 5\r\nhello\r\nBODY 3\r\n\r\n\rNEXT\r\nBODY 0\r\nEND\r\n";
        let expected = vec![
            Ev::Header("GET /".into()),
            Ev::Header("BODY 5".into()),
            Ev::Body("hello".into()),
            Ev::Header("".into()),
            Ev::Header("BODY 3".into()),
            Ev::Body("\r\n\r".into()),
            Ev::Header("NEXT".into()),
            Ev::Header("BODY 0".into()),
            Ev::Header("END".into()),
        ];
        assert_same_events("header/body", input.as_bytes(), &expected, run);
    }

    #[test]
    fn limit_detected_byte_by_byte_without_a_delimiter() {
        for (delimiter, max) in [("\r\n", 10), ("\n", 10), ("XYZ", 7), ("\r\n", 0)] {
            let mut rx = LineReceiver::with_delimiter(delimiter).with_max_length(max);
            let dlen = delimiter.len();
            // Bytes that never form the delimiter.
            for fed in 1..max + dlen {
                rx.feed(b"a");
                assert_eq!(rx.next_event(), None, "{delimiter:?}/{max}: byte {fed}");
                assert_eq!(rx.buffered(), fed);
            }
            rx.feed(b"a");
            assert_eq!(rx.next_event(), Some(too_long(max)));
            // Documented state: empty, still in line mode, usable.
            assert_eq!(rx.buffered(), 0);
            assert!(!rx.is_raw());
            assert_eq!(rx.next_event(), None);
            let next = if max >= 2 { "ok" } else { "" };
            rx.feed(format!("{next}{delimiter}").as_bytes());
            assert_eq!(rx.next_event(), Some(line(next)));
        }
    }

    #[test]
    fn error_discards_bytes_after_the_long_line() {
        let mut rx = crlf(3);
        rx.feed(b"abcdef\r\nnext\r\n");
        assert_eq!(rx.next_event(), Some(too_long(3)));
        assert_eq!(rx.buffered(), 0);
        assert_eq!(rx.next_event(), None);
        let error = LineError::LineLengthExceeded {
            length: 4,
            limit: 3,
        };
        assert_eq!(
            error.to_string(),
            "line length 4 exceeds the limit of 3 bytes"
        );
    }

    #[test]
    fn clear_buffer_returns_everything_and_restarts() {
        let mut rx = LineReceiver::new();
        rx.feed(b"one\r\ntw");
        assert_eq!(rx.next_event(), Some(line("one")));
        assert_eq!(rx.next_event(), None);
        assert_eq!(rx.clear_buffer(), "tw");
        assert_eq!(rx.buffered(), 0);
        rx.feed(b"o\r\n");
        assert_eq!(rx.next_event(), Some(line("o")));
    }

    #[test]
    fn accessors_and_defaults() {
        let rx = LineReceiver::default();
        assert_eq!(rx.delimiter(), b"\r\n");
        assert_eq!(rx.max_length(), 16384);
        assert!(!rx.is_raw());
        let rx = LineReceiver::with_delimiter(b"\n".to_vec()).with_max_length(7);
        assert_eq!((rx.delimiter(), rx.max_length()), (&b"\n"[..], 7));
    }

    #[test]
    #[should_panic(expected = "must not be empty")]
    fn empty_delimiter_is_refused() {
        let _ = LineReceiver::with_delimiter("");
    }

    #[test]
    fn one_long_line_fed_byte_by_byte_is_linear() {
        // Quadratic rescanning would make this take minutes.
        let n = 300_000;
        let mut rx = LineReceiver::new().with_max_length(n);
        for _ in 0..n {
            rx.feed(b"\r");
            assert_eq!(rx.next_event(), None);
        }
        rx.feed(b"\n");
        let Some(Ok(LineEvent::Line(l))) = rx.next_event() else {
            unreachable!("expected a line")
        };
        assert_eq!(l.len(), n - 1);
    }

    #[test]
    fn encode_then_decode() {
        let mut out = BytesMut::new();
        let lines: [&[u8]; 4] = [b"", b"hello", b"with\rcr", b"\n"];
        for l in lines {
            LineReceiver::encode_line(l, b"\r\n", &mut out);
        }
        assert_eq!(&out[..], b"\r\nhello\r\nwith\rcr\r\n\n\r\n");
        let events = decode(LineReceiver::new(), &[&out]);
        let expected: Vec<Event> = lines
            .iter()
            .map(|l| Ok(LineEvent::Line(Bytes::copy_from_slice(l))))
            .collect();
        assert_eq!(events, expected);
    }

    #[test]
    fn random_lines_survive_random_cuts() {
        let mut rng = Rng::new(1);
        for delimiter in [&b"\r\n"[..], b"\n", b"abab", b"aab"] {
            for _ in 0..200 {
                let max = rng.below(20);
                let mut lines = Vec::new();
                let mut wire = BytesMut::new();
                for _ in 0..rng.below(10) {
                    let len = rng.below(max + 1);
                    let l = rng.bytes_from(b"ab\r\nx", len);
                    // A line may not contain the delimiter, nor end in a
                    // prefix of it that the delimiter completes early
                    // (e.g. "xa" + "ab" reads as "x" + "aab").
                    let mut framed = l.clone();
                    framed.extend_from_slice(delimiter);
                    if find(&framed, delimiter) != Some(l.len()) {
                        continue;
                    }
                    LineReceiver::encode_line(&l, delimiter, &mut wire);
                    lines.push(Ok(LineEvent::Line(Bytes::from(l))));
                }
                let chunks = rng.split(&wire, 7);
                let rx = LineReceiver::with_delimiter(delimiter).with_max_length(max);
                assert_eq!(decode(rx, &chunks), lines, "{delimiter:?} {wire:?}");
            }
        }
    }

    #[test]
    fn random_garbage_never_panics_and_stays_bounded() {
        let mut rng = Rng::new(2);
        for _ in 0..500 {
            let len = 1 + rng.below(3);
            let delimiter = rng.bytes_from(b"\r\na", len);
            let max = rng.below(40);
            let mut rx = LineReceiver::with_delimiter(delimiter.clone()).with_max_length(max);
            let len = rng.below(300);
            let garbage = rng.bytes_from(b"\r\naxy", len);
            for chunk in rng.split(&garbage, 17) {
                rx.feed(chunk);
                if rng.below(10) == 0 {
                    rx.set_raw_mode();
                } else if rng.below(5) == 0 {
                    rx.set_line_mode();
                }
                while let Some(event) = rx.next_event() {
                    if let Ok(LineEvent::Line(l)) = event {
                        assert!(l.len() <= max);
                    }
                }
                assert!(rx.buffered() < max + delimiter.len());
            }
            let len = rng.below(100);
            let raw = rng.bytes(len);
            rx.feed(&raw);
            while rx.next_event().is_some() {}
        }
    }
}
