//! Channels: the [`Channel`] handle a handler issues commands through, the options of those
//! commands, and what comes back ([`Reply`], [`Delivery`], [`Returned`]).
//!
//! Commands are written at once and never wait: a synchronous method's answer arrives later
//! as [`ConnectionHandler::on_reply`](super::ConnectionHandler::on_reply), in the order the
//! commands were sent (the broker answers a channel's methods in order). So a handler may
//! pipeline: open a channel, declare a queue and publish to it in one callback.

use std::collections::BTreeSet;

use bytes::Bytes;
use spindle_protocols::amqp::{
    BasicAck, BasicCancel, BasicConsume, BasicGet, BasicNack, BasicProperties, BasicPublish,
    BasicQos, BasicRecover, BasicReject, ChannelClose, ChannelOpen, ConfirmSelect,
    ContentAssembler, ExchangeBind, ExchangeDeclare, ExchangeDelete, ExchangeUnbind, FieldTable,
    Method, QueueBind, QueueDeclare, QueueDelete, QueuePurge, QueueUnbind, ShortStr, TxCommit,
    TxRollback, TxSelect,
};

use super::connection::Connection;
use super::error::ClientError;

/// Where a channel is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelPhase {
    /// `channel.open` sent.
    Opening,
    /// `channel.open-ok` received.
    Open,
    /// We sent `channel.close`; frames other than `close-ok` are dropped.
    Closing,
}

/// Per-channel state kept by the client.
#[derive(Debug)]
pub(crate) struct ChannelState {
    pub(crate) phase: ChannelPhase,
    pub(crate) assembler: ContentAssembler,
    /// In confirm mode: the sequence number of the next publish, and those not yet confirmed.
    pub(crate) confirms: Option<Confirms>,
    pub(crate) consumers: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Confirms {
    pub(crate) next: u64,
    pub(crate) unconfirmed: BTreeSet<u64>,
}

impl Confirms {
    /// The publishes a `basic.ack`/`basic.nack` for `tag` settles, in order.
    pub(crate) fn settle(&mut self, tag: u64, multiple: bool) -> Vec<u64> {
        if multiple {
            let rest = self.unconfirmed.split_off(&(tag.saturating_add(1)));
            let done = std::mem::replace(&mut self.unconfirmed, rest);
            done.into_iter().collect()
        } else if self.unconfirmed.remove(&tag) {
            vec![tag]
        } else {
            Vec::new()
        }
    }
}

impl ChannelState {
    pub(crate) fn new() -> Self {
        ChannelState {
            phase: ChannelPhase::Opening,
            assembler: ContentAssembler::new(),
            confirms: None,
            consumers: 0,
        }
    }
}

/// The answer to a synchronous command, passed to
/// [`ConnectionHandler::on_reply`](super::ConnectionHandler::on_reply).
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
        /// Messages purged.
        message_count: u32,
    },
    /// `queue.delete-ok`: how many messages went with the queue.
    QueueDeleted {
        /// Messages deleted.
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
        /// The consumer tag.
        consumer_tag: String,
    },
    /// `basic.cancel-ok`, or a `basic.cancel` from the broker (the queue was deleted): no more
    /// deliveries for this consumer.
    Cancelled {
        /// The consumer tag.
        consumer_tag: String,
        /// True when the broker cancelled it (`consumer_cancel_notify`).
        by_broker: bool,
    },
    /// `confirm.select-ok`: publishes on this channel are now confirmed.
    ConfirmSelected,
    /// `channel.close-ok` after [`Channel::close`]: the channel number is free again.
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
    /// The properties.
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
    /// The properties.
    pub properties: BasicProperties,
    /// The body.
    pub body: Bytes,
}

/// Options of [`Channel::queue_declare`]; `Default` is a non-durable, shared queue that stays.
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

/// Options of [`Channel::exchange_declare`].
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

/// Options of [`Channel::consume`].
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
    /// The routing key.
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

pub(crate) fn short(s: &str) -> Result<ShortStr, ClientError> {
    Ok(ShortStr::try_from(s)?)
}

/// One channel of an open connection, as a handler callback sees it: the commands of the
/// channel, and [`connection`](Self::connection) for the rest.
///
/// Every command queues its frames at once and returns; see the module docs for where the
/// answers go. A command on a channel that is not open (closed by [`close`](Self::close) or by
/// the broker) is refused with [`ClientError::ChannelNotOpen`].
#[derive(Debug)]
pub struct Channel<'a> {
    pub(crate) conn: Connection<'a>,
    pub(crate) id: u16,
}

impl<'a> Channel<'a> {
    /// The channel number.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The connection, to open more channels or close it.
    pub fn connection(&mut self) -> &mut Connection<'a> {
        &mut self.conn
    }

    fn send(&mut self, method: Method) -> Result<(), ClientError> {
        self.conn.check_channel(self.id)?;
        self.conn.send_method(self.id, &method)
    }

    /// Re-opens this channel after the broker closed it (a channel error): the channel number
    /// is kept, [`on_channel_open`](super::ConnectionHandler::on_channel_open) follows.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotOpen`] if the connection is closing.
    pub fn reopen(&mut self) -> Result<(), ClientError> {
        self.conn.open_channel_id(self.id)
    }

    /// `channel.close`: closes this channel; [`Reply::ChannelClosed`] follows.
    ///
    /// # Errors
    ///
    /// [`ClientError::ChannelNotOpen`] if it is not open.
    pub fn close(&mut self) -> Result<(), ClientError> {
        self.send(
            ChannelClose {
                reply_code: 200,
                reply_text: ShortStr::from_static("goodbye"),
                class_id: 0,
                method_id: 0,
            }
            .into(),
        )?;
        if let Some(ch) = self.conn.state.channels.get_mut(&self.id) {
            ch.phase = ChannelPhase::Closing;
        }
        Ok(())
    }

    /// `exchange.declare` of kind `direct`, `fanout`, `topic` or `headers`;
    /// [`Reply::ExchangeDeclared`] follows.
    ///
    /// # Errors
    ///
    /// A name over 255 bytes, or the channel is not open.
    pub fn exchange_declare(
        &mut self,
        exchange: &str,
        kind: &str,
        options: &ExchangeOptions,
    ) -> Result<(), ClientError> {
        let method = ExchangeDeclare {
            exchange: short(exchange)?,
            kind: short(kind)?,
            passive: options.passive,
            durable: options.durable,
            auto_delete: options.auto_delete,
            internal: options.internal,
            arguments: options.arguments.clone(),
            ..ExchangeDeclare::default()
        };
        self.send(method.into())
    }

    /// `queue.declare`; "" asks the broker to name the queue. [`Reply::QueueDeclared`] follows
    /// with the name.
    ///
    /// # Errors
    ///
    /// A name over 255 bytes, or the channel is not open.
    pub fn queue_declare(
        &mut self,
        queue: &str,
        options: &QueueOptions,
    ) -> Result<(), ClientError> {
        let method = QueueDeclare {
            queue: short(queue)?,
            passive: options.passive,
            durable: options.durable,
            exclusive: options.exclusive,
            auto_delete: options.auto_delete,
            arguments: options.arguments.clone(),
            ..QueueDeclare::default()
        };
        self.send(method.into())
    }

    /// `queue.bind`: routes messages of `exchange` with `routing_key` to `queue`;
    /// [`Reply::QueueBound`] follows.
    ///
    /// # Errors
    ///
    /// A name over 255 bytes, or the channel is not open.
    pub fn queue_bind(
        &mut self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), ClientError> {
        let method = QueueBind {
            queue: short(queue)?,
            exchange: short(exchange)?,
            routing_key: short(routing_key)?,
            arguments,
            ..QueueBind::default()
        };
        self.send(method.into())
    }

    /// `queue.unbind`: removes a binding made by [`queue_bind`](Self::queue_bind);
    /// [`Reply::QueueUnbound`] follows.
    ///
    /// # Errors
    ///
    /// A name over 255 bytes, or the channel is not open.
    pub fn queue_unbind(
        &mut self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), ClientError> {
        let method = QueueUnbind {
            queue: short(queue)?,
            exchange: short(exchange)?,
            routing_key: short(routing_key)?,
            arguments,
            ..QueueUnbind::default()
        };
        self.send(method.into())
    }

    /// `queue.purge`: drops the queue's ready messages; [`Reply::QueuePurged`] follows with
    /// their number.
    ///
    /// # Errors
    ///
    /// A name over 255 bytes, or the channel is not open.
    pub fn queue_purge(&mut self, queue: &str) -> Result<(), ClientError> {
        let method = QueuePurge {
            queue: short(queue)?,
            ..QueuePurge::default()
        };
        self.send(method.into())
    }

    /// `queue.delete`, only `if_unused` (no consumers) and only `if_empty` if asked (else
    /// 406 `PRECONDITION_FAILED` closes the channel); [`Reply::QueueDeleted`] follows.
    ///
    /// # Errors
    ///
    /// A name over 255 bytes, or the channel is not open.
    pub fn queue_delete(
        &mut self,
        queue: &str,
        if_unused: bool,
        if_empty: bool,
    ) -> Result<(), ClientError> {
        let method = QueueDelete {
            queue: short(queue)?,
            if_unused,
            if_empty,
            ..QueueDelete::default()
        };
        self.send(method.into())
    }

    /// `exchange.delete`, only `if_unused` (no bindings) if asked;
    /// [`Reply::ExchangeDeleted`] follows.
    ///
    /// # Errors
    ///
    /// A name over 255 bytes, or the channel is not open.
    pub fn exchange_delete(&mut self, exchange: &str, if_unused: bool) -> Result<(), ClientError> {
        let method = ExchangeDelete {
            exchange: short(exchange)?,
            if_unused,
            ..ExchangeDelete::default()
        };
        self.send(method.into())
    }

    /// `exchange.bind` (a RabbitMQ extension): routes messages of `source` with
    /// `routing_key` on to `destination`; [`Reply::ExchangeBound`] follows.
    ///
    /// # Errors
    ///
    /// A name over 255 bytes, or the channel is not open.
    pub fn exchange_bind(
        &mut self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), ClientError> {
        let method = ExchangeBind {
            destination: short(destination)?,
            source: short(source)?,
            routing_key: short(routing_key)?,
            arguments,
            ..ExchangeBind::default()
        };
        self.send(method.into())
    }

    /// `exchange.unbind`: removes a binding made by [`exchange_bind`](Self::exchange_bind);
    /// [`Reply::ExchangeUnbound`] follows.
    ///
    /// # Errors
    ///
    /// A name over 255 bytes, or the channel is not open.
    pub fn exchange_unbind(
        &mut self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), ClientError> {
        let method = ExchangeUnbind {
            destination: short(destination)?,
            source: short(source)?,
            routing_key: short(routing_key)?,
            arguments,
            ..ExchangeUnbind::default()
        };
        self.send(method.into())
    }

    /// `basic.qos`: at most `prefetch_count` unacked deliveries to this channel's consumers
    /// (0: no limit); [`Reply::QosSet`] follows.
    ///
    /// # Errors
    ///
    /// The channel is not open.
    pub fn qos(&mut self, prefetch_count: u16) -> Result<(), ClientError> {
        self.send(
            BasicQos {
                prefetch_size: 0,
                prefetch_count,
                global: false,
            }
            .into(),
        )
    }

    /// `basic.publish`: the method, the content header and the body cut into frames of the
    /// negotiated `frame-max`.
    ///
    /// Returns the publish's sequence number in confirm mode (see
    /// [`confirm_select`](Self::confirm_select)); its confirmation arrives as
    /// [`on_confirm`](super::ConnectionHandler::on_confirm).
    ///
    /// # Errors
    ///
    /// [`ClientError::Paused`] under back-pressure (nothing is queued: publish again from
    /// [`on_writable`](super::ConnectionHandler::on_writable)); names over 255 bytes; the
    /// channel is not open.
    pub fn publish(&mut self, publish: &Publish, body: &[u8]) -> Result<Option<u64>, ClientError> {
        self.conn.check_channel(self.id)?;
        if !self.conn.can_publish() {
            self.conn.publish_refused();
            return Err(ClientError::Paused);
        }
        let method: Method = BasicPublish {
            exchange: short(&publish.exchange)?,
            routing_key: short(&publish.routing_key)?,
            mandatory: publish.mandatory,
            ..BasicPublish::default()
        }
        .into();
        self.conn
            .send_message(self.id, &method, &publish.properties, body)?;
        let seq = self
            .conn
            .state
            .channels
            .get_mut(&self.id)
            .and_then(|ch| ch.confirms.as_mut())
            .map(|c| {
                let seq = c.next;
                c.next += 1;
                c.unconfirmed.insert(seq);
                seq
            });
        Ok(seq)
    }

    /// Publish confirms not yet received on this channel.
    pub fn unconfirmed(&self) -> usize {
        self.conn
            .state
            .channels
            .get(&self.id)
            .and_then(|ch| ch.confirms.as_ref())
            .map_or(0, |c| c.unconfirmed.len())
    }

    /// `basic.consume`: deliveries from `queue` arrive as
    /// [`on_delivery`](super::ConnectionHandler::on_delivery). Returns the consumer tag
    /// (chosen by the client); [`Reply::Consuming`] follows.
    ///
    /// # Errors
    ///
    /// A name over 255 bytes, or the channel is not open.
    pub fn consume(
        &mut self,
        queue: &str,
        options: &ConsumeOptions,
    ) -> Result<String, ClientError> {
        self.conn.check_channel(self.id)?;
        let n = self.conn.state.channels.get_mut(&self.id).map_or(0, |ch| {
            ch.consumers += 1;
            ch.consumers
        });
        let tag = format!("spindle.{}.{n}", self.id);
        let method = BasicConsume {
            queue: short(queue)?,
            consumer_tag: short(&tag)?,
            no_ack: options.no_ack,
            exclusive: options.exclusive,
            arguments: options.arguments.clone(),
            ..BasicConsume::default()
        };
        self.send(method.into())?;
        Ok(tag)
    }

    /// `basic.cancel`: stops a consumer; [`Reply::Cancelled`] follows.
    ///
    /// # Errors
    ///
    /// A tag over 255 bytes, or the channel is not open.
    pub fn cancel(&mut self, consumer_tag: &str) -> Result<(), ClientError> {
        let method = BasicCancel {
            consumer_tag: short(consumer_tag)?,
            nowait: false,
        };
        self.send(method.into())
    }

    /// `basic.get`: fetches one message; [`on_get`](super::ConnectionHandler::on_get) follows
    /// with it, or with `None` if the queue is empty.
    ///
    /// # Errors
    ///
    /// A name over 255 bytes, or the channel is not open.
    pub fn get(&mut self, queue: &str, no_ack: bool) -> Result<(), ClientError> {
        let method = BasicGet {
            queue: short(queue)?,
            no_ack,
            ..BasicGet::default()
        };
        self.send(method.into())
    }

    /// `basic.ack`: acknowledges `delivery_tag` (and all before it if `multiple`).
    ///
    /// # Errors
    ///
    /// The channel is not open.
    pub fn ack(&mut self, delivery_tag: u64, multiple: bool) -> Result<(), ClientError> {
        self.send(
            BasicAck {
                delivery_tag,
                multiple,
            }
            .into(),
        )
    }

    /// `basic.nack`: refuses `delivery_tag` (and all before it if `multiple`), requeued or
    /// dropped (dead-lettered).
    ///
    /// # Errors
    ///
    /// The channel is not open.
    pub fn nack(
        &mut self,
        delivery_tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> Result<(), ClientError> {
        self.send(
            BasicNack {
                delivery_tag,
                multiple,
                requeue,
            }
            .into(),
        )
    }

    /// `basic.reject`: refuses one delivery, requeued or dropped.
    ///
    /// # Errors
    ///
    /// The channel is not open.
    pub fn reject(&mut self, delivery_tag: u64, requeue: bool) -> Result<(), ClientError> {
        self.send(
            BasicReject {
                delivery_tag,
                requeue,
            }
            .into(),
        )
    }

    /// `basic.recover`: the broker delivers this channel's unacked messages again (RabbitMQ
    /// requeues them; `requeue = false` is not supported by RabbitMQ). [`Reply::Recovered`]
    /// follows.
    ///
    /// # Errors
    ///
    /// The channel is not open.
    pub fn recover(&mut self, requeue: bool) -> Result<(), ClientError> {
        self.send(BasicRecover { requeue }.into())
    }

    /// `tx.select`: publishes and acks on this channel take effect only at
    /// [`tx_commit`](Self::tx_commit); [`Reply::TxSelected`] follows.
    ///
    /// # Errors
    ///
    /// The channel is not open.
    pub fn tx_select(&mut self) -> Result<(), ClientError> {
        self.send(TxSelect.into())
    }

    /// `tx.commit`: the publishes and acks since the last commit or rollback take effect;
    /// [`Reply::TxCommitted`] follows.
    ///
    /// # Errors
    ///
    /// The channel is not open.
    pub fn tx_commit(&mut self) -> Result<(), ClientError> {
        self.send(TxCommit.into())
    }

    /// `tx.rollback`: the publishes and acks since the last commit or rollback are dropped
    /// (rolled-back acks are not redelivered until [`recover`](Self::recover) or the channel
    /// closes); [`Reply::TxRolledBack`] follows.
    ///
    /// # Errors
    ///
    /// The channel is not open.
    pub fn tx_rollback(&mut self) -> Result<(), ClientError> {
        self.send(TxRollback.into())
    }

    /// `confirm.select`: the broker confirms every later publish on this channel; publishes
    /// are numbered from 1. [`Reply::ConfirmSelected`] follows.
    ///
    /// # Errors
    ///
    /// The channel is not open.
    pub fn confirm_select(&mut self) -> Result<(), ClientError> {
        self.send(ConfirmSelect { nowait: false }.into())?;
        if let Some(ch) = self.conn.state.channels.get_mut(&self.id) {
            ch.confirms.get_or_insert(Confirms {
                next: 1,
                unconfirmed: BTreeSet::new(),
            });
        }
        Ok(())
    }
}

pub(crate) fn channel_open() -> Method {
    ChannelOpen::default().into()
}
