//! The arguments of channel commands: [`QueueOptions`], [`ExchangeOptions`],
//! [`ConsumeOptions`], and [`Publish`] (a message's exchange, routing key and properties).

use spindle_protocols::amqp::{BasicProperties, FieldTable, ShortStr};

/// Options of [`Channel::queue_declare`](crate::Channel::queue_declare); `Default` is a
/// non-durable, shared queue that stays.
#[derive(Debug, Clone, Default)]
pub struct QueueOptions {
    /// Only check that the queue exists (404 `NOT_FOUND` closes the channel otherwise).
    pub passive: bool,
    /// Survives a broker restart.
    pub durable: bool,
    /// Used by this connection only, deleted when it closes.
    pub exclusive: bool,
    /// Deleted when its last consumer goes.
    pub auto_delete: bool,
    /// `x-message-ttl`, `x-queue-type`, ...
    pub arguments: FieldTable,
}

/// Options of [`Channel::exchange_declare`](crate::Channel::exchange_declare).
#[derive(Debug, Clone, Default)]
pub struct ExchangeOptions {
    /// Only check that the exchange exists.
    pub passive: bool,
    /// Survives a broker restart.
    pub durable: bool,
    /// Deleted when its last binding goes.
    pub auto_delete: bool,
    /// Not published to directly, only through exchange-to-exchange bindings.
    pub internal: bool,
    /// `alternate-exchange`, ...
    pub arguments: FieldTable,
}

/// Options of [`Channel::consume`](crate::Channel::consume).
#[derive(Debug, Clone, Default)]
pub struct ConsumeOptions {
    /// The broker counts a message as acked once sent (no `ack` needed, none allowed).
    pub no_ack: bool,
    /// The only consumer of the queue.
    pub exclusive: bool,
    /// `x-priority`, ...
    pub arguments: FieldTable,
}

/// A message to publish: where to, and how.
///
/// ```
/// use spindle_amqp::Publish;
/// let p = Publish::to("", "hello").mandatory(true).persistent().content_type("text/plain");
/// assert_eq!(p.properties.delivery_mode, Some(2));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Publish {
    /// The exchange ("" is the default exchange: the routing key names the queue).
    pub exchange: String,
    /// The routing key the exchange matches against its bindings (for the default exchange,
    /// the queue's name).
    pub routing_key: String,
    /// Return the message (`on_return`) if no queue takes it.
    pub mandatory: bool,
    /// The message's properties.
    pub properties: BasicProperties,
}

impl Publish {
    /// To `exchange` with `routing_key`.
    pub fn to(exchange: impl Into<String>, routing_key: impl Into<String>) -> Self {
        Publish {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            ..Publish::default()
        }
    }

    /// Sets `mandatory`.
    #[must_use]
    pub fn mandatory(mut self, mandatory: bool) -> Self {
        self.mandatory = mandatory;
        self
    }

    /// Delivery mode 2: written to disk by a durable queue.
    #[must_use]
    pub fn persistent(mut self) -> Self {
        self.properties.delivery_mode = Some(2);
        self
    }

    /// Sets the content type. A type longer than 255 bytes is dropped.
    #[must_use]
    pub fn content_type(mut self, content_type: &str) -> Self {
        self.properties.content_type = ShortStr::try_from(content_type).ok();
        self
    }

    /// Sets `reply_to`: the queue an answer should go to (RPC). A name longer than 255 bytes
    /// is dropped.
    #[must_use]
    pub fn reply_to(mut self, queue: &str) -> Self {
        self.properties.reply_to = ShortStr::try_from(queue).ok();
        self
    }

    /// Sets `correlation_id`: which request an answer is for (RPC). An id longer than 255
    /// bytes is dropped.
    #[must_use]
    pub fn correlation_id(mut self, id: &str) -> Self {
        self.properties.correlation_id = ShortStr::try_from(id).ok();
        self
    }

    /// Sets all the properties.
    #[must_use]
    pub fn properties(mut self, properties: BasicProperties) -> Self {
        self.properties = properties;
        self
    }
}
