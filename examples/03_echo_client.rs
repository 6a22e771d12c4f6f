//! Twisted's echo client: a protocol that sends "hello boy!" on connect, prints the reply and
//! hangs up, and a `ClientFactory` that hears how the attempt or the connection ended and stops
//! the reactor through its `Connector`; the exit status is 1 if it could not connect.
//!
//! Run it: `cargo run --example echo_server` in one terminal, then
//! `cargo run --example echo_client` in another (without the server: `Connection failed`).

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use spindle::reactor::{
    Address, ClientFactory, Connector, DisconnectReason, Protocol, ProtocolResult, Reactor,
    Transport,
};

/// Once connected, sends a message and waits for the echo.
struct EchoClient;

impl Protocol for EchoClient {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        tx.write(b"hello boy!");
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        // As in Twisted's example, the first chunk is taken to be the whole reply (on a loopback
        // connection ten bytes always arrive together).
        println!("Server said: {}", String::from_utf8_lossy(data));
        tx.lose_connection();
        Ok(())
    }

    fn connection_lost(&mut self, _reason: &DisconnectReason, _tx: &mut dyn Transport) {
        println!("connection lost");
    }
}

/// Builds the protocol and hears about the attempt. `failed` tells `main` how it went.
struct EchoFactory {
    failed: Rc<Cell<bool>>,
}

impl ClientFactory for EchoFactory {
    fn build_protocol(&mut self, _peer: &Address) -> Box<dyn Protocol> {
        Box::new(EchoClient)
    }

    fn client_connection_failed(&mut self, reason: &io::Error, connector: &mut Connector) {
        println!("Connection failed - goodbye! ({reason})");
        self.failed.set(true);
        connector.stop_reactor();
    }

    fn client_connection_lost(&mut self, _reason: &DisconnectReason, connector: &mut Connector) {
        println!("Connection lost - goodbye!");
        connector.stop_reactor();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let failed = Rc::new(Cell::new(false));
    let mut reactor = Reactor::new()?;
    let factory = EchoFactory {
        failed: failed.clone(),
    };
    // Give up on the attempt after 5 s (it then fails with `TimedOut`).
    reactor.connect_tcp("127.0.0.1:8888", factory, Some(Duration::from_secs(5)))?;
    reactor.run()?;
    if failed.get() {
        std::process::exit(1);
    }
    Ok(())
}
