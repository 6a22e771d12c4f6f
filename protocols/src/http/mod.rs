//! HTTP/1.1, sans-IO: requests and responses decoded from bytes and encoded to bytes, for
//! servers and clients.
//!
//! - **Server**: [`RequestDecoder`] turns the receive buffer into [`RequestEvent`]s —
//!   complete [`Request`]s (pipelined ones in order) and [`RequestEvent::Continue`] when a
//!   client waits for `100 Continue` — bounded by [`Limits`]; each [`HttpError`] names the
//!   [`status`](HttpError::status) to answer (400, 413, 414, 417, 431, 501, 505).
//!   [`Response::encode`] writes the answer for a [`ReplyTo`] (HEAD, 1xx/204/304 without
//!   body, `Connection` as the request and the response want); [`encode_chunk`] and
//!   [`encode_last_chunk`] stream a chunked body after [`Response::encode_chunked_head`].
//! - **Client**: [`Request::encode`] writes a request; [`ResponseDecoder`] reads the
//!   responses in order, with `Content-Length`, chunked, or read-until-close bodies.
//!
//! ```text
//! request   GET /path?q HTTP/1.1 CRLF  (Name: value CRLF)*  CRLF  body
//! response  HTTP/1.1 200 OK CRLF       (Name: value CRLF)*  CRLF  body
//! body      Content-Length: n  →  n bytes
//!           Transfer-Encoding: chunked  →  (hex-size CRLF data CRLF)*  0 CRLF  trailers CRLF
//!           neither: none for a request, until the connection closes for a response
//! ```
//!
//! # A server's read loop
//!
//! ```
//! use bytes::BytesMut;
//! use spindle_protocols::http::{Limits, Method, ReplyTo, RequestDecoder, RequestEvent, Response, Version};
//!
//! let mut rx = RequestDecoder::new(Limits::default());
//! let mut out = BytesMut::new();
//! rx.feed(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n");
//! while let Some(event) = rx.next_event() {
//!     match event {
//!         Ok(RequestEvent::Continue) => out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n"),
//!         Ok(RequestEvent::Request(req)) => {
//!             let open = Response::text(200, req.path()).encode(&mut out, &ReplyTo::request(&req));
//!             if !open {
//!                 break; // flush, then close
//!             }
//!         }
//!         Err(e) => {
//!             let to = ReplyTo { method: Method::Get, version: Version::Http11, keep_alive: false };
//!             Response::text(e.status(), e.to_string()).encode(&mut out, &to);
//!             break;
//!         }
//!     }
//! }
//! assert!(out.ends_with(b"Connection: close\r\nContent-Length: 2\r\n\r\n/b"));
//! ```
//!
//! # Strictness
//!
//! Header names are tokens directly followed by `:`; values may not hold control bytes;
//! obsolete line folding is refused; `Content-Length` must be digits (repeats must agree);
//! a request with both `Transfer-Encoding` and `Content-Length` is refused (the classic
//! request-smuggling ambiguity), as is any transfer coding but `chunked` (501). Lines may
//! end in CRLF or a bare LF, as RFC 9112 allows recipients to accept.
//!
//! # Speed
//!
//! A head is scanned once for its end, line by line, whatever the split of the input (that
//! scan applies the 414 and 431 limits as bytes arrive); the complete head is then tokenized
//! by `httparse` (SIMD request line and fields), which `benches/http_codec.rs` measured
//! 1.2-2.3x faster than a hand-written tokenizer on real heads. Fields and bodies are
//! slices of the receive buffer, not copies (a chunked body is copied out once).
//!
//! # Files
//!
//! `error.rs` ([`HttpError`]), `types.rs` ([`Method`], [`Version`], [`reason_phrase`]),
//! `headers.rs` ([`Headers`]), `head.rs` ([`Limits`], finding a head's end, tokenizing it,
//! body framing), `chunked.rs` (the chunked coding), `request.rs` ([`Request`],
//! [`RequestDecoder`]), `response.rs` ([`Response`], [`ResponseDecoder`]). Each file imports
//! only files before it in this list.

mod chunked;
mod error;
mod head;
mod headers;
mod request;
mod response;
mod types;

pub use chunked::{encode_chunk, encode_last_chunk};
pub use error::HttpError;
pub use head::Limits;
pub use headers::Headers;
pub use request::{Request, RequestDecoder, RequestEvent};
pub use response::{ReplyTo, Response, ResponseDecoder};
pub use types::{reason_phrase, Method, Version};

#[cfg(test)]
mod tests;
