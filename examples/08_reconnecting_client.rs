//! Surviving a server that goes away: `ReconnectingClientFactory` wraps a client factory and
//! retries failed or lost connections after a delay that grows (capped, jittered) with each
//! consecutive failure. The client sends `ping N` every second and prints the echo.
//!
//! Run it: `cargo run --example reconnecting_client`; start and stop `cargo run --example
//! echo_server` elsewhere to watch it reconnect. After 4 failed retries in a row it exits.

use std::io;
use std::time::Duration;

use spindle::protocols::lines::{LineEvent, LineReceiver};
use spindle::reactor::{
    Address, ClientFactory, Connector, DisconnectReason, Protocol, ProtocolResult, Reactor,
    ReconnectingClientFactory, TimerId, Transport,
};

const PING_EVERY: Duration = Duration::from_secs(1);

/// Sends a numbered line every second; prints each line the server sends back.
struct Pinger {
    lines: LineReceiver,
    sent: u64,
}

impl Pinger {
    fn ping(&mut self, tx: &mut dyn Transport) {
        self.sent += 1;
        tx.write(format!("ping {}\n", self.sent).as_bytes());
        // One-shot protocol timer, set again each time it fires.
        tx.call_later(PING_EVERY);
    }
}

impl Protocol for Pinger {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        println!("connected to {}", tx.peer());
        self.ping(tx);
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], _tx: &mut dyn Transport) -> ProtocolResult {
        self.lines.feed(data);
        while let Some(event) = self.lines.next_event() {
            if let LineEvent::Line(line) = event? {
                println!("  server said: {}", String::from_utf8_lossy(&line));
            }
        }
        Ok(())
    }

    fn timer_fired(&mut self, _id: TimerId, tx: &mut dyn Transport) -> ProtocolResult {
        self.ping(tx);
        Ok(())
    }

    fn connection_lost(&mut self, reason: &DisconnectReason, _tx: &mut dyn Transport) {
        println!("connection lost: {reason}");
    }
}

/// The plain client factory: builds a `Pinger` per connection, reports attempts.
struct PingFactory;

impl ClientFactory for PingFactory {
    fn build_protocol(&mut self, _peer: &Address) -> Box<dyn Protocol> {
        Box::new(Pinger {
            lines: LineReceiver::with_delimiter(b"\n"),
            sent: 0,
        })
    }

    fn started_connecting(&mut self, connector: &mut Connector) {
        println!("connecting to {}...", connector.address());
    }

    fn client_connection_failed(&mut self, reason: &io::Error, _connector: &mut Connector) {
        println!("  connection failed: {reason}");
    }
}

/// Factories compose: this one wraps the reconnecting factory, lets it decide, then reports
/// the decision it left on the `Connector`. No retry asked for means it gave up, and since
/// nothing else would ever happen in this program, it stops the reactor.
struct ReportRetries<F>(F);

impl<F: ClientFactory> ReportRetries<F> {
    fn report(connector: &mut Connector) {
        match connector.retry() {
            Some(delay) => println!("  retrying in {:.1} s", delay.as_secs_f64()),
            None => {
                println!("giving up - goodbye!");
                connector.stop_reactor();
            }
        }
    }
}

impl<F: ClientFactory> ClientFactory for ReportRetries<F> {
    fn build_protocol(&mut self, peer: &Address) -> Box<dyn Protocol> {
        self.0.build_protocol(peer)
    }

    fn started_connecting(&mut self, connector: &mut Connector) {
        self.0.started_connecting(connector);
    }

    fn client_connection_failed(&mut self, reason: &io::Error, connector: &mut Connector) {
        self.0.client_connection_failed(reason, connector);
        Self::report(connector);
    }

    fn client_connection_lost(&mut self, reason: &DisconnectReason, connector: &mut Connector) {
        self.0.client_connection_lost(reason, connector);
        Self::report(connector);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Delays grow by a factor of e from 0.5 s: about 1.4 s, 3.7 s, then the 5 s cap. A
    // successful connection resets them; a 4th failed retry in a row ends it.
    let reconnecting = ReconnectingClientFactory::new(PingFactory)
        .with_initial_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(5))
        .with_max_retries(4);

    let mut reactor = Reactor::new()?;
    reactor.connect_tcp(
        "127.0.0.1:8888",
        ReportRetries(reconnecting),
        Some(Duration::from_secs(3)),
    )?;
    reactor.install_signal_handlers()?;
    reactor.run()?;
    Ok(())
}
