//! Responses: [`Response`] (built by a server and written with [`Response::encode`], or
//! decoded by a client's [`ResponseDecoder`]).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::chunked::Chunked;
use super::error::HttpError;
use super::head::{declared_framing, parse_response_head, Framing, HeadScanner, Limits};
use super::headers::Headers;
use super::request::{encode_field, keep_alive, Request};
use super::types::{reason_phrase, Method, Version};

/// An HTTP response: built by a server and written with [`encode`](Self::encode), or
/// decoded by a client's [`ResponseDecoder`].
///
/// ```
/// use bytes::BytesMut;
/// use spindle_protocols::http::{Method, ReplyTo, Response, Version};
///
/// let mut out = BytesMut::new();
/// let to = ReplyTo { method: Method::Get, version: Version::Http11, keep_alive: true };
/// Response::text(200, "hi").encode(&mut out, &to);
/// assert_eq!(
///     &out[..],
///     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nhi"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase (informative only: clients go by the code).
    pub reason: String,
    /// The version the server spoke (a built response is always sent as HTTP/1.1).
    pub version: Version,
    /// The header fields, in order.
    pub headers: Headers,
    /// The body, de-chunked; empty when there was none.
    pub body: Bytes,
}

/// What a response's encoding depends on in the request it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyTo {
    /// The request's method: `HEAD` responses carry no body.
    pub method: Method,
    /// The request's version: an HTTP/1.0 client is told `Connection: keep-alive` when the
    /// connection stays open.
    pub version: Version,
    /// Whether the connection stays open after this response; false adds
    /// `Connection: close`.
    pub keep_alive: bool,
}

impl ReplyTo {
    /// For a response to `request`, keeping the connection as the request asks.
    pub fn request(request: &Request) -> Self {
        ReplyTo {
            method: request.method,
            version: request.version,
            keep_alive: request.keep_alive(),
        }
    }
}

impl Response {
    /// A response with `status`, its standard reason phrase, no headers and no body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            reason: reason_phrase(status).to_owned(),
            version: Version::Http11,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Response::new(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(text.into())
    }

    /// An `application/json` response whose body is `json`, already serialized.
    pub fn json(status: u16, json: impl Into<Bytes>) -> Self {
        Response::new(status)
            .header("Content-Type", "application/json")
            .body(json)
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

    /// Whether the server keeps the connection open after this response, by HTTP/1.x's
    /// rules (a response read until close never does: see [`ResponseDecoder`]).
    pub fn keep_alive(&self) -> bool {
        keep_alive(self.version, &self.headers)
    }

    /// True for the statuses that never carry a body: 1xx, 204 and 304.
    pub fn is_bodiless_status(status: u16) -> bool {
        (100..200).contains(&status) || status == 204 || status == 304
    }

    /// Appends the response: status line, the header fields (but `Content-Length`,
    /// `Transfer-Encoding` and `Connection`, which this writes itself), `Content-Length`
    /// unless the status forbids a body, and the body unless the request was `HEAD`.
    ///
    /// Returns whether the connection stays open: `to.keep_alive`, unless the response's
    /// own headers say `Connection: close`.
    pub fn encode(&self, out: &mut BytesMut, to: &ReplyTo) -> bool {
        let open = self.encode_head(out, to);
        if !Response::is_bodiless_status(self.status) {
            encode_field(
                out,
                b"Content-Length",
                self.body.len().to_string().as_bytes(),
            );
            out.extend_from_slice(b"\r\n");
            if to.method != Method::Head {
                out.extend_from_slice(&self.body);
            }
        } else {
            out.extend_from_slice(b"\r\n");
        }
        open
    }

    /// Appends the head of a response whose body follows in chunks
    /// ([`encode_chunk`](super::encode_chunk), then [`encode_last_chunk`](super::encode_last_chunk));
    /// `self.body` is ignored. For HTTP/1.1 clients only: an HTTP/1.0 client does not know
    /// chunks (send it [`encode`](Self::encode)d responses).
    ///
    /// Returns whether the connection stays open, as [`encode`](Self::encode).
    pub fn encode_chunked_head(&self, out: &mut BytesMut, to: &ReplyTo) -> bool {
        let open = self.encode_head(out, to);
        encode_field(out, b"Transfer-Encoding", b"chunked");
        out.extend_from_slice(b"\r\n");
        open
    }

    /// The status line, the fields and `Connection`, without the final empty line.
    fn encode_head(&self, out: &mut BytesMut, to: &ReplyTo) -> bool {
        let open = to.keep_alive && !self.headers.has_token("connection", "close");
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(self.status.to_string().as_bytes());
        out.extend_from_slice(b" ");
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in self.headers.iter() {
            if !is_framing_field(name) {
                encode_field(out, name, value);
            }
        }
        if !open {
            encode_field(out, b"Connection", b"close");
        } else if to.version == Version::Http10 {
            encode_field(out, b"Connection", b"keep-alive");
        }
        open
    }
}

/// The fields [`Response::encode`] writes itself.
fn is_framing_field(name: &[u8]) -> bool {
    [&b"content-length"[..], b"transfer-encoding", b"connection"]
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f))
}

#[derive(Debug)]
enum State {
    Head,
    Body {
        response: Response,
        framing: BodyState,
    },
    Done,
}

#[derive(Debug)]
enum BodyState {
    Length(u64),
    Chunked(Chunked, BytesMut),
    UntilClose,
}

/// A client's response decoder: bytes in ([`feed`](Self::feed)), [`Response`]s out
/// ([`next_event`](Self::next_event)), in the order of the requests, for any split of the
/// input.
///
/// The decoder must know each request's method ([`expect`](Self::expect)), as a response
/// to `HEAD` carries no body whatever its headers say; without one it assumes `GET`.
/// Interim responses (`1xx` but `101`) are skipped. A response's body is delimited by
/// `Transfer-Encoding: chunked`, by `Content-Length`, or else by the end of the connection:
/// such a response comes out after [`eof`](Self::eof), and the connection cannot be reused.
///
/// ```
/// use spindle_protocols::http::{Limits, Method, ResponseDecoder};
///
/// let mut rx = ResponseDecoder::new(Limits::default());
/// rx.expect(Method::Get);
/// rx.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
/// let response = rx.next_event().unwrap().unwrap();
/// assert_eq!((response.status, &response.body[..]), (200, &b"hi"[..]));
/// ```
///
/// After an error the decoder is done: the buffer is dropped and `next_event` returns
/// `None`.
#[derive(Debug)]
pub struct ResponseDecoder {
    limits: Limits,
    buf: BytesMut,
    state: State,
    scanner: HeadScanner,
    methods: VecDeque<Method>,
    eof: bool,
}

impl ResponseDecoder {
    /// A decoder with these limits (the request-line limit bounds the status line).
    pub fn new(limits: Limits) -> Self {
        ResponseDecoder {
            limits,
            buf: BytesMut::new(),
            state: State::Head,
            scanner: HeadScanner::default(),
            methods: VecDeque::new(),
            eof: false,
        }
    }

    /// Records that a request with `method` was sent: responses are matched to requests in
    /// order.
    pub fn expect(&mut self, method: Method) {
        self.methods.push_back(method);
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

    /// The server closed its side: a response read until close is complete, any other
    /// response in progress becomes an error.
    pub fn eof(&mut self) {
        self.eof = true;
    }

    /// The next response, `None` when more bytes are needed (or after an error or the end).
    pub fn next_event(&mut self) -> Option<Result<Response, HttpError>> {
        let step = match self.step() {
            Ok(None) if self.eof && !matches!(self.state, State::Done) => {
                match std::mem::replace(&mut self.state, State::Done) {
                    State::Body {
                        mut response,
                        framing: BodyState::UntilClose,
                    } => {
                        response.body = self.buf.split().freeze();
                        Ok(Some(response))
                    }
                    State::Head if self.buf.is_empty() => Ok(None),
                    _ => Err(HttpError::Malformed("connection closed within a response")),
                }
            }
            other => other,
        };
        match step {
            Ok(response) => response.map(Ok),
            Err(e) => {
                self.state = State::Done;
                self.buf = BytesMut::new();
                Some(Err(e))
            }
        }
    }

    fn step(&mut self) -> Result<Option<Response>, HttpError> {
        loop {
            match &mut self.state {
                State::Done => return Ok(None),
                State::Head => {
                    let Some(len) = self
                        .scanner
                        .scan(&self.buf, &self.limits)
                        .map_err(|e| e.for_response(&self.limits))?
                    else {
                        return Ok(None);
                    };
                    let head = self.buf.split_to(len).freeze();
                    let (status, reason, version, headers) =
                        parse_response_head(&head, self.limits.max_headers)?;
                    let response = Response {
                        status,
                        reason,
                        version,
                        headers,
                        body: Bytes::new(),
                    };
                    if (100..200).contains(&response.status) && response.status != 101 {
                        continue;
                    }
                    let method = self.methods.pop_front().unwrap_or(Method::Get);
                    let framing = if method == Method::Head
                        || Response::is_bodiless_status(response.status)
                    {
                        Framing::Length(0)
                    } else {
                        match declared_framing(&response.headers) {
                            Ok(framing) => framing.unwrap_or(Framing::UntilClose),
                            Err(HttpError::UnsupportedTransferCoding) => Framing::UntilClose,
                            Err(e) => return Err(e),
                        }
                    };
                    let framing = match framing {
                        Framing::Length(0) => return Ok(Some(response)),
                        Framing::Length(n) if n > self.limits.max_body => {
                            return Err(HttpError::BodyTooLarge {
                                limit: self.limits.max_body,
                            })
                        }
                        Framing::Length(n) => BodyState::Length(n),
                        Framing::Chunked => BodyState::Chunked(Chunked::Size, BytesMut::new()),
                        Framing::UntilClose => BodyState::UntilClose,
                    };
                    self.state = State::Body { response, framing };
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
                        BodyState::UntilClose => {
                            if self.buf.len() as u64 > self.limits.max_body {
                                return Err(HttpError::BodyTooLarge {
                                    limit: self.limits.max_body,
                                });
                            }
                            return Ok(None);
                        }
                    };
                    let State::Body { mut response, .. } =
                        std::mem::replace(&mut self.state, State::Head)
                    else {
                        return Ok(None);
                    };
                    response.body = body;
                    return Ok(Some(response));
                }
            }
        }
    }
}
