//! The echo server: whatever arrives goes straight back.

use std::net::SocketAddr;

use spindle_reactor::{Error, ListeningPort, Protocol, ProtocolResult, ReactorTcp, Transport};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_PORT;
    use spindle_reactor::testing::{MemoryReactor, StringTransport};

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
