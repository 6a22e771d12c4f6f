//! The part requests and responses share: finding the end of a head in the receive buffer
//! within the limits, splitting it into lines, and reading header fields.

use bytes::Bytes;

use super::error::HttpError;
use super::headers::{trim, Headers};
use super::types::is_token;

/// Bounds on what a decoder buffers and accepts; each is inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (or a response's status line), without its line end.
    /// Default 8 KiB; over it a request gets 414.
    pub max_request_line: usize,
    /// Largest header section: the header lines after the first line, line ends included,
    /// and likewise a chunked body's trailer section. Default 64 KiB; over it 431.
    pub max_headers_size: usize,
    /// Most header fields (or trailer fields). Default 100; over it 431.
    pub max_headers: usize,
    /// Largest body, once de-chunked. Default 16 MiB; over it 413.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_headers_size: 64 * 1024,
            max_headers: 100,
            max_body: 16 * 1024 * 1024,
        }
    }
}

/// Why [`HeadScanner::scan`] stopped, before the caller names the error in its own terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanError {
    FirstLineTooLong,
    HeadersTooLarge,
    TooManyHeaders,
}

impl ScanError {
    /// The error for a request's head (the first line is the request line: 414).
    pub(crate) fn for_request(self, limits: &Limits) -> HttpError {
        match self {
            ScanError::FirstLineTooLong => HttpError::RequestLineTooLong {
                limit: limits.max_request_line,
            },
            ScanError::HeadersTooLarge => HttpError::HeadersTooLarge {
                limit: limits.max_headers_size,
            },
            ScanError::TooManyHeaders => HttpError::TooManyHeaders {
                limit: limits.max_headers,
            },
        }
    }

    /// The error for a response's head.
    pub(crate) fn for_response(self, limits: &Limits) -> HttpError {
        match self {
            ScanError::FirstLineTooLong => HttpError::Malformed("status line too long"),
            other => other.for_request(limits),
        }
    }
}

/// Finds the end of a head (the empty line) in a growing buffer, remembering how far it
/// looked so that each byte is scanned once however the input is cut.
#[derive(Debug, Default)]
pub(crate) struct HeadScanner {
    /// Where the current line starts.
    line_start: usize,
    /// Where the first line ended (after its LF), once it has.
    first_line_end: Option<usize>,
    /// Header lines seen so far.
    lines: usize,
}

impl HeadScanner {
    /// Scans `buf` (which starts at the head and only grows between calls until the head is
    /// taken): `Ok(Some(len))` when the head, empty line included, is `buf[..len]`.
    pub(crate) fn scan(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, ScanError> {
        loop {
            let rest = buf.get(self.line_start..).unwrap_or_default();
            let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
                return match self.first_line_end {
                    None if rest.len() > limits.max_request_line + 1 => {
                        Err(ScanError::FirstLineTooLong)
                    }
                    Some(first)
                        if buf.len().saturating_sub(first) > limits.max_headers_size + 2 =>
                    {
                        Err(ScanError::HeadersTooLarge)
                    }
                    _ => Ok(None),
                };
            };
            let end = self.line_start + lf + 1;
            let line = strip_cr(rest.get(..lf).unwrap_or_default());
            match self.first_line_end {
                None => {
                    if line.len() > limits.max_request_line {
                        return Err(ScanError::FirstLineTooLong);
                    }
                    self.first_line_end = Some(end);
                }
                Some(first) => {
                    if end.saturating_sub(first) > limits.max_headers_size + 2 {
                        return Err(ScanError::HeadersTooLarge);
                    }
                    if line.is_empty() {
                        *self = HeadScanner::default();
                        return Ok(Some(end));
                    }
                    self.lines += 1;
                    if self.lines > limits.max_headers {
                        return Err(ScanError::TooManyHeaders);
                    }
                }
            }
            self.line_start = end;
        }
    }
}

/// A line without its final CR, if any.
pub(crate) fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Splits a complete head into its first line and its header fields.
pub(crate) fn split_head(head: &Bytes) -> Result<(Bytes, Headers), HttpError> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(strip_cr)
        .filter(|l| !l.is_empty());
    let first = lines.next().map(|l| head.slice_ref(l)).unwrap_or_default();
    let mut headers = Headers::new();
    for line in lines {
        let (name, value) = header_field(line)?;
        headers.append(head.slice_ref(name), head.slice_ref(value));
    }
    Ok((first, headers))
}

/// `name: value` → (name, value without surrounding whitespace), strictly: a token name
/// right before the colon, no line folding, no control bytes in the value.
fn header_field(line: &[u8]) -> Result<(&[u8], &[u8]), HttpError> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(HttpError::Malformed("obsolete line folding"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HttpError::Malformed("header line without a colon"))?;
    let (name, value) = line.split_at(colon);
    if !is_token(name) {
        return Err(HttpError::Malformed("invalid header name"));
    }
    let value = trim(value.get(1..).unwrap_or_default());
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HttpError::Malformed("control character in header value"));
    }
    Ok((name, value))
}

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
}

/// The framing the headers declare: `Some(Chunked)`, `Some(Length)`, `None` when neither
/// header is present, or an error for conflicting or unreadable framing headers.
pub(crate) fn declared_framing(headers: &Headers) -> Result<Option<Framing>, HttpError> {
    let has_te = headers.contains("transfer-encoding");
    let mut length: Option<u64> = None;
    for value in headers.get_all("content-length") {
        let n = parse_decimal(value).ok_or(HttpError::Malformed("invalid content-length"))?;
        if length.is_some_and(|l| l != n) {
            return Err(HttpError::Malformed("conflicting content-length"));
        }
        length = Some(n);
    }
    if has_te {
        if length.is_some() {
            return Err(HttpError::Malformed(
                "both transfer-encoding and content-length",
            ));
        }
        let mut codings = headers.tokens("transfer-encoding");
        let chunked_only = codings
            .next()
            .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"))
            && codings.next().is_none();
        if !chunked_only {
            return Err(HttpError::UnsupportedTransferCoding);
        }
        return Ok(Some(Framing::Chunked));
    }
    Ok(length.map(Framing::Length))
}

/// A non-empty run of ASCII digits as a `u64`, or `None` (also on overflow).
pub(crate) fn parse_decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    text.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_request_line: 10,
            max_headers_size: 20,
            max_headers: 2,
            max_body: 100,
        }
    }

    #[test]
    fn scanner_is_indifferent_to_cuts() {
        let head = b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest";
        let limits = Limits::default();
        for cut in 0..head.len() {
            let mut s = HeadScanner::default();
            let first = s.scan(&head[..cut], &limits).unwrap();
            let second = s.scan(head, &limits).unwrap();
            assert_eq!(first.or(second), Some(24), "cut at {cut}");
        }
    }

    #[test]
    fn scanner_limits() {
        let l = limits();
        let mut s = HeadScanner::default();
        assert_eq!(s.scan(b"0123456789\r\n\r\n", &l), Ok(Some(14)));
        let mut s = HeadScanner::default();
        assert_eq!(s.scan(b"0123456789\r", &l), Ok(None));
        assert_eq!(
            s.scan(b"0123456789xy", &l),
            Err(ScanError::FirstLineTooLong)
        );
        let mut s = HeadScanner::default();
        assert_eq!(
            s.scan(b"x\r\na:1\r\nb:2\r\nc:3\r\n", &l),
            Err(ScanError::TooManyHeaders)
        );
        let mut s = HeadScanner::default();
        assert_eq!(
            s.scan(b"x\r\na:12345678901234567890123", &l),
            Err(ScanError::HeadersTooLarge)
        );
    }

    #[test]
    fn header_fields() {
        assert_eq!(
            header_field(b"Host:  a b \t"),
            Ok((&b"Host"[..], &b"a b"[..]))
        );
        assert!(header_field(b"Host : x").is_err());
        assert!(header_field(b" folded").is_err());
        assert!(header_field(b"A: \x01").is_err());
        assert!(header_field(b"nocolon").is_err());
        assert_eq!(parse_decimal(b"0012"), Some(12));
        assert_eq!(parse_decimal(b"99999999999999999999"), None);
        assert_eq!(parse_decimal(b"1a"), None);
    }
}
