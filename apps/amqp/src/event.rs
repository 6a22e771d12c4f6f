//! What a handler is told besides channel and connection state: the answer to a synchronous
//! command ([`Reply`]), a message delivered or fetched ([`Delivery`]), a message the broker
//! returned ([`Returned`]).

use bytes::Bytes;
use spindle_protocols::amqp::{BasicProperties, ShortStr};

/// The answer to a synchronous command, passed to
/// [`ConnectionHandler::on_reply`](crate::ConnectionHandler::on_reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `exchange.declare-ok`.
    ExchangeDeclared,
    /// `queue.declare-ok`: the queue's name (the broker's choice for a server-named queue) and
    /// its counts.
    QueueDeclared {
        /// The queue's name.
        queue: String,
        /// Messages ready in the queue.
        message_count: u32,
        /// Consumers of the queue.
        consumer_count: u32,
    },
    /// `exchange.delete-ok`.
    ExchangeDeleted,
    /// `exchange.bind-ok`.
    ExchangeBound,
    /// `exchange.unbind-ok`.
    ExchangeUnbound,
    /// `queue.bind-ok`.
    QueueBound,
    /// `queue.unbind-ok`.
    QueueUnbound,
    /// `queue.purge-ok`: how many messages were dropped.
    QueuePurged {
        /// How many ready messages the purge dropped.
        message_count: u32,
    },
    /// `queue.delete-ok`: how many messages went with the queue.
    QueueDeleted {
        /// How many messages were in the queue when it was deleted.
        message_count: u32,
    },
    /// `basic.recover-ok`: unacked deliveries were redelivered (or requeued).
    Recovered,
    /// `tx.select-ok`: publishes and acks on this channel now wait for a commit.
    TxSelected,
    /// `tx.commit-ok`: the transaction's publishes and acks took effect.
    TxCommitted,
    /// `tx.rollback-ok`: the transaction's publishes and acks were dropped.
    TxRolledBack,
    /// `basic.qos-ok`.
    QosSet,
    /// `basic.consume-ok`: deliveries for this consumer follow.
    Consuming {
        /// The tag [`Channel::consume`](crate::Channel::consume) returned.
        consumer_tag: String,
    },
    /// `basic.cancel-ok`, or a `basic.cancel` from the broker (the queue was deleted): no more
    /// deliveries for this consumer.
    Cancelled {
        /// The tag of the consumer that stopped.
        consumer_tag: String,
        /// True when the broker cancelled it (`consumer_cancel_notify`).
        by_broker: bool,
    },
    /// `confirm.select-ok`: publishes on this channel are now confirmed.
    ConfirmSelected,
    /// `channel.close-ok` after [`Channel::close`](crate::Channel::close): the channel number
    /// is free again.
    ChannelClosed,
}

/// A message delivered to a consumer (`basic.deliver`) or fetched (`basic.get-ok`).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The consumer's tag (empty for `basic.get`).
    pub consumer_tag: ShortStr,
    /// The tag to ack, nack or reject it with, on the channel it came on.
    pub delivery_tag: u64,
    /// True if delivered before and not acked.
    pub redelivered: bool,
    /// The exchange it was published to.
    pub exchange: ShortStr,
    /// The routing key it was published with.
    pub routing_key: ShortStr,
    /// For `basic.get`: messages left in the queue.
    pub message_count: Option<u32>,
    /// As published: content type, headers, delivery mode, `reply_to`, `correlation_id`, ...
    pub properties: BasicProperties,
    /// The body, all frames joined.
    pub body: Bytes,
}

/// A mandatory message the broker could not route (`basic.return`).
#[derive(Debug, Clone, PartialEq)]
pub struct Returned {
    /// The reply code, 312 `NO_ROUTE`.
    pub reply_code: u16,
    /// The broker's text.
    pub reply_text: ShortStr,
    /// The exchange it was published to.
    pub exchange: ShortStr,
    /// Its routing key.
    pub routing_key: ShortStr,
    /// As published: content type, headers, delivery mode, ...
    pub properties: BasicProperties,
    /// The body, all frames joined.
    pub body: Bytes,
}
