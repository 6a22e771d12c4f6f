//! The nested turn: [`Transport::process_events_while_blocked`](crate::Transport), for a
//! callback that runs long (a store's script past its time limit) and must let the other
//! connections be answered meanwhile, as redis-server's `processEventsWhileBlocked`.
//!
//! A nested turn polls without waiting and serves, of what is ready, only what can be served
//! safely from inside a callback:
//! - reads into the protocols that said they can take them while a callback is running
//!   ([`Protocol::serves_while_blocked`](crate::Protocol::serves_while_blocked)): never the
//!   connection whose callback is running (its protocol is out of its slot), never one whose
//!   protocol did not opt in;
//! - accepts on the listeners whose factory opted in
//!   ([`Factory::builds_while_blocked`](crate::Factory::builds_while_blocked));
//! - flushes of what this nested turn wrote.
//!
//! A nested turn also serves, the same way, the events the loop's own poll reported and the
//! loop has not handled yet (they come after the running connection's in its batch): with
//! edge-triggered readiness the nested polls would not report them again. They stay in the
//! loop's batch, handled again afterwards (a read then finds nothing).
//!
//! Everything else the poll reported (the running connection's own input, timers' work,
//! calls from other threads, signals, connects, UDP, the events of connections that did not
//! opt in) is kept in `Core::deferred` for the next turn of the loop, which handles it as if
//! its own poll had just reported it: with edge-triggered readiness an event taken from the
//! poll and dropped would never come back. No timer fires and no connection is finalized in a
//! nested turn (their callbacks could meet the state the running callback holds); output
//! queued before the nested turn began leaves at the end of the loop's turn, after the
//! before-flush hooks (a store's AOF write goes before the replies it covers).

use std::io;
use std::time::Duration;

use mio::Token;

use super::entry::Entry;
use super::Core;

/// How many polls one nested turn makes at most while they keep reporting events (as
/// redis-server's `processEventsWhileBlocked`): enough to answer a request and accept a
/// connection that came with it, bounded so the blocked callback goes on.
const NESTED_POLLS: usize = 4;

impl Core {
    /// One nested turn (see the module's documentation); a call from inside a nested turn
    /// does nothing.
    pub(super) fn process_events_while_blocked(&mut self) {
        if self.nested {
            return;
        }
        self.nested = true;
        let mut buf = std::mem::take(&mut self.nested_buf);
        if buf.is_empty() {
            buf = vec![0; self.config.read_buffer.max(1)];
        }
        // Connections already listed keep their `dirty` flag, so writes made in this turn do
        // not list them again: only what became dirty here is flushed here.
        let earlier = std::mem::take(&mut self.dirty);
        let unhandled = self
            .batch
            .get(self.batch_next..)
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        self.serve_events(&unhandled, &mut buf, false);
        for _ in 0..NESTED_POLLS {
            match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
            self.now = self.clock.now();
            let mut batch = std::mem::take(&mut self.nested_batch);
            batch.clear();
            for event in self.events.iter() {
                batch.push((
                    event.token(),
                    event.is_readable() || event.is_error(),
                    event.is_writable() || event.is_error(),
                    event.is_read_closed(),
                ));
            }
            let served = !batch.is_empty() || !self.pending_read.is_empty();
            self.serve_events(&batch, &mut buf, true);
            self.nested_batch = batch;
            // Reads left over by the per-event budget would otherwise wait for the loop.
            let pending = std::mem::take(&mut self.pending_read);
            for index in pending {
                if self.conn_serves(index) {
                    self.on_readable(index, true, &mut buf);
                } else {
                    self.pending_read.push(index);
                }
            }
            for index in std::mem::take(&mut self.dirty) {
                self.flush(index);
            }
            if !served {
                break;
            }
        }
        self.dirty = earlier;
        self.nested_buf = buf;
        self.nested = false;
    }

    /// Serves the `events` that a nested turn may serve; the others go to `deferred` when
    /// `defer` (events of the nested poll), or are left alone (the loop's own, still in its
    /// batch).
    fn serve_events(&mut self, events: &[(Token, bool, bool, bool)], buf: &mut [u8], defer: bool) {
        for &(token, readable, writable, read_closed) in events {
            let Token(index) = token;
            if self.listener_serves(index) {
                self.on_accept(index);
            } else if self.conn_serves(index) {
                // A connection listed before this turn is flushed at the loop's turn end.
                if writable && !self.conn(index).is_some_and(|c| c.dirty) {
                    self.flush(index);
                }
                if readable || read_closed {
                    self.on_readable(index, read_closed, buf);
                }
            } else if defer {
                self.deferred.push((token, readable, writable, read_closed));
            }
        }
    }

    /// Whether slot `index` is a listener whose factory builds protocols during a nested turn.
    fn listener_serves(&self, index: usize) -> bool {
        matches!(self.entries.get(index), Some(Entry::Listener(l))
            if l.factory.builds_while_blocked()
                && l.starved.as_ref().is_none_or(|s| s.retry.is_none()))
    }

    /// Whether slot `index` is an open connection whose protocol is in its slot (not the one
    /// whose callback runs) and takes reads during a nested turn.
    fn conn_serves(&self, index: usize) -> bool {
        self.conn(index).is_some_and(|c| {
            c.protocol
                .as_ref()
                .is_some_and(|p| p.serves_while_blocked())
        })
    }
}
