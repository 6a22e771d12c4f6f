//! The event loop: one `mio::Poll`, a slab of sockets, a timer queue, a waker.
//!
//! # Layout
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | [`Reactor`] and `Core` (the state a callback may touch); construction; the loop ([`Reactor::run`], [`Reactor::run_once`]), end-of-turn flushing, shutdown |
//! | `tcp.rs` | stream sockets (TCP and Unix): listening, accepting, reading into `data_received`, flushing, closing; [`ListeningPort`](tcp::ListeningPort) |
//! | `connect.rs` | outgoing connections: connectors, mio's non-blocking connect, the [`ClientFactory`](crate::ClientFactory) callbacks |
//! | `udp.rs` | UDP sockets and their [`DatagramTransport`](crate::DatagramTransport) |
//! | `calls.rs` | timers and closures run by the loop: `call_later`/[`DelayedCall`](calls::DelayedCall), [`LoopingCall`](calls::LoopingCall), `call_from_thread` through a [`ReactorHandle`](calls::ReactorHandle) |
//! | `ctx.rs` | `Ctx`, the real [`Transport`](crate::Transport), and the per-connection operations behind it (write, lose, abort, pause) with `dispatch` into a protocol |
//! | `nested.rs` | the nested turn a long callback runs to let other connections be served (`Transport::process_events_while_blocked`) |
//! | `load.rs` | `Load`, the busy-poll meter |
//! | `entry.rs` | what a slab slot holds: a listener, a connection, a connect in progress, a UDP socket; connectors |
//! | `config.rs` | [`ReactorConfig`], the tunables |
//! | `guard.rs` | running user code so that a panic is logged instead of ending the loop |
//!
//! `mod.rs` is the top of the folder: the files that add methods to `Reactor` or `Core`
//! (`tcp`, `connect`, `udp`, `calls`, `ctx`, `nested`) use its types; `entry`, `load`, `config` and
//! `guard` use none of their siblings, and `mod.rs` imports only those four.
//!
//! # One turn of the loop ([`Reactor::run_once`])
//!
//! ```text
//! poll (timeout = next timer, or 0 if work is pending)
//!   ├─ for each event (and each left by a nested turn): accept · read → data_received · flush on writable · finish a connect
//!   ├─ reads resumed since the last turn
//!   ├─ timers that are due (call_later, LoopingCall, protocol timers, connect timeouts,
//!   │  accept retries)
//!   ├─ calls from other threads (call_from_thread)
//!   ├─ before-flush hooks (a store's group fsync, then the answers that waited for it)
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
//!
//! Every call into user code (protocols, factories, timers, closures) catches panics: the
//! panic is logged and costs at most the connection, connector or call concerned, never the
//! loop.

pub(crate) mod calls;
pub(crate) mod config;
mod connect;
mod ctx;
mod entry;
mod guard;
mod load;
mod nested;
pub(crate) mod tcp;
mod udp;

use std::io;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::{error, info, warn};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use self::config::ReactorConfig;
use self::entry::{Close, ConnectorEntry, Entry};
use self::guard::catch;
use self::load::Load;
use crate::signal::SignalPipe;
use crate::timer::TimerQueue;
use crate::{Clock, ConnId, DisconnectReason, Error, SystemClock};

/// The token of the waker that `call_from_thread` rings; slab slots never reach it.
const WAKER: Token = Token(usize::MAX);
/// The token of the self-pipe that SIGINT/SIGTERM write to.
const SIGNALS: Token = Token(usize::MAX - 1);

/// A closure run by the reactor on its own thread.
type Call = Box<dyn FnOnce(&mut Reactor)>;
/// A closure sent from another thread.
type RemoteCall = Box<dyn FnOnce(&mut Reactor) + Send>;

/// What a timer does when it fires.
enum TimerTarget {
    /// `call_later`: run the closure once.
    Call(Call),
    /// A [`LoopingCall`](calls::LoopingCall): run the closure, then rearm.
    Repeat {
        interval: Duration,
        f: Box<dyn FnMut(&mut Reactor)>,
    },
    /// `Transport::call_later`: the connection's `timer_fired`.
    Protocol { conn: ConnId },
    /// A connect in slab slot `entry` took too long: it fails with `TimedOut`.
    ConnectTimeout { connector: usize, entry: usize },
    /// A connector's retry is due.
    Connect { connector: usize },
    /// Listener slot `listener` (of generation `gen`) retries `accept` after running out of
    /// descriptors.
    AcceptRetry { listener: usize, gen: u32 },
    /// A connect that failed at once, reported on the next turn rather than inside the
    /// caller's `connect_*`.
    ConnectFailed { connector: usize, error: io::Error },
}

/// Everything a callback may touch: the sockets' buffers and flags, timers, the clock.
/// Kept apart from the `Poll` and the read buffer so that a callback can borrow this mutably
/// while the bytes it was handed are borrowed from the read buffer.
struct Core {
    /// The readiness poll every socket is registered with; in `Core` so that a callback can
    /// run a nested turn of reads ([`Core::process_events_while_blocked`]).
    poll: Poll,
    /// The events of the latest poll (the loop copies them out before handling them).
    events: Events,
    /// Every registered socket; a slot's index is its mio token.
    entries: Slab<Entry>,
    /// Outgoing connections with their retries, named by [`ConnectorId`](crate::ConnectorId).
    connectors: Slab<ConnectorEntry>,
    timers: TimerQueue<TimerTarget>,
    /// Connections written to this turn, flushed at its end.
    dirty: Vec<usize>,
    /// Connections whose close is due at the end of this turn.
    closing: Vec<usize>,
    /// Connections to read again without waiting for an event (read budget spent, or
    /// reading resumed).
    pending_read: Vec<usize>,
    /// The clock's time when this turn's poll returned.
    now: Instant,
    clock: Rc<dyn Clock>,
    /// The last generation handed to a connection, listener or connector.
    gen: u32,
    config: ReactorConfig,
    stop_requested: bool,
    /// Open connections (the slab also holds listeners, connects and UDP sockets).
    connections: usize,
    /// Events a nested turn took from the poll but did not handle, as (token, readable,
    /// writable, read closed): the next turn of the loop handles them first.
    deferred: Vec<(Token, bool, bool, bool)>,
    /// A nested turn is running (a callback inside it cannot start another).
    nested: bool,
    /// The nested turn's read buffer (the loop's own is lent to the running callback).
    nested_buf: Vec<u8>,
    /// The nested turn's copy of its poll's events, reused.
    nested_batch: Vec<(Token, bool, bool, bool)>,
    /// The current poll's events as (token, readable, writable, read closed), reused; kept
    /// here so a nested turn sees the ones not handled yet.
    batch: Vec<(Token, bool, bool, bool)>,
    /// Where the loop is in `batch`: the events from here on are not handled yet.
    batch_next: usize,
}

/// The state shared with [`ReactorHandle`](calls::ReactorHandle)s on other threads.
struct Shared {
    /// Wakes the poll so the calls run at once.
    waker: Waker,
    /// Closures waiting for the reactor's next turn.
    calls: Mutex<Vec<RemoteCall>>,
}

/// A hook added with [`Reactor::before_flush`].
type Hook = Box<dyn FnMut(&mut Reactor)>;

/// The hooks run at the end of each turn, in the order they were added; a hook is taken out
/// while it runs (so it may add or remove hooks), hence the `Option`.
#[derive(Default)]
struct BeforeFlush {
    hooks: Vec<(u64, Option<Hook>)>,
    next: u64,
}

/// The event loop. One per thread; [`run_once`](Self::run_once) is one turn of it, [`run`](Self::run)
/// turns it until stopped.
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
    /// The one buffer every connection reads into; `data_received` borrows from it.
    read_buf: Vec<u8>,
    core: Core,
    shared: Arc<Shared>,
    signals: Option<SignalPipe>,
    /// When shutdown began, for [`ReactorConfig::shutdown_timeout`].
    stopping_since: Option<Instant>,
    /// How busy the loop has been, for `busy_poll`.
    load: Load,
    /// Busy polling is off while this is set (see [`Reactor::pause_busy_poll`]).
    busy_poll_paused: bool,
    /// The hooks run before each turn's output is flushed.
    before_flush: BeforeFlush,
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
            read_buf: vec![0; config.read_buffer.max(1)],
            core: Core {
                events: Events::with_capacity(config.events_capacity),
                poll,
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
                deferred: Vec::new(),
                nested: false,
                nested_buf: Vec::new(),
                nested_batch: Vec::new(),
                batch: Vec::new(),
                batch_next: 0,
            },
            shared: Arc::new(Shared {
                waker,
                calls: Mutex::new(Vec::new()),
            }),
            signals: None,
            stopping_since: None,
            load: Load::default(),
            busy_poll_paused: false,
            before_flush: BeforeFlush::default(),
        })
    }

    /// Makes SIGINT and SIGTERM stop this reactor cleanly (listeners closed, output flushed
    /// within [`ReactorConfig::shutdown_timeout`], then `run` returns).
    pub fn install_signal_handlers(&mut self) -> Result<(), Error> {
        let mut pipe = SignalPipe::install().map_err(|e| Error::io("installing signals", e))?;
        self.core
            .poll
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

    /// Stops (or resumes) busy polling: while paused, an idle loop sleeps in its poll at once.
    /// For a protocol waiting on another thread of this process (an fsync, say): spinning
    /// would take the core that thread needs, and its completion wakes the loop anyway.
    pub fn pause_busy_poll(&mut self, paused: bool) {
        self.busy_poll_paused = paused;
    }

    fn next_gen(&mut self) -> u32 {
        self.core.next_gen()
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
                            let _ = self.core.poll.registry().deregister(l.socket.source());
                            if let Some(timer) = l.starved.and_then(|s| s.retry) {
                                self.core.timers.cancel(timer);
                            }
                            if let Err(message) = catch(|| l.factory.stop_factory()) {
                                error!("stop_factory panicked: {message}");
                            }
                        }
                        Entry::Udp(mut u) => {
                            let _ = self.core.poll.registry().deregister(&mut u.socket);
                        }
                        Entry::Connecting(mut c) => {
                            let _ = self.core.poll.registry().deregister(c.stream.source());
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
        info!("stopped");
        Ok(())
    }

    /// One turn of the loop: waits for events (at most `max_wait`, or until the next timer;
    /// `Some(Duration::ZERO)` never waits), handles them, fires due timers and flushes.
    pub fn run_once(&mut self, max_wait: Option<Duration>) -> Result<(), Error> {
        let mut timeout = max_wait;
        let busy_poll = self.core.config.busy_poll;
        let spin = !busy_poll.is_zero()
            && !self.busy_poll_paused
            && self.load.should_spin(&*self.core.clock, busy_poll);
        if spin
            || !self.core.pending_read.is_empty()
            || !self.core.dirty.is_empty()
            || !self.core.deferred.is_empty()
        {
            timeout = Some(Duration::ZERO);
        } else if let Some(deadline) = self.core.timers.next_deadline() {
            let wait = deadline.saturating_duration_since(self.core.clock.now());
            timeout = Some(timeout.map_or(wait, |t| t.min(wait)));
        }
        match self.core.poll.poll(&mut self.core.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("polling", e)),
        }
        self.core.now = self.core.clock.now();
        if !busy_poll.is_zero() {
            self.load
                .polled(self.core.now, !self.core.events.is_empty());
        }
        // Collect first: handlers need `&mut self`, and the events borrow `self.events`.
        let core = &mut self.core;
        core.batch.clear();
        for event in core.events.iter() {
            core.batch.push((
                event.token(),
                event.is_readable() || event.is_error(),
                event.is_writable() || event.is_error(),
                event.is_read_closed(),
            ));
        }
        // Left by a nested turn: reported by an earlier poll, not handled yet.
        core.batch.append(&mut core.deferred);
        let mut next = 0;
        while let Some(&(token, readable, writable, read_closed)) = self.core.batch.get(next) {
            next += 1;
            self.core.batch_next = next;
            match token {
                WAKER => self.run_remote_calls(),
                SIGNALS => {
                    if self.signals.as_mut().is_some_and(|s| s.drain()) {
                        info!("signal received");
                        self.stop();
                    }
                }
                Token(index) => match self.core.entries.get(index) {
                    Some(Entry::Listener(_)) => self.core.on_accept(index),
                    Some(Entry::Conn(_)) => {
                        if writable {
                            self.core.flush(index);
                        }
                        if readable || read_closed {
                            self.core
                                .on_readable(index, read_closed, &mut self.read_buf);
                        }
                    }
                    Some(Entry::Connecting(_)) => self.on_connecting_ready(index),
                    Some(Entry::Udp(_)) if readable => self.on_udp_readable(index),
                    // Spurious or stale: mio may report events for tokens we just closed.
                    _ => {}
                },
            }
        }
        let resumed = std::mem::take(&mut self.core.pending_read);
        for index in resumed {
            self.core.on_readable(index, true, &mut self.read_buf);
        }
        self.run_timers();
        self.finish_turn();
        Ok(())
    }

    /// Flushes every connection written to during this turn and closes those whose close is
    /// due, until neither has anything left (closing may write to others, writing may close).
    fn finish_turn(&mut self) {
        self.run_before_flush();
        loop {
            let dirty = std::mem::take(&mut self.core.dirty);
            let closing = std::mem::take(&mut self.core.closing);
            if dirty.is_empty() && closing.is_empty() {
                break;
            }
            for index in dirty {
                self.core.flush(index);
            }
            for index in closing {
                self.finalize(index);
            }
        }
    }
}

impl Core {
    fn next_gen(&mut self) -> u32 {
        self.gen = self.gen.wrapping_add(1);
        self.gen
    }
}
