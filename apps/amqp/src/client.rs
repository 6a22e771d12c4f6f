//! [`Client`], the [`Protocol`] a reactor drives for one AMQP connection, and [`run`], which
//! drives one on a reactor of its own until it ends and gives the handler back.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use spindle_reactor::{
    Address, ClientFactory, Connector, DisconnectReason, Error as ReactorError, Protocol,
    ProtocolResult, Reactor, TimerId, Transport,
};

use crate::config::Config;
use crate::error::ClientError;
use crate::handler::ConnectionHandler;
use spindle_reactor::io_reason;

#[cfg(test)]
use crate::connection::Connection;
use crate::driver::Driver;

/// The AMQP client protocol: one per connection, driving a [`ConnectionHandler`].
///
/// Use it with [`run`], or hand it to a reactor through a [`ClientFactory`] of your own to
/// run it beside other connections.
#[derive(Debug)]
pub struct Client<H> {
    driver: Driver<H>,
    /// Where [`run`] gets the handler and the outcome back.
    slot: Option<Slot<H>>,
}

impl<H: ConnectionHandler> Client<H> {
    /// A client that will connect with `config` and report to `handler`.
    pub fn new(config: Config, handler: H) -> Self {
        Client {
            driver: Driver::new(config, handler),
            slot: None,
        }
    }

    /// The handler (`None` once [`run`] has taken it back).
    pub fn handler(&self) -> Option<&H> {
        self.driver.handler.as_ref()
    }

    /// The handler, mutably.
    pub fn handler_mut(&mut self) -> Option<&mut H> {
        self.driver.handler.as_mut()
    }

    /// Runs `f` as if it were a handler callback.
    #[cfg(test)]
    pub(crate) fn with_conn(
        &mut self,
        tx: &mut dyn Transport,
        f: impl FnOnce(&mut H, &mut Connection<'_>) -> Result<(), ClientError>,
    ) {
        self.driver.with_conn(tx, f);
    }
}

impl<H: ConnectionHandler> Protocol for Client<H> {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.driver.connection_made(tx);
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.driver.data_received(data, tx);
        Ok(())
    }

    fn timer_fired(&mut self, id: TimerId, tx: &mut dyn Transport) -> ProtocolResult {
        self.driver.timer_fired(id, tx);
        Ok(())
    }

    /// Refuses publishes but goes on reading (the default would pause reading, stalling acks,
    /// confirms and heartbeats).
    fn pause_producing(&mut self, _tx: &mut dyn Transport) -> ProtocolResult {
        self.driver.pause_producing();
        Ok(())
    }

    fn resume_producing(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.driver.resume_producing(tx);
        Ok(())
    }

    fn connection_lost(&mut self, reason: &DisconnectReason, _tx: &mut dyn Transport) {
        let result = self.driver.connection_lost(reason);
        if let Some(slot) = self.slot.take() {
            let mut slot = slot.borrow_mut();
            slot.handler = self.driver.handler.take();
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
        let error = ClientError::connect(connector.address(), io_reason(reason));
        self.slot.borrow_mut().result = Some(Err(error));
        connector.stop_reactor();
    }

    fn client_connection_lost(&mut self, _reason: &DisconnectReason, connector: &mut Connector) {
        connector.stop_reactor();
    }
}

/// The protocol of a second connection `run` did not ask for: closes it at once.
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
/// The connection could not be made ([`ClientError::Connect`], naming the address tried), or
/// it ended with an error (the broker closed it, a handler callback failed, heartbeats were
/// missed); the handler heard it in `on_closed`.
pub fn run<H: ConnectionHandler + 'static>(config: Config, handler: H) -> Result<H, ClientError> {
    let (host, port) = config.uri.authority();
    let authority = format!("{host}:{port}");
    let mut reactor =
        Reactor::new().map_err(|e| ClientError::connect(&authority, e.to_string()))?;
    let slot: Slot<H> = Rc::new(RefCell::new(RunSlot {
        handler: Some(handler),
        result: None,
    }));
    let factory = RunFactory {
        config,
        slot: slot.clone(),
    };
    reactor
        .connect_tcp((host.as_str(), port), factory, Some(CONNECT_TIMEOUT))
        .map_err(|e| {
            // Resolving the host failed: its io error says why; the address is named already.
            let reason = match &e {
                ReactorError::Io { source, .. } => io_reason(source),
                other => other.to_string(),
            };
            ClientError::connect(&authority, reason)
        })?;
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
