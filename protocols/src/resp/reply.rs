//! [`ReplyWriter`]: how a server writes replies straight into its output
//! buffer, in RESP2 or RESP3, and [`format_double`], Redis 7.0's double format.

use std::fmt;

use bytes::{BufMut, BytesMut};

/// The protocol version a connection speaks: RESP2 until the client switches
/// with `HELLO 3`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Version {
    /// RESP2: the five types `+ - : $ *`; RESP3-only types are written as
    /// their RESP2 stand-ins (see [`ReplyWriter`]).
    #[default]
    Resp2,
    /// RESP3: adds nulls, doubles, booleans, big numbers, verbatim strings,
    /// maps, sets and pushes.
    Resp3,
}

/// Writes replies into an output buffer, with no intermediate [`Frame`](super::Frame) tree.
///
/// Aggregates are written as a header ([`array_len`](Self::array_len),
/// [`map_len`](Self::map_len), ...) followed by their elements, written with
/// the same writer; the caller writes exactly as many elements as it
/// announced (two per map entry). The RESP2 column shows what the same call
/// writes for a RESP2 connection, as Redis 7.0 does (`addReplyNull`,
/// `addReplyMapLen`, `addReplyDouble`, `addReplyBool`, `addReplyVerbatim`,
/// `addReplyBigNum` in `src/networking.c`):
///
/// ```text
/// method          RESP3                       RESP2
/// ok()            +OK\r\n                     +OK\r\n
/// simple("PONG")  +PONG\r\n                   +PONG\r\n
/// error("ERR x")  -ERR x\r\n                  -ERR x\r\n
/// int(-5)         :-5\r\n                     :-5\r\n
/// bulk(b"ab")     $2\r\nab\r\n                $2\r\nab\r\n
/// null()          _\r\n                       $-1\r\n
/// null_array()    _\r\n                       *-1\r\n
/// array_len(2)    *2\r\n                      *2\r\n
/// map_len(2)      %2\r\n                      *4\r\n
/// set_len(2)      ~2\r\n                      *2\r\n
/// push_len(3)     >3\r\n                      *3\r\n
/// double(1.5)     ,1.5\r\n                    $3\r\n1.5\r\n
/// boolean(true)   #t\r\n                      :1\r\n
/// verbatim(b"txt", b"hi")  =6\r\ntxt:hi\r\n   $2\r\nhi\r\n
/// big_number("12")         (12\r\n            $2\r\n12\r\n
/// ```
///
/// # Example
///
/// ```
/// use bytes::BytesMut;
/// use spindle_protocols::resp::{ReplyWriter, Version};
///
/// let mut out = BytesMut::new();
/// let mut w = ReplyWriter::new(Version::Resp2, &mut out);
/// w.array_len(2);
/// w.bulk(b"a");
/// w.null();
/// assert_eq!(&out[..], b"*2\r\n$1\r\na\r\n$-1\r\n");
/// ```
///
/// # Why it borrows the buffer
///
/// The connection owns its output [`BytesMut`] for its whole life and hands
/// it to the transport; a command borrows it through a `ReplyWriter` for the
/// time of one reply. Borrowing costs nothing to create (two words), needs no
/// "take the buffer back" step, and cannot leave a reply stranded in a writer
/// that was dropped. [`version`](Self::version) is a public field so that
/// `HELLO` can switch it in the middle of its own reply, as Redis does.
///
/// # Cost
///
/// Every method appends to the buffer directly: numbers are formatted on the
/// stack (no allocation), and a bulk string costs one `reserve` and three
/// copies (header, payload, CRLF). A 100-element `LRANGE` reply is 101
/// appends to one buffer.
///
/// # Text that is not one line
///
/// Simple strings and errors cannot hold CR or LF on the wire; the writer
/// replaces each with a space (as Redis's `addReplyErrorFormat` does), so a
/// careless message can never break the framing of the replies after it.
#[derive(Debug)]
pub struct ReplyWriter<'a> {
    /// The protocol the replies are written in.
    pub version: Version,
    buf: &'a mut BytesMut,
}

impl<'a> ReplyWriter<'a> {
    /// A writer that appends `version` replies to `buf`.
    pub fn new(version: Version, buf: &'a mut BytesMut) -> Self {
        ReplyWriter { version, buf }
    }

    fn resp3(&self) -> bool {
        self.version == Version::Resp3
    }

    /// `+OK\r\n`.
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A simple string: `+<s>\r\n` (CR and LF in `s` become spaces).
    pub fn simple(&mut self, s: &str) {
        put_simple(self.buf, b'+', s.as_bytes());
    }

    /// An error: `-<msg>\r\n`. `msg` is the whole text including its code,
    /// e.g. `"ERR syntax error"` or `"WRONGTYPE Operation against a key
    /// holding the wrong kind of value"` (CR and LF become spaces).
    pub fn error(&mut self, msg: &str) {
        put_simple(self.buf, b'-', msg.as_bytes());
    }

    /// An integer: `:<n>\r\n`.
    pub fn int(&mut self, n: i64) {
        put_int_line(self.buf, b':', n);
    }

    /// A bulk string: `$<len>\r\n<b>\r\n`. Binary-safe.
    pub fn bulk(&mut self, b: &[u8]) {
        put_blob(self.buf, b'$', b);
    }

    /// The null bulk string (`GET` of a missing key): `_\r\n` in RESP3,
    /// `$-1\r\n` in RESP2.
    pub fn null(&mut self) {
        self.buf
            .extend_from_slice(if self.resp3() { b"_\r\n" } else { b"$-1\r\n" });
    }

    /// The null array (`BLPOP` timing out, `EXEC` of an aborted transaction):
    /// `_\r\n` in RESP3, `*-1\r\n` in RESP2.
    pub fn null_array(&mut self) {
        self.buf
            .extend_from_slice(if self.resp3() { b"_\r\n" } else { b"*-1\r\n" });
    }

    /// The header of an array of `n` elements: `*<n>\r\n`.
    pub fn array_len(&mut self, n: usize) {
        put_len_line(self.buf, b'*', n);
    }

    /// The header of a map of `n` entries, each then written as key and
    /// value: `%<n>\r\n` in RESP3, a flat array `*<2n>\r\n` in RESP2.
    pub fn map_len(&mut self, n: usize) {
        if self.resp3() {
            put_len_line(self.buf, b'%', n);
        } else {
            put_len_line(self.buf, b'*', n.saturating_mul(2));
        }
    }

    /// The header of a set of `n` elements: `~<n>\r\n` in RESP3, `*<n>\r\n`
    /// in RESP2.
    pub fn set_len(&mut self, n: usize) {
        put_len_line(self.buf, if self.resp3() { b'~' } else { b'*' }, n);
    }

    /// The header of an out-of-band push of `n` elements (pub/sub messages):
    /// `><n>\r\n` in RESP3, `*<n>\r\n` in RESP2.
    pub fn push_len(&mut self, n: usize) {
        put_len_line(self.buf, if self.resp3() { b'>' } else { b'*' }, n);
    }

    /// The header of a RESP3 attribute of `n` key-value pairs (`|n\r\n`), which comes before
    /// the reply it describes. RESP2 has no attributes: the caller writes none there.
    pub fn attribute_len(&mut self, n: usize) {
        put_len_line(self.buf, b'|', n);
    }

    /// A double, formatted by [`format_double`]: `,<text>\r\n` in RESP3, a
    /// bulk string of the same text in RESP2 (`ZSCORE`, `ZINCRBY`).
    pub fn double(&mut self, f: f64) {
        let text = format_double(f);
        if self.resp3() {
            self.buf.reserve(text.len() + 3);
            self.buf.put_u8(b',');
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            put_blob(self.buf, b'$', text.as_bytes());
        }
    }

    /// A double given as its text, for replies that print doubles their own way (GEOPOS's
    /// coordinates, with up to 17 decimals): `,<text>\r\n` in RESP3, a bulk string of the
    /// same text in RESP2. The text is not checked (CR and LF become spaces).
    pub fn double_text(&mut self, text: &str) {
        if self.resp3() {
            put_simple(self.buf, b',', text.as_bytes());
        } else {
            put_blob(self.buf, b'$', text.as_bytes());
        }
    }

    /// A boolean: `#t\r\n`/`#f\r\n` in RESP3, `:1\r\n`/`:0\r\n` in RESP2.
    pub fn boolean(&mut self, b: bool) {
        self.buf.extend_from_slice(match (self.resp3(), b) {
            (true, true) => b"#t\r\n",
            (true, false) => b"#f\r\n",
            (false, true) => b":1\r\n",
            (false, false) => b":0\r\n",
        });
    }

    /// A verbatim string with a 3-byte `format` (`b"txt"` or `b"mkd"`):
    /// `=<len+4>\r\n<format>:<text>\r\n` in RESP3, a bulk string of `text`
    /// in RESP2 (`INFO`, `CLIENT LIST`, `LATENCY DOCTOR`).
    pub fn verbatim(&mut self, format: &[u8; 3], text: &[u8]) {
        if self.resp3() {
            put_len_line(self.buf, b'=', text.len().saturating_add(4));
            self.buf.reserve(text.len() + 6);
            self.buf.extend_from_slice(format);
            self.buf.put_u8(b':');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            put_blob(self.buf, b'$', text);
        }
    }

    /// A big number, given as its decimal digits (optionally signed):
    /// `(<digits>\r\n` in RESP3, a bulk string in RESP2. The digits are not
    /// checked (CR and LF become spaces).
    pub fn big_number(&mut self, digits: &str) {
        if self.resp3() {
            put_simple(self.buf, b'(', digits.as_bytes());
        } else {
            put_blob(self.buf, b'$', digits.as_bytes());
        }
    }
}

/// A double formatted by [`format_double`]: at most 24 ASCII bytes, kept on
/// the stack.
#[derive(Clone, Copy)]
pub struct FormattedDouble {
    bytes: [u8; 32],
    len: usize,
}

impl FormattedDouble {
    fn new() -> Self {
        FormattedDouble {
            bytes: [0; 32],
            len: 0,
        }
    }

    fn push(&mut self, s: &[u8]) {
        let end = self.len + s.len();
        if let Some(dst) = self.bytes.get_mut(self.len..end) {
            dst.copy_from_slice(s);
            self.len = end;
        }
    }

    /// The text, as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The length of the text in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the text is empty (it never is).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Write for FormattedDouble {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.len + s.len() > self.bytes.len() {
            return Err(fmt::Error);
        }
        self.push(s.as_bytes());
        Ok(())
    }
}

impl fmt::Display for FormattedDouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for FormattedDouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Formats a double as a score reply: the shortest text that reads back as the same `f64`,
/// with `inf` and `-inf` spelled out and `nan` for any NaN (`ZSCORE`, `ZINCRBY`,
/// `ZRANGE ... WITHSCORES`, `ZMSCORE`, RESP3 doubles).
///
/// This is Redis 7.2's `addReplyDouble` (`fpconv_dtoa`, redis/redis#10587), chosen for being
/// the shortest text; Redis 7.0 printed C's `"%.17g"` (`0.1` as `0.10000000000000001`). Both read
/// back as the same number, so clients see the same score either way. Like `%g`, numbers
/// with a decimal exponent below -4 or from 17 up use scientific notation, C style (`1e+21`,
/// `1.5e-05`). Commands with a format of their own do not use this: `INCRBYFLOAT`/
/// `HINCRBYFLOAT` reply with a bulk string of their stored value.
///
/// ```text
/// 1.5 -> 1.5     0.1 -> 0.1     100 -> 100     1e21 -> 1e+21     1e-5 -> 1e-05     -0.0 -> -0
/// ```
///
/// No allocation: the text is built on the stack.
///
/// ```
/// use spindle_protocols::resp::format_double;
///
/// assert_eq!(format_double(1.5).as_str(), "1.5");
/// assert_eq!(format_double(0.1).as_str(), "0.1");
/// assert_eq!(format_double(1e21).as_str(), "1e+21");
/// assert_eq!(format_double(f64::NEG_INFINITY).as_str(), "-inf");
/// ```
pub fn format_double(f: f64) -> FormattedDouble {
    use fmt::Write as _;

    let mut out = FormattedDouble::new();
    if f.is_nan() {
        out.push(b"nan");
        return out;
    }
    if f.is_infinite() {
        out.push(if f > 0.0 { b"inf" } else { b"-inf" });
        return out;
    }
    // The shortest round-trip digits, in scientific form: "-1.5e-5", "1e21".
    let mut sci = FormattedDouble::new();
    if write!(sci, "{f:e}").is_err() {
        return out;
    }
    let text = sci.as_str();
    let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..17).contains(&exp) {
        // Positional, as Display prints it (shortest round trip, no exponent).
        let _ = write!(out, "{f}");
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "{mantissa}e{sign}{:02}", exp.unsigned_abs());
    }
    out
}

/// A stack buffer for one `<prefix><integer>\r\n` line: 1 + 20 digits (a
/// sign, or `u64::MAX`'s 20 digits) + 2, filled from the back. The one
/// integer formatter: reply lines and [`format_int`] both use it.
struct IntLine {
    bytes: [u8; 24],
    start: usize,
}

impl IntLine {
    fn new(prefix: u8, negative: bool, n: u64) -> Self {
        let mut line = IntLine::empty();
        line.push_front(b'\n');
        line.push_front(b'\r');
        line.push_digits(negative, n);
        line.push_front(prefix);
        line
    }

    fn empty() -> Self {
        IntLine {
            bytes: [0; 24],
            start: 24,
        }
    }

    fn push_digits(&mut self, negative: bool, mut n: u64) {
        loop {
            self.push_front(b'0' + (n % 10) as u8);
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if negative {
            self.push_front(b'-');
        }
    }

    fn push_front(&mut self, b: u8) {
        if let Some(at) = self.start.checked_sub(1) {
            if let Some(slot) = self.bytes.get_mut(at) {
                *slot = b;
                self.start = at;
            }
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(self.start..).unwrap_or_default()
    }
}

/// An integer's decimal digits, formatted on the stack: what [`format_int`]
/// returns, for callers that need the text of an integer without allocating
/// (a string value holding an integer, sent as a bulk string).
pub struct FormattedInt(IntLine);

impl FormattedInt {
    /// The digits, with a leading `-` for a negative number.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for FormattedInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(self.as_bytes()), f)
    }
}

/// Formats `n` in decimal without allocating, with the same code as the
/// integer lines of [`ReplyWriter`].
pub fn format_int(n: i64) -> FormattedInt {
    let mut digits = IntLine::empty();
    digits.push_digits(n < 0, n.unsigned_abs());
    FormattedInt(digits)
}

/// Appends `<prefix><n>\r\n`.
pub(super) fn put_int_line(out: &mut BytesMut, prefix: u8, n: i64) {
    out.extend_from_slice(IntLine::new(prefix, n < 0, n.unsigned_abs()).as_bytes());
}

/// Appends `<prefix><n>\r\n` for a length.
pub(super) fn put_len_line(out: &mut BytesMut, prefix: u8, n: usize) {
    out.extend_from_slice(IntLine::new(prefix, false, n as u64).as_bytes());
}

/// Appends `<prefix><len>\r\n<payload>\r\n`, reserving once.
pub(super) fn put_blob(out: &mut BytesMut, prefix: u8, payload: &[u8]) {
    let header = IntLine::new(prefix, false, payload.len() as u64);
    out.reserve(header.as_bytes().len() + payload.len() + 2);
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Appends `<prefix><text>\r\n`, with CR and LF in `text` replaced by spaces
/// so the line cannot end early.
pub(super) fn put_simple(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(prefix);
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.extend_from_slice(text);
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_double_is_the_shortest_round_trip() {
        // Redis 7.2's addReplyDouble (fpconv_dtoa): shortest digits, %g-style exponents.
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (1.1, "1.1"),
            (100.0, "100"),
            (123456.789, "123456.789"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (-9.5367431640625e-7, "-9.5367431640625e-07"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (1e-5, "1e-05"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (9007199254740993.0, "9007199254740992"),
            (-3.25, "-3.25"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for &(f, want) in cases {
            assert_eq!(format_double(f).as_str(), want, "{f:e}");
        }
    }

    #[test]
    fn format_double_round_trips() {
        let mut rng = crate::testutil::Rng::new(7);
        for _ in 0..20_000 {
            let f = f64::from_bits(rng.next_u64());
            let text = format_double(f);
            assert!(text.len() <= 24, "{text}");
            if f.is_nan() {
                assert_eq!(text.as_str(), "nan");
                continue;
            }
            let back: f64 = text.as_str().parse().unwrap();
            assert_eq!(back.to_bits(), f.to_bits(), "{f:e} -> {text}");
        }
    }

    #[test]
    fn int_lines() {
        let mut out = BytesMut::new();
        for n in [0, 1, -1, 10, i64::MAX, i64::MIN] {
            put_int_line(&mut out, b':', n);
        }
        put_len_line(&mut out, b'*', usize::MAX);
        let want = format!(
            ":0\r\n:1\r\n:-1\r\n:10\r\n:{}\r\n:{}\r\n*{}\r\n",
            i64::MAX,
            i64::MIN,
            usize::MAX
        );
        assert_eq!(&out[..], want.as_bytes());
    }

    #[test]
    fn format_int_digits() {
        for n in [0, 7, -7, 1234567890, i64::MAX, i64::MIN] {
            assert_eq!(format_int(n).as_bytes(), n.to_string().as_bytes());
        }
    }
}
