//! Outgoing connections: a connector per `connect_tcp`/`connect_unix`, mio's non-blocking
//! connect, connect timeouts, and the [`ClientFactory`] callbacks with the retries they ask for.
//!
//! A panic in a client factory's callback is logged and ends its connector: no more attempts
//! and no more callbacks into that factory (after a panic in `build_protocol`, the socket just
//! connected is closed).

use std::io;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::time::Duration;

use log::{debug, error, trace};
use mio::{Interest, Token};

use super::entry::{Connecting, ConnectorEntry, Entry, Target};
use super::guard::catch;
use super::{Reactor, TimerTarget};
use crate::net::{self, Stream};
use crate::{Address, ClientFactory, Connector, ConnectorId, DisconnectReason, Error};

impl Reactor {
    /// Connects to `addr` over TCP. The factory hears `started_connecting`, then builds the
    /// protocol on success or gets `client_connection_failed` (refused, unreachable, or
    /// `TimedOut` after `timeout`).
    pub fn connect_tcp(
        &mut self,
        addr: impl ToSocketAddrs + std::fmt::Debug,
        factory: impl ClientFactory + 'static,
        timeout: Option<Duration>,
    ) -> Result<ConnectorId, Error> {
        let addr = net::resolve(addr)?;
        Ok(self.add_connector(Target::Tcp(addr), Box::new(factory), timeout))
    }

    /// Connects to a Unix-domain socket at `path`.
    pub fn connect_unix(
        &mut self,
        path: impl AsRef<Path>,
        factory: impl ClientFactory + 'static,
        timeout: Option<Duration>,
    ) -> ConnectorId {
        let target = Target::Unix(path.as_ref().to_path_buf());
        self.add_connector(target, Box::new(factory), timeout)
    }

    fn add_connector(
        &mut self,
        target: Target,
        factory: Box<dyn ClientFactory>,
        timeout: Option<Duration>,
    ) -> ConnectorId {
        let gen = self.next_gen();
        let index = self.core.connectors.insert(ConnectorEntry {
            gen,
            target,
            factory,
            timeout,
        });
        self.start_connecting(index);
        ConnectorId {
            index: index as u32,
            gen,
        }
    }

    /// Stops a connector from retrying (a connection it already made stays open).
    pub fn stop_connecting(&mut self, id: ConnectorId) -> bool {
        match self.core.connectors.get(id.index as usize) {
            Some(c) if c.gen == id.gen => {
                self.core.connectors.remove(id.index as usize);
                true
            }
            _ => false,
        }
    }

    pub(super) fn start_connecting(&mut self, connector: usize) {
        let now = self.core.now;
        let Some(c) = self.core.connectors.get_mut(connector) else {
            return;
        };
        let id = ConnectorId {
            index: connector as u32,
            gen: c.gen,
        };
        let mut handle = Connector::new(id, c.address(), now);
        if let Err(message) = catch(|| c.factory.started_connecting(&mut handle)) {
            self.connector_panicked(connector, "started_connecting", &message);
            return;
        }
        let attempt = match &c.target {
            Target::Tcp(addr) => mio::net::TcpStream::connect(*addr).map(Stream::Tcp),
            Target::Unix(path) => mio::net::UnixStream::connect(path).map(Stream::Unix),
        };
        let timeout = c.timeout;
        let mut stream = match attempt {
            Ok(s) => s,
            Err(error) => {
                // Report on the next turn, never from inside the caller's call.
                self.core
                    .timers
                    .schedule(now, TimerTarget::ConnectFailed { connector, error });
                return;
            }
        };
        let entry = self.core.entries.vacant_entry();
        let index = entry.key();
        if let Err(error) = self.core.poll.registry().register(
            stream.source(),
            Token(index),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.core
                .timers
                .schedule(now, TimerTarget::ConnectFailed { connector, error });
            return;
        }
        let timeout = timeout.map(|t| {
            self.core.timers.schedule(
                now.checked_add(t).unwrap_or(now),
                TimerTarget::ConnectTimeout {
                    connector,
                    entry: index,
                },
            )
        });
        entry.insert(Entry::Connecting(Connecting {
            connector,
            stream,
            timeout,
        }));
        trace!("[c{index}] connecting to {}", handle.address());
    }

    /// mio's non-blocking connect, step by step: on readiness, `take_error` reports a failed
    /// attempt; `peer_addr` failing with `NotConnected` means "not yet, wait for the next
    /// event"; success means connected.
    pub(super) fn on_connecting_ready(&mut self, index: usize) {
        let Some(Entry::Connecting(c)) = self.core.entries.get(index) else {
            return;
        };
        let outcome = match c.stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match c.stream.peer() {
                Ok(peer) => Ok(peer),
                Err(e)
                    if e.kind() == io::ErrorKind::NotConnected || e.raw_os_error() == Some(115) =>
                {
                    return
                }
                Err(e) => Err(e),
            },
        };
        let Entry::Connecting(mut c) = self.core.entries.remove(index) else {
            return;
        };
        if let Some(t) = c.timeout {
            self.core.timers.cancel(t);
        }
        match outcome {
            Err(error) => {
                let _ = self.core.poll.registry().deregister(c.stream.source());
                self.connect_failed(c.connector, error);
            }
            Ok(peer) => {
                let Some(conn) = self.core.connectors.get_mut(c.connector) else {
                    // stop_connecting was called meanwhile.
                    let _ = self.core.poll.registry().deregister(c.stream.source());
                    return;
                };
                let built = catch(|| conn.factory.build_protocol(&peer));
                let _ = self.core.poll.registry().deregister(c.stream.source());
                let protocol = match built {
                    Ok(protocol) => protocol,
                    Err(message) => {
                        // Dropping the stream closes the socket.
                        self.connector_panicked(c.connector, "build_protocol", &message);
                        return;
                    }
                };
                c.stream.set_nodelay();
                self.core
                    .add_connection(c.stream, protocol, peer, Some(c.connector));
            }
        }
    }

    pub(super) fn connect_failed(&mut self, connector: usize, error: io::Error) {
        let now = self.core.now;
        let Some(c) = self.core.connectors.get_mut(connector) else {
            return;
        };
        debug!("connecting to {} failed: {error}", c.address());
        let id = ConnectorId {
            index: connector as u32,
            gen: c.gen,
        };
        let mut handle = Connector::new(id, c.address(), now);
        match catch(|| c.factory.client_connection_failed(&error, &mut handle)) {
            Ok(()) => self.apply_connector(connector, handle),
            Err(message) => {
                self.connector_panicked(connector, "client_connection_failed", &message)
            }
        }
    }

    /// Tells the connector that made a connection that it ended (after the protocol's
    /// `connection_lost`); `peer` was the connection's peer.
    pub(super) fn connection_lost_by(
        &mut self,
        connector: usize,
        peer: Address,
        reason: &DisconnectReason,
    ) {
        let now = self.core.now;
        if let Some(c) = self.core.connectors.get_mut(connector) {
            let id = ConnectorId {
                index: connector as u32,
                gen: c.gen,
            };
            let mut handle = Connector::new(id, peer, now);
            match catch(|| c.factory.client_connection_lost(reason, &mut handle)) {
                Ok(()) => self.apply_connector(connector, handle),
                Err(message) => {
                    self.connector_panicked(connector, "client_connection_lost", &message)
                }
            }
        }
    }

    /// Ends a connector whose factory panicked in `callback`, whatever the callback had asked
    /// of its [`Connector`] before panicking.
    fn connector_panicked(&mut self, connector: usize, callback: &str, message: &str) {
        if let Some(c) = self.core.connectors.try_remove(connector) {
            error!(
                "client factory for {} panicked in {callback}: {message}; it connects no more",
                c.address()
            );
        }
    }

    /// Does what a client factory's callback asked of its [`Connector`]: retry after a delay
    /// (unless the reactor is stopping), or forget the connector; and stop the reactor.
    fn apply_connector(&mut self, connector: usize, handle: Connector) {
        if handle.stop_reactor {
            self.stop();
        }
        match handle.retry {
            Some(delay) if !self.core.stop_requested => {
                let at = self.core.now.checked_add(delay).unwrap_or(self.core.now);
                self.core
                    .timers
                    .schedule(at, TimerTarget::Connect { connector });
            }
            _ => {
                if self.core.connectors.contains(connector) {
                    self.core.connectors.remove(connector);
                }
            }
        }
    }
}
