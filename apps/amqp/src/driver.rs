//! The protocol driver: the AMQP 0-9-1 client's state machine behind [`Client`](crate::Client).
//! It answers the broker's connection methods (the handshake, closes, `connection.blocked`),
//! turns channel frames into handler events, sends and checks heartbeats, and closes the
//! connection when something fails. It owns the [`State`] and the handler, and lends both to
//! each callback through a [`Connection`] or [`Channel`] handle.
//!
//! ```text
//! client                                  broker
//!   "AMQP" 0 0 9 1              ->
//!                               <-  connection.start  (mechanisms, server properties)
//!   connection.start-ok         ->  (PLAIN \0user\0pass, client properties)
//!                               <-  connection.tune   (channel-max, frame-max, heartbeat)
//!   connection.tune-ok          ->  (the smaller non-zero values; the heartbeat timers start)
//!   connection.open (vhost)     ->
//!                               <-  connection.open-ok      => on_open
//!   ... channels ...
//!   connection.close            ->  (or the broker's close, answered with close-ok)
//!                               <-  connection.close-ok     => on_closed
//! ```

use std::time::Duration;

use bytes::BytesMut;
use spindle_protocols::amqp::frame::{self, Frame};
use spindle_protocols::amqp::{
    ChannelCloseOk, ChannelFlowOk, Command, ConnectionClose, ConnectionCloseOk, ConnectionOpen,
    ConnectionStartOk, ConnectionTuneOk, FieldTable, FieldValue, FramePayload, Message, Method,
    ShortStr, PROTOCOL_HEADER,
};
use spindle_reactor::{DisconnectReason, TimerId, Transport};

use crate::channel::Channel;
use crate::config::Config;
use crate::connection::Connection;
use crate::error::{ClientError, ServerError};
use crate::event::{Delivery, Reply, Returned};
use crate::handler::ConnectionHandler;
use crate::state::{ChannelPhase, Phase, State};

/// One connection's state and its handler.
#[derive(Debug)]
pub(crate) struct Driver<H> {
    state: State,
    /// An `Option` only so that [`run`](crate::run) can take the handler back when the
    /// connection ends.
    pub(crate) handler: Option<H>,
}

impl<H: ConnectionHandler> Driver<H> {
    pub(crate) fn new(config: Config, handler: H) -> Self {
        Driver {
            state: State::new(config),
            handler: Some(handler),
        }
    }

    /// The TCP connection is up: the protocol header opens the handshake.
    pub(crate) fn connection_made(&mut self, tx: &mut dyn Transport) {
        self.state.last_received = Some(tx.now());
        tx.write(&PROTOCOL_HEADER);
    }

    pub(crate) fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) {
        self.state.last_received = Some(tx.now());
        if self.state.phase == Phase::AwaitStart && data.starts_with(b"AMQP") {
            // A broker that does not speak 0-9-1 answers with the version it speaks.
            let version = data.get(4..8).unwrap_or_default().to_vec();
            return self.fail(
                ClientError::Protocol(format!("the broker speaks AMQP version {version:?}")),
                tx,
            );
        }
        self.state.rx.feed(data);
        while self.state.phase != Phase::Closed {
            match self.state.rx.next_frame() {
                None => break,
                Some(Ok(frame)) => self.frame_received(frame, tx),
                Some(Err(e)) => self.fail(ClientError::Protocol(e.to_string()), tx),
            }
        }
    }

    /// The heartbeat timer, or one the handler started with `call_later`.
    pub(crate) fn timer_fired(&mut self, id: TimerId, tx: &mut dyn Transport) {
        if self.state.heartbeat_timer == Some(id) {
            self.heartbeat_due(tx);
        } else if self.state.phase == Phase::Open {
            self.with_conn(tx, |h, conn| h.on_timer(conn, id));
        }
    }

    /// Back-pressure: publishes are refused ([`ClientError::Paused`]) until
    /// [`resume_producing`](Self::resume_producing). Reading goes on, so acks, confirms and
    /// heartbeats still flow (pausing reading would stall them and the broker's flow with
    /// them).
    pub(crate) fn pause_producing(&mut self) {
        self.state.paused = true;
    }

    pub(crate) fn resume_producing(&mut self, tx: &mut dyn Transport) {
        self.state.paused = false;
        self.maybe_writable(tx);
    }

    /// The socket closed: tells the handler how the connection ended (`on_closed`, once) and
    /// returns the same.
    pub(crate) fn connection_lost(&mut self, reason: &DisconnectReason) -> Result<(), ClientError> {
        let clean = self.state.phase == Phase::Closed && self.state.error.is_none();
        let result = if clean {
            Ok(())
        } else {
            let error = self.state.error.take().unwrap_or_else(|| {
                let during = match self.state.phase {
                    Phase::AwaitStart | Phase::AwaitTune | Phase::AwaitOpenOk => {
                        " during the handshake (wrong credentials or vhost?)"
                    }
                    _ => "",
                };
                ClientError::Lost(format!("{reason}{during}"))
            });
            Err(error)
        };
        self.state.phase = Phase::Closed;
        if let Some(h) = self.handler.as_mut() {
            h.on_closed(result.as_ref().map(|_| ()));
        }
        result
    }

    /// Ends the connection with `error`: a `connection.close` (when the broker can still read
    /// it), then the socket closes once the output is flushed.
    fn fail(&mut self, error: ClientError, tx: &mut dyn Transport) {
        if self.state.phase == Phase::Closed {
            return;
        }
        match error {
            ClientError::Protocol(_) => log::warn!("amqp: {error}"),
            _ => log::debug!("amqp: closing: {error}"),
        }
        if matches!(self.state.phase, Phase::Open | Phase::AwaitOpenOk) {
            let (code, text) = match &error {
                ClientError::Protocol(_) => (505, "UNEXPECTED_FRAME"),
                _ => (200, "client error"),
            };
            let close = ConnectionClose {
                reply_code: code,
                reply_text: ShortStr::from_static(text),
                class_id: 0,
                method_id: 0,
            };
            let _ = Connection {
                state: &mut self.state,
                tx,
            }
            .send_method(0, &close.into());
        }
        self.state.error.get_or_insert(error);
        self.state.phase = Phase::Closed;
        tx.lose_connection();
    }

    /// Runs a handler callback on the connection; an `Err` closes the connection.
    pub(crate) fn with_conn(
        &mut self,
        tx: &mut dyn Transport,
        f: impl FnOnce(&mut H, &mut Connection<'_>) -> Result<(), ClientError>,
    ) {
        if self.state.phase == Phase::Closed {
            return; // a callback failed earlier in this batch: the rest is dropped
        }
        let Some(handler) = self.handler.as_mut() else {
            return;
        };
        let mut conn = Connection {
            state: &mut self.state,
            tx,
        };
        if let Err(e) = f(handler, &mut conn) {
            self.fail(e, tx);
        }
    }

    fn with_channel(
        &mut self,
        id: u16,
        tx: &mut dyn Transport,
        f: impl FnOnce(&mut H, &mut Channel<'_>) -> Result<(), ClientError>,
    ) {
        self.with_conn(tx, |h, conn| f(h, &mut conn.channel(id)));
    }

    fn frame_received(&mut self, frame: Frame, tx: &mut dyn Transport) {
        match (frame.channel, frame.payload) {
            (_, FramePayload::Heartbeat) => {}
            (0, FramePayload::Method(method)) => self.connection_method(method, tx),
            (0, other) => self.fail(
                ClientError::Protocol(format!("{} frame on channel 0", other.kind())),
                tx,
            ),
            (id, payload) => self.channel_frame(id, payload, tx),
        }
    }

    fn connection_method(&mut self, method: Method, tx: &mut dyn Transport) {
        let phase = self.state.phase;
        match (phase, method) {
            (Phase::AwaitStart, Method::ConnectionStart(start)) => {
                let mechanisms = String::from_utf8_lossy(&start.mechanisms).into_owned();
                if !mechanisms.split(' ').any(|m| m == "PLAIN") {
                    return self.fail(ClientError::NoMechanism(mechanisms), tx);
                }
                self.state.server_properties = start.server_properties;
                let uri = &self.state.config.uri;
                let mut response = Vec::new();
                response.push(0);
                response.extend_from_slice(uri.user.as_bytes());
                response.push(0);
                response.extend_from_slice(uri.password.as_bytes());
                let start_ok = ConnectionStartOk {
                    client_properties: client_properties(&self.state.config),
                    mechanism: ShortStr::from_static("PLAIN"),
                    response: response.into(),
                    locale: ShortStr::from_static("en_US"),
                };
                self.state.phase = Phase::AwaitTune;
                self.send(0, start_ok.into(), tx);
            }
            (Phase::AwaitTune, Method::ConnectionTune(tune)) => {
                let config = &self.state.config;
                let channel_max = min_nonzero(tune.channel_max, config.channel_max);
                let channel_max = if channel_max == 0 {
                    u16::MAX
                } else {
                    channel_max
                };
                let frame_max = min_nonzero(tune.frame_max, config.frame_max);
                let heartbeat = match config.heartbeat {
                    Some(ours) if tune.heartbeat == 0 || ours < tune.heartbeat => ours,
                    _ => tune.heartbeat,
                };
                let vhost = match ShortStr::try_from(config.uri.vhost.as_str()) {
                    Ok(v) => v,
                    Err(e) => return self.fail(e.into(), tx),
                };
                self.state.channel_max = channel_max;
                self.state.frame_max = frame_max;
                self.state.heartbeat = heartbeat;
                self.state.rx.set_frame_max(frame_max);
                let tune_ok = ConnectionTuneOk {
                    channel_max,
                    frame_max,
                    heartbeat,
                };
                self.send(0, tune_ok.into(), tx);
                let open = ConnectionOpen {
                    virtual_host: vhost,
                    ..ConnectionOpen::default()
                };
                self.state.phase = Phase::AwaitOpenOk;
                self.send(0, open.into(), tx);
                if heartbeat > 0 {
                    self.state.heartbeat_timer = Some(tx.call_later(self.heartbeat_tick()));
                }
            }
            (Phase::AwaitOpenOk, Method::ConnectionOpenOk(_)) => {
                self.state.phase = Phase::Open;
                self.with_conn(tx, |h, conn| h.on_open(conn));
            }
            (_, Method::ConnectionClose(close)) => {
                let error = ServerError::new(
                    close.reply_code,
                    &close.reply_text,
                    close.class_id,
                    close.method_id,
                );
                self.send(0, ConnectionCloseOk.into(), tx);
                self.state.error.get_or_insert(ClientError::Server(error));
                self.state.phase = Phase::Closed;
                tx.lose_connection();
            }
            (Phase::Closing, Method::ConnectionCloseOk(_)) => {
                self.state.phase = Phase::Closed;
                tx.lose_connection();
            }
            (_, Method::ConnectionBlocked(blocked)) => {
                self.state.blocked = true;
                let reason = String::from_utf8_lossy(&blocked.reason).into_owned();
                if let Some(h) = self.handler.as_mut() {
                    h.on_blocked(Some(&reason));
                }
            }
            (_, Method::ConnectionUnblocked(_)) => {
                self.state.blocked = false;
                if let Some(h) = self.handler.as_mut() {
                    h.on_blocked(None);
                }
                self.maybe_writable(tx);
            }
            (Phase::Closing, _) => {} // dropped while waiting for close-ok
            (_, method) => self.fail(
                ClientError::Protocol(format!("unexpected {} on channel 0", method.name())),
                tx,
            ),
        }
    }

    fn channel_frame(&mut self, id: u16, payload: FramePayload, tx: &mut dyn Transport) {
        if matches!(self.state.phase, Phase::Closing | Phase::Closed) {
            return;
        }
        let Some(ch) = self.state.channels.get_mut(&id) else {
            return self.fail(
                ClientError::Protocol(format!("frame on unopened channel {id}")),
                tx,
            );
        };
        let command = match ch.assembler.handle(payload) {
            Ok(Some(command)) => command,
            Ok(None) => return,
            Err(e) => return self.fail(ClientError::Protocol(e.to_string()), tx),
        };
        if ch.phase == ChannelPhase::Closing {
            // After our channel.close only its close-ok (or the broker's crossing close) counts.
            match command {
                Command::Method(Method::ChannelCloseOk(_)) => {
                    self.state.channels.remove(&id);
                    self.with_channel(id, tx, |h, ch| h.on_reply(ch, Reply::ChannelClosed));
                }
                Command::Method(Method::ChannelClose(_)) => {
                    self.send(id, ChannelCloseOk.into(), tx);
                }
                _ => {}
            }
            return;
        }
        match command {
            Command::Method(method) => self.channel_method(id, method, tx),
            Command::Message(message) => self.message_received(id, message, tx),
        }
    }

    fn channel_method(&mut self, id: u16, method: Method, tx: &mut dyn Transport) {
        let reply = match method {
            Method::ChannelOpenOk(_) => {
                if let Some(ch) = self.state.channels.get_mut(&id) {
                    ch.phase = ChannelPhase::Open;
                }
                return self.with_channel(id, tx, |h, ch| h.on_channel_open(ch));
            }
            Method::ChannelClose(close) => {
                self.send(id, ChannelCloseOk.into(), tx);
                self.state.channels.remove(&id);
                let error = ServerError::new(
                    close.reply_code,
                    &close.reply_text,
                    close.class_id,
                    close.method_id,
                );
                return self.with_channel(id, tx, |h, ch| h.on_channel_error(ch, error));
            }
            Method::ChannelFlow(flow) => {
                return self.send(
                    id,
                    ChannelFlowOk {
                        active: flow.active,
                    }
                    .into(),
                    tx,
                );
            }
            Method::BasicAck(ack) => {
                return self.confirmed(id, ack.delivery_tag, ack.multiple, true, tx)
            }
            Method::BasicNack(nack) => {
                return self.confirmed(id, nack.delivery_tag, nack.multiple, false, tx)
            }
            Method::BasicGetEmpty(_) => {
                return self.with_channel(id, tx, |h, ch| h.on_get(ch, None))
            }
            Method::ExchangeDeclareOk(_) => Reply::ExchangeDeclared,
            Method::QueueDeclareOk(ok) => Reply::QueueDeclared {
                queue: String::from_utf8_lossy(&ok.queue).into_owned(),
                message_count: ok.message_count,
                consumer_count: ok.consumer_count,
            },
            Method::ExchangeDeleteOk(_) => Reply::ExchangeDeleted,
            Method::ExchangeBindOk(_) => Reply::ExchangeBound,
            Method::ExchangeUnbindOk(_) => Reply::ExchangeUnbound,
            Method::QueueBindOk(_) => Reply::QueueBound,
            Method::QueueUnbindOk(_) => Reply::QueueUnbound,
            Method::QueuePurgeOk(ok) => Reply::QueuePurged {
                message_count: ok.message_count,
            },
            Method::QueueDeleteOk(ok) => Reply::QueueDeleted {
                message_count: ok.message_count,
            },
            Method::BasicRecoverOk(_) => Reply::Recovered,
            Method::TxSelectOk(_) => Reply::TxSelected,
            Method::TxCommitOk(_) => Reply::TxCommitted,
            Method::TxRollbackOk(_) => Reply::TxRolledBack,
            Method::BasicQosOk(_) => Reply::QosSet,
            Method::BasicConsumeOk(ok) => Reply::Consuming {
                consumer_tag: String::from_utf8_lossy(&ok.consumer_tag).into_owned(),
            },
            Method::BasicCancelOk(ok) => Reply::Cancelled {
                consumer_tag: String::from_utf8_lossy(&ok.consumer_tag).into_owned(),
                by_broker: false,
            },
            Method::BasicCancel(cancel) => Reply::Cancelled {
                consumer_tag: String::from_utf8_lossy(&cancel.consumer_tag).into_owned(),
                by_broker: true,
            },
            Method::ConfirmSelectOk(_) => Reply::ConfirmSelected,
            other => {
                return self.fail(
                    ClientError::Protocol(format!("unexpected {} on channel {id}", other.name())),
                    tx,
                )
            }
        };
        self.with_channel(id, tx, |h, ch| h.on_reply(ch, reply));
    }

    fn confirmed(
        &mut self,
        id: u16,
        tag: u64,
        multiple: bool,
        acked: bool,
        tx: &mut dyn Transport,
    ) {
        let Some(confirms) = self
            .state
            .channels
            .get_mut(&id)
            .and_then(|ch| ch.confirms.as_mut())
        else {
            return self.fail(
                ClientError::Protocol(format!("basic.ack on channel {id} not in confirm mode")),
                tx,
            );
        };
        for seq in confirms.settle(tag, multiple) {
            self.with_channel(id, tx, |h, ch| h.on_confirm(ch, seq, acked));
        }
    }

    fn message_received(&mut self, id: u16, message: Message, tx: &mut dyn Transport) {
        let Message {
            method,
            properties,
            body,
        } = message;
        match method {
            Method::BasicDeliver(d) => {
                let delivery = Delivery {
                    consumer_tag: d.consumer_tag,
                    delivery_tag: d.delivery_tag,
                    redelivered: d.redelivered,
                    exchange: d.exchange,
                    routing_key: d.routing_key,
                    message_count: None,
                    properties,
                    body,
                };
                self.with_channel(id, tx, |h, ch| h.on_delivery(ch, delivery));
            }
            Method::BasicGetOk(g) => {
                let delivery = Delivery {
                    consumer_tag: ShortStr::new(),
                    delivery_tag: g.delivery_tag,
                    redelivered: g.redelivered,
                    exchange: g.exchange,
                    routing_key: g.routing_key,
                    message_count: Some(g.message_count),
                    properties,
                    body,
                };
                self.with_channel(id, tx, |h, ch| h.on_get(ch, Some(delivery)));
            }
            Method::BasicReturn(r) => {
                let returned = Returned {
                    reply_code: r.reply_code,
                    reply_text: r.reply_text,
                    exchange: r.exchange,
                    routing_key: r.routing_key,
                    properties,
                    body,
                };
                self.with_channel(id, tx, |h, ch| h.on_return(ch, returned));
            }
            other => self.fail(
                ClientError::Protocol(format!("unexpected {} with content", other.name())),
                tx,
            ),
        }
    }

    fn send(&mut self, channel: u16, method: Method, tx: &mut dyn Transport) {
        let result = Connection {
            state: &mut self.state,
            tx,
        }
        .send_method(channel, &method);
        if let Err(e) = result {
            self.fail(e, tx);
        }
    }

    /// Heartbeats go out every half interval (the spec's advice), which is also how often
    /// the broker's silence is checked.
    fn heartbeat_tick(&self) -> Duration {
        Duration::from_millis(u64::from(self.state.heartbeat) * 500)
    }

    fn heartbeat_due(&mut self, tx: &mut dyn Transport) {
        let limit = Duration::from_secs(u64::from(self.state.heartbeat) * 2);
        let silent = self
            .state
            .last_received
            .map_or(Duration::ZERO, |t| tx.now().saturating_duration_since(t));
        if silent >= limit {
            self.state.heartbeat_timer = None;
            // The broker is gone or wedged: nothing it could read, so close now.
            self.state
                .error
                .get_or_insert(ClientError::HeartbeatTimeout(silent));
            self.state.phase = Phase::Closed;
            log::warn!("amqp: no frame from the broker for {silent:?}: closing");
            tx.abort_connection();
            return;
        }
        let mut beat = BytesMut::new();
        frame::encode_heartbeat(&mut beat);
        tx.write_bytes(beat.freeze());
        self.state.heartbeat_timer = Some(tx.call_later(self.heartbeat_tick()));
    }

    fn maybe_writable(&mut self, tx: &mut dyn Transport) {
        if !self.state.want_writable || self.state.phase != Phase::Open {
            return;
        }
        let conn = Connection {
            state: &mut self.state,
            tx,
        };
        if conn.can_publish() {
            self.state.want_writable = false;
            self.with_conn(tx, |h, conn| h.on_writable(conn));
        }
    }
}

fn min_nonzero<T: Ord + Default + Copy>(a: T, b: T) -> T {
    let zero = T::default();
    match (a == zero, b == zero) {
        (true, _) => b,
        (_, true) => a,
        _ => a.min(b),
    }
}

fn client_properties(config: &Config) -> FieldTable {
    let mut capabilities = FieldTable::new();
    for name in [
        "publisher_confirms",
        "consumer_cancel_notify",
        "basic.nack",
        "connection.blocked",
        "authentication_failure_close",
    ] {
        capabilities.push(ShortStr::from_static(name), FieldValue::Bool(true));
    }
    let mut props = FieldTable::new();
    props.push(ShortStr::from_static("product"), "spindle".into());
    props.push(
        ShortStr::from_static("version"),
        env!("CARGO_PKG_VERSION").into(),
    );
    props.push(ShortStr::from_static("platform"), "Rust".into());
    props.push(
        ShortStr::from_static("information"),
        "https://github.com/ (spindle: Twisted-style networking in Rust)".into(),
    );
    props.push(
        ShortStr::from_static("capabilities"),
        FieldValue::Table(capabilities),
    );
    if let Some(name) = &config.connection_name {
        props.push(
            ShortStr::from_static("connection_name"),
            name.as_str().into(),
        );
    }
    props
}
