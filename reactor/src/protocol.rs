//! The callbacks: [`Protocol`] (one per connection), [`Factory`] (builds them for a listening
//! port, holds shared state), [`ClientFactory`] (builds them for outgoing connections and hears
//! how those end), and [`DatagramProtocol`] for UDP.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::{Address, DatagramTransport, DisconnectReason, ProtocolResult, TimerId, Transport};

/// The per-connection handler: one instance per connection, owning that connection's state.
///
/// The reactor calls these methods, one at a time, on the reactor's thread:
/// `connection_made` once, then `data_received` for each chunk read, `timer_fired`,
/// `pause_producing`/`resume_producing` as the output buffer crosses its water marks, and
/// finally `connection_lost` once. Everything shared between connections belongs to the
/// [`Factory`], handed to each protocol when it is built.
///
/// Errors: every callback but `connection_lost` returns a [`ProtocolResult`]. An `Err`, or a
/// panic, is logged at `warn`, the connection is aborted, and `connection_lost` gets
/// [`DisconnectReason::Protocol`]. Other connections and the reactor carry on.
pub trait Protocol {
    /// Called once when the connection is established, before any data. Typical use: send a
    /// greeting, register `tx.id()` in the factory's shared state, start a timer.
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        let _ = tx;
        Ok(())
    }

    /// Called with each chunk of bytes read. Chunks have arbitrary sizes and boundaries: a
    /// message may arrive split in many calls or several messages in one, so a protocol frames
    /// its input with a codec (and its tests feed it one byte at a time).
    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult;

    /// Called once when the connection has ended, for whatever reason. Writes to this connection
    /// are ignored now; writes to other connections (announcing a departure) still work.
    fn connection_lost(&mut self, reason: &DisconnectReason, tx: &mut dyn Transport) {
        let _ = (reason, tx);
    }

    /// Called when a timer set by [`Transport::call_later`] fires.
    fn timer_fired(&mut self, id: TimerId, tx: &mut dyn Transport) -> ProtocolResult {
        let _ = (id, tx);
        Ok(())
    }

    /// Called when this connection's output buffer grows past the high-water mark: stop
    /// producing output until `resume_producing`. The default pauses reading, which is right
    /// for any protocol whose output answers its input (echo, request/response): a peer that
    /// sends but never reads is then held off by TCP, and the server's memory stays bounded.
    fn pause_producing(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        tx.pause_reading();
        Ok(())
    }

    /// Called when the output buffer has drained below the low-water mark after a pause.
    /// The default resumes reading.
    fn resume_producing(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        tx.resume_reading();
        Ok(())
    }

    /// Whether this protocol may be called (`data_received`, `pause_producing`,
    /// `resume_producing`) from a nested turn that another connection's callback runs
    /// ([`Transport::process_events_while_blocked`]), while that callback holds whatever it
    /// holds. False by default: the connection's events then wait for the loop's next turn.
    fn serves_while_blocked(&self) -> bool {
        false
    }
}

impl std::fmt::Debug for dyn Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Protocol")
    }
}

/// Builds a [`Protocol`] for each connection accepted on a listening port, and holds what those
/// protocols share (Twisted's `ServerFactory`).
///
/// Any closure `FnMut() -> P` where `P: Protocol` is a factory, so `reactor.listen_tcp(addr,
/// || Echo)` works; implement the trait when the factory has state or refuses connections.
pub trait Factory {
    /// Called for each accepted connection; `None` refuses it (the socket is closed at once).
    fn build_protocol(&mut self, peer: &Address) -> Option<Box<dyn Protocol>>;

    /// Called once when the port starts listening.
    fn start_factory(&mut self) {}

    /// Called once when the port stops listening (or the reactor stops).
    fn stop_factory(&mut self) {}

    /// Whether `build_protocol` (and the new protocol's `connection_made`) may run in a nested
    /// turn that a connection's callback runs
    /// ([`Transport::process_events_while_blocked`]). False by default: connections then
    /// wait in the listen queue for the loop's next turn.
    fn builds_while_blocked(&self) -> bool {
        false
    }
}

impl<F, P> Factory for F
where
    F: FnMut() -> P,
    P: Protocol + 'static,
{
    fn build_protocol(&mut self, _peer: &Address) -> Option<Box<dyn Protocol>> {
        Some(Box::new(self()))
    }
}

impl std::fmt::Debug for dyn Factory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Factory")
    }
}

/// The name of an outgoing connection attempt (and its retries) within one reactor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectorId {
    pub(crate) index: u32,
    pub(crate) gen: u32,
}

/// What a [`ClientFactory`] callback can ask of the reactor about its connection attempt:
/// try again (now or later), or stop the reactor. Nothing happens until the callback returns.
#[derive(Debug)]
pub struct Connector {
    id: ConnectorId,
    address: Address,
    now: Instant,
    pub(crate) retry: Option<Duration>,
    pub(crate) stop_reactor: bool,
}

impl Connector {
    /// A connector for `address`; the reactor makes these, tests may too.
    pub fn new(id: ConnectorId, address: Address, now: Instant) -> Self {
        Connector {
            id,
            address,
            now,
            retry: None,
            stop_reactor: false,
        }
    }

    /// Connects again at once (Twisted's `connector.connect()`).
    pub fn connect(&mut self) {
        self.retry = Some(Duration::ZERO);
    }

    /// Connects again after `delay`.
    pub fn connect_after(&mut self, delay: Duration) {
        self.retry = Some(delay);
    }

    /// Takes back a `connect`/`connect_after` asked for earlier in the same callback.
    pub fn stop_connecting(&mut self) {
        self.retry = None;
    }

    /// Stops the reactor (Twisted's `reactor.stop()` in the echo client's factory).
    pub fn stop_reactor(&mut self) {
        self.stop_reactor = true;
    }

    /// What a retry was asked for, if any.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// Whether the callback asked to stop the reactor.
    pub fn stop_reactor_requested(&self) -> bool {
        self.stop_reactor
    }

    /// The address being connected to.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// This connector's id.
    pub fn id(&self) -> ConnectorId {
        self.id
    }

    /// The reactor clock's time.
    pub fn now(&self) -> Instant {
        self.now
    }
}

/// Builds the protocol for an outgoing connection and hears how the attempt and the connection
/// end (Twisted's `ClientFactory`). See
/// [`ReconnectingClientFactory`](crate::ReconnectingClientFactory) for retries with back-off.
///
/// A panic in any of these callbacks is logged and ends the connector: no further attempts and
/// no further calls into the factory.
pub trait ClientFactory {
    /// Called when the connection is established; the protocol then gets `connection_made`.
    fn build_protocol(&mut self, peer: &Address) -> Box<dyn Protocol>;

    /// Called when an attempt starts (the first and each retry).
    fn started_connecting(&mut self, connector: &mut Connector) {
        let _ = connector;
    }

    /// Called when an attempt fails: refused, unreachable, or timed out
    /// (`io::ErrorKind::TimedOut`). Call `connector.connect_after(..)` to retry.
    fn client_connection_failed(&mut self, reason: &io::Error, connector: &mut Connector) {
        let _ = (reason, connector);
    }

    /// Called after an established connection ended (after the protocol's `connection_lost`).
    fn client_connection_lost(&mut self, reason: &DisconnectReason, connector: &mut Connector) {
        let _ = (reason, connector);
    }
}

impl std::fmt::Debug for dyn ClientFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn ClientFactory")
    }
}

/// The handler of a UDP socket: one per socket, called for each datagram.
pub trait DatagramProtocol {
    /// Called once when the socket is bound and registered.
    fn started(&mut self, tx: &mut dyn DatagramTransport) {
        let _ = tx;
    }

    /// Called with each datagram received and the address it came from.
    fn datagram_received(
        &mut self,
        data: &[u8],
        from: SocketAddr,
        tx: &mut dyn DatagramTransport,
    ) -> ProtocolResult;
}

impl std::fmt::Debug for dyn DatagramProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn DatagramProtocol")
    }
}
