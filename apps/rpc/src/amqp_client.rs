//! [`AmqpRpcClient`]: RPC calls through a broker — requests published to a server's queue
//! with `reply_to` and a `correlation_id`, answers matched back to their [`Deferred`]s.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use spindle_amqp::{
    Channel, ClientError, Config, Connection, ConnectionHandler, ConsumeOptions, Delivery, Publish,
    QueueOptions, Reply, ServerError,
};
use spindle_http::Outlet;
use spindle_protocols::value::Value;
use spindle_protocols::xmlrpc::{self, Limits, MethodResponse};
use spindle_reactor::{
    ConnId, Deferred, DisconnectReason, Protocol, ProtocolResult, Reactor, TimerId, Transport,
};

use crate::amqp_wire::{fault_of, is_xml, OneConnection, TUTORIAL_QUEUE, XML_CONTENT_TYPE};
use crate::error::RpcError;

/// RabbitMQ's direct reply-to pseudo-queue.
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// Where answers come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyQueue {
    /// An exclusive, server-named queue of the client's own, as the tutorial's client declares.
    #[default]
    Exclusive,
    /// RabbitMQ's direct reply-to (`amq.rabbitmq.reply-to`): no queue at all, answers go
    /// straight to the consumer (RabbitMQ and `spindle broker` have it).
    DirectReplyTo,
}

/// Where an [`AmqpRpcClient`] sends its calls and how long it waits.
#[derive(Debug, Clone)]
pub struct AmqpClientConfig {
    /// The exchange requests are published to; `""`, the default exchange, routes by queue
    /// name.
    pub exchange: String,
    /// The routing key: with the default exchange, the server's queue. Default `rpc_queue`.
    pub routing_key: String,
    /// Where answers come back.
    pub reply: ReplyQueue,
    /// How long a call waits for its answer before it fails with [`RpcError::TimedOut`];
    /// `None`: for ever. Default 30 seconds.
    pub timeout: Option<Duration>,
}

impl Default for AmqpClientConfig {
    fn default() -> Self {
        AmqpClientConfig {
            exchange: String::new(),
            routing_key: TUTORIAL_QUEUE.to_string(),
            reply: ReplyQueue::Exclusive,
            timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// What a call's answer fires.
enum Expect {
    /// An XML-RPC-mode call: the answer is a `methodResponse`.
    Xml(Deferred<Value, RpcError>),
    /// A tutorial-mode call: the answer is text.
    Text(Deferred<String, RpcError>),
}

impl Expect {
    fn fail(self, error: RpcError) {
        let _ = match self {
            Expect::Xml(d) => d.errback(error),
            Expect::Text(d) => d.errback(error),
        };
    }

    fn answer(self, d: &Delivery) {
        let _ = match self {
            Expect::Xml(deferred) => match xml_answer(d) {
                Ok(v) => deferred.callback(v),
                Err(e) => deferred.errback(e),
            },
            Expect::Text(deferred) => match fault_of(&d.properties, &d.body) {
                Some(fault) => deferred.errback(RpcError::Fault(fault)),
                None => deferred.callback(String::from_utf8_lossy(&d.body).into_owned()),
            },
        };
    }
}

fn xml_answer(d: &Delivery) -> Result<Value, RpcError> {
    if !is_xml(&d.properties) {
        if let Some(fault) = fault_of(&d.properties, &d.body) {
            return Err(RpcError::Fault(fault));
        }
    }
    match xmlrpc::decode_response(&d.body, &Limits::default()) {
        Ok(MethodResponse::Value(v)) => Ok(v),
        Ok(MethodResponse::Fault(f)) => Err(RpcError::Fault(f)),
        Err(e) => Err(RpcError::BadResponse(e.to_string())),
    }
}

/// A call not published yet.
struct Outgoing {
    correlation_id: String,
    body: Bytes,
    xml: bool,
    expect: Expect,
}

/// A call published and waiting for its answer.
struct Pending {
    expect: Expect,
    timer: Option<TimerId>,
}

/// The client's state, shared by the handles, the handler and the protocol wrapper.
struct State {
    config: AmqpClientConfig,
    conn: Option<ConnId>,
    /// The reply queue once it is consumed: calls are published from then on.
    reply_to: Option<String>,
    queue: VecDeque<Outgoing>,
    pending: HashMap<String, Pending>,
    timers: HashMap<TimerId, String>,
    /// Why the connection ended: calls fail at once with it.
    ended: Option<RpcError>,
    next_id: u64,
    prefix: String,
    /// A handler callback is running: calls made now are published at its end.
    in_callback: bool,
    close_wanted: bool,
}

impl State {
    /// Everything waiting fails with `error`; later calls too.
    fn end(&mut self, error: RpcError) -> Vec<Expect> {
        self.ended = Some(error);
        self.timers.clear();
        let mut failed: Vec<Expect> = self.queue.drain(..).map(|o| o.expect).collect();
        failed.extend(self.pending.drain().map(|(_, p)| p.expect));
        failed
    }
}

/// An RPC client through an AMQP broker: each call is published to the server's queue with
/// `reply_to` (an exclusive queue of the client's, or direct reply-to) and a fresh
/// `correlation_id`; answers are matched by it, so many calls are in flight at once. Each call
/// returns a [`Deferred`] and fails with [`RpcError::TimedOut`] after
/// [`AmqpClientConfig::timeout`].
///
/// [`call`](Self::call) speaks XML-RPC mode (any method, any [`Value`]s, faults), which
/// [`AmqpRpcServer`](crate::AmqpRpcServer) serves; [`call_text`](Self::call_text) speaks the
/// tutorial's text mode, which pika's `rpc_server.py` serves.
///
/// ```no_run
/// use spindle_amqp::Config;
/// use spindle_reactor::Reactor;
/// use spindle_rpc::{block_on, AmqpClientConfig, AmqpRpcClient};
/// use std::time::Duration;
///
/// let mut reactor = Reactor::new()?;
/// let client = AmqpRpcClient::connect(&mut reactor, Config::default(), AmqpClientConfig::default())?;
/// let answer = client.call_text(&mut reactor, "30");
/// println!("fib(30) = {}", block_on(&mut reactor, answer, Duration::from_secs(30))?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AmqpRpcClient {
    state: Rc<RefCell<State>>,
}

impl std::fmt::Debug for AmqpRpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.borrow();
        f.debug_struct("AmqpRpcClient")
            .field("config", &s.config)
            .field("reply_to", &s.reply_to)
            .field("queued", &s.queue.len())
            .field("pending", &s.pending.len())
            .field("ended", &s.ended)
            .finish()
    }
}

impl AmqpRpcClient {
    /// Connects to the broker of `amqp` on `reactor`. Calls may be made at once: they are
    /// published once the reply queue is consumed.
    ///
    /// # Errors
    ///
    /// The broker's host does not resolve. A refused connection fails the calls with
    /// [`RpcError::Transport`].
    pub fn connect(
        reactor: &mut Reactor,
        amqp: Config,
        config: AmqpClientConfig,
    ) -> Result<AmqpRpcClient, RpcError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let state = Rc::new(RefCell::new(State {
            config,
            conn: None,
            reply_to: None,
            queue: VecDeque::new(),
            pending: HashMap::new(),
            timers: HashMap::new(),
            ended: None,
            next_id: 0,
            prefix: format!("{}-{nanos:x}", std::process::id()),
            in_callback: false,
            close_wanted: false,
        }));
        let handler = ClientHandler {
            state: state.clone(),
            channel: None,
        };
        let protocol = WakeableClient {
            client: spindle_amqp::Client::new(amqp.clone(), handler),
            state: Rc::downgrade(&state),
        };
        let failed_state = Rc::downgrade(&state);
        let factory = OneConnection {
            protocol: Some(Box::new(protocol)),
            on_failed: Box::new(move |why| {
                if let Some(state) = failed_state.upgrade() {
                    let failed = state.borrow_mut().end(RpcError::Transport(why.clone()));
                    for expect in failed {
                        expect.fail(RpcError::Transport(why.clone()));
                    }
                }
            }),
        };
        let (host, port) = amqp.uri.authority();
        reactor
            .connect_tcp(
                (host.as_str(), port),
                factory,
                Some(spindle_amqp::CONNECT_TIMEOUT),
            )
            .map_err(|e| RpcError::Transport(format!("{host}:{port}: {e}")))?;
        Ok(AmqpRpcClient { state })
    }

    /// Calls `method` with `params` (XML-RPC mode). `out` is the reactor or the transport of
    /// the callback that is running (it wakes the AMQP connection to publish).
    pub fn call<O: Outlet + ?Sized>(
        &self,
        out: &mut O,
        method: &str,
        params: Vec<Value>,
    ) -> Deferred<Value, RpcError> {
        let mut body = BytesMut::with_capacity(256);
        xmlrpc::encode_call(method, &params, &mut body);
        let deferred = Deferred::new();
        self.send(out, body.freeze(), true, Expect::Xml(deferred.clone()));
        deferred
    }

    /// Sends `text` as a tutorial-mode request (the fib tutorial: `"30"`); the answer is the
    /// reply's body as text, or [`RpcError::Fault`] for a fault-marked reply.
    pub fn call_text<O: Outlet + ?Sized>(
        &self,
        out: &mut O,
        text: &str,
    ) -> Deferred<String, RpcError> {
        let deferred = Deferred::new();
        self.send(
            out,
            Bytes::copy_from_slice(text.as_bytes()),
            false,
            Expect::Text(deferred.clone()),
        );
        deferred
    }

    /// Calls published and not answered yet, and calls not published yet.
    pub fn in_flight(&self) -> usize {
        let s = self.state.borrow();
        s.pending.len() + s.queue.len()
    }

    /// Closes the connection cleanly; calls still waiting fail with
    /// [`RpcError::Transport`].
    pub fn close<O: Outlet + ?Sized>(&self, out: &mut O) {
        let conn = {
            let mut s = self.state.borrow_mut();
            s.close_wanted = true;
            s.conn
        };
        if let Some(conn) = conn {
            out.resume_when_drained_of(conn);
        }
    }

    fn send<O: Outlet + ?Sized>(&self, out: &mut O, body: Bytes, xml: bool, expect: Expect) {
        let wake = {
            let mut s = self.state.borrow_mut();
            if let Some(error) = s.ended.clone() {
                drop(s);
                expect.fail(error);
                return;
            }
            s.next_id += 1;
            let correlation_id = format!("{}-{}", s.prefix, s.next_id);
            s.queue.push_back(Outgoing {
                correlation_id,
                body,
                xml,
                expect,
            });
            if s.in_callback || s.reply_to.is_none() {
                None
            } else {
                s.conn
            }
        };
        if let Some(conn) = wake {
            // The connection publishes from its own callbacks: ask for one.
            out.resume_when_drained_of(conn);
        }
    }
}

/// The client's [`ConnectionHandler`].
struct ClientHandler {
    state: Rc<RefCell<State>>,
    channel: Option<u16>,
}

impl ClientHandler {
    /// Publishes the queued calls (once the reply queue is consumed) and closes when asked.
    fn flush(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let Some(id) = self.channel else {
            return Ok(());
        };
        loop {
            let (outgoing, reply_to, publish_to, timeout) = {
                let mut s = self.state.borrow_mut();
                if s.close_wanted {
                    drop(s);
                    conn.close();
                    return Ok(());
                }
                let Some(reply_to) = s.reply_to.clone() else {
                    return Ok(());
                };
                let Some(outgoing) = s.queue.pop_front() else {
                    return Ok(());
                };
                let to = (s.config.exchange.clone(), s.config.routing_key.clone());
                (outgoing, reply_to, to, s.config.timeout)
            };
            let mut publish = Publish::to(publish_to.0, publish_to.1)
                .reply_to(&reply_to)
                .correlation_id(&outgoing.correlation_id);
            if outgoing.xml {
                publish = publish.content_type(XML_CONTENT_TYPE);
            }
            match conn.channel(id).publish(&publish, &outgoing.body) {
                Ok(_) => {}
                Err(ClientError::Paused) => {
                    self.state.borrow_mut().queue.push_front(outgoing);
                    return Ok(());
                }
                Err(e) => {
                    outgoing.expect.fail(RpcError::Transport(e.to_string()));
                    return Err(e);
                }
            }
            let timer = timeout.map(|t| conn.call_later(t));
            let mut s = self.state.borrow_mut();
            if let Some(timer) = timer {
                s.timers.insert(timer, outgoing.correlation_id.clone());
            }
            s.pending.insert(
                outgoing.correlation_id,
                Pending {
                    expect: outgoing.expect,
                    timer,
                },
            );
        }
    }

    /// Runs `f` (which fires deferreds) as a callback: calls it makes are published after.
    fn firing(&mut self, conn: &mut Connection<'_>, f: impl FnOnce()) -> Result<(), ClientError> {
        self.state.borrow_mut().in_callback = true;
        f();
        self.state.borrow_mut().in_callback = false;
        self.flush(conn)
    }
}

impl ConnectionHandler for ClientHandler {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        self.channel = Some(id);
        let reply = self.state.borrow().config.reply;
        let mut ch = conn.channel(id);
        match reply {
            ReplyQueue::Exclusive => {
                let private = QueueOptions {
                    exclusive: true,
                    ..QueueOptions::default()
                };
                ch.queue_declare("", &private)?;
            }
            ReplyQueue::DirectReplyTo => {
                let no_ack = ConsumeOptions {
                    no_ack: true,
                    ..ConsumeOptions::default()
                };
                ch.consume(DIRECT_REPLY_TO, &no_ack)?;
                self.state.borrow_mut().reply_to = Some(DIRECT_REPLY_TO.to_string());
            }
        }
        Ok(())
    }

    fn on_reply(&mut self, ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        match reply {
            Reply::QueueDeclared { queue, .. } => {
                let no_ack = ConsumeOptions {
                    no_ack: true,
                    ..ConsumeOptions::default()
                };
                ch.consume(&queue, &no_ack)?;
                // Consuming before publishing: no answer can come before anyone listens.
                self.state.borrow_mut().reply_to = Some(queue);
                self.flush(ch.connection())
            }
            _ => self.flush(ch.connection()),
        }
    }

    fn on_delivery(&mut self, ch: &mut Channel<'_>, d: Delivery) -> Result<(), ClientError> {
        let Some(correlation_id) = d.properties.correlation_id.as_ref().map(|c| c.to_string())
        else {
            log::debug!("rpc client: an answer without correlation_id, dropped");
            return Ok(());
        };
        let pending = {
            let mut s = self.state.borrow_mut();
            let pending = s.pending.remove(&correlation_id);
            if let Some(timer) = pending.as_ref().and_then(|p| p.timer) {
                s.timers.remove(&timer);
            }
            pending
        };
        let Some(pending) = pending else {
            log::debug!("rpc client: an answer for no call waiting ({correlation_id}), dropped");
            return Ok(());
        };
        if let Some(timer) = pending.timer {
            ch.connection().cancel_timer(timer);
        }
        self.firing(ch.connection(), || pending.expect.answer(&d))
    }

    fn on_timer(&mut self, conn: &mut Connection<'_>, timer: TimerId) -> Result<(), ClientError> {
        let expired = {
            let mut s = self.state.borrow_mut();
            match s.timers.remove(&timer) {
                Some(id) => s.pending.remove(&id),
                None => None,
            }
        };
        match expired {
            Some(p) => self.firing(conn, || p.expect.fail(RpcError::TimedOut)),
            // The wake-up timer: publish what was queued.
            None => self.flush(conn),
        }
    }

    fn on_writable(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        self.flush(conn)
    }

    fn on_channel_error(
        &mut self,
        _ch: &mut Channel<'_>,
        error: ServerError,
    ) -> Result<(), ClientError> {
        // The request exchange or the reply queue is gone: nothing can be answered.
        Err(ClientError::Server(error))
    }

    fn on_closed(&mut self, result: Result<(), &ClientError>) {
        let error = match result {
            Ok(()) => RpcError::Transport("the connection was closed".into()),
            Err(e) => RpcError::Transport(e.to_string()),
        };
        let failed = self.state.borrow_mut().end(error.clone());
        for expect in failed {
            expect.fail(error.clone());
        }
    }
}

/// The AMQP client protocol with a way in from outside its callbacks: the handle asks the
/// reactor for `resume_producing` ([`Outlet::resume_when_drained_of`]), and this starts a
/// zero-delay timer, whose `on_timer` publishes the calls queued meanwhile.
struct WakeableClient {
    client: spindle_amqp::Client<ClientHandler>,
    state: Weak<RefCell<State>>,
}

impl std::fmt::Debug for WakeableClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WakeableClient")
    }
}

impl Protocol for WakeableClient {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        if let Some(state) = self.state.upgrade() {
            state.borrow_mut().conn = Some(tx.id());
        }
        self.client.connection_made(tx)
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.client.data_received(data, tx)
    }

    fn connection_lost(&mut self, reason: &DisconnectReason, tx: &mut dyn Transport) {
        self.client.connection_lost(reason, tx);
    }

    fn timer_fired(&mut self, id: TimerId, tx: &mut dyn Transport) -> ProtocolResult {
        self.client.timer_fired(id, tx)
    }

    fn pause_producing(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.client.pause_producing(tx)
    }

    fn resume_producing(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.client.resume_producing(tx)?;
        let wanted = self.state.upgrade().is_some_and(|s| {
            let s = s.borrow();
            !s.queue.is_empty() || s.close_wanted
        });
        if wanted {
            tx.call_later(Duration::ZERO);
        }
        Ok(())
    }
}
