//! Stream sockets, TCP and Unix-domain alike: listening, accepting, reading into
//! `data_received`, flushing output with the water marks, and closing; plus the calls that act
//! on a connection from outside its callbacks (`write_to`, `lose_connection_of`…).

use std::io::{self, Read};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use log::{debug, error, info, log_enabled, trace, warn, Level};
use mio::{Interest, Token};

use super::entry::{Close, Conn, Entry, ListenerEntry, Starved};
use super::guard::catch;
use super::{Core, Reactor, TimerTarget};
use crate::buffer::OutBuf;
use crate::net::{self, ListenOptions, Listener, Stream};
use crate::{Address, ConnId, DisconnectReason, Error, Factory, Protocol};

/// A listening socket, as returned by `listen_tcp`/`listen_unix` (Twisted's `IListeningPort`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListeningPort {
    pub(crate) index: usize,
    pub(crate) gen: u32,
    address: Address,
}

impl ListeningPort {
    /// A port naming listener slot `index` of generation `gen` (the reactor's, or a test
    /// double's).
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

/// The wait before the first retry of `accept` after it failed for want of descriptors.
const ACCEPT_RETRY_FIRST: Duration = Duration::from_millis(10);
/// The longest wait between retries: how late, at worst, queued connections are served once
/// descriptors free up.
const ACCEPT_RETRY_MAX: Duration = Duration::from_millis(100);

impl Reactor {
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
        self.core
            .poll
            .registry()
            .register(socket.source(), Token(index), Interest::READABLE)
            .map_err(|e| Error::io(format!("registering listener {address}"), e))?;
        if let Err(message) = catch(|| factory.start_factory()) {
            error!("factory of {address}: start_factory panicked: {message}");
        }
        entry.insert(Entry::Listener(ListenerEntry {
            gen,
            socket,
            factory,
            options,
            address: address.clone(),
            starved: None,
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
            let _ = self.core.poll.registry().deregister(l.socket.source());
            if let Some(timer) = l.starved.and_then(|s| s.retry) {
                self.core.timers.cancel(timer);
            }
            if let Err(message) = catch(|| l.factory.stop_factory()) {
                error!(
                    "factory of {}: stop_factory panicked: {message}",
                    port.address
                );
            }
            info!("stopped listening on {}", port.address);
        }
        true
    }
}

impl Core {
    // ----- connections -----------------------------------------------------------------------

    /// Registers a connected stream, then calls `connection_made`.
    pub(super) fn add_connection(
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
        let index = self.entries.insert(Entry::Conn(Conn {
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
        let registered = match self.entries.get_mut(index) {
            Some(Entry::Conn(c)) => {
                self.poll
                    .registry()
                    .register(c.stream.source(), Token(index), Interest::READABLE)
            }
            _ => Ok(()),
        };
        if let Err(e) = registered {
            error!("[c{index}] registering a new connection: {e}");
            self.entries.remove(index);
            return;
        }
        debug!("[c{index} {tag}] connection made");
        self.connections += 1;
        self.dispatch(index, |p, tx| p.connection_made(tx));
    }

    /// A listener is readable: accepts what is queued, unless a retry is scheduled (accept
    /// would only fail again; the retry drains the queue).
    pub(super) fn on_accept(&mut self, index: usize) {
        let retry_due = matches!(self.entries.get(index),
            Some(Entry::Listener(l)) if l.starved.as_ref().is_some_and(|s| s.retry.is_some()));
        if !retry_due {
            self.accept_queued(index);
        }
    }

    /// The retry timer of a listener that ran out of descriptors fired.
    pub(super) fn retry_accept(&mut self, index: usize, gen: u32) {
        let Some(Entry::Listener(l)) = self.entries.get_mut(index) else {
            return;
        };
        if l.gen != gen {
            return;
        }
        if let Some(starved) = &mut l.starved {
            starved.retry = None;
        }
        self.accept_queued(index);
    }

    /// Accepts until the listener's queue is empty (or `accept` fails: see [`Self::starve`]),
    /// building a protocol for each connection.
    pub(super) fn accept_queued(&mut self, index: usize) {
        loop {
            let Some(Entry::Listener(l)) = self.entries.get_mut(index) else {
                return;
            };
            let (stream, peer) = match l.socket.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(starved) = l.starved.take() {
                        let waited = self.now.saturating_duration_since(starved.since);
                        info!(
                            "accepting again on {} after {} ms of failed accepts \
                             ({} connections accepted late)",
                            l.address,
                            waited.as_millis(),
                            starved.accepted
                        );
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    self.starve(index, &e);
                    return;
                }
            };
            if let Some(starved) = &mut l.starved {
                starved.delay = ACCEPT_RETRY_FIRST;
                starved.accepted += 1;
            }
            if l.options.nodelay {
                stream.set_nodelay();
            }
            if let Some(max) = self.config.max_connections {
                if self.connections >= max {
                    warn!("[{peer}] refused: {max} connections already open");
                    continue;
                }
            }
            let protocol = match catch(|| l.factory.build_protocol(&peer)) {
                Ok(Some(p)) => p,
                Ok(None) => {
                    trace!("[{peer}] refused by the factory");
                    continue;
                }
                Err(message) => {
                    warn!("[{peer}] factory panicked: {message}");
                    continue;
                }
            };
            trace!("[{peer}] accepted");
            self.add_connection(stream, protocol, peer, None);
        }
    }

    /// `accept` failed with the connection still queued: EMFILE or ENFILE (no descriptor
    /// left), ENOBUFS or ENOMEM (no memory), or an error nobody expects from a listener. Stops
    /// accepting on this listener and retries on a timer, 10 ms after the first failure,
    /// doubling up to 100 ms, back to 10 ms once an accept succeeds; warns once per episode
    /// (the failure to the queue drained), not per attempt.
    ///
    /// Why a timer: the queued connections raise no new event (edge-triggered readiness; the
    /// queue did not change when descriptors freed up), so waiting for the listener's next
    /// event leaves them stuck until some other client connects; level-triggered loops
    /// (Twisted, redis-server) retry on every turn instead, spinning while nothing frees up;
    /// nginx likewise disables accept events and re-enables them on a timer.
    /// Why not libuv's reserve descriptor (`uv__emfile_trick`: close a spare fd, accept, close
    /// the connection at once, reopen the spare): it closes every queued connection, so a
    /// shortage that lasts milliseconds (a burst of closes pending) costs clients their
    /// connection instead of a short wait; the kernel's backlog bounds how many wait, and an
    /// app that wants to refuse cleanly sizes its connection cap to the descriptor limit
    /// ([`crate::raise_fd_limit`], [`ReactorConfig::max_connections`](crate::ReactorConfig)).
    fn starve(&mut self, index: usize, error: &io::Error) {
        let now = self.now;
        let Some(Entry::Listener(l)) = self.entries.get_mut(index) else {
            return;
        };
        if l.starved.is_none() {
            warn!(
                "accepting on {}: {error}; queued connections wait, retrying every {}-{} ms",
                l.address,
                ACCEPT_RETRY_FIRST.as_millis(),
                ACCEPT_RETRY_MAX.as_millis()
            );
        }
        let gen = l.gen;
        let starved = l.starved.get_or_insert(Starved {
            since: now,
            delay: ACCEPT_RETRY_FIRST,
            retry: None,
            accepted: 0,
        });
        let delay = starved.delay;
        starved.delay = delay.saturating_mul(2).min(ACCEPT_RETRY_MAX);
        if let Some(old) = starved.retry.take() {
            self.timers.cancel(old);
        }
        let at = self.deadline(delay);
        let timer = self.timers.schedule(
            at,
            TimerTarget::AcceptRetry {
                listener: index,
                gen,
            },
        );
        if let Some(Entry::Listener(l)) = self.entries.get_mut(index) {
            if let Some(starved) = &mut l.starved {
                starved.retry = Some(timer);
            }
        }
    }

    /// Reads until the socket is drained (or the per-event budget is spent), handing each
    /// chunk to the protocol. What the protocol wrote leaves at the end of the turn
    /// ([`Reactor::finish_turn`]) with every other connection's output, unless it passed the
    /// high-water mark first.
    pub(super) fn on_readable(&mut self, index: usize, read_closed: bool, buf: &mut [u8]) {
        let mut reads = 0;
        loop {
            let Some(Entry::Conn(c)) = self.entries.get_mut(index) else {
                return;
            };
            if c.read_paused || c.close != Close::Open {
                break;
            }
            if reads == self.config.max_reads_per_event {
                // Fairness: others get their turn; we come back on the next loop turn.
                self.pending_read.push(index);
                break;
            }
            match c.stream.read(buf) {
                Ok(0) => {
                    trace!("[c{index} {}] readable → end of stream", c.peer);
                    self.lose(index, Some(DisconnectReason::Done));
                    break;
                }
                Ok(n) => {
                    reads += 1;
                    if log_enabled!(Level::Trace) {
                        trace!("[c{index} {}] readable → data_received {n} B", c.peer);
                    }
                    let data = buf.get(..n).unwrap_or_default();
                    self.dispatch(index, |p, tx| p.data_received(data, tx));
                    self.check_high_water(index);
                    // A short read drained the socket: with edge-triggered readiness, new data
                    // will raise a new event, so skip the read that would say WouldBlock
                    // (unless the peer also closed, which must be read as end of stream).
                    if n < buf.len() && !read_closed {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    trace!("[c{index} {}] read error: {e}", c.peer);
                    self.abort(index, DisconnectReason::Lost(e));
                    break;
                }
            }
        }
    }

    /// Between reads: if the protocol's output passed the high-water mark, try to flush it
    /// now; if it is still above, pause the producer (by default: stop reading).
    fn check_high_water(&mut self, index: usize) {
        let high = self.config.high_water;
        let over = matches!(self.entries.get(index), Some(Entry::Conn(c)) if c.out.len() > high);
        if over {
            self.flush(index);
        }
    }

    /// Writes what `index` has queued, updates WRITABLE interest and the producer's water marks,
    /// and queues the close of a connection that asked to close once flushed.
    pub(super) fn flush(&mut self, index: usize) {
        let Some(Entry::Conn(c)) = self.entries.get_mut(index) else {
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
                    self.abort(index, DisconnectReason::Lost(e));
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
                self.abort(index, DisconnectReason::Lost(e));
                return;
            }
            c.write_interest = want_writable;
        }
        let len = c.out.len();
        let (high, low) = (self.config.high_water, self.config.low_water);
        if c.close == Close::Losing {
            if len == 0 {
                self.queue_close(index);
            }
        } else if len > high && !c.producer_paused {
            c.producer_paused = true;
            trace!(
                "[c{index} {}] {len} B queued > {high}: pause producing",
                c.peer
            );
            self.dispatch(index, |p, tx| p.pause_producing(tx));
        } else if len <= low && c.producer_paused {
            c.producer_paused = false;
            trace!(
                "[c{index} {}] {len} B queued <= {low}: resume producing",
                c.peer
            );
            self.dispatch(index, |p, tx| p.resume_producing(tx));
        }
    }
}

impl Reactor {
    /// Closes a connection whose close is due: deregisters and drops the socket, tells the
    /// protocol (and a client factory), and frees the slot.
    pub(super) fn finalize(&mut self, index: usize) {
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
        let _ = self.core.poll.registry().deregister(c.stream.source());
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
            self.connection_lost_by(connector, peer, &reason);
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

    /// Asks for `resume_producing` on connection `id` once its output has drained to the
    /// low-water mark ([`Transport::resume_when_drained_of`](crate::Transport::resume_when_drained_of)
    /// from outside a callback: a timer writing to connections); false if it is gone.
    pub fn resume_when_drained_of(&mut self, id: ConnId) -> bool {
        match self.core.live(id) {
            Some(index) => {
                self.core.resume_when_drained(index);
                true
            }
            None => false,
        }
    }

    /// Resumes reading connection `id` (a broker letting a publisher it had held back go on
    /// from a timer); false if it is gone.
    pub fn resume_reading_of(&mut self, id: ConnId) -> bool {
        match self.core.live(id) {
            Some(index) => {
                self.core.set_paused(index, false);
                true
            }
            None => false,
        }
    }

    /// Queues a shared buffer on connection `id` without copying a large one; false if it is
    /// gone or closing.
    pub fn write_bytes_to(&mut self, id: ConnId, data: bytes::Bytes) -> bool {
        self.core.write_bytes_to(id, data)
    }

    /// Closes connection `id` at once, dropping its queued output (a client evicted for the
    /// memory its output holds); false if it is gone. Its protocol's `connection_lost` gets
    /// [`DisconnectReason::Aborted`].
    pub fn abort_connection_of(&mut self, id: ConnId) -> bool {
        match self.core.live(id) {
            Some(index) => {
                self.core.abort(index, DisconnectReason::Aborted);
                true
            }
            None => false,
        }
    }
}
