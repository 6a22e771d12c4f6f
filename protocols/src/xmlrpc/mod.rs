//! XML-RPC: method calls, responses and faults over the neutral [`Value`](crate::value::Value).
//!
//! Sans-IO like every codec here, and whole-document: HTTP delimits an XML-RPC body
//! (`Content-Length`), so the decoders take the complete body and the encoders append a
//! complete one to a [`bytes::BytesMut`]. The wire forms are those of Python's
//! `xmlrpc.client`, the reference peer: its `dumps` output decodes, and what is encoded here
//! `loads` back to the same Python values.
//!
//! ```
//! use bytes::BytesMut;
//! use spindle_protocols::value::Value;
//! use spindle_protocols::xmlrpc::{self, fault_code, Fault, Limits, MethodResponse};
//!
//! let mut wire = BytesMut::new();
//! xmlrpc::encode_call("add", &[Value::from(2), Value::from(3)], &mut wire);
//! let call = xmlrpc::decode_call(&wire, &Limits::default())?;
//! assert_eq!((call.method_name.as_str(), call.params.len()), ("add", 2));
//!
//! let mut wire = BytesMut::new();
//! xmlrpc::encode_fault(&Fault::new(fault_code::METHOD_NOT_FOUND, "no add"), &mut wire);
//! let response = xmlrpc::decode_response(&wire, &Limits::default())?;
//! assert_eq!(response, MethodResponse::Fault(Fault::new(-32601, "no add")));
//!
//! // A bad request becomes the fault a server sends back.
//! let err = xmlrpc::decode_call(b"<methodCall><int>", &Limits::default()).unwrap_err();
//! assert_eq!(err.to_fault().fault_code, fault_code::INVALID_REQUEST);
//! # Ok::<(), xmlrpc::DecodeError>(())
//! ```
//!
//! # Layout
//!
//! - `message` — [`MethodCall`], [`MethodResponse`], [`Fault`], the decoder's [`Limits`]
//!   and its [`DecodeError`], which names the fault a server answers it with.
//! - [`fault_code`] — the interoperable fault codes (`-32700` parse error … `-32603`).
//! - `decode` — [`decode_call`], [`decode_response`]: quick-xml tokens mapped to values,
//!   with the hostile-input rules (no DTD, bounded size and depth).
//! - `encode` — [`encode_call`], [`encode_response`], [`encode_fault`]; the value-to-element
//!   table.
//! - `base64` — `<base64>`'s text, whitespace-tolerant.
//!
//! `decode` and `encode` import `message`, `base64` and [`crate::value`]; `message` imports
//! only `fault_code` and `value`; nothing imports this file.

mod base64;
mod decode;
mod encode;
pub mod fault_code;
mod message;

pub use decode::{decode_call, decode_response};
pub use encode::{encode_call, encode_fault, encode_response};
pub use message::{DecodeError, Fault, Limits, MethodCall, MethodResponse};
