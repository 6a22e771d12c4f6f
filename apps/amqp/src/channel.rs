//! [`Channel`]: one channel of an open connection as a handler callback sees it, and the
//! commands sent on it. The handle is a [`Connection`] narrowed to a channel number, made by
//! [`Connection::channel`] (defined here so that the connection handle need not know channels).
//!
//! Commands are written at once and never wait: a synchronous method's answer arrives later
//! as [`ConnectionHandler::on_reply`](crate::ConnectionHandler::on_reply), in the order the
//! commands were sent (the broker answers a channel's methods in order). So a handler may
//! pipeline: open a channel, declare a queue and publish to it in one callback.

use spindle_protocols::amqp::{
    BasicAck, BasicCancel, BasicConsume, BasicGet, BasicNack, BasicPublish, BasicQos, BasicRecover,
    BasicReject, ChannelClose, ConfirmSelect, ExchangeBind, ExchangeDeclare, ExchangeDelete,
    ExchangeUnbind, FieldTable, Method, QueueBind, QueueDeclare, QueueDelete, QueuePurge,
    QueueUnbind, ShortStr, TxCommit, TxRollback, TxSelect,
};

use crate::connection::Connection;
use crate::error::ClientError;
use crate::option::{ConsumeOptions, ExchangeOptions, Publish, QueueOptions};
use crate::state::{ChannelPhase, Confirms};

#[cfg(doc)]
use crate::event::Reply;

/// A name as the codec takes it; longer than 255 bytes is a [`ClientError::Encode`].
fn short(s: &str) -> Result<ShortStr, ClientError> {
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
    conn: Connection<'a>,
    id: u16,
}

impl<'a> Connection<'a> {
    /// The handle of channel `id` (commands on it fail if it is not open).
    pub fn channel(&mut self, id: u16) -> Channel<'_> {
        Channel {
            conn: Connection {
                state: self.state,
                tx: self.tx,
            },
            id,
        }
    }
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
    /// is kept, [`on_channel_open`](crate::ConnectionHandler::on_channel_open) follows.
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
    /// [`on_confirm`](crate::ConnectionHandler::on_confirm).
    ///
    /// # Errors
    ///
    /// [`ClientError::Paused`] under back-pressure (nothing is queued: publish again from
    /// [`on_writable`](crate::ConnectionHandler::on_writable)); names over 255 bytes; the
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
            .map(Confirms::published);
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
    /// [`on_delivery`](crate::ConnectionHandler::on_delivery). Returns the consumer tag
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

    /// `basic.get`: fetches one message; [`on_get`](crate::ConnectionHandler::on_get) follows
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
            ch.confirms.get_or_insert_with(Confirms::new);
        }
        Ok(())
    }
}
