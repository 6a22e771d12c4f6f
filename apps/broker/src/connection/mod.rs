//! The broker's side of one AMQP connection, the only file that sees the reactor: the
//! handshake (protocol header, start/start-ok with PLAIN or AMQPLAIN, tune, open), channels,
//! heartbeats, closes both ways, and each channel method handed to the [`Broker`] core with
//! its answer written back. Deliveries the core makes leave through [`Out`], a [`Sink`] over
//! this connection's transport that reaches other connections with `write_to`.
//!
//! ```text
//! client                         Connection                      Broker (core)
//! "AMQP" 0 0 9 1  ─────────────►  connection.start  ──►
//! start-ok (PLAIN) ────────────►  users.authenticate ──► tune
//! tune-ok, open "/" ───────────►  open_connection ─────► open-ok
//! basic.publish + content ─────►  publish ─────────────► route → queues → dispatch
//!                                                       Sink::deliver ──► write_to(consumer)
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use spindle_protocols::amqp::content::encode_message;
use spindle_protocols::amqp::frame::{encode_heartbeat, encode_method};
use spindle_protocols::amqp::{
    AmqpError, BasicAck, BasicCancel, BasicCancelOk, BasicConsumeOk, BasicDeliver, BasicGetEmpty,
    BasicGetOk, BasicNack, BasicProperties, BasicQosOk, BasicRecoverOk, BasicReturn, ChannelClose,
    ChannelCloseOk, ChannelFlowOk, ChannelOpenOk, Command, ConfirmSelectOk, ConnectionBlocked,
    ConnectionClose, ConnectionCloseOk, ConnectionOpenOk, ConnectionStart, ConnectionTune,
    ConnectionUnblocked, ExchangeBindOk, ExchangeDeclareOk, ExchangeDeleteOk, ExchangeUnbindOk,
    FieldTable, FieldValue, Frame, FramePayload, FrameReceiver, Message, Method, QueueBindOk,
    QueueDeclareOk, QueueDeleteOk, QueuePurgeOk, QueueUnbindOk, ReplyCode, ShortStr, TxCommitOk,
    TxRollbackOk, TxSelectOk, PROTOCOL_HEADER,
};
use spindle_reactor::{
    Address, ConnId, DisconnectReason, Factory, LoopingCall, Protocol, ProtocolResult, Reactor,
    TimerId, Transport,
};

use crate::channel::{Channel, TxWork};
use crate::core::auth::{is_loopback, parse_amqplain, parse_plain, vhost_refused};
use crate::core::confirms::ConfirmFrame;
use crate::core::{Broker, Delivery, Sink};
use crate::durable::DefinitionsFile;
use crate::error::Refusal;

/// The smallest frame a peer may ask for (the spec's `frame-min-size`).
const FRAME_MIN_SIZE: u32 = 4096;
/// How long to wait for `close-ok` after sending `connection.close`.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for "AMQP" 0 0 9 1.
    Header,
    /// `connection.start` sent.
    StartOk,
    /// `connection.tune` sent.
    TuneOk,
    /// Tuned: waiting for `connection.open`.
    Open,
    /// Open: channels work.
    Running,
    /// `connection.close` sent; waiting for `close-ok`.
    Closing,
    /// Closed or closing the socket.
    Done,
}

/// One client connection.
pub(crate) struct Connection {
    broker: Rc<RefCell<Broker>>,
    peer: Option<SocketAddr>,
    rx: FrameReceiver,
    phase: Phase,
    /// What this connection writes this turn (answers, its own deliveries), in order.
    out: BytesMut,
    /// Deliveries to other connections are encoded here, then handed over.
    scratch: BytesMut,
    channels: HashMap<u16, Channel>,
    user: String,
    frame_max: u32,
    channel_max: u16,
    heartbeat: u16,
    heartbeat_timer: Option<TimerId>,
    close_timer: Option<TimerId>,
    last_received: Option<Instant>,
    /// Registered in the core (after `connection.open`).
    registered: bool,
    /// The client announced the `connection.blocked` capability in `start-ok`.
    notify_blocked: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .field("phase", &self.phase)
            .field("user", &self.user)
            .finish()
    }
}

/// The core's effects, written through this connection's transport.
struct Out<'a> {
    tx: &'a mut dyn Transport,
    me: ConnId,
    own: &'a mut BytesMut,
    scratch: &'a mut BytesMut,
}

impl Out<'_> {
    fn buffer_for(&mut self, conn: ConnId) -> &mut BytesMut {
        if conn == self.me {
            self.own
        } else {
            self.scratch
        }
    }

    fn hand_over(&mut self, conn: ConnId) {
        if conn != self.me && !self.scratch.is_empty() {
            self.tx.write_bytes_to(conn, self.scratch.split().freeze());
        }
    }
}

/// `basic.deliver` and its message, framed for `d.frame_max`.
fn encode_delivery(d: &Delivery<'_>, buf: &mut BytesMut) {
    let method = Method::BasicDeliver(BasicDeliver {
        consumer_tag: d.consumer_tag.clone(),
        delivery_tag: d.delivery_tag,
        redelivered: d.redelivered,
        exchange: d.message.exchange.clone(),
        routing_key: d.message.routing_key.clone(),
    });
    if let Err(e) = encode_message(
        d.channel,
        &method,
        &d.message.properties,
        &d.message.body,
        d.frame_max,
        buf,
    ) {
        log::warn!("cannot encode a delivery to {}: {e}", d.conn);
    }
}

/// The broker's `basic.cancel` of a consumer.
/// Publisher confirms as `basic.ack` / `basic.nack` frames.
fn encode_confirms(frames: &[ConfirmFrame], buf: &mut BytesMut) {
    for &(channel, delivery_tag, multiple, ack) in frames {
        let method = if ack {
            Method::BasicAck(BasicAck {
                delivery_tag,
                multiple,
            })
        } else {
            Method::BasicNack(BasicNack {
                delivery_tag,
                multiple,
                requeue: false,
            })
        };
        if let Err(e) = encode_method(channel, &method, buf) {
            log::warn!("cannot encode a confirm: {e}");
        }
    }
}

/// `connection.blocked` with its reason, or `connection.unblocked` for `None`.
fn encode_blocked(reason: Option<&str>, buf: &mut BytesMut) {
    let method = match reason {
        Some(r) => Method::ConnectionBlocked(ConnectionBlocked {
            reason: ShortStr::try_from(r).unwrap_or_default(),
        }),
        None => Method::ConnectionUnblocked(ConnectionUnblocked),
    };
    if let Err(e) = encode_method(0, &method, buf) {
        log::warn!("cannot encode connection.blocked: {e}");
    }
}

fn encode_cancel(channel: u16, consumer_tag: &ShortStr, buf: &mut BytesMut) {
    let method = Method::BasicCancel(BasicCancel {
        consumer_tag: consumer_tag.clone(),
        nowait: true,
    });
    if let Err(e) = encode_method(channel, &method, buf) {
        log::warn!("cannot encode a cancel: {e}");
    }
}

impl Sink for Out<'_> {
    fn deliver(&mut self, d: Delivery<'_>) {
        let conn = d.conn;
        encode_delivery(&d, self.buffer_for(conn));
        self.hand_over(conn);
    }

    fn cancel(&mut self, conn: ConnId, channel: u16, consumer_tag: &ShortStr) {
        encode_cancel(channel, consumer_tag, self.buffer_for(conn));
        self.hand_over(conn);
    }

    fn backlog(&self, conn: ConnId) -> usize {
        if conn == self.me {
            self.tx.buffered() + self.own.len()
        } else {
            self.tx.buffered_of(conn).unwrap_or(0)
        }
    }

    fn wait_for_drain(&mut self, conn: ConnId) {
        if conn == self.me {
            self.tx.resume_when_drained();
        } else {
            self.tx.resume_when_drained_of(conn);
        }
    }

    fn resume_reading(&mut self, conn: ConnId) {
        if conn == self.me {
            self.tx.resume_reading();
        } else {
            self.tx.resume_reading_of(conn);
        }
    }

    fn blocked(&mut self, conn: ConnId, reason: Option<&str>) {
        encode_blocked(reason, self.buffer_for(conn));
        self.hand_over(conn);
    }

    fn confirms(&mut self, conn: ConnId, frames: &[ConfirmFrame]) {
        encode_confirms(frames, self.buffer_for(conn));
        self.hand_over(conn);
    }
}

/// The core's effects written by the broker's clock tick, outside any connection's callback.
struct ReactorOut<'a> {
    reactor: &'a mut Reactor,
    scratch: BytesMut,
}

impl Sink for ReactorOut<'_> {
    fn deliver(&mut self, d: Delivery<'_>) {
        encode_delivery(&d, &mut self.scratch);
        self.reactor
            .write_bytes_to(d.conn, self.scratch.split().freeze());
    }

    fn cancel(&mut self, conn: ConnId, channel: u16, consumer_tag: &ShortStr) {
        encode_cancel(channel, consumer_tag, &mut self.scratch);
        self.reactor
            .write_bytes_to(conn, self.scratch.split().freeze());
    }

    fn backlog(&self, conn: ConnId) -> usize {
        self.reactor.buffered_of(conn).unwrap_or(0)
    }

    fn wait_for_drain(&mut self, conn: ConnId) {
        self.reactor.resume_when_drained_of(conn);
    }

    fn resume_reading(&mut self, conn: ConnId) {
        self.reactor.resume_reading_of(conn);
    }

    fn blocked(&mut self, conn: ConnId, reason: Option<&str>) {
        encode_blocked(reason, &mut self.scratch);
        self.reactor
            .write_bytes_to(conn, self.scratch.split().freeze());
    }

    fn confirms(&mut self, conn: ConnId, frames: &[ConfirmFrame]) {
        encode_confirms(frames, &mut self.scratch);
        self.reactor
            .write_bytes_to(conn, self.scratch.split().freeze());
    }
}

/// How often the broker's clock ticks: expiry of messages (a TTL is honoured to about this)
/// and of unused queues.
const TICK: Duration = Duration::from_millis(100);

/// Runs [`Broker::before_flush`] at the end of every reactor turn: the turn's writes to the
/// message store are made durable, then the confirms that waited for them are written.
/// With a data directory, the durable definitions are saved first when the turn changed them.
pub(crate) fn start_before_flush(
    reactor: &mut Reactor,
    broker: Rc<RefCell<Broker>>,
    mut definitions: Option<DefinitionsFile>,
) {
    reactor.before_flush(move |r| {
        if let Ok(mut b) = broker.try_borrow_mut() {
            if let Some(file) = definitions.as_mut() {
                if let Some(defs) = b.durable_definitions_if_changed() {
                    if let Err(e) = file.save(&defs) {
                        log::error!("cannot save the durable definitions (trying again): {e}");
                        b.definitions_not_saved();
                    }
                }
            }
            let mut out = ReactorOut {
                reactor: r,
                scratch: BytesMut::new(),
            };
            b.before_flush(&mut out);
        }
    });
}

/// Starts the broker's clock tick on `reactor` ([`Broker::tick`]).
pub(crate) fn start_tick(reactor: &mut Reactor, broker: Rc<RefCell<Broker>>) {
    LoopingCall::start(reactor, TICK, false, move |r| {
        let now = r.now();
        if let Ok(mut b) = broker.try_borrow_mut() {
            let mut out = ReactorOut {
                reactor: r,
                scratch: BytesMut::new(),
            };
            b.tick(now, &mut out);
        }
    });
}

impl Connection {
    /// A connection from `peer` to the shared broker.
    pub(crate) fn new(broker: Rc<RefCell<Broker>>, peer: Option<SocketAddr>) -> Connection {
        let (frame_max, channel_max, heartbeat) = {
            let b = broker.borrow();
            (b.config.frame_max, b.config.channel_max, b.config.heartbeat)
        };
        Connection {
            broker,
            peer,
            rx: FrameReceiver::new(),
            phase: Phase::Header,
            out: BytesMut::new(),
            scratch: BytesMut::new(),
            channels: HashMap::new(),
            user: String::new(),
            frame_max,
            channel_max,
            heartbeat,
            heartbeat_timer: None,
            close_timer: None,
            last_received: None,
            registered: false,
            notify_blocked: false,
        }
    }

    fn send(&mut self, channel: u16, method: impl Into<Method>) {
        if let Err(e) = encode_method(channel, &method.into(), &mut self.out) {
            log::warn!("cannot encode a method: {e}");
        }
    }

    fn send_message(
        &mut self,
        channel: u16,
        method: Method,
        properties: &BasicProperties,
        body: &[u8],
    ) {
        if let Err(e) = encode_message(
            channel,
            &method,
            properties,
            body,
            self.frame_max,
            &mut self.out,
        ) {
            log::warn!("cannot encode a message: {e}");
        }
    }

    /// Closes the connection with `code` and `text` (RabbitMQ's words), naming the method
    /// that caused it; frames are then ignored until `close-ok`.
    fn close_connection(
        &mut self,
        code: ReplyCode,
        text: String,
        ids: (u16, u16),
        tx: &mut dyn Transport,
    ) {
        if matches!(self.phase, Phase::Closing | Phase::Done) {
            return;
        }
        log::warn!("[{}] closing the connection: {text}", tx.id());
        let confirms = self.with_core(tx, |b, me, _| b.confirms_before_close(me, None));
        self.write_confirms(&confirms);
        let reply_text = ShortStr::try_from(truncate(text)).unwrap_or_default();
        self.send(
            0,
            ConnectionClose {
                reply_code: code.code(),
                reply_text,
                class_id: ids.0,
                method_id: ids.1,
            },
        );
        self.phase = Phase::Closing;
        self.close_timer = Some(tx.call_later(CLOSE_TIMEOUT));
        self.forget_in_core(tx);
    }

    /// Answers a refused method: `channel.close` for a soft code, `connection.close` for a
    /// hard one.
    fn refuse(&mut self, channel: u16, refusal: Refusal, ids: (u16, u16), tx: &mut dyn Transport) {
        if refusal.code.is_hard_error() || channel == 0 {
            self.close_connection(refusal.code, refusal.reply_text(), ids, tx);
            return;
        }
        log::debug!("[{}] closing channel {channel}: {refusal}", tx.id());
        let reply_text = ShortStr::try_from(truncate(refusal.reply_text())).unwrap_or_default();
        self.send(
            channel,
            ChannelClose {
                reply_code: refusal.code.code(),
                reply_text,
                class_id: ids.0,
                method_id: ids.1,
            },
        );
        if let Some(ch) = self.channels.get_mut(&channel) {
            ch.closing = true;
            ch.tx = None;
        }
        self.with_core(tx, |b, me, _| b.drop_confirms(me, channel));
        self.with_core(tx, |b, me, out| b.close_channel(me, channel, out));
    }

    /// Runs `f` on the core with a sink over this connection's transport.
    fn with_core<T>(
        &mut self,
        tx: &mut dyn Transport,
        f: impl FnOnce(&mut Broker, ConnId, &mut dyn Sink) -> T,
    ) -> T {
        let me = tx.id();
        let mut out = Out {
            tx,
            me,
            own: &mut self.out,
            scratch: &mut self.scratch,
        };
        let mut broker = self.broker.borrow_mut();
        broker.set_clock(out.tx.now());
        f(&mut broker, me, &mut out)
    }

    fn forget_in_core(&mut self, tx: &mut dyn Transport) {
        if std::mem::take(&mut self.registered) {
            self.with_core(tx, |b, me, out| b.close_connection(me, out));
        }
    }

    /// The end of a callback: the confirms that may leave now, then everything written, in
    /// one go. (Confirms that wait for the store's fsync leave at the end of the turn.)
    fn flush(&mut self, tx: &mut dyn Transport) {
        if self.registered {
            let confirms = self.with_core(tx, |b, me, _| b.ready_confirms(me));
            self.write_confirms(&confirms);
        }
        if !self.out.is_empty() {
            tx.write_bytes(self.out.split().freeze());
        }
    }

    /// Writes confirms to this connection's output.
    fn write_confirms(&mut self, frames: &[ConfirmFrame]) {
        encode_confirms(frames, &mut self.out);
    }

    fn server_properties() -> FieldTable {
        let mut caps = FieldTable::new();
        for cap in [
            "publisher_confirms",
            "exchange_exchange_bindings",
            "basic.nack",
            "consumer_cancel_notify",
            "connection.blocked",
            "authentication_failure_close",
            "per_consumer_qos",
            "direct_reply_to",
        ] {
            caps.push(ShortStr::from_static(cap), FieldValue::Bool(true));
        }
        let text = |s: &'static str| FieldValue::LongStr(Bytes::from_static(s.as_bytes()));
        let mut props = FieldTable::new();
        props.push(
            ShortStr::from_static("capabilities"),
            FieldValue::Table(caps),
        );
        props.push(ShortStr::from_static("product"), text("Spindle"));
        props.push(
            ShortStr::from_static("version"),
            text(env!("CARGO_PKG_VERSION")),
        );
        props.push(ShortStr::from_static("platform"), text("Rust"));
        props.push(
            ShortStr::from_static("information"),
            text("An AMQP 0-9-1 broker for RabbitMQ's clients"),
        );
        props.push(ShortStr::from_static("cluster_name"), text("spindle"));
        props
    }

    fn on_header(&mut self, tx: &mut dyn Transport) -> bool {
        match self.rx.next_protocol_header() {
            None => false,
            Some(Err(e)) => {
                log::debug!("[{}] {e}", tx.id());
                self.out.extend_from_slice(&PROTOCOL_HEADER);
                self.phase = Phase::Done;
                false
            }
            Some(Ok(())) => {
                self.send(
                    0,
                    ConnectionStart {
                        version_major: 0,
                        version_minor: 9,
                        server_properties: Self::server_properties(),
                        mechanisms: Bytes::from_static(b"PLAIN AMQPLAIN"),
                        locales: Bytes::from_static(b"en_US"),
                    },
                );
                self.phase = Phase::StartOk;
                true
            }
        }
    }

    fn on_frame(&mut self, frame: Frame, tx: &mut dyn Transport) {
        self.last_received = Some(tx.now());
        let channel = frame.channel;
        if self.phase == Phase::Closing {
            // Only close-ok (or the peer's own close) matters now.
            if let FramePayload::Method(Method::ConnectionCloseOk(_) | Method::ConnectionClose(_)) =
                frame.payload
            {
                if let FramePayload::Method(Method::ConnectionClose(_)) = frame.payload {
                    self.send(0, ConnectionCloseOk {});
                }
                self.phase = Phase::Done;
            }
            return;
        }
        if channel == 0 {
            match frame.payload {
                FramePayload::Heartbeat => {}
                FramePayload::Method(m) => self.on_connection_method(m, tx),
                _ => self.close_connection(
                    ReplyCode::UnexpectedFrame,
                    "UNEXPECTED_FRAME - content frame on channel 0".into(),
                    (0, 0),
                    tx,
                ),
            }
            return;
        }
        if self.phase != Phase::Running {
            self.close_connection(
                ReplyCode::ChannelError,
                format!("CHANNEL_ERROR - channel {channel} used before the connection was open"),
                (0, 0),
                tx,
            );
            return;
        }
        let Some(ch) = self.channels.get_mut(&channel) else {
            match frame.payload {
                FramePayload::Method(Method::ChannelOpen(_)) => self.open_channel(channel, tx),
                FramePayload::Method(m) => {
                    let ids = (m.class_id(), m.method_id());
                    self.close_connection(
                        ReplyCode::ChannelError,
                        format!("CHANNEL_ERROR - expected 'channel.open' on channel {channel}"),
                        ids,
                        tx,
                    );
                }
                _ => self.close_connection(
                    ReplyCode::ChannelError,
                    format!("CHANNEL_ERROR - channel {channel} is not open"),
                    (0, 0),
                    tx,
                ),
            }
            return;
        };
        if ch.closing {
            if let FramePayload::Method(Method::ChannelCloseOk(_)) = frame.payload {
                self.channels.remove(&channel);
            } else if let FramePayload::Method(Method::ChannelClose(_)) = frame.payload {
                self.send(channel, ChannelCloseOk {});
                self.channels.remove(&channel);
            }
            return;
        }
        match ch.frame(frame.payload) {
            Ok(None) => {}
            Ok(Some(Command::Method(m))) => self.on_channel_method(channel, m, tx),
            Ok(Some(Command::Message(msg))) => self.on_publish(channel, msg, tx),
            Err(e) => self.on_codec_error(channel, &e, tx),
        }
    }

    fn on_codec_error(&mut self, channel: u16, e: &AmqpError, tx: &mut dyn Transport) {
        let refusal = Refusal::new(e.reply_code(), e.to_string());
        self.refuse(channel, refusal, e.method_ids(), tx);
    }

    fn open_channel(&mut self, channel: u16, tx: &mut dyn Transport) {
        if channel > self.channel_max && self.channel_max != 0 {
            self.close_connection(
                ReplyCode::NotAllowed,
                format!(
                    "NOT_ALLOWED - channel number {channel} above the negotiated channel_max {}",
                    self.channel_max
                ),
                (20, 10),
                tx,
            );
            return;
        }
        let max = self.broker.borrow().config.max_message_size;
        self.channels.insert(channel, Channel::new(max));
        self.with_core(tx, |b, me, _| b.open_channel(me, channel));
        self.send(
            channel,
            ChannelOpenOk {
                channel_id: Bytes::new(),
            },
        );
    }

    fn on_connection_method(&mut self, m: Method, tx: &mut dyn Transport) {
        let ids = (m.class_id(), m.method_id());
        match (self.phase, m) {
            (Phase::StartOk, Method::ConnectionStartOk(ok)) => {
                let mechanism = ok.mechanism.as_ref();
                let credentials = match mechanism {
                    b"PLAIN" => parse_plain(&ok.response),
                    b"AMQPLAIN" => parse_amqplain(&ok.response),
                    _ => {
                        let text = format!(
                            "ACCESS_REFUSED - unsupported authentication mechanism '{}'",
                            ok.mechanism
                        );
                        self.close_connection(ReplyCode::AccessRefused, text, ids, tx);
                        return;
                    }
                };
                let refused = format!(
                    "ACCESS_REFUSED - Login was refused using authentication mechanism {}. \
                     For details see the broker logfile.",
                    ok.mechanism
                );
                let Some((user, password)) = credentials else {
                    self.close_connection(ReplyCode::AccessRefused, refused, ids, tx);
                    return;
                };
                let from_loopback = self.peer.is_some_and(|p| is_loopback(p.ip()));
                let login = self
                    .broker
                    .borrow()
                    .users
                    .login(&user, &password, from_loopback)
                    .map(|_| ());
                if let Err(why) = login {
                    // The client is told only that the login failed (RabbitMQ's
                    // authentication_failure_close wording); the reason goes to the log.
                    log::warn!("[{}] {}", tx.id(), why.refusal(&ok.mechanism.to_string()));
                    self.close_connection(ReplyCode::AccessRefused, refused, ids, tx);
                    return;
                }
                self.user = user;
                self.notify_blocked = ok
                    .client_properties
                    .get("capabilities")
                    .and_then(FieldValue::as_table)
                    .and_then(|c| c.get("connection.blocked"))
                    .and_then(FieldValue::as_bool)
                    .unwrap_or(false);
                self.send(
                    0,
                    ConnectionTune {
                        channel_max: self.channel_max,
                        frame_max: self.frame_max,
                        heartbeat: self.heartbeat,
                    },
                );
                self.phase = Phase::TuneOk;
            }
            (Phase::TuneOk, Method::ConnectionTuneOk(ok)) => {
                if ok.frame_max != 0 && ok.frame_max < FRAME_MIN_SIZE {
                    let text = format!(
                        "NOT_ALLOWED - frame_max={} < {FRAME_MIN_SIZE} min size",
                        ok.frame_max
                    );
                    self.close_connection(ReplyCode::NotAllowed, text, ids, tx);
                    return;
                }
                if ok.frame_max != 0 {
                    self.frame_max = self.frame_max.min(ok.frame_max);
                }
                if ok.channel_max != 0 {
                    self.channel_max = self.channel_max.min(ok.channel_max);
                }
                self.heartbeat = ok.heartbeat;
                self.rx.set_frame_max(self.frame_max);
                if self.heartbeat > 0 {
                    let every = Duration::from_secs(u64::from(self.heartbeat)) / 2;
                    self.heartbeat_timer = Some(tx.call_later(every));
                }
                self.phase = Phase::Open;
            }
            (Phase::Open, Method::ConnectionOpen(open)) => {
                let vhost = open.virtual_host.to_str().unwrap_or("").to_string();
                let broker = self.broker.borrow();
                let exists = broker.has_vhost(&vhost);
                let may = broker.users.may_open(&self.user, &vhost);
                drop(broker);
                if !exists || !may {
                    let refusal = vhost_refused(&vhost, &self.user);
                    self.close_connection(refusal.code, refusal.reply_text(), ids, tx);
                    return;
                }
                let (user, frame_max, notify) =
                    (self.user.clone(), self.frame_max, self.notify_blocked);
                self.with_core(tx, |b, me, _| {
                    b.open_connection(me, &user, &vhost, frame_max, notify)
                });
                self.registered = true;
                self.send(
                    0,
                    ConnectionOpenOk {
                        known_hosts: ShortStr::default(),
                    },
                );
                self.phase = Phase::Running;
            }
            (_, Method::ConnectionClose(_)) => {
                self.send(0, ConnectionCloseOk {});
                self.forget_in_core(tx);
                self.phase = Phase::Done;
            }
            (_, Method::ConnectionCloseOk(_)) => self.phase = Phase::Done,
            (_, other) => {
                let text = format!(
                    "COMMAND_INVALID - {} not expected on channel 0 now",
                    other.name()
                );
                self.close_connection(ReplyCode::CommandInvalid, text, ids, tx);
            }
        }
    }

    fn on_channel_method(&mut self, channel: u16, m: Method, tx: &mut dyn Transport) {
        let ids = (m.class_id(), m.method_id());
        if let Err(refusal) = self.run_channel_method(channel, m, tx) {
            self.refuse(channel, refusal, ids, tx);
        }
    }

    fn run_channel_method(
        &mut self,
        channel: u16,
        m: Method,
        tx: &mut dyn Transport,
    ) -> Result<(), Refusal> {
        match m {
            Method::ChannelClose(_) => {
                // Its confirms go before close-ok (made durable first if they must wait).
                let confirms =
                    self.with_core(tx, |b, me, _| b.confirms_before_close(me, Some(channel)));
                self.write_confirms(&confirms);
                self.with_core(tx, |b, me, out| b.close_channel(me, channel, out));
                self.channels.remove(&channel);
                self.send(channel, ChannelCloseOk {});
            }
            Method::ChannelFlow(f) => {
                self.with_core(tx, |b, me, out| b.flow(me, channel, f.active, out));
                self.send(channel, ChannelFlowOk { active: f.active });
            }
            Method::ChannelOpen(_) => {
                return Err(Refusal::new(
                    ReplyCode::ChannelError,
                    format!("second 'channel.open' seen on channel {channel}"),
                ))
            }
            Method::ExchangeDeclare(d) => {
                self.with_core(tx, |b, me, _| b.exchange_declare(me, &d))?;
                if !d.nowait {
                    self.send(channel, ExchangeDeclareOk {});
                }
            }
            Method::ExchangeDelete(d) => {
                self.with_core(tx, |b, me, _| {
                    b.exchange_delete(me, &d.exchange, d.if_unused)
                })?;
                if !d.nowait {
                    self.send(channel, ExchangeDeleteOk {});
                }
            }
            Method::ExchangeBind(d) => {
                self.with_core(tx, |b, me, _| b.exchange_bind(me, &d, true))?;
                if !d.nowait {
                    self.send(channel, ExchangeBindOk {});
                }
            }
            Method::ExchangeUnbind(d) => {
                let bind = spindle_protocols::amqp::ExchangeBind {
                    ticket: 0,
                    destination: d.destination,
                    source: d.source,
                    routing_key: d.routing_key,
                    nowait: d.nowait,
                    arguments: d.arguments,
                };
                self.with_core(tx, |b, me, _| b.exchange_bind(me, &bind, false))?;
                if !bind.nowait {
                    self.send(channel, ExchangeUnbindOk {});
                }
            }
            Method::QueueDeclare(d) => {
                let (queue, message_count, consumer_count) =
                    self.with_core(tx, |b, me, _| b.queue_declare(me, &d))?;
                if !d.nowait {
                    self.send(
                        channel,
                        QueueDeclareOk {
                            queue,
                            message_count,
                            consumer_count,
                        },
                    );
                }
            }
            Method::QueueBind(d) => {
                self.with_core(tx, |b, me, _| b.queue_bind_method(me, &d))?;
                if !d.nowait {
                    self.send(channel, QueueBindOk {});
                }
            }
            Method::QueueUnbind(d) => {
                self.with_core(tx, |b, me, _| {
                    b.queue_bind(
                        me,
                        &d.queue,
                        &d.exchange,
                        &d.routing_key,
                        &d.arguments,
                        false,
                    )
                })?;
                self.send(channel, QueueUnbindOk {});
            }
            Method::QueuePurge(d) => {
                let message_count =
                    self.with_core(tx, |b, me, out| b.queue_purge(me, &d.queue, out))?;
                if !d.nowait {
                    self.send(channel, QueuePurgeOk { message_count });
                }
            }
            Method::QueueDelete(d) => {
                let message_count = self.with_core(tx, |b, me, out| {
                    b.queue_delete(me, &d.queue, d.if_unused, d.if_empty, out)
                })?;
                if !d.nowait {
                    self.send(channel, QueueDeleteOk { message_count });
                }
            }
            Method::BasicQos(q) => {
                self.send(channel, BasicQosOk {});
                self.with_core(tx, |b, me, out| {
                    b.qos(me, channel, q.prefetch_count, q.global, out)
                });
            }
            Method::BasicConsume(c) => {
                let tag = self.with_core(tx, |b, me, _| {
                    b.consume(
                        me,
                        channel,
                        &c.queue,
                        &c.consumer_tag,
                        c.no_ack,
                        c.exclusive,
                    )
                })?;
                if !c.nowait {
                    self.send(channel, BasicConsumeOk { consumer_tag: tag });
                }
                self.with_core(tx, |b, me, out| b.serve(me, channel, out));
            }
            Method::BasicCancel(c) => {
                self.with_core(tx, |b, me, out| b.cancel(me, channel, &c.consumer_tag, out));
                if !c.nowait {
                    self.send(
                        channel,
                        BasicCancelOk {
                            consumer_tag: c.consumer_tag,
                        },
                    );
                }
            }
            Method::BasicGet(g) => {
                let got =
                    self.with_core(tx, |b, me, out| b.get(me, channel, &g.queue, g.no_ack, out))?;
                match got {
                    Some(got) => {
                        let method = Method::BasicGetOk(BasicGetOk {
                            delivery_tag: got.delivery_tag,
                            redelivered: got.redelivered,
                            exchange: got.message.exchange.clone(),
                            routing_key: got.message.routing_key.clone(),
                            message_count: got.message_count,
                        });
                        self.send_message(
                            channel,
                            method,
                            &got.message.properties,
                            &got.message.body,
                        );
                    }
                    None => self.send(
                        channel,
                        BasicGetEmpty {
                            cluster_id: ShortStr::default(),
                        },
                    ),
                }
            }
            Method::BasicAck(a) => self.settle(
                channel,
                TxWork::Ack {
                    tag: a.delivery_tag,
                    multiple: a.multiple,
                },
                tx,
            )?,
            Method::BasicNack(n) => self.settle(
                channel,
                TxWork::Nack {
                    tag: n.delivery_tag,
                    multiple: n.multiple,
                    requeue: n.requeue,
                },
                tx,
            )?,
            Method::BasicReject(r) => self.settle(
                channel,
                TxWork::Nack {
                    tag: r.delivery_tag,
                    multiple: false,
                    requeue: r.requeue,
                },
                tx,
            )?,
            Method::BasicRecover(_) => {
                self.with_core(tx, |b, me, out| b.recover(me, channel, out));
                self.send(channel, BasicRecoverOk {});
            }
            Method::BasicRecoverAsync(_) => {
                self.with_core(tx, |b, me, out| b.recover(me, channel, out));
            }
            Method::ConfirmSelect(s) => {
                let ch = self.channels.get_mut(&channel);
                if ch.as_ref().is_some_and(|c| c.tx.is_some()) {
                    return Err(Refusal::precondition(
                        "cannot switch from tx to confirm mode",
                    ));
                }
                if let Some(ch) = ch {
                    ch.confirming = true;
                }
                if !s.nowait {
                    self.send(channel, ConfirmSelectOk {});
                }
            }
            Method::TxSelect(_) => {
                let ch = self.channels.get_mut(&channel);
                if ch.as_ref().is_some_and(|c| c.confirming) {
                    return Err(Refusal::precondition(
                        "cannot switch from confirm to tx mode",
                    ));
                }
                if let Some(ch) = ch {
                    ch.tx.get_or_insert_with(Vec::new);
                }
                self.send(channel, TxSelectOk {});
            }
            Method::TxCommit(_) => {
                let work = match self.channels.get_mut(&channel) {
                    Some(Channel { tx: Some(work), .. }) => std::mem::take(work),
                    _ => return Err(Refusal::precondition("channel is not transactional")),
                };
                for w in work {
                    self.apply(channel, w, tx)?;
                }
                // commit-ok promises the publishes are stored: durable before it leaves.
                self.with_core(tx, |b, _, _| {
                    if b.must_sync() {
                        b.sync_now();
                    }
                });
                self.send(channel, TxCommitOk {});
            }
            Method::TxRollback(_) => {
                match self.channels.get_mut(&channel) {
                    Some(Channel { tx: Some(work), .. }) => work.clear(),
                    _ => return Err(Refusal::precondition("channel is not transactional")),
                }
                self.send(channel, TxRollbackOk {});
            }
            other => {
                return Err(Refusal::new(
                    ReplyCode::CommandInvalid,
                    format!("{} not expected from a client", other.name()),
                ))
            }
        }
        Ok(())
    }

    /// An ack or nack: now, or at commit in a transaction.
    fn settle(
        &mut self,
        channel: u16,
        work: TxWork,
        tx: &mut dyn Transport,
    ) -> Result<(), Refusal> {
        if let Some(Channel {
            tx: Some(pending), ..
        }) = self.channels.get_mut(&channel)
        {
            pending.push(work);
            return Ok(());
        }
        self.apply(channel, work, tx)
    }

    fn apply(&mut self, channel: u16, work: TxWork, tx: &mut dyn Transport) -> Result<(), Refusal> {
        match work {
            TxWork::Ack { tag, multiple } => {
                self.with_core(tx, |b, me, out| b.ack(me, channel, tag, multiple, out))
            }
            TxWork::Nack {
                tag,
                multiple,
                requeue,
            } => self.with_core(tx, |b, me, out| {
                b.nack(me, channel, tag, multiple, requeue, out)
            }),
            TxWork::Publish {
                exchange,
                routing_key,
                mandatory,
                properties,
                body,
            } => {
                self.publish(
                    channel,
                    exchange,
                    routing_key,
                    mandatory,
                    *properties,
                    body,
                    tx,
                );
                Ok(())
            }
        }
    }

    fn on_publish(&mut self, channel: u16, msg: Message, tx: &mut dyn Transport) {
        let Method::BasicPublish(p) = msg.method else {
            let ids = (msg.method.class_id(), msg.method.method_id());
            let text = format!("{} is not sent by clients", msg.method.name());
            self.refuse(
                channel,
                Refusal::new(ReplyCode::CommandInvalid, text),
                ids,
                tx,
            );
            return;
        };
        if p.immediate {
            self.close_connection(
                ReplyCode::NotImplemented,
                "NOT_IMPLEMENTED - immediate=true".into(),
                (60, 40),
                tx,
            );
            return;
        }
        let work = TxWork::Publish {
            exchange: p.exchange,
            routing_key: p.routing_key,
            mandatory: p.mandatory,
            properties: Box::new(msg.properties),
            body: msg.body,
        };
        if let Some(Channel {
            tx: Some(pending), ..
        }) = self.channels.get_mut(&channel)
        {
            pending.push(work);
            return;
        }
        let _ = self.apply(channel, work, tx);
    }

    #[allow(clippy::too_many_arguments)]
    fn publish(
        &mut self,
        channel: u16,
        exchange: ShortStr,
        routing_key: ShortStr,
        mandatory: bool,
        properties: BasicProperties,
        body: Bytes,
        tx: &mut dyn Transport,
    ) {
        let seq = self
            .channels
            .get_mut(&channel)
            .and_then(Channel::next_publish);
        let returned = mandatory.then(|| (properties.clone(), body.clone()));
        let result = self.with_core(tx, |b, me, out| {
            b.publish(me, channel, &exchange, &routing_key, properties, body, out)
        });
        match result {
            Ok(outcome) => {
                if outcome.hold {
                    // Flow control: read no more from this publisher until the queue it
                    // fills has drained (the core resumes it).
                    tx.pause_reading();
                }
                if !outcome.routed {
                    if let Some((properties, body)) = returned {
                        let method = Method::BasicReturn(BasicReturn {
                            reply_code: ReplyCode::NoRoute.code(),
                            reply_text: ShortStr::from_static("NO_ROUTE"),
                            exchange,
                            routing_key,
                        });
                        self.send_message(channel, method, &properties, &body);
                    }
                }
                if let Some(seq) = seq {
                    let ack = !outcome.rejected;
                    self.with_core(tx, |b, me, _| b.confirm(me, channel, seq, ack));
                }
            }
            Err(refusal) => self.refuse(channel, refusal, (60, 40), tx),
        }
    }

    fn on_heartbeat_timer(&mut self, tx: &mut dyn Transport) {
        let every = Duration::from_secs(u64::from(self.heartbeat)) / 2;
        if tx.is_reading_paused() {
            // Held back by flow control or a full output: the client's heartbeats wait in
            // the socket, unread; that is not silence.
            self.last_received = Some(tx.now());
        }
        let silent_for = self
            .last_received
            .map_or(Duration::ZERO, |t| tx.now().saturating_duration_since(t));
        if silent_for >= Duration::from_secs(u64::from(self.heartbeat)) * 2 {
            log::warn!(
                "[{}] missed heartbeats from client, timeout: {}s",
                tx.id(),
                self.heartbeat
            );
            self.forget_in_core(tx);
            self.phase = Phase::Done;
            tx.abort_connection();
            return;
        }
        encode_heartbeat(&mut self.out);
        self.heartbeat_timer = Some(tx.call_later(every));
    }
}

fn truncate(mut text: String) -> String {
    if text.len() > ShortStr::MAX_LEN {
        let mut end = ShortStr::MAX_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

impl Protocol for Connection {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.last_received = Some(tx.now());
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.rx.feed(data);
        if self.phase == Phase::Header && !self.on_header(tx) {
            self.flush(tx);
            if self.phase == Phase::Done {
                tx.lose_connection();
            }
            return Ok(());
        }
        while self.phase != Phase::Done {
            match self.rx.next_frame() {
                None => break,
                Some(Ok(frame)) => self.on_frame(frame, tx),
                Some(Err(e)) => {
                    let lost = e.is_framing_lost();
                    let refusal = Refusal::new(e.reply_code(), e.to_string());
                    self.close_connection(refusal.code, refusal.reply_text(), e.method_ids(), tx);
                    if lost {
                        self.phase = Phase::Done;
                    }
                }
            }
        }
        self.flush(tx);
        if self.phase == Phase::Done {
            tx.lose_connection();
        }
        Ok(())
    }

    fn timer_fired(&mut self, id: TimerId, tx: &mut dyn Transport) -> ProtocolResult {
        if Some(id) == self.heartbeat_timer && !matches!(self.phase, Phase::Done) {
            self.on_heartbeat_timer(tx);
        } else if Some(id) == self.close_timer {
            self.phase = Phase::Done;
            tx.lose_connection();
        }
        self.flush(tx);
        Ok(())
    }

    fn resume_producing(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        tx.resume_reading();
        self.with_core(tx, |b, me, out| b.output_drained(me, out));
        self.flush(tx);
        Ok(())
    }

    fn connection_lost(&mut self, _reason: &DisconnectReason, tx: &mut dyn Transport) {
        self.forget_in_core(tx);
        // What the core wrote to other connections has been handed over; nothing of ours
        // can leave now.
        self.out.clear();
    }
}

/// Builds a [`Connection`] per accepted socket, all sharing one [`Broker`].
#[derive(Debug)]
pub(crate) struct BrokerFactory(pub(crate) Rc<RefCell<Broker>>);

impl Factory for BrokerFactory {
    fn build_protocol(&mut self, peer: &Address) -> Option<Box<dyn Protocol>> {
        Some(Box::new(Connection::new(
            self.0.clone(),
            peer.socket_addr(),
        )))
    }
}

#[cfg(test)]
mod tests;
