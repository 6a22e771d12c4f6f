//! [`AmqpRpcServer`]: a [`Service`] answering requests from an AMQP queue — the RabbitMQ
//! tutorial's fib server, and XML-RPC calls in messages.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use spindle_amqp::{
    Channel, ClientError, Config, Connection, ConnectionHandler, ConsumeOptions, Delivery, Publish,
    QueueOptions, Reply,
};
use spindle_protocols::amqp::BasicProperties;
use spindle_protocols::xmlrpc::{self, Limits};
use spindle_reactor::Reactor;

use crate::amqp_wire::{
    fault_properties, is_xml, text_to_value, value_to_text, OneConnection, TUTORIAL_QUEUE,
    XML_CONTENT_TYPE,
};
use crate::error::RpcError;
use crate::service::Service;
use crate::system::dispatch;

/// What an [`AmqpRpcServer`] consumes and how.
#[derive(Debug, Clone)]
pub struct AmqpServerConfig {
    /// The request queue, declared as the tutorial declares it (not durable, not exclusive,
    /// kept), so pika's `queue_declare(queue="rpc_queue")` and ours agree. Default
    /// `rpc_queue`.
    pub queue: String,
    /// Requests delivered before their acks (`basic.qos`); the tutorial's server uses 1.
    /// Default 16.
    pub prefetch: u16,
    /// The method a tutorial-mode (text) request calls. Default `fib`.
    pub tutorial_method: String,
}

impl Default for AmqpServerConfig {
    fn default() -> Self {
        AmqpServerConfig {
            queue: TUTORIAL_QUEUE.to_string(),
            prefetch: 16,
            tutorial_method: "fib".to_string(),
        }
    }
}

/// A reply that could not be published yet (the connection's output was full), and the
/// request it acks once published.
struct Held {
    publish: Publish,
    body: Bytes,
    delivery_tag: u64,
}

/// Serves a [`Service`] on an AMQP queue: consumes requests (with prefetch), calls the service,
/// publishes the reply to the request's `reply_to` with its `correlation_id`, then acks the
/// request. XML-RPC-mode and tutorial-mode requests are told apart by their content type
/// (see the module `amqp_wire` in the crate docs): pika's tutorial `rpc_client.py` talks to it
/// unchanged.
///
/// A request without `reply_to` is run and acked, its result dropped. Errors are replies: a
/// fault (XML-RPC mode), or a fault-marked text reply (tutorial mode); a request is never
/// left unacked.
///
/// ```no_run
/// use spindle_amqp::Config;
/// use spindle_reactor::Reactor;
/// use spindle_rpc::{AmqpRpcServer, AmqpServerConfig, DemoObject, Registry};
///
/// let mut service = Registry::new();
/// service.register_instance(DemoObject::new());
/// let mut reactor = Reactor::new()?;
/// let server = AmqpRpcServer::new(service, AmqpServerConfig::default());
/// server.connect(&mut reactor, Config::default())?;
/// reactor.run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AmqpRpcServer<S> {
    service: S,
    config: AmqpServerConfig,
    limits: Limits,
    channel: Option<u16>,
    held: VecDeque<Held>,
    served: u64,
    on_ready: Option<Box<dyn FnMut()>>,
    on_closed: OnClosed,
}

/// The closed callback, shared with the factory that reports a connection never made.
type OnClosed = Rc<RefCell<Option<Box<dyn FnMut(Result<(), &ClientError>)>>>>;

impl<S> std::fmt::Debug for AmqpRpcServer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpRpcServer")
            .field("config", &self.config)
            .field("served", &self.served)
            .field("held", &self.held.len())
            .finish()
    }
}

impl<S: Service + 'static> AmqpRpcServer<S> {
    /// A server for `service`; run it with [`connect`](Self::connect) or as the handler of a
    /// [`spindle_amqp::Client`].
    pub fn new(service: S, config: AmqpServerConfig) -> AmqpRpcServer<S> {
        AmqpRpcServer {
            service,
            config,
            limits: Limits::default(),
            channel: None,
            held: VecDeque::new(),
            served: 0,
            on_ready: None,
            on_closed: Rc::default(),
        }
    }

    /// Calls `f` once the server consumes its queue.
    #[must_use]
    pub fn on_ready(mut self, f: impl FnMut() + 'static) -> Self {
        self.on_ready = Some(Box::new(f));
        self
    }

    /// Calls `f` when the connection ends (`Ok` after a clean close).
    #[must_use]
    pub fn on_closed(self, f: impl FnMut(Result<(), &ClientError>) + 'static) -> Self {
        *self.on_closed.borrow_mut() = Some(Box::new(f));
        self
    }

    /// Requests answered so far.
    pub fn served(&self) -> u64 {
        self.served
    }

    /// Connects to the broker of `amqp` on `reactor`; the server runs as the reactor does.
    ///
    /// # Errors
    ///
    /// The broker's host does not resolve. A refused connection is logged and reported to
    /// [`on_closed`](Self::on_closed).
    pub fn connect(self, reactor: &mut Reactor, amqp: Config) -> Result<(), RpcError> {
        let (host, port) = amqp.uri.authority();
        let on_closed = self.on_closed.clone();
        let factory = OneConnection {
            protocol: Some(Box::new(spindle_amqp::Client::new(amqp, self))),
            on_failed: Box::new(move |why| {
                log::error!("rpc server: {why}");
                if let Some(f) = on_closed.borrow_mut().as_mut() {
                    f(Err(&ClientError::Lost(why)));
                }
            }),
        };
        reactor
            .connect_tcp(
                (host.as_str(), port),
                factory,
                Some(spindle_amqp::CONNECT_TIMEOUT),
            )
            .map(|_| ())
            .map_err(|e| RpcError::Transport(format!("{host}:{port}: {e}")))
    }

    /// The reply to one request: its body and properties.
    fn answer(&mut self, d: &Delivery) -> (Bytes, BasicProperties) {
        let correlation_id = d.properties.correlation_id.clone();
        if is_xml(&d.properties) {
            let mut body = BytesMut::with_capacity(256);
            match xmlrpc::decode_call(&d.body, &self.limits) {
                Ok(call) => match dispatch(&mut self.service, &call.method_name, call.params) {
                    Ok(v) => xmlrpc::encode_response(&v, &mut body),
                    Err(f) => xmlrpc::encode_fault(&f, &mut body),
                },
                Err(e) => xmlrpc::encode_fault(&e.to_fault(), &mut body),
            }
            let properties = BasicProperties {
                correlation_id,
                content_type: XML_CONTENT_TYPE.try_into().ok(),
                ..BasicProperties::default()
            };
            return (body.freeze(), properties);
        }
        let param = text_to_value(&d.body);
        let method = self.config.tutorial_method.clone();
        match dispatch(&mut self.service, &method, vec![param]) {
            Ok(v) => (
                Bytes::from(value_to_text(&v)),
                BasicProperties {
                    correlation_id,
                    ..BasicProperties::default()
                },
            ),
            Err(f) => (
                Bytes::from(format!("error: {}", f.fault_string)),
                fault_properties(&f, correlation_id),
            ),
        }
    }

    /// Publishes the held replies, acking each request after its reply; stops when the
    /// output is full again (`on_writable` resumes).
    fn flush_held(&mut self, ch: &mut Channel<'_>) -> Result<(), ClientError> {
        while let Some(held) = self.held.pop_front() {
            match ch.publish(&held.publish, &held.body) {
                Ok(_) => ch.ack(held.delivery_tag, false)?,
                Err(ClientError::Paused) => {
                    self.held.push_front(held);
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl<S: Service + 'static> ConnectionHandler for AmqpRpcServer<S> {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        self.channel = Some(id);
        let mut ch = conn.channel(id);
        ch.queue_declare(&self.config.queue, &QueueOptions::default())?;
        ch.qos(self.config.prefetch)?;
        ch.consume(&self.config.queue, &ConsumeOptions::default())?;
        Ok(())
    }

    fn on_reply(&mut self, _ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        if let Reply::Consuming { .. } = reply {
            log::info!("rpc server consuming {}", self.config.queue);
            if let Some(f) = self.on_ready.as_mut() {
                f();
            }
        }
        Ok(())
    }

    fn on_delivery(&mut self, ch: &mut Channel<'_>, d: Delivery) -> Result<(), ClientError> {
        let (body, properties) = self.answer(&d);
        self.served += 1;
        let Some(reply_to) = d.properties.reply_to.as_ref() else {
            log::debug!("rpc request without reply_to: result dropped");
            return ch.ack(d.delivery_tag, false);
        };
        let publish = Publish::to("", reply_to.to_string()).properties(properties);
        self.held.push_back(Held {
            publish,
            body,
            delivery_tag: d.delivery_tag,
        });
        self.flush_held(ch)
    }

    fn on_writable(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        match self.channel {
            Some(id) => self.flush_held(&mut conn.channel(id)),
            None => Ok(()),
        }
    }

    fn on_closed(&mut self, result: Result<(), &ClientError>) {
        match result {
            Ok(()) => log::info!("rpc server: connection closed"),
            Err(e) => log::error!("rpc server: connection ended: {e}"),
        }
        if let Some(f) = self.on_closed.borrow_mut().as_mut() {
            f(result);
        }
    }
}
