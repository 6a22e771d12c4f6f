//! Sans-IO codecs for Spindle: the byte-level half of its protocols.
//!
//! Nothing in this crate touches a socket, a file or a clock. Each codec is a
//! plain state machine: the reactor (or a test) hands it the bytes it
//! received, and pulls decoded frames out; encoding appends a frame's bytes to
//! a [`bytes::BytesMut`] the caller then writes. That keeps every protocol
//! testable with byte strings alone, and indifferent to how the network cuts
//! the stream into reads.
//!
//! # Layout
//!
//! - [`lines`] — [`LineReceiver`](lines::LineReceiver): delimited lines
//!   (CRLF by default) with a raw mode for binary bodies; Twisted's
//!   `LineReceiver`.
//! - [`netstring`] — [`NetstringReceiver`](netstring::NetstringReceiver):
//!   D. J. Bernstein's netstrings (`5:hello,`); Twisted's `NetstringReceiver`.
//! - [`int_prefixed`] —
//!   [`IntPrefixedReceiver`](int_prefixed::IntPrefixedReceiver): payloads
//!   behind a 1-, 2- or 4-byte big-endian length; Twisted's
//!   `Int8StringReceiver`, `Int16StringReceiver` and `Int32StringReceiver`.
//! - [`amqp`] — AMQP 0-9-1 as RabbitMQ speaks it: frames, the 66 methods (generated from the
//!   spec), field tables and content assembly, for clients and servers.
//! - [`http`] — HTTP/1.1 both ways: [`RequestDecoder`](http::RequestDecoder) and
//!   [`Response::encode`](http::Response::encode) for servers, [`Request::encode`](http::Request::encode)
//!   and [`ResponseDecoder`](http::ResponseDecoder) for clients (on the reactor: `spindle-http`).
//! - [`value`] — [`Value`](value::Value): the neutral value model of remote procedure calls
//!   (XML-RPC now, msgpack later), with conversions to and from Rust types.
//! - [`xmlrpc`] — XML-RPC calls, responses and faults over [`Value`](value::Value), in Python's
//!   `xmlrpc.client` wire forms: [`decode_call`](xmlrpc::decode_call),
//!   [`encode_response`](xmlrpc::encode_response), the interoperable fault codes.
//! - [`resp`] — Redis's RESP2/RESP3: [`RequestDecoder`](resp::RequestDecoder) and [`ReplyWriter`](resp::ReplyWriter) for servers, [`decode_frame`](resp::decode_frame) and [`Frame`](resp::Frame) for clients.
//!
//! # Conventions
//!
//! The receivers share one shape, a pull API:
//!
//! ```
//! use spindle_protocols::netstring::NetstringReceiver;
//!
//! let mut rx = NetstringReceiver::new();
//! # let mut received = vec![b"5:hel".to_vec(), b"lo,".to_vec()].into_iter();
//! # let mut read_from_socket = || received.next();
//! while let Some(data) = read_from_socket() {
//!     rx.feed(&data);                       // 1. append what arrived
//!     while let Some(event) = rx.next_event() {
//!         match event {                     // 2. drain until `None`
//!             Ok(payload) => assert_eq!(payload, "hello"),
//!             Err(e) => { eprintln!("{e}"); return; } // 3. framing lost: hang up
//!         }
//!     }
//! }
//! ```
//!
//! - `next_event` returns `None` when it needs more bytes, and never waits.
//! - Decoded frames are [`bytes::Bytes`] split off the receive buffer, not copies.
//! - Every receiver has a length limit (Twisted's `MAX_LENGTH`), inclusive,
//!   checked as early as possible, and never reserves memory for a length a
//!   peer merely announced.
//! - After an error a receiver has dropped its buffered bytes; each type's
//!   docs say exactly what state remains. The stream's framing is lost, so
//!   the usual reaction is to drop the connection, as Twisted does.
//! - Error messages are lower-case, without a final period.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod amqp;
pub mod http;
pub mod int_prefixed;
pub mod lines;
pub mod netstring;
pub mod resp;
pub mod value;
pub mod xmlrpc;

#[cfg(test)]
mod testutil;
