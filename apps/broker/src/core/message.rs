//! [`Message`]: a published message as the queues hold it, shared (`Rc`) between every queue a
//! fanout or topic routes it to, its body a `Bytes` slice of what was received (not copied).

use bytes::Bytes;
use spindle_protocols::amqp::{BasicProperties, FieldValue, ShortStr};

/// A message: where it was published, its properties and body, and the id that names it in
/// the queues and, once stored, on disk.
#[derive(Debug)]
pub(crate) struct Message {
    /// Unique in the broker's life: the order of publication, and the key a message store
    /// files the message under.
    #[allow(dead_code)]
    pub(crate) id: u64,
    /// The exchange it was published to (`""` for the default exchange).
    pub(crate) exchange: ShortStr,
    /// The routing key it was published with.
    pub(crate) routing_key: ShortStr,
    /// Its content header's properties, as published.
    pub(crate) properties: BasicProperties,
    /// Its body.
    pub(crate) body: Bytes,
}

impl Message {
    /// Body bytes, for `x-max-length-bytes` and memory accounting.
    pub(crate) fn size(&self) -> usize {
        self.body.len()
    }

    /// The same message (same id, body shared) with one header set: how a queue marks what
    /// it adds to a message it hands out again, such as `x-delivery-count`.
    pub(crate) fn with_header(&self, key: &'static str, value: FieldValue) -> Message {
        let mut properties = self.properties.clone();
        properties
            .headers
            .get_or_insert_with(Default::default)
            .insert(ShortStr::from_static(key), value);
        Message {
            id: self.id,
            exchange: self.exchange.clone(),
            routing_key: self.routing_key.clone(),
            properties,
            body: self.body.clone(),
        }
    }
}
