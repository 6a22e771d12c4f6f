//! [`RequestDecoder`]: a server's incremental decoder of client requests, as
//! Redis 7.0's `processMultibulkBuffer` and `processInlineBuffer`.

use bytes::{Buf, Bytes, BytesMut};

use super::error::RequestError;

/// The bounds a [`RequestDecoder`] enforces; the defaults are Redis 7.0's,
/// except `max_multibulk_len` (see there). All bounds are inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest argument, in bytes: Redis's `proto-max-bulk-len`, default
    /// 512 MiB.
    pub max_bulk_len: usize,
    /// Most arguments in one multibulk request. Default 1024 × 1024, Redis's
    /// limit up to 6.2; Redis 7.0 raised it to `INT_MAX` (redis/redis#9528),
    /// so set `i32::MAX as usize` to match 7.0 exactly.
    pub max_multibulk_len: usize,
    /// Longest inline request (bytes before its LF, so a CR before the LF
    /// counts) and longest `*<n>` or `$<len>` line (bytes before its CR), as
    /// Redis counts them: `PROTO_INLINE_MAX_SIZE`, 64 KiB.
    pub max_inline_len: usize,
    /// Most arguments before authentication: 10, as Redis 7.0.
    pub unauth_max_multibulk_len: usize,
    /// Longest argument before authentication: 16384 bytes, as Redis 7.0.
    pub unauth_max_bulk_len: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024,
            max_inline_len: 64 * 1024,
            unauth_max_multibulk_len: 10,
            unauth_max_bulk_len: 16384,
        }
    }
}

/// Where the decoder is within a request, kept across calls so that nothing
/// is parsed twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between requests.
    Idle,
    /// Inside a multibulk request, before a `$<len>` line; `remaining`
    /// arguments (at least one) are still to come.
    BulkHeader { remaining: usize },
    /// Inside a multibulk request, waiting for a `len`-byte argument and its
    /// line end.
    BulkData { remaining: usize, len: usize },
}

/// What looking for a line end found.
enum Line {
    /// The terminator is at this offset.
    Found(usize),
    /// Not yet; the line may still end within the limit.
    Partial,
    /// The line is longer than the limit, whatever comes next.
    TooLong,
}

/// Decodes client requests (commands) incrementally: the hot path of a
/// Redis-compatible server.
///
/// Call [`decode`](Self::decode) with the connection's receive buffer after
/// each read, until it returns `Ok(None)`. Each `Ok(Some(args))` is one
/// command, `args[0]` its name. Both request forms Redis accepts are decoded,
/// and may be mixed on one connection:
///
/// ```text
/// multibulk:  *<n>\r\n  then n times  $<len>\r\n<len bytes>\r\n
///             *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n     -> ["SET", "k", "hello"]
/// inline:     any line not starting with '*', ending in \n or \r\n
///             SET k "hello world"\r\n                         -> ["SET", "k", "hello world"]
/// ```
///
/// # Example
///
/// ```
/// use bytes::BytesMut;
/// use spindle_protocols::resp::{RequestDecoder, RequestLimits};
///
/// let mut decoder = RequestDecoder::new(RequestLimits::default());
/// decoder.set_authenticated(true); // no password configured
/// let mut buf = BytesMut::from(&b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nPING\r\n*1\r\n$4\r\nQU"[..]);
/// assert_eq!(decoder.decode(&mut buf), Ok(Some(vec!["ECHO".into(), "hi".into()])));
/// assert_eq!(decoder.decode(&mut buf), Ok(Some(vec!["PING".into()])));
/// assert_eq!(decoder.decode(&mut buf), Ok(None)); // "QUIT" is incomplete:
/// assert_eq!(&buf[..], b"QU"); // its headers were taken, its partial payload waits
/// buf.extend_from_slice(b"IT\r\n");
/// assert_eq!(decoder.decode(&mut buf), Ok(Some(vec!["QUIT".into()])));
/// ```
///
/// # Inline requests
///
/// A line not starting with `*` is an inline request (what people type into
/// `telnet` or `nc`), split into arguments as Redis's
/// `sdssplitargs`: arguments are separated by spaces, tabs, CR or LF (blanks
/// before an argument also include VT and FF); `"double quotes"` take the
/// escapes `\n \r \t \b \a \\ \" \xHH` (any other `\c` is `c`); `'single
/// quotes'` take only `\'`; a quote may start inside an argument (`a"b c"` is
/// `ab c`), and a closing quote must be followed by a blank or the end of the
/// line, else the request has "unbalanced quotes". Empty and blank lines are
/// skipped, as are `*0` and negative counts such as `*-1`, as Redis does.
///
/// # Redis 7.0's checks, in its order
///
/// | condition                                                     | error |
/// |---------------------------------------------------------------|-------|
/// | inline line longer than `max_inline_len`                      | [`TooBigInline`](RequestError::TooBigInline) |
/// | inline quotes unbalanced                                      | [`UnbalancedQuotes`](RequestError::UnbalancedQuotes) |
/// | `*<n>` line longer than `max_inline_len`                      | [`TooBigMbulkCount`](RequestError::TooBigMbulkCount) |
/// | `n` not a strict integer (`string2ll`), or `n > max_multibulk_len` | [`InvalidMultibulkLength`](RequestError::InvalidMultibulkLength) |
/// | not authenticated and `n > unauth_max_multibulk_len`          | [`UnauthenticatedMultibulkLength`](RequestError::UnauthenticatedMultibulkLength) |
/// | `$<len>` line longer than `max_inline_len`                    | [`TooBigBulkCount`](RequestError::TooBigBulkCount) |
/// | that line not starting with `$`                               | [`ExpectedDollar`](RequestError::ExpectedDollar) |
/// | `len` not a strict integer, `< 0`, or `> max_bulk_len`        | [`InvalidBulkLength`](RequestError::InvalidBulkLength) |
/// | not authenticated and `len > unauth_max_bulk_len`             | [`UnauthenticatedBulkLength`](RequestError::UnauthenticatedBulkLength) |
///
/// Where Redis is lenient, so is the decoder: the byte after the CR ending a
/// `*<n>` or `$<len>` line, and the two bytes after an argument's payload,
/// are skipped without being checked (Redis 7.0 advances past them blindly,
/// so `$3\r\nfooXY` is accepted). Strictness here would refuse clients that
/// Redis serves, and a desynchronised stream is caught at the next header
/// anyway, almost always by [`ExpectedDollar`](RequestError::ExpectedDollar).
///
/// Where Redis depends on how reads happened to cut the stream, the decoder
/// does not: a line over the limit is refused even if it arrived whole with
/// its terminator (Redis checks only while the terminator is missing, 16 KiB
/// reads at a time). And NUL is an ordinary byte: Redis's C-string searches
/// stop at NUL, so an inline request containing one is never seen to end.
///
/// # Authentication
///
/// A new decoder is *not* authenticated, so the tight pre-`AUTH` limits
/// apply (Redis 7.0's defence against unauthenticated memory exhaustion,
/// CVE-2021-32675). A server with no password configured calls
/// [`set_authenticated(true)`](Self::set_authenticated) right after
/// [`new`](Self::new), as Redis treats such clients as authenticated from the
/// start; failing safe means a forgotten call shows up as refused 11-argument
/// commands, not as an open door. Inline requests have no pre-`AUTH` limit of
/// their own (nor in Redis): `max_inline_len` bounds them.
///
/// # Errors
///
/// A [`RequestError`] whose text the server sends as `-ERR <text>\r\n`
/// ([`RequestError::encode_reply`]) before closing the connection, like
/// Redis. The decoder is then reset (between requests, arguments decoded so
/// far dropped), and `buf` starts with the offending line: the bytes of the
/// same request before it were already taken out, the line itself was not.
///
/// # Memory and cost
///
/// - A declared length never makes the decoder allocate ahead of the bytes
///   that arrived: the argument vector starts at `min(n, 1024)` and grows as
///   arguments arrive; no buffer is reserved for a declared bulk. `*1\r\n$1000000000\r\n`
///   followed by nothing costs a 1-element vector.
/// - Between calls the decoder keeps the arguments decoded so far, the count
///   still expected, the pending bulk length, and how far it has searched an
///   unfinished line: a request arriving one byte at a time is parsed in
///   linear time.
/// - When `decode` returns `Ok(None)` the buffer holds at most
///   `max(max_inline_len + 1, max_bulk_len + 1)` bytes: bytes of completed
///   arguments and headers are taken out as they complete.
/// - Arguments are split off `buf` without copying ([`BytesMut::split_to`]),
///   except inline arguments that contain quotes. Each shares the allocation
///   of the read buffer it came from, which stays alive as long as any of its
///   arguments does: a server that keeps a small argument for long (a key or
///   value stored in its database) should copy it ([`Bytes::copy_from_slice`])
///   rather than pin a whole read buffer with it, as Redis copies arguments
///   under 32 KiB.
///
/// # The buffer
///
/// Use one buffer per decoder and only append to it between calls: the
/// decoder remembers offsets into the unfinished line at its front.
#[derive(Debug)]
pub struct RequestDecoder {
    limits: RequestLimits,
    authenticated: bool,
    state: State,
    /// The arguments of the multibulk request being decoded.
    args: Vec<Bytes>,
    /// No awaited line terminator is before this offset of the buffer. Reset
    /// to 0 whenever bytes are taken from the front.
    scanned: usize,
}

impl Default for RequestDecoder {
    fn default() -> Self {
        Self::new(RequestLimits::default())
    }
}

impl RequestDecoder {
    /// A decoder enforcing `limits`, between requests and not authenticated.
    pub fn new(limits: RequestLimits) -> Self {
        RequestDecoder {
            limits,
            authenticated: false,
            state: State::Idle,
            args: Vec::new(),
            scanned: 0,
        }
    }

    /// Switches between the pre-`AUTH` limits (`false`, the initial state) and
    /// the full ones (`true`). Takes effect from the next `*<n>` or `$<len>`
    /// line decoded.
    pub fn set_authenticated(&mut self, yes: bool) {
        self.authenticated = yes;
    }

    /// Whether the full limits apply (see [`set_authenticated`](Self::set_authenticated)).
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &RequestLimits {
        &self.limits
    }

    /// Decodes the next request from the front of `buf`: `Ok(Some(args))`,
    /// or `Ok(None)` when `buf` holds no complete request yet. The headers
    /// and arguments of an unfinished request that did arrive whole are taken
    /// from `buf` and kept by the decoder; an unfinished line or payload stays
    /// in `buf`, where the next call finds it.
    ///
    /// See the type's docs for the formats, the errors and what state an
    /// error leaves.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, RequestError> {
        let result = self.run(buf);
        if result.is_err() {
            self.state = State::Idle;
            self.args = Vec::new();
            self.scanned = 0;
        }
        result
    }

    fn run(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, RequestError> {
        loop {
            match self.state {
                State::Idle => {
                    let Some(&first) = buf.first() else {
                        return Ok(None);
                    };
                    if first != b'*' {
                        match self.inline(buf)? {
                            None => return Ok(None),
                            Some(args) if args.is_empty() => continue,
                            Some(args) => return Ok(Some(args)),
                        }
                    }
                    let Some(n) = self.count_line(buf)? else {
                        return Ok(None);
                    };
                    if n > 0 {
                        self.args = Vec::with_capacity(n.min(1024));
                        self.state = State::BulkHeader { remaining: n };
                    }
                }
                State::BulkHeader { remaining } => {
                    let Some(len) = self.bulk_line(buf)? else {
                        return Ok(None);
                    };
                    self.state = State::BulkData { remaining, len };
                }
                State::BulkData { remaining, len } => {
                    if buf.len() < len.saturating_add(2) {
                        return Ok(None);
                    }
                    self.args.push(buf.split_to(len).freeze());
                    // Redis 7.0 skips these two bytes without looking at them.
                    buf.advance(2);
                    if remaining > 1 {
                        self.state = State::BulkHeader {
                            remaining: remaining - 1,
                        };
                    } else {
                        self.state = State::Idle;
                        return Ok(Some(std::mem::take(&mut self.args)));
                    }
                }
            }
        }
    }

    /// Looks for `byte` in the first `max + 1` bytes of `buf`, resuming where
    /// the last search stopped.
    fn find(&mut self, buf: &[u8], byte: u8, max: usize) -> Line {
        let start = if self.scanned <= buf.len() {
            self.scanned
        } else {
            0
        };
        let end = buf.len().min(max.saturating_add(1));
        let found = buf
            .get(start..end)
            .and_then(|window| window.iter().position(|&b| b == byte));
        match found {
            Some(at) => Line::Found(start + at),
            None if buf.len() > max => Line::TooLong,
            None => {
                self.scanned = end.max(start);
                Line::Partial
            }
        }
    }

    /// A complete `*<n>` or `$<len>` line: the offset of its CR, or `None`
    /// if it has not fully arrived (the byte after the CR included).
    fn header_line(
        &mut self,
        buf: &[u8],
        too_big: RequestError,
    ) -> Result<Option<usize>, RequestError> {
        match self.find(buf, b'\r', self.limits.max_inline_len) {
            Line::TooLong => Err(too_big),
            Line::Partial => Ok(None),
            Line::Found(cr) if cr + 2 > buf.len() => {
                self.scanned = cr;
                Ok(None)
            }
            Line::Found(cr) => Ok(Some(cr)),
        }
    }

    /// Consumes a `*<n>` line; `Some(n)`, where `n <= 0` means "no command".
    fn count_line(&mut self, buf: &mut BytesMut) -> Result<Option<usize>, RequestError> {
        let Some(cr) = self.header_line(buf, RequestError::TooBigMbulkCount)? else {
            return Ok(None);
        };
        let n = buf
            .get(1..cr)
            .and_then(string2ll)
            .ok_or(RequestError::InvalidMultibulkLength)?;
        let n = usize::try_from(n).unwrap_or(0); // n <= 0: skipped, as Redis
        if n > self.limits.max_multibulk_len {
            return Err(RequestError::InvalidMultibulkLength);
        }
        if !self.authenticated && n > self.limits.unauth_max_multibulk_len {
            return Err(RequestError::UnauthenticatedMultibulkLength);
        }
        buf.advance(cr + 2);
        self.scanned = 0;
        Ok(Some(n))
    }

    /// Consumes a `$<len>` line; `Some(len)`.
    fn bulk_line(&mut self, buf: &mut BytesMut) -> Result<Option<usize>, RequestError> {
        let Some(cr) = self.header_line(buf, RequestError::TooBigBulkCount)? else {
            return Ok(None);
        };
        match buf.first() {
            Some(b'$') => {}
            Some(&other) => return Err(RequestError::ExpectedDollar(other)),
            None => return Ok(None),
        }
        let len = buf
            .get(1..cr)
            .and_then(string2ll)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n <= self.limits.max_bulk_len)
            .ok_or(RequestError::InvalidBulkLength)?;
        if !self.authenticated && len > self.limits.unauth_max_bulk_len {
            return Err(RequestError::UnauthenticatedBulkLength);
        }
        buf.advance(cr + 2);
        self.scanned = 0;
        Ok(Some(len))
    }

    /// Consumes an inline request line; its arguments (empty for a blank
    /// line).
    fn inline(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, RequestError> {
        let lf = match self.find(buf, b'\n', self.limits.max_inline_len) {
            Line::TooLong => return Err(RequestError::TooBigInline),
            Line::Partial => return Ok(None),
            Line::Found(lf) => lf,
        };
        let end = match lf.checked_sub(1) {
            Some(cr) if buf.get(cr) == Some(&b'\r') => cr,
            _ => lf,
        };
        // Split before consuming, so that an error leaves `buf` as it was.
        let mut parts = Vec::new();
        if !split_args(buf.get(..end).unwrap_or_default(), |arg| parts.push(arg)) {
            return Err(RequestError::UnbalancedQuotes);
        }
        let line = buf.split_to(lf + 1).freeze();
        self.scanned = 0;
        let args = parts
            .into_iter()
            .map(|arg| match arg {
                Arg::Plain(range) => line.slice(range),
                Arg::Unquoted(bytes) => Bytes::from(bytes),
            })
            .collect();
        Ok(Some(args))
    }
}

/// An argument of an inline request.
enum Arg {
    /// Bytes of the line, as they are.
    Plain(std::ops::Range<usize>),
    /// An argument with quotes, unescaped.
    Unquoted(Vec<u8>),
}

/// C's `isspace` in the "C" locale.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Splits an inline request as Redis's `sdssplitargs`, handing each argument
/// to `emit`; `false` if the quotes are unbalanced.
fn split_args(line: &[u8], mut emit: impl FnMut(Arg)) -> bool {
    let mut i = 0;
    loop {
        while line.get(i).copied().is_some_and(is_blank) {
            i += 1;
        }
        if i >= line.len() {
            return true;
        }
        let start = i;
        loop {
            match line.get(i) {
                None => {
                    emit(Arg::Plain(start..i));
                    return true;
                }
                // Unquoted, only these end an argument (not VT or FF).
                Some(b' ' | b'\t' | b'\n' | b'\r') => {
                    emit(Arg::Plain(start..i));
                    i += 1;
                    break;
                }
                Some(&quote @ (b'"' | b'\'')) => {
                    let mut arg = line.get(start..i).unwrap_or_default().to_vec();
                    match unquote(line, i + 1, quote, &mut arg) {
                        Some(next) => i = next,
                        None => return false,
                    }
                    emit(Arg::Unquoted(arg));
                    break;
                }
                Some(_) => i += 1,
            }
        }
    }
}

/// Appends the quoted text starting at `i` (just after the opening `quote`)
/// to `arg`, unescaped; the offset after the closing quote, or `None` if the
/// quote is not closed or not followed by a blank or the end.
fn unquote(line: &[u8], mut i: usize, quote: u8, arg: &mut Vec<u8>) -> Option<usize> {
    loop {
        let c = *line.get(i)?;
        let next = line.get(i + 1).copied();
        if c == quote {
            return match next {
                Some(b) if !is_blank(b) => None,
                _ => Some(i + 1),
            };
        }
        if c == b'\\' && quote == b'"' {
            let hex = (line.get(i + 2).copied().and_then(hex_value))
                .zip(line.get(i + 3).copied().and_then(hex_value));
            match (next, hex) {
                (Some(b'x'), Some((hi, lo))) => {
                    arg.push(hi * 16 + lo);
                    i += 4;
                }
                (Some(escaped), _) => {
                    arg.push(match escaped {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                    i += 2;
                }
                (None, _) => {
                    arg.push(c);
                    i += 1;
                }
            }
        } else if c == b'\\' && quote == b'\'' && next == Some(b'\'') {
            arg.push(b'\'');
            i += 2;
        } else {
            arg.push(c);
            i += 1;
        }
    }
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Redis's `string2ll`: a decimal `i64` with an optional `-`, no `+`, no
/// leading zeros (except `0` itself, so no `-0`), no blanks, fewer than 21
/// bytes.
fn string2ll(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() >= 21 {
        return None;
    }
    if text == b"0" {
        return Some(0);
    }
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (first, rest) = digits.split_first()?;
    if !(b'1'..=b'9').contains(first) {
        return None;
    }
    let mut v = u64::from(first - b'0');
    for &d in rest {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(v)
    } else {
        i64::try_from(v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2ll_is_strict() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"10"), Some(10));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"01",
            b"-0",
            b"00",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"000000000000000000001",
        ] {
            assert_eq!(string2ll(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    fn split(line: &str) -> Option<Vec<Vec<u8>>> {
        let line = line.as_bytes();
        let mut args = Vec::new();
        let ok = split_args(line, |arg| {
            args.push(match arg {
                Arg::Plain(r) => line[r].to_vec(),
                Arg::Unquoted(v) => v,
            })
        });
        ok.then_some(args)
    }

    #[test]
    fn sdssplitargs() {
        let ok: &[(&str, &[&[u8]])] = &[
            ("", &[]),
            ("  \t ", &[]),
            ("\x0b\x0cGET", &[b"GET"]),
            ("GET\x0bk", &[b"GET\x0bk"]),
            ("set  a\tb ", &[b"set", b"a", b"b"]),
            ("a\rb", &[b"a", b"b"]),
            (r#""a b" c"#, &[b"a b", b"c"]),
            (r#"x"a b""#, &[b"xa b"]),
            (r#""""#, &[b""]),
            (r#"'' """#, &[b"", b""]),
            (r#""\n\r\t\b\a\\\"\q""#, &[b"\n\r\t\x08\x07\\\"q"]),
            (r#""\x41\x4a\x4B\x4""#, &[b"AJKx4"]),
            (r#""\xzz""#, &[b"xzz"]),
            (r#"'it\'s' 'a\nb'"#, &[b"it's", b"a\\nb"]),
            ("\"a\"\x0bb", &[b"a", b"b"]),
            ("'a'\x0c", &[b"a"]),
        ];
        for (line, want) in ok {
            let want: Vec<Vec<u8>> = want.iter().map(|a| a.to_vec()).collect();
            assert_eq!(split(line), Some(want), "{line:?}");
        }
        for bad in [
            r#"""#,
            r#""abc"#,
            r#"'abc"#,
            r#""a"b"#,
            r#"'a'b"#,
            r#""a\""#,
            r#""\"#,
            r#"'\'"#,
            r#"a "b"c d"#,
        ] {
            assert_eq!(split(bad), None, "{bad:?}");
        }
    }
}
