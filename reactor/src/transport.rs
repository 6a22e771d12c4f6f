//! The [`Transport`]: what a protocol can do to its own connection, to other connections of the
//! same reactor, and to timers, from inside a callback.

use std::fmt;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{Address, TimerId};

/// The name of a connection within one reactor.
///
/// It carries a generation: once a connection is closed its id never names another
/// connection, even when the reactor reuses its slot, so a stale id (a consumer that left) is
/// simply refused by [`Transport::write_to`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub(crate) index: u32,
    pub(crate) gen: u32,
}

impl ConnId {
    /// Builds an id from its parts; for test doubles and logs. A reactor only honours ids it
    /// handed out.
    pub fn from_parts(index: u32, gen: u32) -> Self {
        ConnId { index, gen }
    }

    /// The slot number, which is what log lines show (`c3`).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The generation: how many connections the slot had before this one. With
    /// [`index`](Self::index) it names this connection alone, so an app can put an id in a
    /// name it hands out (a broker's reply-to address) and rebuild it with
    /// [`from_parts`](Self::from_parts).
    pub fn generation(&self) -> u32 {
        self.gen
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.index)
    }
}

/// A connection as a protocol sees it, passed into every [`Protocol`](crate::Protocol) callback.
///
/// Calls are "thrown over the wall", as Twisted's docs put it: `write` only appends to the
/// connection's output buffer and returns at once; the reactor flushes once the callback
/// returns (one vectored write for everything queued), and failures arrive later through
/// `connection_lost`. Nothing here ever calls back into a protocol, this one or another.
///
/// Why a `&mut dyn Transport` argument rather than a stored handle: a protocol that kept a
/// pointer back to its transport would need `Rc<RefCell<…>>` cycles; passing the context in
/// keeps ownership a tree, and lets tests pass a [`StringTransport`](crate::testing::StringTransport)
/// instead of a socket.
///
/// The `*_to`/`*_of` methods act on another connection of the same reactor by its [`ConnId`]
/// (a chat server broadcasting, a broker delivering to a consumer). They only queue bytes or set
/// flags, return `false` if that connection is gone, and never re-enter its protocol.
pub trait Transport {
    /// This connection's id.
    fn id(&self) -> ConnId;

    /// Queues `data` to be written. Never blocks; ignored once the connection is closing.
    fn write(&mut self, data: &[u8]);

    /// Queues a shared buffer; large ones are sent without being copied.
    fn write_bytes(&mut self, data: Bytes) {
        self.write(&data);
    }

    /// Queues several pieces in order (Twisted's `writeSequence`); they leave together.
    fn write_sequence(&mut self, chunks: &[&[u8]]) {
        for chunk in chunks {
            self.write(chunk);
        }
    }

    /// Closes the connection once everything queued has been written: reading stops now, and
    /// `connection_lost(Done)` follows the flush. Does not wait for a paused producer to produce
    /// more (there is no more: writes after this are ignored).
    fn lose_connection(&mut self);

    /// Closes the connection now, dropping whatever is queued; `connection_lost(Aborted)` follows.
    fn abort_connection(&mut self);

    /// The remote end. Behind a proxy or NAT this is the proxy, not the user.
    fn peer(&self) -> &Address;

    /// The local end.
    fn host(&self) -> &Address;

    /// The connection's socket descriptor, for diagnostics (redis's `CLIENT LIST` shows
    /// `fd=`); `None` where no socket is behind the transport (test doubles). The reactor owns
    /// the socket: reading, writing or closing it behind the reactor's back breaks the
    /// connection.
    fn fd(&self) -> Option<RawFd> {
        None
    }

    /// Stops reading from this connection (the transport as a paused push producer): no
    /// `data_received` until [`resume_reading`](Self::resume_reading). Bytes the peer sends wait
    /// in the kernel, which pushes back on the peer through TCP flow control.
    fn pause_reading(&mut self);

    /// Resumes reading; data that arrived meanwhile is delivered on the next loop iteration.
    fn resume_reading(&mut self);

    /// True while reading is paused.
    fn is_reading_paused(&self) -> bool;

    /// Bytes queued on this connection and not yet accepted by the kernel.
    fn buffered(&self) -> usize;

    /// Asks for [`Protocol::resume_producing`](crate::Protocol::resume_producing) once this
    /// connection's output has drained to the low-water mark: for a producer that stopped
    /// itself (it refused to queue more than its own limit) rather than being paused by the
    /// transport. The call comes after the reactor's next flush, at once if that flush leaves
    /// the buffer at or below the mark, and only once per request.
    fn resume_when_drained(&mut self);

    /// Schedules [`Protocol::timer_fired`](crate::Protocol::timer_fired) on this connection's
    /// protocol after `delay`. The timer is dropped if the connection closes first.
    fn call_later(&mut self, delay: Duration) -> TimerId;

    /// Cancels a timer; a cancelled timer never fires. False if it already fired or was cancelled.
    fn cancel_timer(&mut self, id: TimerId) -> bool;

    /// Moves a pending timer to `delay` from now. False if it already fired or was cancelled.
    fn reset_timer(&mut self, id: TimerId, delay: Duration) -> bool;

    /// The reactor clock's current time (a fake clock in tests). Protocols never call
    /// `Instant::now()` themselves.
    fn now(&self) -> Instant;

    /// Queues `data` on another connection. False if that connection is gone or closing.
    fn write_to(&mut self, id: ConnId, data: &[u8]) -> bool;

    /// Queues a shared buffer on another connection, without copying large ones.
    fn write_bytes_to(&mut self, id: ConnId, data: Bytes) -> bool {
        self.write_to(id, &data)
    }

    /// Flushes then closes another connection.
    fn lose_connection_of(&mut self, id: ConnId) -> bool;

    /// Closes another connection now, dropping its queued output.
    fn abort_connection_of(&mut self, id: ConnId) -> bool;

    /// Stops reading another connection.
    fn pause_reading_of(&mut self, id: ConnId) -> bool;

    /// Resumes reading another connection.
    fn resume_reading_of(&mut self, id: ConnId) -> bool;

    /// Bytes queued on another connection; `None` if it is gone.
    fn buffered_of(&self, id: ConnId) -> Option<usize>;

    /// Asks for `resume_producing` on another connection's protocol once its output has
    /// drained to the low-water mark, as [`resume_when_drained`](Self::resume_when_drained)
    /// does for this one: for a producer writing to connections other than its own (a broker
    /// delivering to a consumer) that stopped at a limit of its own. False if it is gone.
    fn resume_when_drained_of(&mut self, id: ConnId) -> bool;

    /// From inside a callback that runs long (a store's script past its time limit): one
    /// nested turn of the loop, without waiting, that reads into the *other* connections whose
    /// protocol [serves while blocked](crate::Protocol::serves_while_blocked), accepts on the
    /// listeners whose factory [builds while blocked](crate::Factory::builds_while_blocked),
    /// and flushes what they wrote; no timer fires, and whatever else was ready waits for the
    /// loop's next turn. Does nothing when called from inside a nested turn, and in test
    /// doubles.
    fn process_events_while_blocked(&mut self) {}
}

/// What a [`DatagramProtocol`](crate::DatagramProtocol) can do: send datagrams from its socket.
pub trait DatagramTransport {
    /// Sends one datagram now. UDP has no output buffer: if the socket cannot take it the
    /// datagram is dropped and the error returned, as the network itself may drop it.
    fn send_to(&mut self, data: &[u8], to: SocketAddr) -> std::io::Result<usize>;

    /// The local address of the socket.
    fn host(&self) -> SocketAddr;
}
