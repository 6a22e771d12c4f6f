//! Requests: [`Request`], [`RequestDecoder`] (a server reading them, pipelined, any split of
//! the input) and [`Request::encode`] (a client writing them).

use bytes::{Buf, Bytes, BytesMut};

use super::chunked::Chunked;
use super::error::HttpError;
use super::head::{declared_framing, parse_request_head, Framing, HeadScanner, Limits};
use super::headers::Headers;
use super::types::{Method, Version};

/// An HTTP request: decoded by a server's [`RequestDecoder`], or built by a client and
/// written with [`encode`](Self::encode).
///
/// ```
/// use spindle_protocols::http::{Method, Request};
///
/// let req = Request::new(Method::Post, "/RPC2")
///     .header("Content-Type", "text/xml")
///     .body("<methodCall/>");
/// assert_eq!(req.headers.get_str("content-type"), Some("text/xml"));
/// assert!(req.keep_alive());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The request target as sent: usually a path with an optional `?query`.
    pub target: String,
    /// The version the client spoke.
    pub version: Version,
    /// The header fields, in order.
    pub headers: Headers,
    /// The body, de-chunked; empty when there was none.
    pub body: Bytes,
}

impl Request {
    /// An HTTP/1.1 request with no headers and no body.
    pub fn new(method: Method, target: impl Into<String>) -> Self {
        Request {
            method,
            target: target.into(),
            version: Version::Http11,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a header field (builder style).
    pub fn header(mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Sets the body (builder style).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The target's path: everything before `?`.
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(p, _)| p)
    }

    /// The target's query: everything after the first `?`, if there is one.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// Whether the connection may carry another request after this one's response: HTTP/1.1
    /// unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        keep_alive(self.version, &self.headers)
    }

    /// Appends the request as a client sends it: request line, the header fields, and
    /// `Content-Length` (replacing any given) when there is a body or the method usually
    /// carries one. `Host` is the caller's to add.
    pub fn encode(&self, out: &mut BytesMut) {
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.extend_from_slice(b" ");
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b" ");
        out.extend_from_slice(self.version.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in self.headers.iter() {
            if name.eq_ignore_ascii_case(b"content-length")
                || name.eq_ignore_ascii_case(b"transfer-encoding")
            {
                continue;
            }
            encode_field(out, name, value);
        }
        if !self.body.is_empty()
            || matches!(self.method, Method::Post | Method::Put | Method::Patch)
        {
            encode_field(
                out,
                b"Content-Length",
                self.body.len().to_string().as_bytes(),
            );
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
    }
}

/// Appends `name: value\r\n`.
pub(crate) fn encode_field(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// HTTP/1.x's persistence rule, for requests and responses alike.
pub(crate) fn keep_alive(version: Version, headers: &Headers) -> bool {
    match version {
        Version::Http11 => !headers.has_token("connection", "close"),
        Version::Http10 => headers.has_token("connection", "keep-alive"),
    }
}

/// What [`RequestDecoder::next_event`] hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestEvent {
    /// The head of a request with `Expect: 100-continue` and a body has arrived and passed
    /// the limits: send `HTTP/1.1 100 Continue\r\n\r\n` now, the client waits for it before
    /// sending the body. The [`Request`] follows when the body is in.
    Continue,
    /// A complete request. Pipelined requests come out in the order they were sent.
    Request(Request),
}

/// Where the decoder stands.
#[derive(Debug)]
enum State {
    /// Reading a head.
    Head,
    /// Reading the body of `request`.
    Body {
        request: Request,
        framing: BodyState,
    },
    /// After an error or [`RequestDecoder::eof`]: nothing more comes out.
    Done,
}

#[derive(Debug)]
enum BodyState {
    Length(u64),
    Chunked(Chunked, BytesMut),
}

/// A server's request decoder: bytes in ([`feed`](Self::feed)), [`RequestEvent`]s out
/// ([`next_event`](Self::next_event)), for any split of the input.
///
/// ```
/// use spindle_protocols::http::{RequestDecoder, RequestEvent, Limits};
///
/// let mut rx = RequestDecoder::new(Limits::default());
/// rx.feed(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nh");
/// let Some(Ok(RequestEvent::Request(a))) = rx.next_event() else { panic!() };
/// assert_eq!(a.target, "/a");
/// assert_eq!(rx.next_event(), None); // the second body is not in yet
/// rx.feed(b"i");
/// let Some(Ok(RequestEvent::Request(b))) = rx.next_event() else { panic!() };
/// assert_eq!(&b.body[..], b"hi");
/// ```
///
/// Empty lines before a request line are skipped (RFC 9112 §2.2). Lines may end in CRLF or
/// a bare LF. Each byte of a head is scanned once, whatever the split. What is buffered
/// while waiting stays within the [`Limits`]: a head's limits, or the body limit (a
/// `Content-Length` body is handed out as a slice of the buffer, a chunked one is copied out
/// as it arrives).
///
/// After an error the decoder is done: the buffer is dropped and `next_event` returns
/// `None`. [`eof`](Self::eof) tells it the peer closed, so a half-sent request becomes an
/// error.
#[derive(Debug)]
pub struct RequestDecoder {
    limits: Limits,
    buf: BytesMut,
    state: State,
    scanner: HeadScanner,
    eof: bool,
}

impl RequestDecoder {
    /// A decoder with these limits.
    pub fn new(limits: Limits) -> Self {
        RequestDecoder {
            limits,
            buf: BytesMut::new(),
            state: State::Head,
            scanner: HeadScanner::default(),
            eof: false,
        }
    }

    /// The decoder's limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Appends received bytes. Ignored once the decoder is done.
    pub fn feed(&mut self, data: &[u8]) {
        if !matches!(self.state, State::Done) {
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes received and not yet handed out.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True between requests: no part of a request has been received.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Head) && self.buf.iter().all(|&b| b == b'\r' || b == b'\n')
    }

    /// The peer closed its side: a request in progress becomes an error from the next call
    /// of [`next_event`](Self::next_event); complete requests before it still come out.
    pub fn eof(&mut self) {
        self.eof = true;
    }

    /// The next event, `None` when more bytes are needed (or after an error).
    pub fn next_event(&mut self) -> Option<Result<RequestEvent, HttpError>> {
        let step = match self.step() {
            Ok(None) if self.eof && !matches!(self.state, State::Done) => {
                if self.is_idle() {
                    self.state = State::Done;
                    Ok(None)
                } else {
                    Err(HttpError::Malformed("connection closed within a request"))
                }
            }
            other => other,
        };
        match step {
            Ok(event) => event.map(Ok),
            Err(e) => {
                self.state = State::Done;
                self.buf = BytesMut::new();
                Some(Err(e))
            }
        }
    }

    fn step(&mut self) -> Result<Option<RequestEvent>, HttpError> {
        loop {
            match &mut self.state {
                State::Done => return Ok(None),
                State::Head => {
                    let blank = self
                        .buf
                        .iter()
                        .take_while(|&&b| b == b'\r' || b == b'\n')
                        .count();
                    self.buf.advance(blank);
                    let Some(len) = self
                        .scanner
                        .scan(&self.buf, &self.limits)
                        .map_err(|e| e.for_request(&self.limits))?
                    else {
                        return Ok(None);
                    };
                    let head = self.buf.split_to(len).freeze();
                    let (request, framing) = self.parse_head(&head)?;
                    let expects = expects_continue(&request)?;
                    match framing {
                        Framing::Length(0) | Framing::UntilClose => {
                            return Ok(Some(RequestEvent::Request(request)));
                        }
                        Framing::Length(n) => {
                            self.state = State::Body {
                                request,
                                framing: BodyState::Length(n),
                            };
                        }
                        Framing::Chunked => {
                            self.state = State::Body {
                                request,
                                framing: BodyState::Chunked(Chunked::Size, BytesMut::new()),
                            };
                        }
                    }
                    if expects {
                        return Ok(Some(RequestEvent::Continue));
                    }
                }
                State::Body { framing, .. } => {
                    let body = match framing {
                        BodyState::Length(n) => {
                            let n = usize::try_from(*n).unwrap_or(usize::MAX);
                            if self.buf.len() < n {
                                return Ok(None);
                            }
                            self.buf.split_to(n).freeze()
                        }
                        BodyState::Chunked(state, body) => {
                            if !state.decode(&mut self.buf, body, &self.limits)? {
                                return Ok(None);
                            }
                            std::mem::take(body).freeze()
                        }
                    };
                    let State::Body { mut request, .. } =
                        std::mem::replace(&mut self.state, State::Head)
                    else {
                        return Ok(None);
                    };
                    request.body = body;
                    return Ok(Some(RequestEvent::Request(request)));
                }
            }
        }
    }

    fn parse_head(&self, head: &Bytes) -> Result<(Request, Framing), HttpError> {
        let (method, target, version, headers) = parse_request_head(head, self.limits.max_headers)?;
        let framing = declared_framing(&headers)?.unwrap_or(Framing::Length(0));
        if let Framing::Length(n) = framing {
            if n > self.limits.max_body {
                return Err(HttpError::BodyTooLarge {
                    limit: self.limits.max_body,
                });
            }
        }
        let request = Request {
            method,
            target,
            version,
            headers,
            body: Bytes::new(),
        };
        Ok((request, framing))
    }
}

/// Whether the client waits for `100 Continue` before sending the body: `Expect:
/// 100-continue` from an HTTP/1.1 client. Any other expectation fails (417); HTTP/1.0
/// clients' expectations are ignored (RFC 9110 §10.1.1).
fn expects_continue(request: &Request) -> Result<bool, HttpError> {
    if request.version == Version::Http10 {
        return Ok(false);
    }
    let mut expects = false;
    for value in request.headers.get_all("expect") {
        if !value.eq_ignore_ascii_case(b"100-continue") {
            return Err(HttpError::ExpectationFailed);
        }
        expects = true;
    }
    Ok(expects)
}
