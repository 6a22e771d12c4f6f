//! The fault codes of the "specification for fault code interoperability" (Dan Libby's, which
//! Python's `xmlrpc.client` and most XML-RPC libraries follow) for faults that the XML-RPC
//! layer raises itself; a service's own faults use codes outside `-32768..=-32000`.

/// The request is not well-formed XML (or too large to parse).
pub const PARSE_ERROR: i32 = -32700;
/// The document declares an encoding other than UTF-8.
pub const UNSUPPORTED_ENCODING: i32 = -32701;
/// The document is not valid UTF-8.
pub const INVALID_ENCODING_CHAR: i32 = -32702;
/// Well-formed XML that is not an XML-RPC call: an unknown element, a bad int, base64 or
/// date, nesting deeper than allowed.
pub const INVALID_REQUEST: i32 = -32600;
/// No method of that name.
pub const METHOD_NOT_FOUND: i32 = -32601;
/// The method exists but its parameters are wrong in number or type.
pub const INVALID_PARAMS: i32 = -32602;
/// The server failed while handling a well-formed call.
pub const INTERNAL_ERROR: i32 = -32603;
/// The start of the range for errors of the application a method calls into.
pub const APPLICATION_ERROR: i32 = -32500;
/// The start of the range for errors of the system (the host, not the application).
pub const SYSTEM_ERROR: i32 = -32400;
/// The start of the range for transport errors (seen by a client, never sent).
pub const TRANSPORT_ERROR: i32 = -32300;
