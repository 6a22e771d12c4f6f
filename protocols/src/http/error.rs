//! [`HttpError`]: why a decoder gave up on a message, with the status a server answers.

/// Why a [`RequestDecoder`](super::RequestDecoder) or
/// [`ResponseDecoder`](super::ResponseDecoder) gave up on its input.
///
/// The message framing is lost after any of these: a server answers
/// [`status`](Self::status) with `Connection: close` and hangs up, a client drops the
/// connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The request line is longer than
    /// [`Limits::max_request_line`](super::Limits::max_request_line) (414).
    #[error("request line longer than {limit} bytes")]
    RequestLineTooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The header section (or a chunked body's trailer section) is larger than
    /// [`Limits::max_headers_size`](super::Limits::max_headers_size) (431).
    #[error("header section larger than {limit} bytes")]
    HeadersTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// More header fields than [`Limits::max_headers`](super::Limits::max_headers) (431).
    #[error("more than {limit} header fields")]
    TooManyHeaders {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The body is (or announces) more than [`Limits::max_body`](super::Limits::max_body)
    /// bytes (413). Found from `Content-Length` before any body byte is read, and while a
    /// chunked body accumulates.
    #[error("body of more than {limit} bytes")]
    BodyTooLarge {
        /// The limit that was exceeded.
        limit: u64,
    },
    /// The bytes are not HTTP/1.x; the text says where (400).
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// A well-formed method this codec does not know (501).
    #[error("unknown method")]
    UnknownMethod,
    /// A transfer coding other than `chunked` (501): bodies are not decompressed here.
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// An `Expect` other than `100-continue` (417).
    #[error("unsupported expectation")]
    ExpectationFailed,
    /// A well-formed version other than HTTP/1.0 and HTTP/1.1 (505).
    #[error("unsupported HTTP version")]
    UnsupportedVersion,
}

impl HttpError {
    /// The status code a server answers this error with.
    ///
    /// ```
    /// use spindle_protocols::http::HttpError;
    /// assert_eq!(HttpError::RequestLineTooLong { limit: 8192 }.status(), 414);
    /// assert_eq!(HttpError::Malformed("bad header").status(), 400);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            HttpError::RequestLineTooLong { .. } => 414,
            HttpError::HeadersTooLarge { .. } | HttpError::TooManyHeaders { .. } => 431,
            HttpError::BodyTooLarge { .. } => 413,
            HttpError::Malformed(_) => 400,
            HttpError::UnknownMethod | HttpError::UnsupportedTransferCoding => 501,
            HttpError::ExpectationFailed => 417,
            HttpError::UnsupportedVersion => 505,
        }
    }
}
