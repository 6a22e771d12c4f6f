//! The echo client of Twisted's `echoclient.py`: connect, send one message, print the reply,
//! close, stop the reactor.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use spindle_reactor::{
    Address, ClientFactory, Connector, DisconnectReason, Protocol, ProtocolResult, Transport,
};

use crate::error::Error;

/// Where the client's lines go: standard output for the command, a vector in tests.
pub type Say = Rc<dyn Fn(&str)>;

/// The echo client protocol: sends its message on connect, prints the first reply, closes.
pub struct EchoClient {
    message: Vec<u8>,
    say: Say,
}

impl std::fmt::Debug for EchoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoClient")
            .field("message", &String::from_utf8_lossy(&self.message))
            .finish()
    }
}

impl EchoClient {
    /// A client that will send `message` and report through `say`.
    pub fn new(message: impl Into<Vec<u8>>, say: Say) -> Self {
        EchoClient {
            message: message.into(),
            say,
        }
    }
}

impl Protocol for EchoClient {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        tx.write(&self.message);
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        (self.say)(&format!("Server said: {}", String::from_utf8_lossy(data)));
        tx.lose_connection();
        Ok(())
    }

    fn connection_lost(&mut self, _reason: &DisconnectReason, _tx: &mut dyn Transport) {
        (self.say)("connection lost");
    }
}

/// How the client run ended.
#[derive(Debug)]
pub enum ClientOutcome {
    /// Still running.
    Pending,
    /// Connected, talked, and the connection ended.
    Done,
    /// Could not connect.
    Failed(Error),
}

/// The echo client's factory: builds [`EchoClient`]s and stops the reactor when the connection
/// fails or ends, like the tutorial's `EchoFactory`.
pub struct EchoClientFactory {
    message: Vec<u8>,
    say: Say,
    outcome: Rc<RefCell<ClientOutcome>>,
}

impl std::fmt::Debug for EchoClientFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoClientFactory")
            .field("outcome", &self.outcome.borrow())
            .finish()
    }
}

impl EchoClientFactory {
    /// A factory for clients sending `message`; `outcome` tells the caller how it ended.
    pub fn new(message: impl Into<Vec<u8>>, say: Say, outcome: Rc<RefCell<ClientOutcome>>) -> Self {
        EchoClientFactory {
            message: message.into(),
            say,
            outcome,
        }
    }
}

impl ClientFactory for EchoClientFactory {
    fn build_protocol(&mut self, _peer: &Address) -> Box<dyn Protocol> {
        Box::new(EchoClient::new(self.message.clone(), self.say.clone()))
    }

    fn client_connection_failed(&mut self, reason: &io::Error, connector: &mut Connector) {
        log::debug!("connecting to {} failed: {reason}", connector.address());
        (self.say)("Connection failed - goodbye!");
        *self.outcome.borrow_mut() = ClientOutcome::Failed(Error::Connect {
            addr: connector.address().to_string(),
            reason: io::Error::new(reason.kind(), reason.to_string()),
        });
        connector.stop_reactor();
    }

    fn client_connection_lost(&mut self, _reason: &DisconnectReason, connector: &mut Connector) {
        (self.say)("Connection lost - goodbye!");
        *self.outcome.borrow_mut() = ClientOutcome::Done;
        connector.stop_reactor();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Echo;
    use spindle_reactor::testing::{Loopback, StringTransport};

    fn recorder() -> (Say, Rc<RefCell<Vec<String>>>) {
        let lines = Rc::new(RefCell::new(Vec::new()));
        let sink = lines.clone();
        (
            Rc::new(move |s: &str| sink.borrow_mut().push(s.to_string())),
            lines,
        )
    }

    #[test]
    fn client_sends_prints_and_closes() {
        let (say, lines) = recorder();
        let mut tx = StringTransport::new();
        let mut client = EchoClient::new("hello boy!", say);
        client.connection_made(&mut tx).unwrap();
        assert_eq!(tx.written(), b"hello boy!");
        client.data_received(b"hello boy!", &mut tx).unwrap();
        assert!(tx.is_disconnecting());
        client.connection_lost(&DisconnectReason::Done, &mut tx);
        assert_eq!(
            *lines.borrow(),
            ["Server said: hello boy!", "connection lost"]
        );
    }

    #[test]
    fn client_and_server_over_loopback() {
        let (say, lines) = recorder();
        let lb = Loopback::connect(Box::new(Echo), Box::new(EchoClient::new("hello boy!", say)))
            .unwrap();
        assert!(lb.is_closed());
        assert_eq!(
            *lines.borrow(),
            ["Server said: hello boy!", "connection lost"]
        );
    }

    #[test]
    fn factory_reports_failure_and_loss_and_stops_the_reactor() {
        let (say, lines) = recorder();
        let outcome = Rc::new(RefCell::new(ClientOutcome::Pending));
        let mut f = EchoClientFactory::new("x", say, outcome.clone());
        let mut c = spindle_reactor::testing::connector();
        f.client_connection_failed(&io::ErrorKind::ConnectionRefused.into(), &mut c);
        assert!(c.stop_reactor_requested());
        assert!(matches!(
            &*outcome.borrow(),
            ClientOutcome::Failed(Error::Connect { reason, .. })
                if reason.kind() == io::ErrorKind::ConnectionRefused
        ));
        let mut c = spindle_reactor::testing::connector();
        f.client_connection_lost(&DisconnectReason::Done, &mut c);
        assert!(matches!(*outcome.borrow(), ClientOutcome::Done));
        assert_eq!(
            *lines.borrow(),
            ["Connection failed - goodbye!", "Connection lost - goodbye!"]
        );
    }
}
