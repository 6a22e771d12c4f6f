//! Test doubles, public so that every protocol built on Spindle can be tested without a socket
//! (Twisted's `twisted.internet.testing` and `iosim`):
//!
//! - [`StringTransport`]: a [`Transport`] that records what a protocol writes and does.
//! - [`Clock`]: a fake clock that moves only when told; it drives `StringTransport` timers,
//!   and a real [`Reactor`](crate::Reactor) built with
//!   [`Reactor::with_clock`](crate::Reactor::with_clock) (`call_later`, `LoopingCall`).
//! - [`MemoryReactor`]: records `listen_tcp`/`connect_tcp` calls made through [`ReactorTcp`].
//! - [`Loopback`]: a server and a client protocol connected in memory, with a pump.
//!
//! # Examples
//!
//! ```
//! use spindle_reactor::testing::StringTransport;
//! use spindle_reactor::{Protocol, ProtocolResult, Transport};
//!
//! struct Echo;
//! impl Protocol for Echo {
//!     fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
//!         tx.write(data);
//!         Ok(())
//!     }
//! }
//!
//! let mut tx = StringTransport::new();
//! let mut echo = Echo;
//! echo.connection_made(&mut tx).unwrap();
//! echo.data_received(b"hello", &mut tx).unwrap();
//! assert_eq!(tx.written(), b"hello");
//! ```

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::timer::TimerQueue;
use crate::{
    Address, ClientFactory, ConnId, Connector, ConnectorId, DisconnectReason, Error, Factory,
    ListeningPort, Protocol, ProtocolResult, ReactorTcp, TimerId, Transport,
};

/// A fake clock: starts at the real "now" and moves only by [`advance`](Self::advance).
/// Clones share the same time.
#[derive(Debug, Clone)]
pub struct Clock {
    now: Rc<Cell<Instant>>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    /// A clock stopped at the current instant.
    pub fn new() -> Self {
        Clock {
            now: Rc::new(Cell::new(Instant::now())),
        }
    }

    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.now.set(self.now.get() + by);
    }

    /// The fake current time.
    pub fn now(&self) -> Instant {
        self.now.get()
    }
}

impl crate::Clock for Clock {
    fn now(&self) -> Instant {
        self.now.get()
    }
}

/// A [`Transport`] that records everything: bytes written (to this and to other connections),
/// close and abort calls, the paused state, timers (on a fake [`Clock`]).
#[derive(Debug)]
pub struct StringTransport {
    id: ConnId,
    peer: Address,
    host: Address,
    written: Vec<u8>,
    written_to: HashMap<ConnId, Vec<u8>>,
    gone: HashSet<ConnId>,
    closed_others: Vec<ConnId>,
    paused_others: HashSet<ConnId>,
    disconnecting: bool,
    aborted: bool,
    paused: bool,
    resume_wanted: bool,
    clock: Clock,
    timers: TimerQueue<()>,
}

impl Default for StringTransport {
    fn default() -> Self {
        StringTransport::new()
    }
}

impl StringTransport {
    /// A transport for connection `c1` from 192.0.2.1:40000 to 192.0.2.2:8888 (fixed fake
    /// addresses from the documentation range).
    pub fn new() -> Self {
        StringTransport::with_id(ConnId::from_parts(1, 1))
    }

    /// A transport with a chosen id.
    pub fn with_id(id: ConnId) -> Self {
        let peer: SocketAddr = ([192, 0, 2, 1], 40000).into();
        let host: SocketAddr = ([192, 0, 2, 2], 8888).into();
        StringTransport {
            id,
            peer: peer.into(),
            host: host.into(),
            written: Vec::new(),
            written_to: HashMap::new(),
            gone: HashSet::new(),
            closed_others: Vec::new(),
            paused_others: HashSet::new(),
            disconnecting: false,
            aborted: false,
            paused: false,
            resume_wanted: false,
            clock: Clock::new(),
            timers: TimerQueue::default(),
        }
    }

    /// Uses `clock` for `now()` and timers (share one clock between several transports).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the peer address.
    pub fn with_peer(mut self, peer: Address) -> Self {
        self.peer = peer;
        self
    }

    /// Everything written to this connection so far.
    pub fn written(&self) -> &[u8] {
        &self.written
    }

    /// Returns and forgets what was written (Twisted's `value()` then `clear()`).
    pub fn take_written(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.written)
    }

    /// Forgets what was written.
    pub fn clear(&mut self) {
        self.written.clear();
    }

    /// What was written to another connection.
    pub fn written_to(&self, id: ConnId) -> &[u8] {
        self.written_to.get(&id).map_or(&[], Vec::as_slice)
    }

    /// Other connections this protocol closed or aborted.
    pub fn closed_others(&self) -> &[ConnId] {
        &self.closed_others
    }

    /// Whether another connection's reading is paused by this protocol.
    pub fn is_other_paused(&self, id: ConnId) -> bool {
        self.paused_others.contains(&id)
    }

    /// Makes `id` count as closed: writes to it return false from now on.
    pub fn mark_gone(&mut self, id: ConnId) {
        self.gone.insert(id);
    }

    /// True after `lose_connection` (or `abort_connection`).
    pub fn is_disconnecting(&self) -> bool {
        self.disconnecting
    }

    /// True if the protocol asked for `resume_producing` once drained
    /// ([`Transport::resume_when_drained`]) since the last call; forgets the request. This
    /// transport writes at once, so the test calls `resume_producing` itself when this is true.
    pub fn take_resume_request(&mut self) -> bool {
        std::mem::take(&mut self.resume_wanted)
    }

    /// True after `abort_connection`.
    pub fn is_aborted(&self) -> bool {
        self.aborted
    }

    /// The fake clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Timers scheduled and not yet fired or cancelled.
    pub fn pending_timers(&self) -> usize {
        self.timers.len()
    }

    /// Advances the clock by `by` and fires every timer now due into `protocol`, in deadline
    /// order (Twisted's `Clock.advance`).
    pub fn advance(&mut self, protocol: &mut dyn Protocol, by: Duration) -> ProtocolResult {
        self.clock.advance(by);
        let now = self.clock.now();
        while let Some((id, _, ())) = self.timers.pop_due(now) {
            self.timers.release(id);
            protocol.timer_fired(id, self)?;
        }
        Ok(())
    }
}

impl Transport for StringTransport {
    fn id(&self) -> ConnId {
        self.id
    }

    fn write(&mut self, data: &[u8]) {
        if !self.disconnecting {
            self.written.extend_from_slice(data);
        }
    }

    fn lose_connection(&mut self) {
        self.disconnecting = true;
    }

    fn abort_connection(&mut self) {
        self.disconnecting = true;
        self.aborted = true;
    }

    fn peer(&self) -> &Address {
        &self.peer
    }

    fn host(&self) -> &Address {
        &self.host
    }

    /// `None`: no socket is behind a string transport.
    fn fd(&self) -> Option<RawFd> {
        None
    }

    fn pause_reading(&mut self) {
        self.paused = true;
    }

    fn resume_reading(&mut self) {
        self.paused = false;
    }

    fn is_reading_paused(&self) -> bool {
        self.paused
    }

    fn buffered(&self) -> usize {
        0
    }

    fn resume_when_drained(&mut self) {
        self.resume_wanted = true;
    }

    fn call_later(&mut self, delay: Duration) -> TimerId {
        self.timers.schedule(self.clock.now() + delay, ())
    }

    fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.timers.cancel(id).is_some()
    }

    fn reset_timer(&mut self, id: TimerId, delay: Duration) -> bool {
        self.timers.reset(id, self.clock.now() + delay)
    }

    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn write_to(&mut self, id: ConnId, data: &[u8]) -> bool {
        if id == self.id {
            self.write(data);
            return !self.disconnecting;
        }
        if self.gone.contains(&id) {
            return false;
        }
        self.written_to
            .entry(id)
            .or_default()
            .extend_from_slice(data);
        true
    }

    fn lose_connection_of(&mut self, id: ConnId) -> bool {
        if self.gone.contains(&id) {
            return false;
        }
        self.closed_others.push(id);
        true
    }

    fn abort_connection_of(&mut self, id: ConnId) -> bool {
        self.lose_connection_of(id)
    }

    fn pause_reading_of(&mut self, id: ConnId) -> bool {
        self.paused_others.insert(id);
        !self.gone.contains(&id)
    }

    fn resume_reading_of(&mut self, id: ConnId) -> bool {
        self.paused_others.remove(&id);
        !self.gone.contains(&id)
    }

    fn resume_when_drained_of(&mut self, id: ConnId) -> bool {
        if id == self.id {
            self.resume_wanted = true;
        }
        !self.gone.contains(&id)
    }

    fn buffered_of(&self, id: ConnId) -> Option<usize> {
        (!self.gone.contains(&id)).then_some(0)
    }
}

/// A [`Connector`] for calling a [`ClientFactory`]'s callbacks directly in a test; inspect
/// what the callback asked for with `retry()` and `stop_reactor_requested()`.
pub fn connector() -> Connector {
    let addr: SocketAddr = ([127, 0, 0, 1], 8888).into();
    Connector::new(
        ConnectorId { index: 0, gen: 0 },
        addr.into(),
        Instant::now(),
    )
}

/// A reactor stand-in that records `listen_tcp` and `connect_tcp` calls (Twisted's
/// `MemoryReactor`), for testing an app's set-up code.
#[derive(Debug, Default)]
pub struct MemoryReactor {
    /// Each `listen_tcp` call: the address and the factory.
    pub tcp_servers: Vec<(SocketAddr, Box<dyn Factory>)>,
    /// Each `connect_tcp` call: the address, the factory and the timeout.
    pub tcp_clients: Vec<(SocketAddr, Box<dyn ClientFactory>, Option<Duration>)>,
}

impl MemoryReactor {
    /// An empty recorder.
    pub fn new() -> Self {
        MemoryReactor::default()
    }
}

impl ReactorTcp for MemoryReactor {
    fn listen_tcp(
        &mut self,
        addr: SocketAddr,
        factory: Box<dyn Factory>,
    ) -> Result<ListeningPort, Error> {
        self.tcp_servers.push((addr, factory));
        Ok(ListeningPort::new(self.tcp_servers.len(), 0, addr.into()))
    }

    fn connect_tcp(
        &mut self,
        addr: SocketAddr,
        factory: Box<dyn ClientFactory>,
        timeout: Option<Duration>,
    ) -> Result<ConnectorId, Error> {
        self.tcp_clients.push((addr, factory, timeout));
        Ok(ConnectorId {
            index: self.tcp_clients.len() as u32,
            gen: 0,
        })
    }
}

/// A server protocol and a client protocol connected in memory (Twisted's
/// `connectedServerAndClient` with an `IOPump`). [`pump`](Self::pump) moves the bytes each side
/// wrote to the other until neither has anything to say, and delivers closes.
#[derive(Debug)]
pub struct Loopback {
    /// The server side's protocol.
    pub server: Box<dyn Protocol>,
    /// The client side's protocol.
    pub client: Box<dyn Protocol>,
    /// The server side's transport.
    pub server_tx: StringTransport,
    /// The client side's transport.
    pub client_tx: StringTransport,
    /// Set once each side got `connection_lost`.
    lost: [bool; 2],
}

impl Loopback {
    /// Connects the two protocols: `connection_made` on the server, then on the client (as when
    /// a TCP connection is accepted), then one pump.
    pub fn connect(server: Box<dyn Protocol>, client: Box<dyn Protocol>) -> Result<Self, String> {
        let clock = Clock::new();
        let server_addr: SocketAddr = ([127, 0, 0, 1], 8888).into();
        let client_addr: SocketAddr = ([127, 0, 0, 1], 40000).into();
        let mut lb = Loopback {
            server,
            client,
            server_tx: StringTransport::with_id(ConnId::from_parts(1, 1))
                .with_clock(clock.clone())
                .with_peer(client_addr.into()),
            client_tx: StringTransport::with_id(ConnId::from_parts(2, 1))
                .with_clock(clock)
                .with_peer(server_addr.into()),
            lost: [false; 2],
        };
        lb.server
            .connection_made(&mut lb.server_tx)
            .map_err(|e| e.to_string())?;
        lb.client
            .connection_made(&mut lb.client_tx)
            .map_err(|e| e.to_string())?;
        lb.pump()?;
        Ok(lb)
    }

    /// True once both sides got `connection_lost`.
    pub fn is_closed(&self) -> bool {
        self.lost == [true, true]
    }

    /// Moves bytes both ways until quiet; returns how many bytes moved. A side that called
    /// `lose_connection` has its output delivered, then both sides lose the connection.
    pub fn pump(&mut self) -> Result<usize, String> {
        let mut moved = 0;
        loop {
            let mut progress = false;
            if !self.server_tx.is_reading_paused() || self.client_tx.is_disconnecting() {
                let to_server = self.client_tx.take_written();
                if !to_server.is_empty() && !self.lost[0] {
                    moved += to_server.len();
                    progress = true;
                    self.server
                        .data_received(&to_server, &mut self.server_tx)
                        .map_err(|e| format!("server: {e}"))?;
                }
            }
            if !self.client_tx.is_reading_paused() || self.server_tx.is_disconnecting() {
                let to_client = self.server_tx.take_written();
                if !to_client.is_empty() && !self.lost[1] {
                    moved += to_client.len();
                    progress = true;
                    self.client
                        .data_received(&to_client, &mut self.client_tx)
                        .map_err(|e| format!("client: {e}"))?;
                }
            }
            if !progress {
                break;
            }
        }
        let closing = self.server_tx.is_disconnecting() || self.client_tx.is_disconnecting();
        if closing && !self.is_closed() {
            let reason = |tx: &StringTransport| {
                if tx.is_aborted() {
                    DisconnectReason::Aborted
                } else {
                    DisconnectReason::Done
                }
            };
            let r = if self.server_tx.is_aborted() || self.client_tx.is_aborted() {
                DisconnectReason::Aborted
            } else {
                reason(&self.server_tx)
            };
            self.server_tx.lose_connection();
            self.client_tx.lose_connection();
            self.lost = [true, true];
            self.server.connection_lost(&r, &mut self.server_tx);
            self.client.connection_lost(&r, &mut self.client_tx);
        }
        Ok(moved)
    }
}
