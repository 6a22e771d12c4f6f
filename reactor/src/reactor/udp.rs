//! UDP sockets: binding, handing each datagram to a [`DatagramProtocol`], and `UdpTx`, the
//! [`DatagramTransport`] its callbacks send through.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket as StdUdpSocket};

use log::{debug, error, info, trace, warn};
use mio::net::UdpSocket;
use mio::{Interest, Token};

use super::entry::{Entry, UdpEntry};
use super::guard::catch;
use super::Reactor;
use crate::{net, DatagramProtocol, DatagramTransport, Error};

impl Reactor {
    /// Binds a UDP socket on `addr` and hands each datagram to `protocol`.
    pub fn listen_udp(
        &mut self,
        addr: impl ToSocketAddrs + std::fmt::Debug,
        protocol: impl DatagramProtocol + 'static,
    ) -> Result<SocketAddr, Error> {
        let addr = net::resolve(addr)?;
        let std_socket =
            StdUdpSocket::bind(addr).map_err(|e| Error::io(format!("binding udp {addr}"), e))?;
        std_socket
            .set_nonblocking(true)
            .map_err(|e| Error::io("making udp non-blocking", e))?;
        let mut socket = UdpSocket::from_std(std_socket);
        let host = socket
            .local_addr()
            .map_err(|e| Error::io("reading the udp address", e))?;
        let entry = self.core.entries.vacant_entry();
        let index = entry.key();
        self.core
            .poll
            .registry()
            .register(&mut socket, Token(index), Interest::READABLE)
            .map_err(|e| Error::io("registering udp", e))?;
        let mut udp = UdpEntry {
            socket,
            host,
            protocol: Box::new(protocol),
        };
        {
            let UdpEntry {
                socket,
                host,
                protocol,
            } = &mut udp;
            let mut tx = UdpTx {
                socket,
                host: *host,
            };
            if let Err(message) = catch(|| protocol.started(&mut tx)) {
                error!("[udp {host}] datagram protocol panicked in started: {message}");
            }
        }
        entry.insert(Entry::Udp(udp));
        info!("udp listening on {host}");
        Ok(host)
    }

    /// Receives every datagram queued on socket `index`, handing each to its protocol.
    pub(super) fn on_udp_readable(&mut self, index: usize) {
        loop {
            let Some(Entry::Udp(u)) = self.core.entries.get_mut(index) else {
                return;
            };
            match u.socket.recv_from(&mut self.read_buf) {
                Ok((n, from)) => {
                    trace!("[u{index}] datagram {n} B from {from}");
                    let data = self.read_buf.get(..n).unwrap_or_default();
                    let UdpEntry {
                        socket,
                        host,
                        protocol,
                    } = u;
                    let mut tx = UdpTx {
                        socket,
                        host: *host,
                    };
                    match catch(|| protocol.datagram_received(data, from, &mut tx)) {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => warn!("[u{index}] datagram from {from}: {e}"),
                        Err(message) => {
                            warn!("[u{index}] datagram protocol panicked: {message}")
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP errors surface here on some systems; they concern one peer only.
                    debug!("[u{index}] recv: {e}");
                    return;
                }
            }
        }
    }
}

/// The [`DatagramTransport`] of a UDP socket.
struct UdpTx<'a> {
    socket: &'a mut UdpSocket,
    host: SocketAddr,
}

impl DatagramTransport for UdpTx<'_> {
    fn send_to(&mut self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.socket.send_to(data, to)
    }

    fn host(&self) -> SocketAddr {
        self.host
    }
}
