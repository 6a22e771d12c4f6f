//! The echo app: the server and the client of Twisted's echo example.
//!
//! The server writes back every byte it receives. The client sends one message, prints what
//! the server said, and closes — printing exactly what Twisted's `echoclient.py` prints, so a
//! reader of the tutorial sees the same lines:
//!
//! ```text
//! Server said: hello boy!
//! connection lost
//! Connection lost - goodbye!
//! ```

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use spindle_reactor::{
    Address, ClientFactory, Connector, DisconnectReason, Error, ListeningPort, Protocol,
    ProtocolResult, ReactorTcp, Transport,
};

/// The default echo port, as in the tutorial.
pub const DEFAULT_PORT: u16 = 8888;

/// The echo server protocol: whatever arrives goes straight back.
#[derive(Debug, Default)]
pub struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        tx.write(data);
        Ok(())
    }
}

/// Starts the echo server on `addr` (Twisted's `reactor.listenTCP(8888, factory)`).
pub fn listen(reactor: &mut dyn ReactorTcp, addr: SocketAddr) -> Result<ListeningPort, Error> {
    reactor.listen_tcp(addr, Box::new(|| Echo))
}

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientOutcome {
    /// Still running.
    Pending,
    /// Connected, talked, and the connection ended.
    Done,
    /// Could not connect.
    Failed,
}

/// The echo client's factory: builds [`EchoClient`]s and stops the reactor when the connection
/// fails or ends, like the tutorial's `EchoFactory`.
pub struct EchoClientFactory {
    message: Vec<u8>,
    say: Say,
    outcome: Rc<Cell<ClientOutcome>>,
}

impl std::fmt::Debug for EchoClientFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoClientFactory")
            .field("outcome", &self.outcome.get())
            .finish()
    }
}

impl EchoClientFactory {
    /// A factory for clients sending `message`; `outcome` tells the caller how it ended.
    pub fn new(message: impl Into<Vec<u8>>, say: Say, outcome: Rc<Cell<ClientOutcome>>) -> Self {
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
        self.outcome.set(ClientOutcome::Failed);
        connector.stop_reactor();
    }

    fn client_connection_lost(&mut self, _reason: &DisconnectReason, connector: &mut Connector) {
        (self.say)("Connection lost - goodbye!");
        self.outcome.set(ClientOutcome::Done);
        connector.stop_reactor();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spindle_reactor::testing::{Loopback, MemoryReactor, StringTransport};
    use std::cell::RefCell;

    fn recorder() -> (Say, Rc<RefCell<Vec<String>>>) {
        let lines = Rc::new(RefCell::new(Vec::new()));
        let sink = lines.clone();
        (
            Rc::new(move |s: &str| sink.borrow_mut().push(s.to_string())),
            lines,
        )
    }

    #[test]
    fn echo_writes_back_every_chunk() {
        let mut tx = StringTransport::new();
        let mut echo = Echo;
        echo.connection_made(&mut tx).unwrap();
        for chunk in [&b"a"[..], b"bc", b"", b"\x00\xff\r\n"] {
            echo.data_received(chunk, &mut tx).unwrap();
        }
        assert_eq!(tx.written(), b"abc\x00\xff\r\n");
        assert!(!tx.is_disconnecting());
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
        let outcome = Rc::new(Cell::new(ClientOutcome::Pending));
        let mut f = EchoClientFactory::new("x", say, outcome.clone());
        let mut c = spindle_reactor::testing::connector();
        f.client_connection_failed(&io::ErrorKind::ConnectionRefused.into(), &mut c);
        assert!(c.stop_reactor_requested());
        assert_eq!(outcome.get(), ClientOutcome::Failed);
        let mut c = spindle_reactor::testing::connector();
        f.client_connection_lost(&DisconnectReason::Done, &mut c);
        assert_eq!(outcome.get(), ClientOutcome::Done);
        assert_eq!(
            *lines.borrow(),
            ["Connection failed - goodbye!", "Connection lost - goodbye!"]
        );
    }

    #[test]
    fn listen_asks_for_the_port() {
        let mut r = MemoryReactor::new();
        let addr: SocketAddr = ([127, 0, 0, 1], DEFAULT_PORT).into();
        listen(&mut r, addr).unwrap();
        assert_eq!(r.tcp_servers.len(), 1);
        assert_eq!(r.tcp_servers[0].0, addr);
        let proto = r.tcp_servers[0].1.build_protocol(&addr.into());
        assert!(proto.is_some());
    }
}
