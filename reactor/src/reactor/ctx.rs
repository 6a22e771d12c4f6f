//! `Ctx`, the real [`Transport`]: what a protocol's callback does to its connection, to other
//! connections and to its timers, as operations on the reactor's `Core`; and `Core::dispatch`,
//! which calls a protocol with a `Ctx`.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use bytes::Bytes;
use log::{log_enabled, trace, warn, Level};

use super::entry::{Close, Conn, Entry};
use super::guard::catch;
use super::{Core, TimerTarget};
use crate::{Address, ConnId, DisconnectReason, Protocol, ProtocolResult, TimerId, Transport};

impl Core {
    /// The slot of a live (not closed) connection named by `id`.
    pub(super) fn live(&self, id: ConnId) -> Option<usize> {
        match self.entries.get(id.index as usize) {
            Some(Entry::Conn(c)) if c.gen == id.gen && c.close != Close::Closed => {
                Some(id.index as usize)
            }
            _ => None,
        }
    }

    /// The connection in slot `index`, if that slot holds one.
    pub(super) fn conn(&self, index: usize) -> Option<&Conn> {
        match self.entries.get(index) {
            Some(Entry::Conn(c)) => Some(c),
            _ => None,
        }
    }

    /// The connection in slot `index`, if that slot holds one.
    pub(super) fn conn_mut(&mut self, index: usize) -> Option<&mut Conn> {
        match self.entries.get_mut(index) {
            Some(Entry::Conn(c)) => Some(c),
            _ => None,
        }
    }

    /// Calls a protocol method with a transport for connection `index`, turning an `Err` or a
    /// panic into an aborted connection. The protocol is taken out of its slot for the call, so
    /// the transport can borrow everything else.
    pub(super) fn dispatch(
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
        let outcome = catch(|| {
            let mut tx = Ctx { core: self, index };
            f(&mut *protocol, &mut tx)
        });
        let Some(c) = self.conn_mut(index) else {
            return;
        };
        c.protocol = Some(protocol);
        let failure = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(message) => format!("panicked: {message}"),
        };
        warn!("[c{index} {}] {failure}; aborting the connection", c.peer);
        self.abort(index, DisconnectReason::Protocol(failure));
    }

    /// Lists the connection for `finalize` at the end of the turn (once).
    pub(super) fn queue_close(&mut self, index: usize) {
        if let Some(c) = self.conn_mut(index) {
            if !c.queued_close {
                c.queued_close = true;
                self.closing.push(index);
            }
        }
    }

    /// Lists the connection for a flush at the end of the turn (once).
    fn mark_dirty(&mut self, index: usize) {
        if let Some(c) = self.conn_mut(index) {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(index);
            }
        }
    }

    /// Appends a copy of `data` to an open connection's output.
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

    /// Appends a shared buffer to the output of the open connection `id` without copying a
    /// large one; false if it is gone or closing.
    pub(super) fn write_bytes_to(&mut self, id: ConnId, data: Bytes) -> bool {
        match self.live(id) {
            Some(index) if self.conn(index).is_some_and(|c| c.close == Close::Open) => {
                self.write_bytes_index(index, data);
                true
            }
            _ => false,
        }
    }

    /// Appends `data` to an open connection's output without copying large buffers.
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

    /// Appends `data` to the output of the open connection `id`; false if it is gone or closing.
    pub(super) fn write_to(&mut self, id: ConnId, data: &[u8]) -> bool {
        match self.live(id) {
            Some(index) if self.conn(index).is_some_and(|c| c.close == Close::Open) => {
                self.write_index(index, data);
                true
            }
            _ => false,
        }
    }

    /// Starts a flush-then-close. `reason` overrides the default `Done`.
    pub(super) fn lose(&mut self, index: usize, reason: Option<DisconnectReason>) {
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

    /// Starts an immediate close that drops the output; `reason` reaches `connection_lost`.
    pub(super) fn abort(&mut self, index: usize, reason: DisconnectReason) {
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
    pub(super) fn resume_when_drained(&mut self, index: usize) {
        let Some(c) = self.conn_mut(index) else {
            return;
        };
        if c.close != Close::Open {
            return;
        }
        c.producer_paused = true;
        self.mark_dirty(index);
    }

    /// Pauses or resumes reading; a resumed connection is read again this turn.
    pub(super) fn set_paused(&mut self, index: usize, paused: bool) {
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

    fn fd(&self) -> Option<RawFd> {
        self.core.conn(self.index).map(|c| c.stream.raw_fd())
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
        self.core.write_bytes_to(id, data)
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

    fn resume_when_drained_of(&mut self, id: ConnId) -> bool {
        self.with_live(id, |core, index| core.resume_when_drained(index))
    }

    fn process_events_while_blocked(&mut self) {
        self.core.process_events_while_blocked();
    }
}
