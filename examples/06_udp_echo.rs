//! UDP with a `DatagramProtocol`: no connections, so no per-connection protocol and no
//! factory. One handler gets every datagram with the address it came from, and replies with
//! `send_to`. Datagrams are never split or merged, so there is no framing to do.
//!
//! Run it: `cargo run --example udp_echo`, then `nc -u 127.0.0.1 8891` (or
//! `scripts/tcp-client -u 127.0.0.1 8891`) and type lines (each
//! line is one datagram, echoed back).

use std::net::SocketAddr;

use spindle::reactor::{DatagramProtocol, DatagramTransport, ProtocolResult, Reactor};

struct UdpEcho {
    received: u64,
}

impl DatagramProtocol for UdpEcho {
    fn started(&mut self, tx: &mut dyn DatagramTransport) {
        println!("udp echo on {}; Ctrl-C to stop", tx.host());
    }

    fn datagram_received(
        &mut self,
        data: &[u8],
        from: SocketAddr,
        tx: &mut dyn DatagramTransport,
    ) -> ProtocolResult {
        self.received += 1;
        println!(
            "datagram #{} from {from}: {} bytes",
            self.received,
            data.len()
        );
        // UDP has no output buffer: a datagram the socket cannot take now is dropped, as the
        // network may drop any datagram. The error is returned; the reactor logs it and goes on.
        tx.send_to(data, from)?;
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut reactor = Reactor::new()?;
    reactor.listen_udp("127.0.0.1:8891", UdpEcho { received: 0 })?;
    reactor.install_signal_handlers()?;
    reactor.run()?;
    Ok(())
}
