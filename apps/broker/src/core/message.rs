//! [`Message`]: a published message as the queues hold it, shared (`Rc`) between every queue a
//! fanout or topic routes it to, its body a `Bytes` slice of what was received (not copied).

use std::cell::Cell;
use std::rc::Rc;

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
    /// What it counts for in the broker's memory gauge, given back when it goes (`None` for
    /// the short-lived copies handed out with an added header).
    #[expect(dead_code, reason = "held for its Drop, which gives the bytes back")]
    pub(crate) charge: Option<Charge>,
}

/// Bookkeeping a message costs beyond its body and names: the message itself, its place in
/// a queue and the shared pointer (measured: `size_of` of `Message` and `Queued` plus the
/// `Rc` counts), and the properties' usual few fields.
const MESSAGE_OVERHEAD: usize = 256;

impl Message {
    /// A message as published or dead-lettered, charged to `gauge`.
    pub(crate) fn new(
        id: u64,
        exchange: ShortStr,
        routing_key: ShortStr,
        properties: BasicProperties,
        body: Bytes,
        gauge: &Gauge,
    ) -> Message {
        let bytes = MESSAGE_OVERHEAD + body.len() + exchange.len() + routing_key.len();
        Message {
            id,
            exchange,
            routing_key,
            properties,
            body,
            charge: Some(gauge.charge(bytes)),
        }
    }

    /// Body bytes, for `x-max-length-bytes` and memory accounting.
    pub(crate) fn size(&self) -> usize {
        self.body.len()
    }

    /// Published with `delivery_mode` 2: a durable queue keeps it across a restart.
    pub(crate) fn is_persistent(&self) -> bool {
        self.properties.delivery_mode == Some(2)
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
            charge: None,
        }
    }
}

/// The bytes live messages hold, summed: the measure the broker's memory alarm compares
/// with its high-water mark. Each message adds its share when made and takes it back when
/// its last holder drops it, so the sum cannot drift from what is really held.
#[derive(Debug, Clone, Default)]
pub(crate) struct Gauge(Rc<Cell<usize>>);

impl Gauge {
    /// Bytes held now.
    pub(crate) fn get(&self) -> usize {
        self.0.get()
    }

    /// Adds `bytes` until the returned charge drops.
    pub(crate) fn charge(&self, bytes: usize) -> Charge {
        self.0.set(self.0.get().saturating_add(bytes));
        Charge {
            gauge: self.clone(),
            bytes,
        }
    }
}

/// One message's share of a [`Gauge`].
#[derive(Debug)]
pub(crate) struct Charge {
    gauge: Gauge,
    bytes: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        let g = &self.gauge.0;
        g.set(g.get().saturating_sub(self.bytes));
    }
}
