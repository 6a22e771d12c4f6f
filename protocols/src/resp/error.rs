//! The two error types of [`resp`](super): [`DecodeError`] for replies a
//! client decodes, [`RequestError`] for requests a server decodes.

use bytes::BytesMut;

/// Why [`decode_frame`](super::decode_frame) gave up on its input.
///
/// Any of these means the byte stream is not RESP (or breaks a [`Limits`](super::Limits)
/// bound): its framing is lost, so the usual reaction is to close the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A frame starts with a byte that is no RESP2 or RESP3 type.
    #[error("invalid frame type byte {0:#04x}")]
    InvalidType(u8),
    /// A bulk, verbatim or aggregate length is not a decimal number (or
    /// `-1` where RESP2 allows a null).
    #[error("invalid length")]
    InvalidLength,
    /// An integer frame (`:`) is not a decimal `i64`.
    #[error("invalid integer")]
    InvalidInteger,
    /// A double frame (`,`) is not a decimal number, `inf`, `-inf` or `nan`.
    #[error("invalid double")]
    InvalidDouble,
    /// A boolean frame (`#`) is neither `t` nor `f`.
    #[error("invalid boolean")]
    InvalidBoolean,
    /// A null frame (`_`) has bytes before its CRLF.
    #[error("invalid null")]
    InvalidNull,
    /// A big number frame (`(`) is not an optionally signed run of digits.
    #[error("invalid big number")]
    InvalidBigNumber,
    /// A verbatim string is shorter than 4 bytes or has no `:` after its
    /// 3-byte format.
    #[error("invalid verbatim string")]
    InvalidVerbatim,
    /// A line holds a bare CR or LF, or a bulk payload is not followed by
    /// CRLF.
    #[error("line not terminated by CRLF")]
    InvalidLineEnding,
    /// A line (simple string, error, number, or length header) is longer than
    /// [`Limits::max_line_len`](super::Limits::max_line_len), not counting its CRLF.
    #[error("line longer than the limit of {limit} bytes")]
    LineTooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A bulk, blob error or verbatim string declares more than
    /// [`Limits::max_bulk_len`](super::Limits::max_bulk_len) bytes.
    #[error("bulk length {len} exceeds the limit of {limit} bytes")]
    BulkTooLong {
        /// The declared length.
        len: usize,
        /// The limit that was exceeded.
        limit: usize,
    },
    /// An aggregate declares more than
    /// [`Limits::max_elements`](super::Limits::max_elements) elements (pairs,
    /// for maps and attributes).
    #[error("aggregate of {len} elements exceeds the limit of {limit}")]
    TooManyElements {
        /// The declared number of elements.
        len: usize,
        /// The limit that was exceeded.
        limit: usize,
    },
    /// Aggregates are nested more than [`Limits::max_depth`](super::Limits::max_depth)
    /// levels deep.
    #[error("aggregates nested deeper than {limit} levels")]
    TooDeep {
        /// The limit that was exceeded.
        limit: usize,
    },
}

/// Why [`RequestDecoder::decode`](super::RequestDecoder::decode) gave up on a
/// client's request: Redis 7.0's protocol errors, one variant per message.
///
/// The [`Display`](std::fmt::Display) text is exactly what Redis 7.0 sends
/// after `-ERR ` (`src/networking.c`, `processInlineBuffer` and
/// `processMultibulkBuffer`), so a server replies with
/// [`encode_reply`](Self::encode_reply) (or `-ERR {error}\r\n`) and then closes
/// the connection, as Redis does: after a protocol error the request framing
/// is lost. These messages start with a capital letter because they are
/// Redis's, not ours.
///
/// ```text
/// -ERR Protocol error: invalid multibulk length\r\n
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// `*<n>` where `n` is not a number (Redis's strict `string2ll`: no `+`,
    /// no leading zeros, no spaces) or exceeds
    /// [`RequestLimits::max_multibulk_len`](super::RequestLimits::max_multibulk_len).
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// `$<len>` where `len` is not a number, is negative, or exceeds
    /// [`RequestLimits::max_bulk_len`](super::RequestLimits::max_bulk_len).
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// An element of a multibulk request does not start with `$`. Redis
    /// prints the byte with `%c` and then replaces CR and LF with spaces.
    #[error("Protocol error: expected '$', got '{}'", shown(.0))]
    ExpectedDollar(u8),
    /// The `*<n>` line is longer than
    /// [`RequestLimits::max_inline_len`](super::RequestLimits::max_inline_len).
    #[error("Protocol error: too big mbulk count string")]
    TooBigMbulkCount,
    /// A `$<len>` line is longer than
    /// [`RequestLimits::max_inline_len`](super::RequestLimits::max_inline_len).
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// An inline request is longer than
    /// [`RequestLimits::max_inline_len`](super::RequestLimits::max_inline_len).
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    /// An inline request has a quote that is never closed, or a closing
    /// quote not followed by a space or the end of the line.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// Before authentication, `*<n>` with `n` above
    /// [`RequestLimits::unauth_max_multibulk_len`](super::RequestLimits::unauth_max_multibulk_len).
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// Before authentication, `$<len>` with `len` above
    /// [`RequestLimits::unauth_max_bulk_len`](super::RequestLimits::unauth_max_bulk_len).
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
}

/// How Redis shows the offending byte of [`RequestError::ExpectedDollar`]:
/// `%c`, then CR and LF mapped to spaces (`addReplyErrorFormat`). A `char`
/// cannot hold a raw non-ASCII byte, so those show as the Latin-1 character
/// here; [`RequestError::encode_reply`] writes the raw byte, as Redis does.
fn shown(byte: &u8) -> char {
    match *byte {
        b'\r' | b'\n' => ' ',
        b => char::from(b),
    }
}

impl RequestError {
    /// Appends the reply Redis sends before closing the connection:
    /// `-ERR <message>\r\n`, byte for byte, including a raw non-ASCII byte in
    /// [`ExpectedDollar`](Self::ExpectedDollar)'s message.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use spindle_protocols::resp::RequestError;
    ///
    /// let mut out = BytesMut::new();
    /// RequestError::ExpectedDollar(b'f').encode_reply(&mut out);
    /// assert_eq!(&out[..], b"-ERR Protocol error: expected '$', got 'f'\r\n");
    /// ```
    pub fn encode_reply(&self, out: &mut BytesMut) {
        out.extend_from_slice(b"-ERR ");
        match self {
            RequestError::ExpectedDollar(byte) => {
                out.extend_from_slice(b"Protocol error: expected '$', got '");
                out.extend_from_slice(&[match *byte {
                    b'\r' | b'\n' => b' ',
                    b => b,
                }]);
                out.extend_from_slice(b"'");
            }
            other => out.extend_from_slice(other.to_string().as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    }
}
