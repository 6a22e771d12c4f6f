//! The messages XML-RPC carries (calls, responses, faults), the decoder's limits and its
//! errors: what the decoder produces and the encoder consumes.

use crate::value::Value;

use super::fault_code;

/// A `methodCall`: the method's name and its parameters in order.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    /// The method's name as sent (XML-RPC allows `A-Za-z0-9_.:/`; any text is accepted).
    pub method_name: String,
    /// The parameters, in order; empty when the call had no `<params>`.
    pub params: Vec<Value>,
}

/// A `methodResponse`: the method's one result, or a fault.
#[derive(Debug, Clone, PartialEq)]
pub enum MethodResponse {
    /// The call succeeded and returned this value.
    Value(Value),
    /// The call failed.
    Fault(Fault),
}

impl MethodResponse {
    /// The result as a `Result`, for `?`.
    pub fn into_result(self) -> Result<Value, Fault> {
        match self {
            MethodResponse::Value(v) => Ok(v),
            MethodResponse::Fault(f) => Err(f),
        }
    }
}

/// An XML-RPC fault: a failed call's code and message (Python's `xmlrpc.client.Fault`,
/// Twisted's `xmlrpc.Fault`). Codes from `-32768` to `-32000` are the XML-RPC layer's own
/// ([`fault_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault {fault_code}: {fault_string}")]
pub struct Fault {
    /// `faultCode`.
    pub fault_code: i32,
    /// `faultString`: what went wrong, for a person.
    pub fault_string: String,
}

impl Fault {
    /// A fault with this code and message.
    pub fn new(fault_code: i32, fault_string: impl Into<String>) -> Fault {
        Fault {
            fault_code,
            fault_string: fault_string.into(),
        }
    }
}

/// What the decoder accepts: a document is refused past `max_len` bytes, and a value past
/// `max_depth` levels of arrays and structs.
///
/// With these bounds the decoded values take a bounded multiple of the document's length
/// (an empty `<value/>`, 8 bytes, becomes a 40-byte [`Value`]), and the decoder's recursion
/// is bounded: `max_depth` is capped at [`Limits::DEPTH_CAP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest document, in bytes.
    pub max_len: usize,
    /// The deepest nesting of arrays and structs; a scalar parameter is at depth 0.
    pub max_depth: usize,
}

impl Limits {
    /// The most nesting the decoder allows whatever `max_depth` says: its recursion keeps to a
    /// small part of a thread's stack.
    pub const DEPTH_CAP: usize = 256;
}

impl Default for Limits {
    /// 8 MiB documents, 64 levels of nesting.
    fn default() -> Limits {
        Limits {
            max_len: 8 << 20,
            max_depth: 64,
        }
    }
}

/// Why a document is not an acceptable XML-RPC call or response. A server answers it with
/// [`DecodeError::to_fault`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The document is longer than [`Limits::max_len`].
    #[error("document of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The document's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not well-formed XML, a DTD (refused: no entity of ours is defined by the document), or
    /// a reference to an entity XML does not predefine.
    #[error("malformed xml at byte {at}: {reason}")]
    Xml {
        /// Where, as a byte offset.
        at: u64,
        /// What.
        reason: String,
    },
    /// The XML declaration names an encoding other than UTF-8 (or its ASCII subset).
    #[error("unsupported encoding {0:?}")]
    UnsupportedEncoding(String),
    /// Text that is not UTF-8.
    #[error("invalid utf-8 at byte {at}")]
    InvalidUtf8 {
        /// Where, as a byte offset.
        at: u64,
    },
    /// Arrays and structs nested deeper than [`Limits::max_depth`].
    #[error("values nested deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// Well-formed XML that is not the XML-RPC message asked for: an unexpected element or
    /// text, a missing part.
    #[error("invalid xml-rpc at byte {at}: {reason}")]
    Invalid {
        /// Where, as a byte offset.
        at: u64,
        /// What.
        reason: String,
    },
    /// A scalar whose text is not of its type: an int that is not one or past 64 bits, a
    /// boolean other than 0 or 1, bad base64, a bad date.
    #[error("bad {kind} {text:?} at byte {at}")]
    BadValue {
        /// The element, e.g. `int`.
        kind: &'static str,
        /// The text (at most its first 40 characters).
        text: String,
        /// Where, as a byte offset.
        at: u64,
    },
}

impl DecodeError {
    /// The [`fault_code`] a server answers this error with: [`fault_code::PARSE_ERROR`] for
    /// what is not XML (or too large to read), the encoding codes for bad encodings,
    /// [`fault_code::INVALID_REQUEST`] for XML that is not XML-RPC.
    pub fn fault_code(&self) -> i32 {
        match self {
            DecodeError::TooLarge { .. } | DecodeError::Xml { .. } => fault_code::PARSE_ERROR,
            DecodeError::UnsupportedEncoding(_) => fault_code::UNSUPPORTED_ENCODING,
            DecodeError::InvalidUtf8 { .. } => fault_code::INVALID_ENCODING_CHAR,
            DecodeError::TooDeep { .. }
            | DecodeError::Invalid { .. }
            | DecodeError::BadValue { .. } => fault_code::INVALID_REQUEST,
        }
    }

    /// The fault a server answers this error with: [`DecodeError::fault_code`] and this
    /// error's message.
    pub fn to_fault(&self) -> Fault {
        Fault::new(self.fault_code(), self.to_string())
    }
}
