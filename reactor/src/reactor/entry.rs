//! What the reactor's slab holds, one kind of socket per variant, and the connectors that
//! make outgoing connections. Plain state: the behaviour is in `tcp.rs`, `connect.rs`,
//! `udp.rs` and `ctx.rs`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;

use crate::buffer::OutBuf;
use crate::net::{ListenOptions, Listener, Stream};
use crate::{
    Address, ClientFactory, ConnId, DatagramProtocol, DisconnectReason, Factory, Protocol, TimerId,
};

/// Where the loop is in closing a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Close {
    Open,
    /// `lose_connection`: flush, then close.
    Losing,
    /// `abort_connection` or an error: close now, dropping output.
    Aborting,
    /// Closed; `connection_lost` is running or has run; the slot is freed after the batch.
    Closed,
}

/// An open (or closing) stream connection: its socket, protocol, output buffer and flags.
pub(super) struct Conn {
    /// Generation: a stale `ConnId` never names the connection that reuses the slot.
    pub(super) gen: u32,
    pub(super) stream: Stream,
    /// Taken out while one of its callbacks runs (see `Core::dispatch`).
    pub(super) protocol: Option<Box<dyn Protocol>>,
    pub(super) out: OutBuf,
    pub(super) peer: Address,
    pub(super) host: Address,
    /// Reading is paused (by the protocol, or by the default `pause_producing`).
    pub(super) read_paused: bool,
    /// `pause_producing` was called; `resume_producing` is due at the low-water mark.
    pub(super) producer_paused: bool,
    pub(super) close: Close,
    /// Why it closes, handed to `connection_lost` (`Done` when unset).
    pub(super) reason: Option<DisconnectReason>,
    /// Registered for WRITABLE: output is waiting for the socket.
    pub(super) write_interest: bool,
    /// Listed in `Core::dirty`, to be flushed at the end of the turn.
    pub(super) dirty: bool,
    /// Listed in `Core::closing`, to be finalized at the end of the turn.
    pub(super) queued_close: bool,
    /// The connector that made it (client connections), told when it is lost.
    pub(super) connector: Option<usize>,
}

impl Conn {
    pub(super) fn id(&self, index: usize) -> ConnId {
        ConnId {
            index: index as u32,
            gen: self.gen,
        }
    }
}

/// A listening socket and the factory that builds a protocol per accepted connection.
pub(super) struct ListenerEntry {
    pub(super) gen: u32,
    pub(super) socket: Listener,
    pub(super) factory: Box<dyn Factory>,
    pub(super) options: ListenOptions,
    /// The address it listens on, for logs.
    pub(super) address: Address,
    /// Set from a failed `accept` (out of descriptors or memory) until the queue is drained.
    pub(super) starved: Option<Starved>,
}

/// A listener whose `accept` failed for want of a resource (EMFILE, ENFILE, ENOBUFS, ENOMEM).
/// The connections already queued raise no new readiness event (edge-triggered: the queue did
/// not change), so a timer retries `accept` until the queue is drained.
pub(super) struct Starved {
    /// When the first `accept` of this episode failed.
    pub(super) since: Instant,
    /// The wait before the next retry: doubled by each failure, reset by each success.
    pub(super) delay: Duration,
    /// The retry timer, while one is scheduled; events are ignored meanwhile.
    pub(super) retry: Option<TimerId>,
    /// Connections accepted since the episode began.
    pub(super) accepted: usize,
}

/// A non-blocking connect in progress for a connector, with its timeout timer.
pub(super) struct Connecting {
    pub(super) connector: usize,
    pub(super) stream: Stream,
    pub(super) timeout: Option<TimerId>,
}

/// A bound UDP socket and its protocol.
pub(super) struct UdpEntry {
    pub(super) socket: UdpSocket,
    pub(super) host: SocketAddr,
    pub(super) protocol: Box<dyn DatagramProtocol>,
}

/// One slab slot: the token of a registered socket names it.
pub(super) enum Entry {
    Listener(ListenerEntry),
    Conn(Conn),
    Connecting(Connecting),
    Udp(UdpEntry),
}

/// Where a connector connects.
pub(super) enum Target {
    Tcp(SocketAddr),
    Unix(std::path::PathBuf),
}

/// An outgoing connection and its retries: where to, the client factory, the connect timeout.
pub(super) struct ConnectorEntry {
    pub(super) gen: u32,
    pub(super) target: Target,
    pub(super) factory: Box<dyn ClientFactory>,
    pub(super) timeout: Option<Duration>,
}

impl ConnectorEntry {
    pub(super) fn address(&self) -> Address {
        match &self.target {
            Target::Tcp(a) => Address::Tcp(*a),
            Target::Unix(p) => Address::Unix(Some(p.clone())),
        }
    }
}
