//! [`decode_frame`]: bytes to one [`Frame`], RESP2 or RESP3, as a client reads replies.

use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::error::DecodeError;
use super::frame::Frame;

/// Bounds on what [`decode_frame`] accepts, so that a peer cannot make it
/// buffer or nest without end. Each bound is inclusive and has its own
/// [`DecodeError`] variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest bulk string, blob error or verbatim string, in bytes.
    /// Default: 512 MiB, Redis's `proto-max-bulk-len`.
    pub max_bulk_len: usize,
    /// Most elements in one aggregate (pairs, for maps and attributes).
    /// Default: 2³² − 1, hiredis's `maxelements`.
    pub max_elements: usize,
    /// Deepest nesting of aggregates: `*1\r\n*1\r\n:1\r\n` is 2 deep, a
    /// scalar 0. An attribute is a level around the frame it describes:
    /// `|1\r\n+a\r\n+b\r\n*1\r\n:1\r\n` is 2 deep.
    /// Default: 32. Each level is a stack frame of the decoder, so keep this
    /// in the hundreds at most.
    pub max_depth: usize,
    /// Longest line (simple string, error, number, length header), in bytes,
    /// not counting its CRLF. Default: 64 KiB, Redis's `PROTO_INLINE_MAX_SIZE`.
    pub max_line_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_elements: u32::MAX as usize,
            max_depth: 32,
            max_line_len: 64 * 1024,
        }
    }
}

/// Decodes one frame from the front of `buf`.
///
/// Returns `Ok(None)` if `buf` holds no complete frame yet (nothing is
/// consumed: call again when more bytes have arrived), or `Ok(Some(frame))`
/// after removing exactly that frame's bytes from `buf`; any bytes after it
/// (pipelined replies) stay. String payloads are split off `buf` without
/// copying.
///
/// ```
/// use bytes::BytesMut;
/// use spindle_protocols::resp::{decode_frame, Frame, Limits};
///
/// let limits = Limits::default();
/// let mut buf = BytesMut::from(&b"*2\r\n:1\r\n$3\r\nfoo\r\n+OK\r"[..]);
/// let frame = decode_frame(&mut buf, &limits).unwrap();
/// assert_eq!(frame, Some(Frame::Array(vec![Frame::Integer(1), Frame::bulk("foo")])));
/// assert_eq!(decode_frame(&mut buf, &limits).unwrap(), None); // "+OK\r" waits for "\n"
/// buf.extend_from_slice(b"\n");
/// assert_eq!(decode_frame(&mut buf, &limits).unwrap(), Some(Frame::simple("OK")));
/// ```
///
/// # Wire format
///
/// Every type of RESP2 and RESP3 except RESP3's streamed strings and
/// aggregates (`$?`, `*?`, `;`, `.`), which Redis never sends; see
/// [`Frame`] for the table. Decoding is strict: lines end in CRLF (a bare CR
/// or LF is an error), a bulk payload must be followed by CRLF, and only
/// `$-1` and `*-1` may be negative.
///
/// # Errors
///
/// A [`DecodeError`] when the bytes are not RESP or exceed `limits`; the
/// framing is then lost and `buf` is left as it was.
///
/// # Cost
///
/// Nothing is allocated until a whole frame has arrived: a first pass walks
/// the buffered bytes and only checks them; the second builds the frame, with
/// every `Vec` sized by an element count already seen in full. Declaring a
/// huge bulk or array and sending nothing more costs nothing. The decoder
/// keeps no state between calls, so each call walks the unfinished frame from
/// its start: call it once per read, not once per byte, for large replies.
pub fn decode_frame(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, DecodeError> {
    let mut check = Parser {
        src: buf.as_ref(),
        pos: 0,
        limits,
        bytes: None,
    };
    if check.frame(0)?.is_none() {
        return Ok(None);
    }
    let len = check.pos;
    let frame = buf.split_to(len).freeze();
    let mut build = Parser {
        src: frame.as_ref(),
        pos: 0,
        limits,
        bytes: Some(&frame),
    };
    // The first pass saw a complete, valid frame in exactly these bytes, and
    // both passes run the same code, so this cannot be `None` or an error.
    build.frame(0)?.ok_or(DecodeError::InvalidLength).map(Some)
}

/// A decoding step: `Ok(None)` means "the frame is not complete yet".
type Step<T> = Result<Option<T>, DecodeError>;

/// Unwraps a complete step, or returns "need more bytes".
macro_rules! ready {
    ($step:expr) => {
        match $step? {
            Some(value) => value,
            None => return Ok(None),
        }
    };
}

/// A cursor over the buffered bytes. Without `bytes` it only checks (and
/// builds placeholder frames, allocating nothing); with `bytes` (the same
/// bytes, frozen) it builds the frame, slicing payloads out of `bytes`.
struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    limits: &'a Limits,
    bytes: Option<&'a Bytes>,
}

impl<'a> Parser<'a> {
    fn frame(&mut self, depth: usize) -> Step<Frame> {
        let Some(&kind) = self.src.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        let frame = match kind {
            b'+' | b'-' => {
                let range = ready!(self.line());
                let text = self.slice(range);
                if kind == b'+' {
                    Frame::Simple(text)
                } else {
                    Frame::Error(text)
                }
            }
            b':' => {
                let range = ready!(self.line());
                Frame::Integer(parse_i64(self.text(range))?)
            }
            b'$' | b'!' => match ready!(self.blob(kind == b'$')) {
                Some(range) if kind == b'$' => Frame::Bulk(self.slice(range)),
                Some(range) => Frame::Error(self.slice(range)),
                None => Frame::Null,
            },
            b'=' => {
                let Some(range) = ready!(self.blob(false)) else {
                    return Err(DecodeError::InvalidLength);
                };
                let text = self.text(range.clone());
                let (Some(format), Some(b':')) = (text.get(..3), text.get(3)) else {
                    return Err(DecodeError::InvalidVerbatim);
                };
                let mut fmt = [0; 3];
                fmt.copy_from_slice(format);
                Frame::Verbatim {
                    format: fmt,
                    text: self.slice(range.start + 4..range.end),
                }
            }
            b'_' => {
                if !ready!(self.line()).is_empty() {
                    return Err(DecodeError::InvalidNull);
                }
                Frame::Null
            }
            b',' => {
                let range = ready!(self.line());
                Frame::Double(parse_double(self.text(range))?)
            }
            b'#' => {
                let range = ready!(self.line());
                match self.text(range) {
                    b"t" => Frame::Boolean(true),
                    b"f" => Frame::Boolean(false),
                    _ => return Err(DecodeError::InvalidBoolean),
                }
            }
            b'(' => {
                let range = ready!(self.line());
                let digits = self.text(range.clone());
                let unsigned = match digits.split_first() {
                    Some((b'-' | b'+', rest)) => rest,
                    _ => digits,
                };
                if unsigned.is_empty() || !unsigned.iter().all(u8::is_ascii_digit) {
                    return Err(DecodeError::InvalidBigNumber);
                }
                Frame::BigNumber(self.slice(range))
            }
            b'*' => match ready!(self.header(true)) {
                Some(n) => Frame::Array(ready!(self.items(n, depth))),
                None => Frame::Null,
            },
            b'~' | b'>' => {
                let n = ready!(self.count());
                let items = ready!(self.items(n, depth));
                if kind == b'~' {
                    Frame::Set(items)
                } else {
                    Frame::Push(items)
                }
            }
            b'%' => {
                let n = ready!(self.count());
                Frame::Map(ready!(self.pairs(n, depth)))
            }
            b'|' => {
                let n = ready!(self.count());
                let attributes = ready!(self.pairs(n, depth));
                // The described frame counts one level deeper, so a chain of
                // attributes cannot recurse without bound.
                let value = ready!(self.frame(depth + 1));
                Frame::Attribute {
                    attributes,
                    value: Box::new(value),
                }
            }
            other => return Err(DecodeError::InvalidType(other)),
        };
        Ok(Some(frame))
    }

    /// The next line, without its CRLF, as a range of `src`; moves past it.
    fn line(&mut self) -> Step<Range<usize>> {
        let start = self.pos;
        let rest = self.src.get(start..).unwrap_or_default();
        let window = rest
            .get(..self.limits.max_line_len.saturating_add(1))
            .unwrap_or(rest);
        let Some(at) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
            if rest.len() > self.limits.max_line_len {
                return Err(DecodeError::LineTooLong {
                    limit: self.limits.max_line_len,
                });
            }
            return Ok(None);
        };
        match (window.get(at), rest.get(at + 1)) {
            (Some(b'\r'), Some(b'\n')) => {
                self.pos = start + at + 2;
                Ok(Some(start..start + at))
            }
            (Some(b'\r'), None) => Ok(None),
            _ => Err(DecodeError::InvalidLineEnding),
        }
    }

    /// A length header: `Some(n)`, or `None` for `-1` if `null_ok`.
    fn header(&mut self, null_ok: bool) -> Step<Option<usize>> {
        let range = ready!(self.line());
        let text = self.text(range);
        if null_ok && text == b"-1" {
            return Ok(Some(None));
        }
        parse_len(text).map(|n| Some(Some(n)))
    }

    /// A length header that may not be null.
    fn count(&mut self) -> Step<usize> {
        match ready!(self.header(false)) {
            Some(n) => Ok(Some(n)),
            None => Err(DecodeError::InvalidLength),
        }
    }

    /// A length-prefixed payload (`$`, `!`, `=`): its range, or `None` for
    /// `$-1` if `null_ok`.
    fn blob(&mut self, null_ok: bool) -> Step<Option<Range<usize>>> {
        let Some(len) = ready!(self.header(null_ok)) else {
            return Ok(Some(None));
        };
        if len > self.limits.max_bulk_len {
            return Err(DecodeError::BulkTooLong {
                len,
                limit: self.limits.max_bulk_len,
            });
        }
        let start = self.pos;
        let end = start.saturating_add(len);
        match self.src.get(end..end.saturating_add(2)) {
            None => Ok(None),
            Some(b"\r\n") => {
                self.pos = end + 2;
                Ok(Some(Some(start..end)))
            }
            Some(_) => Err(DecodeError::InvalidLineEnding),
        }
    }

    /// Checks an aggregate's size and depth before reading its elements.
    fn enter(&self, n: usize, depth: usize) -> Result<(), DecodeError> {
        if n > self.limits.max_elements {
            return Err(DecodeError::TooManyElements {
                len: n,
                limit: self.limits.max_elements,
            });
        }
        if depth >= self.limits.max_depth {
            return Err(DecodeError::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        Ok(())
    }

    /// A `Vec` for `n` elements of at least `min_size` bytes each: sized by
    /// what the buffer can actually hold, and only when building.
    fn vec<T>(&self, n: usize, min_size: usize) -> Vec<T> {
        if self.bytes.is_none() {
            return Vec::new();
        }
        let room = self.src.len().saturating_sub(self.pos) / min_size;
        Vec::with_capacity(n.min(room))
    }

    fn items(&mut self, n: usize, depth: usize) -> Step<Vec<Frame>> {
        self.enter(n, depth)?;
        let mut items = self.vec(n, 3);
        for _ in 0..n {
            let item = ready!(self.frame(depth + 1));
            if self.bytes.is_some() {
                items.push(item);
            }
        }
        Ok(Some(items))
    }

    fn pairs(&mut self, n: usize, depth: usize) -> Step<Vec<(Frame, Frame)>> {
        self.enter(n, depth)?;
        let mut pairs = self.vec(n, 6);
        for _ in 0..n {
            let key = ready!(self.frame(depth + 1));
            let value = ready!(self.frame(depth + 1));
            if self.bytes.is_some() {
                pairs.push((key, value));
            }
        }
        Ok(Some(pairs))
    }

    fn text(&self, range: Range<usize>) -> &'a [u8] {
        self.src.get(range).unwrap_or_default()
    }

    /// The payload in `range`, sliced out of the frozen frame (empty when
    /// only checking).
    fn slice(&self, range: Range<usize>) -> Bytes {
        match self.bytes {
            Some(bytes) if range.end <= bytes.len() && range.start <= range.end => {
                bytes.slice(range)
            }
            _ => Bytes::new(),
        }
    }
}

/// A non-negative decimal length.
fn parse_len(text: &[u8]) -> Result<usize, DecodeError> {
    if text.is_empty() {
        return Err(DecodeError::InvalidLength);
    }
    text.iter().try_fold(0usize, |n, &b| {
        if !b.is_ascii_digit() {
            return Err(DecodeError::InvalidLength);
        }
        n.checked_mul(10)
            .and_then(|n| n.checked_add(usize::from(b - b'0')))
            .ok_or(DecodeError::InvalidLength)
    })
}

/// An optionally signed decimal `i64` (RESP3 allows a `+`).
fn parse_i64(text: &[u8]) -> Result<i64, DecodeError> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return Err(DecodeError::InvalidInteger);
    }
    digits.iter().try_fold(0i64, |n, &b| {
        if !b.is_ascii_digit() {
            return Err(DecodeError::InvalidInteger);
        }
        let d = i64::from(b - b'0');
        // Accumulate toward the sign so that i64::MIN fits.
        let next = n.checked_mul(10).and_then(|n| {
            if negative {
                n.checked_sub(d)
            } else {
                n.checked_add(d)
            }
        });
        next.ok_or(DecodeError::InvalidInteger)
    })
}

/// A RESP3 double: a decimal number (with optional exponent), `inf`, `-inf`
/// or `nan`.
fn parse_double(text: &[u8]) -> Result<f64, DecodeError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .ok_or(DecodeError::InvalidDouble)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_i64(b"0"), Ok(0));
        assert_eq!(parse_i64(b"+7"), Ok(7));
        assert_eq!(parse_i64(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Ok(i64::MAX));
        for bad in [
            &b""[..],
            b"-",
            b"+",
            b"9223372036854775808",
            b"1 ",
            b"0x1",
            b"--1",
        ] {
            assert_eq!(parse_i64(bad), Err(DecodeError::InvalidInteger), "{bad:?}");
        }
    }

    #[test]
    fn lengths() {
        assert_eq!(parse_len(b"007"), Ok(7));
        for bad in [&b""[..], b"-1", b"+1", b"1.0", b"99999999999999999999999"] {
            assert_eq!(parse_len(bad), Err(DecodeError::InvalidLength), "{bad:?}");
        }
    }
}
