//! Spindle's reactor: an event loop on [`mio`] that drives protocols written in Twisted's
//! terms — [`Protocol`], [`Transport`], [`Factory`], [`ClientFactory`] — plus timers, flow
//! control, and test doubles.
//!
//! It knows nothing of any wire protocol: codecs live in `spindle-protocols`, servers and
//! clients in the app crates (`spindle-echo`, `spindle-kv`, `spindle-amqp`, `spindle-bench`).
//!
//! # Layout
//!
//! | file | job |
//! |---|---|
//! | `reactor/` | the event loop, [`Reactor`], one file per concern: |
//! | `reactor/mod.rs` | the `Poll` loop: construction, one turn, end-of-turn flushing, shutdown |
//! | `reactor/tcp.rs` | stream sockets (TCP, Unix): listen, accept, read, flush, close; [`ListeningPort`] |
//! | `reactor/connect.rs` | outgoing connections and the [`ClientFactory`] callbacks |
//! | `reactor/udp.rs` | UDP sockets for a [`DatagramProtocol`] |
//! | `reactor/calls.rs` | timers and closures: [`DelayedCall`], [`LoopingCall`], [`ReactorHandle`] (`call_from_thread`) |
//! | `reactor/ctx.rs` | the real [`Transport`] handed to protocol callbacks, and dispatch into a protocol |
//! | `reactor/load.rs` | the busy-poll load meter ([`ReactorConfig::busy_poll`]) |
//! | `reactor/entry.rs` | what a socket slot holds (listener, connection, connect in progress, UDP) |
//! | `reactor/config.rs` | [`ReactorConfig`] |
//! | `reactor/guard.rs` | calling user code so that a panic is logged, not fatal |
//! | `protocol.rs` | [`Protocol`], [`Factory`], [`ClientFactory`], [`Connector`], [`DatagramProtocol`] |
//! | `transport.rs` | [`Transport`] (what a callback may do), [`ConnId`], [`DatagramTransport`] |
//! | `buffer.rs` | a connection's output buffer, flushed with vectored writes |
//! | `timer.rs` | the deadline-ordered timer queue, [`TimerId`] |
//! | `fd_limit.rs` | [`raise_fd_limit`]: the descriptor limit, which caps how many connections a server holds |
//! | `net.rs` | socket set-up through socket2: [`ListenOptions`] |
//! | [`deferred`] (`deferred.rs`) | [`Deferred`]: a result to come and its chain of callbacks (Twisted's), [`gather`], timeouts on the reactor's timers |
//! | `reconnect.rs` | [`ReconnectingClientFactory`]: retries with capped exponential back-off and jitter; [`RetryControl`] |
//! | `pool.rs` | [`Pool`]: N reactors on N threads sharing a port through `SO_REUSEPORT` |
//! | `progress.rs` | [`Progress`]: a long start-up step's progress line on a terminal |
//! | `signal.rs` | SIGINT/SIGTERM → a clean stop |
//! | `clock.rs` | [`Clock`]: where "now" comes from |
//! | `address.rs` | [`Address`]: a TCP or Unix-domain endpoint |
//! | `error.rs` | [`Error`] (reactor calls), [`ProtocolError`] (callbacks), [`DisconnectReason`] |
//! | [`testing`] (`testing.rs`) | test doubles: `StringTransport`, `Clock`, `MemoryReactor`, a loopback pump |
//! | [`guide`] (`guide.rs`) | the echo server, built step by step |
//!
//! # Rules the loop keeps
//!
//! - Writes never call back into a protocol: they append to an output buffer, flushed at the
//!   end of the loop turn (many small writes, one syscall; many connections' replies together).
//! - A callback that returns `Err` or panics loses its own connection, never the reactor. A
//!   panic elsewhere in user code is logged and the loop goes on: in a client factory it ends
//!   that connector; in a server factory's `build_protocol` it refuses that one connection; in
//!   a timer, a looping call or a closure from another thread it ends that call.
//! - Output above [`ReactorConfig::high_water`] calls `pause_producing`; below `low_water`,
//!   `resume_producing`. By default that pauses and resumes reading, so memory stays bounded
//!   when a peer stops reading.
//! - A listener whose `accept` fails for want of descriptors or memory retries on a timer
//!   (10 ms doubling to 100 ms) until its queue is drained, so connections queued meanwhile
//!   are served once descriptors free up; one warning per episode. Servers raise their
//!   descriptor limit at start with [`raise_fd_limit`].
//! - Every reactor event can be watched at `trace` level (`spindle --trace`); with trace off
//!   the cost is one level check per event.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod address;
mod buffer;
mod clock;
pub mod deferred;
mod error;
mod fd_limit;
pub mod guide;
mod net;
mod pool;
mod progress;
mod protocol;
mod reactor;
mod reconnect;
mod signal;
pub mod testing;
mod timer;
mod transport;

pub use address::Address;
pub use clock::{Clock, SystemClock};
pub use deferred::{gather, maybe_deferred, AlreadyCalled, Cancelled, Deferred, Step, TimedOut};
pub use error::{io_reason, DisconnectReason, Error, ProtocolError, ProtocolResult};
pub use fd_limit::raise_fd_limit;
pub use net::{resolve, ListenOptions};
pub use pool::Pool;
pub use progress::{Progress, PROGRESS_AFTER, PROGRESS_EVERY};
pub use protocol::{ClientFactory, Connector, ConnectorId, DatagramProtocol, Factory, Protocol};
pub use reactor::calls::{BeforeFlushId, DelayedCall, LoopingCall, ReactorHandle};
pub use reactor::config::ReactorConfig;
pub use reactor::tcp::ListeningPort;
pub use reactor::Reactor;
pub use reconnect::{ReconnectingClientFactory, RetryControl};
pub use timer::TimerId;
pub use transport::{ConnId, DatagramTransport, Transport};

/// What an app's set-up code needs from a reactor to listen and connect over TCP (Twisted's
/// `IReactorTCP`), so the set-up can be tested against a
/// [`MemoryReactor`](testing::MemoryReactor) that only records the calls.
pub trait ReactorTcp {
    /// Listens on `addr` with `factory`.
    fn listen_tcp(
        &mut self,
        addr: std::net::SocketAddr,
        factory: Box<dyn Factory>,
    ) -> Result<ListeningPort, Error>;

    /// Connects to `addr` with `factory`.
    fn connect_tcp(
        &mut self,
        addr: std::net::SocketAddr,
        factory: Box<dyn ClientFactory>,
        timeout: Option<std::time::Duration>,
    ) -> Result<ConnectorId, Error>;
}

impl Factory for Box<dyn Factory> {
    fn build_protocol(&mut self, peer: &Address) -> Option<Box<dyn Protocol>> {
        (**self).build_protocol(peer)
    }
    fn start_factory(&mut self) {
        (**self).start_factory()
    }
    fn stop_factory(&mut self) {
        (**self).stop_factory()
    }
}

impl ClientFactory for Box<dyn ClientFactory> {
    fn build_protocol(&mut self, peer: &Address) -> Box<dyn Protocol> {
        (**self).build_protocol(peer)
    }
    fn started_connecting(&mut self, connector: &mut Connector) {
        (**self).started_connecting(connector)
    }
    fn client_connection_failed(&mut self, reason: &std::io::Error, connector: &mut Connector) {
        (**self).client_connection_failed(reason, connector)
    }
    fn client_connection_lost(&mut self, reason: &DisconnectReason, connector: &mut Connector) {
        (**self).client_connection_lost(reason, connector)
    }
}

impl ReactorTcp for Reactor {
    fn listen_tcp(
        &mut self,
        addr: std::net::SocketAddr,
        factory: Box<dyn Factory>,
    ) -> Result<ListeningPort, Error> {
        self.listen_tcp_with(addr, ListenOptions::default(), factory)
    }

    fn connect_tcp(
        &mut self,
        addr: std::net::SocketAddr,
        factory: Box<dyn ClientFactory>,
        timeout: Option<std::time::Duration>,
    ) -> Result<ConnectorId, Error> {
        Reactor::connect_tcp(self, addr, factory, timeout)
    }
}
