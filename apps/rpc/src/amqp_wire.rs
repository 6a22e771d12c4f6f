//! What RPC over AMQP puts in a message, shared by [`AmqpRpcServer`](crate::AmqpRpcServer)
//! and [`AmqpRpcClient`](crate::AmqpRpcClient): the two body formats, how an error reply is
//! marked, and the factory that connects one AMQP client protocol to a broker.
//!
//! - **XML-RPC mode** (`content_type: text/xml`): the request body is an XML-RPC
//!   `methodCall` document, the reply a `methodResponse` (a value or a fault), so every
//!   [`Value`] type and faults travel as over HTTP.
//! - **Tutorial mode** (any other content type, or none): the body is text, as in the RabbitMQ
//!   tutorial's fib RPC — the request `"30"` is one parameter (an int if the text is one,
//!   else the string) for the server's tutorial method, and the reply is the result as text
//!   (`"832040"`). A failed call's reply has the `type` property `"fault"`, the headers
//!   `fault_code` (int) and `fault_string`, and the body `error: <fault string>`.

use std::io;

use bytes::Bytes;
use spindle_protocols::amqp::{BasicProperties, FieldTable, FieldValue, ShortStr};
use spindle_protocols::value::Value;
use spindle_protocols::xmlrpc::Fault;
use spindle_reactor::{Address, ClientFactory, Connector, DisconnectReason, Protocol};

use crate::json::to_json;

/// The content type of XML-RPC-mode requests and replies.
pub const XML_CONTENT_TYPE: &str = "text/xml";

/// The `type` property of a tutorial-mode reply that carries a fault.
pub const FAULT_KIND: &str = "fault";

/// The queue the tutorial's server consumes.
pub const TUTORIAL_QUEUE: &str = "rpc_queue";

/// Whether a message's properties say XML-RPC mode.
pub(crate) fn is_xml(properties: &BasicProperties) -> bool {
    properties
        .content_type
        .as_ref()
        .is_some_and(|t| t.as_ref() == XML_CONTENT_TYPE.as_bytes())
}

/// A tutorial-mode body as its one parameter: an int if the (trimmed) text is one, else the
/// text.
pub fn text_to_value(body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    match text.trim().parse::<i64>() {
        Ok(n) => Value::Int(n),
        Err(_) => Value::String(text.into_owned()),
    }
}

/// A result as a tutorial-mode body: a string as itself, numbers and booleans in decimal
/// (`832040`, `2.5`, `true`), nil as empty, anything else as JSON.
pub fn value_to_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        Value::Double(x) => x.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Nil => String::new(),
        other => to_json(other),
    }
}

/// The properties of a tutorial-mode fault reply (`type: fault`, `fault_code`,
/// `fault_string` headers) beside `correlation_id`.
pub(crate) fn fault_properties(fault: &Fault, correlation_id: Option<ShortStr>) -> BasicProperties {
    let mut headers = FieldTable::new();
    if let Ok(name) = ShortStr::try_from("fault_code") {
        headers.insert(name, FieldValue::I32(fault.fault_code));
    }
    if let Ok(name) = ShortStr::try_from("fault_string") {
        headers.insert(
            name,
            FieldValue::LongStr(Bytes::from(fault.fault_string.clone())),
        );
    }
    BasicProperties {
        correlation_id,
        kind: ShortStr::try_from(FAULT_KIND).ok(),
        headers: Some(headers),
        ..BasicProperties::default()
    }
}

/// The fault a tutorial-mode reply carries, if it is a fault reply.
pub(crate) fn fault_of(properties: &BasicProperties, body: &[u8]) -> Option<Fault> {
    let is_fault = properties
        .kind
        .as_ref()
        .is_some_and(|k| k.as_ref() == FAULT_KIND.as_bytes());
    if !is_fault {
        return None;
    }
    let headers = properties.headers.as_ref();
    let code = headers
        .and_then(|h| h.get("fault_code"))
        .and_then(FieldValue::as_i64)
        .and_then(|c| i32::try_from(c).ok())
        .unwrap_or(crate::typed::PYTHON_FAULT_CODE);
    let string = headers
        .and_then(|h| h.get("fault_string"))
        .and_then(FieldValue::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    Some(Fault::new(code, string))
}

/// A [`ClientFactory`] that builds one protocol, for the one connection it is used for, and
/// reports a failed connection to `on_failed`.
pub(crate) struct OneConnection {
    pub(crate) protocol: Option<Box<dyn Protocol>>,
    pub(crate) on_failed: Box<dyn FnMut(String)>,
}

impl std::fmt::Debug for OneConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneConnection")
            .field("built", &self.protocol.is_none())
            .finish()
    }
}

impl ClientFactory for OneConnection {
    fn build_protocol(&mut self, _peer: &Address) -> Box<dyn Protocol> {
        match self.protocol.take() {
            Some(p) => p,
            None => Box::new(Refuse),
        }
    }

    fn client_connection_failed(&mut self, reason: &io::Error, connector: &mut Connector) {
        (self.on_failed)(format!(
            "cannot connect to {}: {}",
            connector.address(),
            spindle_reactor::io_reason(reason)
        ));
    }

    fn client_connection_lost(&mut self, _reason: &DisconnectReason, _connector: &mut Connector) {}
}

/// The protocol of a connection nobody asked for: closed at once.
#[derive(Debug)]
struct Refuse;

impl Protocol for Refuse {
    fn connection_made(
        &mut self,
        tx: &mut dyn spindle_reactor::Transport,
    ) -> spindle_reactor::ProtocolResult {
        tx.abort_connection();
        Ok(())
    }

    fn data_received(
        &mut self,
        _data: &[u8],
        _tx: &mut dyn spindle_reactor::Transport,
    ) -> spindle_reactor::ProtocolResult {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tutorial_bodies() {
        assert_eq!(text_to_value(b"30"), Value::Int(30));
        assert_eq!(text_to_value(b" 30\n"), Value::Int(30));
        assert_eq!(text_to_value(b"x"), Value::from("x"));
        assert_eq!(value_to_text(&Value::Int(832040)), "832040");
        assert_eq!(value_to_text(&Value::from("s")), "s");
        let f = Fault::new(1, "bad");
        let p = fault_properties(&f, None);
        assert_eq!(fault_of(&p, b"error: bad"), Some(f));
        assert_eq!(fault_of(&BasicProperties::default(), b"1"), None);
    }
}
