//! RESP, the Redis serialization protocol (RESP2 and RESP3), sans IO.
//!
//! Three pieces, one per direction and side:
//!
//! - **Server, reading requests**: [`RequestDecoder`] turns the receive buffer
//!   into commands (`Vec<Bytes>`), incrementally, with Redis 7.0's limits and
//!   its exact protocol error texts ([`RequestError`]). Both request forms:
//!
//!   ```text
//!   *2\r\n$3\r\nGET\r\n$1\r\nk\r\n      multibulk, what client libraries send
//!   GET k\r\n                           inline, what telnet sends
//!   ```
//!
//! - **Server, writing replies**: [`ReplyWriter`] appends replies straight to
//!   the output buffer, in the connection's [`Version`], with RESP3 types
//!   mapped to their RESP2 stand-ins (a map becomes a flat array, a double a
//!   bulk string...). [`format_double`] is the shortest round-trip form (Redis 7.2's).
//!
//! - **Client, reading replies** (and tests): [`decode_frame`] turns bytes
//!   into a [`Frame`], the full RESP3 value type, bounded by [`Limits`]
//!   ([`DecodeError`]); [`Frame::encode`] writes one back.
//!
//! ```text
//! RESP2   +simple  -error  :integer  $bulk  *array           ($-1 and *-1: null)
//! RESP3   the above, plus  _null  ,double  #boolean  (big number  !blob error
//!         =verbatim  %map  ~set  >push  |attribute
//! every line ends in \r\n; $ ! = carry <len>\r\n<len bytes>\r\n
//! ```
//!
//! # A server's read loop
//!
//! ```
//! use bytes::BytesMut;
//! use spindle_protocols::resp::{ReplyWriter, RequestDecoder, RequestLimits, Version};
//!
//! let mut decoder = RequestDecoder::new(RequestLimits::default());
//! decoder.set_authenticated(true); // no password configured
//! let mut inbuf = BytesMut::from(&b"*1\r\n$4\r\nPING\r\nECHO hi\r\n*1\r\n$4\r\nPI"[..]);
//! let mut outbuf = BytesMut::new();
//! loop {
//!     match decoder.decode(&mut inbuf) {
//!         Ok(Some(args)) => {
//!             let mut w = ReplyWriter::new(Version::Resp2, &mut outbuf);
//!             match &args[0][..] {
//!                 b"PING" => w.simple("PONG"),
//!                 b"ECHO" => w.bulk(&args[1]),
//!                 _ => w.error("ERR unknown command"),
//!             }
//!         }
//!         Ok(None) => break, // read more, then call again
//!         Err(e) => {
//!             e.encode_reply(&mut outbuf); // then flush and close, as Redis
//!             break;
//!         }
//!     }
//! }
//! assert_eq!(&outbuf[..], b"+PONG\r\n$2\r\nhi\r\n");
//! ```
//!
//! # Files
//!
//! `frame.rs` ([`Frame`] and its encoding), `decode.rs` ([`decode_frame`],
//! [`Limits`]), `request.rs` ([`RequestDecoder`]), `reply.rs` ([`ReplyWriter`],
//! [`format_double`], and [`format_int`]: the one integer formatter, shared with `frame.rs`),
//! `error.rs`. Only `std`, `bytes` and `thiserror`.

mod decode;
mod error;
mod frame;
mod reply;
mod request;

pub use decode::{decode_frame, Limits};
pub use error::{DecodeError, RequestError};
pub use frame::Frame;
pub use reply::{format_double, format_int, FormattedDouble, FormattedInt, ReplyWriter, Version};
pub use request::{RequestDecoder, RequestLimits};
