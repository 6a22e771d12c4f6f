//! The event loop: one `mio::Poll`, a slab of sockets, a timer queue, a waker.
//!
//! # One turn of the loop ([`Reactor::run_once`])
//!
//! ```text
//! poll (timeout = next timer, or 0 if work is pending)
//!   ├─ for each event: accept · read → data_received · flush on writable · finish a connect
//!   ├─ reads resumed since the last turn
//!   ├─ timers that are due (call_later, LoopingCall, protocol timers, connect timeouts)
//!   ├─ calls from other threads (call_from_thread)
//!   └─ flush every connection written to · close connections whose closing is due
//! ```
//!
//! Protocol callbacks only ever touch buffers and flags: a write appends to a connection's
//! output buffer and marks it dirty; closing marks it closing. The loop does the IO afterwards,
//! so no callback ever runs inside another, and many writes leave in one syscall. Output is
//! flushed once per turn, after every ready socket has been read (as redis-server does before it
//! sleeps): the replies to one poll's requests leave together, so peers wake up to many ready
//! replies at once rather than one at a time.
//! Slab slots of closed connections are freed only after the event batch that closed them, so a
//! late event for a closed token can never reach the connection that reuses the slot, and
//! [`ConnId`]s carry a generation so stale ids held by protocols are refused.

use std::any::Any;
use std::io::{self, Read};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket as StdUdpSocket};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use log::{debug, error, info, log_enabled, trace, warn, Level};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::buffer::OutBuf;
use crate::net::{self, ListenOptions, Listener, Stream};
use crate::signal::SignalPipe;
use crate::timer::TimerQueue;
use crate::{
    Address, ClientFactory, Clock, ConnId, Connector, ConnectorId, DatagramProtocol,
    DatagramTransport, DisconnectReason, Error, Factory, Protocol, ProtocolResult, SystemClock,
    TimerId, Transport,
};

const WAKER: Token = Token(usize::MAX);
const SIGNALS: Token = Token(usize::MAX - 1);

/// Tunables of a reactor. The defaults suit servers with many small messages.
#[derive(Debug, Clone)]
pub struct ReactorConfig {
    /// Output buffered above this many bytes calls `pause_producing` (64 KiB, as Twisted).
    pub high_water: usize,
    /// After a pause, output drained below this many bytes calls `resume_producing`.
    pub low_water: usize,
    /// Size of the one read buffer shared by all connections.
    pub read_buffer: usize,
    /// Reads from one connection per readiness event before others get their turn.
    pub max_reads_per_event: usize,
    /// How long `stop` waits for output to be flushed before aborting what is left.
    pub shutdown_timeout: Duration,
    /// Readiness events taken from the OS per poll.
    pub events_capacity: usize,
    /// Connections accepted beyond this many are closed at once (`None`: no limit).
    pub max_connections: Option<usize>,
    /// Busy polling: while the loop has been busy at least half of the last millisecond, it
    /// keeps polling without sleeping for up to this long after the last event. A loop that
    /// is busy anyway spends little more, and its peers' sends no longer pay for waking it
    /// (on loopback, the sender's kernel time does the wake-up); a lightly loaded loop still
    /// sleeps at once. Zero (the default) always sleeps when there is nothing to do.
    pub busy_poll: Duration,
}

impl Default for ReactorConfig {
    fn default() -> Self {
        ReactorConfig {
            high_water: 64 * 1024,
            low_water: 16 * 1024,
            read_buffer: 64 * 1024,
            max_reads_per_event: 16,
            shutdown_timeout: Duration::from_secs(5),
            events_capacity: 1024,
            max_connections: None,
            busy_poll: Duration::ZERO,
        }
    }
}

/// A listening socket, as returned by `listen_tcp`/`listen_unix` (Twisted's `IListeningPort`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListeningPort {
    pub(crate) index: usize,
    pub(crate) gen: u32,
    address: Address,
}

impl ListeningPort {
    pub(crate) fn new(index: usize, gen: u32, address: Address) -> Self {
        ListeningPort {
            index,
            gen,
            address,
        }
    }

    /// The address it listens on (with the real port when 0 was asked for).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The TCP address it listens on; `None` for a Unix socket.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.address.socket_addr()
    }
}

/// Where the loop is in closing a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    Open,
    /// `lose_connection`: flush, then close.
    Losing,
    /// `abort_connection` or an error: close now, dropping output.
    Aborting,
    /// Closed; `connection_lost` is running or has run; the slot is freed after the batch.
    Closed,
}

struct Conn {
    gen: u32,
    stream: Stream,
    protocol: Option<Box<dyn Protocol>>,
    out: OutBuf,
    peer: Address,
    host: Address,
    read_paused: bool,
    producer_paused: bool,
    close: Close,
    reason: Option<DisconnectReason>,
    write_interest: bool,
    dirty: bool,
    queued_close: bool,
    connector: Option<usize>,
}

impl Conn {
    fn id(&self, index: usize) -> ConnId {
        ConnId {
            index: index as u32,
            gen: self.gen,
        }
    }
}

struct ListenerEntry {
    gen: u32,
    socket: Listener,
    factory: Box<dyn Factory>,
    options: ListenOptions,
}

struct Connecting {
    connector: usize,
    stream: Stream,
    timeout: Option<TimerId>,
}

struct UdpEntry {
    socket: UdpSocket,
    host: SocketAddr,
    protocol: Box<dyn DatagramProtocol>,
}

enum Entry {
    Listener(ListenerEntry),
    Conn(Conn),
    Connecting(Connecting),
    Udp(UdpEntry),
}

enum Target {
    Tcp(SocketAddr),
    Unix(std::path::PathBuf),
}

struct ConnectorEntry {
    gen: u32,
    target: Target,
    factory: Box<dyn ClientFactory>,
    timeout: Option<Duration>,
}

impl ConnectorEntry {
    fn address(&self) -> Address {
        match &self.target {
            Target::Tcp(a) => Address::Tcp(*a),
            Target::Unix(p) => Address::Unix(Some(p.clone())),
        }
    }
}

/// A closure run by the reactor on its own thread.
type Call = Box<dyn FnOnce(&mut Reactor)>;
/// A closure sent from another thread.
type RemoteCall = Box<dyn FnOnce(&mut Reactor) + Send>;

enum TimerTarget {
    Call(Call),
    Repeat {
        interval: Duration,
        f: Box<dyn FnMut(&mut Reactor)>,
    },
    Protocol {
        conn: ConnId,
    },
    ConnectTimeout {
        connector: usize,
        entry: usize,
    },
    Connect {
        connector: usize,
    },
    ConnectFailed {
        connector: usize,
        error: io::Error,
    },
}

/// Everything a callback may touch: the sockets' buffers and flags, timers, the clock.
/// Kept apart from the `Poll` and the read buffer so that a callback can borrow this mutably
/// while the bytes it was handed are borrowed from the read buffer.
pub(crate) struct Core {
    entries: Slab<Entry>,
    connectors: Slab<ConnectorEntry>,
    timers: TimerQueue<TimerTarget>,
    dirty: Vec<usize>,
    closing: Vec<usize>,
    pending_read: Vec<usize>,
    now: Instant,
    clock: Rc<dyn Clock>,
    gen: u32,
    config: ReactorConfig,
    stop_requested: bool,
    connections: usize,
}

/// The state shared with [`ReactorHandle`]s on other threads.
struct Shared {
    waker: Waker,
    calls: Mutex<Vec<RemoteCall>>,
}

/// A `Send + Sync` handle to a reactor, for other threads: run a closure on the reactor's
/// thread, or stop it. Cheap to clone.
#[derive(Clone)]
pub struct ReactorHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ReactorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReactorHandle")
    }
}

impl ReactorHandle {
    /// Runs `f` on the reactor's thread at its next turn (Twisted's `callFromThread`).
    /// False if the reactor is gone.
    pub fn call_from_thread(&self, f: impl FnOnce(&mut Reactor) + Send + 'static) -> bool {
        match self.shared.calls.lock() {
            Ok(mut calls) => calls.push(Box::new(f)),
            Err(_) => return false,
        }
        self.shared.waker.wake().is_ok()
    }

    /// Asks the reactor to stop (as [`Reactor::stop`]) from any thread.
    pub fn stop(&self) -> bool {
        self.call_from_thread(|r| r.stop())
    }
}

/// The event loop. One per thread; see the [module docs](self) for one turn of the loop.
///
/// # Examples
///
/// ```no_run
/// use spindle_reactor::{Protocol, ProtocolResult, Reactor, Transport};
///
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
///         tx.write(data);
///         Ok(())
///     }
/// }
///
/// let mut reactor = Reactor::new()?;
/// reactor.listen_tcp("127.0.0.1:8888", || Echo)?;
/// reactor.run()?;
/// # Ok::<(), spindle_reactor::Error>(())
/// ```
pub struct Reactor {
    poll: Poll,
    events: Events,
    read_buf: Vec<u8>,
    core: Core,
    shared: Arc<Shared>,
    signals: Option<SignalPipe>,
    stopping_since: Option<Instant>,
    running: bool,
    /// The current poll's events as (token, readable, writable, read closed), reused.
    batch: Vec<(Token, bool, bool, bool)>,
    /// How busy the loop has been, for `busy_poll`.
    load: Load,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("entries", &self.core.entries.len())
            .field("connections", &self.core.connections)
            .field("timers", &self.core.timers.len())
            .finish()
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

impl Reactor {
    /// A reactor with the default configuration and the system clock.
    pub fn new() -> Result<Reactor, Error> {
        Reactor::with_config(ReactorConfig::default())
    }

    /// A reactor with the given configuration and the system clock.
    pub fn with_config(config: ReactorConfig) -> Result<Reactor, Error> {
        Reactor::with_clock(config, Rc::new(SystemClock))
    }

    /// A reactor whose time comes from `clock` (a [`testing::Clock`](crate::testing::Clock) in
    /// tests; drive it with `clock.advance(..)` then [`run_once`](Self::run_once)`(Some(ZERO))`).
    pub fn with_clock(config: ReactorConfig, clock: Rc<dyn Clock>) -> Result<Reactor, Error> {
        let poll = Poll::new().map_err(|e| Error::io("creating the poll", e))?;
        let waker =
            Waker::new(poll.registry(), WAKER).map_err(|e| Error::io("creating the waker", e))?;
        let now = clock.now();
        Ok(Reactor {
            events: Events::with_capacity(config.events_capacity),
            read_buf: vec![0; config.read_buffer.max(1)],
            poll,
            core: Core {
                entries: Slab::new(),
                connectors: Slab::new(),
                timers: TimerQueue::default(),
                dirty: Vec::new(),
                closing: Vec::new(),
                pending_read: Vec::new(),
                now,
                clock,
                gen: 0,
                config,
                stop_requested: false,
                connections: 0,
            },
            shared: Arc::new(Shared {
                waker,
                calls: Mutex::new(Vec::new()),
            }),
            signals: None,
            stopping_since: None,
            running: false,
            batch: Vec::new(),
            load: Load::default(),
        })
    }

    /// A handle for other threads.
    pub fn handle(&self) -> ReactorHandle {
        ReactorHandle {
            shared: self.shared.clone(),
        }
    }

    /// Makes SIGINT and SIGTERM stop this reactor cleanly (listeners closed, output flushed
    /// within [`ReactorConfig::shutdown_timeout`], then `run` returns).
    pub fn install_signal_handlers(&mut self) -> Result<(), Error> {
        let mut pipe = SignalPipe::install().map_err(|e| Error::io("installing signals", e))?;
        self.poll
            .registry()
            .register(&mut pipe.receiver, SIGNALS, Interest::READABLE)
            .map_err(|e| Error::io("registering the signal pipe", e))?;
        self.signals = Some(pipe);
        Ok(())
    }

    /// The reactor clock's current time (as of this loop turn).
    pub fn now(&self) -> Instant {
        self.core.now
    }

    /// How many connections are open.
    pub fn connection_count(&self) -> usize {
        self.core.connections
    }

    /// The reactor's configuration.
    pub fn config(&self) -> &ReactorConfig {
        &self.core.config
    }

    fn next_gen(&mut self) -> u32 {
        self.core.next_gen()
    }

    // ----- listening -------------------------------------------------------------------------

    /// Listens for TCP connections on `addr` (port 0 picks a free port: see the returned
    /// [`ListeningPort`]), building a protocol with `factory` for each.
    pub fn listen_tcp(
        &mut self,
        addr: impl ToSocketAddrs + std::fmt::Debug,
        factory: impl Factory + 'static,
    ) -> Result<ListeningPort, Error> {
        let addr = net::resolve(addr)?;
        self.listen_tcp_with(addr, ListenOptions::default(), Box::new(factory))
    }

    /// Listens for TCP connections with explicit socket options (backlog, `SO_REUSEPORT`…).
    pub fn listen_tcp_with(
        &mut self,
        addr: SocketAddr,
        options: ListenOptions,
        factory: Box<dyn Factory>,
    ) -> Result<ListeningPort, Error> {
        let socket = net::bind_tcp(addr, &options)
            .map_err(|e| Error::io(format!("listening on {addr}"), e))?;
        self.add_listener(Listener::Tcp(socket), options, factory)
    }

    /// Listens for connections on a Unix-domain socket at `path` (a stale socket file is
    /// replaced).
    pub fn listen_unix(
        &mut self,
        path: impl AsRef<Path>,
        factory: impl Factory + 'static,
    ) -> Result<ListeningPort, Error> {
        let path = path.as_ref();
        let socket = net::bind_unix(path)
            .map_err(|e| Error::io(format!("listening on {}", path.display()), e))?;
        self.add_listener(
            Listener::Unix(socket),
            ListenOptions::default(),
            Box::new(factory),
        )
    }

    fn add_listener(
        &mut self,
        mut socket: Listener,
        options: ListenOptions,
        mut factory: Box<dyn Factory>,
    ) -> Result<ListeningPort, Error> {
        let address = socket
            .address()
            .map_err(|e| Error::io("reading the listening address", e))?;
        let gen = self.next_gen();
        let entry = self.core.entries.vacant_entry();
        let index = entry.key();
        self.poll
            .registry()
            .register(socket.source(), Token(index), Interest::READABLE)
            .map_err(|e| Error::io(format!("registering listener {address}"), e))?;
        factory.start_factory();
        entry.insert(Entry::Listener(ListenerEntry {
            gen,
            socket,
            factory,
            options,
        }));
        info!("listening on {address}");
        Ok(ListeningPort::new(index, gen, address))
    }

    /// Stops listening on `port` (open connections stay); the factory's `stop_factory` runs.
    pub fn stop_listening(&mut self, port: &ListeningPort) -> bool {
        match self.core.entries.get(port.index) {
            Some(Entry::Listener(l)) if l.gen == port.gen => {}
            _ => return false,
        }
        if let Entry::Listener(mut l) = self.core.entries.remove(port.index) {
            let _ = self.poll.registry().deregister(l.socket.source());
            l.factory.stop_factory();
            info!("stopped listening on {}", port.address);
        }
        true
    }

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
        self.poll
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
            protocol.started(&mut UdpTx {
                socket,
                host: *host,
            });
        }
        entry.insert(Entry::Udp(udp));
        info!("udp listening on {host}");
        Ok(host)
    }

    // ----- connecting ------------------------------------------------------------------------

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

    fn start_connecting(&mut self, connector: usize) {
        let now = self.core.now;
        let Some(c) = self.core.connectors.get_mut(connector) else {
            return;
        };
        let id = ConnectorId {
            index: connector as u32,
            gen: c.gen,
        };
        let mut handle = Connector::new(id, c.address(), now);
        c.factory.started_connecting(&mut handle);
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
        if let Err(error) = self.poll.registry().register(
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
    fn on_connecting_ready(&mut self, index: usize) {
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
                let _ = self.poll.registry().deregister(c.stream.source());
                self.connect_failed(c.connector, error);
            }
            Ok(peer) => {
                let Some(conn) = self.core.connectors.get_mut(c.connector) else {
                    // stop_connecting was called meanwhile.
                    let _ = self.poll.registry().deregister(c.stream.source());
                    return;
                };
                let protocol = conn.factory.build_protocol(&peer);
                let _ = self.poll.registry().deregister(c.stream.source());
                c.stream.set_nodelay();
                self.add_connection(c.stream, protocol, peer, Some(c.connector));
            }
        }
    }

    fn connect_failed(&mut self, connector: usize, error: io::Error) {
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
        c.factory.client_connection_failed(&error, &mut handle);
        self.apply_connector(connector, handle);
    }

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

    // ----- connections -----------------------------------------------------------------------

    /// Registers a connected stream, then calls `connection_made`.
    fn add_connection(
        &mut self,
        stream: Stream,
        protocol: Box<dyn Protocol>,
        peer: Address,
        connector: Option<usize>,
    ) {
        let gen = self.next_gen();
        let host = stream.host();
        let tag = if log_enabled!(Level::Debug) {
            format!("{peer} (host {host})")
        } else {
            String::new()
        };
        let index = self.core.entries.insert(Entry::Conn(Conn {
            gen,
            stream,
            protocol: Some(protocol),
            out: OutBuf::default(),
            peer,
            host,
            read_paused: false,
            producer_paused: false,
            close: Close::Open,
            reason: None,
            write_interest: false,
            dirty: false,
            queued_close: false,
            connector,
        }));
        let registered = match self.core.conn_mut(index) {
            Some(c) => {
                self.poll
                    .registry()
                    .register(c.stream.source(), Token(index), Interest::READABLE)
            }
            None => Ok(()),
        };
        if let Err(e) = registered {
            error!("[c{index}] registering a new connection: {e}");
            self.core.entries.remove(index);
            return;
        }
        debug!("[c{index} {tag}] connection made");
        self.core.connections += 1;
        self.core.dispatch(index, |p, tx| p.connection_made(tx));
    }

    fn on_accept(&mut self, index: usize) {
        loop {
            let Some(Entry::Listener(l)) = self.core.entries.get_mut(index) else {
                return;
            };
            let (stream, peer) = match l.socket.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // EMFILE and friends: the pending connection stays queued; we try again on
                    // the listener's next event instead of spinning.
                    error!("accepting on {:?}: {e}", l.socket.address().ok());
                    return;
                }
            };
            if l.options.nodelay {
                stream.set_nodelay();
            }
            if let Some(max) = self.core.config.max_connections {
                if self.core.connections >= max {
                    warn!("[{peer}] refused: {max} connections already open");
                    continue;
                }
            }
            let protocol =
                match panic::catch_unwind(AssertUnwindSafe(|| l.factory.build_protocol(&peer))) {
                    Ok(Some(p)) => p,
                    Ok(None) => {
                        trace!("[{peer}] refused by the factory");
                        continue;
                    }
                    Err(payload) => {
                        warn!("[{peer}] factory panicked: {}", panic_message(&*payload));
                        continue;
                    }
                };
            trace!("[{peer}] accepted");
            self.add_connection(stream, protocol, peer, None);
        }
    }

    /// Reads until the socket is drained (or the per-event budget is spent), handing each
    /// chunk to the protocol. What the protocol wrote leaves at the end of the turn
    /// ([`Reactor::finish_turn`]) with every other connection's output, unless it passed the
    /// high-water mark first.
    fn on_readable(&mut self, index: usize, read_closed: bool) {
        let mut reads = 0;
        loop {
            let Some(Entry::Conn(c)) = self.core.entries.get_mut(index) else {
                return;
            };
            if c.read_paused || c.close != Close::Open {
                break;
            }
            if reads == self.core.config.max_reads_per_event {
                // Fairness: others get their turn; we come back on the next loop turn.
                self.core.pending_read.push(index);
                break;
            }
            match c.stream.read(&mut self.read_buf) {
                Ok(0) => {
                    trace!("[c{index} {}] readable → end of stream", c.peer);
                    self.core.lose(index, Some(DisconnectReason::Done));
                    break;
                }
                Ok(n) => {
                    reads += 1;
                    if log_enabled!(Level::Trace) {
                        trace!("[c{index} {}] readable → data_received {n} B", c.peer);
                    }
                    let data = self.read_buf.get(..n).unwrap_or_default();
                    self.core.dispatch(index, |p, tx| p.data_received(data, tx));
                    self.check_high_water(index);
                    // A short read drained the socket: with edge-triggered readiness, new data
                    // will raise a new event, so skip the read that would say WouldBlock
                    // (unless the peer also closed, which must be read as end of stream).
                    if n < self.read_buf.len() && !read_closed {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    trace!("[c{index} {}] read error: {e}", c.peer);
                    self.core.abort(index, DisconnectReason::Lost(e));
                    break;
                }
            }
        }
    }

    /// Between reads: if the protocol's output passed the high-water mark, try to flush it
    /// now; if it is still above, pause the producer (by default: stop reading).
    fn check_high_water(&mut self, index: usize) {
        let high = self.core.config.high_water;
        let over =
            matches!(self.core.entries.get(index), Some(Entry::Conn(c)) if c.out.len() > high);
        if over {
            self.flush(index);
        }
    }

    /// Writes what `index` has queued, updates WRITABLE interest and the producer's water marks,
    /// and queues the close of a connection that asked to close once flushed.
    fn flush(&mut self, index: usize) {
        let Some(Entry::Conn(c)) = self.core.entries.get_mut(index) else {
            return;
        };
        c.dirty = false;
        if c.close == Close::Closed || c.close == Close::Aborting {
            return;
        }
        if !c.out.is_empty() {
            match c.out.flush_to(&mut c.stream) {
                Ok(f) => {
                    if f.bytes > 0 && log_enabled!(Level::Trace) {
                        let s = if f.syscalls == 1 { "" } else { "s" };
                        trace!(
                            "[c{index} {}] flushed {} B ({} syscall{s}){}",
                            c.peer,
                            f.bytes,
                            f.syscalls,
                            if c.out.is_empty() {
                                String::new()
                            } else {
                                format!(", {} B still queued", c.out.len())
                            }
                        );
                    }
                }
                Err(e) => {
                    trace!("[c{index} {}] write error: {e}", c.peer);
                    self.core.abort(index, DisconnectReason::Lost(e));
                    return;
                }
            }
        }
        let want_writable = !c.out.is_empty();
        if want_writable != c.write_interest {
            let interest = if want_writable {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Err(e) =
                self.poll
                    .registry()
                    .reregister(c.stream.source(), Token(index), interest)
            {
                self.core.abort(index, DisconnectReason::Lost(e));
                return;
            }
            c.write_interest = want_writable;
        }
        let len = c.out.len();
        let (high, low) = (self.core.config.high_water, self.core.config.low_water);
        if c.close == Close::Losing {
            if len == 0 {
                self.core.queue_close(index);
            }
        } else if len > high && !c.producer_paused {
            c.producer_paused = true;
            trace!(
                "[c{index} {}] {len} B queued > {high}: pause producing",
                c.peer
            );
            self.core.dispatch(index, |p, tx| p.pause_producing(tx));
        } else if len <= low && c.producer_paused {
            c.producer_paused = false;
            trace!(
                "[c{index} {}] {len} B queued <= {low}: resume producing",
                c.peer
            );
            self.core.dispatch(index, |p, tx| p.resume_producing(tx));
        }
    }

    /// Closes a connection whose close is due: deregisters and drops the socket, tells the
    /// protocol (and a client factory), and frees the slot.
    fn finalize(&mut self, index: usize) {
        let Some(Entry::Conn(c)) = self.core.entries.get_mut(index) else {
            return;
        };
        c.queued_close = false;
        match c.close {
            Close::Open | Close::Closed => return,
            Close::Losing if !c.out.is_empty() => return,
            Close::Losing | Close::Aborting => {}
        }
        if c.close == Close::Losing {
            c.stream.shutdown_write();
        }
        c.close = Close::Closed;
        c.out.clear();
        let _ = self.poll.registry().deregister(c.stream.source());
        let reason = c.reason.take().unwrap_or(DisconnectReason::Done);
        let connector = c.connector;
        trace!("[c{index} {}] closed: {reason}", c.peer);
        debug!("[c{index} {}] connection lost: {reason}", c.peer);
        self.core.connections -= 1;
        let reason_ref = &reason;
        self.core.dispatch(index, |p, tx| {
            p.connection_lost(reason_ref, tx);
            Ok(())
        });
        let peer = match self.core.entries.remove(index) {
            Entry::Conn(c) => c.peer,
            _ => Address::Unix(None),
        };
        if let Some(connector) = connector {
            let now = self.core.now;
            if let Some(c) = self.core.connectors.get_mut(connector) {
                let id = ConnectorId {
                    index: connector as u32,
                    gen: c.gen,
                };
                let mut handle = Connector::new(id, peer, now);
                c.factory.client_connection_lost(&reason, &mut handle);
                self.apply_connector(connector, handle);
            }
        }
    }

    // ----- acting on connections from outside a callback -------------------------------------

    /// Queues `data` on connection `id` (from a timer or a cross-thread call).
    pub fn write_to(&mut self, id: ConnId, data: &[u8]) -> bool {
        self.core.write_to(id, data)
    }

    /// Bytes queued on connection `id` and not yet written; `None` if it is gone.
    pub fn buffered_of(&self, id: ConnId) -> Option<usize> {
        self.core
            .live(id)
            .and_then(|i| self.core.conn(i))
            .map(|c| c.out.len())
    }

    /// Whether reading of connection `id` is paused; `None` if it is gone.
    pub fn is_reading_paused_of(&self, id: ConnId) -> Option<bool> {
        self.core
            .live(id)
            .and_then(|i| self.core.conn(i))
            .map(|c| c.read_paused)
    }

    /// Flushes then closes connection `id`.
    pub fn lose_connection_of(&mut self, id: ConnId) -> bool {
        match self.core.live(id) {
            Some(index) => {
                self.core.lose(index, None);
                true
            }
            None => false,
        }
    }

    // ----- timers ----------------------------------------------------------------------------

    /// Runs `f` after `delay` (Twisted's `callLater`); the returned [`DelayedCall`] cancels or
    /// resets it.
    pub fn call_later(
        &mut self,
        delay: Duration,
        f: impl FnOnce(&mut Reactor) + 'static,
    ) -> DelayedCall {
        let at = self.core.deadline(delay);
        DelayedCall(
            self.core
                .timers
                .schedule(at, TimerTarget::Call(Box::new(f))),
        )
    }

    fn call_every(&mut self, interval: Duration, f: Box<dyn FnMut(&mut Reactor)>) -> TimerId {
        let at = self.core.deadline(interval);
        self.core
            .timers
            .schedule(at, TimerTarget::Repeat { interval, f })
    }

    /// Cancels a timer, also one that is firing (a looping call stopping itself).
    fn cancel_timer(&mut self, id: TimerId) -> bool {
        let known = self.core.timers.contains(id);
        self.core.timers.cancel(id);
        known
    }

    /// True while scheduled, or firing for a looping call (one-shot calls release their slot
    /// before running, so a delayed call is no longer active inside itself, as in Twisted).
    fn timer_active(&self, id: TimerId) -> bool {
        self.core.timers.contains(id)
    }

    fn run_timers(&mut self) {
        let now = self.core.now;
        while let Some((id, deadline, target)) = self.core.timers.pop_due(now) {
            match target {
                TimerTarget::Call(f) => {
                    self.core.timers.release(id);
                    trace!("timer {id} fired");
                    self.guarded("delayed call", |r| f(r));
                }
                TimerTarget::Repeat { interval, mut f } => {
                    trace!("looping call {id} fired");
                    self.guarded("looping call", |r| f(r));
                    // Skip the intervals that were missed rather than firing them in a burst.
                    let mut next = self.core.deadline_after(deadline, interval);
                    if next <= self.core.now {
                        next = self.core.deadline(interval);
                    }
                    let _ = self
                        .core
                        .timers
                        .rearm(id, next, TimerTarget::Repeat { interval, f });
                }
                TimerTarget::Protocol { conn } => {
                    self.core.timers.release(id);
                    if let Some(index) = self.core.live(conn) {
                        if let Some(Entry::Conn(c)) = self.core.entries.get(index) {
                            trace!("[c{index} {}] timer {id} fired", c.peer);
                        }
                        self.core.dispatch(index, |p, tx| p.timer_fired(id, tx));
                    }
                }
                TimerTarget::ConnectTimeout { connector, entry } => {
                    self.core.timers.release(id);
                    let matches = matches!(self.core.entries.get(entry),
                        Some(Entry::Connecting(c)) if c.connector == connector);
                    if matches {
                        if let Entry::Connecting(mut c) = self.core.entries.remove(entry) {
                            let _ = self.poll.registry().deregister(c.stream.source());
                        }
                        let error = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
                        self.connect_failed(connector, error);
                    }
                }
                TimerTarget::Connect { connector } => {
                    self.core.timers.release(id);
                    self.start_connecting(connector);
                }
                TimerTarget::ConnectFailed { connector, error } => {
                    self.core.timers.release(id);
                    self.connect_failed(connector, error);
                }
            }
        }
    }

    /// Runs a reactor-level closure; a panic in it is logged and the reactor goes on.
    fn guarded(&mut self, what: &str, f: impl FnOnce(&mut Reactor)) {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(self))) {
            error!("{what} panicked: {}", panic_message(&*payload));
        }
    }

    // ----- UDP -------------------------------------------------------------------------------

    fn on_udp_readable(&mut self, index: usize) {
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
                    match panic::catch_unwind(AssertUnwindSafe(|| {
                        protocol.datagram_received(data, from, &mut tx)
                    })) {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => warn!("[u{index}] datagram from {from}: {e}"),
                        Err(p) => warn!(
                            "[u{index}] datagram protocol panicked: {}",
                            panic_message(&*p)
                        ),
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

    // ----- the loop --------------------------------------------------------------------------

    /// Asks the loop to stop: listeners close now, every connection is closed after flushing
    /// its output (aborted after [`ReactorConfig::shutdown_timeout`]), then `run` returns.
    pub fn stop(&mut self) {
        if !self.core.stop_requested {
            info!("stopping");
            self.core.stop_requested = true;
        }
    }

    /// True once `stop` was called.
    pub fn is_stopping(&self) -> bool {
        self.core.stop_requested
    }

    fn begin_shutdown(&mut self) {
        self.stopping_since = Some(self.core.now);
        let indexes: Vec<usize> = self.core.entries.iter().map(|(i, _)| i).collect();
        for index in indexes {
            match self.core.entries.get(index) {
                Some(Entry::Listener(_)) | Some(Entry::Udp(_)) | Some(Entry::Connecting(_)) => {
                    match self.core.entries.remove(index) {
                        Entry::Listener(mut l) => {
                            let _ = self.poll.registry().deregister(l.socket.source());
                            l.factory.stop_factory();
                        }
                        Entry::Udp(mut u) => {
                            let _ = self.poll.registry().deregister(&mut u.socket);
                        }
                        Entry::Connecting(mut c) => {
                            let _ = self.poll.registry().deregister(c.stream.source());
                        }
                        Entry::Conn(_) => {}
                    }
                }
                Some(Entry::Conn(_)) => self.core.lose(index, None),
                None => {}
            }
        }
        self.core.connectors.clear();
    }

    fn abort_all(&mut self) {
        let conns: Vec<usize> = self
            .core
            .entries
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Conn(c) if c.close != Close::Closed))
            .map(|(i, _)| i)
            .collect();
        for index in conns {
            warn!("[c{index}] still open at the shutdown deadline: aborting");
            self.core.abort(index, DisconnectReason::Aborted);
        }
        self.finish_turn();
    }

    /// Runs the loop until [`stop`](Self::stop) (or a handle's `stop`, or a signal when
    /// handlers are installed) and every connection has closed.
    pub fn run(&mut self) -> Result<(), Error> {
        self.running = true;
        loop {
            if self.core.stop_requested && self.stopping_since.is_none() {
                self.begin_shutdown();
                self.finish_turn();
            }
            if let Some(since) = self.stopping_since {
                if self.core.connections == 0 {
                    break;
                }
                if self.core.now.duration_since(since) >= self.core.config.shutdown_timeout {
                    self.abort_all();
                    break;
                }
            }
            let timeout = self.stopping_since.map(|_| Duration::from_millis(50));
            self.run_once(timeout)?;
        }
        self.running = false;
        info!("stopped");
        Ok(())
    }

    /// One turn of the loop: waits for events (at most `max_wait`, or until the next timer;
    /// `Some(Duration::ZERO)` never waits), handles them, fires due timers and flushes.
    pub fn run_once(&mut self, max_wait: Option<Duration>) -> Result<(), Error> {
        let mut timeout = max_wait;
        let busy_poll = self.core.config.busy_poll;
        let spin = !busy_poll.is_zero() && self.load.should_spin(&*self.core.clock, busy_poll);
        if spin || !self.core.pending_read.is_empty() || !self.core.dirty.is_empty() {
            timeout = Some(Duration::ZERO);
        } else if let Some(deadline) = self.core.timers.next_deadline() {
            let wait = deadline.saturating_duration_since(self.core.clock.now());
            timeout = Some(timeout.map_or(wait, |t| t.min(wait)));
        }
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("polling", e)),
        }
        self.core.now = self.core.clock.now();
        if !busy_poll.is_zero() {
            self.load.polled(self.core.now, !self.events.is_empty());
        }
        // Collect first: handlers need `&mut self`, and the events borrow `self.events`.
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        for event in self.events.iter() {
            batch.push((
                event.token(),
                event.is_readable() || event.is_error(),
                event.is_writable() || event.is_error(),
                event.is_read_closed(),
            ));
        }
        for &(token, readable, writable, read_closed) in &batch {
            match token {
                WAKER => self.run_remote_calls(),
                SIGNALS => {
                    if self.signals.as_mut().is_some_and(|s| s.drain()) {
                        info!("signal received");
                        self.stop();
                    }
                }
                Token(index) => match self.core.entries.get(index) {
                    Some(Entry::Listener(_)) => self.on_accept(index),
                    Some(Entry::Conn(_)) => {
                        if writable {
                            self.flush(index);
                        }
                        if readable || read_closed {
                            self.on_readable(index, read_closed);
                        }
                    }
                    Some(Entry::Connecting(_)) => self.on_connecting_ready(index),
                    Some(Entry::Udp(_)) if readable => self.on_udp_readable(index),
                    // Spurious or stale: mio may report events for tokens we just closed.
                    _ => {}
                },
            }
        }
        self.batch = batch;
        let resumed = std::mem::take(&mut self.core.pending_read);
        for index in resumed {
            self.on_readable(index, true);
        }
        self.run_timers();
        self.finish_turn();
        Ok(())
    }

    fn run_remote_calls(&mut self) {
        let calls = match self.shared.calls.lock() {
            Ok(mut calls) => std::mem::take(&mut *calls),
            Err(_) => return,
        };
        for call in calls {
            self.guarded("call from thread", call);
        }
    }

    /// Flushes every connection written to during this turn and closes those whose close is
    /// due, until neither has anything left (closing may write to others, writing may close).
    fn finish_turn(&mut self) {
        loop {
            let dirty = std::mem::take(&mut self.core.dirty);
            let closing = std::mem::take(&mut self.core.closing);
            if dirty.is_empty() && closing.is_empty() {
                break;
            }
            for index in dirty {
                self.flush(index);
            }
            for index in closing {
                self.finalize(index);
            }
        }
    }
}

/// The loop's recent utilization, for busy polling: time between polls is work, time inside
/// a poll (blocking or spinning) is idle, summed over windows of about a millisecond.
#[derive(Debug, Default)]
struct Load {
    /// When the last poll returned, and when the last poll that brought events returned.
    returned: Option<Instant>,
    last_event: Option<Instant>,
    /// When the current poll started.
    started: Option<Instant>,
    /// Work and total time in the current window.
    busy: Duration,
    total: Duration,
    /// The last full window's verdict: busy at least half the time.
    spinning: bool,
}

impl Load {
    const WINDOW: Duration = Duration::from_millis(1);

    /// Called before polling: accounts the work since the last poll, and says whether to poll
    /// without sleeping.
    fn should_spin(&mut self, clock: &dyn Clock, busy_poll: Duration) -> bool {
        let now = clock.now();
        if let Some(returned) = self.returned {
            let work = now.saturating_duration_since(returned);
            self.busy += work;
            self.total += work;
        }
        self.started = Some(now);
        self.spinning
            && self
                .last_event
                .is_some_and(|t| now.saturating_duration_since(t) < busy_poll)
    }

    /// Called after polling: accounts the time spent in the poll, closes the window when due.
    fn polled(&mut self, now: Instant, events: bool) {
        if let Some(started) = self.started.take() {
            self.total += now.saturating_duration_since(started);
        }
        self.returned = Some(now);
        if events {
            self.last_event = Some(now);
        }
        if self.total >= Self::WINDOW {
            self.spinning = self.busy * 2 >= self.total;
            self.busy = Duration::ZERO;
            self.total = Duration::ZERO;
        }
    }
}

impl Core {
    fn next_gen(&mut self) -> u32 {
        self.gen = self.gen.wrapping_add(1);
        self.gen
    }

    fn deadline(&self, delay: Duration) -> Instant {
        self.deadline_after(self.now, delay)
    }

    fn deadline_after(&self, start: Instant, delay: Duration) -> Instant {
        // A peer-chosen delay must not overflow: saturate at about a century.
        start
            .checked_add(delay)
            .or_else(|| start.checked_add(Duration::from_secs(100 * 365 * 86_400)))
            .unwrap_or(start)
    }

    /// The slot of a live (not closed) connection named by `id`.
    fn live(&self, id: ConnId) -> Option<usize> {
        match self.entries.get(id.index as usize) {
            Some(Entry::Conn(c)) if c.gen == id.gen && c.close != Close::Closed => {
                Some(id.index as usize)
            }
            _ => None,
        }
    }

    fn conn(&self, index: usize) -> Option<&Conn> {
        match self.entries.get(index) {
            Some(Entry::Conn(c)) => Some(c),
            _ => None,
        }
    }

    fn conn_mut(&mut self, index: usize) -> Option<&mut Conn> {
        match self.entries.get_mut(index) {
            Some(Entry::Conn(c)) => Some(c),
            _ => None,
        }
    }

    /// Calls a protocol method with a transport for connection `index`, turning an `Err` or a
    /// panic into an aborted connection. The protocol is taken out of its slot for the call, so
    /// the transport can borrow everything else.
    fn dispatch(
        &mut self,
        index: usize,
        f: impl FnOnce(&mut dyn Protocol, &mut dyn Transport) -> ProtocolResult,
    ) {
        let Some(c) = self.conn_mut(index) else {
            return;
        };
        let Some(mut protocol) = c.protocol.take() else {
            return;
        };
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut tx = Ctx { core: self, index };
            f(&mut *protocol, &mut tx)
        }));
        let Some(c) = self.conn_mut(index) else {
            return;
        };
        c.protocol = Some(protocol);
        let failure = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(payload) => format!("panicked: {}", panic_message(&*payload)),
        };
        warn!("[c{index} {}] {failure}; aborting the connection", c.peer);
        self.abort(index, DisconnectReason::Protocol(failure));
    }

    fn queue_close(&mut self, index: usize) {
        if let Some(c) = self.conn_mut(index) {
            if !c.queued_close {
                c.queued_close = true;
                self.closing.push(index);
            }
        }
    }

    fn mark_dirty(&mut self, index: usize) {
        if let Some(c) = self.conn_mut(index) {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(index);
            }
        }
    }

    fn write_index(&mut self, index: usize, data: &[u8]) {
        let Some(c) = self.conn_mut(index) else {
            return;
        };
        if c.close != Close::Open {
            return;
        }
        c.out.write(data);
        if log_enabled!(Level::Trace) {
            trace!("[c{index} {}] write queued {} B", c.peer, data.len());
        }
        self.mark_dirty(index);
    }

    fn write_bytes_index(&mut self, index: usize, data: Bytes) {
        let Some(c) = self.conn_mut(index) else {
            return;
        };
        if c.close != Close::Open {
            return;
        }
        if log_enabled!(Level::Trace) {
            trace!("[c{index} {}] write queued {} B", c.peer, data.len());
        }
        c.out.write_bytes(data);
        self.mark_dirty(index);
    }

    fn write_to(&mut self, id: ConnId, data: &[u8]) -> bool {
        match self.live(id) {
            Some(index) if self.conn(index).is_some_and(|c| c.close == Close::Open) => {
                self.write_index(index, data);
                true
            }
            _ => false,
        }
    }

    /// Starts a flush-then-close. `reason` overrides the default `Done`.
    fn lose(&mut self, index: usize, reason: Option<DisconnectReason>) {
        let Some(c) = self.conn_mut(index) else {
            return;
        };
        if c.close != Close::Open {
            return;
        }
        trace!(
            "[c{index} {}] lose connection ({} B to flush)",
            c.peer,
            c.out.len()
        );
        c.close = Close::Losing;
        if reason.is_some() {
            c.reason = reason;
        }
        if c.out.is_empty() {
            self.queue_close(index);
        } else {
            self.mark_dirty(index);
        }
    }

    fn abort(&mut self, index: usize, reason: DisconnectReason) {
        let Some(c) = self.conn_mut(index) else {
            return;
        };
        if matches!(c.close, Close::Aborting | Close::Closed) {
            return;
        }
        trace!("[c{index} {}] abort: {reason}", c.peer);
        c.close = Close::Aborting;
        c.reason = Some(reason);
        c.out.clear();
        self.queue_close(index);
    }

    /// The producer counts as paused from now on, so the flush that brings the output to the
    /// low-water mark calls `resume_producing`; the connection is flushed at the end of the turn.
    fn resume_when_drained(&mut self, index: usize) {
        let Some(c) = self.conn_mut(index) else {
            return;
        };
        if c.close != Close::Open {
            return;
        }
        c.producer_paused = true;
        self.mark_dirty(index);
    }

    fn set_paused(&mut self, index: usize, paused: bool) {
        let Some(c) = self.conn_mut(index) else {
            return;
        };
        if c.read_paused == paused {
            return;
        }
        c.read_paused = paused;
        trace!(
            "[c{index} {}] {} reading",
            c.peer,
            if paused { "pause" } else { "resume" }
        );
        if !paused && c.close == Close::Open {
            self.pending_read.push(index);
        }
    }
}

/// The real [`Transport`]: a view of one connection's slot in the reactor during a callback.
struct Ctx<'a> {
    core: &'a mut Core,
    index: usize,
}

static NO_ADDRESS: Address = Address::Unix(None);

impl Ctx<'_> {
    fn with_live(&mut self, id: ConnId, f: impl FnOnce(&mut Core, usize)) -> bool {
        match self.core.live(id) {
            Some(index) => {
                f(self.core, index);
                true
            }
            None => false,
        }
    }
}

impl Transport for Ctx<'_> {
    fn id(&self) -> ConnId {
        match self.core.conn(self.index) {
            Some(c) => c.id(self.index),
            None => ConnId::from_parts(self.index as u32, 0),
        }
    }

    fn write(&mut self, data: &[u8]) {
        self.core.write_index(self.index, data);
    }

    fn write_bytes(&mut self, data: Bytes) {
        self.core.write_bytes_index(self.index, data);
    }

    fn lose_connection(&mut self) {
        self.core.lose(self.index, None);
    }

    fn abort_connection(&mut self) {
        self.core.abort(self.index, DisconnectReason::Aborted);
    }

    fn peer(&self) -> &Address {
        self.core.conn(self.index).map_or(&NO_ADDRESS, |c| &c.peer)
    }

    fn host(&self) -> &Address {
        self.core.conn(self.index).map_or(&NO_ADDRESS, |c| &c.host)
    }

    fn pause_reading(&mut self) {
        self.core.set_paused(self.index, true);
    }

    fn resume_reading(&mut self) {
        self.core.set_paused(self.index, false);
    }

    fn is_reading_paused(&self) -> bool {
        self.core.conn(self.index).is_some_and(|c| c.read_paused)
    }

    fn buffered(&self) -> usize {
        self.core.conn(self.index).map_or(0, |c| c.out.len())
    }

    fn resume_when_drained(&mut self) {
        self.core.resume_when_drained(self.index);
    }

    fn call_later(&mut self, delay: Duration) -> TimerId {
        let conn = self.id();
        let at = self.core.deadline(delay);
        self.core
            .timers
            .schedule(at, TimerTarget::Protocol { conn })
    }

    fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.core.timers.cancel(id).is_some()
    }

    fn reset_timer(&mut self, id: TimerId, delay: Duration) -> bool {
        let at = self.core.deadline(delay);
        self.core.timers.reset(id, at)
    }

    fn now(&self) -> Instant {
        self.core.now
    }

    fn write_to(&mut self, id: ConnId, data: &[u8]) -> bool {
        self.core.write_to(id, data)
    }

    fn write_bytes_to(&mut self, id: ConnId, data: Bytes) -> bool {
        match self.core.live(id) {
            Some(index)
                if self
                    .core
                    .conn(index)
                    .is_some_and(|c| c.close == Close::Open) =>
            {
                self.core.write_bytes_index(index, data);
                true
            }
            _ => false,
        }
    }

    fn lose_connection_of(&mut self, id: ConnId) -> bool {
        self.with_live(id, |core, index| core.lose(index, None))
    }

    fn abort_connection_of(&mut self, id: ConnId) -> bool {
        self.with_live(id, |core, index| {
            core.abort(index, DisconnectReason::Aborted)
        })
    }

    fn pause_reading_of(&mut self, id: ConnId) -> bool {
        self.with_live(id, |core, index| core.set_paused(index, true))
    }

    fn resume_reading_of(&mut self, id: ConnId) -> bool {
        self.with_live(id, |core, index| core.set_paused(index, false))
    }

    fn buffered_of(&self, id: ConnId) -> Option<usize> {
        self.core
            .live(id)
            .and_then(|i| self.core.conn(i))
            .map(|c| c.out.len())
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

/// A scheduled call made by [`Reactor::call_later`] (Twisted's `DelayedCall`): cancel it, reset
/// it, or ask whether it is still pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DelayedCall(TimerId);

impl DelayedCall {
    /// Cancels the call; it will never run. False if it already ran or was cancelled.
    pub fn cancel(self, reactor: &mut Reactor) -> bool {
        reactor.cancel_timer(self.0)
    }

    /// Moves the call to `delay` from now. False if it already ran or was cancelled.
    pub fn reset(self, reactor: &mut Reactor, delay: Duration) -> bool {
        let at = reactor.core.deadline(delay);
        reactor.core.timers.reset(self.0, at)
    }

    /// True until the call runs or is cancelled.
    pub fn is_active(self, reactor: &Reactor) -> bool {
        reactor.timer_active(self.0)
    }

    /// The underlying timer id.
    pub fn id(self) -> TimerId {
        self.0
    }
}

/// Calls a function every `interval` (Twisted's `LoopingCall`) until stopped. Intervals missed
/// because the loop was busy are skipped, not replayed in a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoopingCall(TimerId);

impl LoopingCall {
    /// Starts calling `f` every `interval` (at least 1 ms); with `now`, also calls it at once.
    pub fn start(
        reactor: &mut Reactor,
        interval: Duration,
        now: bool,
        mut f: impl FnMut(&mut Reactor) + 'static,
    ) -> LoopingCall {
        if now {
            f(reactor);
        }
        let interval = interval.max(Duration::from_millis(1));
        LoopingCall(reactor.call_every(interval, Box::new(f)))
    }

    /// Stops the loop (also from inside `f`). False if it was already stopped.
    pub fn stop(self, reactor: &mut Reactor) -> bool {
        reactor.cancel_timer(self.0)
    }

    /// True until stopped.
    pub fn is_running(self, reactor: &Reactor) -> bool {
        reactor.timer_active(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Load;
    use crate::testing::Clock;
    use std::time::Duration;

    const WINDOW: Duration = Duration::from_micros(200);

    /// One loop turn: `work` between polls, then a poll lasting `wait` that brings events or not.
    fn turn(load: &mut Load, clock: &Clock, work: u64, wait: u64, events: bool) -> bool {
        clock.advance(Duration::from_micros(work));
        let spin = load.should_spin(clock, WINDOW);
        clock.advance(Duration::from_micros(wait));
        load.polled(clock.now(), events);
        spin
    }

    #[test]
    fn a_loop_busy_most_of_the_time_polls_without_sleeping_until_events_stop() {
        let (clock, mut load) = (Clock::new(), Load::default());
        // A millisecond at 80 % busy: no spinning before the window has a verdict.
        for _ in 0..11 {
            assert!(!turn(&mut load, &clock, 80, 20, true));
        }
        assert!(turn(&mut load, &clock, 80, 20, true), "busy: spin");
        // Events stop: spinning goes on only up to the busy-poll window after the last one.
        assert!(turn(&mut load, &clock, 1, 250, false));
        assert!(
            !turn(&mut load, &clock, 1, 0, false),
            "200 µs without events: sleep"
        );
    }

    #[test]
    fn a_lightly_loaded_loop_always_sleeps() {
        let (clock, mut load) = (Clock::new(), Load::default());
        for _ in 0..50 {
            assert!(
                !turn(&mut load, &clock, 10, 90, true),
                "10 % busy: never spin"
            );
        }
        // Load that drops is noticed at the next window.
        let (clock, mut load) = (Clock::new(), Load::default());
        for _ in 0..11 {
            turn(&mut load, &clock, 90, 10, true);
        }
        assert!(turn(&mut load, &clock, 90, 10, true));
        for _ in 0..12 {
            turn(&mut load, &clock, 10, 90, true);
        }
        assert!(
            !turn(&mut load, &clock, 10, 90, true),
            "load dropped: sleep again"
        );
    }
}
