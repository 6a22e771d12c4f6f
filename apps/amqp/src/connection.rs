//! The connection: [`Client`], the [`Protocol`] that speaks AMQP 0-9-1 to a broker, the
//! [`ConnectionHandler`] a user implements, the [`Connection`] handle passed to it, and
//! [`run`], which drives one connection on its own reactor until it ends.
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

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use spindle_protocols::amqp::frame::{self, Frame};
use spindle_protocols::amqp::{
    BasicProperties, ChannelCloseOk, ChannelFlowOk, Command, ConnectionClose, ConnectionCloseOk,
    ConnectionOpen, ConnectionStartOk, ConnectionTuneOk, FieldTable, FieldValue, FramePayload,
    FrameReceiver, Message, Method, ShortStr, PROTOCOL_HEADER,
};
use spindle_reactor::{
    Address, ClientFactory, Connector, DisconnectReason, Protocol, ProtocolResult, Reactor,
    TimerId, Transport,
};

use super::channel::{
    channel_open, Channel, ChannelPhase, ChannelState, Delivery, Reply, Returned,
};
use super::error::{ClientError, ServerError};
use super::uri::AmqpUri;

/// How to connect.
#[derive(Debug, Clone)]
pub struct Config {
    /// Broker, credentials, vhost.
    pub uri: AmqpUri,
    /// The heartbeat interval to ask for, in seconds: the broker's is used unless this is
    /// lower (0 turns heartbeats off). `None`: the broker's.
    pub heartbeat: Option<u16>,
    /// The largest frame to accept and send (0: the broker's).
    pub frame_max: u32,
    /// The most channels to use (0: the broker's).
    pub channel_max: u16,
    /// Output bytes queued past which [`Channel::publish`] refuses with
    /// [`ClientError::Paused`] (the reactor's high-water mark pauses it too).
    pub max_buffered: usize,
    /// Shown in the broker's connection list (client property `connection_name`).
    pub connection_name: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            uri: AmqpUri::default(),
            heartbeat: None,
            frame_max: 0,
            channel_max: 0,
            max_buffered: 64 * 1024,
            connection_name: None,
        }
    }
}

impl Config {
    /// The defaults, for `uri`.
    pub fn new(uri: AmqpUri) -> Self {
        Config {
            uri,
            ..Config::default()
        }
    }
}

/// What the application does on the connection's events. Every method but `on_open` has a
/// default that does nothing.
///
/// Each callback gets a handle ([`Connection`] or [`Channel`]) through which it issues
/// commands; the handle borrows the client and its transport for the length of the call, so
/// the handler owns only its own state: no `Rc<RefCell<…>>` to reach the connection. A
/// callback returning `Err` closes the connection, and the error reaches
/// [`on_closed`](Self::on_closed).
pub trait ConnectionHandler {
    /// The connection is open (`connection.open-ok`): open channels here.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError>;

    /// A channel is open (`channel.open-ok`).
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_channel_open(&mut self, ch: &mut Channel<'_>) -> Result<(), ClientError> {
        let _ = ch;
        Ok(())
    }

    /// A synchronous command was answered.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_reply(&mut self, ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        let _ = (ch, reply);
        Ok(())
    }

    /// A consumer's message (`basic.deliver`). Ack it on `ch` unless consuming with `no_ack`.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_delivery(&mut self, ch: &mut Channel<'_>, delivery: Delivery) -> Result<(), ClientError> {
        let _ = (ch, delivery);
        Ok(())
    }

    /// The answer to [`Channel::get`]: the message, or `None` if the queue was empty.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_get(
        &mut self,
        ch: &mut Channel<'_>,
        delivery: Option<Delivery>,
    ) -> Result<(), ClientError> {
        let _ = (ch, delivery);
        Ok(())
    }

    /// A publish confirmed (`acked`) or refused by the broker, by its sequence number from
    /// [`Channel::publish`]; called once per publish, in order, a `multiple` ack expanded.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_confirm(
        &mut self,
        ch: &mut Channel<'_>,
        seq: u64,
        acked: bool,
    ) -> Result<(), ClientError> {
        let _ = (ch, seq, acked);
        Ok(())
    }

    /// A mandatory message no queue took.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_return(&mut self, ch: &mut Channel<'_>, message: Returned) -> Result<(), ClientError> {
        let _ = (ch, message);
        Ok(())
    }

    /// The broker closed a channel (a soft error: 404 `NOT_FOUND`, 406
    /// `PRECONDITION_FAILED`, 403 `ACCESS_REFUSED`). The connection stays open; the channel
    /// can be [reopened](Channel::reopen). The default returns the error, which closes the
    /// connection: a program that does not handle channel errors stops at the first.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_channel_error(
        &mut self,
        ch: &mut Channel<'_>,
        error: ServerError,
    ) -> Result<(), ClientError> {
        let _ = ch;
        Err(ClientError::Server(error))
    }

    /// Publishing may go on after a [`ClientError::Paused`]: the output buffer drained, or the
    /// broker unblocked the connection.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_writable(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let _ = conn;
        Ok(())
    }

    /// A timer from [`Connection::call_later`] fired.
    ///
    /// # Errors
    ///
    /// Any: the connection closes.
    fn on_timer(&mut self, conn: &mut Connection<'_>, timer: TimerId) -> Result<(), ClientError> {
        let _ = (conn, timer);
        Ok(())
    }

    /// The broker blocked (`Some(reason)`: an alarm, memory or disk) or unblocked (`None`)
    /// publishing on this connection.
    fn on_blocked(&mut self, reason: Option<&str>) {
        let _ = reason;
    }

    /// The connection ended, once, last: `Ok` after a clean close, otherwise why.
    fn on_closed(&mut self, result: Result<(), &ClientError>) {
        let _ = result;
    }
}

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitStart,
    AwaitTune,
    AwaitOpenOk,
    Open,
    /// We sent `connection.close` and wait for `close-ok`.
    Closing,
    Closed,
}

/// The connection's state, apart from the handler (so both can be borrowed at once).
#[derive(Debug)]
pub(crate) struct State {
    config: Config,
    phase: Phase,
    rx: FrameReceiver,
    out: BytesMut,
    channel_max: u16,
    frame_max: u32,
    heartbeat: u16,
    heartbeat_timer: Option<TimerId>,
    last_received: Option<std::time::Instant>,
    pub(crate) channels: BTreeMap<u16, ChannelState>,
    paused: bool,
    blocked: bool,
    /// A publish was refused: call `on_writable` once publishing can go on.
    want_writable: bool,
    /// Why the connection ends, when it ends badly.
    error: Option<ClientError>,
    server_properties: FieldTable,
}

/// The connection as a handler callback sees it: open channels, close.
pub struct Connection<'a> {
    pub(crate) state: &'a mut State,
    pub(crate) tx: &'a mut dyn Transport,
}

impl std::fmt::Debug for Connection<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("phase", &self.state.phase)
            .field("channels", &self.state.channels.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<'a> Connection<'a> {
    /// `channel.open` on the lowest free channel number; returns it.
    /// [`on_channel_open`](ConnectionHandler::on_channel_open) follows, but commands may be
    /// sent on the channel at once: the broker handles them in order.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotOpen`], or [`ClientError::ChannelMax`] if all are in use.
    pub fn open_channel(&mut self) -> Result<u16, ClientError> {
        let max = self.state.channel_max;
        let free = (1..=max).find(|id| !self.state.channels.contains_key(id));
        let id = free.ok_or(ClientError::ChannelMax(max))?;
        self.open_channel_id(id)?;
        Ok(id)
    }

    pub(crate) fn open_channel_id(&mut self, id: u16) -> Result<(), ClientError> {
        if self.state.phase != Phase::Open {
            return Err(ClientError::NotOpen);
        }
        if self.state.channels.contains_key(&id) {
            return Err(ClientError::Protocol(format!(
                "channel {id} is already open"
            )));
        }
        self.send_method(id, &channel_open())?;
        self.state.channels.insert(id, ChannelState::new());
        Ok(())
    }

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

    /// `connection.close`: closes the connection cleanly (pending output is sent first);
    /// [`on_closed`](ConnectionHandler::on_closed) follows with `Ok`.
    pub fn close(&mut self) {
        if matches!(self.state.phase, Phase::Closing | Phase::Closed) {
            return;
        }
        let close = ConnectionClose {
            reply_code: 200,
            reply_text: ShortStr::from_static("goodbye"),
            class_id: 0,
            method_id: 0,
        };
        let _ = self.send_method(0, &close.into());
        self.state.phase = Phase::Closing;
    }

    /// True unless publishing would be refused with [`ClientError::Paused`].
    pub fn can_publish(&self) -> bool {
        !self.state.paused
            && !self.state.blocked
            && self.tx.buffered() < self.state.config.max_buffered
    }

    /// The negotiated limits: channel-max, frame-max, heartbeat seconds.
    pub fn tuning(&self) -> (u16, u32, u16) {
        (
            self.state.channel_max,
            self.state.frame_max,
            self.state.heartbeat,
        )
    }

    /// The broker's `server_properties` (product, version, capabilities).
    pub fn server_properties(&self) -> &FieldTable {
        &self.state.server_properties
    }

    /// Starts a timer on the connection's reactor: after `delay`,
    /// [`on_timer`](ConnectionHandler::on_timer) is called with the id returned here. This is
    /// how a handler waits (a worker "working", a rate limit, a deadline) without blocking the
    /// reactor, which would stall heartbeats and every other connection.
    pub fn call_later(&mut self, delay: Duration) -> TimerId {
        self.tx.call_later(delay)
    }

    /// Cancels a timer from [`call_later`](Self::call_later); false if it already fired.
    pub fn cancel_timer(&mut self, timer: TimerId) -> bool {
        self.tx.cancel_timer(timer)
    }

    /// The reactor's clock (the time the current event is handled at).
    pub fn now(&self) -> std::time::Instant {
        self.tx.now()
    }

    /// Records a refused publish; `on_writable` follows once publishing can go on. When only
    /// the output buffer is over the limit (no `pause_producing` came: the reactor may not even
    /// have flushed yet), the reactor is asked to call `resume_producing` once it has drained.
    pub(crate) fn publish_refused(&mut self) {
        self.state.want_writable = true;
        if !self.state.paused && !self.state.blocked {
            self.tx.resume_when_drained();
        }
    }

    pub(crate) fn check_channel(&self, id: u16) -> Result<(), ClientError> {
        if self.state.phase != Phase::Open {
            return Err(ClientError::NotOpen);
        }
        match self.state.channels.get(&id) {
            Some(ch) if ch.phase != ChannelPhase::Closing => Ok(()),
            _ => Err(ClientError::ChannelNotOpen(id)),
        }
    }

    pub(crate) fn send_method(&mut self, channel: u16, method: &Method) -> Result<(), ClientError> {
        frame::encode_method(channel, method, &mut self.state.out)?;
        self.tx.write_bytes(self.state.out.split().freeze());
        Ok(())
    }

    pub(crate) fn send_message(
        &mut self,
        channel: u16,
        method: &Method,
        properties: &BasicProperties,
        body: &[u8],
    ) -> Result<(), ClientError> {
        spindle_protocols::amqp::content::encode_message(
            channel,
            method,
            properties,
            body,
            self.state.frame_max,
            &mut self.state.out,
        )?;
        self.tx.write_bytes(self.state.out.split().freeze());
        Ok(())
    }
}

/// The AMQP client protocol: one per connection, driving a [`ConnectionHandler`].
///
/// Use it with [`run`], or hand it to a reactor through a [`ClientFactory`] of your own to
/// run it beside other connections.
#[derive(Debug)]
pub struct Client<H> {
    state: State,
    // An `Option` only so that `run` can take the handler back when the connection ends.
    handler: Option<H>,
    slot: Option<Slot<H>>,
}

impl<H: ConnectionHandler> Client<H> {
    /// A client that will connect with `config` and report to `handler`.
    pub fn new(config: Config, handler: H) -> Self {
        Client {
            state: State {
                config,
                phase: Phase::AwaitStart,
                rx: FrameReceiver::new(),
                out: BytesMut::new(),
                channel_max: 0,
                frame_max: 0,
                heartbeat: 0,
                heartbeat_timer: None,
                last_received: None,
                channels: BTreeMap::new(),
                paused: false,
                blocked: false,
                want_writable: false,
                error: None,
                server_properties: FieldTable::new(),
            },
            handler: Some(handler),
            slot: None,
        }
    }

    /// The handler.
    pub fn handler(&self) -> Option<&H> {
        self.handler.as_ref()
    }

    /// The handler, mutably.
    pub fn handler_mut(&mut self) -> Option<&mut H> {
        self.handler.as_mut()
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

impl<H: ConnectionHandler> Protocol for Client<H> {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.state.last_received = Some(tx.now());
        tx.write(&PROTOCOL_HEADER);
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.state.last_received = Some(tx.now());
        if self.state.phase == Phase::AwaitStart && data.starts_with(b"AMQP") {
            // A broker that does not speak 0-9-1 answers with the version it speaks.
            let version = data.get(4..8).unwrap_or_default().to_vec();
            self.fail(
                ClientError::Protocol(format!("the broker speaks AMQP version {version:?}")),
                tx,
            );
            return Ok(());
        }
        self.state.rx.feed(data);
        while self.state.phase != Phase::Closed {
            match self.state.rx.next_frame() {
                None => break,
                Some(Ok(frame)) => self.frame_received(frame, tx),
                Some(Err(e)) => self.fail(ClientError::Protocol(e.to_string()), tx),
            }
        }
        Ok(())
    }

    fn timer_fired(&mut self, id: TimerId, tx: &mut dyn Transport) -> ProtocolResult {
        if self.state.heartbeat_timer == Some(id) {
            self.heartbeat_due(tx);
        } else if self.state.phase == Phase::Open {
            self.with_conn(tx, |h, conn| h.on_timer(conn, id));
        }
        Ok(())
    }

    /// Back-pressure: publishes are refused ([`ClientError::Paused`]) until
    /// `resume_producing`. Reading goes on, so acks, confirms and heartbeats still flow (the
    /// default, pausing reading, would stall them and the broker's flow with them).
    fn pause_producing(&mut self, _tx: &mut dyn Transport) -> ProtocolResult {
        self.state.paused = true;
        Ok(())
    }

    fn resume_producing(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.state.paused = false;
        self.maybe_writable(tx);
        Ok(())
    }

    fn connection_lost(&mut self, reason: &DisconnectReason, _tx: &mut dyn Transport) {
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
        if let Some(slot) = self.slot.take() {
            let mut slot = slot.borrow_mut();
            slot.handler = self.handler.take();
            slot.result = Some(result);
        }
    }
}

/// Where [`run`] gets its handler back.
#[derive(Debug)]
struct RunSlot<H> {
    handler: Option<H>,
    result: Option<Result<(), ClientError>>,
}

type Slot<H> = Rc<RefCell<RunSlot<H>>>;

#[derive(Debug)]
struct RunFactory<H> {
    config: Config,
    slot: Slot<H>,
}

impl<H: ConnectionHandler + 'static> ClientFactory for RunFactory<H> {
    fn build_protocol(&mut self, _peer: &Address) -> Box<dyn Protocol> {
        match self.slot.borrow_mut().handler.take() {
            Some(handler) => {
                let mut client = Client::new(self.config.clone(), handler);
                client.slot = Some(self.slot.clone());
                Box::new(client)
            }
            // Only if the reactor connected twice, which `run` never asks for.
            None => Box::new(Refuse),
        }
    }

    fn client_connection_failed(&mut self, reason: &std::io::Error, connector: &mut Connector) {
        self.slot.borrow_mut().result = Some(Err(ClientError::Connect(reason.to_string())));
        connector.stop_reactor();
    }

    fn client_connection_lost(&mut self, _reason: &DisconnectReason, connector: &mut Connector) {
        connector.stop_reactor();
    }
}

#[derive(Debug)]
struct Refuse;

impl Protocol for Refuse {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        tx.abort_connection();
        Ok(())
    }

    fn data_received(&mut self, _data: &[u8], _tx: &mut dyn Transport) -> ProtocolResult {
        Ok(())
    }
}

/// How long [`run`] waits for the TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects with `config`, runs the connection on a reactor of its own until it ends, and
/// gives the handler back: the shape of a RabbitMQ-tutorial program (`spindle amqp` uses it).
///
/// # Errors
///
/// The connection could not be made, or it ended with an error (the broker closed it, a
/// handler callback failed, heartbeats were missed); the handler heard it in `on_closed`.
pub fn run<H: ConnectionHandler + 'static>(config: Config, handler: H) -> Result<H, ClientError> {
    let mut reactor = Reactor::new().map_err(|e| ClientError::Connect(e.to_string()))?;
    let slot: Slot<H> = Rc::new(RefCell::new(RunSlot {
        handler: Some(handler),
        result: None,
    }));
    let (host, port) = (config.uri.host.clone(), config.uri.port);
    let factory = RunFactory {
        config,
        slot: slot.clone(),
    };
    reactor
        .connect_tcp((host.as_str(), port), factory, Some(CONNECT_TIMEOUT))
        .map_err(|e| ClientError::Connect(format!("{host}:{port}: {e}")))?;
    reactor
        .run()
        .map_err(|e| ClientError::Lost(e.to_string()))?;
    let mut slot = slot.borrow_mut();
    match (slot.result.take(), slot.handler.take()) {
        (Some(Err(e)), _) => Err(e),
        (_, Some(handler)) => Ok(handler),
        (_, None) => Err(ClientError::Lost("the connection ended abnormally".into())),
    }
}
