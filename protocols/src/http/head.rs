//! The part requests and responses share: finding the end of a head in the receive buffer
//! within the limits, splitting it into lines, and reading header fields.

use std::mem::MaybeUninit;

use bytes::Bytes;

use super::error::HttpError;
use super::headers::Headers;
use super::types::{Method, Version};

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
            let Some(lf) = find_lf(rest) else {
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

/// The position of the first LF in `bytes`: eight bytes at a time (the head scanner's
/// inner loop; a byte-at-a-time search was most of its cost).
pub(crate) fn find_lf(bytes: &[u8]) -> Option<usize> {
    const LF: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in words.by_ref() {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let x = u64::from_le_bytes(w) ^ LF;
        let found = x.wrapping_sub(LOW) & !x & HIGH;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| at + i)
}

/// A line without its final CR, if any.
pub(crate) fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Header fields a head may hold when tokenized on the stack; more (a larger
/// [`Limits::max_headers`]) take a heap array.
const STACK_FIELDS: usize = 128;

/// A complete request head: method, target, version and fields, tokenized by `httparse`
/// (SIMD-accelerated; measured against the codec's former tokenizer in
/// `benches/http_codec.rs`) and checked to this codec's rules. `head` holds the head only,
/// from the request line to the empty line, and `max_headers` fields at most (the scanner
/// saw to it).
pub(crate) fn parse_request_head(
    head: &Bytes,
    max_headers: usize,
) -> Result<(Method, String, Version, Headers), HttpError> {
    // Uninitialized: zeroing 128 fields per head cost more than tokenizing a short one.
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_FIELDS];
    let mut heap = Vec::new();
    let fields: &mut [MaybeUninit<httparse::Header<'_>>] = match stack.get_mut(..max_headers) {
        Some(fields) => fields,
        None => {
            heap.resize_with(max_headers, MaybeUninit::uninit);
            &mut heap
        }
    };
    let mut req = httparse::Request::new(&mut []);
    match httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut req, head, fields)
    {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HttpError::Malformed("incomplete head")),
        Err(e) => return Err(request_error(head, e)),
    }
    let method = Method::parse(req.method.unwrap_or_default().as_bytes())?;
    let version = match req.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    let target = req.path.unwrap_or_default();
    if target.is_empty() || !target.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(HttpError::Malformed("invalid request target"));
    }
    Ok((
        method,
        target.to_owned(),
        version,
        fields_of(head, req.headers),
    ))
}

/// A complete response head: status, reason, version and fields, as
/// [`parse_request_head`] does for requests.
pub(crate) fn parse_response_head(
    head: &Bytes,
    max_headers: usize,
) -> Result<(u16, String, Version, Headers), HttpError> {
    // Uninitialized: zeroing 128 fields per head cost more than tokenizing a short one.
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_FIELDS];
    let mut heap = Vec::new();
    let fields: &mut [MaybeUninit<httparse::Header<'_>>] = match stack.get_mut(..max_headers) {
        Some(fields) => fields,
        None => {
            heap.resize_with(max_headers, MaybeUninit::uninit);
            &mut heap
        }
    };
    let mut resp = httparse::Response::new(&mut []);
    match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, head, fields)
    {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HttpError::Malformed("incomplete head")),
        Err(httparse::Error::Version) => {
            let line = head
                .split(|&b| b == b' ' || b == b'\n')
                .next()
                .unwrap_or_default();
            return Err(Version::parse(line)
                .err()
                .unwrap_or(HttpError::Malformed("invalid version")));
        }
        Err(_) => return Err(HttpError::Malformed("invalid response head")),
    }
    let status = resp.code.unwrap_or_default();
    if !(100..1000).contains(&status) {
        return Err(HttpError::Malformed("invalid status line"));
    }
    let version = match resp.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    let reason = resp.reason.unwrap_or_default().to_owned();
    Ok((status, reason, version, fields_of(head, resp.headers)))
}

/// The fields `httparse` found, as slices of `head` (no copies).
fn fields_of(head: &Bytes, fields: &[httparse::Header<'_>]) -> Headers {
    let mut headers = Headers::with_capacity(fields.len());
    for field in fields {
        headers.append(
            head.slice_ref(field.name.as_bytes()),
            head.slice_ref(field.value),
        );
    }
    headers
}

/// A request head `httparse` refused, in this codec's terms: an unknown but well-formed
/// method is 501 and a well-formed version other than 1.0/1.1 is 505 (`httparse` reports
/// both as plain errors), everything else 400.
fn request_error(head: &[u8], error: httparse::Error) -> HttpError {
    let line = head
        .split(|&b| b == b'\n')
        .next()
        .map(strip_cr)
        .unwrap_or_default();
    let mut parts = line.splitn(3, |&b| b == b' ');
    if let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    {
        if !target.is_empty() && !version.contains(&b' ') {
            if let Err(e @ HttpError::UnsupportedVersion) = Version::parse(version) {
                return match Method::parse(method) {
                    Err(HttpError::Malformed(m)) => HttpError::Malformed(m),
                    _ => e,
                };
            }
        }
    }
    HttpError::Malformed(match error {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line end",
        httparse::Error::Token => "invalid request line",
        httparse::Error::Version => "invalid HTTP version",
        httparse::Error::Status | httparse::Error::TooManyHeaders => "invalid head",
    })
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
    fn find_lf_at_every_position() {
        for len in 0..20 {
            for lf in 0..=len {
                let mut v = vec![b'\x8a'; len];
                if lf < len {
                    v[lf] = b'\n';
                    v.push(b'\n');
                }
                assert_eq!(find_lf(&v), (lf < len).then_some(lf), "{len} {lf}");
            }
        }
    }

    #[test]
    fn heads() {
        let head = Bytes::from_static(b"GET /a?b HTTP/1.0\r\nHost:  a b \t\r\nX: 1\r\n\r\n");
        let (method, target, version, headers) = parse_request_head(&head, 100).unwrap();
        assert_eq!(
            (method, target.as_str(), version),
            (Method::Get, "/a?b", Version::Http10)
        );
        assert_eq!(headers.get("host"), Some(&b"a b"[..]));
        let status = |h: &'static [u8]| {
            parse_request_head(&Bytes::from_static(h), 100)
                .unwrap_err()
                .status()
        };
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nA: \x01\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nnocolon\r\n\r\n"), 400);
        assert_eq!(status(b"BREW / HTTP/1.1\r\n\r\n"), 501);
        assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(status(b"G@T / HTTP/2.0\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.x\r\n\r\n"), 400);
        let head = Bytes::from_static(b"HTTP/1.1 404 Not Found\r\nA: b\r\n\r\n");
        let (code, reason, _, headers) = parse_response_head(&head, 100).unwrap();
        assert_eq!(
            (code, reason.as_str(), headers.len()),
            (404, "Not Found", 1)
        );
        let head = Bytes::from_static(b"HTTP/3.0 200 OK\r\n\r\n");
        assert_eq!(
            parse_response_head(&head, 100).unwrap_err(),
            HttpError::UnsupportedVersion
        );
        assert_eq!(parse_decimal(b"0012"), Some(12));
        assert_eq!(parse_decimal(b"99999999999999999999"), None);
        assert_eq!(parse_decimal(b"1a"), None);
    }
}
